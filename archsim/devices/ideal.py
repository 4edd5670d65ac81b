"""The ideal device: holds exactly the conductance it is programmed to, forever.

Only stuck-at faults (`faults`) can make it deviate. Used as the noise-free reference
for the weight representations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.devices.base import DeviceState, check_time
from archsim.devices.faults import apply_stuck, draw_stuck
from archsim.spec.devices import IdealDevice


@dataclass(frozen=True)
class IdealModel:
    """Behaviour of `archsim.spec.devices.IdealDevice`."""

    spec: IdealDevice

    g_min = 0.0
    levels = 0  # continuous

    @property
    def g_max(self) -> float:
        return self.spec.g_max

    def prog_sigma(self, g_target: np.ndarray) -> np.ndarray:
        """Ideal devices are programmed exactly."""
        return np.zeros(np.shape(g_target))

    def programmed(self, g_target: np.ndarray, z: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
        """Exactly the target (z and sigma unused)."""
        return np.asarray(g_target, dtype=np.float64).copy()

    def program(self, g_target: np.ndarray, rng: np.random.Generator) -> DeviceState:
        g_target = np.clip(np.asarray(g_target, dtype=np.float64), 0.0, self.g_max)
        stuck = draw_stuck(g_target.shape, self.spec.stuck, rng)
        return DeviceState(g_target=g_target, g_prog=apply_stuck(g_target, stuck, self.g_max), stuck=stuck)

    def conductance(self, state: DeviceState, t: float) -> np.ndarray:
        check_time(t)
        return state.g_prog

    def read_sigma(self, state: DeviceState, t: float) -> np.ndarray:
        check_time(t)
        return np.zeros(state.shape)

    def read(self, state: DeviceState, t: float, rng: np.random.Generator) -> np.ndarray:
        """An exact read (consumes no random numbers)."""
        return self.conductance(state, t).copy()
