"""Noisy analog matrix-vector multiplication (forward and transposed).

The periphery follows aihwkit's ``IOParameters`` (models.md section 5). All
arithmetic is float32 unless stated; ``rint`` rounds half to even. For every
input vector ``x`` (a row of the batch of ``B``):

1. Noise management: ``alpha = max|x|`` ("abs_max"; a vector of zeros gives an
   exactly zero output, without noise, in one iteration), ``alpha =
   nm_constant`` ("constant") or ``alpha = 1`` ("none"); an ``alpha`` so small
   that the DAC gain ``float32(1 / (alpha * d_in))`` (``1 / alpha`` for an
   ideal DAC) overflows, such as the max of a subnormal vector, counts as
   zero (the same zero output). Bound management
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
5. Noise: three independent zero-mean Gaussian sources, drawn as one exact
   Gaussian of their summed variance (a sum of independent Gaussians is
   Gaussian, so this is the same distribution for a third of the random
   numbers). Per output ``j`` and pass, in float32:

   a. optional per-device read noise (``read_sigma`` given): every device's
      conductance gets an independent N(0, sigma_ij**2) perturbation in every
      analog pass, so output ``j`` gets variance ``v_j = sum_i x''_i**2 *
      sigma_ij**2``, computed in float32 as ``v = (x''**2) @ (sigma**2)``
      (squares rounded to float32; BLAS on the batched path, the fused loop's
      order on small batches);
   b. optional output-referred weight noise (aihwkit's approximation) of
      standard deviation ``s_w = float32(w_noise * ||x''||_2)``, the norm
      computed in float64 from the integer codes, ``sqrt(sum digit_s**2) *
      step_s`` (sequential ``sqrt(sum x''**2)`` for an ideal DAC);
   c. output noise of standard deviation ``s_o = float32(out_noise)``.

   With ``s2 = s_w * s_w + s_o * s_o``: ``y = y + sqrt(v_j + s2) * z`` with
   read noise, else ``y = y + sqrt(s2) * z`` when ``s2 > 0`` (``z`` one
   exact N(0, 1) sample per output and pass); no noise at all leaves ``y``.
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
9. Optional column scale (``out_scale``, float64 per output, e.g. the weight
   scale times drift compensation of the tile that owns the columns): ``y =
   float32(float64(y + 0) * out_scale)``, rounded once (``+ 0`` turns -0.0
   into +0.0, as a sum from zero does).

Randomness: one stream ``(seed, counter)`` of
:func:`archsim.kernels.gaussian.standard_normal`. With ``Q = max_passes * S``
analog passes at most per row, the noise ``z`` of pass ``q = iteration * S +
s`` of row ``b`` (of ``B``), output ``c`` (of ``C``) is sample
``(q * B + b) * C + c``,

so results are identical for any numba thread count and on either path, up
to float32 summation order of the analog products.

Speed: for large batches the DAC runs in a serial numba kernel, the product
(and the read-noise variance, a second sgemm with ``sigma**2`` computed once per
call) in BLAS, and one numba pass (parallel for large outputs) adds the noise,
detects saturation, converts and rescales in place; only saturated vectors are
redone.
Small batches run in one serial fused numba kernel (no BLAS or Python
overhead per pass; per-vector latency). :func:`analog_mvm_runs` takes input rows
as runs of a flat array (im2col patches of a feature map) and gathers them a
few at a time for the DAC, so the patch matrix is never written out (ResNet-32
and RAPA ConvNet evaluations took 0.90 and 0.85 of the time of gathering it
first, one thread, 512-bit vectors, measured interleaved in one process).
"""

from __future__ import annotations

import numpy as np

from ._args import (F32, F64, I32, INT64_LIMIT, NM_CODES, SMALL_INT_LIMIT, _as_matrix, normalise,
                    params_ok, sigma_error)
from ._mvm_rows import (_finish_rows, _matvec, _prepare_rows, _prepare_runs, _sigma_ok,
                        _square_sigma, _work_buffers)
from ._numba import jit, pjit, prange
from .gather import check_runs, gather_runs
from .gaussian import stream_key

