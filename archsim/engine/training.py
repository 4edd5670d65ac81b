"""simulate_training(program, settings) -> TrainingResult: the timing of training steps.

Images stream through training steps on the chip `program` was compiled for: forward
MVMs, the loss gradient, transposed MVMs and array-parallel pulsed updates, with the
replicas of a layer dividing its patches as the Program's assignment says (the timing
model is in archsim/engine/models/training.py and archsim/engine/README.md, "Training
step"). `training_closed_form` gives the same step with ideal data movement.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from archsim.compiler.program import Program
from archsim.engine.core import Clock, SimulationError, gc_paused
from archsim.engine.models.train_tile import PHASES, layer_timings
from archsim.engine.models.training import LOSS_OPS_PER_OUTPUT, TrainingChip, gradient_flags
from archsim.engine.result import COUNT_COLUMNS, Acceleration, TimingResult, chip_area, component_records
from archsim.engine.simulate import single_replica
from archsim.spec.run import Fidelity, RunSettings

log = logging.getLogger(__name__)

TRAINING_COUNT_COLUMNS = COUNT_COLUMNS + ("transposed_mvms", "updates", "update_pulses")


def default_bl(program: Program) -> int:
    """The update pulse-train length BL of the hardware spec (`tiles.update.bl`)."""
    return program.hardware.tiles.update.bl


def default_window(closed_form: dict) -> int:
    """Images in flight by default: enough to keep the slowest stage busy in the closed form
    (`training_closed_form`; Little's law: ceil(step latency / stage time)) plus one."""
    if not closed_form["stage_cycles"]:
        return 1
    return -(-closed_form["critical_path_cycles"] // closed_form["stage_cycles"]) + 1


def training_closed_form(program: Program, bl: int | None = None, *, overlap_updates: bool = True) -> dict:
    """The training step with ideal data movement and digital work (cycles).

    Per analog layer with P patches and n replicas (sequential = ceil(P/n) on the busiest
    replica): forward = ceil(P/n) t_fwd, backward = ceil(P/n) t_bwd (0 for a layer whose
    input needs no gradient), update = ceil(P/n) t_upd (= BL pulses), with t_* the
    periods of layer_timings. `sequential_cycles` is the step with layers one after
    another (the sum of all three over the layers), `critical_path_cycles` the longest
    path through the layer graph when a layer's updates overlap the backward of the
    layers below (`overlap_updates`, the engine's default) or not, `stage_cycles` the
    busiest replica's array time per image (the pipelined interval). `baseline` is the
    same for one replica per layer; `acceleration` the ratios of models.md section 1
    (pipelined: stages, sequential: sums) and of the critical paths (what the engine's
    latency ratio follows when updates overlap).
    """
    bl = default_bl(program) if bl is None else bl
    hw = program.hardware
    clock = Clock(hw.clock)
    needs, input_grad = gradient_flags(program)
    layers: dict[str, dict] = {}
    for plan in program.analog_layers:
        a = plan.analog
        fwd, bwd, upd = layer_timings(hw, a, bl, clock)
        back = input_grad[plan.name]
        per_patch = fwd.period + (bwd.period if back else 0) + upd.period
        layers[plan.name] = {
            "patches": a.patches, "replicas": a.replicas, "sequential_mvms": a.sequential_mvms,
            "transposed": back, "t_forward_cycles": fwd.period, "t_backward_cycles": bwd.period if back else 0,
            "t_update_cycles": upd.period, "forward_cycles": a.sequential_mvms * fwd.period,
            "backward_cycles": a.sequential_mvms * bwd.period if back else 0,
            "update_cycles": a.sequential_mvms * upd.period, "stage_cycles": a.sequential_mvms * per_patch,
            "baseline_stage_cycles": a.patches * per_patch}
    sequential = sum(v["stage_cycles"] for v in layers.values())
    base_sequential = sum(v["baseline_stage_cycles"] for v in layers.values())
    stage = max((v["stage_cycles"] for v in layers.values()), default=0)
    base_stage = max((v["baseline_stage_cycles"] for v in layers.values()), default=0)
    critical = _critical_path(program, {n: v["sequential_mvms"] for n, v in layers.items()}, layers, needs,
                              overlap_updates)
    base_critical = _critical_path(program, {n: v["patches"] for n, v in layers.items()}, layers, needs,
                                   overlap_updates)
    return {
        "bl": bl, "layers": layers, "sequential_cycles": sequential, "critical_path_cycles": critical,
        "stage_cycles": stage, "throughput_images_per_s": hw.clock / stage if stage else float("inf"),
        "baseline": {"sequential_cycles": base_sequential, "critical_path_cycles": base_critical,
                     "stage_cycles": base_stage},
        "acceleration": {"pipelined": base_stage / stage if stage else 1.0,
                         "sequential": base_sequential / sequential if sequential else 1.0,
                         "critical_path": base_critical / critical if critical else 1.0}}


def _critical_path(program: Program, ops: dict[str, int], layers: dict, needs: dict, overlap: bool) -> int:
    """Longest path with `ops[layer]` operations of each kind per replica: forward through the
    graph, then the gradient back from every output (digital layers take no time)."""
    def cycles(name: str, phase: str) -> int:
        form = layers.get(name)
        return ops[name] * form[f"t_{phase}_cycles"] if form else 0

    done = {"input": 0}
    consumers: dict[str, list[str]] = {}
    for plan in program.layers:
        done[plan.name] = max(done[i] for i in plan.inputs) + cycles(plan.name, "forward")
        for i in plan.inputs:
            consumers.setdefault(i, []).append(plan.name)
    end = max(done.values())
    passed: dict[str, int] = {}    # when a layer's contribution to its inputs' gradients is complete
    for plan in reversed(program.layers):
        if not needs[plan.name]:
            continue
        outs = consumers.get(plan.name, [])
        grad = max([passed[c] for c in outs] + ([] if outs else [done[plan.name]]))
        backward = grad + cycles(plan.name, "backward")
        update = backward + cycles(plan.name, "update")
        passed[plan.name] = backward if overlap else update
        end = max(end, update)
    return end


@dataclass(frozen=True)
class TrainingLayerRecord:
    """One layer in the training step: its mapping, operation periods and when each phase
    ran for the first image (cycles; -1: the phase does not exist for this layer)."""

    name: str
    op: str
    kind: str                        # analog | digital
    digital_unit: int
    replicas: int
    tiles: int
    patches: int
    sequential_mvms: int             # operations of each kind per image on the busiest replica
    transposed: bool                 # runs transposed MVMs (its input needs a gradient)
    t_forward_cycles: int            # operation periods (0: digital)
    t_backward_cycles: int
    t_update_cycles: int
    digital_ops: int                 # per image, forward
    digital_ops_backward: int        # per image, backward
    forward_start: int
    forward_end: int
    backward_start: int
    backward_end: int
    update_start: int
    update_end: int
    array_busy_per_image_cycles: float   # busiest replica's busy cycles per image (its pipeline stage)
    closed_forward_cycles: int
    closed_backward_cycles: int
    closed_update_cycles: int
    spans: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)   # phase -> per image


@dataclass(frozen=True)
class TrainingResult(TimingResult):
    """The timing of training steps; everything of TimingResult (latency and throughput are
    those of whole training steps, the acceleration is the training one) plus the update
    pulse length, the images in flight and the closed form. The layers' phase starts and
    ends are those of one step alone on the chip; `spans` and the busy cycles per image
    are the stream's."""

    step_latency_cycles: int = 0     # one training step alone on the empty chip
    bl: int = 0
    window: int = 1
    overlap_updates: bool = True
    update_pulse_time_s: float = 0.0
    closed_form: dict = field(default_factory=dict)
    inference_closed_form: dict = field(default_factory=dict)

    @property
    def latency_cycles(self) -> int:
        """Latency of one training step alone on the chip (`latency_per_image_cycles` are those
        of the streamed images, which wait for each other)."""
        return self.step_latency_cycles

    @property
    def interval_cycles(self) -> float:
        """Steady-state cycles between step completions while the window of images in flight
        is full: completions m .. k (in order of time) with k = images - window - 1 (the one
        that admits the last image; later ones drain the pipeline and come faster) and
        m = max(window, k // 2) (the first window of images, admitted together, and the fill
        left out). With fewer than 2 x window + 3 images, TimingResult's second-half estimate,
        which the fill and the drain distort."""
        done = sorted(self.done_cycles)
        k = len(done) - self.window - 1
        m = max(self.window, k // 2)
        if k - m < 2:
            return super().interval_cycles
        return (done[k] - done[m]) / (k - m)

    @property
    def update_pulses_per_image(self) -> float:
        return sum(c.counts.get("update_pulses", 0) for c in self.components) / self.images

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        table = self.energy_table
        out.update({
            "mode": "training", "bl": self.bl, "update_pulse_time_s": self.update_pulse_time_s,
            "images_in_flight": self.window, "overlap_updates": self.overlap_updates,
            "update_pulses_per_image": self.update_pulses_per_image,
            "update_energy_per_image_j": self.update_pulses_per_image * table.update_pulse,
            "closed_form": self.closed_form, "inference_acceleration_closed_form": self.inference_closed_form})
        return out

    def layer_rows(self) -> list[dict[str, Any]]:
        """layers.csv: one dict per layer with each phase's start, end and duration (first image)."""
        rows = []
        for layer in self.layers:
            row = {k: v for k, v in layer.__dict__.items() if k != "spans"}
            for phase in PHASES:
                start, end = row[f"{phase}_start"], row[f"{phase}_end"]
                row[f"{phase}_cycles"] = end - start if start >= 0 else 0
            rows.append(row)
        return rows

    def component_rows(self) -> list[dict[str, Any]]:
        rows = super().component_rows()
        by_name = {c.name: c for c in self.components}
        for row in rows:
            counts = by_name[row["name"]].counts
            row.update({k: counts.get(k, 0) for k in TRAINING_COUNT_COLUMNS[len(COUNT_COLUMNS):]})
        return rows


def simulate_training(program: Program, settings: RunSettings | None = None, *, bl: int | None = None,
                      baseline: bool = True, window: int | None = None, overlap_updates: bool = True,
                      trace: bool = False, trace_limit: int = 200_000,
                      max_cycles: int | None = None) -> TrainingResult:
    """Simulate `settings.images` training steps (one image each) streaming through the chip
    of `program`, and one step alone on the empty chip (its latency and phase breakdown).

    bl: update pulse-train length (default: the spec's `tiles.update.bl`).
    baseline: also simulate the same network with one replica per layer and report the
      training acceleration against it (`result.acceleration`).
    window: most images in flight (default `default_window` of the closed form).
    overlap_updates: a layer's updates overlap the backward pass of the layers below
      (False: layers one after another, the closed form's sequential step).
    trace / trace_limit / max_cycles: as for `simulate` (the trace is the stream's).
    The training engine has one event per tile operation (exact fidelity); it raises
    SimulationError for aggregated fidelity rather than ignore the setting.
    """
    settings = settings or RunSettings()
    if Fidelity(settings.fidelity) is not Fidelity.EXACT:
        raise SimulationError("training-step timing is simulated at exact fidelity only (one event per tile "
                              f"operation); run it with fidelity=exact, not {Fidelity(settings.fidelity).value}")
    bl = default_bl(program) if bl is None else int(bl)
    if bl < 1:
        raise SimulationError(f"the update pulse-train length BL must be at least 1, not {bl}")
    if window is not None and int(window) < 1:
        raise SimulationError(f"at least one image must be in flight, not {window}")
    with gc_paused():
        result = _steps(program, settings, bl, window, overlap_updates, trace, trace_limit, max_cycles)
        if not baseline:
            return result
        base_program = single_replica(program)
        base = result if base_program is None else _steps(
            base_program, settings, bl, None, overlap_updates, False, 0, max_cycles)
    acceleration = Acceleration(
        pipelined=result.throughput_images_per_s / base.throughput_images_per_s,
        sequential=base.latency_cycles / result.latency_cycles,
        closed_form=dict(result.closed_form["acceleration"]), baseline_latency_cycles=base.latency_cycles,
        baseline_throughput_images_per_s=base.throughput_images_per_s)
    log.debug("training steps of %s on %s: %d cycles, acceleration %s", program.workload.name,
              program.hardware.name, result.latency_cycles, acceleration)
    return dataclasses.replace(result, acceleration=acceleration)


def _steps(program: Program, settings: RunSettings, bl: int, window: int | None, overlap: bool, trace: bool,
           trace_limit: int, max_cycles: int | None) -> TrainingResult:
    """The stream of `settings.images` steps, with the latency and phases of one step alone.

    In the stream, a replica busy with a younger image's forward delays an older image's
    backward (operations are not pre-empted), so a streamed step takes longer than one
    alone; the step's latency is that of one image on the empty chip.
    """
    closed = training_closed_form(program, bl, overlap_updates=overlap)
    window = default_window(closed) if window is None else int(window)
    stream = _run(program, settings, bl, window, overlap, closed, trace, trace_limit, max_cycles)
    if settings.images == 1:
        return stream
    alone = _run(program, dataclasses.replace(settings, images=1), bl, window, overlap, closed, False, 0,
                 max_cycles)
    layers = tuple(dataclasses.replace(one, spans=many.spans,
                                       array_busy_per_image_cycles=many.array_busy_per_image_cycles)
                   for one, many in zip(alone.layers, stream.layers))
    return dataclasses.replace(stream, step_latency_cycles=alone.step_latency_cycles, layers=layers)


def cycle_limit(chip: TrainingChip, images: int) -> int:
    """A generous bound: every operation and transfer of the images one after another, x 20."""
    hw = chip.hw
    bytes_per_cycle = min(hw.interconnect.link_bandwidth, hw.buffers.tile.write_bandwidth,
                          hw.buffers.digital.read_bandwidth, hw.buffers.io.read_bandwidth) / hw.clock
    hops = chip.program.layout.cols + chip.program.layout.rows + 2
    ctl = chip.controller
    per_image = 0.0
    for node in chip.graph:
        i = node.index
        ops = ctl.fwd_ops[i] + ctl.bwd_ops[i] + LOSS_OPS_PER_OUTPUT * ctl.out_bytes[i]  # (loss on every layer)
        per_image += ops / hw.digital.ops_per_cycle + node.positions * (1 + 2 * hops * chip.network.hop_cycles)
        moved = ctl.out_bytes[i] * (2 + 2 * len(node.consumers) * 27)
        for group in ctl.groups[i][:1]:
            a = node.analog
            moved += 3 * len(node.computed) * (a.matrix_rows + a.matrix_cols) * a.tiles_per_replica
            per_image += len(node.computed) * sum(t.latency for t in (group.fwd, group.bwd, group.upd))
        per_image += moved / bytes_per_cycle
    return int(20 * images * per_image) + 1_000_000


def _run(program: Program, settings: RunSettings, bl: int, window: int, overlap: bool, closed: dict, trace: bool,
         trace_limit: int, max_cycles: int | None) -> TrainingResult:
    chip = TrainingChip(program, images=settings.images, bl=bl, window=window, overlap_updates=overlap,
                        trace=trace, trace_limit=trace_limit)
    try:
        stats = chip.run(max_cycles if max_cycles is not None else cycle_limit(chip, settings.images))
        return _result(chip, stats, settings, bl, window, overlap, closed)
    finally:
        chip.close()


def _result(chip: TrainingChip, stats, settings: RunSettings, bl: int, window: int, overlap: bool,
            closed: dict) -> TrainingResult:
    """The TrainingResult of a chip that has run (plain data: it keeps nothing of the chip);
    `closed` is the program's training_closed_form."""
    program, hw, ctl = chip.program, chip.hw, chip.controller
    images = settings.images
    cycles = max(1, ctl.last_done)
    components = component_records(chip.recorder, cycles)
    layers, ops = [], 0.0
    for node in chip.graph[1:]:
        i, plan, analog = node.index, node.plan, node.analog
        groups = ctl.groups[i]
        ops += ctl.fwd_ops[i] + (ctl.bwd_ops[i] if ctl.needs[i] else 0)
        ops += LOSS_OPS_PER_OUTPUT * ctl.out_bytes[i] if ctl.sink[i] else 0
        spans = {phase: tuple(tuple(s) for s in ctl.spans[k][i]) for k, phase in enumerate(PHASES)}
        if analog is not None:
            macs = analog.matrix_rows * analog.matrix_cols
            ops += 2.0 * len(node.computed) * macs * (2 + ctl.transposed[i])
            cf = closed["layers"][node.name]
            timing = dict(t_forward_cycles=cf["t_forward_cycles"], t_backward_cycles=cf["t_backward_cycles"],
                          t_update_cycles=cf["t_update_cycles"],
                          array_busy_per_image_cycles=max(x.stats.busy for x in groups) / images,
                          closed_forward_cycles=cf["forward_cycles"], closed_backward_cycles=cf["backward_cycles"],
                          closed_update_cycles=cf["update_cycles"])
        else:
            timing = dict(t_forward_cycles=0, t_backward_cycles=0, t_update_cycles=0, array_busy_per_image_cycles=0.0,
                          closed_forward_cycles=0, closed_backward_cycles=0, closed_update_cycles=0)
        first = {f"{phase}_{edge}": spans[phase][0][k] for phase in PHASES for k, edge in enumerate(("start", "end"))}
        layers.append(TrainingLayerRecord(
            name=node.name, op=node.op, kind="analog" if analog else "digital", digital_unit=plan.digital_unit,
            replicas=analog.replicas if analog else 0,
            tiles=analog.replicas * analog.tiles_per_replica if analog else 0, patches=node.positions,
            sequential_mvms=analog.sequential_mvms if analog else 0, transposed=bool(ctl.transposed[i]),
            digital_ops=ctl.fwd_ops[i], digital_ops_backward=ctl.bwd_ops[i] if ctl.needs[i] else 0,
            spans=spans, **first, **timing))
    kinds = {s.name: s.kind for s in chip.recorder.components.values()}
    return TrainingResult(
        workload=program.workload.name, hardware=hw.name, fidelity=Fidelity.EXACT.value, images=images,
        seed=settings.seed, clock_hz=hw.clock, cycles=cycles,
        admitted_cycles=tuple(st.admitted for st in ctl.states), done_cycles=tuple(st.done_at for st in ctl.states),
        layers=tuple(layers), components=tuple(components), energy_table=hw.energy,
        static_power_w=hw.energy.static_power, ops_per_image=ops, area_m2=chip_area(hw), events=stats.events,
        wall_s=stats.wall_s, intervals=tuple(chip.recorder.intervals), trace_kinds=kinds,
        trace_truncated=chip.recorder.trace_truncated,
        step_latency_cycles=ctl.states[0].done_at - ctl.states[0].admitted, bl=bl, window=window,
        overlap_updates=overlap, update_pulse_time_s=hw.tiles.update_pulse_time, closed_form=closed,
        inference_closed_form=program.acceleration())
