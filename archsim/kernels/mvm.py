"""Noisy analog matrix-vector multiplication (forward and transposed).

The periphery follows aihwkit's ``IOParameters`` (models.md section 5). All
arithmetic is float32 unless stated; ``rint`` rounds half to even. For every
input vector ``x`` (a row of the batch of ``B``):

1. Noise management: ``alpha = max|x|`` ("abs_max"; a vector of zeros gives an
   exactly zero output, without noise, in one iteration), ``alpha =
   nm_constant`` ("constant") or ``alpha = 1`` ("none"). Bound management
   starts with ``beta = 1``; ``scale = alpha * beta`` (exact: beta is a power
   of two).
2. DAC, ``x' = x / scale`` computed as ``x * g`` with a reciprocal rounded once:
   with ``dac_bits = n > 0`` the input is quantised to the ``2**n - 1`` levels
   ``k * d_in``: ``k = clip(rint(x * g), -h, h)``, ``h = 2**(n-1) - 1``,
   ``d_in = float32(dac_range / h)``, ``g = float32(1 / (scale * d_in))``
   (7 bits: 127 levels, step ``2 * dac_range / 126``). With ``dac_bits = 0``
   the DAC is ideal but clips: ``x'' = clip(x * float32(1 / scale),
   -dac_range, dac_range)``.
3. Bit-serial input slicing (``input_slices = S``, ``1 <= S <= dac_bits - 1``,
   needs a quantising DAC when ``S > 1``): the ``m = dac_bits - 1`` magnitude
   bits of the code ``|k|`` are cut into ``S`` slices, least significant
   first, of widths ``m // S + (1 if s < m % S else 0)``; slice ``s`` starts at
   bit ``shift_s`` and has ``L_s = 2**width_s - 1`` levels. Its analog input is
   the full-scale signed digit ``sign(k) * digit_s * step_s`` with
   ``digit_s = (|k| >> shift_s) & L_s`` and ``step_s = float32(dac_range /
   L_s)``. Each slice is a separate analog pass (own noise draw, own ADC
   conversion, steps 4-6) and the ADC outputs are recombined digitally, LSB
   slice first: ``acc = c_0 * adc_0 + c_1 * adc_1 + ...`` with ``c_s =
   float32(2**shift_s * L_s / h)``, so that with ideal converters ``acc = (k *
   d_in) @ W`` up to rounding. ``S = 1`` is the plain DAC (``c_0 = 1``).
4. Analog product ``y = x'' @ W`` in float32: BLAS for batches of more than
   ``_FUSED_MAX_BATCH`` vectors, a fused numba loop for smaller ones (rows
   of W accumulated in order; a fixed 64-lane order for the transposed
   product). The paths may differ in float32 summation order only.
5. Optional output-referred weight read noise (aihwkit's approximation):
   ``y = y + float32(w_noise * ||x''||_2) * z_w``, the norm computed in float64
   from the integer codes, ``sqrt(sum digit_s**2) * step_s`` (sequential
   ``sqrt(sum x''**2)`` for an ideal DAC); then output noise ``y = y +
   float32(out_noise) * z_o``; ``z_w`` and ``z_o`` are exact N(0, 1) samples.
6. ADC: the vector saturated if any ``|y| >= adc_range`` (noisy value, before
   clipping). With ``adc_bits = n > 0`` the output is
   ``clip(rint(y * g_out), -H, H) * d_out``, ``H = 2**(n-1) - 1``, ``d_out =
   float32(adc_range / H)``, ``g_out = float32(H / adc_range)`` (9 bits: 511
   levels, step ``2 * adc_range / 510``); with ``adc_bits = 0`` it is
   ``clip(y, -adc_range, adc_range)``.
7. Iterative bound management: if the vector saturated in any slice pass,
   ``beta`` doubles and its whole MVM (all slices) is repeated with a new
   noise draw, until nothing saturates or ``max_passes`` iterations have run
   (``max_passes = 1``: bound management off; the last iteration's clipped
   output is kept). ``passes[b] = iterations * input_slices`` analog passes.
8. Digital rescale: ``y = acc * scale``.

Randomness: one stream ``(seed, counter)`` of
:func:`archsim.kernels.gaussian.standard_normal`: the noise of analog pass
``q = iteration * S + s`` of row ``b`` is sample ``((q * B + b) * 2 + kind) *
C + c`` for output ``c`` of ``C`` (``kind = 0`` output noise, ``1`` weight
noise), so results are identical for any numba thread count and on either
path, up to float32 summation order of the analog product.

Speed: for large batches the DAC runs in a serial numba kernel, the product in
BLAS (sgemm), and one parallel numba pass adds the noise, detects saturation,
converts and rescales in place; only saturated vectors are redone.
Small batches run in one serial fused numba kernel (no BLAS or Python
overhead per pass; per-vector latency).
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import float32_from_bits, jit, pjit, prange
from .gaussian import _as_uint64, fill_normals_range, stream_key

__all__ = ["analog_mvm", "analog_mvm_transposed"]

_NM_CODES = {"abs_max": 0, "constant": 1, "none": 2}
_FUSED_MAX_BATCH = 8  # batches up to this size take the fused serial kernel
_ROW_CHUNK = 32  # rows per work unit of the parallel kernels
_MAX_BITS = 24  # converter resolution limit (levels exact in float32)
_MAX_PASSES = 64
_INF = math.inf
_INT64_LIMIT = 1 << 63  # seeds below this are their own int64 bit pattern
_ABS_MASK = np.int32(0x7FFFFFFF)


# --------------------------------------------------------------------------
# Row-range workers shared by the fused and the batched paths.
#
# The per-row work is written inside these loops rather than in helpers taking
# arrays: every array handed to a numba function costs an atomic
# reference-count update, and when two threads do that on the same arrays for
# every row they fight over one cache line (the kernel stopped scaling).
@jit
def _slice_geometry(dac_bits, dac_range, slices, s):
    """(shift, levels, step, coef) of input slice s (see module docstring)."""
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
                  need_norm, xs, xnorm):
    """Noise management (on the first pass) and DAC of rows[lo:hi]: the analog
    inputs go to xs[s, i, :] and their norms to xnorm[s, i]."""
    xbits = x.view(np.int32)
    n_in = x.shape[1]
    lim = np.float32(dac_range)
    hf = np.float32((1 << (dac_bits - 1)) - 1) if dac_bits > 0 else np.float32(1.0)
    d_in = np.float32(dac_range / hf)
    for i in range(lo, hi):
        b = rows[i]
        if p == 0:
            if mode == 0:
                # max |x| on the IEEE bit patterns: an integer max reduction,
                # which vectorises without fast-math and is exact.
                m = 0
                for r in range(n_in):
                    v = xbits[b, r] & _ABS_MASK
                    m = v if v > m else m
                alpha[b] = float32_from_bits(m)
            elif mode == 1:
                alpha[b] = np.float32(nm_constant)
            else:
                alpha[b] = np.float32(1.0)
        scale = alpha[b] * np.float32(2.0**p)
        if scale == 0.0:
            for s in range(slices):
                for r in range(n_in):
                    xs[s, i, r] = 0.0
                xnorm[s, i] = 0.0
            continue
        if dac_bits == 0:
            g = np.float32(1.0 / np.float64(scale))
            for r in range(n_in):
                xs[0, i, r] = min(max(x[b, r] * g, -lim), lim)
            if need_norm:
                acc = 0.0
                for r in range(n_in):
                    v = np.float64(xs[0, i, r])
                    acc += v * v
                xnorm[0, i] = np.sqrt(acc)
            continue
        g = np.float32(1.0 / (np.float64(scale) * np.float64(d_in)))
        if slices == 1:
            # k * d_in equals sign(k) * (|k| * step) of the general slice formula.
            for r in range(n_in):
                xs[0, i, r] = min(max(np.rint(x[b, r] * g), -hf), hf) * d_in
            if need_norm:
                ss = 0
                for r in range(n_in):
                    k = np.int64(min(max(np.rint(x[b, r] * g), -hf), hf))
                    ss += k * k
                xnorm[0, i] = np.sqrt(np.float64(ss)) * np.float64(d_in)
            continue
        for s in range(slices):
            shift, levels, step, coef = _slice_geometry(dac_bits, dac_range, slices, s)
            ss = 0
            for r in range(n_in):
                ki = np.int64(min(max(np.rint(x[b, r] * g), -hf), hf))
                digit = ((ki if ki >= 0 else -ki) >> shift) & levels
                v = np.float32(digit) * step
                xs[s, i, r] = -v if ki < 0 else v
                ss += digit * digit
            xnorm[s, i] = np.sqrt(np.float64(ss)) * np.float64(step)


@jit
def _finish_rows(ys, rows, lo, hi, p, alpha, dac_bits, dac_range, adc_bits, adc_range,
                 out_noise, w_noise, slices, key, xnorm, y, passes, sat,
                 acc, tbuf, zo, zw):
    """Noise, ADC, slice recombination and rescale of rows[lo:hi].

    Reads the analog products ys[s * n + i, :] (s = slice, n = len(rows)),
    writes y[rows[i], :], passes[rows[i]] and sat[i] (any output saturated in
    any slice). acc, tbuf, zo, zw (n_out each) are work arrays.
    """
    n = rows.shape[0]
    batch, n_out = y.shape
    bound = np.float32(adc_range)
    on = np.float32(out_noise)
    hq = np.float32((1 << (adc_bits - 1)) - 1) if adc_bits > 0 else np.float32(1.0)
    d_out = np.float32(adc_range / hq)
    g_out = np.float32(hq / adc_range)
    for i in range(lo, hi):
        b = rows[i]
        passes[b] = (p + 1) * slices
        scale = alpha[b] * np.float32(2.0**p)
        if scale == 0.0:
            for c in range(n_out):
                y[b, c] = 0.0
            sat[i] = False
            continue
        any_sat = False
        for s in range(slices):
            row = s * n + i
            q = p * slices + s
            if w_noise > 0.0:
                fill_normals_range(key, ((q * batch + b) * 2 + 1) * n_out, zw, 0, n_out)
            if out_noise > 0.0:
                fill_normals_range(key, ((q * batch + b) * 2) * n_out, zo, 0, n_out)
            sw = np.float32(w_noise * xnorm[s, i])
            if w_noise > 0.0 and out_noise > 0.0:
                for c in range(n_out):
                    tbuf[c] = (ys[row, c] + sw * zw[c]) + on * zo[c]
            elif out_noise > 0.0:
                for c in range(n_out):
                    tbuf[c] = ys[row, c] + on * zo[c]
            elif w_noise > 0.0:
                for c in range(n_out):
                    tbuf[c] = ys[row, c] + sw * zw[c]
            else:
                for c in range(n_out):
                    tbuf[c] = ys[row, c]
            coef = _slice_geometry(dac_bits, dac_range, slices, s)[3]
            if slices == 1:  # common case: convert and rescale straight into y
                if adc_bits > 0:
                    for c in range(n_out):
                        t = tbuf[c]
                        any_sat = any_sat | (abs(t) >= bound)
                        v = coef * (min(max(np.rint(t * g_out), -hq), hq) * d_out)
                        y[b, c] = v * scale
                else:
                    for c in range(n_out):
                        t = tbuf[c]
                        any_sat = any_sat | (abs(t) >= bound)
                        y[b, c] = (coef * min(max(t, -bound), bound)) * scale
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
                y[b, c] = acc[c] * scale
        sat[i] = any_sat


@jit
def _matvec(xs, s, i, w, trans, ys, yrow, lanes):
    """ys[yrow, :] = xs[s, i, :] @ w (w [n_in, n_out]) or, with trans,
    xs[s, i, :] @ w.T (w [n_out, n_in]); float32, fixed summation order.

    Forward: rows of w are accumulated in order, eight at a time (one load and
    store of the partial sums per eight rows). Transposed: each output is a
    dot product over 64 fixed lanes (``lanes``, 64 floats) folded pairwise,
    plus the sequential remainder, so it vectorises without reassociation.
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
                tail += w[r, c] * xs[s, i, c]
            ys[yrow, r] = lanes[0] + tail
        return
    for c in range(n_out):
        ys[yrow, c] = 0.0
    r = 0
    while r + 8 <= n_in:
        x0 = xs[s, i, r]
        x1 = xs[s, i, r + 1]
        x2 = xs[s, i, r + 2]
        x3 = xs[s, i, r + 3]
        x4 = xs[s, i, r + 4]
        x5 = xs[s, i, r + 5]
        x6 = xs[s, i, r + 6]
        x7 = xs[s, i, r + 7]
        for c in range(n_out):
            ys[yrow, c] = (((((((ys[yrow, c] + x0 * w[r, c]) + x1 * w[r + 1, c])
                            + x2 * w[r + 2, c]) + x3 * w[r + 3, c]) + x4 * w[r + 4, c])
                         + x5 * w[r + 5, c]) + x6 * w[r + 6, c]) + x7 * w[r + 7, c]
        r += 8
    while r < n_in:
        xr = xs[s, i, r]
        for c in range(n_out):
            ys[yrow, c] = ys[yrow, c] + xr * w[r, c]
        r += 1


