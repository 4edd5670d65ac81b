"""Row-range workers of the noisy analog MVM (:mod:`archsim.kernels.mvm`).

The semantics (DAC, input slices, noise, ADC, bound management, sample
indexing of the noise stream) are specified in the docstring of
:mod:`archsim.kernels.mvm`; these serial numba functions implement them for a
range of rows and are shared by the fused small-batch kernel and the batched
(BLAS) path.

The per-row work is written inside these loops rather than in helpers taking
arrays: every array handed to a numba function costs an atomic
reference-count update, and when two threads do that on the same arrays for
every row they fight over one cache line (the kernel stopped scaling).

numba's on-disk cache does not notice edits here in the kernels of ``mvm.py``
that call these workers: delete ``archsim/kernels/__pycache__/*.nbi`` and
``*.nbc`` after editing this module.
"""

from __future__ import annotations

import numpy as np

from ._numba import float32_from_bits, jit
from .gather import gather_rows
from .gaussian import fill_normals_range

_ABS_MASK = np.int32(0x7FFFFFFF)
_INF_BITS = np.int32(0x7F800000)
_NEG_ZERO_BITS = np.int32(-0x80000000)


@jit
def _slice_geometry(dac_bits, dac_range, slices, s):
    """(shift, levels, step, coef) of input slice s (see the mvm docstring)."""
    if dac_bits == 0:
        return 0, 0, np.float32(dac_range), np.float32(1.0)
    m = dac_bits - 1
    base = m // slices
    extra = m % slices
    width = base + (1 if s < extra else 0)
    shift = s * base + min(s, extra)
    levels = (1 << width) - 1
    h = (1 << m) - 1
    step = np.float32(dac_range / levels)
    coef = np.float32(((1 << shift) * levels) / h)
    return shift, levels, step, coef


@jit
def _prepare_rows(x, rows, lo, hi, p, alpha, mode, nm_constant, dac_bits, dac_range, slices,
                  need_norm, xs, xnorm, need_sq, xsq, x_shift):
    """Noise management (on the first pass) and DAC of rows[lo:hi]: the analog
    inputs go to xs[s, i, :], their norms to xnorm[s, i] (when need_norm) and
    their squares to xsq[s, i, :] (when need_sq). Row i of the batch is x[rows[i]]
    (x_shift < 0) or x[i - x_shift] (x holds the chunk rows[lo:hi], gathered)."""
    xbits = x.view(np.int32)
    n_in = x.shape[1]
    lim = np.float32(dac_range)
    hf = np.float32((1 << (dac_bits - 1)) - 1) if dac_bits > 0 else np.float32(1.0)
    d_in = np.float32(dac_range / hf)
    for i in range(lo, hi):
        b = rows[i]
        xr = b if x_shift < 0 else i - x_shift
        if p == 0:
            if mode == 0:
                # max |x| on the IEEE bit patterns: an integer max reduction,
                # which vectorises without fast-math and is exact.
                m = 0
                for r in range(n_in):
                    v = xbits[xr, r] & _ABS_MASK
                    m = v if v > m else m
                alpha[b] = float32_from_bits(m)
            elif mode == 1:
                alpha[b] = np.float32(nm_constant)
            else:
                alpha[b] = np.float32(1.0)
            # a scale so small that the DAC gain overflows float32 (max|x| ~1e-38, e.g.
            # a subnormal error vector) is a zero vector: 0 * inf would be NaN
            if np.isinf(np.float32(1.0 / (np.float64(alpha[b]) * np.float64(d_in if dac_bits > 0 else 1.0)))):
                alpha[b] = np.float32(0.0)
        scale = alpha[b] * np.float32(2.0**p)
        if scale == 0.0:
            for s in range(slices):
                for r in range(n_in):
                    xs[s, i, r] = 0.0
                xnorm[s, i] = 0.0
        elif dac_bits == 0:
            g = np.float32(1.0 / np.float64(scale))
            for r in range(n_in):
                xs[0, i, r] = min(max(x[xr, r] * g, -lim), lim)
            if need_norm:
                acc = 0.0
                for r in range(n_in):
                    v = np.float64(xs[0, i, r])
                    acc += v * v
                xnorm[0, i] = np.sqrt(acc)
        elif slices == 1:
            # k * d_in equals sign(k) * (|k| * step) of the general slice formula.
            g = np.float32(1.0 / (np.float64(scale) * np.float64(d_in)))
            if not need_norm:
                for r in range(n_in):
                    xs[0, i, r] = min(max(np.rint(x[xr, r] * g), -hf), hf) * d_in
            else:  # one pass; the codes (|k| <= 2**23) convert through int32, which vectorises
                ss = 0  # (0.73 against 0.91 ms straight to int64, 4000 x 512); squares summed in int64
                for r in range(n_in):
                    kf = min(max(np.rint(x[xr, r] * g), -hf), hf)
                    xs[0, i, r] = kf * d_in
                    k = np.int64(np.int32(kf))
                    ss += k * k
                xnorm[0, i] = np.sqrt(np.float64(ss)) * np.float64(d_in)
        else:
            g = np.float32(1.0 / (np.float64(scale) * np.float64(d_in)))
            for s in range(slices):
                shift, levels, step, coef = _slice_geometry(dac_bits, dac_range, slices, s)
                ss = 0
                for r in range(n_in):
                    ki = np.int64(min(max(np.rint(x[xr, r] * g), -hf), hf))
                    digit = ((ki if ki >= 0 else -ki) >> shift) & levels
                    v = np.float32(digit) * step
                    xs[s, i, r] = -v if ki < 0 else v
                    ss += digit * digit
                xnorm[s, i] = np.sqrt(np.float64(ss)) * np.float64(step)
        if need_sq:
            for s in range(slices):
                for r in range(n_in):
                    xsq[s, i, r] = xs[s, i, r] * xs[s, i, r]


