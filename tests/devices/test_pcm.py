"""PCM statistical model against the unit-test table of models.md section 4.

Sampling tolerances: with n = 200,000 devices per state, the relative standard error of
a sample standard deviation is 1/sqrt(2n) = 0.16 %, of a sample mean of nu about
sd/(mu sqrt(n)) < 0.1 %; the tests allow 1 % (over 6 standard errors), so they are
deterministic in practice (fixed seeds make them exactly reproducible anyway).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.devices import device_model, read_sigma
from archsim.devices.pcm import (PCMModel, drift_factor, drift_mu, drift_sd, folded_normal_moments,
                                 prog_sigma, read_q, read_time_factor)
from archsim.spec.devices import PCMDevice

N = 200_000
G_MAX = 25e-6
HOUR = 3600.0
YEAR = 365.25 * 86400.0

# x, sigma_prog (uS), mu_nu, sd_nu, Q_s -- models.md section 4
TABLE = [
    (0.10, 0.4482, 0.0601, 0.0229, 0.0393),
    (0.25, 0.6814, 0.0490, 0.0114, 0.0217),
    (0.50, 0.9527, 0.049, 0.008, 0.0138),
    (1.00, 1.0554, 0.049, 0.008, 0.0088),
]


@pytest.mark.parametrize("x, sig, mu, sd, q", TABLE)
def test_formulas_reproduce_the_table(x, sig, mu, sd, q):
    assert prog_sigma(x, G_MAX) / 1e-6 == pytest.approx(sig, abs=5e-5)
    assert drift_mu(x) == pytest.approx(mu, abs=5e-5)
    assert drift_sd(x) == pytest.approx(sd, abs=5e-5)
    assert read_q(x) == pytest.approx(q, abs=5e-5)


def test_time_factors():
    assert read_time_factor(HOUR) == pytest.approx(4.765, abs=5e-4)
    assert read_time_factor(YEAR) == pytest.approx(5.637, abs=5e-4)
    assert drift_factor(HOUR, 0.049) == pytest.approx(0.775, abs=5e-4)
    assert drift_factor(0.0, 0.08) == 1.0
    with pytest.raises(ValueError, match="finite number >= 0"):
        read_time_factor(-1.0)


def _program(x, spec=PCMDevice(), seed=0):
    model = PCMModel(spec)
    return model, model.program(np.full(N, x * spec.g_max), np.random.default_rng(seed))


@pytest.mark.parametrize("x, sig, mu, sd, q", TABLE)
def test_programming_noise_sigma(x, sig, mu, sd, q):
    _, state = _program(x)
    err = (state.g_prog - state.g_target) / 1e-6
    assert err.std() == pytest.approx(sig, rel=0.01)
    assert abs(err.mean()) < 5 * sig / math.sqrt(N)  # unbiased: the clip at 0 is > 5 sigma away


@pytest.mark.parametrize("x, sig, mu, sd, q", TABLE)
def test_drift_exponent_is_a_folded_normal_drawn_once(x, sig, mu, sd, q):
    model, state = _program(x)
    mean, spread = folded_normal_moments(float(drift_mu(x)), float(drift_sd(x)))
    assert np.all(state.nu >= 0)
    assert state.nu.mean() == pytest.approx(mean, rel=0.01)
    assert state.nu.std() == pytest.approx(spread, rel=0.01)
    # folding only matters at low x: there the mean exceeds mu_nu measurably
    assert mean == pytest.approx(mu, abs=2e-4 if x > 0.1 else 1e-3)
    # drawn once, at programming: reads use it and never redraw or change it
    nu = state.nu.copy()
    model.read(state, HOUR, np.random.default_rng(1))
    np.testing.assert_array_equal(state.nu, nu)
    np.testing.assert_allclose(model.conductance(state, HOUR), state.g_prog * drift_factor(HOUR, nu))


def test_mean_drift_factor_at_one_hour():
    model, state = _program(1.0)
    ratio = model.conductance(state, HOUR) / state.g_prog
    # E[181^-|0.049 + 0.008 N|] = 0.775 exp((0.008 ln 181)^2 / 2) = 0.7757 (folding negligible)
    expected = 0.775 * math.exp((0.008 * math.log(3620 / 20)) ** 2 / 2)
    assert ratio.mean() == pytest.approx(expected, rel=0.002)
    assert ratio.mean() == pytest.approx(0.775, abs=0.002)


@pytest.mark.parametrize("x", [0.10, 0.25, 0.50, 1.00])
@pytest.mark.parametrize("t, factor", [(HOUR, 4.765), (YEAR, 5.637)])
def test_read_noise_grows_with_time(x, t, factor):
    model, state = _program(x)
    mean = model.conductance(state, t)
    sigma = model.read_sigma(state, t)
    q = read_q(state.g_prog / G_MAX)
    np.testing.assert_allclose(sigma, mean * q * read_time_factor(t), rtol=1e-12)
    rel = (model.read(state, t, np.random.default_rng(7)) - mean) / sigma
    assert rel.std() == pytest.approx(1.0, rel=0.01)
    assert abs(rel.mean()) < 0.01
    # the relative sigma is Q_s at the programmed state times the time factor
    rel_sigma = np.median(sigma / mean)
    assert rel_sigma == pytest.approx(float(read_q(x)) * factor, rel=0.03)


def test_read_sigma_function_matches_the_model():
    model, state = _program(0.5)
    np.testing.assert_array_equal(read_sigma(PCMDevice(), state, HOUR), model.read_sigma(state, HOUR))


def test_scales_and_g_max():
    # g_max = 50 uS doubles the programming sigma (the fit is in units of g_max / 25 uS)
    assert prog_sigma(0.5, 50e-6) == pytest.approx(2 * prog_sigma(0.5, 25e-6))
    spec = PCMDevice(prog_noise_scale=0.5, read_noise_scale=2.0, drift_scale=0.0)
    model, state = _program(0.5, spec)
    assert (state.g_prog - state.g_target).std() / 1e-6 == pytest.approx(0.9527 / 2, rel=0.01)
    assert np.all(state.nu == 0)
    np.testing.assert_array_equal(model.conductance(state, YEAR), state.g_prog)
    ratio = model.read_sigma(state, HOUR) / (model.conductance(state, HOUR) * read_q(state.g_prog / G_MAX))
    assert np.allclose(ratio, 2 * read_time_factor(HOUR))


def test_zero_target_devices_get_half_normal_noise_and_fastest_drift():
    model, state = _program(0.0)
    assert np.all(state.g_prog >= 0)
    assert np.mean(state.g_prog == 0) == pytest.approx(0.5, abs=0.01)
    # mean of max(sigma N, 0) = sigma / sqrt(2 pi)
    assert state.g_prog.mean() / 1e-6 == pytest.approx(0.26348 / math.sqrt(2 * math.pi), rel=0.01)
    assert drift_mu(0.0) == 0.1 and drift_sd(0.0) == 0.045


def test_device_model_dispatch():
    assert isinstance(device_model(PCMDevice()), PCMModel)
    with pytest.raises(TypeError, match="no device model"):
        device_model(object())
