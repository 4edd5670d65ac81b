"""The library API behind the CLI: load -> compile -> (simulate -> evaluate) -> report.

Each function takes spec sources (file paths or built-in preset names) and `--set`
overrides, and returns plain data; nothing here prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from archsim import __version__
from archsim.compiler import Program, compile_program
from archsim.errors import SpecError
from archsim.files import replace_atomically
from archsim.spec import (DEFAULT_HARDWARE, DEFAULT_WORKLOAD, HardwareSpec, RunSettings, Workload,
                          load_hardware, load_run, load_workload, resolve, split_overrides, to_plain)
from archsim.spec.devices import Representation
from archsim.spec.run import Algorithm
from archsim.spec.workload import Strategy


@dataclass(frozen=True)
class Specs:
    """The three documents of one run."""

    workload: Workload
    hardware: HardwareSpec
    run: RunSettings


def load_specs(workload: str | Path | None = None, hardware: str | Path | None = None,
               settings: str | Path | None = None, sets: Iterable[str] = ()) -> Specs:
    """Load the three documents; `sets` are `--set` items, e.g. 'seed=3', 'hardware.clock=2GHz'."""
    overrides = split_overrides(sets)
    errors = []
    loaded = {}
    for kind, loader, source in (("workload", load_workload, workload or DEFAULT_WORKLOAD),
                                 ("hardware", load_hardware, hardware or DEFAULT_HARDWARE),
                                 ("run", load_run, settings)):
        try:
            loaded[kind] = loader(source, overrides[kind])
        except SpecError as exc:  # collect every document's problems before raising
            errors.extend(exc.problems)
    if not errors:
        errors = list(_cross_problems(loaded["hardware"], loaded["run"], hardware or DEFAULT_HARDWARE))
    if errors:
        raise SpecError(errors)
    return Specs(loaded["workload"], loaded["hardware"], loaded["run"])


def _cross_problems(hardware: HardwareSpec, run: RunSettings, source):
    """Problems only the two documents together show: in-situ hic training programs its
    multi-level digits on the chip's devices, whatever the inference representation."""
    tiles = hardware.tiles  # (with the hic representation, the hardware spec's own check reports it)
    if run.train.algorithm is Algorithm.HIC and tiles.mapping.representation is not Representation.HIC:
        problem = tiles.mapping.hic.level_problem(getattr(tiles.device, "levels", 0))
        if problem:
            yield (f"{resolve(source, 'hardware')}: hardware.tiles.mapping.hic.ml_levels {problem} "
                   f"(run.train.algorithm is hic)")


def compile_specs(specs: Specs) -> Program:
    return compile_program(specs.workload, specs.hardware, specs.run.seed)


def plan_summary(program: Program) -> dict:
    """The mapping plan as JSON-ready data: per-layer rows, totals and acceleration."""
    layers = []
    for plan in program.layers:
        if plan.op not in ("conv2d", "linear"):
            continue
        a = plan.analog
        layers.append({
            "name": plan.name, "kind": plan.op, "on": "analog" if a else "digital",
            "matrix_rows": a.matrix_rows if a else None, "matrix_cols": a.matrix_cols if a else None,
            "patches": a.patches if a else None, "replicas": a.replicas if a else 0,
            "tiles_per_replica": a.tiles_per_replica if a else 0,
            "row_blocks": a.row_blocks if a else 0, "col_blocks": a.col_blocks if a else 0,
            "sequential_mvms": a.sequential_mvms if a else 0,
            "utilisation": round(a.utilisation, 4) if a else None,
            "strategy": a.assignment.strategy.value if a else None,
            "digital_unit": plan.digital_unit,
        })
    hw = program.hardware
    return {
        "archsim_version": __version__, "workload": program.workload.name, "hardware": hw.name,
        "seed": program.seed, "strategy": program.workload.mapping.strategy.value,
        "layers": layers,
        "totals": {"tiles_used": program.tiles_used, "tiles_available": program.tiles_available,
                   "weight_blowup": round(program.weight_blowup, 4),
                   "array": f"{hw.tiles.rows}x{hw.tiles.cols}",
                   "digital_ops_per_image": sum(p.digital_ops for p in program.layers)},
        "acceleration": {k: round(v, 4) for k, v in program.acceleration().items()},
    }


