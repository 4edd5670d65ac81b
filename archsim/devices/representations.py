"""Weight representations: a weight matrix <-> normalised device targets, and back.

Every representation writes a weight matrix W (R x C) as K differential device pairs per
weight. Device values are normalised, u in [0, 1] (u = 1 is g_max, u = 0 is g_min; the
tile turns u into g = g_min + u (g_max - g_min)). A pair holds a signed value
d = u+ - u- and the weight is rebuilt as

    W[i, j] = w_scale[j] * sum_k coeff[k, i, j] * (u+[k, i, j] - u-[k, i, j])

with w_scale = max |W| over the matrix (`per_matrix`) or over the column (`per_column`),
so that the normalised weight v = W / w_scale lies in [-1, 1]. As in models.md section 4
(G+ = clip(w s, 0, g_max), G- = clip(-w s, 0, g_max), s = g_max / max|W|), only the
pair's device on the weight's sign side is programmed; the other aims at g_min.

`coeff` takes one of P values, `slice_coeff[slice_index[k, i, j]]`: each periphery
slice p is one analog MVM (its own columns or pass) whose digitised output the
periphery multiplies by slice_coeff[p] and sums (`Encoding.slices`).

Representations (exact variants implemented):

- differential: K = 1, d = v, P = 1 with coefficient 1. Continuous on continuous
  devices; on a device with L levels |v| is rounded to the grid of step 1/(L-1).
- bit_sliced (weight slicing, as in ISAAC / PUMA): S pairs, slice k weighted base**-k.
  |v| is rounded to an integer code q = round(|v| Q), Q = D sum_k base**(S-1-k) with
  digit alphabet 0..D, D = ceil(base) - 1 (Q = base**S - 1 for an integer base), and q
  is written in base `base`, most significant digit first: q = sum_k d_k base**(S-1-k),
  u_k = d_k / D, coefficient D base**(S-1-k) / Q. Integer base: exact digits, error
  <= half a step 1/Q. Non-integer base: greedy beta-expansion, error < one step 1/Q.
  On a device with L levels every digit must be a level: (L - 1) % D == 0, else
  ValueError.
- hic (Joshi et al. 2021, arXiv 2102.05271; inference mapping of its weight): n binary
  pairs (u in {0, 1}: the device on the sign side fully SET or RESET) for the high bits
  and one multi-level pair (M = ml_levels levels) whose full range equals ONE least
  significant binary step, the carry structure of HIC training (the multi-level device
  accumulates and carries into the binary bits when it saturates):
  |v| = 2**-n (b + u), b = sum_k bit_k 2**(n-1-k) in 0..2**n - 1, u in {0, 1/(M-1), ..., 1}.
  |v| is rounded to the step 2**-n / (M-1) (error <= half of it); b = min(q // (M-1),
  2**n - 1), so the top code keeps the multi-level device at u = 1. Coefficients:
  2**-(k+1) for binary bit k (MSB first), 2**-n for the multi-level pair. On a device
  with L levels, (L - 1) % (M - 1) == 0 is required.
- bi_scale ("analog floating point", Wan et al. 2020, arXiv 2008.02400): the published
  encoding was not available, so this variant: E = `scales` digital scales
  s_e = ratio**-e (e = 0..E-1), one per group of `group_size` consecutive rows of a
  column, chosen as the FINEST scale that still holds the group's largest |v|
  (e = the largest e <= E-1 with max|v| <= s_e; an all-zero group takes e = E-1). The
  pair stores the analog mantissa v / s_e in [-1, 1] at full conductance range
  (continuous; rounded to the device grid when it has levels, error <= s_e / (2(L-1))).
  K = 1 physical pair per weight, P = E periphery slices: slice e holds the weights
  whose group uses scale e (zeros elsewhere) and is multiplied by s_e after its
  conversion. With group_size > 1 this is the periphery multiplying row-block partial
  sums; with group_size = 1 the hardware needs E passes (or column copies) per MVM -
  a cost the timing model, not this module, accounts for.

`Encoding.error_bound` is the bound on |decode(encode(W)) - W| from quantisation alone,
per weight: 0 for continuous representations on continuous devices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from archsim.spec.devices import Representation, ScaleGranularity, WeightMapping


@dataclass(frozen=True, eq=False)
class Encoding:
    """A weight matrix as normalised device targets (noise free).

    Attributes:
        u: (2, K, R, C) float64 in [0, 1]: u[0] the G+ devices, u[1] the G- devices of
            the K pairs of each weight.
        slice_index: (K, R, C) int: the periphery slice each pair's output belongs to.
        slice_coeff: (P,) float64: digital factor (significance x scale) of each slice.
        w_scale: (C,) float64: weight units per normalised unit, per column.
        error_bound: (R, C) float64: quantisation bound on the rebuilt weight (weight units).
    """

    u: np.ndarray
    slice_index: np.ndarray
    slice_coeff: np.ndarray
    w_scale: np.ndarray
    error_bound: np.ndarray

    @property
    def pairs(self) -> int:
        """K: device pairs per weight."""
        return self.u.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        """(R, C): the weight matrix shape."""
        return self.u.shape[2], self.u.shape[3]

    def coeff(self) -> np.ndarray:
        """(K, R, C): the digital factor applied to each pair."""
        return self.slice_coeff[self.slice_index]

    def slices(self, d: np.ndarray) -> np.ndarray:
        """(P, R, C): pair values d (K, R, C) gathered into the P periphery slices."""
        out = np.zeros((len(self.slice_coeff),) + d.shape[1:], dtype=d.dtype)
        rows, cols = np.indices(d.shape[1:])
        for k in range(d.shape[0]):
            out[self.slice_index[k], rows, cols] += d[k]  # positions are distinct within one k
        return out

    def decode(self, u: np.ndarray | None = None) -> np.ndarray:
        """The weight matrix (R, C) from device values u (2, K, R, C); default: the targets."""
        u = self.u if u is None else u
        return self.w_scale * np.einsum("krc,krc->rc", self.coeff(), u[0] - u[1])


def _split_sign(v: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """(2, ...) device values: the magnitude on the side of v's sign, 0 on the other."""
    pos = v > 0
    return np.stack([np.where(pos, mag, 0.0), np.where(pos, 0.0, mag)])


