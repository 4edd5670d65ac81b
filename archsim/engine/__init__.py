"""The discrete-event timing engine.

`simulate(program, settings, passes=None) -> TimingResult` runs a compiled Program on
its chip: analog tiles, digital units, buffers and the interconnect are simpy
processes and resources (archsim.engine.models) built on a core that knows nothing
about analog computing (archsim.engine.core). Timing, contention, pipelining and
buffer limits emerge from the simulation; energy is computed afterwards from action
counts. `simulate_training(program, settings) -> TrainingResult` times training steps
(forward, transposed MVMs and pulsed updates) on the same chip models.
"""

from archsim.engine.core.errors import CycleLimitError, DeadlockError, SimulationError, StuckError
from archsim.engine.models.tile import MvmTiming, mvm_timing
from archsim.engine.passes import sampled_passes
from archsim.engine.result import Acceleration, ComponentRecord, LayerRecord, TimingResult, chip_area
from archsim.engine.simulate import DEFAULT_RUN_LENGTH, simulate, single_replica
from archsim.engine.training import TrainingLayerRecord, TrainingResult, simulate_training, training_closed_form

__all__ = ["simulate", "TimingResult", "LayerRecord", "ComponentRecord", "Acceleration", "MvmTiming",
           "mvm_timing", "sampled_passes", "single_replica", "chip_area", "SimulationError", "StuckError",
           "DeadlockError", "CycleLimitError", "DEFAULT_RUN_LENGTH", "simulate_training", "training_closed_form",
           "TrainingResult", "TrainingLayerRecord"]