def plan(workload=None, hardware=None, settings=None, sets: Iterable[str] = ()) -> dict:
    """Compile and summarise the mapping (what `archsim plan` prints)."""
    return plan_summary(compile_specs(load_specs(workload, hardware, settings, sets)))


def output_dir(specs: Specs, out: str | Path | None, suffix: str = "") -> Path:
    """--out, else run.out, else reports/<workload>-<hardware><suffix>."""
    return Path(out or specs.run.out or Path("reports") / f"{specs.workload.name}-{specs.hardware.name}{suffix}")


def run(workload=None, hardware=None, settings=None, sets: Iterable[str] = (),
        out: str | Path | None = None, progress: Callable[[str], None] | None = None,
        tick: Callable[[int, int], None] | None = None) -> tuple[Path, dict]:
    """One run: compile, simulate the timing, write every result to the output directory.

    Writes plan.json and specs.json first (so nothing computed is lost), then
    accuracy.json (when the workload names weights), the engine's summary.json,
    layers.csv, components.csv, trace.json (Perfetto), mesh.json (where the busy
    components sit), and last the report (index.html and plots/). `progress` receives a
    line per stage, `tick(done, total)` the accuracy evaluations. Returns (directory, summary).
    """
    say = progress or (lambda message: None)
    from archsim.report import write_run_report, write_table
    specs = load_specs(workload, hardware, settings, sets)
    program = compile_specs(specs)
    directory = output_dir(specs, out)
    directory.mkdir(parents=True, exist_ok=True)
    plan = plan_summary(program)
    _write_json(directory / "plan.json", plan)
    _write_json(directory / "specs.json", specs_document(specs))
    accuracy, passes = measure_accuracy(specs, program, say, tick)
    if accuracy is not None:
        _write_json(directory / "accuracy.json", accuracy)
    summary, timing = measure_timing(specs, program, plan, passes, accuracy, say=say)
    write_table(directory / "layers.csv", timing.layer_rows())
    write_table(directory / "components.csv", timing.component_rows())
    _write_json(directory / "trace.json", timing.trace())
    _write_json(directory / "mesh.json", mesh_usage(program, timing))
    _write_json(directory / "summary.json", summary)
    say("report: index.html and plots/")
    write_run_report(directory)
    return directory, summary


def specs_document(specs: Specs) -> dict:
    """specs.json: every value of the three documents, in SI units."""
    return {"workload": to_plain(specs.workload), "hardware": to_plain(specs.hardware), "run": to_plain(specs.run)}


def measure_accuracy(specs: Specs, program: Program, say: Callable[[str], None] | None = None,
                     tick: Callable[[int, int], None] | None = None):
    """(accuracy.json data, the analog passes it measured for the timing), or (None, None)
    when the workload names no weights."""
    if not specs.workload.weights:
        return None, None
    (say or (lambda message: None))(
        f"accuracy: {specs.run.eval_images or 'all'} test images, digital and analog at "
        f"{len(specs.run.inference_times)} time(s) x {specs.run.programming_repeats} programming(s)")
    return _accuracy(specs, program, tick)


def measure_timing(specs: Specs, program: Program, plan: dict, passes=None, accuracy: dict | None = None, *,
                   trace: bool = True, say: Callable[[str], None] | None = None):
    """The timing simulation (charging `passes`, the bound-management passes the analog run
    needed) against one replica per layer: (summary.json data, TimingResult)."""
    from archsim.engine import simulate
    (say or (lambda message: None))(
        f"timing: {specs.run.images} images through {specs.hardware.name} ({specs.run.fidelity.value}), "
        f"and the same network with one replica per layer")
    timing = simulate(program, specs.run, passes=passes, trace=trace)
    summary = {"archsim_version": __version__, **timing.summary(),
               "mapping": {"tiles_used": plan["totals"]["tiles_used"],
                           "tiles_available": plan["totals"]["tiles_available"],
                           "weight_blowup": plan["totals"]["weight_blowup"], "strategy": plan["strategy"]}}
    if accuracy is not None:
        summary["accuracy"] = accuracy
    return summary, timing