__all__ = ["analog_mvm", "analog_mvm_runs", "analog_mvm_transposed"]

_FUSED_MAX_BATCH = 8  # batches up to this size take the fused serial kernel
_ROW_CHUNK = 32  # rows per work unit of the parallel kernels
_BAD_PARAMS = 1  # status codes of the fused kernel
_BAD_SIGMA = 2


# --------------------------------------------------------------------------
# Fused serial path (small batches): the row workers, one row at a time, with
# the analog products computed in numba (no BLAS or Python call per pass).
@jit
def _mvm_fused(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range,
               out_noise, w_noise, read_sigma, max_passes, slices, seed, counter, y, out_scale,
               passes):
    """Writes y and passes and returns 0, or returns a status without writing:
    _BAD_PARAMS (a value out of range, see params_ok) or _BAD_SIGMA
    (read_sigma holds a negative or non-finite value).

    ``read_sigma`` (``out_scale``) None compiles a specialisation without the
    read-noise (column-scale) code (numba prunes the ``is not None`` branches):
    no dummy array or flag to pass on the latency-bound path."""
    if not params_ok(mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range, out_noise,
                     w_noise, max_passes, slices):
        return _BAD_PARAMS
    read = read_sigma is not None
    if read_sigma is not None:  # tests on the argument itself, so that numba prunes them
        if not _sigma_ok(read_sigma):
            return _BAD_SIGMA
    batch, n_in = x.shape
    n_out = y.shape[1]
    key = stream_key(np.uint64(seed), np.uint64(counter))
    # One float32 workspace carved into views (allocations dominate the
    # overhead of a single small MVM).
    n_xs = slices * batch * n_in
    n_ys = slices * batch * n_out
    k = 2 if read else 1
    ws = np.empty(k * (n_xs + n_ys) + batch + 64 + (2 + slices) * n_out, dtype=np.float32)
    xs = ws[:n_xs].reshape((slices, batch, n_in))
    ys = ws[n_xs:n_xs + n_ys].reshape((slices * batch, n_out))
    o = n_xs + n_ys
    xsq = xs
    vs = ys
    if read:
        xsq = ws[o:o + n_xs].reshape((slices, batch, n_in))
        vs = ws[o + n_xs:o + n_xs + n_ys].reshape((slices * batch, n_out))
        o += n_xs + n_ys
    alpha = ws[o:o + batch]
    lanes = ws[o + batch:o + batch + 64]
    o += batch + 64
    acc = ws[o:o + n_out]
    tbuf = ws[o + n_out:o + 2 * n_out]
    z = ws[o + 2 * n_out:o + (2 + slices) * n_out]
    xnorm = np.empty((slices, batch), dtype=np.float64)
    rows = np.arange(batch)
    sat = np.empty(batch, dtype=np.bool_)
    need_norm = w_noise > 0.0
    for b in range(batch):
        for p in range(max_passes):
            _prepare_rows(x, rows, b, b + 1, p, alpha, mode, nm_constant, dac_bits, dac_range,
                          slices, need_norm, xs, xnorm, read, xsq, -1)
            if alpha[b] != 0.0:
                for s in range(slices):
                    _matvec(xs, s, b, w, trans, False, ys, s * batch + b, lanes)
                    if read_sigma is not None:
                        _matvec(xsq, s, b, read_sigma, trans, True, vs, s * batch + b, lanes)
            _finish_rows(ys, vs, rows, b, b + 1, p, alpha, dac_bits, dac_range, adc_bits,
                         adc_range, out_noise, w_noise, read, slices, key, xnorm, y,
                         out_scale, passes, sat, acc, tbuf, z)
            if not sat[b]:
                break
    return 0