@jit
def _work_buffers(n_out):
    """acc, tbuf, zo, zw for _finish_rows."""
    return (np.empty(n_out, dtype=np.float32), np.empty(n_out, dtype=np.float32),
            np.empty(n_out, dtype=np.float32), np.empty(n_out, dtype=np.float32))


# --------------------------------------------------------------------------
# Fused serial path (small batches): the same workers, one row at a time, with
# the analog product computed in numba (no BLAS or Python call per pass).
@jit
def _mvm_fused(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range,
               out_noise, w_noise, max_passes, slices, seed, counter, y, passes):
    batch, n_in = x.shape
    n_out = y.shape[1]
    key = stream_key(np.uint64(seed), np.uint64(counter))
    # One float32 workspace carved into views (allocations dominate the
    # overhead of a single small MVM).
    n_xs = slices * batch * n_in
    n_ys = slices * batch * n_out
    ws = np.empty(n_xs + n_ys + batch + 64 + 4 * n_out, dtype=np.float32)
    xs = ws[:n_xs].reshape((slices, batch, n_in))
    ys = ws[n_xs:n_xs + n_ys].reshape((slices * batch, n_out))
    o = n_xs + n_ys
    alpha = ws[o:o + batch]
    lanes = ws[o + batch:o + batch + 64]
    o += batch + 64
    acc = ws[o:o + n_out]
    tbuf = ws[o + n_out:o + 2 * n_out]
    zo = ws[o + 2 * n_out:o + 3 * n_out]
    zw = ws[o + 3 * n_out:o + 4 * n_out]
    xnorm = np.empty((slices, batch), dtype=np.float64)
    rows = np.arange(batch)
    sat = np.empty(batch, dtype=np.bool_)
    need_norm = w_noise > 0.0
    for b in range(batch):
        for p in range(max_passes):
            _prepare_rows(x, rows, b, b + 1, p, alpha, mode, nm_constant, dac_bits, dac_range,
                          slices, need_norm, xs, xnorm)
            if alpha[b] != 0.0:
                for s in range(slices):
                    _matvec(xs, s, b, w, trans, ys, s * batch + b, lanes)
            _finish_rows(ys, rows, b, b + 1, p, alpha, dac_bits, dac_range, adc_bits,
                         adc_range, out_noise, w_noise, slices, key, xnorm, y, passes, sat,
                         acc, tbuf, zo, zw)
            if not sat[b]:
                break


