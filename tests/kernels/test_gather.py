"""gather_runs against its twin; argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from archsim.kernels import gather_runs
from archsim.kernels.reference import gather_runs_twin


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("run, count, step", [(1, 1, 0), (5, 5, 32), (48, 3, 544), (7, 2, 3), (4, 3, 0)])
def test_matches_twin_in_any_order(dtype, run, count, step):
    rng = np.random.default_rng(run * 100 + count)
    src = rng.standard_normal(2000).astype(dtype)
    starts = rng.integers(0, src.size - (count - 1) * step - run + 1, size=300)
    expected = gather_runs_twin(src, starts, run, count, step)
    np.testing.assert_array_equal(gather_runs(src, starts, run, count, step), expected)
    into = np.full((302, count * run), np.nan, dtype)  # into the middle rows of a larger buffer
    middle = into[1:-1]
    assert gather_runs(src, starts, run, count, step, out=middle) is middle
    np.testing.assert_array_equal(middle, expected)
    assert np.isnan(into[[0, -1]]).all()
    assert gather_runs(src, starts[:0], run, count, step).shape == (0, count * run)


@pytest.mark.parametrize("first, width, bias", [(0, None, True), (3, 7, False), (4, 0, True), (9, 6, True),
                                                (0, 15, False), (14, 1, False)])
def test_a_window_of_the_runs_and_a_bias_column_match_the_twin(first, width, bias):
    """The window [first, first + width) of each row (clipped inside and across runs),
    then a column of ones: what a tile's row block, with or without the bias row, reads."""
    rng = np.random.default_rng(first)
    src = rng.standard_normal(500).astype(np.float32)
    starts = rng.integers(0, 500 - 2 * 40 - 5, size=60)
    got = gather_runs(src, starts, 5, 3, 40, first=first, width=width, bias=bias)
    expected = gather_runs_twin(src, starts, 5, 3, 40, first=first, width=width, bias=bias)
    full = gather_runs_twin(src, starts, 5, 3, 40)
    stop = 15 if width is None else first + width
    np.testing.assert_array_equal(expected[:, :stop - first], full[:, first:stop])  # the twin is that slice
    assert expected.shape[1] == stop - first + bias and (not bias or (expected[:, -1] == 1).all())
    np.testing.assert_array_equal(got, expected)


def test_runs_ending_at_the_last_value_and_bad_arguments():
    src = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(gather_runs(src, np.array([6]), 2, 2, 2), [[6, 7, 8, 9]])
    with pytest.raises(ValueError, match="outside src"):
        gather_runs(src, np.array([7]), 2, 2, 2)
    with pytest.raises(ValueError, match="outside src"):
        gather_runs(src, np.array([-1]), 2, 1, 0)
    with pytest.raises(TypeError, match="1-D C-contiguous"):
        gather_runs(src.astype(np.int32), np.array([0]), 2, 1, 0)
    with pytest.raises(TypeError, match="integer"):
        gather_runs(src, np.array([0.0]), 2, 1, 0)
    with pytest.raises(ValueError, match="run must be"):
        gather_runs(src, np.array([0]), 0, 1, 0)
    with pytest.raises(TypeError, match="count must be an integer"):
        gather_runs(src, np.array([0]), 2, True, 0)
    with pytest.raises(ValueError, match="width must be"):
        gather_runs(src, np.array([0]), 2, 2, 2, first=1, width=4)
    with pytest.raises(ValueError, match="out must be"):
        gather_runs(src, np.array([0]), 2, 1, 0, out=np.empty((1, 3), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        gather_runs(src, np.array([0, 1]), 2, 1, 0, out=np.empty((2, 4), np.float32)[:, ::2])
