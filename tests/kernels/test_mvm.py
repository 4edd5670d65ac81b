"""The noisy analog MVM kernel against its numpy twin, and its properties.

Exactness: with dyadic weights (m / 64) and a DAC step of 1/64 every analog
product (and, with small dyadic read-noise sigmas, every read-noise variance)
is exact in float32 whatever the summation order, so the kernel (fused
small-batch path, BLAS batch path, transposed) and the twin must agree bit for
bit, noise, ADC, bound-management passes and all. With arbitrary float
weights the analog products differ in the last bits (BLAS vs numba vs numpy
summation order), which can move a value across an ADC decision threshold:
those comparisons allow rare one-level differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.kernels import (analog_mvm, analog_mvm_transposed, get_num_threads,
                             set_num_threads)
from archsim.kernels.mvm import _FUSED_MAX_BATCH, _PARALLEL_FINISH_MIN
from archsim.kernels.reference import analog_mvm_twin, slice_geometry

F32 = np.float32
AIHWKIT = dict(dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0, out_noise=0.06,
               w_noise=0.0, noise_management="abs_max", nm_constant=1.0, max_passes=6,
               input_slices=1)


def dyadic_weights(rng, rows, cols):
    return (rng.integers(-64, 65, size=(rows, cols)) / 64.0).astype(F32)


def dyadic_sigma(rng, rows, cols):
    """Read-noise sigmas m / 64, 0 <= m <= 8: with DAC outputs that are
    multiples of one power of two (numerators up to 64) every product x''**2 *
    sigma**2 and every partial sum of up to 40 of them is exact in float32."""
    return (rng.integers(0, 9, size=(rows, cols)) / 64.0).astype(F32)


def dyadic_dac_range(dac_bits):
    """DAC range whose step is 1/64: every DAC output is a multiple of 1/64."""
    return (2 ** (dac_bits - 1) - 1) / 64.0


def periphery(**kw):
    p = dict(AIHWKIT)
    p.update(kw)
    return p


@st.composite
def exact_cases(draw):
    """Random shapes, periphery and inputs for which kernel == twin bit for bit."""
    batch = draw(st.sampled_from([1, 2, 5, _FUSED_MAX_BATCH, _FUSED_MAX_BATCH + 1, 13, 33]))
    n_in = draw(st.integers(1, 40))
    n_out = draw(st.integers(1, 40))
    nm = draw(st.sampled_from(["abs_max", "constant", "none"]))
    ideal_dac = draw(st.booleans()) and nm != "abs_max"
    dac_bits = 0 if ideal_dac else draw(st.sampled_from([2, 3, 4, 5, 7]))
    slices = 1
    if dac_bits == 7:  # every slice step of a 7-bit DAC is dyadic with this range
        slices = draw(st.integers(1, 6))
    p = periphery(
        dac_bits=dac_bits,
        dac_range=1.0 if ideal_dac else dyadic_dac_range(dac_bits),
        adc_bits=draw(st.sampled_from([0, 3, 6, 9])),
        adc_range=draw(st.sampled_from([0.5, 2.0, 12.0])),
        out_noise=draw(st.sampled_from([0.0, 0.06, 0.5])),
        w_noise=draw(st.sampled_from([0.0, 0.02])),
        noise_management=nm,
        nm_constant=draw(st.sampled_from([0.5, 2.0])),
        max_passes=draw(st.integers(1, 6)),
        input_slices=slices,
        seed=draw(st.integers(0, 2**64 - 1)),
        counter=draw(st.integers(0, 2**64 - 1)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = dyadic_weights(rng, n_in, n_out)
    if draw(st.booleans()):
        p["read_sigma"] = dyadic_sigma(rng, n_in, n_out)
    if draw(st.booleans()):  # a column scale, signed zeros and negative values included
        p["out_scale"] = rng.uniform(-3, 3, n_out) * (rng.random(n_out) > 0.1)
    if ideal_dac:  # dyadic inputs, scaled by powers of two only: exact
        x = (rng.integers(-64, 65, size=(batch, n_in)) / 64.0).astype(F32)
    else:
        x = (rng.standard_normal((batch, n_in)) * rng.choice([0.1, 1.0, 10.0])).astype(F32)
        x[rng.random(batch) < 0.15] = 0.0  # all-zero vectors (alpha = 0)
    return x, w, p


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exact_cases())
def test_kernel_matches_twin_exactly(case):
    x, w, p = case
    y, passes = analog_mvm(x, w, **p)
    y_twin, passes_twin = analog_mvm_twin(x, w, **p)
    assert y.dtype == np.float32 and passes.dtype == np.int32
    assert y.shape == (x.shape[0], w.shape[1]) and passes.shape == (x.shape[0],)
    np.testing.assert_array_equal(passes, passes_twin)
    np.testing.assert_array_equal(y, y_twin)


@pytest.mark.parametrize("batch", [1, _FUSED_MAX_BATCH + 12])
def test_wide_dac_codes_norm_matches_twin(batch):
    """16-bit DAC codes with weight noise: the squared codes of a row overflow int32, so
    the kernel sums them in int64 (its other branch); still bit for bit the twin's."""
    rng = np.random.default_rng(batch)
    w = dyadic_weights(rng, 4, 6)  # 4 rows: every product and partial sum exact in float32
    x = rng.standard_normal((batch, 4)).astype(F32)
    p = periphery(dac_bits=16, dac_range=dyadic_dac_range(16), w_noise=0.02, seed=3, counter=batch)
    y, passes = analog_mvm(x, w, **p)
    y_twin, passes_twin = analog_mvm_twin(x, w, **p)
    np.testing.assert_array_equal(passes, passes_twin)
    np.testing.assert_array_equal(y, y_twin)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exact_cases())