# --------------------------------------------------------------------------
# Batched path: serial DAC worker, BLAS GEMM, parallel output kernel. The DAC
# stays serial: it is cheap (~0.2 ms for 1024 x 512) and a parallel launch
# (two thread wake-ups in numba's workqueue) costs tens of microseconds, far
# more when the machine is loaded. The parallel kernel only splits fixed
# chunks of rows over the threads; each chunk runs the serial worker.
@pjit
def _finish_batch(ys, rows, p, alpha, dac_bits, dac_range, adc_bits, adc_range, out_noise,
                  w_noise, slices, seed, counter, xnorm, y, passes, sat):
    n = rows.shape[0]
    key = stream_key(np.uint64(seed), np.uint64(counter))
    nchunks = (n + _ROW_CHUNK - 1) // _ROW_CHUNK
    for ch in prange(nchunks):
        acc, tbuf, zo, zw = _work_buffers(y.shape[1])
        _finish_rows(ys, rows, ch * _ROW_CHUNK, min(n, (ch + 1) * _ROW_CHUNK), p, alpha,
                     dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise, slices,
                     key, xnorm, y, passes, sat, acc, tbuf, zo, zw)


def _mvm_batched(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range,
                 out_noise, w_noise, max_passes, slices, seed, counter):
    batch, n_in = x.shape
    wm = w.T if trans else w  # BLAS reads the transposed view without a copy
    n_out = wm.shape[1]
    alpha = np.empty(batch, dtype=np.float32)
    passes = np.empty(batch, dtype=np.int32)
    rows = np.arange(batch, dtype=np.int64)
    y = None
    for p in range(max_passes):
        n = rows.shape[0]
        xs = np.empty((slices, n, n_in), dtype=np.float32)
        xnorm = np.empty((slices, n), dtype=np.float64)
        _prepare_rows(x, rows, 0, n, p, alpha, mode, nm_constant, dac_bits, dac_range,
                      slices, w_noise > 0.0, xs, xnorm)
        ys = np.matmul(xs.reshape(slices * n, n_in), wm)
        if y is None:  # the first pass covers every row: finish it in place
            y = ys if slices == 1 else np.empty((batch, n_out), dtype=np.float32)
        sat = np.empty(n, dtype=np.bool_)
        _finish_batch(ys, rows, p, alpha, dac_bits, dac_range, adc_bits, adc_range,
                      out_noise, w_noise, slices, seed, counter, xnorm, y, passes, sat)
        if p + 1 == max_passes or not sat.any():
            break
        rows = rows[sat]
    return y, passes