@jit
def _finish_rows(ys, vs, rows, lo, hi, p, alpha, dac_bits, dac_range, adc_bits, adc_range,
                 out_noise, w_noise, read, slices, key, xnorm, y, out_scale, passes, sat, acc,
                 tbuf, z):
    """Noise, ADC, slice recombination and rescale of rows[lo:hi] (and the column
    scale, when ``out_scale`` is not None: a None argument compiles without it).

    Reads the analog products ys[s * n + i, :] (s = slice, n = len(rows)) and,
    when ``read``, the read-noise variances vs[s * n + i, :] (same layout);
    writes y[rows[i], :], passes[rows[i]] and sat[i] (any output saturated in
    any slice). acc, tbuf (n_out each) and z (slices * (hi - lo) * n_out) are
    work arrays.

    The noise samples of consecutive rows are consecutive in the stream, so
    when rows[lo:hi] are (the first pass) each slice's are drawn in one call:
    the same samples as row by row, without the per-call cost that dominates
    for narrow tiles (16 outputs: ~90 ns a row).
    """
    n = rows.shape[0]
    batch, n_out = y.shape
    bound = np.float32(adc_range)
    on = np.float32(out_noise)
    hq = np.float32((1 << (adc_bits - 1)) - 1) if adc_bits > 0 else np.float32(1.0)
    d_out = np.float32(adc_range / hq)
    g_out = np.float32(hq / adc_range)
    noisy = read or out_noise > 0.0 or w_noise > 0.0
    span = (hi - lo) * n_out
    together = noisy and hi > lo and rows[hi - 1] - rows[lo] == hi - 1 - lo
    if together:
        for s in range(slices):
            fill_normals_range(key, ((p * slices + s) * batch + rows[lo]) * n_out, z, s * span, span)
    coef1 = _slice_geometry(dac_bits, dac_range, slices, 0)[3]
    for i in range(lo, hi):
        b = rows[i]
        passes[b] = (p + 1) * slices
        scale = alpha[b] * np.float32(2.0**p)
        if scale == 0.0:
            for c in range(n_out):
                if out_scale is not None:
                    y[b, c] = 0.0 * out_scale[c]  # (+0 times the scale: a signed zero)
                else:
                    y[b, c] = 0.0
            sat[i] = False
            continue
        any_sat = False
        for s in range(slices):
            row = s * n + i
            q = p * slices + s
            zo = s * span + (i - lo) * n_out  # this row's samples in z
            if noisy and not together:
                fill_normals_range(key, (q * batch + b) * n_out, z, zo, n_out)
            # one Gaussian of the summed variance of the read, weight and output noise
            sw = np.float32(w_noise * xnorm[s, i]) if w_noise > 0.0 else np.float32(0.0)
            s2 = sw * sw + on * on  # xnorm is only written when w_noise > 0
            if read:
                for c in range(n_out):
                    tbuf[c] = ys[row, c] + np.sqrt(vs[row, c] + s2) * z[zo + c]
            elif s2 > 0.0:
                sd = np.sqrt(s2)
                for c in range(n_out):
                    tbuf[c] = ys[row, c] + sd * z[zo + c]
            else:
                for c in range(n_out):
                    tbuf[c] = ys[row, c]
            coef = coef1 if s == 0 else _slice_geometry(dac_bits, dac_range, slices, s)[3]
            if slices == 1:  # common case: convert and rescale straight into y
                if adc_bits > 0:
                    for c in range(n_out):
                        t = tbuf[c]
                        any_sat = any_sat | (abs(t) >= bound)
                        v = coef * (min(max(np.rint(t * g_out), -hq), hq) * d_out)
                        if out_scale is not None:  # (v * scale + 0) * out_scale, in float64
                            y[b, c] = np.float64(v * scale + np.float32(0.0)) * out_scale[c]
                        else:
                            y[b, c] = v * scale
                else:
                    for c in range(n_out):
                        t = tbuf[c]
                        any_sat = any_sat | (abs(t) >= bound)
                        v = coef * min(max(t, -bound), bound)
                        if out_scale is not None:
                            y[b, c] = np.float64(v * scale + np.float32(0.0)) * out_scale[c]
                        else:
                            y[b, c] = v * scale
                break
            if adc_bits > 0:
                for c in range(n_out):
                    t = tbuf[c]
                    any_sat = any_sat | (abs(t) >= bound)
                    tbuf[c] = coef * (min(max(np.rint(t * g_out), -hq), hq) * d_out)
            else:
                for c in range(n_out):
                    t = tbuf[c]
                    any_sat = any_sat | (abs(t) >= bound)
                    tbuf[c] = coef * min(max(t, -bound), bound)
            if s == 0:
                for c in range(n_out):
                    acc[c] = tbuf[c]
            else:
                for c in range(n_out):
                    acc[c] = acc[c] + tbuf[c]
        if slices > 1:
            for c in range(n_out):
                if out_scale is not None:
                    y[b, c] = np.float64(acc[c] * scale + np.float32(0.0)) * out_scale[c]
                else:
                    y[b, c] = acc[c] * scale
        sat[i] = any_sat


