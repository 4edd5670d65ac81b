"""What a sweep's table says: where speedup leaves the ideal line, and why.

The ideal of a point is its closed-form pipelined acceleration (max P / max ceil(P/n),
models.md section 1): what replication gives when nothing but the analog tiles limits
the pipeline. A sweep follows the ideal while the busiest component is a tile; it bends
where another component (a link, a digital unit, a buffer port) becomes the busiest,
and that component, from the timing summary, is what the report names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

BEND_EFFICIENCY = 0.9   # a point bends when its speedup is below 90 % of its ideal
SATURATED = 0.9         # a component this busy over the run is what limits the pipeline

MAPPING_PATHS = ("workload.mapping.replicas", "workload.mapping.tile_budget")
KIND_NAMES = {"tile": "analog tile", "digital": "digital unit", "link": "interconnect link",
              "buffer": "buffer port"}


@dataclass(frozen=True)
class Series:
    """One line of a sweep plot: the points that share every parameter but the x axis."""

    label: str
    table: pd.DataFrame     # ok points, sorted by x
    bend: dict | None       # the first point below the ideal, or None


def _numeric(values) -> bool:
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return True


def x_axis(axes: list[dict]) -> tuple[str, str]:
    """(column, label) of the x axis of a sweep: the replicas, the tile budget, the one swept
    layer, else the first numeric swept spec value, else the ideal speedup of each point."""
    kinds = {a["kind"]: a["name"] for a in axes}
    if "replicas" in kinds:
        return "replicas", "replicas per conv layer"
    if "tile_budget" in kinds:
        return "tile_budget", "tile budget (replicas: auto)"
    layers = [a["name"] for a in axes if a["kind"] == "layer_replicas"]
    if len(layers) == 1:
        return layers[0], f"replicas of {layers[0].split('.', 1)[1]} (other layers fixed)"
    if not layers:
        numeric = [a["name"] for a in axes if a["kind"] == "set" and _numeric(a["values"])]
        if numeric:
            return numeric[0], numeric[0]
    return "acceleration_pipelined", "ideal speedup (closed form: max P / max ceil(P/n))"


def log_x(x: str) -> bool:
    """Replica counts, budgets and speedups grow by factors: a log axis."""
    return x in ("replicas", "tile_budget", "acceleration_pipelined") or x.startswith("replicas.")


def series(table: pd.DataFrame, axes: list[dict]) -> list[Series]:
    """Split the ok points into lines (one per combination of the other swept parameters)."""
    x, _ = x_axis(axes)
    if table.empty or "status" not in table:
        return []
    ok = table[table["status"] == "ok"].copy()
    if ok.empty:
        return []
    ok["_x"] = pd.to_numeric(ok[x], errors="coerce")
    # other swept values make separate lines; a swept replica mapping is what moves along the line
    group_by = [a["name"] for a in axes if a["name"] != x and a["kind"] in ("set", "hardware", "strategy")
                and a["name"] not in MAPPING_PATHS]
    groups = ok.groupby(group_by, sort=False) if group_by else [((), ok)]
    out = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{n}={v}" for n, v in zip(group_by, key)) or "all points"
        part = part.sort_values(["_x", "speedup"], ascending=[True, False], kind="stable")
        out.append(Series(label, part, find_bend(part)))
    return out


def find_bend(part: pd.DataFrame) -> dict | None:
    """The first x (ascending) whose best speedup is below BEND_EFFICIENCY of its ideal, the
    point before it (the last on the line), and the first point from there on whose
    bottleneck is a saturated component other than a tile (what stops replication)."""
    best = part.drop_duplicates("_x", keep="first")   # sorted by speedup descending within an x
    previous = None
    rows = [row for _, row in best.iterrows()]
    for k, row in enumerate(rows):
        ideal = float(row["acceleration_pipelined"])
        if ideal > 1 and float(row["speedup"]) < BEND_EFFICIENCY * ideal:
            saturated = next((r.to_dict() for r in rows[k:] if r["bottleneck_kind"] != "tile"
                              and float(r["bottleneck_utilisation"]) >= SATURATED), None)
            return {"at": row.to_dict(), "before": previous.to_dict() if previous is not None else None,
                    "efficiency": float(row["speedup"]) / ideal, "saturated": saturated}
        previous = row
    return None


def _capacity(kind: str, hardware: dict | None) -> str:
    """What the hardware spec says about the capacity of a component kind."""
    if not hardware:
        return ""
    clock = hardware.get("clock", 0)
    if kind == "link":
        net = hardware["interconnect"]
        what = "the shared bus" if net["topology"] == "bus" else "each mesh link"
        return (f"{what} carries {net['link_bandwidth'] / 1e9:g} GB/s ({net['flit_bytes']} B flits, "
                f"{net['hop_latency'] * 1e9:g} ns per hop)")
    if kind == "digital":
        d = hardware["digital"]
        return (f"{d['count']} digital units of {d['ops_per_cycle']} operations per cycle at "
                f"{clock / 1e9:g} GHz")
    if kind == "buffer":
        b = hardware["buffers"]
        return ", ".join(f"{name} buffers read {v['read_bandwidth'] / 1e9:g} GB/s, write "
                         f"{v['write_bandwidth'] / 1e9:g} GB/s" for name, v in b.items())
    if kind == "tile":
        t = hardware["tiles"]
        return (f"one MVM takes {t['integration_time'] * 1e9:g} ns of integration plus "
                f"{t['adc']['conversion_time'] * 1e9:g} ns per conversion of {t['adc']['count']} ADCs")
    return ""


def component(row: dict) -> str:
    """'link(3,7)->(4,7) (interconnect link, 87% busy)'."""
    layer = row.get("bottleneck_layer")
    layer = f", layer {layer}" if isinstance(layer, str) and layer else ""
    return (f"{row['bottleneck']} ({KIND_NAMES.get(row['bottleneck_kind'], row['bottleneck_kind'])}{layer}, "
            f"{float(row['bottleneck_utilisation']):.0%} busy)")


def _x_text(row: dict, x: str) -> str:
    value = row.get(x)
    if x == "acceleration_pipelined":
        return f"ideal {float(value):.3g}x ({row.get('replicas_mapped', '')})"
    return f"{x}={value:g}" if isinstance(value, float) and not math.isnan(value) else f"{x}={value}"


def explain(lines: list[Series], axes: list[dict], hardware: dict | None) -> list[str]:
    """One paragraph per line of the sweep: how far speedup follows the ideal, where it bends, why."""
    x, _ = x_axis(axes)
    out = []
    for s in lines:
        head = f"{s.label}: " if len(lines) > 1 else ""
        t = s.table
        top = t.loc[t["speedup"].idxmax()].to_dict()
        if s.bend is None:
            out.append(f"{head}speedup follows the ideal (within {1 - BEND_EFFICIENCY:.0%}) over the whole sweep, "
                       f"up to {top['speedup']:.3g}x at {_x_text(top, x)}; the bottleneck there is "
                       f"{component(top)}.")
            continue
        at, before, saturated = s.bend["at"], s.bend["before"], s.bend["saturated"]
        text = head
        if before is not None:
            text += (f"speedup follows the ideal up to {_x_text(before, x)} ({before['speedup']:.3g}x of an ideal "
                     f"{before['acceleration_pipelined']:.3g}x; bottleneck {component(before)}). ")
        text += (f"At {_x_text(at, x)} it reaches {at['speedup']:.3g}x of an ideal {at['acceleration_pipelined']:.3g}x "
                 f"({s.bend['efficiency']:.0%})")
        if saturated is None or saturated["point"] != at["point"]:
            if float(at["bottleneck_utilisation"]) < SATURATED:
                text += f": no component is saturated yet (the busiest is {component(at)})"
            else:
                text += f": the bottleneck is {component(at)}"
        text += ". "
        if saturated is not None:
            where = "There" if saturated["point"] == at["point"] else f"At {_x_text(saturated, x)}"
            cap = _capacity(saturated["bottleneck_kind"], hardware)
            text += (f"{where} {component(saturated)} is saturated" + (f": {cap}" if cap else "") +
                     f"; on its own it caps the speedup near {saturated['speedup'] / float(saturated['bottleneck_utilisation']):.3g}x "
                     f"(speedup / busy fraction), so more replicas cannot help "
                     f"(speedup {saturated['speedup']:.3g}x of an ideal {saturated['acceleration_pipelined']:.3g}x). ")
        text += f"The best point is {top['speedup']:.3g}x at {_x_text(top, x)}."
        out.append(text)
    return out
