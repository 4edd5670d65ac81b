"""Slow, obviously correct numpy twins of the numba kernels in archsim.kernels.

They are the kernels' test references and the `numpy` backend of a run
(`run.backend: numpy`): the same results, one vector at a time. The twins of
:mod:`archsim.kernels.pulsed` (`pulsed_update_twin`, `apply_pulses_twin`) build
every pulse train slot by slot from the kernel's public word and normal
streams (`stream_words`, `stream_normals`) and must match it bit for bit.

Each twin follows the documented semantics step by step, one input vector at
a time, in float32 numpy arithmetic (the same IEEE operations in the same
order as the kernel), and takes its noise from the kernel's public generator
``standard_normal(seed, counter, n)`` so that the streams match sample for
sample. The one thing a twin cannot reproduce is the summation order of the
float32 analog products ``x'' @ W`` and, with read noise, ``(x''**2) @
sigma**2`` (BLAS, numba loops and numpy's matvec all differ), so comparisons
are exact only when those products are exact in float32 (the tests use dyadic
weights, sigmas and DAC steps for that); otherwise the outputs
agree to float32 rounding, except that a rounding difference can move a value
across an ADC decision threshold (one ADC level) or across the saturation
bound (a different bound-management path) in rare cases.
"""

from __future__ import annotations

import numpy as np

from archsim.kernels.gaussian import standard_normal
from archsim.kernels.pulsed import (PROB_BITS, SIDE_D, SIDE_PULSE, SIDE_TRANSFER, SIDE_X, lane_geometry,
                                    probability_scales, stream_normals, stream_words)

F32 = np.float32


def gather_runs_twin(src, starts, run, count, step, first=0, width=None, bias=False):
    """`gather_runs` by fancy indexing: every value's index written out."""
    index = np.asarray(starts)[:, None, None] + (np.arange(count) * step)[:, None] + np.arange(run)
    rows = src[index].reshape(len(starts), count * run)
    rows = rows[:, first:] if width is None else rows[:, first:first + width]
    return np.concatenate([rows, np.ones((len(rows), 1), src.dtype)], axis=1) if bias else rows