@jit
def _matvec(xs, s, i, w, trans, square, ys, yrow, lanes):
    """ys[yrow, :] = xs[s, i, :] @ w (w [n_in, n_out]) or, with trans,
    xs[s, i, :] @ w.T (w [n_out, n_in]); float32, fixed summation order. With
    ``square`` every weight is squared first (``xs @ (w * w)``: the read-noise
    variance from squared inputs and sigmas).

    Forward: rows of w are accumulated in order, sixteen at a time (eight
    when ``square``; one load and store of the partial sums per block).
    Transposed: each output is a dot product over 64 fixed lanes (``lanes``,
    64 floats) folded pairwise, plus the sequential remainder, so it
    vectorises without reassociation.
    """
    n_out = ys.shape[1]
    n_in = xs.shape[2]
    if trans:
        nb = n_in - n_in % 64
        for r in range(n_out):
            for l in range(64):
                lanes[l] = 0.0
            for c0 in range(0, nb, 64):
                base = np.uintp(c0)
                if square:
                    for l in range(64):
                        u = base + np.uintp(l)
                        lanes[l] += (w[r, u] * w[r, u]) * xs[s, i, u]
                else:
                    for l in range(64):
                        u = base + np.uintp(l)
                        lanes[l] += w[r, u] * xs[s, i, u]
            half = 32
            while half > 0:
                for l in range(half):
                    lanes[l] += lanes[l + half]
                half >>= 1
            tail = np.float32(0.0)
            for c in range(nb, n_in):
                wv = w[r, c] * w[r, c] if square else w[r, c]
                tail += wv * xs[s, i, c]
            ys[yrow, r] = lanes[0] + tail
        return
    for c in range(n_out):
        ys[yrow, c] = 0.0
    r = 0
    if not square:
        # sixteen rows per sweep over the outputs: half the loads and stores
        # of the partial sums of eight (the loop is bound by reading w)
        while r + 16 <= n_in:
            x0 = xs[s, i, r]
            x1 = xs[s, i, r + 1]
            x2 = xs[s, i, r + 2]
            x3 = xs[s, i, r + 3]
            x4 = xs[s, i, r + 4]
            x5 = xs[s, i, r + 5]
            x6 = xs[s, i, r + 6]
            x7 = xs[s, i, r + 7]
            x8 = xs[s, i, r + 8]
            x9 = xs[s, i, r + 9]
            x10 = xs[s, i, r + 10]
            x11 = xs[s, i, r + 11]
            x12 = xs[s, i, r + 12]
            x13 = xs[s, i, r + 13]
            x14 = xs[s, i, r + 14]
            x15 = xs[s, i, r + 15]
            for c in range(n_out):
                t = (((((((ys[yrow, c] + x0 * w[r, c]) + x1 * w[r + 1, c])
                        + x2 * w[r + 2, c]) + x3 * w[r + 3, c]) + x4 * w[r + 4, c])
                     + x5 * w[r + 5, c]) + x6 * w[r + 6, c]) + x7 * w[r + 7, c]
                ys[yrow, c] = (((((((t + x8 * w[r + 8, c]) + x9 * w[r + 9, c])
                                   + x10 * w[r + 10, c]) + x11 * w[r + 11, c])
                                 + x12 * w[r + 12, c]) + x13 * w[r + 13, c])
                               + x14 * w[r + 14, c]) + x15 * w[r + 15, c]
            r += 16
    while r + 8 <= n_in:
        x0 = xs[s, i, r]
        x1 = xs[s, i, r + 1]
        x2 = xs[s, i, r + 2]
        x3 = xs[s, i, r + 3]
        x4 = xs[s, i, r + 4]
        x5 = xs[s, i, r + 5]
        x6 = xs[s, i, r + 6]
        x7 = xs[s, i, r + 7]
        if square:
            for c in range(n_out):
                ys[yrow, c] = ((((((((ys[yrow, c] + x0 * (w[r, c] * w[r, c]))
                                     + x1 * (w[r + 1, c] * w[r + 1, c]))
                                    + x2 * (w[r + 2, c] * w[r + 2, c]))
                                   + x3 * (w[r + 3, c] * w[r + 3, c]))
                                  + x4 * (w[r + 4, c] * w[r + 4, c]))
                                 + x5 * (w[r + 5, c] * w[r + 5, c]))
                                + x6 * (w[r + 6, c] * w[r + 6, c]))
                               + x7 * (w[r + 7, c] * w[r + 7, c]))
        else:
            for c in range(n_out):
                ys[yrow, c] = (((((((ys[yrow, c] + x0 * w[r, c]) + x1 * w[r + 1, c])
                                + x2 * w[r + 2, c]) + x3 * w[r + 3, c]) + x4 * w[r + 4, c])
                             + x5 * w[r + 5, c]) + x6 * w[r + 6, c]) + x7 * w[r + 7, c]
        r += 8
    while r < n_in:
        xr = xs[s, i, r]
        for c in range(n_out):
            wv = w[r, c] * w[r, c] if square else w[r, c]
            ys[yrow, c] = ys[yrow, c] + xr * wv
        r += 1


