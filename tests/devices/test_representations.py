"""Weight representations reconstruct every weight within their quantisation step (noise off).

Property tests (hypothesis) over random matrices, for every representation, both scale
granularities, continuous devices and devices with levels; plus the exact structure of
each encoding (digits, HIC bits, bi-scale scale choice, slices).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from archsim.devices import ProgrammedTile, decode, encode
from archsim.spec.devices import (HIC, BiScale, BitSlicing, IdealDevice, Representation, RRAMDevice,
                                  ScaleGranularity, WeightMapping)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
matrices = st.tuples(st.integers(1, 9), st.integers(1, 7)).flatmap(lambda s: arrays(np.float64, s, elements=finite))

mappings = st.one_of(
    st.builds(WeightMapping, representation=st.just(Representation.DIFFERENTIAL),
              scale=st.sampled_from(ScaleGranularity)),
    st.builds(WeightMapping, representation=st.just(Representation.BIT_SLICED),
              scale=st.sampled_from(ScaleGranularity),
              bit_slicing=st.builds(BitSlicing, slices=st.integers(1, 5),
                                    base=st.sampled_from([2.0, 3.0, 4.0, 8.0, 16.0, 2.5, 3.7]))),
    st.builds(WeightMapping, representation=st.just(Representation.HIC), scale=st.sampled_from(ScaleGranularity),
              hic=st.builds(HIC, binary_devices=st.integers(1, 6), ml_levels=st.integers(2, 33))),
    st.builds(WeightMapping, representation=st.just(Representation.BI_SCALE),
              scale=st.sampled_from(ScaleGranularity),
              bi_scale=st.builds(BiScale, scales=st.integers(1, 5), ratio=st.sampled_from([2.0, 3.0, 4.0, 10.0]),
                                 group_size=st.integers(1, 4))),
)


def _step(mapping: WeightMapping, levels: int) -> float:
    """The representation's quantisation step in normalised units (0 = continuous)."""
    rep = mapping.representation
    if rep is Representation.BIT_SLICED:
        b, s = mapping.bit_slicing.base, mapping.bit_slicing.slices
        d = np.ceil(b) - 1
        return 1.0 / (d * sum(b ** k for k in range(s)))
    if rep is Representation.HIC:
        return 2.0 ** -mapping.hic.binary_devices / (mapping.hic.ml_levels - 1)
    return 1.0 / (levels - 1) if levels >= 2 else 0.0


def _check(w, mapping, levels=0):
    enc = encode(w, mapping, levels=levels)
    k = mapping.cells_per_weight()
    assert enc.u.shape == (2, k) + w.shape
    assert np.all((enc.u >= 0) & (enc.u <= 1))
    assert np.all(np.minimum(enc.u[0], enc.u[1]) == 0)  # only the sign side is programmed
    scale = np.abs(w).max(axis=0) if mapping.scale is ScaleGranularity.PER_COLUMN else np.abs(w).max()
    scale = np.where(scale > 0, scale, 1.0) * np.ones(w.shape[1])
    np.testing.assert_allclose(enc.w_scale, scale)
    # the bound is the representation's half step (a whole step for non-integer bases)
    integer_base = mapping.representation is not Representation.BIT_SLICED or mapping.bit_slicing.base % 1 == 0
    assert np.all(enc.error_bound <= (0.5 if integer_base else 1.0) * _step(mapping, levels) * scale + 1e-15)
    err = np.abs(decode(enc) - w)
    assert np.all(err <= enc.error_bound + 1e-12 * scale), (err.max(), enc.error_bound.max())
    return enc


@settings(max_examples=150, deadline=None)
@given(w=matrices, mapping=mappings)
def test_continuous_devices_reconstruct_within_the_step(w, mapping):
    _check(w, mapping)


@settings(max_examples=100, deadline=None)
@given(w=matrices, mapping=mappings, mult=st.integers(1, 4))
def test_devices_with_levels_reconstruct_within_the_step(w, mapping, mult):
    rep = mapping.representation
    if rep is Representation.BIT_SLICED:
        levels = int(np.ceil(mapping.bit_slicing.base) - 1) * mult + 1
    elif rep is Representation.HIC:
        levels = (mapping.hic.ml_levels - 1) * mult + 1
    else:
        levels = 2 ** mult + 1
    _check(w, mapping, levels)


@settings(max_examples=50, deadline=None)
@given(w=matrices, mapping=mappings)
def test_noise_free_tile_returns_the_decoded_weights(w, mapping):
    tile = ProgrammedTile.program(w, device=IdealDevice(), mapping=mapping, rng=np.random.default_rng(0))
    r = tile.read(3600.0, np.random.default_rng(1))
    np.testing.assert_allclose(r.weights, decode(tile.encoding), atol=1e-12 * np.abs(w).max())
    np.testing.assert_allclose(r.slices().matrix(), r.compensated(), rtol=1e-5, atol=1e-6 * np.abs(w).max())


