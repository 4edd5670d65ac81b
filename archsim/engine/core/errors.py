"""Errors a simulation raises; each names what every blocked component was waiting on."""

from __future__ import annotations

from archsim.errors import ArchsimError


class SimulationError(ArchsimError):
    """The model could not be built or the simulation could not finish."""


class StuckError(SimulationError):
    """The simulation stopped before its work was done.

    `waiting` lists (component name, what it waits on) for every component that was
    blocked when the simulation stopped; `cycle` is the simulated time then.
    """

    reason = "stuck"

    def __init__(self, cycle: int, unfinished: str, waiting: list[tuple[str, str]], limit: int = 40):
        self.cycle = cycle
        self.unfinished = unfinished
        self.waiting = list(waiting)
        lines = [f"{self.reason} at cycle {cycle}: {unfinished}"]
        if waiting:
            lines.append(f"{len(waiting)} component(s) waiting:")
            lines += [f"  {name}: {what}" for name, what in waiting[:limit]]
            if len(waiting) > limit:
                lines.append(f"  ... and {len(waiting) - limit} more")
        else:
            lines.append("no component is waiting on anything")
        super().__init__("\n".join(lines))


class DeadlockError(StuckError):
    """No event is left to process but the work is unfinished: components wait on each other."""

    reason = "deadlock"


class CycleLimitError(StuckError):
    """The simulation reached its cycle limit before the work was done."""

    reason = "cycle limit reached"