def mesh_usage(program: Program, timing) -> dict:
    """Where the busy components sit (mesh.json; the report's heatmap): the mesh size, the
    I/O node, every digital unit, the tiles in use ([x, y, tile, layer, busy fraction])
    and every link that carried data ([name, busy fraction])."""
    layout = program.layout
    busy = {c.name: c.utilisation for c in timing.components}
    tiles = sorted((t, plan.name) for plan in program.analog_layers for replica in plan.analog.tiles
                   for t in replica)
    return {"cols": layout.cols, "rows": layout.rows, "topology": program.hardware.interconnect.topology.value,
            "tiles_available": len(layout.tile_nodes),
            "io": [*layout.io_node, round(busy.get("io.buffer", 0.0), 4)],
            "digital": [[*node, d, round(busy.get(f"du{d}", 0.0), 4)] for d, node in enumerate(layout.digital_nodes)],
            "tiles": [[*layout.tile_nodes[t], t, name, round(busy.get(f"tile{t}", 0.0), 4)] for t, name in tiles],
            "links": [[c.name, round(c.utilisation, 4)] for c in timing.components
                      if c.kind == "link" and c.busy_cycles > 0]}


def load_params(specs: Specs, program: Program) -> dict:
    """The workload's weights, checked against the network (shared or per-replica weights)."""
    from archsim.data.weights import load_weights
    from archsim.nn import param_shapes
    shared, replicated = param_shapes(program), param_shapes(program, replicated=True)
    expected = {k: {shared[k], replicated[k]} for k in shared}
    path = Path(specs.workload.base_dir) / specs.workload.weights
    params, _ = load_weights(path, expected)
    return params


def _accuracy(specs: Specs, program: Program, tick=None):
    """Digital and analog accuracy on the workload's test data, and the measured passes."""
    from archsim.nn.accuracy import chip_accuracy
    params = load_params(specs, program)
    test = load_data(specs, "test", specs.run.eval_images or None)
    accuracy, log = chip_accuracy(program, params, test.images, test.labels, times=specs.run.inference_times,
                                  repeats=specs.run.programming_repeats, seed=specs.run.seed,
                                  keep=specs.run.images, per_mvm=specs.run.read_noise.value == "per_mvm",
                                  backend=specs.run.backend.value, workers=specs.run.workers, tick=tick)
    accuracy["data"] = test.origin
    return accuracy, log.for_engine()


def load_data(specs: Specs, split: str, limit: int | None = None):
    """The workload's dataset split, checked against the network's input and output."""
    from archsim.data import load_dataset
    from archsim.errors import DataError
    w = specs.workload
    if w.dataset is None:
        raise DataError(f"workload '{w.name}' names no dataset; add e.g. `dataset: {{name: fashion-mnist}}`")
    data = load_dataset(w.dataset.name, split, path=w.dataset.path, base_dir=w.base_dir, limit=limit)
    if tuple(data.images.shape[1:]) != tuple(w.input.shape):
        raise DataError(f"dataset {data.name} has images of shape {list(data.images.shape[1:])} but workload "
                        f"'{w.name}' expects input.shape {list(w.input.shape)}")
    classes = w.layers[-1].out_features if w.layers[-1].op == "linear" else None
    if classes is not None and classes != data.classes:
        raise DataError(f"dataset {data.name} has {data.classes} classes but the last layer of workload "
                        f"'{w.name}' has {classes} outputs")
    return data


