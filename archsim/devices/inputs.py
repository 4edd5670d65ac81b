"""The input vectors a layer drives into its tiles, gathered from its input feature map.

A conv layer's tile reads im2col rows (patches): for output position (oy, ox) of image
n, the kernel x kernel window of the padded NHWC input at (oy * stride, ox * stride),
flattened in (ki, kj, c) order, the row order of the kernel matrix. The rows a replica
computes are gathered in the order asked for, straight into the matrix its tile reads
(archsim.kernels.gather_runs: each kernel row of a window is one contiguous run).
"""

from __future__ import annotations

import numpy as np

from archsim.kernels import gather_runs


def patch_rows(xp: np.ndarray, rows: np.ndarray | None, kernel: int, stride: int, out_h: int, out_w: int,
               out: np.ndarray | None = None) -> np.ndarray:
    """The im2col rows `rows` (flat index image * out_h * out_w + position) of a padded NHWC
    input `xp` (B, H, W, C), in that order (None: all, in raster order), shape
    (len(rows), kernel * kernel * C); written into `out` (C-contiguous) when given."""
    xp = np.ascontiguousarray(xp)
    b, h, w, c = xp.shape
    positions = out_h * out_w
    if rows is None:
        rows = np.arange(b * positions)
    image, pos = np.divmod(rows, positions)
    oy, ox = np.divmod(pos, out_w)
    starts = ((image * h + oy * stride) * w + ox * stride) * c
    return gather_runs(xp.reshape(-1), starts, kernel * c, kernel, w * c, out)