def test_transposed_matches_forward_on_transposed_weights(case):
    d, w, p = case
    wt = np.ascontiguousarray(w.T)  # [n_out, n_in]: d @ wt.T == d @ w
    pt = dict(p)
    if p.get("read_sigma") is not None:  # indexed like the weights
        pt["read_sigma"] = np.ascontiguousarray(p["read_sigma"].T)
    y_t, passes_t = analog_mvm_transposed(d, wt, **pt)
    y_f, passes_f = analog_mvm(d, w, **p)
    np.testing.assert_array_equal(passes_t, passes_f)
    np.testing.assert_array_equal(y_t, y_f)


@pytest.mark.parametrize("batch", [1, _FUSED_MAX_BATCH + 4])
def test_transposed_long_rows_exact(batch):
    """Rows longer than the 64 lanes of the fused transposed product (also for
    the read-noise variance: sigmas m / 64 with m <= 2 keep 200-term sums exact)."""
    rng = np.random.default_rng(batch)
    w = dyadic_weights(rng, 200, 70)
    sigma = (rng.integers(0, 3, size=(200, 70)) / 64.0).astype(F32)
    d = rng.standard_normal((batch, 200)).astype(F32)
    p = periphery(dac_range=dyadic_dac_range(7), adc_range=4.0, out_noise=0.1, max_passes=3,
                  seed=6, counter=batch)
    y_t, passes_t = analog_mvm_transposed(d, np.ascontiguousarray(w.T),
                                          read_sigma=np.ascontiguousarray(sigma.T), **p)
    y_twin, passes_twin = analog_mvm_twin(d, w, read_sigma=sigma, **p)
    np.testing.assert_array_equal(passes_t, passes_twin)
    np.testing.assert_array_equal(y_t, y_twin)


def test_saturating_inputs_take_the_same_bound_management_path():
    """Inputs chosen to saturate: pass counts spread over 1..max_passes and
    match the twin exactly on both paths."""
    rng = np.random.default_rng(3)
    w = dyadic_weights(rng, 48, 24)
    x = rng.standard_normal((40, 48)).astype(F32)
    x *= rng.uniform(0.1, 3.0, size=(40, 1)).astype(F32)
    p = periphery(dac_range=dyadic_dac_range(7), adc_range=1.5, out_noise=0.1,
                  noise_management="none", max_passes=4, seed=11, counter=5)
    for xb in (x, x[:_FUSED_MAX_BATCH]):
        y, passes = analog_mvm(xb, w, **p)
        y_twin, passes_twin = analog_mvm_twin(xb, w, **p)
        np.testing.assert_array_equal(passes, passes_twin)
        np.testing.assert_array_equal(y, y_twin)
    _, passes = analog_mvm(x, w, **p)
    assert set(np.unique(passes)) >= {1, 2, 4}  # some redone, some capped


