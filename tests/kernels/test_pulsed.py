"""The stochastic pulse-coincidence update and pulse application against their numpy
twins (bit for bit), and the update's statistics against the model.

Statistical tests use fixed seeds and bounds of five standard errors computed from
the model's own variance, so a correct kernel passes them with certainty for these
seeds and a biased one (a wrong sign, scale or probability) fails by many errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.kernels import get_num_threads, set_num_threads
from archsim.kernels import pulsed as P
from archsim.kernels.pulsed import (PROB_BITS, SIDE_X, apply_pulses, probability_scales, pulsed_update,
                                    stream_normals, stream_words)
from archsim.kernels.reference import apply_pulses_twin, pulse_train_twin, pulsed_update_twin

F32 = np.float32


def case(rng, n, rows, cols, zeros=0.2, bound=0.6):
    x = rng.normal(size=(n, rows)).astype(F32)
    d = rng.normal(size=(n, cols)).astype(F32)
    x[rng.random(x.shape) < zeros] = 0
    d[rng.random(d.shape) < zeros] = 0
    if n > 1:
        x[1] = 0  # a sample without any input: no pulse
    dev = dict(dw_up=rng.uniform(0.005, 0.02, (rows, cols)).astype(F32),
               dw_down=rng.uniform(0.005, 0.02, (rows, cols)).astype(F32),
               w_min=-rng.uniform(0.5 * bound, bound, (rows, cols)).astype(F32),
               w_max=rng.uniform(0.5 * bound, bound, (rows, cols)).astype(F32))
    w = rng.uniform(-0.3 * bound, 0.3 * bound, (rows, cols)).astype(F32)
    return w, x, d, dev


def run_kernel(w, x, d, dev, lr, dw_min, bl, balance, ctoc, seed, counter, pulses=None):
    w = w.copy()
    pulses = np.zeros(w.shape, np.int64) if pulses is None else pulses.copy()
    pulsed_update(w, x, d, lr, dw_min, bl, balance, dev["dw_up"], dev["dw_down"], dev["w_min"], dev["w_max"],
                  ctoc, seed, counter, pulses)
    return w, pulses


def run_twin(w, x, d, dev, lr, dw_min, bl, balance, ctoc, seed, counter, pulses=None):
    pulses = np.zeros(w.shape, np.int64) if pulses is None else pulses
    return pulsed_update_twin(w, x, d, lr, dw_min, bl, balance, dev["dw_up"], dev["dw_down"], dev["w_min"],
                              dev["w_max"], ctoc, seed, counter, pulses)


# --------------------------------------------------------------------------
# Kernel == twin, bit for bit.
@pytest.mark.parametrize("n, rows, cols, bl, balance, lr, ctoc", [
    (6, 5, 4, 31, True, 0.3, 0.3),     # the default BL, update management, c2c noise
    (7, 3, 6, 10, False, 0.5, 0.0),    # 16-lane groups, x side first
    (5, 6, 2, 8, True, 0.2, 0.3),      # 8-lane groups, d side first
    (4, 4, 3, 1, True, 0.05, 0.3),     # one slot
    (5, 3, 3, 33, False, 0.4, 0.1),    # 64-lane words
    (3, 2, 3, 64, True, 0.3, 0.3),     # the widest train
    (6, 4, 4, 31, False, 40.0, 0.3),   # probabilities clipped at 1, devices driven into their bounds
])
@pytest.mark.parametrize("serial", [True, False])
def test_kernel_matches_twin(monkeypatch, n, rows, cols, bl, balance, lr, ctoc, serial):
    monkeypatch.setattr(P, "_SERIAL_WORK", 1 << 40 if serial else 0)
    rng = np.random.default_rng(n * 100 + bl)
    w, x, d, dev = case(rng, n, rows, cols)
    pulses0 = rng.integers(0, 5, w.shape).astype(np.int64)
    got = run_kernel(w, x, d, dev, lr, 0.01, bl, balance, ctoc, 11, 3, pulses0)
    want = run_twin(w, x, d, dev, lr, 0.01, bl, balance, ctoc, 11, 3, pulses0)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert (got[1] > pulses0).any()  # the case does pulse


def test_blocks_threads_and_paths_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(5)
    w, x, d, dev = case(rng, 300, 20, 12)
    args = (w, x, d, dev, 0.2, 0.01, 31, True, 0.3, 7, 9)
    reference = run_kernel(*args)
    threads = get_num_threads()
    try:
        for nthreads in {1, threads}:
            set_num_threads(nthreads)
            np.testing.assert_array_equal(run_kernel(*args)[0], reference[0])
    finally:
        set_num_threads(threads)
    monkeypatch.setattr(P, "_BLOCK_WORDS", 7 * 32)  # blocks of 7 samples
    got = run_kernel(*args)
    np.testing.assert_array_equal(got[0], reference[0])
    np.testing.assert_array_equal(got[1], reference[1])
    monkeypatch.setattr(P, "_SERIAL_WORK", 1 << 40)
    np.testing.assert_array_equal(run_kernel(*args)[0], reference[0])


def test_streams_differ_by_counter_and_repeat_by_counter():
    rng = np.random.default_rng(6)
    w, x, d, dev = case(rng, 40, 6, 5)
    a = run_kernel(w, x, d, dev, 0.3, 0.01, 31, True, 0.3, 1, 2)
    b = run_kernel(w, x, d, dev, 0.3, 0.01, 31, True, 0.3, 1, 2)
    c = run_kernel(w, x, d, dev, 0.3, 0.01, 31, True, 0.3, 1, 3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("ctoc", [0.0, 0.3])
def test_apply_pulses_matches_twin(ctoc):
    rng = np.random.default_rng(8)
    w, _, _, dev = case(rng, 1, 7, 5, bound=0.2)
    counts = rng.integers(-30, 31, w.shape).astype(np.int64)
    counts[0, 0] = 0
    got_w, got_p = w.copy(), np.zeros(w.shape, np.int64)
    apply_pulses(got_w, counts, dev["dw_up"], dev["dw_down"], dev["w_min"], dev["w_max"], ctoc, 4, 1, got_p)
    want_w, want_p = apply_pulses_twin(w, counts, dev["dw_up"], dev["dw_down"], dev["w_min"], dev["w_max"],
                                       ctoc, 4, 1, np.zeros(w.shape, np.int64))
    np.testing.assert_array_equal(got_w, want_w)
    np.testing.assert_array_equal(got_p, np.abs(counts))
    assert np.all((got_w >= dev["w_min"]) & (got_w <= dev["w_max"]))
    assert got_w[0, 0] == w[0, 0]


def test_apply_pulses_without_noise_is_count_times_step_until_the_bound():
    w = np.zeros((1, 3), F32)
    ones = np.ones((1, 3), F32)
    p = np.zeros((1, 3), np.int64)
    apply_pulses(w, np.array([[3, -2, 500]]), 0.25 * ones, 0.125 * ones, -ones, ones, 0.0, 1, 1, p)
    np.testing.assert_array_equal(w, [[0.75, -0.25, 1.0]])
    np.testing.assert_array_equal(p, [[3, 2, 500]])


# --------------------------------------------------------------------------
# The pulse trains: every slot fires with probability p.
@pytest.mark.parametrize("p", [0.003, 0.1, 0.5, 0.93])
def test_train_slots_fire_with_probability_p(p):
    trains = 300
    bl = 31
    fired = sum(int(pulse_train_twin(p, 3, 4, SIDE_X, t * 24, bl).sum()) for t in range(trains))
    n = trains * bl
    q = math.floor(p * 2 ** PROB_BITS) / 2 ** PROB_BITS
    assert abs(fired - n * q) < 5 * math.sqrt(n * q * (1 - q)) + 1


def test_train_extremes():
    assert not pulse_train_twin(0.0, 1, 1, SIDE_X, 0, 31).any()
    assert pulse_train_twin(1.0, 1, 1, SIDE_X, 0, 31).all()
    assert not pulse_train_twin(2.0 ** -49, 1, 1, SIDE_X, 0, 31).any()  # below the 2**-48 resolution
    # the kernel too: firing probabilities ~1e-31 quantise to 0, and no device is ever pulsed
    one = np.ones((3, 2), F32)
    dev = dict(dw_up=0.001 * one, dw_down=0.001 * one, w_min=-one, w_max=one)
    tiny = np.full((500, 3), 1e-30, F32), np.full((500, 2), -1e-30, F32)
    for balance in (True, False):
        w, pulses = run_kernel(np.zeros((3, 2), F32), *tiny, dev, 0.001, 0.001, 31, balance, 0.3, 1, 2)
        assert not pulses.any() and not w.any()


def test_stream_primitives():
    words = stream_words(1, 2, 0, [5, 0, 5])
    assert words.dtype == np.uint64 and words[0] == words[2] and words[0] != words[1]
    assert stream_words(1, 2, 1, [5])[0] != words[0]  # sides are independent streams
    z = stream_normals(1, 2, 2, np.arange(20000))
    assert abs(z.mean()) < 5 / math.sqrt(20000) and abs(z.var() - 1) < 5 * math.sqrt(2 / 20000)


# --------------------------------------------------------------------------
# Statistics of the update (noise-free device parameters, no bounds reached).
def model_moments(x, d, lr, dw_min, bl, balance, step, ctoc):
    """Per-device mean and variance of one call's total change (module docstring)."""
    a, b = probability_scales(x, d, lr, dw_min, bl, balance)
    px = np.minimum(np.abs(a[:, None] * x.astype(np.float64)), 1.0)
    pd = np.minimum(np.abs(b[:, None] * d.astype(np.float64)), 1.0)
    p = px[:, :, None] * pd[:, None, :]                       # (n, R, C)
    sign = -np.sign(x.astype(np.float64))[:, :, None] * np.sign(d.astype(np.float64))[:, None, :]
    mean = (sign * step * bl * p).sum(axis=0)
    var = (step ** 2 * bl * p * (1 - p + ctoc ** 2)).sum(axis=0)
    return mean, var


