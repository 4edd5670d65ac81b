"""What every device model shares: the per-device state fixed at programming, and a read.

A device model turns target conductances into a `DeviceState` once (programming
noise, drift exponents, stuck-at faults are drawn there, from the generator the caller
passes in) and then answers, for any time t since programming:

- `conductance(state, t)`: the noise-free (drifted) conductance,
- `read_sigma(state, t)`: the standard deviation of one read's noise, per device,
- `read(state, t, rng)`: one noisy read, ``max(conductance + read_sigma * N(0, 1), 0)``.

Conductances are in siemens (archsim's canonical unit), times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class DeviceState:
    """The devices of one array after programming (all arrays of one shape, float64).

    Attributes:
        g_target: conductance the programming aimed at (S), after any level quantisation.
        g_prog: conductance right after programming (S); stuck devices hold their stuck value.
        nu: drift exponent of each device (0 for stuck devices); None for devices that do
            not drift.
        stuck: stuck-at code of each device (`faults.NOT_STUCK`, `STUCK_ZERO`,
            `STUCK_GMAX`); None when no faults were drawn (both rates zero).
    """

    g_target: np.ndarray
    g_prog: np.ndarray
    nu: np.ndarray | None = None
    stuck: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.g_target.shape

    def healthy(self) -> np.ndarray | bool:
        """True where a device is not stuck (a scalar True when no faults were drawn)."""
        return True if self.stuck is None else self.stuck == 0


def check_time(t: float) -> float:
    """`t` (seconds since programming) as a float; it must be finite and >= 0."""
    t = float(t)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"time since programming must be a finite number >= 0 seconds, not {t!r}")
    return t


def sample_read(mean: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One read: ``max(mean + sigma * N(0, 1), 0)`` (a conductance is never negative)."""
    g = mean + sigma * rng.standard_normal(mean.shape)
    np.maximum(g, 0.0, out=g)
    return g
