"""The engine against closed forms: timing that emerges must match it where it should."""

from __future__ import annotations

import math

import pytest

from archsim.compiler import compile_program
from archsim.engine import mvm_timing, simulate
from archsim.spec import load_hardware, load_workload

from engine_helpers import ONE_CONV, UNCONSTRAINED, program, settings

TWO_CONVS = """
schema_version: 1
name: two_convs
input: {shape: [4, 16, 16]}
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - {name: conv2, op: conv2d, out_channels: 128, kernel: 3, padding: 1}
mapping:
  strategy: none
"""


def layer(result, name):
    return next(row for row in result.layer_rows() if row["name"] == name)


def tiles_of(result, name):
    return [row for row in result.component_rows() if row["kind"] == "tile" and row["layer"] == name]


def test_mvm_timing_is_the_documented_closed_form():
    hw = load_hardware("tiny")
    t = mvm_timing(hw, rows=128, cols=128)
    # 128 bytes at 64 B/cycle, 10 ns integration, 128 columns / 16 ADCs x 1 ns
    assert (t.staging, t.integration, t.conversion) == (2, 10, 8)
    assert t.latency() == 20 and t.period() == 18             # staging overlaps the conversion
    assert t.latency(3) == 2 + 3 * 18 and t.period(3) == t.latency(3) - 2
    assert t.run_cycles(5) == 5 * 18 + 2
    single = mvm_timing(load_hardware("tiny", ["tiles.double_buffered=false"]), rows=128, cols=128)
    assert single.period() == single.latency() == 20


def test_one_layer_on_one_tile_is_p_times_t_mvm_plus_fill_and_drain(workload):
    prog = program(workload(ONE_CONV), hw_overrides=UNCONSTRAINED)
    analog = prog.layers[0].analog
    timing = mvm_timing(prog.hardware, analog.blocks[0].rows, analog.blocks[0].cols)
    result = simulate(prog, settings(), baseline=False)
    conv = layer(result, "conv1")
    assert analog.patches == 256
    assert conv["end_cycle"] - conv["start_cycle"] == timing.run_cycles(256) == 256 * timing.period() + 1
    fill_and_drain = result.latency_cycles - timing.run_cycles(256)
    assert 0 < fill_and_drain <= 10
    assert tiles_of(result, "conv1")[0]["busy_cycles"] == timing.run_cycles(256)


@pytest.mark.parametrize("strategy", ["image", "random", "alternate"])
@pytest.mark.parametrize("replicas", [4, 8])
def test_n_replicas_take_ceil_p_over_n_mvm_times(workload, strategy, replicas):
    wl = workload(ONE_CONV, [f"mapping.strategy={strategy}", f"mapping.replicas={{conv1: {replicas}}}"])
    prog = program(wl, hw_overrides=UNCONSTRAINED)
    analog = prog.layers[0].analog
    timing = mvm_timing(prog.hardware, analog.blocks[0].rows, analog.blocks[0].cols)
    per_replica = math.ceil(256 / replicas)
    assert analog.sequential_mvms == per_replica
    one = simulate(prog, settings(), baseline=False)
    busy = [row["busy_cycles"] for row in tiles_of(one, "conv1")]
    assert busy == [timing.run_cycles(per_replica)] * replicas       # every replica back to back
    conv = layer(one, "conv1")
    # the replicas start one after another: the input buffer serves one transfer per cycle
    assert 0 <= conv["end_cycle"] - conv["start_cycle"] - timing.run_cycles(per_replica) <= 2 * replicas
    stream = simulate(prog, settings(images=4), baseline=False)
    # per image, a layer waits for its last replica before it starts the next (<= 1 cycle each)
    assert 0 <= stream.interval_cycles - per_replica * timing.period() <= replicas


def test_rapa_convnet_16_4_1_accelerates_16x_when_nothing_else_limits():
    hw = load_hardware("rpu", UNCONSTRAINED + ["buffers.tile.read_bandwidth=100TB/s"])
    prog = compile_program(load_workload("rapa_convnet_32"), hw)
    assert prog.acceleration()["pipelined"] == 16
    result = simulate(prog, settings(images=10), trace=False)
    assert result.acceleration.closed_form["pipelined"] == 16
    assert result.acceleration.pipelined == pytest.approx(16, rel=0.01)
    assert {t["t_mvm_cycles"] for t in result.layer_rows() if t["kind"] == "analog"} == {85}
    assert result.bottleneck.kind == "tile"


BN_RELU = """
schema_version: 1
name: conv_bn_relu
input: {shape: [4, 16, 16]}
layers:
  - {name: conv1, op: conv2d, out_channels: 16, kernel: 3, padding: 1, bias: false}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: relu}
mapping:
  strategy: none
"""


