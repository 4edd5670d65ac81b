"""What simulate() returns: summary, tables, trace, energy, determinism and errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from archsim.compiler import compile_program
from archsim.engine import CycleLimitError, DeadlockError, SimulationError, chip_area, sampled_passes, simulate
from archsim.spec import load_hardware, load_workload

from engine_helpers import ONE_CONV, UNCONSTRAINED, program, settings

SUMMARY_KEYS = {"latency_cycles", "latency_s", "throughput_images_per_s", "acceleration", "energy_per_image_j",
                "bottleneck", "tops", "tops_per_w", "area_m2", "images", "fidelity",
                "energy_breakdown_per_image_j"}

RANDOM_CHAIN = """
schema_version: 1
name: random_chain
input: {shape: [4, 16, 16]}
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: relu1, op: relu}
  - {name: pool1, op: maxpool, kernel: 2}
  - {name: conv2, op: conv2d, out_channels: 32, kernel: 3, padding: 1}
  - {name: flatten, op: flatten}
  - {name: fc, op: linear, out_features: 10}
mapping:
  strategy: random
  replicas: {conv1: 4, conv2: 2}
"""


@pytest.fixture(scope="module")
def rapa():
    prog = compile_program(load_workload("rapa_convnet_32"), load_hardware("rpu"))
    return simulate(prog, settings(images=3))


def test_summary_has_the_documented_keys_and_is_json(rapa):
    summary = rapa.summary()
    assert SUMMARY_KEYS <= set(summary)
    json.dumps(summary)
    assert summary["latency_s"] == pytest.approx(summary["latency_cycles"] / 1e9)
    assert set(summary["acceleration"]) >= {"pipelined", "sequential", "closed_form"}
    assert summary["acceleration"]["closed_form"] == {"pipelined": 16.0, "sequential": pytest.approx(6.969, abs=1e-3)}
    assert summary["acceleration"]["pipelined"] > 5
    assert summary["energy_per_image_j"] > 0 and summary["tops"] > 0 and summary["tops_per_w"] > 0
    assert summary["bottleneck"] in {c.name for c in rapa.components}


def test_layer_and_component_rows(rapa):
    layers = rapa.layer_rows()
    assert [row["name"] for row in layers] == [p.name for p in compile_program(
        load_workload("rapa_convnet_32"), load_hardware("rpu")).layers]
    conv1 = layers[0]
    assert (conv1["replicas"], conv1["sequential_mvms"], conv1["mvms_per_image"]) == (16, 64, 1024)
    assert 0 <= conv1["start_cycle"] < conv1["end_cycle"] <= rapa.latency_cycles
    json.dumps(layers)
    rows = rapa.component_rows()
    assert len({tuple(row) for row in rows}) == 1                  # the same keys in every row
    kinds = {row["kind"] for row in rows}
    assert {"tile", "digital", "buffer", "link"} <= kinds
    for row in rows:
        assert row["busy_cycles"] + row["stalled_cycles"] + row["idle_cycles"] == rapa.cycles
        assert 0 <= row["utilisation"] <= 1
    tiles = [row for row in rows if row["kind"] == "tile" and row["layer"] == "conv1"]
    assert sum(row["mvms"] for row in tiles) == 3 * 1024
    assert all(row["adc_conversions"] == row["mvm_passes"] * 32 for row in tiles)
    json.dumps(rows)


def test_energy_is_counts_times_the_table_and_can_be_recomputed(rapa):
    table = rapa.energy_table
    tiles = [c for c in rapa.components if c.kind == "tile"]
    expected = sum(c.counts["mvm_passes"] * table.mvm + c.counts["dac_conversions"] * table.dac_conversion
                   + c.counts["adc_conversions"] * table.adc_conversion for c in tiles)
    assert rapa.energy()["tile"] == pytest.approx(expected)
    doubled = dataclasses.replace(table, **{f.name: 2 * getattr(table, f.name) for f in dataclasses.fields(table)})
    assert rapa.energy(doubled)["total"] == pytest.approx(2 * rapa.energy()["total"])
    assert rapa.energy_per_image_j() == pytest.approx(rapa.energy()["total"] / 3)
    assert rapa.summary()["tops_per_w"] == pytest.approx(rapa.ops_per_image / rapa.energy_per_image_j() / 1e12)


def test_area_is_the_sum_of_component_areas():
    hw = load_hardware("tiny")
    t, d, a, b = hw.tiles, hw.digital, hw.area, hw.buffers
    kib = (t.count * b.tile.capacity + d.count * b.digital.capacity + b.io.capacity) / 1024
    nodes = 1 + t.count + d.count                 # the I/O buffer, tiles and digital units
    expected = (t.count * (a.tile + t.adc.count * a.adc) + d.count * a.digital_unit + kib * a.buffer_per_kib
                + nodes * a.router)
    assert chip_area(hw) == pytest.approx(expected)
    assert (t.count, t.adc.count, d.count, kib) == (32, 16, 4, 32 * 16 + 4 * 64 + 1024)


def test_trace_is_chrome_trace_json_with_tracks_per_component(rapa):
    trace = rapa.trace()
    text = json.dumps(trace)
    assert json.loads(text)["displayTimeUnit"] == "ns"
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert any(n.startswith("tile") for n in names)
    assert any(n.startswith("du") for n in names)
    assert any(n.startswith("link(") for n in names)
    spans = [e for e in events if e["ph"] == "X"]
    assert spans and all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    assert {e["name"] for e in spans} >= {"conv1", "transfer"}


def test_same_seed_same_result(workload):
    prog = program(workload(RANDOM_CHAIN), hw_overrides=["digital.count=1"])
    a, b = (simulate(prog, settings(images=2), trace=False) for _ in range(2))
    for r in (a, b):
        object.__setattr__(r, "wall_s", 0.0)
    assert a.summary() == b.summary()
    assert a.layer_rows() == b.layer_rows() and a.component_rows() == b.component_rows()
    other = simulate(program(workload(RANDOM_CHAIN), hw_overrides=["digital.count=1"], seed=1), settings(images=2),
                     trace=False)
    assert other.done_cycles != a.done_cycles                     # a different random tiling


def test_a_too_small_line_buffer_deadlocks_and_says_who_waits(workload):
    wl = workload("""
        schema_version: 1
        name: random_pair
        input: {shape: [4, 16, 16]}
        layers:
          - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
          - {name: conv2, op: conv2d, out_channels: 128, kernel: 3, padding: 1}
        mapping: {strategy: random, replicas: {conv1: 4, conv2: 4}}
        """)
    # the line buffer for conv1's output holds 32 of its 256 positions; conv2's random
    # replicas need positions from all over the image before they can release any
    prog = program(wl, hw_overrides=UNCONSTRAINED + ["digital.count=1", "buffers.digital.capacity=1KiB"])
    with pytest.raises(DeadlockError) as info:
        simulate(prog, settings(), baseline=False)
    text = str(info.value)
    assert text.startswith("deadlock at cycle")
    assert "buffer space on du0 for the output of conv1" in text
    assert "inputs of conv2 patch" in text
    assert {name for name, _ in info.value.waiting} >= {"tile0", "tile1", "tile2", "tile3"}


def test_a_tile_buffer_that_cannot_hold_one_input_is_an_error(workload):
    prog = program(workload(ONE_CONV), hw_overrides=["buffers.tile.capacity=16B"])
    with pytest.raises(SimulationError, match="tile0.buffer: its 16 bytes cannot hold one 36-byte input vector"):
        simulate(prog, settings())


def test_sampled_passes_are_reproducible_and_cost_time(workload):
    prog = program(workload(ONE_CONV), hw_overrides=["tiles.noise.bound_management=iterative",
                                                     "tiles.noise.max_passes=6"])
    one = simulate(prog, settings(), baseline=False, trace=False)
    runs = [simulate(prog, settings(), passes=sampled_passes(seed=7, repeat_probability=0.3), baseline=False,
                     trace=False) for _ in range(2)]
    counts = [next(c for c in r.components if c.kind == "tile").counts["mvm_passes"] for r in runs]
    assert counts[0] == counts[1] > 256
    assert runs[0].latency_cycles == runs[1].latency_cycles > one.latency_cycles
    by_name = simulate(prog, settings(seed=7), passes="sampled", baseline=False, trace=False)
    assert next(c for c in by_name.components if c.kind == "tile").counts["mvm_passes"] > 256
    with pytest.raises(SimulationError, match="'sampled'"):
        simulate(prog, settings(), passes="often", baseline=False)


def test_cycle_limit_stops_a_long_run_and_says_what_is_unfinished(workload):
    prog = program(workload(ONE_CONV))
    with pytest.raises(CycleLimitError) as info:
        simulate(prog, settings(images=2), baseline=False, max_cycles=500)
    assert info.value.cycle <= 500
    assert str(info.value).startswith("cycle limit reached at cycle")
    assert "2 of 2 image(s) unfinished" in str(info.value)