# --------------------------------------------------------------------------
# Batched path: serial DAC worker, BLAS GEMM(s), output kernel. The DAC stays
# serial: it is cheap (~0.2 ms for 1024 x 512) and a parallel launch (two
# thread wake-ups in numba's workqueue) costs tens of microseconds, far more
# when the machine is loaded. The output kernel goes parallel only for large
# outputs: right after a GEMM, OpenBLAS's idle threads spin for a while, and a
# parallel numba region then fights them for the cores (a 1274 x 32 MVM took
# 8 ms instead of 0.25). Both versions run the serial worker over the same fixed
# chunks of rows (the same results). Measured on the 2-core machine (whole MVMs,
# 256 x 512 tile): with one BLAS thread (the worker processes) the parallel pass
# gains 5-14 % from 2**20 outputs on, nothing at 2**19; with two BLAS threads
# it gains nothing up to 2**23 either way.
_PARALLEL_FINISH_MIN = 1 << 19  # outputs (rows x columns) from which the output kernel is parallel


@pjit
def _finish_batch(ys, vs, rows, p, alpha, dac_bits, dac_range, adc_bits, adc_range, out_noise,
                  w_noise, read, slices, seed, counter, xnorm, y, out_scale, passes, sat):
    n = rows.shape[0]
    key = stream_key(np.uint64(seed), np.uint64(counter))
    nchunks = (n + _ROW_CHUNK - 1) // _ROW_CHUNK
    for ch in prange(nchunks):
        acc, tbuf, z = _work_buffers(y.shape[1], _ROW_CHUNK, slices)
        _finish_rows(ys, vs, rows, ch * _ROW_CHUNK, min(n, (ch + 1) * _ROW_CHUNK), p, alpha,
                     dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise, read,
                     slices, key, xnorm, y, out_scale, passes, sat, acc, tbuf, z)


@jit
def _finish_serial(ys, vs, rows, p, alpha, dac_bits, dac_range, adc_bits, adc_range, out_noise,
                   w_noise, read, slices, seed, counter, xnorm, y, out_scale, passes, sat):
    n = rows.shape[0]
    key = stream_key(np.uint64(seed), np.uint64(counter))
    acc, tbuf, z = _work_buffers(y.shape[1], _ROW_CHUNK, slices)
    for lo in range(0, n, _ROW_CHUNK):
        _finish_rows(ys, vs, rows, lo, min(n, lo + _ROW_CHUNK), p, alpha, dac_bits, dac_range,
                     adc_bits, adc_range, out_noise, w_noise, read, slices, key, xnorm, y,
                     out_scale, passes, sat, acc, tbuf, z)


def _mvm_batched(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range,
                 out_noise, w_noise, read_sigma, max_passes, slices, seed, counter, out_scale,
                 runs=None):
    """x (B, R), or with `runs` = (src, starts, run, count, step, first, bias) (x None) the
    rows `_prepare_runs` gathers."""
    batch, n_in = (x.shape if runs is None else (runs[1].shape[0], w.shape[1 if trans else 0]))
    wm = w.T if trans else w  # BLAS reads the transposed view without a copy
    n_out = wm.shape[1]
    read = read_sigma is not None
    if read:  # sigma**2 once per call (and the value check, in the same pass)
        sig2 = np.empty_like(read_sigma)
        if not _square_sigma(read_sigma, sig2):
            raise sigma_error(read_sigma)
        sm = sig2.T if trans else sig2
    alpha = np.empty(batch, dtype=np.float32)
    passes = np.empty(batch, dtype=np.int32)
    rows = np.arange(batch, dtype=np.int64)
    y = None
    for p in range(max_passes):
        n = rows.shape[0]
        xs = np.empty((slices, n, n_in), dtype=np.float32)
        xsq = np.empty_like(xs) if read else xs
        xnorm = np.empty((slices, n), dtype=np.float64)
        if runs is None:
            _prepare_rows(x, rows, 0, n, p, alpha, mode, nm_constant, dac_bits, dac_range,
                          slices, w_noise > 0.0, xs, xnorm, read, xsq, -1)
        else:
            _prepare_runs(*runs, rows, n, p, alpha, mode, nm_constant, dac_bits, dac_range,
                          slices, w_noise > 0.0, xs, xnorm, read, xsq)
        ys = np.matmul(xs.reshape(slices * n, n_in), wm)
        vs = np.matmul(xsq.reshape(slices * n, n_in), sm) if read else ys
        if y is None:  # the first pass covers every row: finish it in place
            y = ys if slices == 1 else np.empty((batch, n_out), dtype=np.float32)
        sat = np.empty(n, dtype=np.bool_)
        finish = _finish_batch if n * n_out >= _PARALLEL_FINISH_MIN else _finish_serial
        finish(ys, vs, rows, p, alpha, dac_bits, dac_range, adc_bits, adc_range, out_noise,
               w_noise, read, slices, seed, counter, xnorm, y, out_scale, passes, sat)
        if p + 1 == max_passes or not sat.any():
            break
        rows = rows[sat]
    return y, passes


