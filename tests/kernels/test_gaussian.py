"""The counter-based ziggurat generator: distribution, streams, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.kernels import get_num_threads, set_num_threads, standard_normal
from archsim.kernels import gaussian as g

N = 1 << 21  # 2 M samples for the moment tests


@pytest.fixture(scope="module")
def big():
    return standard_normal(20240601, 7, N).astype(np.float64)


def test_dtype_shape_and_prefix_property():
    z = standard_normal(1, 2, 1000)
    assert z.dtype == np.float32 and z.shape == (1000,)
    np.testing.assert_array_equal(standard_normal(1, 2, 1000), z)
    np.testing.assert_array_equal(standard_normal(1, 2, 333), z[:333])
    assert standard_normal(1, 2, 0).shape == (0,)
    assert np.all(np.isfinite(z))


def test_moments(big):
    n = big.size
    mean, var = big.mean(), big.var()
    c = big - mean
    skew = np.mean(c**3) / var**1.5
    kurt = np.mean(c**4) / var**2 - 3.0
    # standard errors: 1/sqrt(n), sqrt(2/n), sqrt(6/n), sqrt(24/n)
    assert abs(mean) < 5 / math.sqrt(n)
    assert abs(var - 1.0) < 5 * math.sqrt(2 / n)
    assert abs(skew) < 5 * math.sqrt(6 / n)
    assert abs(kurt) < 5 * math.sqrt(24 / n)


@pytest.mark.parametrize("t", [1.0, 2.0, 3.0, 4.0])
def test_tail_probabilities(big, t):
    p = math.erfc(t / math.sqrt(2))  # P(|z| > t)
    n = big.size
    observed = np.count_nonzero(np.abs(big) > t)
    assert abs(observed - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 1


def test_far_tail_beyond_the_ziggurat_base():
    """Samples beyond r come from the exact tail method (about 1 in 86 000)."""
    n = 1 << 23
    z = standard_normal(99, 3, n)
    r = g._ZIG_R
    p = math.erfc(r / math.sqrt(2))
    observed = np.count_nonzero(np.abs(z) > r)
    assert abs(observed - n * p) < 5 * math.sqrt(n * p) + 1
    deep = math.erfc(5.0 / math.sqrt(2))
    assert abs(np.count_nonzero(np.abs(z) > 5.0) - n * deep) < 5 * math.sqrt(n * deep) + 1
    assert np.abs(z).max() > 4.8


def test_kolmogorov_smirnov(big):
    x = np.sort(big[: 1 << 20])
    n = x.size
    cdf = 0.5 * (1.0 + np.frompyfunc(math.erf, 1, 1)(x / math.sqrt(2)).astype(np.float64))
    i = np.arange(1, n + 1)
    d = max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n))
    assert d < 1.95 / math.sqrt(n)  # 0.1 % critical value


def test_histogram_chi_square(big):
    """Fine histogram against the normal density (catches layer-table errors
    that moments would average out)."""
    edges = np.linspace(-4.5, 4.5, 181)
    counts, _ = np.histogram(big, bins=edges)
    cdf = np.array([0.5 * (1 + math.erf(e / math.sqrt(2))) for e in edges])
    expected = big.size * np.diff(cdf)
    keep = expected > 20
    chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
    dof = keep.sum() - 1
    assert chi2 < dof + 5 * math.sqrt(2 * dof)


def test_streams_are_independent():
    n = 1 << 18
    a = standard_normal(5, 0, n)
    b = standard_normal(5, 1, n)
    c = standard_normal(6, 0, n)
    limit = 5 / math.sqrt(n)
    assert abs(np.corrcoef(a, b)[0, 1]) < limit
    assert abs(np.corrcoef(a, c)[0, 1]) < limit
    for lag in (1, 2, 64):  # no serial correlation within a stream
        assert abs(np.corrcoef(a[:-lag], a[lag:])[0, 1]) < limit
    # squared values too (dependence that linear correlation misses)
    assert abs(np.corrcoef(a**2, b**2)[0, 1]) < limit
    assert abs(np.corrcoef(a[:-1] ** 2, a[1:] ** 2)[0, 1]) < limit


def test_same_for_one_and_two_threads():
    before = get_num_threads()
    try:
        set_num_threads(1)
        one = standard_normal(3, 9, 100_003)
        set_num_threads(2)
        two = standard_normal(3, 9, 100_003)
    finally:
        set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_kernel_helpers_agree_with_public_function():
    key = g.stream_key(np.uint64(3), np.uint64(4))
    z = standard_normal(3, 4, 300)
    for i in (0, 1, 2, 17, 299):
        assert g.normal_at(key, i) == z[i]
    out = np.empty(100, dtype=np.float32)
    g.fill_normals(key, 150, out)
    np.testing.assert_array_equal(out, z[150:250])
    # slow-path samples (NaN from the fast path) are patched identically
    def word(i):
        return np.uint64((int(key) + (i + 1) * int(g._GAMMA)) % 2**64)

    big = standard_normal(3, 4, 20000)
    slow = [i for i in range(20000) if np.isnan(g._fast(np.uint64(g._mix(word(i)))))]
    assert slow, "expected some slow-path samples in 20 000"
    for i in slow[:5]:
        assert g.normal_at(key, i) == big[i]
        assert np.isfinite(big[i])


def test_seed_and_counter_span_uint64():
    a = standard_normal(2**64 - 1, 2**63, 10)
    b = standard_normal(2**64 - 1, 2**63 + 1, 10)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, standard_normal(np.uint64(2**64 - 1), 2**63, 10))


@pytest.mark.parametrize("args, exc", [
    ((-1, 0, 5), ValueError),
    ((2**64, 0, 5), ValueError),
    ((0, 1.0, 5), TypeError),
    ((0, 0, -1), ValueError),
])
def test_bad_arguments(args, exc):
    with pytest.raises(exc):
        standard_normal(*args)


def test_ziggurat_constant_closes_the_layers():
    """Re-derive r: the top layer's area must equal v (bisection on r)."""
    def closure(r):
        xs, v = g._ziggurat_boundaries(r, g._ZIG_LAYERS)
        top = xs[-2]
        return top * (1.0 - math.exp(-0.5 * top * top)) - v

    lo, hi = 4.3, 4.5
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        try:
            c = closure(mid)
        except ValueError:  # log of a value >= 1: layers overshoot, r too small
            lo = mid
            continue
        lo, hi = (lo, mid) if c > 0 else (mid, hi)
    assert abs(0.5 * (lo + hi) - g._ZIG_R) < 1e-12
    xs, v = g._ziggurat_boundaries(g._ZIG_R, g._ZIG_LAYERS)
    assert np.all(np.diff(xs) < 0) and xs[-1] == 0.0
    assert abs(closure(g._ZIG_R)) < 1e-10 * v  # float64 round-off level
    assert np.all(g._ZIG_K >= 0)


def test_jitted_mix_is_the_numpy_splitmix64():
    """The kernels' SplitMix64 and archsim.rng's (which random tiling uses) are one function."""
    from archsim.kernels import gaussian as g
    from archsim.rng import splitmix64
    words = np.random.default_rng(4).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    assert np.array_equal(splitmix64(words), np.array([g._mix(w) for w in words], dtype=np.uint64))
    assert splitmix64(np.uint64(0)) == 0 and splitmix64(np.array([1], np.uint64))[0] == 0x5692161D100B05E5