def train(workload=None, hardware=None, settings=None, sets: Iterable[str] = (), out: str | Path | None = None,
          resume: bool = False, progress=None) -> tuple[Path, dict]:
    """`archsim train`: digital training on the workload's dataset; writes weights.npz,
    a checkpoint after every epoch (continued with `resume`), history.json and summary.json."""
    from archsim.nn.checkpoint import load_checkpoint, save_checkpoint
    from archsim.data.weights import save_weights
    from archsim.nn import train as trainer
    specs = load_specs(workload, hardware, settings, sets)
    program = compile_specs(specs)
    cfg = specs.run.train
    train_set = load_data(specs, "train", cfg.train_limit or None)
    test_set = load_data(specs, "test")
    directory = output_dir(specs, out, "-train")
    directory.mkdir(parents=True, exist_ok=True)
    ckpt = directory / "checkpoint.npz"
    state = load_checkpoint(ckpt, specs) if resume and ckpt.exists() else None
    meta = {"workload": specs.workload.name, "hardware": specs.hardware.name, "seed": specs.run.seed,
            "archsim_version": __version__, "train": to_plain(cfg), "train_data": train_set.origin,
            "test_data": test_set.origin}

    timing = training_timing(specs, program)  # cheap, and independent of the learning: first
    _write_json(directory / "timing.json", timing)
    meta["timing"] = {k: timing[k] for k in ("latency_s", "throughput_images_per_s", "acceleration",
                                             "energy_per_image_j", "bl")}

    def checkpoint(st):
        save_checkpoint(ckpt, st, meta)
        _write_json(directory / "history.json", {"history": st.history})

    from archsim.pool import optional_pool
    with optional_pool(specs.run.workers) as pool:  # the per-epoch evaluation
        state = trainer.train(program, train_set.images, train_set.labels, test_set.images, test_set.labels,
                              cfg, specs.run.seed, state=state, progress=progress, checkpoint=checkpoint,
                              workers=pool)
    final = state.history[-1] if state.history else {}
    summary = {**meta, "epochs": state.epoch, "test_accuracy": final.get("test_accuracy"),
               "train_loss": final.get("train_loss"), "test_images": len(test_set.labels),
               "train_images": len(train_set.labels)}
    save_weights(directory / "weights.npz", state.params, summary)
    _write_json(directory / "summary.json", summary)
    from archsim.report import write_train_report
    write_train_report(directory)
    return directory, summary


def training_timing(specs: Specs, program: Program) -> dict:
    """The engine's training step on the chip (forward, transposed MVMs and pulsed updates
    per layer, replicas dividing the patches) against one replica per layer: summary dict.
    Streams enough images for a steady state (at least 24) at exact fidelity."""
    import dataclasses
    from archsim.engine import simulate_training
    from archsim.spec.run import Fidelity
    settings = dataclasses.replace(specs.run, images=max(specs.run.images, 24), fidelity=Fidelity.EXACT)
    return simulate_training(program, settings).summary()


# ---------------------------------------------------------------- sweeps and comparisons

STRATEGIES = tuple(s.value for s in Strategy)  # `compare` axes; none = one replica per layer


def run_point(payload: dict) -> dict:
    """One point of a sweep or comparison, through the same steps as `run`: load the specs with
    the point's `--set` items, compile, measure accuracy (when the workload names weights and
    the sweep asks for it) and the timing. Returns {'row': results-table values, 'detail': ...}.

    Module-level so that process pools and dask pickle it by reference. When the weights
    do not fit the point's mapping (per-replica weights and other replica counts) the point
    keeps its timing and says why it has no accuracy.
    """
    from archsim.errors import DataError
    specs = load_specs(payload["workload"], payload["hardware"], payload.get("settings"), payload["sets"])
    program = compile_specs(specs)
    plan = plan_summary(program)
    accuracy, passes, note = None, None, ""
    if payload.get("accuracy", True):
        try:
            accuracy, passes = measure_accuracy(specs, program)
        except DataError as exc:
            note = "accuracy not measured: " + " ".join(line.strip(" -") for line in str(exc).splitlines())
    summary, timing = measure_timing(specs, program, plan, passes, accuracy, trace=False)
    return {"row": point_row(plan, summary, accuracy, note),
            "detail": {"summary": summary, "plan": plan, "layers": timing.layer_rows(),
                       "mesh": mesh_usage(program, timing), "accuracy": accuracy}}


def point_row(plan: dict, summary: dict, accuracy: dict | None, note: str = "") -> dict:
    """The results-table values of one point (the same columns for every point)."""
    acc = summary.get("acceleration") or {}
    closed = acc.get("closed_form") or plan["acceleration"]
    first = next(iter(accuracy["analog"].items()), (None, None)) if accuracy else (None, None)
    return {
        "replicas_mapped": " ".join(f"{l['name']}:{l['replicas']}" for l in plan["layers"] if l["on"] == "analog"),
        "latency_cycles": summary["latency_cycles"], "latency_s": summary["latency_s"],
        "throughput_images_per_s": summary["throughput_images_per_s"],
        "speedup": acc.get("pipelined", 1.0), "latency_speedup": acc.get("sequential", 1.0),
        "acceleration_pipelined": closed["pipelined"], "acceleration_sequential": closed["sequential"],
        "energy_per_image_j": summary["energy_per_image_j"], "tops_per_w": summary["tops_per_w"],
        "tiles_used": plan["totals"]["tiles_used"], "tiles_available": plan["totals"]["tiles_available"],
        "weight_blowup": plan["totals"]["weight_blowup"],
        "bottleneck": summary["bottleneck"], "bottleneck_kind": summary["bottleneck_kind"],
        "bottleneck_layer": summary["bottleneck_layer"], "bottleneck_utilisation": summary["bottleneck_utilisation"],
        "accuracy_digital": accuracy["digital"] if accuracy else None,
        "accuracy_analog": first[1]["mean"] if first[1] else None,
        "accuracy_analog_std": first[1]["std"] if first[1] else None,
        "accuracy_at": first[0] or "", "accuracy_note": note,
    }


