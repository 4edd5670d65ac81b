"""ProgrammedTile: determinism, read-noise sigma, drift compensation, and the error
reduction of the multi-device representations under PCM noise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from archsim.devices import ProgrammedTile, program_tile
from archsim.rng import Stream, generator
from archsim.spec.devices import (BiScale, BitSlicing, IdealDevice, PCMDevice, Representation, RRAMDevice,
                                  ScaleGranularity, WeightMapping)
from archsim.spec.hardware import DriftCompensation, Tiles

HOUR, DAY, YEAR = 3600.0, 86400.0, 365.25 * 86400.0


def _gauss(shape, seed=123):
    return np.random.default_rng(seed).standard_normal(shape)


def test_program_and_read_are_reproducible_and_pure():
    w = _gauss((40, 30))
    a = ProgrammedTile.program(w, device=PCMDevice(), rng=generator(7, Stream.PROGRAMMING, 0))
    b = ProgrammedTile.program(w, device=PCMDevice(), rng=generator(7, Stream.PROGRAMMING, 0))
    np.testing.assert_array_equal(a.state.g_prog, b.state.g_prog)
    np.testing.assert_array_equal(a.reference, b.reference)
    g_prog = a.state.g_prog.copy()
    r1 = a.effective_weights(HOUR, generator(7, Stream.READ, 0, 1))
    a.effective_weights(YEAR, generator(7, Stream.READ, 0, 2))
    r3 = a.effective_weights(HOUR, generator(7, Stream.READ, 0, 1))
    np.testing.assert_array_equal(r1, r3)  # a read depends only on (state, t, its generator)
    np.testing.assert_array_equal(a.state.g_prog, g_prog)  # reads never change the programmed state
    c = ProgrammedTile.program(w, device=PCMDevice(), rng=generator(8, Stream.PROGRAMMING, 0))
    assert not np.array_equal(a.state.g_prog, c.state.g_prog)


def test_program_tile_uses_the_tiles_spec():
    tiles = Tiles(count=1, rows=64, cols=64, integration_time=80e-9, device=RRAMDevice(levels=16),
                  mapping=WeightMapping(representation=Representation.HIC, scale=ScaleGranularity.PER_COLUMN))
    tile = program_tile(_gauss((8, 4)), tiles, np.random.default_rng(0))
    assert tile.compensation is DriftCompensation.GLOBAL
    assert tile.state.g_prog.shape == (2, 4, 8, 4)  # G+/G-, 3 binary + 1 multi-level pair
    with pytest.raises(ValueError, match="finite number >= 0"):
        tile.read(-1.0, np.random.default_rng(0))


def test_slice_sigma_is_the_spread_of_repeated_reads():
    # RRAM with g_min > 0: no device is near 0, so the clip at 0 never acts and the
    # spread of reads is exactly Gaussian; bi-scale exercises the slice gathering.
    mapping = WeightMapping(representation=Representation.BI_SCALE)
    device = RRAMDevice(g_min=20e-6, prog_noise=0.0, read_noise=0.05)
    tile = ProgrammedTile.program(_gauss((12, 5)), device=device, mapping=mapping, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    samples = np.stack([tile.read(HOUR, rng).slices(compensate=False).weights for _ in range(4000)])
    sigma = tile.slice_sigma(HOUR)
    assert sigma.shape == samples.shape[1:] == (2, 12, 5)
    off = sigma == 0  # weights not in that slice
    assert np.all(samples.std(axis=0)[off] == 0)
    np.testing.assert_allclose(samples.std(axis=0)[~off], sigma[~off], rtol=0.1)  # 4000 reads: 1.1 % s.e.
    mean = tile.mean_read(HOUR, np.random.default_rng(2)).slices(compensate=False).weights
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=4 * sigma.max() / np.sqrt(4000))


def test_pcm_slice_sigma_matches_the_device_formula():
    tile = ProgrammedTile.program(_gauss((16, 8)), device=PCMDevice(), rng=np.random.default_rng(0))
    s = tile.conductance_sigma(DAY)
    expected = np.sqrt(s[0] ** 2 + s[1] ** 2) / 25e-6
    np.testing.assert_allclose(tile.slice_sigma(DAY)[0], expected[0], rtol=1e-6)


# ---- drift compensation ----------------------------------------------------------

def _output_scale(w, x):
    return np.abs(x @ w).mean()


@pytest.mark.parametrize("rep", [Representation.DIFFERENTIAL, Representation.HIC])
def test_global_drift_compensation_restores_the_output_scale(rep):
    """Mean |x W(t)| relative to right after programming, 256 x 256 Gaussian W, PCM.

    Measured (seed-to-seed spread ~0.1 %):
        t        uncompensated   global-compensated (differential / hic)
        1 hour   0.776           1.011 / 1.001
        1 day    0.667           1.019 / 1.002
        1 year   0.506           1.034 / 1.005
    Tolerance 3 % up to a day, 5 % at a year: the measured residual plus a margin of
    more than 1 %, against a 22 to 49 % loss without compensation. The residual is the
    model's, not sampling noise: the readout mean |W| also counts the devices that
    should be at 0 (in a differential pair half of all devices sit there, with
    half-normal programming noise) and those drift fastest (mu_nu = 0.1 at x -> 0,
    0.049 for x >= 0.25), so the readout falls a little faster than the signal and the
    factor over-corrects by a few percent, growing with ln t. HIC keeps far fewer
    weight-carrying devices at low conductance, hence its smaller residual.
    """
    w, x = _gauss((256, 256)), _gauss((256, 256), seed=5)
    tile = ProgrammedTile.program(w, device=PCMDevice(), mapping=WeightMapping(representation=rep),
                                  rng=generator(0, Stream.PROGRAMMING))
    s0 = _output_scale(tile.read(0.0, generator(0, Stream.READ, 0)).compensated(), x)
    for i, (t, raw_expected, tol) in enumerate(((HOUR, 0.776, 0.03), (DAY, 0.667, 0.03), (YEAR, 0.506, 0.05))):
        r = tile.read(t, generator(0, Stream.READ, i + 1))
        raw = _output_scale(r.weights, x) / s0
        fixed = _output_scale(r.compensated(), x) / s0
        assert raw == pytest.approx(raw_expected, abs=0.01)
        assert abs(fixed - 1) < tol, (t, fixed)


def test_per_column_compensation_removes_column_dependent_drift():
    """Half the columns drift twice as fast (their drift exponents doubled by hand after
    programming: a controlled column-dependent drift). At one day, without compensation
    the two halves keep 67 % / 45 % of their output scale; one global factor leaves them
    about +-20 % off (worst column 24 %); per-column compensation brings the halves to
    1.012 / 1.025 and the worst column to 4.0 % (three seeds: 4.0 to 4.9 %). Asserted:
    halves within 3 %, every column within 6 %, global worse than 15 %. Per-column scale,
    so every column uses the full conductance range.

    Why not closer to 1: the same readout bias as in the global test (zero-target
    devices drift faster than the signal and inflate the factor; doubled here with the
    exponents), plus ~1 % column-to-column scatter from the read noise of two reads.
    Caveat measured with this PCM model (not asserted): with a per-matrix scale, columns
    of small weights sit at low conductance where the noise devices dominate the mean-|W|
    readout; per-column compensation then over-corrects them (+4 % at 1 h, +8 % at 1 day,
    +17 % at 1 year for columns 10x smaller than the largest).
    """
    w = _gauss((512, 32))
    x = _gauss((1024, 512), seed=9)
    fast = np.arange(32) >= 16
    worst = {}
    for mode in DriftCompensation:
        tile = ProgrammedTile.program(w, device=PCMDevice(), mapping=WeightMapping(scale=ScaleGranularity.PER_COLUMN),
                                      compensation=mode, rng=generator(1, Stream.PROGRAMMING))
        tile = dataclasses.replace(tile, state=dataclasses.replace(tile.state, nu=tile.state.nu * (1 + fast)))
        ref = np.abs(x @ tile.read(0.0, generator(1, Stream.READ, 0)).compensated()).mean(axis=0)
        now = np.abs(x @ tile.read(DAY, generator(1, Stream.READ, 1)).compensated()).mean(axis=0)
        worst[mode] = np.abs(now / ref - 1).max()
        if mode is DriftCompensation.PER_COLUMN:
            assert abs((now / ref)[~fast].mean() - 1) < 0.03 and abs((now / ref)[fast].mean() - 1) < 0.03
        if mode is DriftCompensation.NONE:
            assert (now / ref)[~fast].mean() == pytest.approx(0.67, abs=0.02)
            assert (now / ref)[fast].mean() == pytest.approx(0.45, abs=0.02)
    print(f"\nworst column |scale - 1| at one day: { {m.value: round(v, 3) for m, v in worst.items()} }")
    assert worst[DriftCompensation.PER_COLUMN] < 0.06
    assert worst[DriftCompensation.GLOBAL] > 0.15


def test_no_compensation_means_factor_one():
    tile = ProgrammedTile.program(_gauss((8, 8)), device=PCMDevice(), compensation=DriftCompensation.NONE,
                                  rng=np.random.default_rng(0))
    np.testing.assert_array_equal(tile.compensation_factor(YEAR, np.random.default_rng(1)), 1.0)
    r = tile.read(YEAR, np.random.default_rng(1))
    np.testing.assert_array_equal(r.compensated(), r.weights)


def test_ideal_device_needs_no_compensation():
    w = _gauss((8, 8))
    tile = ProgrammedTile.program(w, device=IdealDevice(), rng=np.random.default_rng(0))
    np.testing.assert_allclose(tile.compensation_factor(YEAR, np.random.default_rng(1)), 1.0)
    np.testing.assert_allclose(tile.effective_weights(YEAR, np.random.default_rng(1)), w)


# ---- error reduction of the representations ---------------------------------------

MEASURED = {  # relative RMS weight error at t = 0, 1 hour, 1 year (seeds of the test below)
    "differential":           (0.140, 0.157, 0.227),
    "bit_sliced 4 x base 4":  (0.087, 0.096, 0.135),
    "bit_sliced 2 x base 4":  (0.127, 0.134, 0.171),
    "hic 3 binary + 16":      (0.056, 0.066, 0.111),
    "bi_scale 2 x ratio 4":   (0.105, 0.119, 0.171),
    "bi_scale 4 x ratio 2":   (0.077, 0.091, 0.145),
}
# Largest error / differential error over five weight matrices and noise seeds, plus 0.05:
# the reduction each representation must at least achieve.
CEILING = {
    "bit_sliced 4 x base 4": (0.69, 0.68, 0.66),
    "bit_sliced 2 x base 4": (0.97, 0.92, 0.81),
    "hic 3 binary + 16": (0.46, 0.48, 0.55),
    "bi_scale 2 x ratio 4": (0.83, 0.83, 0.83),
    "bi_scale 4 x ratio 2": (0.63, 0.66, 0.72),
}
MAPPINGS = {
    "differential": WeightMapping(),
    "bit_sliced 4 x base 4": WeightMapping(representation=Representation.BIT_SLICED,
                                           bit_slicing=BitSlicing(slices=4, base=4)),
    "bit_sliced 2 x base 4": WeightMapping(representation=Representation.BIT_SLICED),
    "hic 3 binary + 16": WeightMapping(representation=Representation.HIC),
    "bi_scale 2 x ratio 4": WeightMapping(representation=Representation.BI_SCALE),
    "bi_scale 4 x ratio 2": WeightMapping(representation=Representation.BI_SCALE, bi_scale=BiScale(scales=4, ratio=2)),
}


def _rel_rms(a, w):
    return float(np.sqrt(((a - w) ** 2).sum() / (w ** 2).sum()))


def test_representations_reduce_the_pcm_weight_error():
    """Relative RMS weight error ||W_eff - W|| / ||W|| under the full PCM model
    (programming noise, drift, one read of 1/f noise, global drift compensation),
    256 x 256 Gaussian W, per-matrix scale.

    Measured (error / differential error in brackets):
        representation           t = 0          1 hour         1 year       quantisation alone
        differential             0.140          0.157          0.227        0
        bit_sliced 4 x base 4    0.087 (0.62)   0.096 (0.61)   0.135 (0.59) 0.005 (8-bit magnitude)
        bit_sliced 2 x base 4    0.127 (0.91)   0.134 (0.85)   0.171 (0.75) 0.091 (4-bit magnitude)
        hic 3 binary + 16 lev.   0.056 (0.40)   0.066 (0.42)   0.111 (0.49) 0.011
        bi_scale 2 x ratio 4     0.105 (0.75)   0.119 (0.76)   0.171 (0.75) 0
        bi_scale 4 x ratio 2     0.077 (0.55)   0.091 (0.58)   0.145 (0.64) 0
    Over five other matrices and seeds the ratios move by at most +-0.03 (CEILING).
    Why: the error is the device sigma times the device's significance. Small weights
    (most of a Gaussian matrix) sit at low conductance in a plain pair, where the
    programming sigma (0.26 to 0.6 uS) and Q_s are large relative to the value; slices,
    HIC's multi-level device and bi-scale's fine scales store them amplified, so their
    error shrinks by the significance factor. Bit-slicing's top slice still carries
    full-scale noise at coefficient 0.75 (digits 0..3), HIC's top bit at 0.5: HIC gains
    most. Two slices of base 4 are quantisation-limited. The gains shrink at long times
    because read noise is relative to the conductance and compensation cannot remove it.
    """
    w = _gauss((256, 256))
    got = {}
    for name, mapping in MAPPINGS.items():
        tile = ProgrammedTile.program(w, device=PCMDevice(), mapping=mapping, rng=generator(2, Stream.PROGRAMMING))
        got[name] = tuple(_rel_rms(tile.read(t, generator(2, Stream.READ, i)).compensated(), w)
                          for i, t in enumerate((0.0, HOUR, YEAR)))
    print("\nrelative RMS weight error (t = 0, 1 h, 1 y):")
    for name, errs in got.items():
        print(f"  {name:24s}" + "".join(f"  {e:.3f} ({e / g:.2f})" for e, g in zip(errs, got["differential"])))
    for name, errs in got.items():  # golden values: fixed seeds, so only a model change moves them
        np.testing.assert_allclose(errs, MEASURED[name], atol=0.002, err_msg=name)
    for name, ceiling in CEILING.items():
        ratios = [e / d for e, d in zip(got[name], got["differential"])]
        assert all(r < c for r, c in zip(ratios, ceiling)), (name, ratios)


def test_per_column_scale_reduces_the_error_of_uneven_columns():
    """Columns of different magnitude: per-column scaling uses each column's full
    conductance range. Measured 0.174 (per matrix) -> 0.114 (per column) at one hour."""
    w = _gauss((128, 64)) * np.geomspace(1.0, 0.1, 64)
    errs = {}
    for scale in ScaleGranularity:
        tile = ProgrammedTile.program(w, device=PCMDevice(), mapping=WeightMapping(scale=scale),
                                      rng=np.random.default_rng(1))
        errs[scale] = _rel_rms(tile.read(HOUR, np.random.default_rng(2)).compensated(), w)
    print(f"\nper-matrix {errs[ScaleGranularity.PER_MATRIX]:.3f} per-column {errs[ScaleGranularity.PER_COLUMN]:.3f}")
    assert errs[ScaleGranularity.PER_COLUMN] < 0.7 * errs[ScaleGranularity.PER_MATRIX]


def test_transposed_tile_mvm_is_the_backward_of_the_forward():
    """Noise-free periphery: d @ (W diag s).T, equal for the numba kernel and its numpy twin."""
    from archsim.devices.mvm import tile_mvm_transposed
    from archsim.devices.tile import AnalogSlices
    from archsim.spec import load_hardware
    tiles = load_hardware("tiny").tiles  # ideal converters, no noise
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)
    slices = AnalogSlices(weights=w, coeff=np.array([1.0, 0.25]), out_scale=np.array([0.5, 2.0, 1.0]))
    d = rng.standard_normal((4, 3)).astype(np.float32)
    expected = d @ slices.matrix().T
    for backend in ("numba", "numpy"):
        x, passes = tile_mvm_transposed(slices, d, tiles, seed=1, counter=0, backend=backend)
        np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
        assert (passes >= 1).all()


def test_slice_combination_shortcut_is_the_float64_sum_bit_for_bit():
    """One unscaled slice of coefficient 1 (a transposed MVM) skips the float64 sum but must
    equal it exactly, signed zeros included; scaled and weighted parts take the sum itself.
    (The shortcut overwrites its part: each case gets copies.)"""
    from archsim.devices.mvm import _combine
    rng = np.random.default_rng(0)
    y = rng.standard_normal((40, 6)).astype(np.float32)
    y[0, :3] = -0.0
    second = rng.standard_normal((40, 6)).astype(np.float32)
    cases = [([y], np.ones(1), np.ones(6)), ([y], np.ones(1), None), ([y], np.array([0.5]), np.full(6, 2.0)),
             ([y], np.ones(1), rng.uniform(0.5, 2, 6)), ([y], np.ones(1), np.float32(rng.uniform(0.5, 2, 6))),
             ([y, second], np.array([0.75, 0.25]), rng.uniform(0.5, 2, 6))]
    for parts, coeff, scale in cases:
        total = np.zeros(y.shape)
        for c, part in zip(coeff, parts):
            total += c * part
        expected = (total if scale is None else total * scale).astype(np.float32)
        assert _combine([p.copy() for p in parts], coeff, scale).tobytes() == expected.tobytes()