@pytest.mark.parametrize("balance", [True, False])
def test_expected_update_is_minus_lr_x_d_and_variance_matches(balance):
    rng = np.random.default_rng(12)
    n, rows, cols = 4, 3, 4
    x = rng.uniform(-1, 1, (n, rows)).astype(F32)
    d = rng.uniform(-1, 1, (n, cols)).astype(F32)
    lr, dw, bl, ctoc = 0.02, 0.001, 31, 0.3
    ones = np.ones((rows, cols), F32)
    dev = dict(dw_up=dw * ones, dw_down=dw * ones, w_min=-1e6 * ones, w_max=1e6 * ones)
    draws = 3000
    changes = np.empty((draws, rows, cols))
    for k in range(draws):
        changes[k] = run_kernel(np.zeros((rows, cols), F32), x, d, dev, lr, dw, bl, balance, ctoc, 21, k)[0]
    mean, var = model_moments(x, d, lr, dw, bl, balance, np.float32(dw), ctoc)
    exact = -lr * (x.T.astype(np.float64) @ d.astype(np.float64))
    np.testing.assert_allclose(mean, exact * np.float32(dw) / dw, rtol=1e-6)  # no clipping in this case
    m = changes.mean(axis=0)
    assert np.all(np.abs(m - exact) < 5 * np.sqrt(var / draws))
    v = changes.var(axis=0, ddof=1)
    m4 = ((changes - m) ** 4).mean(axis=0)
    assert np.all(np.abs(v - var) < 5 * np.sqrt((m4 - v ** 2) / draws))


