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
from archsim.spec import (DEFAULT_HARDWARE, DEFAULT_WORKLOAD, HardwareSpec, RunSettings, Workload,
                          load_hardware, load_run, load_workload, split_overrides, to_plain)


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
    if errors:
        raise SpecError(errors)
    return Specs(loaded["workload"], loaded["hardware"], loaded["run"])


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
        out: str | Path | None = None, progress: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """One run: compile, simulate the timing, write every result to the output directory.

    Writes plan.json and specs.json first (so nothing computed is lost), then the
    engine's summary.json, layers.csv, components.csv and trace.json (Perfetto).
    `progress` receives a line per stage. Returns (directory, summary).
    """
    from archsim.engine import simulate
    say = progress or (lambda message: None)
    from archsim.report import write_table
    specs = load_specs(workload, hardware, settings, sets)
    program = compile_specs(specs)
    directory = output_dir(specs, out)
    directory.mkdir(parents=True, exist_ok=True)
    plan = plan_summary(program)
    _write_json(directory / "plan.json", plan)
    _write_json(directory / "specs.json", {"workload": to_plain(specs.workload),
                                           "hardware": to_plain(specs.hardware),
                                           "run": to_plain(specs.run)})
    accuracy, passes = None, None
    if specs.workload.weights:
        say(f"accuracy: {specs.run.eval_images or 'all'} test images, digital and analog at "
            f"{len(specs.run.inference_times)} time(s) x {specs.run.programming_repeats} programming(s)")
        accuracy, passes = _accuracy(specs, program)
        _write_json(directory / "accuracy.json", accuracy)
    say(f"timing: {specs.run.images} images through {specs.hardware.name} ({specs.run.fidelity.value}), "
        f"and the same network with one replica per layer")
    timing = simulate(program, specs.run, passes=passes)
    summary = {"archsim_version": __version__, **timing.summary(),
               "mapping": {"tiles_used": plan["totals"]["tiles_used"],
                           "tiles_available": plan["totals"]["tiles_available"],
                           "weight_blowup": plan["totals"]["weight_blowup"], "strategy": plan["strategy"]}}
    if accuracy is not None:
        summary["accuracy"] = accuracy
    write_table(directory / "layers.csv", timing.layer_rows())
    write_table(directory / "components.csv", timing.component_rows())
    _write_json(directory / "trace.json", timing.trace())
    _write_json(directory / "summary.json", summary)
    return directory, summary


def load_params(specs: Specs, program: Program) -> dict:
    """The workload's weights, checked against the network (shared or per-replica weights)."""
    from archsim.data.weights import load_weights
    from archsim.nn import param_shapes
    shared, replicated = param_shapes(program), param_shapes(program, replicated=True)
    expected = {k: {shared[k], replicated[k]} for k in shared}
    path = Path(specs.workload.base_dir) / specs.workload.weights
    params, _ = load_weights(path, expected)
    return params


def _accuracy(specs: Specs, program: Program):
    """Digital and analog accuracy on the workload's test data, and the measured passes."""
    from archsim.nn.accuracy import chip_accuracy
    params = load_params(specs, program)
    test = load_data(specs, "test", specs.run.eval_images or None)
    accuracy, log = chip_accuracy(program, params, test.images, test.labels, times=specs.run.inference_times,
                                  repeats=specs.run.programming_repeats, seed=specs.run.seed,
                                  keep=specs.run.images, per_mvm=specs.run.read_noise.value == "per_mvm",
                                  backend=specs.run.backend.value)
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

    def checkpoint(st):
        save_checkpoint(ckpt, st, meta)
        _write_json(directory / "history.json", {"history": st.history})

    state = trainer.train(program, train_set.images, train_set.labels, test_set.images, test_set.labels,
                          cfg, specs.run.seed, state=state, progress=progress, checkpoint=checkpoint)
    final = state.history[-1] if state.history else {}
    summary = {**meta, "epochs": state.epoch, "test_accuracy": final.get("test_accuracy"),
               "train_loss": final.get("train_loss"), "test_images": len(test_set.labels),
               "train_images": len(train_set.labels)}
    save_weights(directory / "weights.npz", state.params, summary)
    _write_json(directory / "summary.json", summary)
    return directory, summary


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # never leave a half-written result behind
