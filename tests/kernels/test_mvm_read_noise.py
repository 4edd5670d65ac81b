"""Per-MVM device read noise of the analog MVM kernel (``read_sigma``).

Exactness against the numpy twin is part of the property tests in test_mvm.py
(their random cases draw dyadic sigmas); here: the statistics of the noise (an
exact Gaussian of variance (x''**2) @ sigma**2 in every analog pass), thread
independence, that zero sigma is the same as none, and the errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.kernels import (analog_mvm, analog_mvm_transposed, get_num_threads,
                             set_num_threads)
from archsim.kernels.mvm import _FUSED_MAX_BATCH




from archsim.kernels import reference as twins
F32 = np.float32
AIHWKIT = dict(dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0, out_noise=0.06,
               w_noise=0.0, noise_management="abs_max", nm_constant=1.0, max_passes=6,
               input_slices=1)
# ideal ADC that never clips, no other noise, one pass: the output is exactly
# scale * (sum_s c_s * (x''_s @ w + read noise of slice s))
QUIET = dict(AIHWKIT, adc_bits=0, adc_range=1e6, out_noise=0.0, max_passes=1)


def periphery(**kw):
    p = dict(AIHWKIT)
    p.update(kw)
    return p


def _dac_slices(x, p):
    """Per input vector: scale, and [(coef_s, x''_s)] from the twin's DAC."""
    out = []
    for xb in x:
        scale = F32(np.max(np.abs(xb)))
        inputs, _ = twins.dac(xb, scale, p["dac_bits"], p["dac_range"], p["input_slices"])
        coefs = [twins.slice_geometry(p["dac_bits"], p["dac_range"], p["input_slices"], s)[3]
                 for s in range(p["input_slices"])]
        out.append((float(scale), list(zip(coefs, inputs))))
    return out


def _moments(x, w, sigma, p, trans=False):
    """Exact mean and read-noise variance (float64) of each output."""
    wf, sf = (w.T, sigma.T) if trans else (w, sigma)
    wf, sf = wf.astype(np.float64), sf.astype(np.float64)
    mean, var = [], []
    for scale, parts in _dac_slices(x, p):
        mean.append(scale * sum(float(c) * (xs.astype(np.float64) @ wf) for c, xs in parts))
        var.append(scale**2 * sum(float(c) ** 2 * (xs.astype(np.float64) ** 2 @ sf**2)
                                  for c, xs in parts))
    return np.array(mean), np.array(var)


@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("batch, calls, slices", [(1, 3000, 1), (8, 400, 3), (1000, 3, 1),
                                                  (1000, 3, 2)])
