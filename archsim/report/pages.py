"""The reports of a run, a sweep and a comparison, rebuilt from the files they saved.

Everything here reads the results directory (summary.json, layers.csv, trace.json,
mesh.json, accuracy.json, specs.json for a run; sweep.json, results.csv and
points/<id>.json for a sweep or comparison) and writes plots/ and index.html, so
`archsim report DIR` gives the same page as the command that made DIR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
from matplotlib.figure import Figure

from archsim.report import analysis, plots
from archsim.report.html import Section, write_page
from archsim.report.tables import read_results
from archsim.report.text import summary_items
from archsim.units import ENERGY, TIME, format_quantity


MESH_CAPTION = ("Busy fraction of every tile in use and every digital unit (outlined orange, D) on the chip's "
                "mesh, the I/O buffer outlined black, and the links that carried data (red lines, one per "
                "direction; a large chip is cropped to the region in use).")


def _clear_plots(directory: Path) -> None:
    """A rebuilt report keeps no figure of an earlier one."""
    for path in (directory / "plots").glob("*"):
        if path.suffix in (".png", ".svg"):
            path.unlink()


def _json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


@dataclass
class _Page:
    """What a report shows, before it is written."""

    title: str
    source: dict                  # summary.json or sweep.json: the archsim version and seed of the meta line
    sections: list[Section]
    findings: list[str]
    meta: list[str] = field(default_factory=list)   # the meta line after version and seed
    info: dict = field(default_factory=dict)        # more keys of what the writer returns


def _write(directory: str | Path, build: Callable[[Path], _Page]) -> dict:
    """plots/ and index.html of `directory`, as `build` makes them from its files (the figures
    of an earlier report removed first): {"index": the page, "findings": ..., **info}."""
    directory = Path(directory)
    _clear_plots(directory)
    page = build(directory)
    meta = [f"archsim {page.source.get('archsim_version', '?')}", f"seed {page.source['seed']}", *page.meta]
    return {"index": write_page(directory, page.title, meta, page.sections), "findings": page.findings,
            **page.info}


def _add_figure(section: Section, directory: Path, name: str, fig: Figure, caption: str) -> Section:
    """plots/<name>.png and .svg, and the figure inlined in the section."""
    return section.figure(plots.save(fig, directory, name), caption, name)


def _specs_section(specs: dict | None) -> Section:
    section = Section("Specs used")
    if not specs:
        return section.text("specs.json is missing from this directory.", "warning")
    section.text("Every value of the three documents, in SI units (specs.json).")
    for name in ("hardware", "workload", "run"):
        if name in specs:
            section.details(f"{name}: {specs[name].get('name', 'run settings')}", specs[name])
    return section


# ---------------------------------------------------------------- one run

def _trace_busy(trace: dict | None, layers: list[dict], clock_hz: float) -> dict[str, list[tuple[float, float]]]:
    """Busy intervals (us) of the first image per layer: for an analog layer its tiles' MVMs
    tagged image 0, for a digital layer its digital unit's work inside its first-image span
    (digital work fused into another layer's step is drawn with that layer's span)."""
    if not trace:
        return {}
    us = 1e6 / clock_hz
    span = {l["name"]: (int(l["start_cycle"]) * us, int(l["end_cycle"]) * us, l["kind"] == "analog")
            for l in layers if int(l["start_cycle"]) >= 0}
    events = trace.get("traceEvents", ())
    tile_pid = next((e["pid"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"
                     and (e.get("args") or {}).get("name") == "analog tiles"), None)
    busy: dict[str, list[tuple[float, float]]] = {}
    for event in events:
        if event.get("ph") != "X" or event["name"] not in span:
            continue
        args = event.get("args") or {}
        start, end, analog = span[event["name"]]
        on_tile = event.get("pid") == tile_pid
        if (analog and on_tile and args.get("image") == 0) or \
                (not analog and not on_tile and start <= event["ts"] and event["ts"] + event["dur"] <= end + us):
            busy.setdefault(event["name"], []).append((event["ts"], event["dur"]))
    return busy


def write_run_report(directory: str | Path) -> dict:
    """plots/ and index.html of a run directory (written by `archsim run`)."""
    return _write(directory, _run_page)


def _run_page(directory: Path) -> _Page:
    summary = _json(directory / "summary.json")
    specs = _json(directory / "specs.json")
    layers = pd.read_csv(directory / "layers.csv").to_dict("records") if (directory / "layers.csv").is_file() else []
    mesh, accuracy = _json(directory / "mesh.json"), _json(directory / "accuracy.json")
    trace = _json(directory / "trace.json")
    title = f"{summary['workload']} on {summary['hardware']}"
    overview = Section("Summary").table(pd.DataFrame(summary_items(summary, detail=True), columns=["", "value"]))
    finding = (f"The busiest component over the run is {analysis.component(summary)}: it sets the "
               f"throughput of the pipeline.")
    overview.text(finding, "finding")
    figures = Section("Figures")
    if layers:
        _add_figure(figures, directory, "timeline",
                    plots.gantt(layers, summary["clock_hz"], _trace_busy(trace, layers, summary["clock_hz"])),
                    "Timeline of the first image: each layer's span (light) and when its tiles or digital unit "
                    "were busy with it (dark), from trace.json.")
    if mesh:
        _add_figure(figures, directory, "mesh", plots.mesh(mesh), MESH_CAPTION + " Over the whole run (mesh.json).")
    if accuracy:
        _add_figure(figures, directory, "accuracy_time", plots.accuracy_time([("", accuracy)]),
                    "Digital and analog accuracy against time after programming (accuracy.json).")
    sections = [overview, figures]
    if layers:
        sections.append(Section("Layers").table(pd.DataFrame(layers), "layers.csv: cycles of the first image."))
    plan = _json(directory / "plan.json")
    if plan:
        sections.append(Section("Mapping").table(pd.DataFrame(plan["layers"]), "plan.json: the mapping of each "
                                                                              "conv/linear layer."))
    sections.append(_specs_section(specs))
    return _Page(title, summary, sections, [finding],
                 meta=[f"{summary['images']} images, {summary['fidelity']} timing"])


# ---------------------------------------------------------------- training

def write_train_report(directory: str | Path) -> dict:
    """plots/ and index.html of a training directory (written by `archsim train`)."""
    return _write(directory, _train_page)


def _train_page(directory: Path) -> _Page:
    summary = _json(directory / "summary.json")
    history = (_json(directory / "history.json") or {}).get("history", [])
    timing = _json(directory / "timing.json")
    algorithm = summary.get("train", {}).get("algorithm", "sgd")
    title = f"{summary['workload']} trained with {algorithm} on {summary['hardware']}"
    overview = Section("Summary")
    rows = [("test accuracy", f"{summary['test_accuracy']:.2%} after {summary['epochs']} epochs "
                              f"({summary['test_images']} test images, {summary['train_images']} training images)")]
    last = history[-1] if history else {}
    if "analog_test_accuracy" in last:
        rows.append(("on the chip", f"{last['analog_test_accuracy']:.2%}"))
        w = last["writes"]
        rows.append(("device writes", f"{w['pulses']:,} pulses; most writes on one device {w['max']:,.0f} "
                                      f"({w['max_fraction']:.2e} of endurance), mean {w['mean']:.3g} "
                                      f"({w['mean_fraction']:.2e})"))
    if "after_drift" in last:
        rows.append(("after drift", ", ".join(f"{k} {v:.2%}" for k, v in last["after_drift"].items())))
    if timing:
        acc = timing["acceleration"]
        rows.append(("training step", f"{format_quantity(timing['latency_s'], TIME)} per image, "
                                       f"{timing['throughput_images_per_s']:,.0f} images/s, "
                                       f"{format_quantity(timing['energy_per_image_j'], ENERGY)} per image"))
        rows.append(("training acceleration", f"{acc['pipelined']:.2f}x pipelined, {acc['sequential']:.2f}x "
                                              f"sequential against one replica per layer (closed form "
                                              f"{acc['closed_form']['pipelined']:.2f}x)"))
    overview.table(pd.DataFrame(rows, columns=["", "value"]))
    finding = f"{algorithm}: " + "; ".join(f"{k} {v}" for k, v in rows[:3])
    overview.text(finding, "finding")
    figures = Section("Figures")
    if history:
        _add_figure(figures, directory, "training", plots.training(history),
                    "Train loss and test accuracy per epoch (history.json).")
    if "writes" in last:
        writes = last["writes"]
        _add_figure(figures, directory, "writes", plots.writes(writes["histogram"], writes["endurance"]),
                    "Write-erase cycles per physical device at the end of training.")
    if "after_drift" in last:
        _add_figure(figures, directory, "drift", plots.drift(last["after_drift"], last["test_accuracy"]),
                    "Accuracy of the trained tiles read at times after training (drift, read noise, drift "
                    "compensation of the hardware spec).")
    sections = [overview, figures]
    if history:
        table = pd.DataFrame([{k: v for k, v in h.items() if not isinstance(v, dict)} for h in history])
        sections.append(Section("Epochs").table(table, "history.json"))
    sections.append(Section("Settings").details("training settings", summary.get("train", {})))
    return _Page(title, summary, sections, [finding])


# ---------------------------------------------------------------- sweeps and comparisons

STEADY_IMAGES = 16   # images after which a replica sweep's speedup is within ~6 % of its long-run value
                     # (measured: the README's sweep paragraph)
RESULT_COLUMNS = ("status", "replicas_mapped", "speedup", "acceleration_pipelined", "acceleration_sequential",
                  "latency_s", "throughput_images_per_s", "energy_per_image_j", "tiles_used", "bottleneck",
                  "bottleneck_utilisation", "accuracy_digital", "accuracy_analog", "accuracy_analog_std")


def _point_detail(directory: Path, point_id: str) -> dict | None:
    record = _json(directory / "points" / f"{point_id}.json")
    return (record or {}).get("detail")


def _point_label(row) -> str:
    return f"point {row['point']} ({row['replicas_mapped']})"


def _point_mesh(section: Section, directory: Path, name: str, detail: dict | None, title: str, caption: str) -> None:
    """The busy mesh of one point (if its detail has one): `title` completes the figure's title,
    `caption` the mesh caption."""
    if detail and detail.get("mesh"):
        _add_figure(section, directory, name, plots.mesh(detail["mesh"], f"Busy fraction on the chip, {title}"),
                    f"{MESH_CAPTION} {caption}")


def _best_point_figures(directory: Path, table: pd.DataFrame, section: Section, which: str) -> None:
    """Mesh and timeline of the point with the highest throughput."""
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return
    best = ok.loc[pd.to_numeric(ok["throughput_images_per_s"]).idxmax()]
    detail = _point_detail(directory, str(best["id"]))
    if not detail:
        return
    label = _point_label(best)
    _point_mesh(section, directory, "mesh", detail, f"{which} {label}", f"The {which} point, {label}.")
    if detail.get("layers"):
        _add_figure(section, directory, "timeline",
                    plots.gantt(detail["layers"], detail["summary"]["clock_hz"],
                                title=f"Timeline of the first image, {which} {label}"),
                    f"Each layer's span for the first image at the {which} point (from layers of its timing "
                    f"result; sweeps keep no trace).")


def _results_section(table: pd.DataFrame, axes: list[dict]) -> Section:
    section = Section("Results")
    section.text("One row per point (results.csv and results.parquet hold every column). speedup: simulated "
                 "throughput against the same network with one replica per layer; acceleration_pipelined / "
                 "_sequential: the closed-form ideals (max P / max ceil(P/n), sum P / sum ceil(P/n)).")
    params = [a["name"] for a in axes if a["name"] in table]
    columns = ["point", *params, *(c for c in RESULT_COLUMNS if c in table and table[c].notna().any())]
    section.table(table[columns])
    failed = table[table["status"] != "ok"]
    for _, row in failed.iterrows():
        section.text(f"point {row['point']} ({', '.join(f'{p}={row[p]}' for p in params)}) {row['status']}: "
                     f"{row['error']}", "warning")
    return section


def _header(definition: dict, finished: int, ok: int) -> tuple[str, list[str]]:
    """The title and the meta line after version and seed."""
    kind = definition["kind"]
    hw = definition["hardware"]
    hw = ", ".join(hw) if isinstance(hw, list) else hw
    axes = definition["axes"]
    if kind != "sweep":
        what = "strategy comparison"
    elif any(a["kind"] in ("replicas", "layer_replicas", "tile_budget") for a in axes):
        what = "replica sweep"
    else:
        what = "sweep of " + ", ".join(a["name"] for a in axes)
    title = f"{definition['workload']} on {hw}: {what}"
    meta = [f"{finished} of {len(definition['points'])} points finished, {ok} ok",
            "accuracy " + ("measured when the workload has weights" if definition.get("accuracy") else "off")]
    return title, meta


def write_sweep_report(directory: str | Path) -> dict:
    """plots/ and index.html of a sweep or comparison directory, from sweep.json, results.csv
    and points/; also the counts of points: total, finished, ok and failed."""
    return _write(directory, _sweep_page)


def _sweep_page(directory: Path) -> _Page:
    definition = _json(directory / "sweep.json")
    specs = _json(directory / "specs.json")
    table = read_results(directory)
    finished = len(table)
    ok = int((table["status"] == "ok").sum()) if finished else 0
    title, meta = _header(definition, finished, ok)
    axes = definition["axes"]
    findings = Section("Findings")
    figures = Section("Figures")
    paragraphs: list[str] = []
    if table.empty:
        findings.text("No point has finished yet.", "warning")
    elif definition["kind"] == "sweep":
        paragraphs = _sweep_figures(directory, table, axes, specs, figures)
    else:
        paragraphs = _compare_figures(directory, table, axes, figures)
    for text in paragraphs:
        findings.text(text, "finding")
    if not table.empty:
        _best_point_figures(directory, table, figures, "fastest")
    sections = [findings, figures]
    if not table.empty:
        sections.append(_results_section(table, axes))
    sections.append(_specs_section(specs).text(
        "These are the base specs; each point overrides them with its parameters (its `--set` items are in "
        "sweep.json and points/<id>.json)."))
    return _Page(title, definition, sections, paragraphs, meta=meta,
                 info={"points": len(definition["points"]), "finished": finished, "ok": ok, "failed": finished - ok})


def _sweep_figures(directory: Path, table: pd.DataFrame, axes: list[dict], specs: dict | None,
                   figures: Section) -> list[str]:
    lines = analysis.series(table, axes)
    if not lines:
        return ["No point of this sweep ran: see the failed points below."]
    x, x_label = analysis.x_axis(axes)
    log_x = analysis.log_x(x)
    paragraphs = analysis.explain(lines, axes, (specs or {}).get("hardware"))
    images = (specs or {}).get("run", {}).get("images")
    if images is not None and images < STEADY_IMAGES and not any(a["name"] in ("run.images", "images") for a in axes):
        figures.text(f"Throughput was measured over {images} images (run.images): a pipeline whose links or "
                     f"digital units fill up only slowly may not reach its steady state that soon, so speedups "
                     f"past the bend can be optimistic; --set run.images={STEADY_IMAGES} or more measures it.",
                     "warning")
    _add_figure(figures, directory, "speedup", plots.speedup(lines, x_label, log_x),
                "Simulated speedup (throughput against one replica per layer) and the ideal line; marker colour: "
                "the bottleneck component; the annotation names the component at the point where speedup leaves "
                "the ideal line.")
    saturated = next((s.bend["saturated"] for s in lines if s.bend and s.bend["saturated"]), None)
    if saturated:
        label = _point_label(saturated)
        _point_mesh(figures, directory, "mesh_saturated", _point_detail(directory, str(saturated["id"])),
                    f"saturated {label}",
                    f"The first point where {saturated['bottleneck']} is saturated, {label}: where the bottleneck "
                    f"sits.")
    if "accuracy_analog" in table and table["accuracy_analog"].notna().any():
        _add_figure(figures, directory, "accuracy", plots.accuracy(lines, x_label, log_x),
                    "Digital and analog test accuracy at each point (error bars: standard deviation over "
                    "programmings).")
    _accuracy_time_figure(directory, table, axes, figures)
    return paragraphs


def _accuracy_time_figure(directory: Path, table: pd.DataFrame, axes: list[dict], figures: Section,
                          limit: int = 8) -> None:
    if "accuracy_analog" not in table:
        return
    varying = [a["name"] for a in axes if a["name"] in table and table[a["name"]].nunique() > 1]
    curves = []
    for _, row in table[table["accuracy_analog"].notna()].head(limit).iterrows():
        detail = _point_detail(directory, str(row["id"]))
        if detail and detail.get("accuracy") and len(detail["accuracy"]["analog"]) > 1:
            label = ", ".join(f"{k}={row[k]}" for k in varying)
            curves.append((label or f"point {row['point']}", detail["accuracy"]))
    if curves:
        _add_figure(figures, directory, "accuracy_time", plots.accuracy_time(curves),
                    "Analog accuracy against time after programming.")


def _compare_figures(directory: Path, table: pd.DataFrame, axes: list[dict], figures: Section) -> list[str]:
    paragraphs = []
    for chip, part in table.groupby("hardware", sort=False):
        ok = part[part["status"] == "ok"]
        name = Path(str(chip)).stem
        if ok.empty:
            paragraphs.append(f"{name}: no strategy could be mapped (see the failed points below).")
            continue
        fastest = ok.loc[ok["throughput_images_per_s"].idxmax()]
        slowest = ok.loc[ok["throughput_images_per_s"].idxmin()]
        if len(ok) == 1:
            text = (f"{name}: only {fastest['strategy']} could be mapped ({fastest['throughput_images_per_s']:,.0f} "
                    f"images/s; bottleneck {analysis.component(fastest.to_dict())}).")
        else:
            text = (f"{name}: {fastest['strategy']} is fastest ({fastest['throughput_images_per_s']:,.0f} images/s, "
                    f"{fastest['speedup']:.2f}x one replica; bottleneck {analysis.component(fastest.to_dict())}); "
                    f"{slowest['strategy']} is slowest ({slowest['throughput_images_per_s']:,.0f} images/s, "
                    f"bottleneck {analysis.component(slowest.to_dict())}).")
            failed = part[part["status"] != "ok"]
            if not failed.empty:
                text += f" {', '.join(failed['strategy'])} could not be mapped."
        measured = ok.dropna(subset=["accuracy_analog"]) if "accuracy_analog" in ok else ok.iloc[0:0]
        if not measured.empty:
            ranking = measured.sort_values("accuracy_analog", ascending=False, kind="stable")
            text += " Analog accuracy ranks " + " > ".join(
                f"{r['strategy']} ({r['accuracy_analog']:.1%} ± {r['accuracy_analog_std']:.1%})"
                for _, r in ranking.iterrows()) + " (every strategy runs the same trained weights)."
        notes = ok[ok["accuracy_note"].fillna("") != ""] if "accuracy_note" in ok else ok.iloc[0:0]
        for _, r in notes.iterrows():
            text += f" {r['strategy']}: {r['accuracy_note']}"
        paragraphs.append(text)
    _add_figure(figures, directory, "strategies", plots.strategies(table),
                "Latency, throughput, energy per image and analog accuracy (error bars: spread over programmings) "
                "of each strategy; 'none' is one replica per layer.")
    _accuracy_time_figure(directory, table, axes, figures)
    return paragraphs