def _source(spec: str | Path | None) -> str | None:
    """A spec file as an absolute path (workers may start elsewhere); preset names as they are."""
    if spec is None:
        return None
    return str(Path(spec).resolve()) if Path(spec).is_file() else str(spec)


def _check_points(workload: str, hardwares: list[str], settings: str | None, constants: list[str], axes: list,
                  conv: list[str]) -> None:
    """Load the specs once per swept value, so that a mistyped path or value stops the sweep
    before it starts (with every located problem) instead of failing every point. (A point
    that loads but cannot be mapped is a failed point, not an error.)"""
    from archsim.sweep import Axis, expand
    problems: list[str] = []
    for hw in hardwares:
        variants = set()
        for axis in axes:
            for value in axis.values:
                fixed = [Axis(a.name, a.kind, (value,) if a is axis else a.values[:1]) for a in axes]
                variants.update(p.sets for p in expand(workload, hw, settings, fixed, constants, conv))
        for sets in sorted(variants):
            try:
                load_specs(workload, hw, settings, sets)
            except SpecError as exc:
                problems.extend(p for p in exc.problems if p not in problems)
    if problems:
        raise SpecError(problems)


def _run_sweep(kind: str, directory: Path, base: Specs, points: list, axes: list, meta: dict, *, executor: str,
               workers: int | None, scheduler: str | None, resume: bool, progress: bool) -> dict:
    """Save the definition, run the points (each saved as it finishes), rebuild the table and the report."""
    from archsim.report import write_results, write_sweep_report
    from archsim.sweep import PointStore, run_points
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / "sweep.json", {"kind": kind, "archsim_version": __version__, **meta,
                                           "seed": base.run.seed, "axes": [a.to_dict() for a in axes],
                                           "points": [p.to_dict() for p in points]})
    _write_json(directory / "specs.json", specs_document(base))
    store = PointStore(directory)
    try:
        counts = run_points(run_point, points, store, executor=executor, workers=workers, scheduler=scheduler,
                            resume=resume, progress=progress, desc=kind)
    finally:  # an interrupted sweep still leaves the table of its finished points
        write_results(directory, store.rows(points))
    info = write_sweep_report(directory)
    return {**counts, **info, "directory": directory}


def sweep(workload, hardware=None, settings=None, sets: Iterable[str] = (), replicas: Iterable[str] = (),
          budgets: str | None = None, out: str | Path | None = None, *, executor: str = "pool",
          workers: int | None = None, scheduler: str | None = None, resume: bool = False, accuracy: bool = True,
          progress: bool = True) -> dict:
    """`archsim sweep`: every combination of the replica values (`replicas`: ['1,2,4'] for every
    conv layer, ['conv1=1,4', 'conv2=1,2'] per layer, or ['auto'] with `budgets` '64,128') and of
    the swept `--set path=v1,v2` values; each point is a run (see `run_point`). Writes
    DIR/sweep.json, DIR/points/<id>.json, DIR/results.csv and .parquet, DIR/index.html and plots.
    Returns counts, the findings and the directory."""
    from archsim.sweep import expand, replica_axes, set_axes
    swept, constants = set_axes(list(sets))
    base = load_specs(workload, hardware, settings, constants)
    conv = [l.name for l in base.workload.analog_layers() if l.op == "conv2d"]
    analog = [l.name for l in base.workload.analog_layers()]
    axes = replica_axes(list(replicas), budgets, conv, analog) + swept
    if not axes:
        raise SpecError(["archsim sweep: nothing to sweep; give --replicas 1,2,4 (or conv1=1,4, or auto "
                         "with --budgets) and/or --set path=value1,value2"])
    wl, hw, st = _source(workload), _source(hardware or DEFAULT_HARDWARE), _source(settings)
    _check_points(wl, [hw], st, constants, axes, conv)
    points = expand(wl, hw, st, axes, constants, conv, accuracy)
    directory = output_dir(base, out, "-sweep")
    meta = {"workload": base.workload.name, "hardware": base.hardware.name, "sources": [wl, hw, st],
            "sets": list(sets), "replicas": list(replicas), "budgets": budgets, "accuracy": accuracy}
    return _run_sweep("sweep", directory, base, points, axes, meta, executor=executor, workers=workers,
                      scheduler=scheduler, resume=resume, progress=progress)


