"""Training-step timing against its closed form (archsim/engine/README.md, "Training step")."""

from __future__ import annotations

import dataclasses
import math

import pytest

from archsim.compiler import compile_program
from archsim.engine import (SimulationError, TimingResult, mvm_timing, simulate_training, single_replica,
                            training_closed_form)
from archsim.engine.models.train_tile import layer_timings
from archsim.spec import load_hardware, load_workload

from engine_helpers import UNCONSTRAINED, settings

IDEAL = UNCONSTRAINED + ["buffers.tile.read_bandwidth=100TB/s"]


def rows(result):
    return {row["name"]: row for row in result.layer_rows()}


def tiles_of(result, name):
    return [row for row in result.component_rows() if row["kind"] == "tile" and row["layer"] == name]


@pytest.fixture(scope="module")
def ideal_rapa32():
    return compile_program(load_workload("rapa_convnet_32"), load_hardware("rpu", IDEAL))


def test_operation_periods_are_the_documented_closed_forms(ideal_rapa32):
    hw = ideal_rapa32.hardware
    conv2 = ideal_rapa32.layer("conv2").analog           # 801 x 32 kernel matrix, bias row included
    fwd, bwd, upd = layer_timings(hw, conv2, 31)
    # forward: as inference; transposed: 32 inputs staged, 800 data rows / 256 ADCs x 5 ns converted
    assert fwd.period == mvm_timing(hw, 801, 32).period() == 80 + 5
    assert (bwd.staging, bwd.period) == (1, 80 + 4 * 5)
    # update: BL pulses of 1 ns, whatever the array size; staging hidden behind the pulses
    assert upd.period == 31 and upd.run_cycles(64) == 64 * 31 + 1
    assert layer_timings(hw, conv2, 10)[2].period == 10


def test_layer_after_layer_step_matches_the_closed_form(ideal_rapa32):
    result = simulate_training(ideal_rapa32, settings(), overlap_updates=False, baseline=False)
    closed = training_closed_form(ideal_rapa32, overlap_updates=False)
    table = rows(result)
    for plan in ideal_rapa32.analog_layers:
        name, a = plan.name, plan.analog
        n, p = a.replicas, a.patches
        fwd, bwd, upd = layer_timings(ideal_rapa32.hardware, a, 31)
        row, form = table[name], closed["layers"][name]
        assert form["forward_cycles"] == math.ceil(p / n) * fwd.period
        assert form["update_cycles"] == math.ceil(p / n) * 31          # BL x t_pulse (1 cycle)
        assert form["backward_cycles"] == (0 if name == "conv1" else math.ceil(p / n) * bwd.period)
        # each phase: ceil(P/n) back-to-back operations plus the fill; replicas fetching from one
        # buffer start about a cycle apart, and each replica updates after its own backward
        for phase, timing in (("forward", fwd), ("backward", bwd), ("update", upd)):
            expected = form[f"{phase}_cycles"] + (timing.latency - timing.period if form[f"{phase}_cycles"] else 0)
            assert 0 <= row[f"{phase}_cycles"] - expected <= (2 if phase == "forward" else 4) * n, (name, phase)
    assert not table["conv1"]["transposed"] and table["conv2"]["transposed"]       # no input gradient
    # layers one after another: the step is the sum of every layer's three phases
    assert closed["sequential_cycles"] == closed["critical_path_cycles"] == sum(
        v["forward_cycles"] + v["backward_cycles"] + v["update_cycles"] for v in closed["layers"].values())
    assert 0 < result.latency_cycles - closed["sequential_cycles"] <= 0.005 * closed["sequential_cycles"]


def test_updates_overlap_the_backward_pass_below(ideal_rapa32):
    result = simulate_training(ideal_rapa32, settings(), baseline=False)
    closed = training_closed_form(ideal_rapa32)
    layers = closed["layers"]
    # conv2 and conv3 update while the layers below run their backward pass: the critical
    # path drops their updates and fc's; conv1's update ends the step
    saved = layers["conv3"]["update_cycles"] + layers["conv2"]["update_cycles"] + layers["fc"]["update_cycles"]
    assert closed["critical_path_cycles"] == closed["sequential_cycles"] - saved
    assert 0 < result.latency_cycles - closed["critical_path_cycles"] <= 0.005 * closed["critical_path_cycles"]
    table = rows(result)
    assert table["conv2"]["update_start"] < table["conv1"]["update_start"] < table["conv2"]["update_end"]


