"""A programmed tile: a weight matrix written to devices, read back at any time.

`ProgrammedTile.program(weights, device=..., mapping=..., compensation=..., rng=...)`
encodes the matrix (`representations`), programs every device of every pair once
(programming noise, drift exponents, stuck-at faults: `device_model(...).program`) and
takes the drift-compensation reference (a read at t = 0, `compensation`). The result is
an immutable value; every later read takes the time since programming t (seconds) and
its own generator, so reads at different times or repeated reads never disturb each
other or the programmed state.

Two ways to use it for MVMs:

- frozen read (as aihwkit's `drift_analog_weights`): `tile.read(t, rng)` draws one
  read-noise realisation of every device; `.compensated()` is the weight matrix an ideal
  periphery would apply, `.slices()` the per-periphery-slice normalised matrices for the
  noisy MVM kernel;
- per-MVM read noise: `tile.mean_read(t, rng)` has the drifted conductances without read
  noise and `tile.slice_sigma(t)` the per-device read-noise sigma in normalised weight
  units, for a kernel that adds output noise of variance sum_i x_i^2 sigma_ij^2.

Randomness comes only from the generators passed in; the caller derives them from the
run's seed, e.g. `archsim.rng.generator(seed, Stream.PROGRAMMING, tile)` for `program`
and `generator(seed, Stream.READ, tile, read)` for reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from archsim.devices import compensation as comp
from archsim.devices.base import DeviceState, check_time
from archsim.devices.models import DeviceModel, device_model
from archsim.devices.representations import Encoding, encode
from archsim.spec.devices import Device, WeightMapping
from archsim.spec.hardware import DriftCompensation, Tiles


@dataclass(frozen=True, eq=False)
class AnalogSlices:
    """The analog matrices of one read, in the form the MVM kernel takes.

    The tile's output for input rows x (B x R) is
    ``out_scale * sum_p coeff[p] * (x @ weights[p])``: each slice p is one analog MVM on
    normalised weights (|w| <= 1 up to noise), digitised, then scaled in the periphery.
    """

    weights: np.ndarray    # (P, R, C) float32, normalised: (G+ - G-) / (g_max - g_min)
    coeff: np.ndarray      # (P,) float64: significance x digital scale of each slice
    out_scale: np.ndarray  # (C,) float64: w_scale x drift-compensation factor

    def matrix(self) -> np.ndarray:
        """The equivalent weight matrix (R, C), float64."""
        return self.out_scale * np.einsum("p,prc->rc", self.coeff, self.weights.astype(np.float64))


@dataclass(frozen=True, eq=False)
class TileRead:
    """The devices of a tile read at time t (a frozen realisation)."""

    tile: "ProgrammedTile" = field(repr=False)
    t: float
    conductances: np.ndarray  # (2, K, R, C), S: [0] G+ devices, [1] G- devices
    weights: np.ndarray       # (R, C) effective weights, before drift compensation
    factor: np.ndarray        # (C,) drift-compensation factor (ones when none)

    def compensated(self) -> np.ndarray:
        """The effective weight matrix after drift compensation (R, C)."""
        return self.weights * self.factor

    def slices(self, *, compensate: bool = True) -> AnalogSlices:
        """The per-slice normalised matrices of this read (see `AnalogSlices`)."""
        enc = self.tile.encoding
        d = self.tile.pair_values(self.conductances)
        scale = enc.w_scale * (self.factor if compensate else 1.0)
        return AnalogSlices(weights=enc.slices(d).astype(np.float32), coeff=enc.slice_coeff.copy(),
                            out_scale=scale)


@dataclass(frozen=True, eq=False)
class ProgrammedTile:
    """A weight matrix programmed onto devices (immutable).

    Attributes:
        device, mapping, compensation: the specs it was programmed with.
        encoding: the noise-free targets (`representations.Encoding`).
        state: the programmed devices, arrays of shape (2, K, R, C) (G+ / G-, pair, row, col).
        reference: (C,) drift-compensation reference readout, taken at t = 0.
    """

    device: Device
    mapping: WeightMapping
    compensation: DriftCompensation
    encoding: Encoding
    state: DeviceState
    reference: np.ndarray

    @classmethod
    def program(cls, weights: np.ndarray, *, device: Device, mapping: WeightMapping | None = None,
                compensation: DriftCompensation = DriftCompensation.GLOBAL,
                rng: np.random.Generator) -> "ProgrammedTile":
        """Encode `weights` (R x C), program the devices and take the compensation reference.

        Draw order from `rng`: the device draws of all (2, K, R, C) devices
        (see each device model), then the reference read at t = 0.
        """
        mapping = WeightMapping() if mapping is None else mapping
        model = device_model(device)
        enc = encode(weights, mapping, levels=model.levels)
        g_target = model.g_min + enc.u * (model.g_max - model.g_min)
        state = model.program(g_target, rng)
        ref = comp.readout(_weights(enc, model, model.read(state, 0.0, rng)), compensation)
        return cls(device=device, mapping=mapping, compensation=compensation, encoding=enc, state=state,
                   reference=ref)

    @property
    def model(self) -> DeviceModel:
        return device_model(self.device)

    @property
    def shape(self) -> tuple[int, int]:
        return self.encoding.shape

    # ---- conductances -------------------------------------------------------------
    def conductances(self, t: float, rng: np.random.Generator) -> np.ndarray:
        """One noisy read of every device at time t (2, K, R, C), S."""
        return self.model.read(self.state, t, rng)

    def mean_conductances(self, t: float) -> np.ndarray:
        """Drifted conductances at time t without read noise (2, K, R, C), S."""
        return self.model.conductance(self.state, t)

    def conductance_sigma(self, t: float) -> np.ndarray:
        """Per-device read-noise sigma at time t (2, K, R, C), S."""
        return self.model.read_sigma(self.state, t)

    # ---- conductances -> weights --------------------------------------------------
    def pair_values(self, g: np.ndarray) -> np.ndarray:
        """(K, R, C) normalised pair values (G+ - G-) / (g_max - g_min)."""
        return _pair_values(self.model, g)

    def weights_from(self, g: np.ndarray) -> np.ndarray:
        """The effective weight matrix (R, C) of device conductances g (2, K, R, C), uncompensated."""
        return _weights(self.encoding, self.model, g)

    # ---- reads --------------------------------------------------------------------
    def read(self, t: float, rng: np.random.Generator) -> TileRead:
        """Read every device once at time t; the compensation factor uses this same read."""
        t = check_time(t)
        g = self.conductances(t, rng)
        w = self.weights_from(g)
        return TileRead(tile=self, t=t, conductances=g, weights=w,
                        factor=comp.factor(self.reference, comp.readout(w, self.compensation)))

    def mean_read(self, t: float, rng: np.random.Generator) -> TileRead:
        """The drifted devices without read noise; the compensation factor from a noisy read at t.

        For kernels that add the read noise per MVM from `slice_sigma(t)`.
        """
        t = check_time(t)
        g = self.mean_conductances(t)
        return TileRead(tile=self, t=t, conductances=g, weights=self.weights_from(g),
                        factor=self.compensation_factor(t, rng))

    def compensation_factor(self, t: float, rng: np.random.Generator) -> np.ndarray:
        """(C,) ref / now from a fresh calibration read at time t (ones when compensation is none)."""
        if self.compensation is DriftCompensation.NONE:
            return np.ones(self.shape[1])
        now = comp.readout(self.weights_from(self.conductances(t, rng)), self.compensation)
        return comp.factor(self.reference, now)

    def effective_weights(self, t: float, rng: np.random.Generator, *, compensate: bool = True) -> np.ndarray:
        """The weight matrix (R, C) of one read at time t, drift-compensated unless told not to."""
        r = self.read(t, rng)
        return r.compensated() if compensate else r.weights

    def slice_sigma(self, t: float) -> np.ndarray:
        """(P, R, C) float32: read-noise sigma of each slice weight, normalised units.

        sigma_w = sqrt(sigma(G+)^2 + sigma(G-)^2) / (g_max - g_min), the two devices of a
        pair being independent; for a slice input x the output noise variance is
        sum_i x_i^2 sigma_w[p, i, j]^2 (before the slice's digital factor).
        """
        s = self.conductance_sigma(t)
        m = self.model
        pair = np.sqrt(s[0] ** 2 + s[1] ** 2) / (m.g_max - m.g_min)
        return np.sqrt(self.encoding.slices(pair ** 2)).astype(np.float32)


def _pair_values(model: DeviceModel, g: np.ndarray) -> np.ndarray:
    return (g[0] - g[1]) / (model.g_max - model.g_min)


def _weights(enc: Encoding, model: DeviceModel, g: np.ndarray) -> np.ndarray:
    return enc.w_scale * np.einsum("krc,krc->rc", enc.coeff(), _pair_values(model, g))


def program_tile(weights: np.ndarray, tiles: Tiles, rng: np.random.Generator) -> ProgrammedTile:
    """Program `weights` with the device, mapping and drift compensation of a `Tiles` spec."""
    return ProgrammedTile.program(weights, device=tiles.device, mapping=tiles.mapping,
                                  compensation=tiles.noise.drift_compensation, rng=rng)
