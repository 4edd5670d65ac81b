"""Gathering a tile's input vectors: rows made of equally spaced runs of a flat array.

An im2col patch of a padded NHWC feature map is `kernel` runs of kernel * C contiguous
values (kernel row ki: columns kj, channels c), one image row (W * C values) apart. The
rows a replica computes are copied straight into the matrix its tile reads, in the order
given (replica-sorted), with no im2col copy first. A plain numba loop over the runs
vectorises; numpy's fancy indexing of a strided view does the same copy 1.5 to 5.6x more
slowly (measured on ResNet-32 and RAPA layers: long runs gain least).
"""

from __future__ import annotations

import numpy as np

from ._numba import jit

__all__ = ["gather_runs"]


@jit
def _gather(src, starts, run, count, step, out):
    # uintp offsets: LLVM can prove them non-negative, so the inner copy vectorises
    # instead of becoming a gather (numba wraps negative indices)
    for i in range(starts.shape[0]):
        base = np.uintp(starts[i])
        for k in range(count):
            o = np.uintp(k * run)
            s = base + np.uintp(k * step)
            for j in range(run):
                out[i, o + np.uintp(j)] = src[s + np.uintp(j)]


def gather_runs(src: np.ndarray, starts: np.ndarray, run: int, count: int, step: int,
                out: np.ndarray | None = None) -> np.ndarray:
    """Rows of `count` runs of `run` values of the flat array `src`, the runs `step` apart.

    ``out[i] = concatenate([src[starts[i] + k * step : starts[i] + k * step + run]
    for k in range(count)])``, shape (len(starts), count * run), written into `out` when
    given (C-contiguous, src's dtype, that shape) and returned.

    src: 1-D C-contiguous float32 or float64; starts: 1-D integers, every run within src.
    """
    if not (isinstance(src, np.ndarray) and src.ndim == 1 and src.flags.c_contiguous
            and src.dtype in (np.float32, np.float64)):
        raise TypeError("src must be a 1-D C-contiguous float32 or float64 array")
    starts = np.ascontiguousarray(starts)
    if starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise TypeError("starts must be a 1-D integer array")
    for name, value, lo in (("run", run, 1), ("count", count, 1), ("step", step, 0)):
        if not isinstance(value, (int, np.integer)) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, not {value!r}")
    shape = (len(starts), count * run)
    if out is None:
        out = np.empty(shape, dtype=src.dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == src.dtype
              and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {src.dtype} array of shape {shape}")
    if len(starts) == 0:
        return out
    if starts.min() < 0 or int(starts.max()) + (count - 1) * step + run > src.size:
        raise ValueError(f"runs outside src (size {src.size}): starts in [{starts.min()}, {starts.max()}], "
                         f"{count} runs of {run}, {step} apart")
    _gather(src, starts.astype(np.int64, copy=False), int(run), int(count), int(step), out)
    return out