@pytest.mark.parametrize("batch", [1, 6, 200])
def test_float_weights_agree_with_twin_up_to_adc_boundaries(batch):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, 128)).astype(F32)
    w = rng.uniform(-1, 1, size=(128, 96)).astype(F32)
    p = periphery(adc_range=6.0, seed=1, counter=batch)
    y, passes = analog_mvm(x, w, **p)
    y_twin, passes_twin = analog_mvm_twin(x, w, **p)
    same_path = passes == passes_twin
    assert same_path.mean() >= 0.99
    level = 12.0 / 510 * np.abs(x).max(axis=1, keepdims=True) * 2.0 ** (passes[:, None] - 1)
    diff = np.abs(y - y_twin)[same_path]
    level = np.broadcast_to(level, y.shape)[same_path]
    assert np.all(diff <= level * 1.0001)  # at most one ADC level
    assert np.mean(diff > 0) < 0.01  # and rarely


@pytest.mark.parametrize("batch", [1, 300])
def test_ideal_converters_reproduce_float64_gemm(batch):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((batch, 384)).astype(F32)
    w = rng.standard_normal((384, 200)).astype(F32)
    p = periphery(dac_bits=0, dac_range=1e30, adc_bits=0, adc_range=1e30, out_noise=0.0,
                  noise_management="none", max_passes=1, seed=0, counter=0)
    y, passes = analog_mvm(x, w, **p)
    exact = x.astype(np.float64) @ w.astype(np.float64)
    # Rigorous bound for float32 accumulation in any order, plus the final rounding.
    bound = 384 * np.finfo(F32).eps * (np.abs(x).astype(np.float64) @ np.abs(w))
    assert np.all(np.abs(y - exact) <= bound + np.abs(exact) * np.finfo(F32).eps)
    rel = np.abs(y - exact) / (np.abs(x).astype(np.float64) @ np.abs(w))
    assert np.median(rel) < 1e-6
    assert np.all(passes == 1)
    if batch > _FUSED_MAX_BATCH:  # the BLAS path is then exactly numpy's float32 GEMM
        np.testing.assert_array_equal(y, x @ w)
    y_t, _ = analog_mvm_transposed(x, np.ascontiguousarray(w.T), **p)
    assert np.all(np.abs(y_t - exact) <= bound + np.abs(exact) * np.finfo(F32).eps)


