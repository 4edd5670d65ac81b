"""The report's figures (matplotlib, no pyplot: no global figure state).

Each function takes plain data (tables, dicts read from the saved results) and returns
a Figure; `save` writes it as PNG and SVG and returns the SVG text for inlining in
index.html.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colors, patches, ticker
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from archsim.report.analysis import KIND_NAMES, Series, component

KIND_COLOURS = {"tile": "#1f77b4", "digital": "#ff7f0e", "link": "#d62728", "buffer": "#9467bd"}
_LINK = re.compile(r"^link\((\d+),(\d+)\)->\((-?\d+),(-?\d+)\)$")
_TAB10 = matplotlib.colormaps["tab10"]


def _colour(k: int) -> tuple[float, float, float, float]:
    """The k-th line's colour (tab10, repeating after ten)."""
    return _TAB10(k % 10)


def save(fig: Figure, directory: Path, name: str) -> str:
    """Write plots/<name>.png and .svg; return the SVG markup (text kept as text, stable ids)."""
    folder = Path(directory) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / f"{name}.png", dpi=110, metadata={"Software": None})
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    (folder / f"{name}.svg").write_text(svg)
    return svg[svg.index("<svg"):]


def _figure(width: float = 7.5, height: float = 4.5) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


# ---------------------------------------------------------------- sweeps

def _title(what: str, x_label: str) -> str:
    if x_label.startswith("ideal"):
        return f"{what} against the ideal speedup"
    return f"{what} against replication" if "replica" in x_label or "budget" in x_label else \
        f"{what} against {x_label}"


