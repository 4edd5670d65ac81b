"""Device-update models for in-situ training (archsim.devices.training).

Statistical assertions use fixed seeds and five-standard-error bounds from the model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.devices import decode, encode
from archsim.devices.training import (ALGORITHMS, HybridPCM, MixedPrecision, PulsedDevice, PulsedParameters,
                                      endurance_summary, program_state)
from archsim.kernels.reference import pulsed_update_twin
from archsim.spec.devices import HIC, IdealDevice, PCMDevice, Representation, Rounding, UpdateDevice, WeightMapping
from archsim.spec.hardware import DriftCompensation, Tiles

F32 = np.float32
QUIET = dict(dw_min_dtod=0.0, dw_min_ctoc=0.0, up_down=0.0, up_down_dtod=0.0, w_bound_dtod=0.0)


def pairs(rng, n, rows, cols, scale=0.1):
    return rng.random((n, rows)).astype(F32), (scale * rng.standard_normal((n, cols))).astype(F32)


# --------------------------------------------------------------------------
# Pulsed device (rpu).
def test_device_parameters_follow_the_spec():
    shape = (200, 100)
    p = PulsedParameters.draw(shape, UpdateDevice(**{**QUIET, "up_down": 0.2}), np.random.default_rng(0))
    np.testing.assert_allclose(p.dw_up, 0.001 * 1.2, rtol=1e-6)
    np.testing.assert_allclose(p.dw_down, 0.001 * 0.8, rtol=1e-6)
    np.testing.assert_allclose(p.w_max, 0.6, rtol=1e-6)
    np.testing.assert_allclose(p.w_min, -0.6, rtol=1e-6)
    p = PulsedParameters.draw(shape, UpdateDevice(), np.random.default_rng(0))
    n = p.dw_up.size
    gain = p.dw_up / 0.001  # |1 + 0.3 N| |1 + beta|, beta ~ N(0, 0.01)
    assert abs(gain.mean() - 1) < 5 * 0.3 / math.sqrt(n)
    assert abs(gain.std() - 0.3) < 0.02
    assert abs((p.w_max / 0.6).std() - 0.3) < 0.02 and np.all(p.w_min < 0)
    assert not p.dw_up.flags.writeable


def test_pulsed_device_applies_the_kernel_with_its_parameters():
    rng = np.random.default_rng(1)
    w0 = rng.uniform(-0.5, 0.5, (5, 4))
    spec = UpdateDevice()
    state = PulsedDevice.program(w0, spec, np.random.default_rng(2))
    p = state.params
    np.testing.assert_array_equal(state.weights(), np.clip(w0, p.w_min, p.w_max).astype(F32))
    x, d = pairs(rng, 6, 5, 4)
    before = state.weights().copy()
    state.apply(x, d, 0.1, counter=7)
    want_w, want_p = pulsed_update_twin(before, x, d, 0.1, spec.dw_min, spec.bl, spec.update_management, p.dw_up,
                                        p.dw_down, p.w_min, p.w_max, spec.dw_min_ctoc, state.seed, 7,
                                        np.zeros((5, 4), np.int64))
    np.testing.assert_array_equal(state.weights(), want_w)
    np.testing.assert_array_equal(state.pulses, want_p)
    assert state.pulses.sum() > 0 and state.cycles is state.pulses
    with pytest.raises(ValueError, match="read-only"):
        state.weights()[0, 0] = 1.0


def test_pulsed_device_expected_update_is_gradient_descent():
    """Mean change of every device over many updates (independent streams): -lr x^T d
    for noise-free steps dw_min; the per-device variance bound is the model's,
    sum_s dw^2 BL p_s (1 - p_s + ctoc^2) <= dw lr sum_s |x d| (1 + ctoc^2)."""
    rng = np.random.default_rng(3)
    x, d = rng.uniform(-1, 1, (3, 6)).astype(F32), rng.uniform(-1, 1, (3, 5)).astype(F32)
    spec = UpdateDevice(**{**QUIET, "dw_min_ctoc": 0.3, "w_bound": 100.0})
    state = PulsedDevice.program(np.zeros((6, 5)), spec, np.random.default_rng(4))
    lr, draws = 0.02, 1500
    changes = np.empty((draws, 6, 5))
    for k in range(draws):
        before = state.weights().astype(np.float64)
        state.apply(x, d, lr, counter=k)
        changes[k] = state.weights() - before
    exact = -lr * (x.T.astype(np.float64) @ d.astype(np.float64))
    var = spec.dw_min * lr * (np.abs(x.T.astype(np.float64)) @ np.abs(d.astype(np.float64))) * (1 + 0.09)
    assert np.all(np.abs(changes.mean(axis=0) - exact) < 5 * np.sqrt(var / draws) + 1e-6)


def test_asymmetry_moves_balanced_updates_in_one_direction():
    """Equal up and down gradients: no drift for a symmetric device, a drift of
    E[c] (dw_up - dw_down) per pair of samples for up_down = 0.5.

    Bound on the mean over the R x C devices: devices share their row's and their
    column's pulse trains, so Var(mean) <= var (R + C - 1) / (R C) (correlation <= 1
    for pairs sharing a line, 0 otherwise), var <= n (1.5 dw)^2 BL p (1 - p) per device."""
    rows, cols, n, bl, dw = 40, 40, 200, 31, 0.001
    x = np.ones((n, rows), F32)
    d = np.tile(np.array([[1.0], [-1.0]], F32), (n // 2, cols))  # alternately down and up
    lr = 0.004
    p = lr / (dw * bl)  # coincidence probability per slot (balanced: p_x = p_d = sqrt(p))
    sd = math.sqrt(n * (1.5 * dw) ** 2 * bl * p * (1 - p) * (rows + cols - 1) / (rows * cols))
    drift = {}
    for up_down in (0.0, 0.5):
        spec = UpdateDevice(**{**QUIET, "up_down": up_down, "w_bound": 100.0})
        state = PulsedDevice.program(np.zeros((rows, cols)), spec, np.random.default_rng(5))
        state.apply(x, d, lr, counter=1)
        drift[up_down] = float(state.weights().astype(np.float64).mean())
    assert abs(drift[0.0]) < 5 * sd
    expected = (n / 2) * bl * p * dw * ((1 + 0.5) - (1 - 0.5))
    assert abs(drift[0.5] - expected) < 5 * sd
    assert expected > 20 * sd


def test_bounds_of_the_pulsed_device():
    spec = UpdateDevice(w_bound=0.05)
    state = PulsedDevice.program(np.zeros((8, 8)), spec, np.random.default_rng(6))
    x = np.ones((50, 8), F32)
    state.apply(x, -np.ones((50, 8), F32), 1.0, counter=0)  # all up
    np.testing.assert_array_equal(state.weights(), state.params.w_max)


# --------------------------------------------------------------------------
# Mixed precision.
def test_mixed_precision_conserves_the_accumulated_update():
    rng = np.random.default_rng(7)
    w0 = rng.uniform(-0.2, 0.2, (6, 5))
    spec = UpdateDevice(**{**QUIET, "w_bound": 10.0})
    state = MixedPrecision.program(w0, spec, np.random.default_rng(8))
    total = np.zeros((6, 5))
    for step in range(20):
        x, d = pairs(rng, 8, 6, 5)
        state.apply(x, d, 0.05, counter=step)
        total -= 0.05 * (x.T.astype(np.float64) @ d.astype(np.float64))
    device_change = state.weights().astype(np.float64) - w0.astype(F32)
    assert np.all(np.abs(state.chi) < state.epsilon)
    # noise off: the device moved by whole steps epsilon = dw_min; float32 device values
    np.testing.assert_allclose(device_change + state.chi, total, atol=1e-6)
    assert np.abs(device_change + state.chi - total).max() < spec.dw_min
    net = np.rint(np.abs(device_change) / spec.dw_min).astype(np.int64)  # up pulses minus down pulses
    assert np.all(state.pulses >= net) and np.all((state.pulses - net) % 2 == 0) and net.sum() > 0


def test_mixed_precision_transfers_with_step_noise():
    """With c2c and d2d noise the accumulator still keeps exactly the untransferred part."""
    rng = np.random.default_rng(9)
    spec = UpdateDevice(mp_threshold=2.0)
    state = MixedPrecision.program(np.zeros((4, 4)), spec, np.random.default_rng(10))
    x, d = pairs(rng, 10, 4, 4)
    state.apply(x, d, 0.2, counter=0)
    total = -0.2 * (x.T.astype(np.float64) @ d.astype(np.float64))
    nominal = total - state.chi
    steps = nominal / spec.dw_min  # whole device steps, moved where |chi| reached the threshold 2 dw_min
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-4)  # float32 x^T d
    np.testing.assert_array_equal(state.pulses, np.rint(np.abs(steps)))
    below = np.abs(total) < state.epsilon  # never reached the threshold: not transferred
    assert np.all(state.pulses[below] == 0)
    assert np.any(below & (np.abs(total) >= spec.dw_min))  # although a whole step would have fit
    assert not np.allclose(state.weights(), nominal, atol=1e-5)  # the steps vary
    # each noise on its own: c2c alone makes the steps vary; with neither they are exact
    fixed = dict(mp_threshold=2.0, dw_min_dtod=0.0, up_down_dtod=0.0, w_bound_dtod=0.0)
    for ctoc in (0.3, 0.0):
        alone = MixedPrecision.program(np.zeros((4, 4)), UpdateDevice(**fixed, dw_min_ctoc=ctoc),
                                       np.random.default_rng(10))
        alone.apply(x, d, 0.2, counter=0)
        assert np.allclose(alone.weights(), total - alone.chi, atol=1e-6) == (ctoc == 0.0)


# --------------------------------------------------------------------------
# HIC.
HAND_SPEC = UpdateDevice(hic_accumulator_bits=2, hic_range=2.0, hic_rounding=Rounding.NEAREST)
HAND_HIC = HIC(binary_devices=2, ml_levels=4)


def test_hic_carries_and_write_counts_hand_worked():
    """n = 2 binary pairs, M = 4 levels (M1 = 3), L = 2 steps per level, lsb = 1."""
    state = HybridPCM.program(np.array([[6.0]]), HAND_SPEC, np.random.default_rng(0), hic=HAND_HIC,
                              device=IdealDevice())
    assert (state.lsb, state.acc_steps) == (1.0, 2)
    assert (state.big[0, 0], state.ml[0, 0]) == (2, 0)  # 6 = 2 * 3 + 0: binary 10, level 0
    steps = [
        # added steps, then B, m, accumulator, writes [[G+ MSB, G+ LSB, G+ ML], [G- ...]]
        (2, 2, 1, 0, [[0, 0, 1], [0, 0, 0]]),     # one level: the ML device is rewritten
        (4, 2, 3, 0, [[0, 0, 2], [0, 0, 0]]),     # two more: ML at its top level 3
        (2, 3, 1, 0, [[0, 1, 3], [0, 0, 0]]),     # ML saturates: carry, B = 11, m = 4 - 3 = 1
        (-3, 3, 0, -1, [[0, 1, 4], [0, 0, 0]]),   # -1.5 levels: one leaves, the accumulator keeps -1
        (-7, 2, -1, 0, [[0, 2, 4], [0, 0, 1]]),   # -4 levels: borrow, B = 10, m = -1 on the G- device
        (-2, 2, -2, 0, [[0, 2, 4], [0, 0, 2]]),
        (100, 3, 3, 0, [[0, 3, 5], [0, 0, 3]]),   # far beyond the range: saturates at Qmax = 12
    ]
    rng = np.random.default_rng(0)
    for r, big, ml, acc, writes in steps:
        state.add_steps(np.array([[r]]), rng)
        assert (state.big[0, 0], state.ml[0, 0], state.acc[0, 0]) == (big, ml, acc)
        assert state.cycles[:, :, 0, 0].tolist() == writes
        assert state.pulses[0, 0] == np.sum(writes)
        assert state.weights()[0, 0] == state.code()[0, 0] == big * 3 + ml
    assert state.code()[0, 0] == 12


@pytest.mark.parametrize("bits, n, levels", [(8, 3, 16), (4, 2, 5), (1, 4, 2)])
def test_hic_is_exact_integer_arithmetic_with_noise_off(bits, n, levels):
    rng = np.random.default_rng(bits + n)
    w0 = rng.uniform(-1, 1, (7, 5))
    spec = UpdateDevice(hic_accumulator_bits=bits, hic_rounding=Rounding.NEAREST, hic_range=3.0)
    state = HybridPCM.program(w0, spec, np.random.default_rng(1), hic=HIC(binary_devices=n, ml_levels=levels),
                              device=PCMDevice(prog_noise_scale=0.0))
    L, m1, qmax = state.acc_steps, levels - 1, (1 << n) * (levels - 1)
    fine = state.code() * L  # the weight in accumulator steps
    for _ in range(60):
        r = rng.integers(-3 * L * m1, 3 * L * m1 + 1, w0.shape)
        state.add_steps(r, rng)
        fine = np.clip(fine + r, -qmax * L - (L - 1), qmax * L + (L - 1))  # saturation only at the ends
        assert np.all(np.abs(state.acc) < L) and np.all(np.abs(state.ml) <= m1)
        assert np.all(np.abs(state.big) <= (1 << n) - 1)
        inside = np.abs(state.code()) < qmax
        np.testing.assert_array_equal((state.code() * L + state.acc)[inside], fine[inside])
        fine = np.where(inside, fine, state.code() * L + state.acc)
    np.testing.assert_allclose(state.weights(), state.target_weights(), rtol=1e-6, atol=1e-7 * state.lsb)


def test_hic_update_equals_the_exact_sum_within_one_lsb():
    rng = np.random.default_rng(11)
    w0 = rng.uniform(-0.5, 0.5, (6, 4))
    spec = UpdateDevice(hic_rounding=Rounding.NEAREST)
    state = HybridPCM.program(w0, spec, np.random.default_rng(2), device=IdealDevice())
    exact = state.target_weights().copy()
    for step in range(30):
        x, d = pairs(rng, 16, 6, 4, scale=0.05)
        state.apply(x, d, 0.1, counter=step)
        exact -= 0.1 * (x.T.astype(np.float64) @ d.astype(np.float64))
    assert np.abs(exact).max() < 0.9 * state.w_range  # no saturation in this case
    assert np.abs(state.target_weights() - exact).max() < state.lsb
    assert state.cycles.sum() > 0 and state.pulses.sum() == state.cycles.sum()


def test_hic_stochastic_rounding_is_unbiased():
    """Updates of a quarter accumulator step: nearest rounding loses them all, stochastic
    rounding keeps them on average."""
    shape = (50, 40)
    got = {}
    for rounding in Rounding:
        spec = UpdateDevice(hic_rounding=rounding, hic_accumulator_bits=4)
        state = HybridPCM.program(np.full(shape, 0.5), spec, np.random.default_rng(3), device=IdealDevice())
        step = state.lsb / state.acc_steps
        x = np.ones((1, shape[0]), F32)
        for k in range(40):  # -lr x^T d = quarter of a step, 40 times: 10 steps
            state.apply(x, np.full((1, shape[1]), -0.25 * step, F32), 1.0, counter=k)
        got[rounding] = (state.code() * state.acc_steps + state.acc - int(0.5 / step)).mean()
    assert got[Rounding.NEAREST] == 0
    assert abs(got[Rounding.STOCHASTIC] - 10) < 5 * math.sqrt(40 * 0.1875 / np.prod(shape)) + 0.05


def test_hic_programming_noise():
    rng = np.random.default_rng(12)
    w0 = rng.uniform(-1, 1, (30, 30))
    state = HybridPCM.program(w0, UpdateDevice(), np.random.default_rng(4))  # PCMDevice()
    err = state.weights() - state.target_weights()
    assert 0.005 * state.w_range < err.std() < 0.1 * state.w_range
    quiet = HybridPCM.program(w0, UpdateDevice(), np.random.default_rng(4), device=PCMDevice(prog_noise_scale=0))
    np.testing.assert_allclose(quiet.weights(), quiet.target_weights(), atol=1e-6)
    np.testing.assert_array_equal(quiet.code(), state.code())


def test_hic_encoding_is_the_inference_encoding():
    rng = np.random.default_rng(13)
    w0 = rng.normal(size=(9, 6))
    hic = HIC(binary_devices=3, ml_levels=16)
    state = HybridPCM.program(w0, UpdateDevice(hic_range=1.0), np.random.default_rng(5), hic=hic,
                              device=IdealDevice())
    enc = encode(w0, WeightMapping(representation=Representation.HIC, hic=hic))
    np.testing.assert_array_equal(state.encoding().u, enc.u)
    np.testing.assert_array_equal(state.encoding().slice_coeff, enc.slice_coeff)
    np.testing.assert_allclose(decode(state.encoding()), state.target_weights(), atol=1e-12)
    x, d = pairs(rng, 20, 9, 6, scale=0.3)
    state.apply(x, d, 0.5, counter=0)  # after training too, with signed multi-level digits
    np.testing.assert_allclose(decode(state.encoding()), state.target_weights(), atol=1e-12)


# --------------------------------------------------------------------------
# Shared API.
@pytest.mark.parametrize("cls", [PulsedDevice, MixedPrecision, HybridPCM])
def test_counters_key_the_updates(cls):
    rng = np.random.default_rng(14)
    w0 = rng.uniform(-0.3, 0.3, (5, 4))
    x, d = pairs(rng, 30, 5, 4, scale=0.5)
    states = [cls.program(w0, UpdateDevice(), np.random.default_rng(6)) for _ in range(3)]
    for state, counter in zip(states, (1, 1, 2)):
        state.apply(x, d, 0.2, counter)
    np.testing.assert_array_equal(states[0].weights(), states[1].weights())
    assert not np.array_equal(states[0].weights(), states[2].weights())
    with pytest.raises(ValueError, match=r"updated by x \(n, 5\) and d \(n, 4\)"):
        states[0].apply(x[:, :4], d, 0.1, 0)


@pytest.mark.parametrize("cls", [PulsedDevice, MixedPrecision, HybridPCM])
def test_trained_state_as_a_programmed_tile(cls):
    rng = np.random.default_rng(15)
    state = cls.program(rng.uniform(-0.3, 0.3, (6, 5)), UpdateDevice(), np.random.default_rng(7))
    state.apply(*pairs(rng, 20, 6, 5, scale=0.5), 0.2, 0)
    ideal = state.to_programmed_tile(IdealDevice(), DriftCompensation.NONE, np.random.default_rng(8))
    np.testing.assert_allclose(ideal.read(3600.0, np.random.default_rng(9)).weights, state.weights(), atol=1e-6)
    pcm = state.to_programmed_tile(PCMDevice(), DriftCompensation.GLOBAL, np.random.default_rng(8))
    year = pcm.read(365.25 * 86400, np.random.default_rng(9))
    assert np.abs(year.weights).mean() < np.abs(state.weights()).mean()  # drift lowers conductances
    assert np.corrcoef(year.compensated().ravel(), state.weights().ravel())[0, 1] > 0.9


def test_program_state_and_endurance_summary():
    tiles = Tiles(count=1, rows=8, cols=8, integration_time=1e-7,
                  mapping=WeightMapping(representation=Representation.HIC, hic=HIC(binary_devices=2, ml_levels=8)))
    w = np.random.default_rng(16).uniform(-0.3, 0.3, (4, 3))
    kinds = {a: type(program_state(a, w, tiles, np.random.default_rng(0))) for a in ALGORITHMS}
    assert kinds == {"rpu": PulsedDevice, "mixed-precision": MixedPrecision, "hic": HybridPCM}
    assert program_state("hic", w, tiles, np.random.default_rng(0)).hic.ml_levels == 8
    with pytest.raises(ValueError, match="unknown update algorithm 'sgd'"):
        program_state("sgd", w, tiles, np.random.default_rng(0))
    summary = endurance_summary(np.array([[0, 2], [4, 2]]), 1e8)
    assert summary == {"max": 4.0, "mean": 2.0, "max_fraction": 4e-8, "mean_fraction": 2e-8, "endurance": 1e8}


@pytest.mark.parametrize("cls", [PulsedDevice, MixedPrecision, HybridPCM])
def test_bad_update_arguments(cls):
    state = cls.program(np.zeros((3, 2)), UpdateDevice(), np.random.default_rng(0))
    before = state.weights().copy()
    x, d = np.ones((4, 3), F32), np.ones((4, 2), F32)
    with pytest.raises(ValueError, match="finite"):
        state.apply(np.full((4, 3), np.nan, F32), d, 0.1, 0)
    with pytest.raises(ValueError, match="lr must be finite and >= 0"):
        state.apply(x, d, -0.1, 0)
    with pytest.raises(ValueError, match="non-empty 2-D matrix"):
        cls.program(np.zeros(3), UpdateDevice(), np.random.default_rng(0))
    np.testing.assert_array_equal(state.weights(), before)  # nothing applied


def test_hic_programming_keeps_each_device_model_in_its_window():
    """hic programs through the device model: RRAM's programming cannot leave [g_min, g_max],
    PCM's only stops at 0 (and may overshoot g_max)."""
    from archsim.devices.training.hic import _program
    from archsim.spec.devices import RRAMDevice
    u = np.tile([0.0, 1.0], 2000).reshape(2, 2000)  # half at g_min, half at g_max
    rram = RRAMDevice(g_min=10e-6, g_max=100e-6, prog_noise=0.2)
    g = _program(u, rram, np.random.default_rng(0))
    assert g.min() == 10e-6 and g.max() == 100e-6  # noise pushed devices onto both bounds
    assert np.any((g > 10e-6) & (g < 100e-6))  # and others into the window: programmed with noise
    pcm = _program(u, PCMDevice(), np.random.default_rng(0))
    assert pcm.min() == 0.0 and pcm.max() > PCMDevice().g_max


def test_hic_refuses_multi_level_digits_between_device_levels():
    """On a device with L levels every digit m / (ml_levels - 1) must be a level; where it fits,
    every programmed target is one (noise off)."""
    from archsim.spec.devices import RRAMDevice
    w = np.random.default_rng(0).standard_normal((6, 5))
    with pytest.raises(ValueError, match=r"ml_levels - 1 must divide levels - 1 = 9"):
        HybridPCM.program(w, UpdateDevice(), np.random.default_rng(0), hic=HIC(ml_levels=16),
                          device=RRAMDevice(levels=10, prog_noise=0.0))
    rram = RRAMDevice(levels=10, prog_noise=0.0, g_min=10e-6, g_max=100e-6)
    state = HybridPCM.program(w, UpdateDevice(), np.random.default_rng(0), hic=HIC(ml_levels=4), device=rram)
    steps = (state.g - rram.g_min) / ((rram.g_max - rram.g_min) / 9)
    np.testing.assert_allclose(steps, np.rint(steps), atol=1e-9)