@pytest.mark.parametrize("dac_bits", [2, 4, 7, 8])
def test_dac_quantisation(dac_bits):
    """Through an identity tile with ideal ADC the output is the DAC output."""
    rng = np.random.default_rng(dac_bits)
    n = 64
    x = rng.standard_normal((20, n)).astype(F32)
    eye = np.eye(n, dtype=F32)
    p = periphery(dac_bits=dac_bits, dac_range=1.0, adc_bits=0, adc_range=1e6,
                  out_noise=0.0, max_passes=1, seed=0, counter=0)
    y, _ = analog_mvm(x, eye, **p)
    y_twin, _ = analog_mvm_twin(x, eye, **p)
    np.testing.assert_array_equal(y, y_twin)
    alpha = np.abs(x).max(axis=1, keepdims=True)
    h = 2 ** (dac_bits - 1) - 1
    codes = y / alpha * h  # integer DAC codes in [-h, h]
    np.testing.assert_allclose(codes, np.rint(codes), atol=1e-4)
    assert np.abs(np.rint(codes)).max() == h  # the abs-max element maps to full scale
    np.testing.assert_allclose(y, np.rint(x / alpha * h) / h * alpha, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("adc_bits", [3, 6, 9])
def test_adc_quantisation_and_clipping(adc_bits):
    x = np.linspace(-1.5, 1.5, 4001, dtype=F32)[:, None]  # one input per vector
    one = np.ones((1, 1), dtype=F32)
    p = periphery(dac_bits=0, dac_range=10.0, adc_bits=adc_bits, adc_range=1.0,
                  out_noise=0.0, noise_management="none", max_passes=1, seed=0, counter=0)
    y, passes = analog_mvm(x, one, **p)
    y_twin, _ = analog_mvm_twin(x, one, **p)
    np.testing.assert_array_equal(y, y_twin)
    hq = 2 ** (adc_bits - 1) - 1
    levels = np.unique(y)
    assert len(levels) == 2 * hq + 1  # 2**bits - 1 levels over [-range, range]
    assert levels.min() == -1.0 and levels.max() == 1.0
    np.testing.assert_allclose(np.diff(levels), 1.0 / hq, rtol=0, atol=2e-7)
    inside = np.abs(x[:, 0]) < 1.0 - 0.5 / hq
    assert np.all(np.abs(y[inside, 0] - x[inside, 0]) <= 0.5 / hq + 1e-6)  # half a level
    assert np.all(y[x[:, 0] >= 1.0, 0] == 1.0) and np.all(y[x[:, 0] <= -1.0, 0] == -1.0)
    assert np.all(passes == 1)


def test_output_noise_statistics():
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, size=(64, 512)).astype(F32)
    x = np.zeros((256, 64), dtype=F32)
    p = periphery(dac_bits=0, adc_bits=0, adc_range=100.0, out_noise=0.06,
                  noise_management="none", max_passes=1, seed=5, counter=1)
    y, _ = analog_mvm(x, w, **p)
    n = y.size
    assert abs(y.mean()) < 5 * 0.06 / math.sqrt(n)
    assert abs(y.std() / 0.06 - 1.0) < 5 / math.sqrt(2 * n)
    # independent across outputs and vectors
    assert abs(np.corrcoef(y[:, :-1].ravel(), y[:, 1:].ravel())[0, 1]) < 5 / math.sqrt(n)
    assert abs(np.corrcoef(y[:-1].ravel(), y[1:].ravel())[0, 1]) < 5 / math.sqrt(n)


def test_weight_noise_is_output_referred_and_scales_with_input_norm():
    w = np.zeros((100, 400), dtype=F32)
    x = np.full((128, 100), 0.5, dtype=F32)  # ||x''|| = 5 after an ideal DAC
    p = periphery(dac_bits=0, adc_bits=0, adc_range=100.0, out_noise=0.0, w_noise=0.02,
                  noise_management="none", max_passes=1, seed=2, counter=3)
    y, _ = analog_mvm(x, w, **p)
    assert abs(y.std() / (0.02 * 5.0) - 1.0) < 5 / math.sqrt(2 * y.size)