def test_digital_unit_bottleneck_gives_the_amdahl_throughput(workload):
    prog = program(workload(BN_RELU), hw_overrides=UNCONSTRAINED + ["digital.count=1", "digital.ops_per_cycle=2"])
    analog = prog.layers[0].analog
    timing = mvm_timing(prog.hardware, analog.blocks[0].rows, analog.blocks[0].cols)
    ops = sum(p.digital_ops for p in prog.layers) // 256        # batchnorm 2 x 16 + relu 16 per position
    assert ops == 48
    tiles, digital = 256 * timing.period(), 256 * math.ceil(ops / 2)
    assert digital > tiles
    result = simulate(prog, settings(images=4), baseline=False)
    assert result.interval_cycles == pytest.approx(max(tiles, digital), rel=0.01)
    assert result.bottleneck.name == "du0" and result.bottleneck.kind == "digital"


def test_shared_bus_bottleneck_gives_the_bandwidth_throughput(workload):
    overrides = UNCONSTRAINED + ["interconnect.topology=bus", "interconnect.link_bandwidth=1GB/s",
                                 "interconnect.flit_bytes=1"]
    prog = program(workload(ONE_CONV), hw_overrides=overrides)
    # per image over the bus: every input position once (line buffer), every output to the
    # digital unit, and every output on to the I/O buffer; 1 byte per cycle
    bus_bytes = 16 * 16 * 4 + 256 * 16 + 256 * 16
    result = simulate(prog, settings(images=4), baseline=False)
    assert result.interval_cycles == pytest.approx(bus_bytes, rel=0.01)
    assert result.bottleneck.name == "bus" and result.bottleneck.kind == "link"
    bus = next(row for row in result.component_rows() if row["name"] == "bus")
    assert bus["link_bytes"] == 4 * bus_bytes


def test_pipelined_chain_runs_at_the_slowest_stage(workload):
    prog = program(workload(TWO_CONVS), hw_overrides=UNCONSTRAINED)
    stages = {}
    for plan in prog.analog_layers:
        a = plan.analog
        timing = max((mvm_timing(prog.hardware, b.rows, b.cols) for b in a.blocks), key=lambda t: t.period())
        stages[plan.name] = a.sequential_mvms * timing.period()
    assert prog.layer("conv2").analog.row_blocks == 2              # partial sums accumulated digitally
    assert stages["conv2"] > stages["conv1"]
    result = simulate(prog, settings(images=5), baseline=False)
    assert result.interval_cycles == pytest.approx(max(stages.values()), rel=0.01)
    assert result.bottleneck.kind == "tile" and result.bottleneck.info["layer"] == "conv2"


def test_backpressure_slows_the_producer_and_the_run_completes(workload):
    base = UNCONSTRAINED + ["digital.count=1"]
    big = simulate(program(workload(TWO_CONVS), hw_overrides=base), settings(images=3), baseline=False)
    small_prog = program(workload(TWO_CONVS), hw_overrides=base + ["buffers.digital.capacity=2KiB"])
    small = simulate(small_prog, settings(images=3), baseline=False)
    producer_big, producer_small = tiles_of(big, "conv1")[0], tiles_of(small, "conv1")[0]
    assert producer_big["stalled_cycles"] == 0
    assert producer_small["stalled_cycles"] > 1000
    last_end = {name: next(l for l in r.layers if l.name == "conv1").spans[-1][1]
                for name, r in (("big", big), ("small", small))}
    assert last_end["small"] > last_end["big"] + 2000          # the producer is held back
    assert small.interval_cycles == pytest.approx(big.interval_cycles, rel=0.01)   # conv2 sets the pace
    buffer = next(row for row in small.component_rows() if row["name"] == "du0.buffer")
    assert buffer["peak_bytes"] <= 2048 < next(
        row for row in big.component_rows() if row["name"] == "du0.buffer")["peak_bytes"]


def test_bound_management_passes_repeat_integration_and_conversion(workload):
    hw = UNCONSTRAINED + ["tiles.noise.bound_management=iterative", "tiles.noise.max_passes=6"]
    prog = program(workload(ONE_CONV), hw_overrides=hw)
    analog = prog.layers[0].analog
    timing = mvm_timing(prog.hardware, analog.blocks[0].rows, analog.blocks[0].cols)
    for passes in (3, {"conv1": 3}, lambda name, image, patches: [3] * patches):
        result = simulate(prog, settings(), passes=passes, baseline=False)
        conv = layer(result, "conv1")
        assert conv["end_cycle"] - conv["start_cycle"] == timing.run_cycles(256, passes=3)
        assert tiles_of(result, "conv1")[0]["mvm_passes"] == 3 * 256
    clipped = simulate(prog, settings(), passes=50, baseline=False)       # at most max_passes
    assert tiles_of(clipped, "conv1")[0]["mvm_passes"] == 6 * 256
