"""Pulsed analog devices: the RPU update (Gokmen & Vlasov 2016) and the mixed-precision
update (Nandakumar et al. 2020) on the same device model.

Device model (aihwkit's `ConstantStepDevice`; spec `UpdateDevice`, models.md section
6). Each weight is one bidirectional device holding a value in device weight units,
drawn once per device (d2d) at programming::

    gain_ij  = |1 + dw_min_dtod xi|            beta_ij = up_down + up_down_dtod xi
    dw_up    = dw_min gain_ij |1 + beta_ij|     dw_down = dw_min gain_ij |1 - beta_ij|
    w_max_ij = w_bound |1 + w_bound_dtod xi|    w_min_ij = -w_bound |1 + w_bound_dtod xi|

(independent xi ~ N(0, 1); the absolute values are aihwkit's consistency
enforcement). One pulse moves the device by dw_up (1 + ctoc z) up or dw_down (1 +
ctoc z) down, z ~ N(0, 1) per pulse (c2c), and clips it to [w_min_ij, w_max_ij].
The mean up/down step ratio is (1 + up_down) / (1 - up_down): a positive up_down
makes up steps larger, so a device driven by balanced up and down pulses drifts up.

- `PulsedDevice` (rpu): every ``apply`` is the stochastic pulse-coincidence update
  of `archsim.kernels.pulsed.pulsed_update` (BL slots, A B = lr / (dw_min BL),
  update management from the spec); W -= lr x^T d on average for steps dw_min.
- `MixedPrecision`: a float64 digital accumulator chi gathers chi -= lr x^T d (the
  batched outer product); then every device with |chi| >= epsilon (epsilon =
  mp_threshold * dw_min, the transfer threshold; Nandakumar's is the device
  granularity, mp_threshold 1) receives n = trunc(|chi| / dw_min) pulses of its step
  dw_min in the direction of chi (`apply_pulses`), and chi -= n dw_min sign(chi): the
  accumulator keeps the remainder, so the accumulated update equals the nominal device
  change n dw_min plus chi (the device's actual change differs by its step variation
  and bounds).

Both hold the weights as float32 (R, C) device values: ``weights()`` is what the
MVMs read. ``pulses`` counts the pulses per device; ``cycles`` is the same array (each
pulse is one programming event of that one device).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.devices.models import device_model
from archsim.devices.representations import encode
from archsim.devices.tile import ProgrammedTile
from archsim.devices.training.common import (as_matrix, check_pairs, gradient, new_seed,
                                              programmed_tile)
from archsim.kernels.pulsed import apply_pulses, pulsed_update
from archsim.spec.devices import Device, UpdateDevice, WeightMapping
from archsim.spec.hardware import DriftCompensation

F32 = np.float32


@dataclass(frozen=True, eq=False)
class PulsedParameters:
    """Per-device constants of a pulsed array, drawn once (float32, (R, C) each)."""

    dw_up: np.ndarray
    dw_down: np.ndarray
    w_min: np.ndarray
    w_max: np.ndarray

    @classmethod
    def draw(cls, shape: tuple[int, int], spec: UpdateDevice, rng: np.random.Generator) -> "PulsedParameters":
        """Device-to-device draws (module docstring); order: gain, beta, w_max, w_min."""
        gain = np.abs(1.0 + spec.dw_min_dtod * rng.standard_normal(shape))
        beta = spec.up_down + spec.up_down_dtod * rng.standard_normal(shape)
        w_max = spec.w_bound * np.abs(1.0 + spec.w_bound_dtod * rng.standard_normal(shape))
        w_min = -spec.w_bound * np.abs(1.0 + spec.w_bound_dtod * rng.standard_normal(shape))
        arrays = (spec.dw_min * gain * np.abs(1.0 + beta), spec.dw_min * gain * np.abs(1.0 - beta), w_min, w_max)
        out = [np.ascontiguousarray(a, dtype=F32) for a in arrays]
        for a in out:
            a.setflags(write=False)
        return cls(*out)


class _PulsedArray:
    """Shared state of the pulsed models: device values, parameters, counters, seed."""

    def __init__(self, w: np.ndarray, params: PulsedParameters, spec: UpdateDevice, seed: int):
        self.spec = spec
        self.params = params
        self.seed = seed
        self._w = np.ascontiguousarray(w, dtype=F32)
        self.pulses = np.zeros(self._w.shape, np.int64)

    @classmethod
    def program(cls, weights: np.ndarray, spec: UpdateDevice, rng: np.random.Generator):
        """Devices holding ``weights`` (R, C, device units), clipped to their bounds.

        Draw order from ``rng``: the device parameters (`PulsedParameters.draw`), then
        the seed of the update streams. Programming is exact (aihwkit's set_weights
        for a constant-step device)."""
        w = as_matrix(weights)
        params = PulsedParameters.draw(w.shape, spec, rng)
        w = np.clip(w, params.w_min, params.w_max)
        return cls(w, params, spec, new_seed(rng))

    @property
    def shape(self) -> tuple[int, int]:
        return self._w.shape

    def weights(self) -> np.ndarray:
        """The device values (R, C) float32 (a read-only view; it changes with ``apply``)."""
        view = self._w.view()
        view.setflags(write=False)
        return view

    @property
    def cycles(self) -> np.ndarray:
        """Programming events per device (R, C): every pulse is one."""
        return self.pulses

    def to_programmed_tile(self, device: Device, compensation: DriftCompensation,
                           rng: np.random.Generator) -> ProgrammedTile:
        """The trained weights as a differential tile of ``device`` (per-matrix scale,
        continuous conductances equal to the trained state), for drift and read noise
        after training (see `common.programmed_tile`)."""
        mapping = WeightMapping()
        enc = encode(self._w.astype(np.float64), mapping, levels=0)
        model = device_model(device)
        g = model.g_min + enc.u * (model.g_max - model.g_min)
        return programmed_tile(enc, g, device, mapping, compensation, rng)

    def _pulse(self, counts: np.ndarray, counter: int) -> None:
        p = self.params
        apply_pulses(self._w, counts, p.dw_up, p.dw_down, p.w_min, p.w_max, self.spec.dw_min_ctoc, self.seed,
                     counter, self.pulses)


class PulsedDevice(_PulsedArray):
    """RPU in-situ training: the stochastic pulse-coincidence update (module docstring)."""

    def apply(self, x: np.ndarray, d: np.ndarray, lr: float, counter: int) -> None:
        """W -= lr x^T d on average, by BL-slot pulse coincidences of every pair (x_s, d_s)
        in order (x: n x R inputs, d: n x C output errors); stream (seed, counter)."""
        x, d = check_pairs(x, d, self.shape, lr)
        s, p = self.spec, self.params
        pulsed_update(self._w, x, d, float(lr), s.dw_min, s.bl, s.update_management, p.dw_up, p.dw_down,
                      p.w_min, p.w_max, s.dw_min_ctoc, self.seed, counter, self.pulses)


class MixedPrecision(_PulsedArray):
    """Mixed-precision training (Nandakumar et al. 2020): a digital accumulator chi and
    pulsed transfers of its whole device steps (module docstring)."""

    def __init__(self, w: np.ndarray, params: PulsedParameters, spec: UpdateDevice, seed: int):
        super().__init__(w, params, spec, seed)
        self.chi = np.zeros(self.shape, np.float64)

    @property
    def epsilon(self) -> float:
        """Transfer threshold (device weight units); every pulse moves a device by dw_min."""
        return self.spec.mp_threshold * self.spec.dw_min

    def apply(self, x: np.ndarray, d: np.ndarray, lr: float, counter: int) -> None:
        """chi -= lr x^T d; then where |chi| >= epsilon, n = trunc(chi / dw_min) pulses per
        device (signed: up for n > 0), chi -= n dw_min. Pulse noise from stream (seed, counter)."""
        x, d = check_pairs(x, d, self.shape, lr)
        self.chi -= float(lr) * gradient(x, d)
        self.transfer(counter)

    def transfer(self, counter: int) -> None:
        """Move every whole device step of chi to its device as pulses, where chi has reached
        the threshold (one call of `apply`)."""
        step = self.spec.dw_min
        n = np.where(np.abs(self.chi) >= self.epsilon, np.trunc(self.chi / step), 0.0)
        if not n.any():
            return
        self.chi -= n * step
        self._pulse(n.astype(np.int64), counter)