# --------------------------------------------------------------------------
# Public API. A batch-1 MVM is latency-bound: arguments of canonical types
# (exact Python int / float / str, float32 C-contiguous matrices) are checked
# in one expression here and their values by the kernels (params_ok);
# anything else goes through normalise, which converts it or raises with a
# precise message (see _args).
def _run(x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
         noise_management, nm_constant, max_passes, input_slices, read_sigma, seed, counter,
         out_scale):
    mode = NM_CODES.get(noise_management) if type(noise_management) is str else None
    if not (type(x) is np.ndarray and type(w) is np.ndarray and x.dtype is F32
            and w.dtype is F32 and x.ndim == 2 and w.ndim == 2
            and x.shape[1] == w.shape[1 if trans else 0]
            and x.flags.c_contiguous and w.flags.c_contiguous and mode is not None
            and type(dac_bits) is int and type(adc_bits) is int
            and type(max_passes) is int and type(input_slices) is int
            # all four small and >= 0 (numba types them as int64; ranges: params_ok)
            and 0 <= dac_bits | adc_bits | max_passes | input_slices < SMALL_INT_LIMIT
            and type(dac_range) is float and type(adc_range) is float
            and type(out_noise) is float and type(w_noise) is float
            and type(nm_constant) is float
            and type(seed) is int and 0 <= seed < INT64_LIMIT
            and type(counter) is int and 0 <= counter < INT64_LIMIT
            and (read_sigma is None or (type(read_sigma) is np.ndarray
                                        and read_sigma.dtype is F32
                                        and read_sigma.shape == w.shape
                                        and read_sigma.flags.c_contiguous))
            and (out_scale is None or (type(out_scale) is np.ndarray and out_scale.dtype is F64
                                       and out_scale.shape == (w.shape[0 if trans else 1],)
                                       and out_scale.flags.c_contiguous))):
        (x, w, mode, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
         nm_constant, max_passes, input_slices, read_sigma, seed, counter, out_scale) = normalise(
            x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
            noise_management, nm_constant, max_passes, input_slices, read_sigma, seed, counter,
            out_scale)
    batch = x.shape[0]
    if batch <= _FUSED_MAX_BATCH:
        y = np.empty((batch, w.shape[0] if trans else w.shape[1]), F32)
        passes = np.empty(batch, I32)
        status = _mvm_fused(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits,
                            adc_range, out_noise, w_noise, read_sigma, max_passes,
                            input_slices, seed, counter, y, out_scale, passes)
        if not status:
            return y, passes
        if status == _BAD_SIGMA:
            raise sigma_error(read_sigma)
    elif params_ok(mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range, out_noise,
                   w_noise, max_passes, input_slices):
        return _mvm_batched(x, w, trans, mode, nm_constant, dac_bits, dac_range, adc_bits,
                            adc_range, out_noise, w_noise, read_sigma, max_passes,
                            input_slices, seed, counter, out_scale)
    # a value out of range: normalise raises the precise error
    normalise(x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
              noise_management, nm_constant, max_passes, input_slices, read_sigma, seed, counter,
              out_scale)
    raise AssertionError("params_ok rejected arguments that normalise accepts")


def analog_mvm(x, w, *, dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0,
               out_noise=0.06, w_noise=0.0, noise_management="abs_max", nm_constant=1.0,
               max_passes=6, input_slices=1, read_sigma=None, out_scale=None, seed, counter):
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
    read_sigma : float32[R, C] or None
        Per-device read-noise sigma in the normalised units of ``w`` (finite,
        >= 0), drawn anew in every analog pass: each pass adds exactly
        Gaussian output noise of variance ``(x''**2) @ (read_sigma**2)``
        before the output noise and the ADC. None (default): off.
    out_scale : float64[C] or None
        Per-output digital scale applied last (step 9 of the module
        docstring), in float64 and rounded once. None (default): off.
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
                noise_management, nm_constant, max_passes, input_slices, read_sigma, seed,
                counter, out_scale)


