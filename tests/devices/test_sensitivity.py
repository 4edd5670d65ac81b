"""programming_sigma against the spread of real programmings (models.md section 4)."""

import numpy as np
import pytest

from archsim.devices import program_tile
from archsim.devices.sensitivity import programming_sigma, rectified_variance
from archsim.spec import load_hardware


@pytest.mark.parametrize("representation", ["differential", "bi_scale"])
def test_sigma_matches_monte_carlo(representation):
    tiles = load_hardware("standard_aimc", [f"tiles.mapping.representation={representation}",
                                            "tiles.noise.drift_compensation=none"]).tiles
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4)) * np.array([1.0, 0.1, 0.5, 0.02])
    tiles_ = [program_tile(w, tiles, np.random.default_rng(k)) for k in range(800)]
    draws = np.stack([t.weights_from(t.state.g_prog) for t in tiles_])  # as programmed: no drift, no read
    sigma = programming_sigma(w, tiles)
    measured = draws.std(axis=0)
    np.testing.assert_allclose(measured, sigma, rtol=0.1)  # std of a std over 800 draws: ~2.5 %


def test_rectified_variance():
    rng = np.random.default_rng(1)
    for mean, sigma in ((0.0, 1.0), (0.5, 1.0), (3.0, 0.5), (-1.0, 1.0)):
        x = np.maximum(mean + sigma * rng.standard_normal(400_000), 0)
        assert rectified_variance(mean, sigma) == pytest.approx(x.var(), rel=0.02)
    assert rectified_variance(0.3, 0.0) == 0.0


def test_ideal_devices_have_no_programming_noise():
    tiles = load_hardware("tiny").tiles
    assert not programming_sigma(np.ones((3, 3)), tiles).any()


def test_bi_scale_shrinks_the_noise_of_small_weights():
    base = load_hardware("standard_aimc")
    w = np.array([[1.0, 0.01], [0.5, 0.02]])
    diff = programming_sigma(w, base.tiles)
    bis = programming_sigma(w, load_hardware("standard_aimc", ["tiles.mapping.representation=bi_scale"]).tiles)
    assert bis[0, 1] < diff[0, 1]