@jit
def _work_buffers(n_out, rows, slices):
    """acc, tbuf and z for _finish_rows on up to `rows` rows (one allocation)."""
    ws = np.empty((2 + rows * slices) * n_out, dtype=np.float32)
    return ws[:n_out], ws[n_out:2 * n_out], ws[2 * n_out:]


@jit
def _sigma_ok(sigma):
    """True when every read-noise sigma is finite and >= 0 (-0.0 included).

    Integer min and max reductions over the IEEE bit patterns (they vectorise
    without fast-math): with -0.0 mapped to 0, a value is valid iff its int32
    pattern lies in [0, pattern of +inf) (negative values have the sign bit
    set, NaNs lie above +inf)."""
    bits = sigma.view(np.int32)
    hi = np.int32(0)
    lo = np.int32(0)
    for r in range(sigma.shape[0]):
        for c in range(sigma.shape[1]):
            t = bits[r, c]
            t = np.int32(0) if t == _NEG_ZERO_BITS else t
            hi = t if t > hi else hi
            lo = t if t < lo else lo
    return lo >= 0 and hi < _INF_BITS


@jit
def _square_sigma(sigma, out):
    """out = sigma * sigma (float32); then the check of `_sigma_ok`."""
    for r in range(sigma.shape[0]):
        for c in range(sigma.shape[1]):
            out[r, c] = sigma[r, c] * sigma[r, c]
    return _sigma_ok(sigma)


_GATHER_CHUNK = 16  # patch rows gathered at a time into a scratch the DAC then reads from L1


@jit
def _prepare_runs(src, starts, run, count, step, first, bias, rows, n, p, alpha, mode,
                  nm_constant, dac_bits, dac_range, slices, need_norm, xs, xnorm, need_sq, xsq):
    """`_prepare_rows` of rows[0:n] of the virtual matrix X whose row b is
    `gather_runs(src, starts[b:b+1], run, count, step, first=first, width=R - bias,
    bias=bias)` (R = xs.shape[2]). Chunks of rows are gathered into a small scratch and
    converted from there, so X never goes through memory. (A DAC reading the runs
    directly was 12-18 % faster with 256-bit vectors, but 1.2-1.7x slower with 512-bit
    ones on the short runs of the layers with the most patches: 15 and 48 values.)"""
    n_in = xs.shape[2]
    width = n_in - (1 if bias else 0)
    scratch = np.empty((_GATHER_CHUNK, n_in), dtype=np.float32)
    for lo in range(0, n, _GATHER_CHUNK):
        hi = min(n, lo + _GATHER_CHUNK)
        gather_rows(src, starts, rows, lo, hi, run, count, step, first, width, bias, scratch, lo)
        _prepare_rows(scratch, rows, lo, hi, p, alpha, mode, nm_constant, dac_bits, dac_range,
                      slices, need_norm, xs, xnorm, need_sq, xsq, lo)