def test_read_noise_is_gaussian_with_the_device_variance(trans, batch, calls, slices):
    """Repeated MVMs of fixed inputs: the outputs scatter around the noise-free
    product with exactly the variance sum_i x''_i**2 sigma_ij**2 (per slice
    pass, recombined with the slice weights), Gaussian, independent per draw."""
    rng = np.random.default_rng(batch + slices)
    n_in, n_out = 48, 24
    w = rng.uniform(-1, 1, size=(n_in, n_out)).astype(F32)
    sigma = rng.uniform(0.0, 0.1, size=(n_in, n_out)).astype(F32)
    sigma[:, 0] = 0.0  # a column without read noise
    x0 = rng.standard_normal((2, n_in)).astype(F32)
    p = dict(QUIET, input_slices=slices)
    mean, var = _moments(x0, w, sigma, p)
    x = np.repeat(x0, (batch + 1) // 2, axis=0)[:batch]  # each row is one of x0
    which = np.repeat([0, 1], (batch + 1) // 2)[:batch]
    if trans:
        mvm = analog_mvm_transposed  # weights and sigmas indexed [output, input]
        wk, sk = np.ascontiguousarray(w.T), np.ascontiguousarray(sigma.T)
    else:
        mvm, wk, sk = analog_mvm, w, sigma
    ys = np.concatenate([mvm(x, wk, read_sigma=sk, seed=3, counter=c, **p)[0]
                         for c in range(calls)])
    rows = np.tile(which, calls)
    dev = ys - mean[rows]
    # column 0: exactly the noise-free product (up to float32 rounding)
    assert np.all(np.abs(dev[:, 0]) <= 1e-5 * (1 + np.abs(mean[rows, 0])))
    u = dev[:, 1:] / np.sqrt(var[rows, 1:])  # standardised: N(0, 1) if the model holds
    n = u.shape[0]
    assert np.all(np.abs(u.mean(axis=0)) < 5 / math.sqrt(n))
    assert np.all(np.abs(u.var(axis=0) - 1) < 5 * math.sqrt(2 / n))
    # pooled: Gaussian shape (kurtosis 3) and independence between outputs
    v = u.ravel()
    assert abs(np.mean(v**4) - 3) < 5 * math.sqrt(24 / v.size)  # s.e. of the kurtosis
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 5 / math.sqrt(v.size)


def test_read_noise_adds_to_weight_and_output_noise():
    """Independent samples: the variances add."""
    rng = np.random.default_rng(1)
    w = rng.uniform(-1, 1, size=(32, 16)).astype(F32)
    sigma = np.full((32, 16), 0.05, dtype=F32)
    x = np.repeat(rng.standard_normal((1, 32)).astype(F32), 4000, axis=0)
    p = dict(QUIET, out_noise=0.04, w_noise=0.03)
    mean, var = _moments(x[:1], w, sigma, p)
    y, _ = analog_mvm(x, w, read_sigma=sigma, seed=2, counter=0, **p)
    scale = float(np.abs(x[0]).max())
    _, norms = twins.dac(x[0], F32(scale), 7, 1.0, 1)
    expected = var[0] + scale**2 * (0.04**2 + (0.03 * norms[0]) ** 2)
    assert np.all(np.abs((y - mean[0]).var(axis=0) / expected - 1) < 5 * math.sqrt(2 / 4000))


@pytest.mark.parametrize("batch", [1, 5, _FUSED_MAX_BATCH + 1, 300])
def test_zero_read_sigma_equals_no_read_sigma(batch):
    rng = np.random.default_rng(batch)
    w = rng.uniform(-1, 1, size=(40, 30)).astype(F32)
    x = rng.standard_normal((batch, 40)).astype(F32)
    p = periphery(adc_range=3.0, w_noise=0.02, max_passes=4, input_slices=2, seed=5,
                  counter=batch)
    zero = np.zeros_like(w)
    y0, p0 = analog_mvm(x, w, **p)
    y1, p1 = analog_mvm(x, w, read_sigma=zero, **p)
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_array_equal(p0, p1)
    assert p0.max() > 2  # bound management repeated some vectors
    d = x[:, :30]
    t0, q0 = analog_mvm_transposed(d, w, **p)
    t1, q1 = analog_mvm_transposed(d, w, read_sigma=zero, **p)
    np.testing.assert_array_equal(t0, t1)
    np.testing.assert_array_equal(q0, q1)
    # and a non-zero sigma does change the result
    y2, _ = analog_mvm(x, w, read_sigma=np.full_like(w, 0.01), **p)
    assert not np.array_equal(y0, y2)


def test_read_noise_does_not_depend_on_thread_count():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 96)).astype(F32)
    w = rng.uniform(-1, 1, size=(96, 80)).astype(F32)
    sigma = rng.uniform(0, 0.05, size=(96, 80)).astype(F32)
    p = periphery(adc_range=4.0, w_noise=0.01, max_passes=3, input_slices=2, seed=3, counter=8)
    before = get_num_threads()
    results = []
    try:
        for n in (1, 2):
            set_num_threads(n)
            results.append((analog_mvm(x, w, read_sigma=sigma, **p),
                            analog_mvm_transposed(x[:, :80], w, read_sigma=sigma, **p)))
    finally:
        set_num_threads(before)
    (y1, p1), (t1, q1) = results[0]
    (y2, p2), (t2, q2) = results[1]
    assert p1.max() > 2  # bound management was exercised
    for a, b in ((y1, y2), (p1, p2), (t1, t2), (q1, q2)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch", [_FUSED_MAX_BATCH, 20])
def test_slices_and_bound_management_match_the_twin(batch):
    """Saturating inputs, three input slices, dyadic data (exact products and
    variances): kernel and twin agree bit for bit on the fused and the BLAS
    path, every repeated pass and slice drawing its own read noise."""
    rng = np.random.default_rng(6)
    w = (rng.integers(-64, 65, size=(40, 24)) / 64.0).astype(F32)
    sigma = (rng.integers(0, 9, size=(40, 24)) / 64.0).astype(F32)
    x = rng.standard_normal((batch, 40)).astype(F32)
    p = periphery(dac_range=63 / 64, adc_range=2.0, max_passes=3, input_slices=3,
                  read_sigma=sigma, seed=9, counter=1)
    y, passes = analog_mvm(x, w, **p)
    y_twin, passes_twin = twins.analog_mvm_twin(x, w, **p)
    np.testing.assert_array_equal(passes, passes_twin)
    np.testing.assert_array_equal(y, y_twin)
    assert passes.max() > 3


def test_non_contiguous_read_sigma_is_accepted():
    rng = np.random.default_rng(7)
    w = rng.uniform(-1, 1, size=(16, 12)).astype(F32)
    sigma = rng.uniform(0, 0.1, size=(12, 16)).astype(F32).T  # F-ordered view
    x = rng.standard_normal((3, 16)).astype(F32)
    a = analog_mvm(x, w, read_sigma=sigma, seed=1, counter=1)
    b = analog_mvm(x, w, read_sigma=np.ascontiguousarray(sigma), seed=1, counter=1)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("batch", [2, _FUSED_MAX_BATCH + 2])
@pytest.mark.parametrize("sigma, exc, match", [
    (np.full((3, 4), 0.1, dtype=F32), ValueError, r"shape of w \(4, 3\)"),
    (np.full((4, 3), 0.1), TypeError, "read_sigma must be float32"),
    ([[0.1] * 3] * 4, TypeError, "read_sigma must be a numpy array"),
    (np.full((4, 3, 1), 0.1, dtype=F32), ValueError, "read_sigma must be 2-D"),
    (np.array([[0.1, -0.1, 0.1]] * 4, dtype=F32), ValueError, r"finite and >= 0.*\[0, 1\]"),
    (np.array([[0.1, 0.1, np.nan]] * 4, dtype=F32), ValueError, r"4 entries.*\[0, 2\] = nan"),
    (np.array([[0.1] * 3] * 3 + [[np.inf] * 3], dtype=F32), ValueError, r"\[3, 0\] = inf"),
])
def test_bad_read_sigma_raises(batch, sigma, exc, match):
    x = np.ones((batch, 4), dtype=F32)
    w = np.ones((4, 3), dtype=F32)
    with pytest.raises(exc, match=match):
        analog_mvm(x, w, read_sigma=sigma, seed=0, counter=0)
    if isinstance(sigma, np.ndarray) and sigma.shape == (4, 3) and sigma.dtype == F32:
        with pytest.raises(exc, match="finite and >= 0"):  # transposed: sigma indexed like w
            analog_mvm_transposed(np.ones((batch, 3), dtype=F32), w, read_sigma=sigma,
                                  seed=0, counter=0)