def test_coincidences_per_slot_are_binomial():
    """One device, x = d = 1, balanced: each of the BL slots fires w.p. p = lr / (dw BL)."""
    lr, dw, bl = 0.0124, 0.001, 31  # p = 0.4
    one = np.ones((1, 1), F32)
    dev = dict(dw_up=dw * one, dw_down=dw * one, w_min=-one, w_max=one)
    counts = np.array([run_kernel(np.zeros((1, 1), F32), one, one, dev, lr, dw, bl, True, 0.0, 3, k)[1][0, 0]
                       for k in range(4000)])
    p = lr / (dw * bl)
    mean, var, n = bl * p, bl * p * (1 - p), len(counts)
    assert abs(counts.mean() - mean) < 5 * math.sqrt(var / n)
    m4 = var * (1 + 3 * (bl - 2) * p * (1 - p))  # binomial fourth central moment
    assert abs(counts.var(ddof=1) - var) < 5 * math.sqrt((m4 - var ** 2) / n)
    observed = np.bincount(counts, minlength=bl + 1)
    pmf = np.array([math.comb(bl, k) * p ** k * (1 - p) ** (bl - k) for k in range(bl + 1)])
    assert np.all(np.abs(observed - n * pmf) < 5 * np.sqrt(n * pmf * (1 - pmf)) + 1)