def compare(workload, hardware: Iterable[str] | None = None, settings=None, sets: Iterable[str] = (),
            strategies: str | Iterable[str] = STRATEGIES, out: str | Path | None = None, *, executor: str = "pool",
            workers: int | None = None, scheduler: str | None = None, resume: bool = False, accuracy: bool = True,
            progress: bool = True) -> dict:
    """`archsim compare`: the workload under each patch-assignment strategy on each chip (`none`
    means no replication: one replica per layer). Same outputs as `sweep`."""
    from archsim.sweep import Axis, expand, set_axes, split_values
    names = split_values(strategies) if isinstance(strategies, str) else list(strategies)
    bad = [s for s in names if s not in STRATEGIES]  # an empty name too ("none,,image")
    if bad or not names or len(set(names)) != len(names):
        raise SpecError([f"--strategies {','.join(names)!r}: each must be one of {', '.join(STRATEGIES)}, "
                         f"given once" + (f" (not {', '.join(map(repr, bad))})" if bad else "")])
    chips = [hardware] if isinstance(hardware, (str, Path)) else list(hardware or [DEFAULT_HARDWARE])
    swept, constants = set_axes(list(sets))
    loaded = [load_specs(workload, chip, settings, constants) for chip in chips]  # every chip checked up front
    base = loaded[0]
    wl, st = _source(workload), _source(settings)
    hws = [_source(c) for c in chips]
    if len(set(hws)) != len(hws):
        raise SpecError([f"--hardware {' '.join(chips)}: a chip is given twice"])
    axes = [Axis("hardware", "hardware", tuple(hws)), Axis("strategy", "strategy", tuple(names)), *swept]
    conv = [l.name for l in base.workload.analog_layers() if l.op == "conv2d"]
    _check_points(wl, hws, st, constants, [a for a in axes if a.kind != "hardware"], conv)
    points = expand(wl, hws[0], st, axes, constants, conv, accuracy)
    directory = Path(out) if out else Path(base.run.out or Path("reports") / f"{base.workload.name}-compare")
    meta = {"workload": base.workload.name, "hardware": [specs.hardware.name for specs in loaded],
            "sources": [wl, hws, st], "sets": list(sets), "strategies": names, "accuracy": accuracy}
    return _run_sweep("compare", directory, base, points, axes, meta, executor=executor, workers=workers,
                      scheduler=scheduler, resume=resume, progress=progress)


def report(directory: str | Path) -> dict:
    """`archsim report DIR`: rebuild the report (index.html, plots) of a finished run, training, sweep
    or comparison from its saved results (a sweep's table is rebuilt from DIR/points first)."""
    from archsim.errors import ArchsimError
    from archsim.report import write_results, write_run_report, write_sweep_report
    from archsim.sweep import Point, PointStore
    directory = Path(directory)
    if (directory / "sweep.json").is_file():
        definition = json.loads((directory / "sweep.json").read_text())
        points = [Point(**{**p, "sets": tuple(p["sets"])}) for p in definition["points"]]
        write_results(directory, PointStore(directory).rows(points))
        return {"kind": definition["kind"], **write_sweep_report(directory)}
    if (directory / "history.json").is_file() and (directory / "summary.json").is_file():
        from archsim.report import write_train_report
        return {"kind": "train", **write_train_report(directory)}
    if (directory / "summary.json").is_file():
        return {"kind": "run", **write_run_report(directory)}
    raise ArchsimError(f"{directory}: is not the directory of a finished run, sweep or comparison "
                       f"(it has neither summary.json nor sweep.json)")


def _write_json(path: Path, data: dict) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))
