"""Slow, obviously correct numpy twins of the numba kernels in archsim.kernels.

They are the kernels' test references and the `numpy` backend of a run
(`run.backend: numpy`): the same results, one vector at a time.

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

F32 = np.float32


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


def dac(xb, scale, dac_bits, dac_range, slices):
    """Analog inputs (one per slice) and their L2 norms for one vector."""
    if dac_bits == 0:
        g = F32(1.0 / float(scale))
        xq = np.clip(xb * g, F32(-dac_range), F32(dac_range))
        norm = float(np.sqrt(np.cumsum(xq.astype(np.float64) ** 2)[-1])) if xq.size else 0.0
        return [xq], [norm]
    h = 2 ** (dac_bits - 1) - 1
    d_in = F32(dac_range / h)
    g = F32(1.0 / (float(scale) * float(d_in)))
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
                    read_sigma=None):
    """Twin of ``analog_mvm`` (for the transposed kernel pass ``w.T`` and
    ``read_sigma.T``)."""
    x = np.asarray(x, dtype=F32)
    w = np.asarray(w, dtype=F32)
    batch, n_out = x.shape[0], w.shape[1]
    slices = input_slices
    n_pass = max_passes * slices  # Q: most analog passes of one row
    n_z = n_pass * batch * 2 * n_out  # output and weight noise, then read noise
    z_all = standard_normal(seed, counter, n_z + (0 if read_sigma is None else n_z // 2))
    z = z_all[:n_z].reshape(n_pass, batch, 2, n_out)
    if read_sigma is not None:
        z_read = z_all[n_z:].reshape(n_pass, batch, n_out)
        sigma2 = np.asarray(read_sigma, dtype=F32) ** 2  # float32 squares
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
                if read_sigma is not None:  # exact per-pass Gaussian of the device reads
                    var = (inputs[s] * inputs[s]) @ sigma2
                    t = t + np.sqrt(var) * z_read[q, b]
                if w_noise > 0:
                    t = t + F32(w_noise * norms[s]) * z[q, b, 1]
                if out_noise > 0:
                    t = t + F32(out_noise) * z[q, b, 0]
                saturated |= bool(np.any(np.abs(t) >= F32(adc_range)))
                v = slice_geometry(dac_bits, dac_range, slices, s)[3] * adc(t, adc_bits, adc_range)
                acc = v if s == 0 else acc + v
            y[b] = acc * scale
            passes[b] = (p + 1) * slices
            if not saturated:
                break
    return y, passes