def speedup(lines: list[Series], x_label: str, log_x: bool) -> Figure:
    """Speedup against the x axis, the ideal line, and each line's bend annotated with its bottleneck."""
    fig = _figure()
    ax = fig.add_subplot()
    xs = np.concatenate([s.table["_x"].to_numpy(float) for s in lines]) if lines else np.array([1.0])
    if log_x:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    if x_label.startswith("ideal"):
        lo, hi = max(1.0, float(np.nanmin(xs))), float(np.nanmax(xs))
        ax.plot([lo, hi], [lo, hi], "--", color="grey", lw=1, label="ideal (speedup = closed form)")
    for k, s in enumerate(lines):
        t = s.table
        colour = _colour(k)
        if not x_label.startswith("ideal"):
            ideal = t.drop_duplicates("_x")
            ax.plot(ideal["_x"], ideal["acceleration_pipelined"], "--", color=colour, lw=1, alpha=0.7,
                    label="ideal (closed form)" + (f", {s.label}" if len(lines) > 1 else ""))
            best = t.drop_duplicates("_x", keep="first")
            ax.plot(best["_x"], best["speedup"], "-", color=colour, lw=1.5)
        for kind, part in t.groupby("bottleneck_kind", sort=True):
            ax.scatter(part["_x"], part["speedup"], s=28, color=KIND_COLOURS.get(kind, "black"), zorder=3,
                       edgecolors=colour if len(lines) > 1 else "none", linewidths=1.2,
                       label=f"bottleneck: {KIND_NAMES.get(kind, kind)}" if k == 0 else None)
        if s.bend is not None:
            notes = [("leaves the ideal", s.bend["at"])]
            if s.bend["saturated"] is not None:
                notes.append(("saturated", s.bend["saturated"]))
            if len(notes) == 2 and notes[0][1]["point"] == notes[1][1]["point"]:
                notes = [("leaves the ideal, saturated", notes[1][1])]
            for j, (what, row) in enumerate(notes):
                ax.annotate(f"{what}: {component(row)}", xy=(row["_x"], row["speedup"]),
                            xytext=(0.03, 0.94 - 0.08 * (2 * k + j)), textcoords="axes fraction", fontsize=8,
                            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1},
                            bbox={"boxstyle": "round", "fc": "white", "ec": colour, "alpha": 0.9})
    ax.set_xlabel(x_label)
    ax.set_ylabel("speedup (throughput vs one replica per layer)")
    ax.set_title(_title("Speedup", x_label))
    ax.grid(True, which="both", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right")
    return fig


def accuracy(lines: list[Series], x_label: str, log_x: bool) -> Figure:
    """Digital and analog accuracy (mean and spread over programmings) against the x axis."""
    fig = _figure(7.5, 4)
    ax = fig.add_subplot()
    if log_x:
        ax.set_xscale("log", base=2)
    for k, s in enumerate(lines):
        t = s.table.dropna(subset=["accuracy_analog"]).drop_duplicates("_x")
        if t.empty:
            continue
        suffix = f" ({s.label})" if len(lines) > 1 else ""
        ax.errorbar(t["_x"], t["accuracy_analog"] * 100, yerr=t["accuracy_analog_std"].fillna(0) * 100, fmt="o-",
                    color=_colour(k), capsize=3, label=f"analog at {t['accuracy_at'].iloc[0]}{suffix}")
        ax.plot(t["_x"], t["accuracy_digital"] * 100, "s--", color=_colour(k), alpha=0.6,
                label=f"digital{suffix}")
    ax.set_xlabel(x_label)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(_title("Accuracy", x_label) + " (error bars: spread over programmings)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def strategies(table: pd.DataFrame) -> Figure:
    """Latency, throughput, energy and accuracy of each strategy, grouped by chip."""
    fig = _figure(9, 6.5)
    axes = fig.subplots(2, 2)
    chips = list(dict.fromkeys(table["hardware"]))
    names = list(dict.fromkeys(table["strategy"]))
    width = 0.8 / max(1, len(chips))
    panels = (("latency_s", 1e6, "latency per image (us)"), ("throughput_images_per_s", 1e-3,
              "throughput (1000 images/s)"), ("energy_per_image_j", 1e6, "energy per image (uJ)"),
              ("accuracy_analog", 100, "analog accuracy (%)"))
    for ax, (column, scale, label) in zip(axes.flat, panels):
        for c, chip in enumerate(chips):
            part = table[table["hardware"] == chip].set_index("strategy")
            positions = np.arange(len(names)) + (c - (len(chips) - 1) / 2) * width
            values = []
            for name in names:
                row = part.loc[name] if name in part.index else None
                ok = row is not None and row["status"] == "ok" and column in row and pd.notna(row[column])
                values.append(float(row[column]) * scale if ok else np.nan)
            bars = ax.bar(positions, np.nan_to_num(values), width * 0.95, color=_colour(c),
                          label=Path(str(chip)).stem)
            if column == "accuracy_analog" and "accuracy_analog_std" in part:
                err = [float(part.loc[n, "accuracy_analog_std"]) * scale if n in part.index
                       and pd.notna(part.loc[n, "accuracy_analog_std"]) else 0 for n in names]
                ax.errorbar(positions, np.nan_to_num(values), yerr=err, fmt="none", ecolor="black", capsize=3)
            for bar, value, name in zip(bars, values, names):
                if math.isnan(value):
                    row = part.loc[name] if name in part.index else None
                    why = "failed" if row is None or row["status"] != "ok" else "not measured"
                    ax.text(bar.get_x() + bar.get_width() / 2, 0, why, rotation=90, ha="center", va="bottom",
                            fontsize=7, color="grey")
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=8, title="hardware", title_fontsize=8)
    fig.suptitle("Patch-assignment strategies side by side")
    return fig


# ---------------------------------------------------------------- one run or point

def mesh(usage: dict, title: str = "Busy fraction on the chip") -> Figure:
    """The chip's mesh: each tile in use and each digital unit coloured by its busy fraction,
    links that carried data drawn between nodes (both directions, side by side; redder:
    busier). A large chip is cropped to the region in use."""
    cols, rows = usage["cols"], usage["rows"]
    grid = np.full((rows, cols), np.nan)
    for x, y, _tile, _layer, busy in usage["tiles"]:
        grid[y, x] = busy
    for x, y, _unit, busy in usage["digital"]:
        grid[y, x] = busy
    io_x, io_y, io_busy = usage["io"]
    grid[io_y, io_x] = io_busy
    segments, busy = [], []
    for name, fraction in usage["links"]:
        match = _LINK.match(name)
        if match:
            x0, y0, x1, y1 = map(int, match.groups())
            ox, oy = 0.14 * (y1 - y0), 0.14 * (x0 - x1)   # offset each direction to its own side
            segments.append([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy)])
            busy.append(fraction)
    # the region in use: tiles, busy digital units, the IO node and busy links, plus a margin
    xs = [t[0] for t in usage["tiles"]] + [d[0] for d in usage["digital"] if d[3] > 0] + [io_x]
    ys = [t[1] for t in usage["tiles"]] + [d[1] for d in usage["digital"] if d[3] > 0] + [io_y]
    x0, x1 = max(0, min(xs) - 1), min(cols - 1, max(xs) + 1)
    y0, y1 = max(0, min(ys) - 1), min(rows - 1, max(ys) + 1)
    cropped = (x1 - x0 + 1) < cols or (y1 - y0 + 1) < rows
    extent = max(x1 - x0 + 1, y1 - y0 + 1)
    side = min(7.0, max(4.0, 0.2 * extent))
    fig = _figure(side + 3.2, side + 0.6)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#eeeeee")
    image = ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, origin="upper", interpolation="nearest")
    if segments:
        reds = colors.ListedColormap(matplotlib.colormaps["Reds"](np.linspace(0.35, 1.0, 256)))
        order = np.argsort(busy, kind="stable")   # the busiest on top, and thicker
        fractions = np.asarray(busy)[order]
        scale = 1.0 if extent <= 16 else 0.6
        lines = LineCollection([segments[i] for i in order], cmap=reds, norm=colors.Normalize(0, 1),
                               linewidths=scale * (0.8 + 3.2 * fractions))
        lines.set_array(fractions)
        ax.add_collection(lines)
        fig.colorbar(lines, ax=ax, shrink=0.6, label="link busy fraction")
    small = extent > 28
    for x, y, _unit, _busy in usage["digital"]:
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            continue
        ax.add_patch(patches.Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, ec="#ff7f0e", lw=1.4))
        if not small:
            ax.text(x, y, "D", ha="center", va="center", fontsize=7, color="white", clip_on=True)
    ax.add_patch(patches.Rectangle((io_x - 0.5, io_y - 0.5), 1, 1, fill=False, ec="black", lw=1.5))
    ax.text(io_x, io_y, "IO", ha="center", va="center", fontsize=6 if small else 8, color="white")
    fig.colorbar(image, ax=ax, shrink=0.6, label="tile / digital unit busy fraction")
    ax.set_xlim(x0 - 0.5, x1 + 0.5)
    ax.set_ylim(y1 + 0.5, y0 - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    where = f"columns {x0}-{x1}, rows {y0}-{y1} of the {cols}x{rows} mesh" if cropped else f"{cols}x{rows} mesh"
    ax.set_title(f"{title}\n{len(usage['tiles'])} of {usage['tiles_available']} tiles in use; {where}", fontsize=9)
    return fig


def gantt(layers: list[dict], clock_hz: float, busy: dict[str, list[tuple[float, float]]] | None = None,
          title: str = "Timeline of one image") -> Figure:
    """One row per layer: its span for the first image (light) and, from the trace, when its
    tiles or digital unit were busy with that image (dark)."""
    rows = [l for l in layers if int(l["start_cycle"]) >= 0]
    fig = _figure(8, min(14.0, max(2.5, (0.32 if len(rows) < 40 else 0.12) * len(rows) + 1.2)))
    ax = fig.add_subplot()
    us = 1e6 / clock_hz
    boxes: dict[tuple[str, bool], list] = {}   # (kind, busy?) -> rectangles, drawn as one collection each
    end_us = 0.0
    for i, layer in enumerate(rows):
        kind = "tile" if layer["kind"] == "analog" else "digital"
        start, end = int(layer["start_cycle"]) * us, int(layer["end_cycle"]) * us
        end_us = max(end_us, end)
        boxes.setdefault((kind, False), []).append(_box(start, max(end - start, us), i, 0.4))
        for s, d in _merge((busy or {}).get(layer["name"], [])):
            boxes.setdefault((kind, True), []).append(_box(s, d, i, 0.3))
    for (kind, is_busy), rects in boxes.items():
        alpha = 0.9 if is_busy else (0.25 if busy else 0.5)
        ax.add_collection(PolyCollection(rects, facecolors=KIND_COLOURS[kind], alpha=alpha, linewidths=0))
    ax.set_xlim(-0.02 * end_us, end_us * 1.02 + us)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), [f"{l['name']} ({l['kind']})" for l in rows], fontsize=8 if len(rows) < 40 else 5)
    ax.set_xlabel("time since the image was admitted (us)")
    ax.set_title(title + ("" if busy else " (layer spans)"), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    if busy:
        handles = [patches.Patch(color=KIND_COLOURS["tile"], label="analog layer: tiles busy"),
                   patches.Patch(color=KIND_COLOURS["digital"], label="digital layer: unit busy"),
                   patches.Patch(color="grey", alpha=0.3, label="span of the layer for this image")]
    else:
        handles = [patches.Patch(color=KIND_COLOURS["tile"], alpha=0.5, label="analog layer"),
                   patches.Patch(color=KIND_COLOURS["digital"], alpha=0.5, label="digital layer")]
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=3, frameon=False)
    return fig