def analog_mvm_transposed(d, w, *, dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0,
                          out_noise=0.06, w_noise=0.0, noise_management="abs_max",
                          nm_constant=1.0, max_passes=6, input_slices=1, read_sigma=None,
                          out_scale=None, seed, counter):
    """Noisy analog ``d @ w.T`` (backward pass through the same tile).

    ``d`` is float32[B, C], ``w`` and ``read_sigma`` float32[R, C] (the sigma
    of device ``w[r, c]`` is ``read_sigma[r, c]``: output ``r`` gets read-noise
    variance ``(d''**2) @ (read_sigma**2).T``), ``out_scale`` float64[R];
    returns (float32[B, R], int32[B]). Same periphery and randomness as :func:`analog_mvm` (the
    result equals ``analog_mvm(d, w.T, read_sigma=read_sigma.T, ...)`` up to
    float32 summation order of the analog products).
    """
    return _run(d, w, True, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
                noise_management, nm_constant, max_passes, input_slices, read_sigma, seed,
                counter, out_scale)


def analog_mvm_runs(src, starts, run, count, step, w, *, first=0, bias=False, dac_bits=7,
                    dac_range=1.0, adc_bits=9, adc_range=12.0, out_noise=0.06, w_noise=0.0,
                    noise_management="abs_max", nm_constant=1.0, max_passes=6, input_slices=1,
                    read_sigma=None, out_scale=None, seed, counter):
    """:func:`analog_mvm` of input rows gathered from runs of a flat float32 array, without
    materialising them: the same result as ``analog_mvm(x, w, ...)`` with ::

        x = gather_runs(src, starts, run, count, step, first=first, width=R - bias, bias=bias)

    (R = w.shape[0]: an im2col patch of a padded NHWC map is `kernel` runs of kernel * C
    values; a tile's row block is a window of it, and the block holding the bias row drives
    a constant 1). Large batches gather a few rows at a time for the DAC, which reads them
    from cache.
    """
    w = _as_matrix(w, "w")
    starts, rest = check_runs(src, starts, run, count, step, first, None, dtypes=(F32,))
    width = w.shape[0] - (1 if bias else 0)
    if not 0 <= width <= rest:
        raise ValueError(f"the window [{first}, {first + width}) of w's {w.shape[0]} rows"
                         f"{' (one the bias)' if bias else ''} lies outside a gathered row of "
                         f"{run * count} values")
    if len(starts) <= _FUSED_MAX_BATCH:  # latency-bound: gather, then the fused kernel
        x = gather_runs(src, starts, run, count, step, first=first, width=width, bias=bias)
        return analog_mvm(x, w, dac_bits=dac_bits, dac_range=dac_range, adc_bits=adc_bits,
                          adc_range=adc_range, out_noise=out_noise, w_noise=w_noise,
                          noise_management=noise_management, nm_constant=nm_constant,
                          max_passes=max_passes, input_slices=input_slices,
                          read_sigma=read_sigma, out_scale=out_scale, seed=seed, counter=counter)
    probe = np.zeros((1, w.shape[0]), F32)  # the periphery and arrays, checked as analog_mvm does
    (_, w, mode, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise, nm_constant,
     max_passes, input_slices, read_sigma, seed, counter, out_scale) = normalise(
        probe, w, False, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
        noise_management, nm_constant, max_passes, input_slices, read_sigma, seed, counter,
        out_scale)
    runs = (src, starts, int(run), int(count), int(step), int(first), bool(bias))
    return _mvm_batched(None, w, False, mode, nm_constant, dac_bits, dac_range, adc_bits,
                        adc_range, out_noise, w_noise, read_sigma, max_passes, input_slices,
                        seed, counter, out_scale, runs)
