"""Gathering a tile's input vectors: rows made of equally spaced runs of a flat array.

An im2col patch of a padded NHWC feature map is `kernel` runs of kernel * C contiguous
values (kernel row ki: columns kj, channels c), one image row (W * C values) apart. A
tile's row block reads a window of those values, and the block holding the bias row a
constant 1 after them. The rows a replica computes are copied straight into the matrix
its tile reads, in the order given (replica-sorted), with no im2col copy first. A plain
numba loop over the runs vectorises; numpy's fancy indexing of a strided view does the
same copy 1.5 to 5.6x more slowly (measured on ResNet-32 and RAPA layers: long runs gain
least). The MVM kernel gathers rows with the same loop (`gather_rows`), a few at a time.
"""

from __future__ import annotations

import numpy as np

from ._args import _int_param
from ._numba import jit

__all__ = ["gather_runs"]

_INDEX_LIMIT = 1 << 62


@jit
def gather_rows(src, starts, rows, lo, hi, run, count, step, first, width, bias, out, shift):
    """For i in [lo, hi): out[i - shift, :width] = the window [first, first + width) of the
    `count` runs of `run` values of src, `step` apart, from starts[rows[i]] (starts[i] when
    rows is None); then out[i - shift, width] = 1 if `bias`. (One call per block of rows:
    a call per row costs more than a short row's copy.)"""
    whole = first == 0 and width == run * count
    for i in range(lo, hi):
        if rows is None:
            start = starts[i]
        else:
            start = starts[rows[i]]
        j = i - shift
        # uintp offsets: LLVM can prove them non-negative, so the copies vectorise instead
        # of becoming gathers (numba wraps negative indices)
        if whole:  # whole runs (the common case: no clipping per run)
            for k in range(count):
                s0 = np.uintp(start + k * step)
                o0 = np.uintp(k * run)
                for t in range(run):
                    out[j, o0 + np.uintp(t)] = src[s0 + np.uintp(t)]
        else:
            for k in range(count):  # the part of run k inside the window
                c0 = max(first, k * run)
                c1 = min(first + width, (k + 1) * run)
                if c0 < c1:
                    s0 = np.uintp(start + k * step + (c0 - k * run))
                    o0 = np.uintp(c0 - first)
                    for t in range(c1 - c0):
                        out[j, o0 + np.uintp(t)] = src[s0 + np.uintp(t)]
        if bias:
            out[j, width] = 1.0


def check_runs(src: np.ndarray, starts, run: int, count: int, step: int, first: int, width: int | None,
               dtypes=(np.float32, np.float64)) -> tuple[np.ndarray, int]:
    """The checks of `gather_runs`' arguments (shared with `analog_mvm_runs`): returns the
    starts as int64 and the window's width (None: to the end of the runs)."""
    if not (isinstance(src, np.ndarray) and src.ndim == 1 and src.flags.c_contiguous and src.dtype in dtypes):
        names = " or ".join(np.dtype(d).name for d in dtypes)
        raise TypeError(f"src must be a 1-D C-contiguous {names} array")
    starts = np.ascontiguousarray(starts)
    if starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise TypeError("starts must be a 1-D integer array")
    run = _int_param(run, "run", 1, _INDEX_LIMIT)
    count = _int_param(count, "count", 1, _INDEX_LIMIT)
    step = _int_param(step, "step", 0, _INDEX_LIMIT)
    first = _int_param(first, "first", 0, run * count)
    width = run * count - first if width is None else _int_param(width, "width", 0, run * count - first)
    if len(starts) and (starts.min() < 0 or int(starts.max()) + (count - 1) * step + run > src.size):
        raise ValueError(f"runs outside src (size {src.size}): starts in [{starts.min()}, {starts.max()}], "
                         f"{count} runs of {run}, {step} apart")
    return starts.astype(np.int64, copy=False), width


def gather_runs(src: np.ndarray, starts: np.ndarray, run: int, count: int, step: int,
                out: np.ndarray | None = None, *, first: int = 0, width: int | None = None,
                bias: bool = False) -> np.ndarray:
    """Rows of `count` runs of `run` values of the flat array `src`, the runs `step` apart.

    ``row[i] = concatenate([src[starts[i] + k * step : starts[i] + k * step + run]
    for k in range(count)])[first:first + width]``, followed by a 1 when `bias`; shape
    (len(starts), width + bias) (width: default to the end of the row), written into `out`
    when given (C-contiguous, src's dtype, that shape) and returned.

    src: 1-D C-contiguous float32 or float64; starts: 1-D integers, every run within src.
    """
    starts, width = check_runs(src, starts, run, count, step, first, width)
    shape = (len(starts), width + (1 if bias else 0))
    if out is None:
        out = np.empty(shape, dtype=src.dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == src.dtype
              and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {src.dtype} array of shape {shape}")
    if len(starts):
        gather_rows(src, starts, None, 0, len(starts), int(run), int(count), int(step), int(first), int(width),
                    bool(bias), out, 0)
    return out