def _box(start: float, duration: float, row: int, half: float) -> list[tuple[float, float]]:
    return [(start, row - half), (start + duration, row - half), (start + duration, row + half), (start, row + half)]


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, duration) intervals merged where they overlap (fewer shapes, same picture)."""
    out: list[list[float]] = []
    for start, duration in sorted(spans):
        if out and start <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], start + duration - out[-1][0])
        else:
            out.append([start, duration])
    return [tuple(s) for s in out]


def accuracy_time(curves: list[tuple[str, dict]]) -> Figure:
    """Analog accuracy (mean and spread over programmings) against time after programming,
    with the digital reference, for each (label, accuracy.json) given."""
    fig = _figure(7.5, 4)
    ax = fig.add_subplot()
    for k, (label, acc) in enumerate(curves):
        times = sorted(acc["analog"].items(), key=lambda kv: kv[1]["t_s"])
        t = np.array([max(v["t_s"], 1e-3) for _, v in times])
        mean = np.array([v["mean"] for _, v in times]) * 100
        std = np.array([v["std"] for _, v in times]) * 100
        prefix = f"{label}: " if label else ""
        ax.errorbar(t, mean, yerr=std, fmt="o-", color=_colour(k), capsize=3, label=f"{prefix}analog")
        ax.axhline(acc["digital"] * 100, ls="--", color=_colour(k), alpha=0.6, label=f"{prefix}digital")
        if k == 0:   # the time labels once
            for (name, _), x, y in zip(times, t, mean):
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("time after programming (s)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy against time after programming (error bars: spread over programmings)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- training

def training(history: list[dict]) -> Figure:
    """Train loss, and test accuracy (digital read-out and, for in-situ training, on the
    chip) per epoch."""
    fig = _figure(9, 3.6)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [h["epoch"] for h in history]
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", color="#1f77b4")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("train loss (cross-entropy)")
    loss_ax.set_yscale("log")
    acc_ax.plot(epochs, [100 * h["train_accuracy"] for h in history], "o:", color="grey", label="train")
    acc_ax.plot(epochs, [100 * h["test_accuracy"] for h in history], "o-", color="#1f77b4",
                label="test, digital read-out")
    if any("analog_test_accuracy" in h for h in history):
        acc_ax.plot(epochs, [100 * h.get("analog_test_accuracy", float("nan")) for h in history], "s-",
                    color="#d62728", label="test, on the chip")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy (%)")
    acc_ax.legend(fontsize=8)
    for ax in (loss_ax, acc_ax):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    fig.suptitle("Training per epoch", fontsize=10)
    return fig


def writes(histogram: dict, endurance: float, label: str = "") -> Figure:
    """Devices against their write-erase cycles (power-of-two bins), the endurance marked."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    edges = np.asarray(histogram["edges"], float)
    counts = np.asarray(histogram["counts"], float)
    centres = np.sqrt(np.maximum(edges[:-1], 0.5) * edges[1:])
    ax.bar(centres, counts, width=np.diff(edges) * 0.9, color="#9467bd")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.axvline(endurance, color="#d62728", ls="--", label=f"endurance {endurance:.0e}")
    ax.set_xlabel("write-erase cycles of a device")
    ax.set_ylabel("devices")
    ax.set_title(f"Write-erase cycles per device{label}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig


def drift(after: dict[str, float], digital: float) -> Figure:
    """Accuracy of the trained chip at times after training, with the digital read-out."""
    fig = _figure(6, 3.4)
    ax = fig.add_subplot()
    names = list(after)
    ax.bar(names, [100 * after[n] for n in names], color="#1f77b4")
    ax.axhline(100 * digital, color="grey", ls="--", label="digital read-out at the end of training")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("time after training")
    ax.set_title("The trained chip after drift", fontsize=10)
    ax.legend(fontsize=8)
    return fig