def _round_to_grid(x: np.ndarray, levels: int) -> np.ndarray:
    return np.rint(x * (levels - 1)) / (levels - 1) if levels >= 2 else x


def _scale(weights: np.ndarray, granularity: ScaleGranularity) -> np.ndarray:
    a = np.abs(weights)
    m = a.max(axis=0) if granularity is ScaleGranularity.PER_COLUMN else np.full(weights.shape[1], a.max())
    return np.where(m > 0, m, 1.0)


def encode(weights: np.ndarray, mapping: WeightMapping, *, levels: int = 0) -> Encoding:
    """Encode a weight matrix (R x C) with `mapping` for devices with `levels` levels (0 = continuous)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or 0 in w.shape:
        raise ValueError(f"weights must be a non-empty 2-D matrix (rows x columns), not shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (found NaN or infinity)")
    if levels == 1 or levels < 0:
        raise ValueError(f"device levels must be 0 (continuous) or at least 2, not {levels}")
    for path, message in mapping.level_problems(levels):
        raise ValueError(f"{'.'.join(path)} {message}")
    w_scale = _scale(w, mapping.scale)
    v = np.clip(w / w_scale, -1.0, 1.0)
    rep = mapping.representation
    if rep is Representation.DIFFERENTIAL:
        u, index, coeff, bound = _differential(v, levels)
    elif rep is Representation.BIT_SLICED:
        u, index, coeff, bound = _bit_sliced(v, mapping.bit_slicing.slices, mapping.bit_slicing.base)
    elif rep is Representation.HIC:
        u, index, coeff, bound = _hic(v, mapping.hic.binary_devices, mapping.hic.ml_levels)
    elif rep is Representation.BI_SCALE:
        b = mapping.bi_scale
        u, index, coeff, bound = _bi_scale(v, b.scales, b.ratio, b.group_size, levels)
    else:  # pragma: no cover - the enum is closed
        raise ValueError(f"unknown representation {rep!r}")
    return Encoding(u=u, slice_index=index, slice_coeff=coeff, w_scale=w_scale,
                    error_bound=np.broadcast_to(bound * w_scale, v.shape).copy())


def _differential(v, levels):
    mag = _round_to_grid(np.abs(v), levels)
    bound = 0.5 / (levels - 1) if levels >= 2 else 0.0
    return (_split_sign(v, mag)[:, None], np.zeros((1,) + v.shape, dtype=np.int8),
            np.ones(1), np.asarray(bound))


def _bit_sliced(v, slices, base):
    digits_max = math.ceil(base) - 1  # on a device with levels, a grid step (encode checks)
    weights = base ** np.arange(slices - 1, -1, -1, dtype=np.float64)  # base**(S-1-k)
    q_max = digits_max * weights.sum()
    if q_max > 2.0 ** 52:
        raise ValueError(f"bit_sliced code range {q_max:g} exceeds float precision; lower base or slices")
    z = np.abs(v) * q_max
    d = np.zeros((slices,) + v.shape)
    if float(base).is_integer():
        q = np.rint(z)
        for k in range(slices):
            d[k] = np.floor(q / weights[k])
            q = q - d[k] * weights[k]
        half_steps = 0.5
    else:  # greedy beta-expansion
        for k in range(slices - 1):
            d[k] = np.minimum(digits_max, np.floor(z / weights[k] + 1e-9))
            z = np.maximum(z - d[k] * weights[k], 0.0)
        d[-1] = np.minimum(digits_max, np.rint(z))
        half_steps = 1.0
    u = _split_sign(v, d / digits_max)
    index = np.broadcast_to(np.arange(slices, dtype=np.int8)[:, None, None], d.shape).copy()
    return u, index, digits_max * weights / q_max, np.asarray(half_steps / q_max)


def hic_coefficients(n: int) -> np.ndarray:
    """Significance of each hic pair: 2**-(k+1) for binary pair k (MSB first), 2**-n for
    the multi-level pair."""
    return np.array([2.0 ** -(k + 1) for k in range(n)] + [2.0 ** -n])


def _hic(v, n, ml_levels):
    m1 = ml_levels - 1
    q = np.rint(np.abs(v) * (2 ** n) * m1).astype(np.int64)
    b = np.minimum(q // m1, 2 ** n - 1)
    mags = np.zeros((n + 1,) + v.shape)
    for k in range(n):
        mags[k] = (b >> (n - 1 - k)) & 1
    mags[n] = (q - b * m1) / m1
    coeff = hic_coefficients(n)
    index = np.broadcast_to(np.arange(n + 1, dtype=np.int8)[:, None, None], mags.shape).copy()
    return _split_sign(v, mags), index, coeff, np.asarray(0.5 * 2.0 ** -n / m1)


def _bi_scale(v, scales, ratio, group_size, levels):
    rows, cols = v.shape
    groups = -(-rows // group_size)
    padded = np.zeros((groups * group_size, cols))
    padded[:rows] = np.abs(v)
    gmax = padded.reshape(groups, group_size, cols).max(axis=1)
    s = ratio ** -np.arange(scales, dtype=np.float64)
    with np.errstate(divide="ignore"):
        e = np.floor(-np.log(gmax) / math.log(ratio))
    e = np.clip(np.nan_to_num(e, posinf=scales - 1), 0, scales - 1).astype(np.int64)
    # correct the floating-point floor in both directions: the finest scale that holds gmax
    e = np.where((e > 0) & (s[e] < gmax), e - 1, e)
    e = np.where((e < scales - 1) & (s[np.minimum(e + 1, scales - 1)] >= gmax), e + 1, e)
    e_rows = np.repeat(e, group_size, axis=0)[:rows]
    mantissa = np.clip(v / s[e_rows], -1.0, 1.0)
    mag = _round_to_grid(np.abs(mantissa), levels)
    bound = s[e_rows] * (0.5 / (levels - 1)) if levels >= 2 else np.zeros(v.shape)
    return _split_sign(v, mag)[:, None], e_rows[None].astype(np.int8), s, bound


def decode(encoding: Encoding, u: np.ndarray | None = None) -> np.ndarray:
    """The weight matrix (R, C) of device values u (2, K, R, C); default: the noise-free targets."""
    return encoding.decode(u)