def test_action_counts_and_update_pulse_energy(ideal_rapa32):
    result = simulate_training(ideal_rapa32, settings(images=2), baseline=False)
    for name, transposed in (("conv1", 0), ("conv2", 64), ("fc", 1)):
        for tile in tiles_of(result, name):
            per_replica = 64 if name != "fc" else 1
            assert tile["mvms"] == tile["updates"] == 2 * per_replica
            assert tile["transposed_mvms"] == 2 * transposed
            assert tile["update_pulses"] == 31 * tile["updates"]
    pulses = sum(t["update_pulses"] for t in result.component_rows())
    assert pulses == 2 * 31 * (1024 + 256 + 64 + 1)                 # one update per patch, BL pulses
    summary = result.summary()
    assert summary["update_pulses_per_image"] == pulses / 2
    no_pulses = dataclasses.replace(result.energy_table, update_pulse=0.0)
    saved = result.energy()["total"] - result.energy(no_pulses)["total"]
    assert saved == pytest.approx(pulses * result.energy_table.update_pulse, rel=1e-12)
    assert summary["update_energy_per_image_j"] == pytest.approx(saved / 2, rel=1e-12)


def test_bl_comes_from_the_spec_unless_given():
    hw = load_hardware("rpu", IDEAL + ["tiles.update.bl=10"])
    prog = compile_program(load_workload("rapa_convnet_28"), hw)
    assert training_closed_form(prog)["layers"]["conv3"]["t_update_cycles"] == 10
    result = simulate_training(prog, settings(), baseline=False)
    assert result.bl == 10 and rows(result)["conv3"]["t_update_cycles"] == 10
    # a BL given reaches the timing: BL pulses per update, BL cycles per update period
    twenty = simulate_training(prog, settings(), bl=20, baseline=False)
    assert rows(twenty)["conv3"]["t_update_cycles"] == 20
    for run, bl in ((result, 10), (twenty, 20)):
        tiles = [row for row in run.component_rows() if row["kind"] == "tile"]
        assert tiles and all(row["update_pulses"] == bl * row["updates"] > 0 for row in tiles)
    assert twenty.update_pulses_per_image == 2 * result.update_pulses_per_image


def _stage_ratios(closed: dict) -> dict[str, float]:
    return {name: v["baseline_stage_cycles"] / v["stage_cycles"] for name, v in closed["layers"].items()}


@pytest.mark.parametrize("workload, per_layer", [("rapa_convnet_32", 64), ("rapa_convnet_28", 49)])
def test_rapa_16_4_1_training_acceleration_is_consistent_with_inference(workload, per_layer):
    prog = compile_program(load_workload(workload), load_hardware("rpu"))
    inference = prog.acceleration()
    assert inference["pipelined"] == 16
    closed = training_closed_form(prog)
    assert {v["sequential_mvms"] for n, v in closed["layers"].items() if n != "fc"} == {per_layer}
    # each layer's stage shrinks exactly by its replica count, as its MVMs do in inference
    assert _stage_ratios(closed) == {"conv1": 16, "conv2": 4, "conv3": 1, "fc": 1}
    # but conv1 has no transposed MVM: its stage is lighter than conv2's and conv3's, so the
    # bottleneck moves from conv1 (one replica each) to conv2/conv3 (16/4/1)
    layers = closed["layers"]
    per_patch = {n: v["stage_cycles"] / v["sequential_mvms"] for n, v in layers.items()}
    assert closed["acceleration"]["pipelined"] == pytest.approx(16 * per_patch["conv1"] / per_patch["conv2"])
    result = simulate_training(prog, settings(images=16))
    assert result.acceleration.pipelined == pytest.approx(closed["acceleration"]["pipelined"], rel=0.03)
    assert result.bottleneck.kind == "tile" and result.bottleneck.info["layer"] in ("conv2", "conv3")
    assert result.interval_cycles == pytest.approx(closed["stage_cycles"], rel=0.03)
    # the latency ratio follows the closed form's critical paths (digital work and data
    # movement, the same with and without replicas, pull it below)
    single = single_replica(prog)
    one = training_closed_form(single)
    critical = closed["acceleration"]["critical_path"]
    assert critical == one["critical_path_cycles"] / closed["critical_path_cycles"]
    assert 0.85 * critical <= result.acceleration.sequential <= critical
    # the baseline is the same network simulated with one replica per layer, and the summary's
    # ratios are the step's latency and throughput against it; it reports the inference closed
    # form (16) beside the training one
    base = simulate_training(single, settings(images=16), baseline=False)
    summary = result.summary()
    acc = summary["acceleration"]
    assert acc["baseline_latency_cycles"] == base.latency_cycles
    assert acc["baseline_throughput_images_per_s"] == pytest.approx(base.throughput_images_per_s)
    assert acc["pipelined"] == pytest.approx(summary["throughput_images_per_s"] / base.throughput_images_per_s)
    assert acc["sequential"] == pytest.approx(base.latency_cycles / summary["latency_cycles"])
    assert summary["inference_acceleration_closed_form"]["pipelined"] == 16 != acc["closed_form"]["pipelined"]