def test_noise_management_modes():
    rng = np.random.default_rng(2)
    w = dyadic_weights(rng, 32, 16)
    x = rng.standard_normal((12, 32)).astype(F32)
    base = periphery(dac_range=dyadic_dac_range(7), seed=9, counter=4)
    # abs_max: scaling the input by a power of two scales the output exactly
    y1, p1 = analog_mvm(x, w, **base)
    y4, p4 = analog_mvm(4 * x, w, **base)
    np.testing.assert_array_equal(4 * y1, y4)
    np.testing.assert_array_equal(p1, p4)
    # a zero vector gives exactly zero (no noise) in one iteration
    xz = x.copy()
    xz[3] = 0.0
    yz, pz = analog_mvm(xz, w, **base)
    assert np.all(yz[3] == 0.0) and pz[3] == 1
    # so does a vector too small for a finite float32 DAC gain (a subnormal error vector
    # in a backward pass: its zeros times an infinite gain gave NaN), on both paths
    for rows in (1, _FUSED_MAX_BATCH + 4):
        xt = x[:rows].copy()
        xt[0] = 0.0
        xt[0, 5] = 1.7e-41
        for fn in (analog_mvm, analog_mvm_transposed):
            wt = w if fn is analog_mvm else np.ascontiguousarray(w.T)
            yt, pt = fn(xt, wt, **base)
            assert np.all(yt[0] == 0.0) and pt[0] == 1 and np.isfinite(yt).all()
        y_twin, p_twin = analog_mvm_twin(xt, w, **base)
        assert np.all(y_twin[0] == 0.0) and p_twin[0] == 1
    # constant and none differ from abs_max, and each matches its twin
    for nm in ("constant", "none"):
        p = dict(base, noise_management=nm, nm_constant=2.0)
        y, passes = analog_mvm(x, w, **p)
        y_twin, passes_twin = analog_mvm_twin(x, w, **p)
        np.testing.assert_array_equal(y, y_twin)
        assert not np.array_equal(y, y1)
    # "none" clips inputs beyond the DAC range; "constant" divides by the constant
    big = np.full((1, 32), 3.0, dtype=F32)
    quiet = dict(base, out_noise=0.0, adc_bits=0, adc_range=1e6, max_passes=1)
    y_none, _ = analog_mvm(big, w, **dict(quiet, noise_management="none"))
    y_const, _ = analog_mvm(big, w, **dict(quiet, noise_management="constant",
                                            nm_constant=4.0))
    r = dyadic_dac_range(7)
    np.testing.assert_allclose(y_none[0], r * w.sum(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y_const[0], 3.0 * w.sum(axis=0), rtol=2e-2, atol=1e-2)


@pytest.mark.parametrize("batch", [300, 7000])  # 7000 x 80 outputs: the parallel output kernel
def test_results_do_not_depend_on_thread_count(batch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((batch, 96)).astype(F32)
    w = rng.uniform(-1, 1, size=(96, 80)).astype(F32)
    p = periphery(adc_range=4.0, w_noise=0.01, max_passes=3, seed=3, counter=8)
    before = get_num_threads()
    try:
        set_num_threads(1)
        y1, p1 = analog_mvm(x, w, **p)
        t1, q1 = analog_mvm_transposed(x[:, :80], w, **p)
        set_num_threads(2)
        y2, p2 = analog_mvm(x, w, **p)
        t2, q2 = analog_mvm_transposed(x[:, :80], w, **p)
    finally:
        set_num_threads(before)
    assert p1.max() > 1  # bound management was exercised
    assert (batch * 80 >= _PARALLEL_FINISH_MIN) == (batch == 7000)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(q1, q2)


@pytest.mark.parametrize("slices", [1, 2, 3, 4, 6])
def test_input_slicing_reconstructs_the_dac_input(slices):
    """Noise off, ideal ADC, identity tile: the recombined slices equal the
    DAC-quantised input (up to the rounding of the slice weights)."""
    rng = np.random.default_rng(slices)
    n = 40
    x = rng.standard_normal((12, n)).astype(F32)
    eye = np.eye(n, dtype=F32)
    p = periphery(adc_bits=0, adc_range=1e6, out_noise=0.0, input_slices=slices,
                  seed=0, counter=0)
    y, passes = analog_mvm(x, eye, **p)
    y1, passes1 = analog_mvm(x, eye, **dict(p, input_slices=1))
    np.testing.assert_allclose(y, y1, rtol=1e-6, atol=1e-7)
    assert np.all(passes == slices) and np.all(passes1 == 1)
    coefs = [slice_geometry(7, 1.0, slices, s) for s in range(slices)]
    assert sum(levels << shift for shift, levels, _, _ in coefs) == 63  # all 6 bits covered


def test_input_slicing_with_noise_matches_twin():
    rng = np.random.default_rng(8)
    w = dyadic_weights(rng, 30, 20)
    x = rng.standard_normal((16, 30)).astype(F32)
    p = periphery(dac_range=dyadic_dac_range(7), adc_range=3.0, out_noise=0.1, w_noise=0.01,
                  input_slices=3, max_passes=3, seed=4, counter=2)
    for xb in (x, x[:3]):
        y, passes = analog_mvm(xb, w, **p)
        y_twin, passes_twin = analog_mvm_twin(xb, w, **p)
        np.testing.assert_array_equal(passes, passes_twin)
        np.testing.assert_array_equal(y, y_twin)
    assert np.all(passes % 3 == 0)


def test_serial_and_parallel_output_kernels_agree(monkeypatch):
    """Small outputs take the serial output kernel, large ones the parallel one: the same
    chunks of rows, the same numbers (bound management included)."""
    import archsim.kernels.mvm as mvm
    rng = np.random.default_rng(11)
    x = rng.standard_normal((700, 64)).astype(F32)
    w = rng.uniform(-1, 1, size=(64, 48)).astype(F32)
    sigma = rng.uniform(0, 0.05, size=(64, 48)).astype(F32)
    p = periphery(adc_range=3.0, w_noise=0.02, max_passes=3, input_slices=2, seed=7, counter=4)
    serial = analog_mvm(x, w, read_sigma=sigma, **p)
    monkeypatch.setattr(mvm, "_PARALLEL_FINISH_MIN", 0)
    parallel = analog_mvm(x, w, read_sigma=sigma, **p)
    assert serial[1].max() > 2
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])


