"""Hybrid in-memory computing (HIC) training: binary + multi-level PCM weights and a
low-precision update accumulator (Joshi, He, Seo, Rajendran 2021, arXiv 2102.05271;
models.md section 3).

Weight layout (the significance layout of the inference encoding ``hic`` in
`archsim.devices.representations`, so `encoding()` decodes with `decode`): each weight
has n = `HIC.binary_devices` binary PCM pairs and one multi-level pair of M =
`HIC.ml_levels` levels (M1 = M - 1 steps). With the weight's LSB ``lsb = w_range /
(2**n M1)`` (w_range = `UpdateDevice.hic_range` times the matrix's max |W| when it is
programmed), the weight is the integer code

    Q = B M1 + m,   W = Q lsb,   |B| <= 2**n - 1,   |m| <= M1,   |Q| <= Qmax = 2**n M1,

B held in sign-magnitude by the binary pairs (bit k of |B|, most significant first,
SET on the G+ device of pair k when B > 0, on G- when B < 0; coefficient 2**-(k+1) of
w_range) and m by the multi-level pair (level |m| on G+ or G-; coefficient 2**-n).
The multi-level digit has its own sign, so B and m may differ in sign.

Update (one ``apply``), all in exact integer arithmetic:

1. Accumulator: ``a`` is a signed fixed-point number with L = 2**(bits - 1) steps per
   multi-level level (`UpdateDevice.hic_accumulator_bits`): the update -lr x^T d is
   rounded to steps of lsb / L (nearest, or stochastic: up with probability equal to
   the fraction, from the update's generator) and added: a += r.
2. Overflow: k = trunc(a / L) whole levels leave the accumulator, a -= k L
   (afterwards |a| < L: it fits in `bits` bits, sign included), and m += k.
3. Carry: when m leaves [-M1, M1] (the multi-level device saturates), c =
   ceil((|m| - M1) / M1) sign(m) carries into the binary part, B += c, m -= c M1
   (then 0 < |m| <= M1). The hysteresis of one full multi-level range around every
   carry keeps the binary devices from toggling when the weight oscillates.
4. Saturation: if |B| would exceed 2**n - 1, the weight stops at +-Qmax (B = +-(2**n
   - 1), m = +-M1).
5. Writes: every device whose target changed is reprogrammed (PCM programming noise
   of `archsim.devices.pcm`, drawn anew; exact for other device kinds) and its write
   count ``cycles[side, pair, i, j]`` grows by one: a binary device per flip, the
   multi-level device per reprogramming (a sign change of m writes both devices of the
   pair). ``pulses[i, j]`` is the weight's total writes. Counts start at 0 after the
   initial programming; a PCM write-erase cycle is a SET and a RESET, two writes, so
   comparing writes with the endurance is conservative by up to 2x.

Noise off, the represented weight Q lsb plus the accumulator a lsb / L equals the
initial weight (rounded to lsb) plus every rounded update, exactly, until the weight
saturates. Our assumptions where the paper's details were not available: the
accumulator width (8 bits), stochastic rounding into it, the signed multi-level digit
and the carry rule above, and w_range.
"""

from __future__ import annotations

import numpy as np

from archsim.devices.models import device_model
from archsim.devices.representations import Encoding, hic_coefficients
from archsim.devices.tile import ProgrammedTile
from archsim.devices.training.common import (as_matrix, check_pairs, gradient, new_seed,
                                              programmed_tile, update_rng)
from archsim.spec.devices import HIC, Device, PCMDevice, Representation, Rounding, UpdateDevice, WeightMapping
from archsim.spec.hardware import DriftCompensation

_ROUND_LIMIT = float(1 << 52)  # rounded updates are clipped here (exact integers in float64)


