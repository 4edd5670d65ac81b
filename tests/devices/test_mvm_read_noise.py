"""Per-MVM read noise through `tile_mvm`: a PCM tile's outputs scatter with the variance
the device model predicts (independent 1/f read noise of every device in every MVM)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archsim.devices import ProgrammedTile
from archsim.devices.mvm import tile_mvm
from archsim.spec.devices import BiScale, PCMDevice, Representation, WeightMapping
from archsim.spec.hardware import (ADC, DAC, BoundManagement, NoiseManagement, TileNoise,
                                   Tiles)

HOUR = 3600.0


def _ideal_periphery_tiles(rows, cols, mapping):
    """Ideal, non-clipping converters, no output noise, one pass: the tile output is
    exactly out_scale * sum_p coeff_p * (x @ W_p + read noise of slice p)."""
    return Tiles(count=1, rows=rows, cols=cols, integration_time=80e-9, device=PCMDevice(),
                 mapping=mapping, dac=DAC(bits=0, range=1.0), adc=ADC(bits=0, range=1e6),
                 noise=TileNoise(out_noise=0.0, noise_management=NoiseManagement.NONE,
                                 bound_management=BoundManagement.NONE))


@pytest.mark.parametrize("mapping", [
    WeightMapping(),
    WeightMapping(representation=Representation.BIT_SLICED),
    WeightMapping(representation=Representation.BI_SCALE, bi_scale=BiScale(scales=3)),
], ids=["differential", "bit_sliced", "bi_scale"])
def test_pcm_tile_per_mvm_read_noise_has_the_device_variance(mapping):
    rows, cols, t = 32, 6, HOUR
    rng = np.random.default_rng(0)
    w = rng.standard_normal((rows, cols)) * np.linspace(0.2, 1.0, rows)[:, None]
    tiles = _ideal_periphery_tiles(rows, cols, mapping)
    tile = ProgrammedTile.program(w, device=tiles.device, mapping=mapping,
                                  compensation=tiles.noise.drift_compensation, rng=rng)
    read = tile.mean_read(t, np.random.default_rng(1))
    slices = read.slices()
    sigma = tile.slice_sigma(t)
    assert sigma.shape == slices.weights.shape

    # The prediction from the device model itself (not from slice_sigma): every device
    # of every pair independently N(0, read_sigma(t)^2) per read, so the compensated
    # effective weight w_ij = factor_j w_scale_j sum_k coeff_k (G+ - G-)_k / (g_max - g_min)
    # has variance factor^2 w_scale^2 sum_k coeff_k^2 (s+^2 + s-^2) / (g_max - g_min)^2.
    s = tile.conductance_sigma(t)
    m = tile.model
    var_pair = (s[0] ** 2 + s[1] ** 2) / (m.g_max - m.g_min) ** 2  # (K, R, C), normalised
    var_w = (read.factor * tile.encoding.w_scale) ** 2 * np.einsum(
        "krc,krc->rc", tile.encoding.coeff() ** 2, var_pair)
    x0 = rng.uniform(-1, 1, size=(2, rows)).astype(np.float32)  # within the DAC range
    predicted = x0.astype(np.float64) ** 2 @ var_w              # (2, C)
    mean = x0.astype(np.float64) @ read.compensated()           # noise-free output

    n = 2000
    x = np.repeat(x0, n, axis=0)
    ys = [tile_mvm(slices, x, tiles, seed=5, counter=c, read_sigma=sigma)[0] for c in range(2)]
    y = np.concatenate([yc.reshape(2, n, cols) for yc in ys], axis=1).astype(np.float64)
    draws = 2 * n
    dev = y - mean[:, None, :]
    assert np.all(np.abs(dev.mean(axis=1)) < 5 * np.sqrt(predicted / draws))
    np.testing.assert_allclose(dev.var(axis=1), predicted, rtol=5 * math.sqrt(2 / draws))
    # the read noise is a sizeable fraction of the signal at 1 hour (a meaningful test)
    assert np.median(np.sqrt(predicted) / np.abs(mean)) > 0.01


def test_without_read_sigma_the_mean_read_is_noise_free():
    rows, cols = 16, 4
    rng = np.random.default_rng(3)
    tiles = _ideal_periphery_tiles(rows, cols, WeightMapping())
    tile = ProgrammedTile.program(rng.standard_normal((rows, cols)), device=tiles.device, rng=rng)
    read = tile.mean_read(HOUR, np.random.default_rng(4))
    x = rng.uniform(-1, 1, size=(12, rows)).astype(np.float32)
    y, passes = tile_mvm(read.slices(), x, tiles, seed=1, counter=0)
    np.testing.assert_allclose(y, x.astype(np.float64) @ read.compensated(), rtol=1e-5, atol=1e-6)
    assert np.all(passes == 1)


def test_read_sigma_must_match_the_slices():
    tiles = _ideal_periphery_tiles(8, 3, WeightMapping())
    rng = np.random.default_rng(0)
    tile = ProgrammedTile.program(rng.standard_normal((8, 3)), device=tiles.device, rng=rng)
    slices = tile.mean_read(HOUR, rng).slices()
    x = np.ones((2, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape of the slice weights \(1, 8, 3\)"):
        tile_mvm(slices, x, tiles, seed=0, counter=0, read_sigma=tile.slice_sigma(HOUR)[0])