def test_determinism_and_counter():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 16)).astype(F32)
    w = rng.uniform(-1, 1, size=(16, 8)).astype(F32)
    a = analog_mvm(x, w, seed=1, counter=1)
    b = analog_mvm(x, w, seed=1, counter=1)
    c = analog_mvm(x, w, seed=1, counter=2)
    d = analog_mvm(x, w, seed=2, counter=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[0], d[0])
    # non-contiguous and large-seed inputs are accepted
    e = analog_mvm(np.asfortranarray(x), w, seed=2**64 - 1, counter=2**63)
    f = analog_mvm(x, w, seed=2**64 - 1, counter=2**63)
    np.testing.assert_array_equal(e[0], f[0])


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(dac_bits=1), ValueError, "dac_bits=1"),
    (dict(adc_bits=30), ValueError, "adc_bits"),
    (dict(dac_bits=2.0), TypeError, "dac_bits"),
    (dict(noise_management="absmax"), ValueError, "noise_management"),
    (dict(noise_management="constant", nm_constant=0.0), ValueError, "nm_constant"),
    (dict(out_noise=-0.1), ValueError, "out_noise"),
    (dict(adc_range=float("nan")), ValueError, "adc_range"),
    (dict(max_passes=0), ValueError, "max_passes"),
    (dict(input_slices=7), ValueError, "input_slices"),
    (dict(dac_bits=0, input_slices=2), ValueError, "input_slices"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(counter=1.5), TypeError, "counter"),
    (dict(max_passes=2**70), ValueError, "max_passes"),
    (dict(w_noise=float("inf")), ValueError, "w_noise"),
    (dict(input_slices=True), TypeError, "input_slices"),
])
def test_bad_parameters_raise(kwargs, exc, match):
    w = np.ones((4, 3), dtype=F32)
    args = dict(seed=0, counter=0)
    args.update(kwargs)
    for batch in (2, _FUSED_MAX_BATCH + 4):  # value checks: in the fused kernel / before BLAS
        with pytest.raises(exc, match=match):
            analog_mvm(np.ones((batch, 4), dtype=F32), w, **args)


def test_column_scale_is_applied_last_in_float64():
    """out_scale multiplies the finished output (+0 first, so -0.0 becomes +0.0) in float64
    and rounds once, on both kernel paths; an integer or float32 scale is converted."""
    rng = np.random.default_rng(5)
    w = dyadic_weights(rng, 6, 5)
    scale = rng.uniform(0.5, 2.0, 5)
    for batch in (3, _FUSED_MAX_BATCH + 9):
        x = rng.standard_normal((batch, 6)).astype(F32)
        x[0] = 0.0  # a zero vector: +0 times the scale
        p = periphery(seed=1, counter=batch)
        plain, passes = analog_mvm(x, w, **p)
        scaled, passes_scaled = analog_mvm(x, w, out_scale=scale, **p)
        expected = ((plain + F32(0.0)).astype(np.float64) * scale).astype(F32)
        assert scaled.tobytes() == expected.tobytes()
        np.testing.assert_array_equal(passes, passes_scaled)
        as_int, _ = analog_mvm(x, w, out_scale=np.arange(5), **p)
        np.testing.assert_array_equal(as_int, ((plain + F32(0.0)) * np.arange(5)).astype(F32))


