"""simulate(program, settings, passes) -> TimingResult: run the engine on a Program."""

from __future__ import annotations

import dataclasses
import logging

from archsim.compiler import compile_program
from archsim.compiler.program import Program
from archsim.engine.core import gc_paused
from archsim.engine.models.chip import Chip
from archsim.engine.passes import PassSource, resolve
from archsim.engine.result import Acceleration, LayerRecord, TimingResult, chip_area, component_records
from archsim.spec.run import Fidelity, RunSettings
from archsim.spec.workload import Strategy

log = logging.getLogger(__name__)

DEFAULT_RUN_LENGTH = 2
"""MVMs (and digital vectors) per event with aggregated fidelity; see archsim/engine/README.md."""


def single_replica(program: Program) -> Program | None:
    """The same workload compiled with one replica per layer (None if it already has one);
    a perforated layer's one array counts as replicated: it computes only part of the patches."""
    if all(p.analog.assignment.strategy is Strategy.NONE for p in program.analog_layers):
        return None
    workload = program.workload
    base = dataclasses.replace(workload, mapping=dataclasses.replace(workload.mapping, replicas=(),
                                                                     strategy=Strategy.NONE))
    object.__setattr__(base, "base_dir", workload.base_dir)
    return compile_program(base, program.hardware, program.seed)


def cycle_limit(chip: Chip, images: int) -> int:
    """A generous bound: everything the images need, done one thing at a time, x 20."""
    hw = chip.hw
    passes = hw.tiles.noise.max_passes * hw.tiles.noise.input_slices
    bytes_per_cycle = min(hw.interconnect.link_bandwidth, hw.buffers.tile.write_bandwidth,
                          hw.buffers.digital.read_bandwidth, hw.buffers.io.read_bandwidth) / hw.clock
    hops = chip.program.layout.cols + chip.program.layout.rows + 2
    per_image = 0.0
    for node in chip.graph:
        per_image += node.ops * node.positions / hw.digital.ops_per_cycle
        moved = node.positions * node.channels * (1 + max(1, len(node.consumers)) * 27)
        per_image += moved / bytes_per_cycle + node.positions * hops * chip.network.hop_cycles
        if node.analog is not None:
            for group in chip.controller.groups[node.index][:1]:
                per_image += len(node.computed) * group.timing.latency(passes)
    return int(20 * images * per_image) + 1_000_000


def _run(program: Program, images: int, passes, run_length: int, fidelity: str, seed: int, *,
         trace: bool, trace_limit: int, max_cycles: int | None) -> TimingResult:
    chip = Chip(program, images=images, passes=passes, run_length=run_length, trace=trace,
                trace_limit=trace_limit)
    try:
        stats = chip.run(max_cycles if max_cycles is not None else cycle_limit(chip, images))
        return _result(chip, stats, images, fidelity, seed)
    finally:
        chip.close()


def _result(chip: Chip, stats, images: int, fidelity: str, seed: int) -> TimingResult:
    """The TimingResult of a chip that has run (plain data: it keeps nothing of the chip)."""
    program = chip.program
    hw = program.hardware
    ctl = chip.controller
    cycles = max(1, ctl.last_done)
    components = component_records(chip.recorder, cycles)
    layers, ops = [], 0.0
    for node in chip.graph[1:]:
        plan = node.plan
        analog = plan.analog
        groups = ctl.groups[node.index]
        ops += plan.digital_ops
        if analog is not None:
            ops += 2.0 * len(node.computed) * analog.matrix_rows * analog.matrix_cols
        layers.append(LayerRecord(
            name=node.name, op=node.op, kind="analog" if analog else "digital", digital_unit=plan.digital_unit,
            replicas=analog.replicas if analog else 0,
            tiles=analog.replicas * analog.tiles_per_replica if analog else 0, patches=node.positions,
            mvms_per_image=len(node.computed) if analog else 0,
            sequential_mvms=analog.sequential_mvms if analog else 0,
            t_mvm_cycles=max(g.timing.period() for g in groups) if groups else 0,
            digital_ops=plan.digital_ops, start_cycle=ctl.span_start[node.index][0],
            end_cycle=ctl.span_end[node.index][0],
            spans=tuple(zip(ctl.span_start[node.index], ctl.span_end[node.index]))))
    kinds = {s.name: s.kind for s in chip.recorder.components.values()}
    return TimingResult(
        workload=program.workload.name, hardware=hw.name, fidelity=fidelity, images=images, seed=seed,
        clock_hz=hw.clock, cycles=cycles, admitted_cycles=tuple(st.admitted for st in ctl.states),
        done_cycles=tuple(st.done_at for st in ctl.states), layers=tuple(layers), components=tuple(components),
        energy_table=hw.energy, static_power_w=hw.energy.static_power, ops_per_image=ops,
        area_m2=chip_area(hw), events=stats.events, wall_s=stats.wall_s,
        intervals=tuple(chip.recorder.intervals), trace_kinds=kinds,
        trace_truncated=chip.recorder.trace_truncated)


def simulate(program: Program, settings: RunSettings | None = None, passes: PassSource = None, *,
             baseline: bool = True, trace: bool = True, trace_limit: int = 200_000,
             run_length: int | None = None, max_cycles: int | None = None) -> TimingResult:
    """Simulate `settings.images` images streaming through the chip `program` was compiled for.

    passes: analog passes per MVM (see archsim.engine.passes; default one pass; "sampled"
      draws them from the run seed's TIMING stream).
    baseline: also simulate the same network with one replica per layer and report the
      acceleration against it (`result.acceleration`).
    trace: keep trace intervals (at most `trace_limit`) for `result.trace()`.
    run_length: MVMs per event with aggregated fidelity (default DEFAULT_RUN_LENGTH).
    max_cycles: stop with CycleLimitError beyond this (default: a generous bound).
    Raises DeadlockError / CycleLimitError (archsim.engine.core.errors) naming what every
    blocked component was waiting on.
    """
    with gc_paused():
        return _simulate(program, settings or RunSettings(), passes, baseline=baseline, trace=trace,
                         trace_limit=trace_limit, run_length=run_length, max_cycles=max_cycles)


def _simulate(program: Program, settings: RunSettings, passes: PassSource, *, baseline: bool, trace: bool,
              trace_limit: int, run_length: int | None, max_cycles: int | None) -> TimingResult:
    fidelity = Fidelity(settings.fidelity)
    length = 1 if fidelity is Fidelity.EXACT else (run_length or DEFAULT_RUN_LENGTH)
    pass_fn = resolve(passes, program.hardware, settings.seed)
    result = _run(program, settings.images, pass_fn, length, fidelity.value, settings.seed, trace=trace,
                  trace_limit=trace_limit, max_cycles=max_cycles)
    if not baseline:
        return result
    base_program = single_replica(program)
    base = result if base_program is None else _run(
        base_program, settings.images, pass_fn, length, fidelity.value, settings.seed, trace=False,
        trace_limit=0, max_cycles=max_cycles)
    acceleration = Acceleration(
        pipelined=result.throughput_images_per_s / base.throughput_images_per_s,
        sequential=base.latency_cycles / result.latency_cycles, closed_form=program.acceleration(),
        baseline_latency_cycles=base.latency_cycles,
        baseline_throughput_images_per_s=base.throughput_images_per_s)
    log.debug("simulated %s on %s: %d cycles, acceleration %s", program.workload.name,
              program.hardware.name, result.cycles, acceleration)
    return dataclasses.replace(result, acceleration=acceleration)
