"""Argument validation of the noisy analog MVM (:mod:`archsim.kernels.mvm`).

Two levels, so that a batch-1 MVM (latency-bound) pays little for its checks:

* the public functions check the *types* inline (exact Python ``int`` /
  ``float`` / ``str``, float32 C-contiguous 2-D arrays of matching shapes) and
  the kernels check the *values* with the compiled `params_ok` (and the
  read-noise sigmas with a vectorised scan);
* anything that fails either goes through `normalise`, the full,
  slow-but-precise check: it converts what can be converted (numpy integers
  and floats, non-contiguous arrays, large seeds) and raises a TypeError or
  ValueError naming the argument otherwise. All messages come from here.

`params_ok` is compiled into the kernels of ``mvm.py``: numba's on-disk cache
does not notice edits here in those kernels (delete
``archsim/kernels/__pycache__/*.nbi`` and ``*.nbc`` after editing it).
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import jit
from .gaussian import _as_uint64

NM_CODES = {"abs_max": 0, "constant": 1, "none": 2}
MAX_BITS = 24  # converter resolution limit (levels exact in float32)
MAX_PASSES = 64
INT64_LIMIT = 1 << 63  # seeds below this are their own int64 bit pattern
SMALL_INT_LIMIT = 128  # above every valid bits / passes / slices value
F32 = np.dtype(np.float32)
I32 = np.dtype(np.int32)
F64 = np.dtype(np.float64)
_INF = math.inf


@jit
def params_ok(mode, nm_constant, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
              max_passes, slices):
    """The value checks of `normalise`, compiled (arguments of canonical types)."""
    return ((dac_bits == 0 or 2 <= dac_bits <= MAX_BITS)
            and (adc_bits == 0 or 2 <= adc_bits <= MAX_BITS)
            and 0.0 < dac_range < _INF and 0.0 < adc_range < _INF
            and 0.0 <= out_noise < _INF and 0.0 <= w_noise < _INF
            and 0.0 <= nm_constant < _INF and (mode != 1 or nm_constant > 0.0)
            and 1 <= max_passes <= MAX_PASSES
            and (slices == 1 or 2 <= slices < dac_bits))


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
    value = _int_param(value, name, 0, MAX_BITS)
    if value == 1:
        raise ValueError(f"{name}=1 gives a single level (0); use 0 (ideal) or >= 2")
    return value


def _as_matrix(a, name):
    if type(a) is not np.ndarray:
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype is not F32 and a.dtype != F32:
        raise TypeError(f"{name} must be float32, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def normalise(x, w, trans, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
              noise_management, nm_constant, max_passes, input_slices, read_sigma, seed,
              counter, out_scale=None):
    """Full validation: returns the arguments in canonical form (with the noise
    management mode as its integer code) or raises.

    The values in ``read_sigma`` are checked by the kernels (a vectorised scan,
    fused with squaring on the batched path); see `sigma_error`.
    """
    xname = "d" if trans else "x"
    x = _as_matrix(x, xname)
    w = _as_matrix(w, "w")
    if x.shape[1] != w.shape[1 if trans else 0]:
        op = "d @ w.T" if trans else "x @ w"
        raise ValueError(f"shape mismatch for {op}: {xname} {x.shape}, w {w.shape}")
    if read_sigma is not None:
        read_sigma = _as_matrix(read_sigma, "read_sigma")
        if read_sigma.shape != w.shape:
            raise ValueError(f"read_sigma must have the shape of w {w.shape} (one sigma per "
                             f"device), got {read_sigma.shape}")
    if out_scale is not None:
        n_out = w.shape[0 if trans else 1]
        if type(out_scale) is not np.ndarray or out_scale.dtype.kind not in "fiu":
            raise TypeError(f"out_scale must be a numpy array of {n_out} real numbers, got "
                            f"{type(out_scale).__name__}")
        if out_scale.shape != (n_out,):
            raise ValueError(f"out_scale must have one value per output ({n_out},), got "
                             f"{out_scale.shape}")
        out_scale = np.ascontiguousarray(out_scale, dtype=F64)  # (values unchecked, as w's)
    mode = NM_CODES.get(noise_management) if type(noise_management) is str else None
    if mode is None:
        raise ValueError(f"noise_management must be one of {sorted(NM_CODES)}, "
                         f"got {noise_management!r}")
    dac_bits = _bits_param(dac_bits, "dac_bits")
    adc_bits = _bits_param(adc_bits, "adc_bits")
    dac_range = _float_param(dac_range, "dac_range", True)
    adc_range = _float_param(adc_range, "adc_range", True)
    out_noise = _float_param(out_noise, "out_noise", False)
    w_noise = _float_param(w_noise, "w_noise", False)
    nm_constant = _float_param(nm_constant, "nm_constant", mode == 1)
    max_passes = _int_param(max_passes, "max_passes", 1, MAX_PASSES)
    slices = _int_param(input_slices, "input_slices", 1, max(1, dac_bits - 1))
    if slices > 1 and dac_bits == 0:
        raise ValueError("input_slices > 1 needs a quantising DAC (dac_bits >= 2)")
    seed = _as_uint64(seed, "seed")
    counter = _as_uint64(counter, "counter")
    return (x, w, mode, dac_bits, dac_range, adc_bits, adc_range, out_noise, w_noise,
            nm_constant, max_passes, slices, read_sigma, seed, counter, out_scale)


def sigma_error(read_sigma):
    """The ValueError for a read_sigma that failed the kernel's value check."""
    bad = ~((read_sigma >= 0) & np.isfinite(read_sigma))
    r, c = np.argwhere(bad)[0]
    return ValueError(f"read_sigma must be finite and >= 0 everywhere; {int(bad.sum())} "
                      f"entries are not, e.g. read_sigma[{r}, {c}] = {read_sigma[r, c]}")
