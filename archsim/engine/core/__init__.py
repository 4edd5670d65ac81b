"""The engine core: time, components, channels, a recorder and a runner.

It knows nothing about analog computing; the models in `archsim.engine.models` are
built on it. Only the engine imports simpy.
"""

from archsim.engine.core.channels import Credits, Inbox, Meter, PortArray
from archsim.engine.core.component import Component
from archsim.engine.core.errors import CycleLimitError, DeadlockError, SimulationError, StuckError
from archsim.engine.core.recorder import Recorder, Stats
from archsim.engine.core.runner import RunStats, gc_paused, run, waiting_report
from archsim.engine.core.time import NEVER, Clock, Cycles

__all__ = ["Clock", "Cycles", "NEVER", "Component", "Inbox", "Credits", "Meter", "PortArray", "Recorder",
           "Stats", "RunStats", "run", "gc_paused", "waiting_report", "SimulationError", "StuckError",
           "DeadlockError", "CycleLimitError"]
