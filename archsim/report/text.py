"""Plain-text views of results for the terminal."""

from __future__ import annotations

import pandas as pd

from archsim.report.analysis import component
from archsim.units import ENERGY, TIME, format_quantity

PLAN_COLUMNS = {"name": "layer", "kind": "kind", "on": "on", "matrix": "kernel matrix",
                "patches": "patches", "tiles_per_replica": "tiles/replica", "replicas": "replicas",
                "sequential_mvms": "seq. MVMs/image", "utilisation": "array util."}


def plan_text(plan: dict) -> str:
    """The per-layer mapping table and totals of `archsim plan`."""
    rows = []
    for layer in plan["layers"]:
        row = dict(layer)
        row["matrix"] = (f"{layer['matrix_rows']}x{layer['matrix_cols']}"
                         if layer["matrix_rows"] is not None else "-")
        row["utilisation"] = f"{layer['utilisation']:.1%}" if layer["utilisation"] is not None else "-"
        row["patches"] = layer["patches"] if layer["patches"] is not None else "-"
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(PLAN_COLUMNS)).rename(columns=PLAN_COLUMNS)
    t, a = plan["totals"], plan["acceleration"]
    lines = [f"{plan['workload']} on {plan['hardware']} ({t['array']} arrays), strategy "
             f"{plan['strategy']}, seed {plan['seed']}", "",
             table.to_string(index=False), "",
             f"tiles used        {t['tiles_used']} of {t['tiles_available']}",
             f"weight blow-up    {t['weight_blowup']:.2f}x (replication)",
             f"acceleration      {a['pipelined']:.2f}x pipelined, {a['sequential']:.2f}x sequential "
             f"(against one replica per layer)"]
    return "\n".join(lines)


def summary_items(summary: dict, detail: bool = False) -> list[tuple[str, str]]:
    """(label, text) of each figure of a run's summary.json: what `archsim run` prints, and the
    summary table of its report. `detail` adds what the terminal leaves out: the mapping
    strategy, and the spread of the analog accuracy over programmings with the numbers of
    test images and programmings."""
    acc = summary.get("acceleration") or {}
    closed = acc.get("closed_form", {})
    m = summary.get("mapping", {})
    items = [("latency", f"{summary['latency_cycles']:,} cycles = {format_quantity(summary['latency_s'], TIME)} "
                         f"per image"),
             ("throughput", f"{summary['throughput_images_per_s']:,.0f} images/s"),
             ("acceleration", f"{acc.get('pipelined', 1):.2f}x throughput, {acc.get('sequential', 1):.2f}x latency "
                              f"(closed form {closed.get('pipelined', 1):.2f}x pipelined, "
                              f"{closed.get('sequential', 1):.2f}x sequential) against one replica per layer"),
             ("energy", f"{format_quantity(summary['energy_per_image_j'], ENERGY)} per image, "
                        f"{summary['tops_per_w']:.3g} TOPS/W"),
             ("tiles", f"{m.get('tiles_used', '?')} of {m.get('tiles_available', '?')} used"
                       + (f", strategy {m.get('strategy', '?')}" if detail else "")),
             ("bottleneck", component(summary))]
    if "accuracy" in summary:
        a = summary["accuracy"]
        analog = ", ".join(f"{v['mean']:.2%}" + (f" ± {v['std']:.2%}" if detail else "") + f" analog at {k}"
                           for k, v in a["analog"].items())
        items.append(("accuracy", f"{a['digital']:.2%} digital, {analog}"
                                  + (f" ({a['images']} test images, {a['programming_repeats']} programmings)"
                                     if detail else "")))
    return items


def run_text(summary: dict) -> str:
    """The short human summary `archsim run` prints."""
    head = (f"{summary['workload']} on {summary['hardware']}: {summary['images']} images, "
            f"{summary['fidelity']} timing, seed {summary['seed']}")
    return "\n".join([head, *(f"  {label:<15}{text}" for label, text in summary_items(summary))])
