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


def test_patch_runs_are_the_patch_rows_not_yet_gathered():
    """PatchRows materialise to patch_rows; a window (and a bias column of ones) is that
    slice of them; a tile MVM of them equals the MVM of the matrix on both backends."""
    from archsim.devices.inputs import PatchRows, patch_runs
    from archsim.devices.mvm import tile_mvm
    from archsim.devices.tile import AnalogSlices
    from archsim.spec import load_hardware
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 9, 9)).astype(np.float32)
    xp = F.to_nhwc(x, 1)
    rows = rng.permutation(3 * 81)[:50]
    lazy = patch_runs(xp, rows, 3, 1, 9, 9)
    full = patch_rows(xp, rows, 3, 1, 9, 9)
    assert lazy.shape == full.shape == (50, 36) and len(lazy) == 50
    assert np.array_equal(lazy.materialise(), full)
    part = lazy.window(10, 30, bias=True)
    assert part.shape == (50, 21)
    assert np.array_equal(part.materialise(), np.concatenate([full[:, 10:30], np.ones((50, 1), np.float32)], 1))
    assert np.array_equal(part.window(5, 8).materialise(), full[:, 15:18])
    assert np.array_equal(part.part(7, 19).materialise(), part.materialise()[7:19])
    with pytest.raises(ValueError, match="outside"):
        lazy.window(30, 40)
    with pytest.raises(ValueError, match=r"window \[30, 50\) outside rows of 36"):
        PatchRows(lazy.src, lazy.starts, 12, 3, lazy.step, first=30, width=20)
    # dyadic weights and a DAC step of 1/64: every product and sum is exact in float32, so
    # BLAS and the numpy twin, summing in different orders, agree to the bit
    tiles = load_hardware("standard_aimc", ["tiles.dac.range=1.984375"]).tiles  # 127 / 64
    dyadic = (lambda shape: (rng.integers(-64, 65, size=shape) / 64.0).astype(np.float32))
    slices = AnalogSlices(weights=dyadic((1, 21, 5)), coeff=np.ones(1), out_scale=rng.uniform(0.5, 2, 5))
    two = AnalogSlices(weights=dyadic((2, 21, 5)), coeff=np.array([1.0, 0.25]),
                       out_scale=rng.uniform(0.5, 2, 5))  # two slices: combined digitally
    for tile in (slices, two):
        y, passes = tile_mvm(tile, part, tiles, seed=3, counter=1)
        y_x, passes_x = tile_mvm(tile, part.materialise(), tiles, seed=3, counter=1)
        assert y.tobytes() == y_x.tobytes() and np.array_equal(passes, passes_x)
        y_twin, passes_twin = tile_mvm(tile, part, tiles, seed=3, counter=1, backend="numpy")  # gathers itself
        assert np.array_equal(y_twin, y) and np.array_equal(passes_twin, passes)
    with pytest.raises(ValueError, match="36 input columns for a tile of 21 rows"):
        tile_mvm(slices, lazy, tiles, seed=3, counter=1)
