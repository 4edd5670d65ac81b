"""Patch rows: im2col rows of a padded NHWC map, in any order, into any buffer."""

from __future__ import annotations

import numpy as np
import pytest

from archsim.devices.inputs import patch_rows
from archsim.nn import functional as F


@pytest.mark.parametrize("b, c, h, k, s, p", [(3, 2, 9, 3, 1, 1), (2, 5, 12, 5, 2, 2), (4, 3, 7, 3, 2, 0),
                                              (1, 1, 5, 5, 1, 2), (2, 16, 8, 1, 1, 0)])
def test_patch_rows_are_im2col_in_any_order(b, c, h, k, s, p):
    rng = np.random.default_rng(b * 100 + h)
    x = rng.standard_normal((b, c, h, h)).astype(np.float32)
    oh = F.out_size(h, k, s, p)
    twin = F.im2col(x, k, s, p).reshape(-1, k * k * c)
    xp = F.to_nhwc(x, p)
    rows = rng.permutation(b * oh * oh)[: max(1, b * oh * oh - 3)]  # shuffled, some left out
    assert np.array_equal(patch_rows(xp, rows, k, s, oh, oh), twin[rows])
    assert patch_rows(xp, rows[:0], k, s, oh, oh).shape == (0, k * k * c)
    assert np.array_equal(patch_rows(xp, None, k, s, oh, oh), twin)
    into = np.full((len(rows) + 2, k * k * c), np.nan, x.dtype)  # into the middle rows of a buffer
    patch_rows(xp, rows, k, s, oh, oh, out=into[1:-1])
    assert np.array_equal(into[1:-1], twin[rows]) and np.isnan(into[[0, -1]]).all()
    assert np.array_equal(patch_rows(xp.astype(np.float64), rows, k, s, oh, oh), twin[rows])
