"""Simulated time: an integer count of cycles of one reference clock.

The engine never uses floating-point time. Durations are converted to whole cycles
once, when a model is built, rounding up (hardware cannot finish early).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Cycles = int
NEVER: float = math.inf  # "no event pending", compared against cycle counts


@dataclass(frozen=True)
class Clock:
    """The reference clock: converts between seconds and cycles."""

    hz: float

    def cycles(self, seconds: float) -> Cycles:
        """A duration in whole cycles, rounded up (a tiny tolerance absorbs float noise)."""
        return max(0, math.ceil(seconds * self.hz - 1e-9))

    def seconds(self, cycles: float) -> float:
        return cycles / self.hz

    def transfer_cycles(self, nbytes: float, bytes_per_s: float) -> Cycles:
        """Cycles to move `nbytes` at `bytes_per_s` (0 bytes take 0 cycles)."""
        return self.cycles(nbytes / bytes_per_s) if nbytes > 0 else 0
