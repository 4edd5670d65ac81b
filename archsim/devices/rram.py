"""A generic resistive RAM (RRAM) device: discrete levels, programming noise, read noise.

Not a fit to one published device but the common abstraction of crossbar simulators
(e.g. NeuroSim's multi-level cell, CrossSim's state-independent / state-proportional
programming error). With the spec `archsim.spec.devices.RRAMDevice`:

- levels: with `levels` = L >= 2 the target is snapped to L evenly spaced conductances
  from g_min to g_max; 0 = continuous;
- programming noise (once): sigma = prog_noise * g_max (state independent) or
  prog_noise * g_target (state proportional); g_prog = clip(g_target + sigma N(0,1),
  g_min, g_max): programming cannot leave the device's window;
- no drift;
- read noise (per read): g = max(g_prog + read_noise |g_prog| N(0,1), 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.devices.base import DeviceState, check_time, sample_read
from archsim.devices.faults import apply_stuck, draw_stuck
from archsim.spec.devices import ProgNoiseMode, RRAMDevice


def snap_to_levels(g: np.ndarray, g_min: float, g_max: float, levels: int) -> np.ndarray:
    """`g` clipped to [g_min, g_max] and, when levels >= 2, rounded to the nearest level."""
    g = np.clip(np.asarray(g, dtype=np.float64), g_min, g_max)
    if levels >= 2:
        step = (g_max - g_min) / (levels - 1)
        g = g_min + np.rint((g - g_min) / step) * step
    return g


@dataclass(frozen=True)
class RRAMModel:
    """Behaviour of `archsim.spec.devices.RRAMDevice`."""

    spec: RRAMDevice

    @property
    def g_max(self) -> float:
        return self.spec.g_max

    @property
    def g_min(self) -> float:
        return self.spec.g_min

    @property
    def levels(self) -> int:
        return self.spec.levels

    def prog_sigma(self, g_target: np.ndarray) -> np.ndarray:
        """Programming-noise sigma (S) of each target conductance."""
        s = self.spec
        if s.prog_noise_mode is ProgNoiseMode.STATE_PROPORTIONAL:
            return s.prog_noise * np.abs(g_target)
        return np.full(np.shape(g_target), s.prog_noise * s.g_max)

    def programmed(self, g_target: np.ndarray, z: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
        """The conductance reached at g_target with standard-normal draws z: programming
        noise (`sigma`: prog_sigma(g_target), when the caller has it), within the device's
        window (programming cannot leave it)."""
        sigma = self.prog_sigma(g_target) if sigma is None else sigma
        return np.clip(g_target + sigma * z, self.spec.g_min, self.spec.g_max)

    def program(self, g_target: np.ndarray, rng: np.random.Generator) -> DeviceState:
        """Snap to the levels, add programming noise (draw order: noise, faults)."""
        s = self.spec
        g_target = snap_to_levels(g_target, s.g_min, s.g_max, s.levels)
        g_prog = self.programmed(g_target, rng.standard_normal(g_target.shape))
        stuck = draw_stuck(g_target.shape, s.stuck, rng)
        return DeviceState(g_target=g_target, g_prog=apply_stuck(g_prog, stuck, s.g_max), stuck=stuck)

    def conductance(self, state: DeviceState, t: float) -> np.ndarray:
        check_time(t)
        return state.g_prog

    def read_sigma(self, state: DeviceState, t: float) -> np.ndarray:
        """Per-device read-noise sigma (S): read_noise * |g|, 0 for stuck devices; time independent."""
        sigma = self.spec.read_noise * np.abs(self.conductance(state, t))
        return sigma if state.stuck is None else np.where(state.stuck == 0, sigma, 0.0)

    def read(self, state: DeviceState, t: float, rng: np.random.Generator) -> np.ndarray:
        return sample_read(self.conductance(state, t), self.read_sigma(state, t), rng)
