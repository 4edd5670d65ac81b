"""Running a simulation to completion, with deadlock and cycle-limit detection."""

from __future__ import annotations

import gc
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import simpy
from simpy.core import EmptySchedule, StopSimulation

from archsim.engine.core.component import Component
from archsim.engine.core.errors import CycleLimitError, DeadlockError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStats:
    """How the run went: simulated cycles, simpy events processed, wall time."""

    cycles: int
    events: int
    wall_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else float("inf")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration (as `timeit` does).

    A simulation allocates millions of short-lived objects (events, work items) while it
    holds a large, long-lived model (windows, per-position state, components): the
    collector would walk that model again and again, ~15-20 % of the run, to find nothing
    (what a run allocates is freed by reference counting). Afterwards the collector is
    re-enabled and collects once what was allocated meanwhile, so the model's own
    reference cycles are freed here and not by some later caller. Left alone if the
    collector was already disabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def waiting_report(components: Iterable[Component]) -> list[tuple[str, str]]:
    """(name, what it waits on) of every component currently blocked."""
    out = []
    for component in components:
        what = component.describe_wait()
        if what is not None:
            out.append((component.name, what))
    return out


def run(env: simpy.Environment, components: list[Component], finished: simpy.Event, *,
        max_cycles: int, unfinished: Callable[[], str] = lambda: "the work is unfinished") -> RunStats:
    """Start every component and step the simulation until `finished` fires.

    Raises DeadlockError when no event is left before `finished` fired, and
    CycleLimitError when the next event lies beyond `max_cycles`; both list what every
    blocked component was waiting on. The run counts the simpy events it processes.
    """
    for component in components:
        component.start()
    finished.callbacks.append(StopSimulation.callback)
    step, peek = env.step, env.peek
    events = 0
    start = time.perf_counter()
    try:
        while peek() <= max_cycles:
            step()
            events += 1
        stuck = CycleLimitError if peek() != float("inf") else DeadlockError
    except StopSimulation:
        events += 1
        stats = RunStats(int(env.now), events, time.perf_counter() - start)
        log.debug("simulation finished at cycle %d after %d events in %.3f s", stats.cycles, events, stats.wall_s)
        return stats
    except EmptySchedule:  # pragma: no cover - peek() guards against it
        stuck = DeadlockError
    raise stuck(int(env.now), unfinished(), waiting_report(components))