def test_update_dominated_training_accelerates_like_inference():
    # with long update pulses every layer's per-patch cost is about the same, so the training
    # acceleration tends to the inference one (16), which the engine reproduces
    prog = compile_program(load_workload("rapa_convnet_28"), load_hardware("rpu", ["tiles.update_pulse_time=1us"]))
    closed = training_closed_form(prog)
    assert closed["acceleration"]["pipelined"] == pytest.approx(16, rel=0.01)
    result = simulate_training(prog, settings(images=10))
    assert result.acceleration.pipelined == pytest.approx(16, rel=0.02)


def test_one_image_in_flight_trains_one_step_after_another():
    prog = compile_program(load_workload("rapa_convnet_28", ["mapping.strategy=image"]), load_hardware("rpu"))
    one = simulate_training(prog, settings(images=4), window=1, baseline=False)
    assert set(one.latency_per_image_cycles) == {one.latency_cycles}
    assert one.interval_cycles == one.latency_cycles
    streamed = simulate_training(prog, settings(images=16), baseline=False)
    assert streamed.window == 4
    assert streamed.interval_cycles < 0.45 * one.interval_cycles       # images pipeline through the layers
    assert streamed.interval_cycles == pytest.approx(streamed.closed_form["stage_cycles"], rel=0.03)


def test_result_views_and_errors(ideal_rapa32):
    result = simulate_training(ideal_rapa32, settings(images=3), baseline=False, trace=True)
    assert isinstance(result, TimingResult)
    summary = result.summary()
    assert summary["mode"] == "training" and summary["latency_cycles"] == result.latency_cycles
    assert result.clock_hz == ideal_rapa32.hardware.clock == 1e9   # the spec's clock, 1 GHz
    assert summary["latency_s"] == pytest.approx(result.latency_cycles * 1e-9)
    assert len(summary["latency_per_image_cycles"]) == 3
    assert min(summary["latency_per_image_cycles"]) >= result.latency_cycles   # streamed steps wait
    # digital layers have a forward and a backward span per image, no update
    for layer in result.layers:
        if layer.kind == "digital":
            assert layer.update_start == -1 and set(layer.spans["update"]) == {(-1, -1)}
            assert all(0 <= s <= e for phase in ("forward", "backward") for s, e in layer.spans[phase])
    keys = {tuple(row) for row in result.layer_rows()}
    assert len(keys) == 1 and {"forward_cycles", "backward_cycles", "update_cycles"} <= set(next(iter(keys)))
    assert len({tuple(row) for row in result.component_rows()}) == 1
    labels = {event["name"] for event in result.trace()["traceEvents"] if event.get("ph") == "X"}
    assert {"conv2 forward", "conv2 backward", "conv2 update", "transfer"} <= labels
    with pytest.raises(SimulationError, match="exact fidelity"):
        simulate_training(ideal_rapa32, settings(fidelity="aggregated"))
    with pytest.raises(SimulationError, match="BL"):
        simulate_training(ideal_rapa32, settings(), bl=0)