def test_bad_arrays_raise():
    w = np.ones((4, 3), dtype=F32)
    for batch in (2, _FUSED_MAX_BATCH + 4):
        x = np.ones((batch, 4), dtype=F32)
        with pytest.raises(ValueError, match=r"one value per output \(3,\)"):
            analog_mvm(x, w, out_scale=np.ones(4), seed=0, counter=0)
        with pytest.raises(TypeError, match="out_scale"):
            analog_mvm(x, w, out_scale=[1.0, 1.0, 1.0], seed=0, counter=0)
    with pytest.raises(TypeError, match="float32"):
        analog_mvm(np.ones((2, 4)), w, seed=0, counter=0)
    with pytest.raises(ValueError, match="2-D"):
        analog_mvm(np.ones(4, dtype=F32), w, seed=0, counter=0)
    with pytest.raises(ValueError, match="shape mismatch"):
        analog_mvm(np.ones((2, 3), dtype=F32), w, seed=0, counter=0)
    with pytest.raises(ValueError, match="shape mismatch"):
        analog_mvm_transposed(np.ones((2, 4), dtype=F32), w, seed=0, counter=0)
    with pytest.raises(TypeError, match="numpy array"):
        analog_mvm([[1.0] * 4], w, seed=0, counter=0)


@pytest.mark.parametrize("batch", [3, _FUSED_MAX_BATCH + 40])
@pytest.mark.parametrize("first, rows, bias", [(0, 27, False), (0, 28, True), (5, 10, False), (20, 8, True),
                                               (26, 1, True), (0, 1, True)])
def test_rows_gathered_by_the_kernel_equal_the_gathered_matrix(batch, first, rows, bias):
    """analog_mvm_runs is analog_mvm of the window of the gathered runs (and a constant-1
    bias column), bit for bit, noise, read noise, column scale and bound management
    included; the twin on the gathered matrix agrees too."""
    from archsim.kernels import analog_mvm_runs, gather_runs
    rng = np.random.default_rng(batch + first)
    src = rng.standard_normal(4 * 12 * 12 * 3).astype(F32)  # a padded 4 x 12 x 12 x 3 NHWC map
    starts = rng.integers(0, 4 * 12 * 12 * 3 - (2 * 36 + 9), size=batch)
    x = gather_runs(src, starts, 9, 3, 36)[:, first:first + rows - bias]
    if bias:
        x = np.concatenate([x, np.ones((batch, 1), F32)], axis=1)
    x = np.ascontiguousarray(x)
    w = dyadic_weights(rng, rows, 7)
    p = periphery(dac_bits=7, dac_range=dyadic_dac_range(7), w_noise=0.02, max_passes=3, adc_range=2.0,
                  read_sigma=dyadic_sigma(rng, rows, 7), out_scale=rng.uniform(0.5, 2, 7), seed=4, counter=batch)
    y, passes = analog_mvm_runs(src, starts, 9, 3, 36, w, first=first, bias=bias, **p)
    y_x, passes_x = analog_mvm(x, w, **p)
    y_twin, passes_twin = analog_mvm_twin(x, w, **p)
    assert y.tobytes() == y_x.tobytes() and np.array_equal(passes, passes_x)
    np.testing.assert_array_equal(y, y_twin)
    np.testing.assert_array_equal(passes, passes_twin)
    if batch > _FUSED_MAX_BATCH and rows >= 8:  # bound management re-gathered the saturated rows
        assert passes.max() > 1