class HybridPCM:
    """A weight matrix on binary + multi-level PCM with a low-precision accumulator."""

    def __init__(self, *, hic: HIC, spec: UpdateDevice, device: Device, w_range: float, big: np.ndarray,
                 ml: np.ndarray, acc: np.ndarray, g: np.ndarray, seed: int):
        self.hic = hic
        self.spec = spec
        self.device = device
        self.w_range = float(w_range)
        self.big = big            # (R, C) int64: B, the binary part (signed)
        self.ml = ml              # (R, C) int64: m, the multi-level digit (signed)
        self.acc = acc            # (R, C) int64: a, the accumulator, in lsb / L steps
        self.g = g                # (2, n + 1, R, C) float64: programmed conductances (S)
        self.seed = seed
        self._cycles = np.zeros(g.shape, np.int64)
        self.pulses = np.zeros(big.shape, np.int64)

    # ---- construction ---------------------------------------------------------------
    @classmethod
    def program(cls, weights: np.ndarray, spec: UpdateDevice, rng: np.random.Generator, *,
                hic: HIC | None = None, device: Device | None = None) -> "HybridPCM":
        """Program ``weights`` (R, C): w_range = hic_range max|W| (hic_range when W = 0),
        W rounded to lsb and split as the inference encoding does (B = sign(Q) min(|Q|
        // M1, 2**n - 1)), every device programmed once. Defaults: ``HIC()`` and
        ``PCMDevice()``. Draw order: programming noise of all (2, n+1, R, C) devices
        (devices with programming noise only), then the update seed."""
        hic = HIC() if hic is None else hic
        device = PCMDevice() if device is None else device
        problem = hic.level_problem(device_model(device).levels)  # every multi-level digit a device level
        if problem:
            raise ValueError(f"hic.ml_levels {problem}")
        w = as_matrix(weights)
        top = float(np.abs(w).max())
        w_range = spec.hic_range * (top if top > 0 else 1.0)
        n, m1 = hic.binary_devices, hic.ml_levels - 1
        qmax = (1 << n) * m1
        q = np.clip(np.rint(w / (w_range / qmax)), -qmax, qmax).astype(np.int64)
        big = np.sign(q) * np.minimum(np.abs(q) // m1, (1 << n) - 1)
        ml = q - big * m1
        g = _program(_targets(big, ml, n, m1), device, rng)
        return cls(hic=hic, spec=spec, device=device, w_range=w_range, big=big, ml=ml,
                   acc=np.zeros(q.shape, np.int64), g=g, seed=new_seed(rng))

    # ---- geometry ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.big.shape

    @property
    def levels_per_step(self) -> int:
        """M1: multi-level steps per binary LSB."""
        return self.hic.ml_levels - 1

    @property
    def lsb(self) -> float:
        """The weight's least significant step: one multi-level level (weight units)."""
        return self.w_range / ((1 << self.hic.binary_devices) * self.levels_per_step)

    @property
    def acc_steps(self) -> int:
        """L: accumulator steps per multi-level level, 2**(bits - 1)."""
        return 1 << (self.spec.hic_accumulator_bits - 1)

    @property
    def cycles(self) -> np.ndarray:
        """Writes per device (2, n + 1, R, C) since programming (G+/G-, pair, row, col)."""
        return self._cycles

    # ---- reads ------------------------------------------------------------------------
    def code(self) -> np.ndarray:
        """Q = B M1 + m (R, C) int64: the weight in lsb units, as programmed (noise free)."""
        return self.big * self.levels_per_step + self.ml

    def target_weights(self) -> np.ndarray:
        """Q lsb (R, C) float64: the weight the devices aim at."""
        return self.code() * self.lsb

    def weights(self) -> np.ndarray:
        """The weights (R, C) float32 the programmed conductances represent (with their
        programming noise): w_range sum_k coeff_k (G+_k - G-_k) / (g_max - g_min)."""
        model = device_model(self.device)
        pair = (self.g[0] - self.g[1]) / (model.g_max - model.g_min)
        return (self.w_range * np.einsum("k,krc->rc", hic_coefficients(self.hic.binary_devices), pair)).astype(np.float32)

    def encoding(self) -> Encoding:
        """The noise-free device targets as an inference `Encoding` of the ``hic``
        representation (per-matrix scale w_range): ``decode(encoding())`` is
        `target_weights`."""
        n = self.hic.binary_devices
        u = _targets(self.big, self.ml, n, self.levels_per_step)
        index = np.broadcast_to(np.arange(n + 1, dtype=np.int8)[:, None, None], u.shape[1:]).copy()
        return Encoding(u=u, slice_index=index, slice_coeff=hic_coefficients(n),
                        w_scale=np.full(self.shape[1], self.w_range),
                        error_bound=np.full(self.shape, 0.5 * self.lsb))

    def mapping(self) -> WeightMapping:
        return WeightMapping(representation=Representation.HIC, hic=self.hic)

    def to_programmed_tile(self, device: Device, compensation: DriftCompensation,
                           rng: np.random.Generator) -> ProgrammedTile:
        """The trained devices as a `ProgrammedTile` of ``device`` (their conductances taken
        relative to its range) for drift and read noise after training (t = 0 at the end
        of training; see `common.programmed_tile`)."""
        own, new = device_model(self.device), device_model(device)
        x = (self.g - own.g_min) / (own.g_max - own.g_min)
        g = new.g_min + x * (new.g_max - new.g_min)
        return programmed_tile(self.encoding(), g, device, self.mapping(), compensation, rng)

    # ---- update -----------------------------------------------------------------------
    def apply(self, x: np.ndarray, d: np.ndarray, lr: float, counter: int) -> None:
        """Accumulate -lr x^T d (x: n x R inputs, d: n x C output errors), transfer the
        overflow and carries (module docstring); randomness from the update generator of
        ``counter``: the stochastic-rounding uniforms (R, C), then the programming noise
        of the rewritten devices."""
        x, d = check_pairs(x, d, self.shape, lr)
        rng = update_rng(self.seed, counter)
        steps = np.clip(-float(lr) * gradient(x, d) / (self.lsb / self.acc_steps), -_ROUND_LIMIT, _ROUND_LIMIT)
        if self.spec.hic_rounding is Rounding.STOCHASTIC:
            r = np.floor(steps + rng.random(steps.shape))
        else:
            r = np.rint(steps)
        self.add_steps(r.astype(np.int64), rng)

    def add_steps(self, r: np.ndarray, rng: np.random.Generator) -> None:
        """Add ``r`` (R, C) accumulator steps (lsb / L each) and transfer the overflow."""
        L = self.acc_steps
        self.acc += r
        k = np.sign(self.acc) * (np.abs(self.acc) // L)
        self.acc -= k * L
        rows, cols = np.nonzero(k)
        if rows.size:
            self._transfer(rows, cols, k[rows, cols], rng)

    def _transfer(self, rows: np.ndarray, cols: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> None:
        n, m1 = self.hic.binary_devices, self.levels_per_step
        top = (1 << n) - 1
        big_old, ml_old = self.big[rows, cols], self.ml[rows, cols]
        ml = ml_old + k
        carry = np.where(ml > m1, (ml - 1) // m1, 0) - np.where(ml < -m1, (-ml - 1) // m1, 0)
        ml = ml - carry * m1
        big = big_old + carry
        ml = np.where(big > top, m1, np.where(big < -top, -m1, ml))
        big = np.clip(big, -top, top)
        old = _targets(big_old, ml_old, n, m1)  # (2, n + 1, h) for the h touched weights
        new = _targets(big, ml, n, m1)
        changed = old != new
        self.big[rows, cols], self.ml[rows, cols] = big, ml
        if changed.any():
            side, pair, h = np.nonzero(changed)
            r, c = rows[h], cols[h]
            self.g[side, pair, r, c] = _program(new[side, pair, h], self.device, rng)
            np.add.at(self._cycles, (side, pair, r, c), 1)
            np.add.at(self.pulses, (r, c), 1)


def _targets(big: np.ndarray, ml: np.ndarray, n: int, m1: int) -> np.ndarray:
    """Normalised device targets u (2, n + 1, *shape) of binary parts B and digits m."""
    u = np.zeros((2, n + 1) + big.shape)
    mag = np.abs(big)
    for k in range(n):
        bit = (mag >> (n - 1 - k)) & 1
        u[0, k] = bit * (big > 0)
        u[1, k] = bit * (big < 0)
    u[0, n] = np.maximum(ml, 0) / m1
    u[1, n] = np.maximum(-ml, 0) / m1
    return u


def _program(u: np.ndarray, device: Device, rng: np.random.Generator) -> np.ndarray:
    """Conductances (S) programmed at targets u with the device model's programming noise and
    bounds (`programmed`: PCM as models.md section 4, RRAM within its window, ideal exact);
    no draw where the device is noise-free."""
    model = device_model(device)
    g = model.g_min + u * (model.g_max - model.g_min)
    sigma = model.prog_sigma(g)
    return model.programmed(g, rng.standard_normal(u.shape), sigma) if sigma.any() else g