# --------------------------------------------------------------------------
# Public API: validation (kept cheap, the batch-1 path is latency-bound).
_F32 = np.dtype(np.float32)


def _int_param(value, name, lo, hi):
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _float_param(value, name, positive):
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                             np.floating)):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        value = float(value)
    if not (value > 0.0 if positive else value >= 0.0) or not math.isfinite(value):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} and finite, "
                         f"got {value}")
    return value


def _bits_param(value, name):
    value = _int_param(value, name, 0, _MAX_BITS)
    if value == 1:
        raise ValueError(f"{name}=1 gives a single level (0); use 0 (ideal) or >= 2")
    return value


def _as_matrix(a, name):
    if type(a) is not np.ndarray:
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype is not _F32 and a.dtype != _F32:
        raise TypeError(f"{name} must be float32, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _normalise(x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
               noise_management, nm_constant, max_passes, input_slices, seed, counter):
    """Full validation: returns the arguments in canonical form or raises."""
    xname = "d" if trans else "x"
    x = _as_matrix(x, xname)
    w = _as_matrix(w, "w")
    if x.shape[1] != w.shape[1 if trans else 0]:
        op = "d @ w.T" if trans else "x @ w"
        raise ValueError(f"shape mismatch for {op}: {xname} {x.shape}, w {w.shape}")
    mode = _NM_CODES.get(noise_management) if type(noise_management) is str else None
    if mode is None:
        raise ValueError(f"noise_management must be one of {sorted(_NM_CODES)}, "
                         f"got {noise_management!r}")
    dac_bits = _bits_param(dac_bits, "dac_bits")
    adc_bits = _bits_param(adc_bits, "adc_bits")
    dac_range = _float_param(dac_range, "dac_range", True)
    adc_range = _float_param(adc_range, "adc_range", True)
    out_noise = _float_param(out_noise, "out_noise", False)
    w_noise = _float_param(w_noise, "w_noise", False)
    nm_constant = _float_param(nm_constant, "nm_constant", mode == 1)
    max_passes = _int_param(max_passes, "max_passes", 1, _MAX_PASSES)
    slices = _int_param(input_slices, "input_slices", 1, max(1, dac_bits - 1))
    if slices > 1 and dac_bits == 0:
        raise ValueError("input_slices > 1 needs a quantising DAC (dac_bits >= 2)")
    seed = _as_uint64(seed, "seed")
    counter = _as_uint64(counter, "counter")
    return (x, w, mode, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
            nm_constant, max_passes, slices, seed, counter)


