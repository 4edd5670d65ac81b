"""hardware.tiles.update: the device-update parameters of in-situ training."""

from __future__ import annotations

import dataclasses

import pytest

from archsim.errors import SpecError
from archsim.spec import load_hardware, presets
from archsim.spec.devices import Rounding, UpdateDevice

RPU = presets("hardware")["rpu"].read_text()
ANCHOR = "  update_pulse_time: 1ns\n"


def with_update(write, block: str):
    assert ANCHOR in RPU
    return write("hw.yaml", RPU.replace(ANCHOR, ANCHOR + f"  update: {block}\n"))


def test_every_preset_gets_the_default_update_device():
    for name in presets("hardware"):
        assert load_hardware(name).tiles.update == UpdateDevice()


def test_defaults_are_the_published_device():
    u = UpdateDevice()
    assert (u.bl, u.dw_min, u.dw_min_dtod, u.dw_min_ctoc, u.w_bound, u.w_bound_dtod) == (31, 0.001, 0.3, 0.3, 0.6, 0.3)
    assert (u.up_down, u.up_down_dtod, u.update_management) == (0.0, 0.01, True)
    assert (u.endurance, u.mp_threshold, u.hic_accumulator_bits, u.hic_rounding) == (1e8, 1.0, 8,
                                                                                     Rounding.STOCHASTIC)
    for f in dataclasses.fields(UpdateDevice):
        assert f.metadata["doc"]


def test_update_block_and_overrides(write):
    path = with_update(write, "{bl: 10, dw_min: 0.002, up_down: -0.1, endurance: 1.0e+6, hic_rounding: nearest}")
    u = load_hardware(path).tiles.update
    assert (u.bl, u.dw_min, u.up_down, u.endurance, u.hic_rounding) == (10, 0.002, -0.1, 1e6, Rounding.NEAREST)
    assert load_hardware(path, ["tiles.update.up_down=0.3"]).tiles.update.up_down == 0.3


def test_update_problems_are_located_and_all_reported(write):
    path = with_update(write, "{bl: 0, up_down: 1.0, hic_rounding: stocastic, dw_mni: 1, hic_accumulator_bits: 30}")
    with pytest.raises(SpecError) as info:
        load_hardware(path)
    where = f"{path}:26: hardware.tiles.update"
    assert info.value.problems == [
        f"{where}.dw_mni is not a valid key (did you mean 'dw_min'?); valid keys are: bl, update_management, "
        "dw_min, dw_min_dtod, dw_min_ctoc, up_down, up_down_dtod, w_bound, w_bound_dtod, endurance, "
        "mp_threshold, hic_accumulator_bits, hic_rounding, hic_range",
        f"{where}.bl must be an integer from 1 to 64, not 0",
        f"{where}.up_down must be a number > -1 and < 1, not 1.0",
        f"{where}.hic_accumulator_bits must be an integer from 1 to 24, not 30",
        f"{where}.hic_rounding must be one of nearest, stochastic, not 'stocastic' (did you mean 'stochastic'?)",
    ]


def test_mixed_precision_threshold_below_one_step_is_refused():
    """A transfer moves whole device steps: a threshold below one dw_min would change nothing."""
    with pytest.raises(SpecError, match=r"mp_threshold must be a number >= 1, not 0.5"):
        load_hardware("rpu", ["tiles.update.mp_threshold=0.5"])