def slice_geometry(dac_bits, dac_range, slices, s):
    """(shift, levels, step, coef) of input slice s, as in the module docstring."""
    if dac_bits == 0:
        return 0, 0, F32(dac_range), F32(1.0)
    m = dac_bits - 1
    width = m // slices + (1 if s < m % slices else 0)
    shift = s * (m // slices) + min(s, m % slices)
    levels = 2**width - 1
    h = 2**m - 1
    return shift, levels, F32(dac_range / levels), F32((2**shift * levels) / h)


def dac_gain(scale, dac_bits, dac_range):
    """The DAC's input gain, float32(1 / (scale * d_in)) (1 / scale for an ideal DAC);
    inf when it overflows float32 (the kernel then treats the vector as zero)."""
    d_in = F32(dac_range / (2 ** (dac_bits - 1) - 1)) if dac_bits > 0 else 1.0
    with np.errstate(over="ignore", divide="ignore"):
        return F32(np.float64(1.0) / (np.float64(scale) * np.float64(d_in)))


def dac(xb, scale, dac_bits, dac_range, slices):
    """Analog inputs (one per slice) and their L2 norms for one vector."""
    g = dac_gain(scale, dac_bits, dac_range)
    if dac_bits == 0:
        xq = np.clip(xb * g, F32(-dac_range), F32(dac_range))
        norm = float(np.sqrt(np.cumsum(xq.astype(np.float64) ** 2)[-1])) if xq.size else 0.0
        return [xq], [norm]
    h = 2 ** (dac_bits - 1) - 1
    k = np.clip(np.rint(xb * g), F32(-h), F32(h)).astype(np.int64)
    inputs, norms = [], []
    for s in range(slices):
        shift, levels, step, _ = slice_geometry(dac_bits, dac_range, slices, s)
        digit = (np.abs(k) >> shift) & levels
        v = digit.astype(F32) * step
        inputs.append(np.where(k < 0, -v, v))
        norms.append(float(np.sqrt(float(np.sum(digit * digit)))) * float(step))
    return inputs, norms


def adc(t, adc_bits, adc_range):
    if adc_bits == 0:
        return np.clip(t, F32(-adc_range), F32(adc_range))
    hq = F32(2 ** (adc_bits - 1) - 1)
    d_out = F32(adc_range / hq)
    g_out = F32(hq / adc_range)
    return np.clip(np.rint(t * g_out), -hq, hq) * d_out


def analog_mvm_twin(x, w, *, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
                    noise_management, nm_constant, max_passes, input_slices, seed, counter,
                    read_sigma=None, out_scale=None):
    """Twin of ``analog_mvm`` (for the transposed kernel pass ``w.T`` and
    ``read_sigma.T``)."""
    x = np.asarray(x, dtype=F32)
    w = np.asarray(w, dtype=F32)
    batch, n_out = x.shape[0], w.shape[1]
    slices = input_slices
    n_pass = max_passes * slices  # Q: most analog passes of one row
    z = standard_normal(seed, counter, n_pass * batch * n_out).reshape(n_pass, batch, n_out)
    if read_sigma is not None:
        sigma2 = np.asarray(read_sigma, dtype=F32) ** 2  # float32 squares
    s_o = F32(out_noise)
    y = np.zeros((batch, n_out), dtype=F32)
    passes = np.zeros(batch, dtype=np.int32)
    for b in range(batch):
        xb = x[b]
        if noise_management == "abs_max":
            alpha = F32(np.max(np.abs(xb))) if xb.size else F32(0.0)
        elif noise_management == "constant":
            alpha = F32(nm_constant)
        else:
            alpha = F32(1.0)
        if np.isinf(dac_gain(alpha, dac_bits, dac_range)):
            alpha = F32(0.0)  # the DAC gain overflows float32: a zero vector
        passes[b] = slices
        if alpha == 0:
            continue
        for p in range(max_passes):
            scale = alpha * F32(2.0**p)
            inputs, norms = dac(xb, scale, dac_bits, dac_range, slices)
            saturated = False
            for s in range(slices):
                q = p * slices + s
                t = inputs[s] @ w
                # read, weight and output noise: one Gaussian of the summed variance
                s_w = F32(w_noise * norms[s]) if w_noise > 0 else F32(0.0)
                s2 = s_w * s_w + s_o * s_o
                if read_sigma is not None:  # exact per-pass Gaussian of the device reads
                    var = (inputs[s] * inputs[s]) @ sigma2
                    t = t + np.sqrt(var + s2) * z[q, b]
                elif s2 > 0:
                    t = t + np.sqrt(s2) * z[q, b]
                saturated |= bool(np.any(np.abs(t) >= F32(adc_range)))
                v = slice_geometry(dac_bits, dac_range, slices, s)[3] * adc(t, adc_bits, adc_range)
                acc = v if s == 0 else acc + v
            y[b] = acc * scale
            passes[b] = (p + 1) * slices
            if not saturated:
                break
    if out_scale is not None:  # in float64, rounded once; -0.0 becomes +0.0 first
        y = ((y + F32(0.0)).astype(np.float64) * np.asarray(out_scale, np.float64)).astype(F32)
    return y, passes


# --------------------------------------------------------------------------
# Twins of archsim.kernels.pulsed: one sample, one slot, one pulse at a time.
def pulse_train_twin(p, seed, counter, side, base, bl):
    """(bl,) bool: the slots in which a line with firing probability p fires.

    Builds every slot's 48-bit uniform u_t from its words, bit by bit as the
    kernel's module docstring defines it, and compares u_t < floor(p 2**48).
    """
    lanes, g = lane_geometry(bl)
    q = 1 << PROB_BITS if p >= 1.0 else int(np.floor(p * float(1 << PROB_BITS)))
    words = stream_words(seed, counter, side, base + np.arange(PROB_BITS // g))
    fire = np.zeros(bl, dtype=bool)
    for t in range(bl):
        u = 0
        for k in range(PROB_BITS):
            bit = (int(words[k // g]) >> ((k % g) * lanes + t)) & 1
            u = (u << 1) | bit
        fire[t] = u < q
    return fire


def pulsed_update_twin(w, x, d, lr, dw_min, bl, balance, dw_up, dw_down, w_min, w_max, ctoc, seed, counter,
                       pulses):
    """Twin of ``pulsed_update``: returns the new (w, pulses) instead of updating in place.

    Every sample, every line's full train (all BL slots), every (row, column) pair
    and every coincident slot in turn."""
    scale_x, scale_d = probability_scales(x, d, lr, dw_min, bl, balance)
    w = np.array(w, dtype=F32)
    pulses = np.array(pulses, dtype=np.int64)
    n, rows = x.shape
    cols = d.shape[1]
    wpt = PROB_BITS // lane_geometry(bl)[1]  # words per train
    for s in range(n):
        px = [min(abs(np.float64(scale_x[s]) * np.float64(x[s, i])), 1.0) for i in range(rows)]
        pd = [min(abs(np.float64(scale_d[s]) * np.float64(d[s, j])), 1.0) for j in range(cols)]
        fx = [pulse_train_twin(px[i], seed, counter, SIDE_X, (s * rows + i) * wpt, bl) for i in range(rows)]
        fd = [pulse_train_twin(pd[j], seed, counter, SIDE_D, (s * cols + j) * wpt, bl) for j in range(cols)]
        for i in range(rows):
            for j in range(cols):
                slots = [t for t in range(bl) if fx[i][t] and fd[j][t]]
                if not slots:
                    continue
                up = -np.sign(x[s, i]) * np.sign(d[s, j]) > 0
                step = np.float64(dw_up[i, j]) if up else -np.float64(dw_down[i, j])
                base = ((s * rows + i) * cols + j) * bl
                z = stream_normals(seed, counter, SIDE_PULSE, base + np.arange(len(slots)))
                wv = np.float64(w[i, j])
                for k in range(len(slots)):  # pulse k of this sample, in slot order
                    wv = wv + step * (1.0 + np.float64(ctoc) * np.float64(z[k]))
                    wv = min(max(wv, np.float64(w_min[i, j])), np.float64(w_max[i, j]))
                w[i, j] = F32(wv)
                pulses[i, j] += len(slots)
    return w, pulses


def apply_pulses_twin(w, counts, dw_up, dw_down, w_min, w_max, ctoc, seed, counter, pulses):
    """Twin of ``apply_pulses``: returns the new (w, pulses)."""
    w = np.array(w, dtype=F32)
    pulses = np.array(pulses, dtype=np.int64)
    rows, cols = w.shape
    for i in range(rows):
        for j in range(cols):
            c = int(counts[i, j])
            if c == 0:
                continue
            step = np.float64(dw_up[i, j]) if c > 0 else -np.float64(dw_down[i, j])
            z = stream_normals(seed, counter, SIDE_TRANSFER, ((i * cols + j) << 32) + np.arange(abs(c)))
            wv = np.float64(w[i, j])
            for k in range(abs(c)):
                wv = wv + step * (1.0 + np.float64(ctoc) * np.float64(z[k]))
                wv = min(max(wv, np.float64(w_min[i, j])), np.float64(w_max[i, j]))
            w[i, j] = F32(wv)
            pulses[i, j] += abs(c)
    return w, pulses