def test_rram_with_levels_and_no_noise_reconstructs_within_the_step():
    w = np.random.default_rng(0).standard_normal((50, 20))
    # 31 levels: 30 steps hold base-4 digits (3 steps), HIC 16-level devices (15) and a mantissa grid
    device = RRAMDevice(g_min=10e-6, levels=31, prog_noise=0.0, read_noise=0.0)
    for rep in Representation:
        mapping = WeightMapping(representation=rep)
        tile = ProgrammedTile.program(w, device=device, mapping=mapping, rng=np.random.default_rng(1))
        got = tile.effective_weights(0.0, np.random.default_rng(2), compensate=False)
        assert np.all(np.abs(got - w) <= tile.encoding.error_bound + 1e-12), rep


def test_incompatible_levels_are_refused():
    with pytest.raises(ValueError, match="multiple of 3"):
        encode(np.eye(3), WeightMapping(representation=Representation.BIT_SLICED), levels=8)
    with pytest.raises(ValueError, match=r"ml_levels - 1 must divide levels - 1 = 7 \(allowed ml_levels: 2, 8\)"):
        encode(np.eye(3), WeightMapping(representation=Representation.HIC), levels=8)
    with pytest.raises(ValueError, match="finite"):
        encode(np.array([[np.nan]]), WeightMapping())
    with pytest.raises(ValueError, match="2-D"):
        encode(np.ones(3), WeightMapping())


def test_differential_follows_models_md():
    # G+ = clip(w s, 0, g_max), G- = clip(-w s, 0, g_max), s = g_max / max|W|
    w = np.array([[0.5, -2.0], [0.0, 1.0]])
    enc = encode(w, WeightMapping())
    np.testing.assert_allclose(enc.u[0, 0], np.clip(w / 2, 0, 1))
    np.testing.assert_allclose(enc.u[1, 0], np.clip(-w / 2, 0, 1))
    enc = encode(w, WeightMapping(scale=ScaleGranularity.PER_COLUMN))
    np.testing.assert_allclose(enc.w_scale, [0.5, 2.0])
    np.testing.assert_allclose(enc.u[0, 0], [[1.0, 0.0], [0.0, 0.5]])


def test_bit_slicing_digits():
    # base 4, 2 slices: q = round(|v| 15) written in base 4; slice k weighted 4**-k
    w = np.array([[1.0, -7 / 15, 0.0, 2 / 15]])
    enc = encode(w, WeightMapping(representation=Representation.BIT_SLICED))
    np.testing.assert_allclose(enc.u[0, :, 0] - enc.u[1, :, 0], [[1, -1 / 3, 0, 0], [1, -1, 0, 2 / 3]])
    np.testing.assert_allclose(enc.slice_coeff, [12 / 15, 3 / 15])
    assert enc.slice_coeff[1] / enc.slice_coeff[0] == pytest.approx(1 / 4)
    np.testing.assert_allclose(decode(enc), w)


def test_hic_binary_high_bits_and_multilevel_low_part():
    # 3 binary devices, 16-level multi-level device: |v| = (b + u) / 8, u in 0, 1/15, ..., 1
    mapping = WeightMapping(representation=Representation.HIC)
    w = np.array([[1.0, 0.5 + 1 / 8 * 7 / 15, -1 / 8, 0.01]])
    enc = encode(w, mapping)
    d = enc.u[0, :, 0] - enc.u[1, :, 0]
    np.testing.assert_allclose(d[:3], [[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, -1, 0]])  # bits, MSB first
    np.testing.assert_allclose(d[3], [1, 7 / 15, 0, np.rint(0.08 * 15) / 15])
    assert set(np.unique(enc.u[:, :3])) <= {0.0, 1.0}
    np.testing.assert_allclose(enc.slice_coeff, [1 / 2, 1 / 4, 1 / 8, 1 / 8])


def test_bi_scale_picks_the_finest_scale_that_holds_the_group():
    mapping = WeightMapping(representation=Representation.BI_SCALE, bi_scale=BiScale(scales=3, ratio=4))
    w = np.array([[1.0], [0.25], [0.2], [0.0625], [0.01], [0.0], [-0.26]])
    enc = encode(w, mapping)
    np.testing.assert_array_equal(enc.slice_index[0, :, 0], [0, 1, 1, 2, 2, 2, 0])
    np.testing.assert_allclose(enc.u[0, 0, :, 0] - enc.u[1, 0, :, 0], [1, 1, 0.8, 1, 0.16, 0, -0.26])
    np.testing.assert_allclose(decode(enc), w)
    # groups of 2 rows share the scale of their largest member
    grouped = WeightMapping(representation=Representation.BI_SCALE, bi_scale=BiScale(scales=3, ratio=4, group_size=2))
    np.testing.assert_array_equal(encode(w, grouped).slice_index[0, :, 0], [0, 0, 1, 1, 2, 2, 0])
    # the periphery slices: slice e holds the weights at scale e
    sl = enc.slices(enc.u[0] - enc.u[1])
    assert sl.shape == (3, 7, 1)
    np.testing.assert_allclose(sl[1, :, 0], [0, 1, 0.8, 0, 0, 0, 0])