@pytest.mark.parametrize("kw", [dict(input_slices=3), dict(dac_bits=0, noise_management="constant")])
def test_rows_gathered_by_the_kernel_with_sliced_or_ideal_dacs(kw):
    """The other DAC branches read the gathered rows the same way."""
    from archsim.kernels import analog_mvm_runs, gather_runs
    rng = np.random.default_rng(8)
    src = rng.standard_normal(2000).astype(F32)
    starts = rng.integers(0, 2000 - (2 * 36 + 9), size=_FUSED_MAX_BATCH + 30)
    w = dyadic_weights(rng, 21, 6)
    p = periphery(dac_range=dyadic_dac_range(7), seed=2, counter=9, **kw)
    y, passes = analog_mvm_runs(src, starts, 9, 3, 36, w, first=4, bias=True, **p)
    x = gather_runs(src, starts, 9, 3, 36, first=4, width=20, bias=True)
    y_x, passes_x = analog_mvm(x, w, **p)
    assert y.tobytes() == y_x.tobytes() and np.array_equal(passes, passes_x)


@pytest.mark.parametrize("mode", ["abs_max", "constant", "none"])
@pytest.mark.parametrize("read, w_noise", [(False, 0.0), (True, 0.0), (False, 0.03)])
@pytest.mark.parametrize("bias", [False, True])
def test_rows_gathered_by_the_kernel_in_every_noise_setting(mode, read, w_noise, bias):
    """Rows the batched kernel gathers from the runs (a few at a time, into a scratch) give the
    bits of the gathered matrix: every noise management, with and without read noise
    (squares) and weight noise (norms), all-zero and subnormal rows (a zero scale) included."""
    from archsim.kernels import analog_mvm_runs, gather_runs
    rng = np.random.default_rng(11)
    src = rng.standard_normal(2000).astype(F32)
    src[:300] = 0.0  # rows starting here gather only zeros
    src[400:500] = 1e-40  # subnormal rows: a scale whose DAC gain overflows is a zero scale
    starts = np.concatenate([[0, 10, 100, 400], rng.integers(0, 2000 - 81, size=_FUSED_MAX_BATCH + 30)])
    w = dyadic_weights(rng, 19 + bias, 6)
    p = periphery(dac_range=dyadic_dac_range(7), noise_management=mode, nm_constant=2.0, w_noise=w_noise,
                  read_sigma=dyadic_sigma(rng, 19 + bias, 6) if read else None, max_passes=4, adc_range=1.0,
                  seed=3, counter=1)
    y, passes = analog_mvm_runs(src, starts, 9, 3, 36, w, first=5, bias=bias, **p)
    x = gather_runs(src, starts, 9, 3, 36, first=5, width=19, bias=bias)
    y_x, passes_x = analog_mvm(x, w, **p)
    assert y.tobytes() == y_x.tobytes() and np.array_equal(passes, passes_x)
    assert passes.max() > 1  # bound management converted the saturated rows again


def test_bad_runs_raise():
    from archsim.kernels import analog_mvm_runs
    src = np.zeros(100, F32)
    w = np.ones((10, 2), F32)
    with pytest.raises(TypeError, match="src"):
        analog_mvm_runs(src.astype(np.float64), [0], 5, 2, 10, w, seed=0, counter=0)
    with pytest.raises(ValueError, match=r"window \[0, 10\).*outside a gathered row of 8"):
        analog_mvm_runs(src, [0], 4, 2, 10, w, seed=0, counter=0)
    with pytest.raises(ValueError, match="runs outside src"):
        analog_mvm_runs(src, [95], 5, 2, 10, w, seed=0, counter=0)
    with pytest.raises(ValueError, match="first"):
        analog_mvm_runs(src, [0], 5, 2, 10, w, first=-1, seed=0, counter=0)
    with pytest.raises(TypeError, match="w must be a numpy array"):  # as analog_mvm
        analog_mvm_runs(src, [0], 5, 2, 10, [[1.0]], seed=0, counter=0)
    with pytest.raises(ValueError, match="dac_bits=1"):  # the periphery as analog_mvm checks it
        analog_mvm_runs(src, np.zeros(_FUSED_MAX_BATCH + 1, int), 5, 2, 10, w, dac_bits=1, seed=0, counter=0)