def test_up_and_down_steps_follow_the_device():
    """Asymmetric device: pulses up move dw_up, down dw_down; the mean change is E[c] dw."""
    lr, dw, bl = 0.0124, 0.001, 31
    one = np.ones((1, 2), F32)
    dev = dict(dw_up=2 * dw * one, dw_down=0.5 * dw * one, w_min=-one, w_max=one)
    x = np.ones((1, 1), F32)
    d = np.array([[-1.0, 1.0]], F32)  # column 0 goes up, column 1 down
    for k in range(50):
        w, p = run_kernel(np.zeros((1, 2), F32), x, d, dev, lr, dw, bl, True, 0.0, 8, k)
        np.testing.assert_allclose(w[0], [p[0, 0] * 2 * dw, -p[0, 1] * 0.5 * dw], rtol=1e-6)


def test_bounds_hold_and_saturate():
    rng = np.random.default_rng(3)
    w, x, d, dev = case(rng, 200, 5, 4, zeros=0.0, bound=0.05)
    got, pulses = run_kernel(w, x, d, dev, 5.0, 0.01, 31, True, 0.3, 2, 2)
    assert np.all((got >= dev["w_min"]) & (got <= dev["w_max"]))
    assert np.any(got == dev["w_max"]) and np.any(got == dev["w_min"])
    # all pulses in one direction on a device at its bound leave it there
    w = dev["w_max"].copy()
    x1 = np.ones((20, 5), F32)
    d1 = -np.ones((20, 4), F32)
    np.testing.assert_array_equal(run_kernel(w, x1, d1, dev, 1.0, 0.01, 31, True, 0.0, 2, 3)[0], dev["w_max"])


def test_zero_learning_rate_or_zero_inputs_do_nothing():
    rng = np.random.default_rng(4)
    w, x, d, dev = case(rng, 10, 4, 3)
    for args in ((x, d, 0.0), (np.zeros_like(x), d, 0.5), (x, np.zeros_like(d), 0.5), (x[:0], d[:0], 0.5)):
        got, pulses = run_kernel(w, args[0], args[1], dev, args[2], 0.01, 31, True, 0.3, 1, 1)
        np.testing.assert_array_equal(got, w)
        assert not pulses.any()


# --------------------------------------------------------------------------
# Argument checks.
def test_argument_errors():
    rng = np.random.default_rng(0)
    w, x, d, dev = case(rng, 3, 4, 2)
    p = np.zeros(w.shape, np.int64)
    base = dict(w=w, x=x, d=d, lr=0.1, dw_min=0.01, bl=31, balance=True, **dev, ctoc=0.3, seed=1, counter=1,
                pulses=p)

    def call(**kw):
        pulsed_update(**{**base, **kw})

    with pytest.raises(ValueError, match="shape mismatch"):
        call(x=x[:, :3].copy())
    with pytest.raises(TypeError, match="x must be float32"):
        call(x=x.astype(np.float64))
    with pytest.raises(ValueError, match="bl must be in"):
        call(bl=65)
    with pytest.raises(ValueError, match="x must be finite"):
        bad = x.copy()
        bad[0, 0] = np.nan
        call(x=bad)
    with pytest.raises(ValueError, match="dw_up must be finite and >= 0"):
        call(dw_up=-dev["dw_up"])
    with pytest.raises(ValueError, match="lr must be finite and >= 0"):
        call(lr=-1.0)
    with pytest.raises(ValueError, match="pulses is updated in place"):
        call(pulses=np.zeros(w.shape[::-1], np.int64).T)
    with pytest.raises(ValueError, match="seed must be in"):
        call(seed=-1)