def _run(x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
         noise_management, nm_constant, max_passes, input_slices, seed, counter):
    # Fast path for canonical arguments (exact Python types, float32
    # C-contiguous matrices): one expression instead of a call per parameter,
    # because the batch-1 MVM is latency-bound. Anything else goes through
    # _normalise, which converts or raises with a precise message.
    mode = _NM_CODES.get(noise_management) if type(noise_management) is str else None
    if not (type(x) is np.ndarray and type(w) is np.ndarray and x.dtype is _F32
            and w.dtype is _F32 and x.ndim == 2 and w.ndim == 2
            and x.shape[1] == w.shape[1 if trans else 0]
            and x.flags.c_contiguous and w.flags.c_contiguous and mode is not None
            and type(dac_bits) is int and (dac_bits == 0 or 2 <= dac_bits <= _MAX_BITS)
            and type(adc_bits) is int and (adc_bits == 0 or 2 <= adc_bits <= _MAX_BITS)
            and type(dac_range) is float and 0.0 < dac_range < _INF
            and type(adc_range) is float and 0.0 < adc_range < _INF
            and type(out_noise) is float and 0.0 <= out_noise < _INF
            and type(w_noise) is float and 0.0 <= w_noise < _INF
            and type(nm_constant) is float and 0.0 <= nm_constant < _INF
            and (mode != 1 or nm_constant > 0.0)
            and type(max_passes) is int and 1 <= max_passes <= _MAX_PASSES
            and type(input_slices) is int
            and (input_slices == 1 or 2 <= input_slices < dac_bits)
            and type(seed) is int and 0 <= seed < _INT64_LIMIT
            and type(counter) is int and 0 <= counter < _INT64_LIMIT):
        (x, w, mode, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
         nm_constant, max_passes, input_slices, seed, counter) = _normalise(
            x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
            noise_management, nm_constant, max_passes, input_slices, seed, counter)
    batch = x.shape[0]
    if batch > _FUSED_MAX_BATCH:
        return _mvm_batched(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits,
                            adc_range, out_noise, w_noise, max_passes, input_slices, seed,
                            counter)
    y = np.empty((batch, w.shape[0] if trans else w.shape[1]), dtype=np.float32)
    passes = np.empty(batch, dtype=np.int32)
    _mvm_fused(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range,
               out_noise, w_noise, max_passes, input_slices, seed, counter, y, passes)
    return y, passes


