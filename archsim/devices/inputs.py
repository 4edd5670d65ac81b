"""The input vectors a layer drives into its tiles, gathered from its input feature map.

A conv layer's tile reads im2col rows (patches): for output position (oy, ox) of image
n, the kernel x kernel window of the padded NHWC input at (oy * stride, ox * stride),
flattened in (ki, kj, c) order, the row order of the kernel matrix. The rows a replica
computes are gathered in the order asked for, straight into the matrix its tile reads
(archsim.kernels.gather_runs: each kernel row of a window is one contiguous run). An
evaluation that keeps no patches for a backward pass hands the tiles `PatchRows` instead:
where the rows are, which the MVM kernel gathers a few at a time as its DAC reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from archsim.kernels import gather_runs


@dataclass(frozen=True)
class PatchRows:
    """Input rows not yet gathered: row i is `gather_runs(src, starts[i:i+1], run, count,
    step, first=first, width=width, bias=bias)`, the window [first, first + width) of the
    `count` runs of `run` values of `src` (flat), `step` apart, then a constant 1 when
    `bias` (the array row holding the bias)."""

    src: np.ndarray     # 1-D float32, C-contiguous
    starts: np.ndarray  # (n,) int64
    run: int
    count: int
    step: int
    first: int
    width: int
    bias: bool = False

    def __post_init__(self):
        if not (0 <= self.first and 0 <= self.width and self.first + self.width <= self.run * self.count):
            raise ValueError(f"window [{self.first}, {self.first + self.width}) outside rows of "
                             f"{self.run * self.count} values")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.starts), self.width + (1 if self.bias else 0)

    def __len__(self) -> int:
        return len(self.starts)

    def window(self, lo: int, hi: int, bias: bool = False) -> "PatchRows":
        """Columns [lo, hi) of these rows (without their bias column), then a 1 if `bias`."""
        if not 0 <= lo <= hi <= self.width:
            raise ValueError(f"window [{lo}, {hi}) outside the {self.width} columns")
        return replace(self, first=self.first + lo, width=hi - lo, bias=bias)

    def part(self, lo: int, hi: int) -> "PatchRows":
        """Rows [lo, hi) of these rows."""
        return replace(self, starts=self.starts[lo:hi])

    def materialise(self, gather=gather_runs) -> np.ndarray:
        """The rows as a (n, width [+ 1]) matrix (what the kernel reads); `gather`:
        `gather_runs` or its twin."""
        return gather(self.src, self.starts, self.run, self.count, self.step, first=self.first,
                      width=self.width, bias=self.bias)


def _starts(shape: tuple[int, ...], rows: np.ndarray, stride: int, out_h: int, out_w: int) -> np.ndarray:
    """Flat offset of the first value of each patch row's window in a (B, H, W, C) map."""
    _, h, w, c = shape
    image, pos = np.divmod(rows, out_h * out_w)
    oy, ox = np.divmod(pos, out_w)
    return ((image * h + oy * stride) * w + ox * stride) * c


def patch_rows(xp: np.ndarray, rows: np.ndarray | None, kernel: int, stride: int, out_h: int, out_w: int,
               out: np.ndarray | None = None) -> np.ndarray:
    """The im2col rows `rows` (flat index image * out_h * out_w + position) of a padded NHWC
    input `xp` (B, H, W, C), in that order (None: all, in raster order), shape
    (len(rows), kernel * kernel * C); written into `out` (C-contiguous) when given."""
    xp = np.ascontiguousarray(xp)
    b, h, w, c = xp.shape
    if rows is None:
        rows = np.arange(b * out_h * out_w)
    starts = _starts(xp.shape, rows, stride, out_h, out_w)
    return gather_runs(xp.reshape(-1), starts, kernel * c, kernel, w * c, out)


def patch_runs(xp: np.ndarray, rows: np.ndarray, kernel: int, stride: int, out_h: int, out_w: int) -> PatchRows:
    """The rows of `patch_rows`, not gathered (xp float32)."""
    xp = np.ascontiguousarray(xp, dtype=np.float32)
    _, h, w, c = xp.shape
    return PatchRows(xp.reshape(-1), _starts(xp.shape, rows, stride, out_h, out_w).astype(np.int64, copy=False),
                     kernel * c, kernel, w * c, first=0, width=kernel * kernel * c)