def analog_mvm(x, w, *, dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0,
               out_noise=0.06, w_noise=0.0, noise_management="abs_max", nm_constant=1.0,
               max_passes=6, input_slices=1, seed, counter):
    """Noisy analog ``x @ w`` of a batch through one crossbar tile.

    Parameters
    ----------
    x : float32[B, R]
        B input vectors (rows), finite.
    w : float32[R, C]
        Weights normalised to the conductance range (the caller maps them to
        [-1, 1]).
    dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
    noise_management ("abs_max" | "constant" | "none"), nm_constant,
    max_passes, input_slices
        Periphery, defaults are aihwkit's ``IOParameters`` (7-bit DAC over
        +-1, 9-bit ADC over +-12, output noise 0.06, abs-max noise management,
        iterative bound management up to 6 passes). Semantics are given
        exactly in the module docstring; ``dac_bits``/``adc_bits`` = 0 means
        an ideal (non-quantising, still clipping) converter.
        ``input_slices = S > 1`` applies the DAC code bit-serially: its
        ``dac_bits - 1`` magnitude bits are split LSB-first into ``S`` slices
        of (nearly) equal width, each driven at full DAC scale in its own
        analog pass (own noise, own ADC conversion), and the converted
        slice outputs are summed digitally with weights
        ``2**shift_s * (2**width_s - 1) / (2**(dac_bits-1) - 1)``; with ideal
        converters and no noise this reproduces the unsliced result.
        Bound management repeats all slices. ``passes`` counts every slice.
    seed, counter : int in [0, 2**64)
        Select the noise stream; the result depends only on the arguments.

    Returns
    -------
    y : float32[B, C]
    passes : int32[B]
        Analog passes each input vector needed (bound-management iterations
        times ``input_slices``).
    """
    return _run(x, w, False, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
                noise_management, nm_constant, max_passes, input_slices, seed, counter)


def analog_mvm_transposed(d, w, *, dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0,
                          out_noise=0.06, w_noise=0.0, noise_management="abs_max",
                          nm_constant=1.0, max_passes=6, input_slices=1, seed, counter):
    """Noisy analog ``d @ w.T`` (backward pass through the same tile).

    ``d`` is float32[B, C], ``w`` float32[R, C]; returns (float32[B, R],
    int32[B]). Same periphery and randomness as :func:`analog_mvm` (the
    result equals ``analog_mvm(d, w.T, ...)`` up to float32 summation order
    of the analog product).
    """
    return _run(d, w, True, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
                noise_management, nm_constant, max_passes, input_slices, seed, counter)
