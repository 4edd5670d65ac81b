"""The points of a sweep or comparison: a product of axes, each point a list of `--set` items.

Pure: no I/O, no simulation. A point is exactly what `archsim run` would be given
(workload, hardware, settings and `--set` overrides), so every point runs through the
same code path as a run. Its id is a stable hash of those inputs, so a resumed sweep
finds the points it already finished.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from typing import Any

from archsim.errors import SpecError

REPLICAS_PATH = "workload.mapping.replicas"
BUDGET_PATH = "workload.mapping.tile_budget"
STRATEGY_PATH = "workload.mapping.strategy"


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its column name in results, its kind and its values (as typed)."""

    name: str        # results column: 'replicas', 'replicas.conv1', 'tile_budget', a --set path, ...
    kind: str        # replicas | layer_replicas | tile_budget | strategy | hardware | set
    values: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The fields by name (tuples stay tuples: JSON writes them as lists)."""
        return asdict(self)


@dataclass(frozen=True)
class Point:
    """One point: its position, parameters (axis name -> value) and what `archsim run` gets."""

    index: int
    id: str
    params: dict[str, str]
    workload: str
    hardware: str
    settings: str | None
    sets: tuple[str, ...]
    accuracy: bool = True

    def payload(self) -> dict[str, Any]:
        """The picklable argument of the per-point function."""
        return {"id": self.id, "workload": self.workload, "hardware": self.hardware, "settings": self.settings,
                "sets": list(self.sets), "accuracy": self.accuracy}

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items()) or "(no parameters)"

    def to_dict(self) -> dict[str, Any]:
        """The fields by name (tuples stay tuples: JSON writes them as lists)."""
        return asdict(self)


def split_values(text: str) -> list[str]:
    """'1,2,4' -> ['1', '2', '4']; commas inside brackets or braces do not split
    ('[32, 8, 2, 1],[1, 1, 1, 1]' is two values)."""
    values, depth, current = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    values.append(current.strip())
    return values


def point_id(workload: str, hardware: str, settings: str | None, sets: tuple[str, ...], accuracy: bool) -> str:
    """A stable 12-hex-digit hash of everything that determines a point's result."""
    key = json.dumps({"workload": workload, "hardware": hardware, "settings": settings, "sets": list(sets),
                      "accuracy": accuracy}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _int_values(option: str, text: str, problems: list[str], minimum: int = 1) -> tuple[str, ...]:
    out = []
    for value in split_values(text):
        if not value.isdigit() or int(value) < minimum:
            problems.append(f"{option} {text}: '{value}' is not an integer >= {minimum}")
        else:
            out.append(str(int(value)))
    if len(set(out)) != len(out):
        problems.append(f"{option} {text}: a value appears twice")
    return tuple(out)


def replica_axes(replicas: list[str], budgets: str | None, conv_layers: list[str],
                 analog_layers: list[str]) -> list[Axis]:
    """Axes from `--replicas` and `--budgets`.

    ['1,2,4']: every analog conv layer gets that many replicas (axis 'replicas');
    ['conv1=1,4', 'conv2=1,2']: one axis per layer ('replicas.conv1', ...; layers not
    named get one replica); ['auto'] with budgets '64,128': the compiler balances the
    replicas under each tile budget (axis 'tile_budget').
    """
    problems: list[str] = []
    axes: list[Axis] = []
    if budgets is not None and replicas != ["auto"]:
        problems.append("--budgets is only used with --replicas auto")
    if replicas == ["auto"]:
        values = _int_values("--budgets", budgets, problems) if budgets is not None else ("0",)
        axes.append(Axis("tile_budget", "tile_budget", values))
    elif replicas:
        per_layer = ["=" in r for r in replicas]
        if all(per_layer):
            seen = set()
            for item in replicas:
                layer, _, text = item.partition("=")
                layer = layer.strip()
                if layer not in analog_layers:
                    problems.append(f"--replicas {item}: '{layer}' is not an analog layer; analog layers are: "
                                    f"{', '.join(analog_layers)}")
                    continue
                if layer in seen:
                    problems.append(f"--replicas {item}: layer '{layer}' is given twice")
                seen.add(layer)
                axes.append(Axis(f"replicas.{layer}", "layer_replicas", _int_values("--replicas", text, problems)))
        elif any(per_layer) or len(replicas) > 1:
            problems.append("--replicas takes one list for every conv layer (1,2,4), per-layer lists "
                            "(conv1=1,4 conv2=1,2, one option each) or auto, not a mix")
        elif not conv_layers:
            problems.append("--replicas: the workload has no analog conv layer to replicate")
        else:
            axes.append(Axis("replicas", "replicas", _int_values("--replicas", replicas[0], problems)))
    if problems:
        raise SpecError(problems)
    return axes


def set_axes(sets: list[str]) -> tuple[list[Axis], list[str]]:
    """`--set path=v1,v2,...` items: the swept ones become axes, single values stay constant sets."""
    axes, constants, problems = [], [], []
    for item in sets:
        path, eq, text = item.partition("=")
        values = split_values(text) if eq else [text]
        if not eq or len(values) == 1:
            constants.append(item)
            continue
        if any(a.name == path for a in axes):
            problems.append(f"--set {item}: {path} is swept twice")
        if len(set(values)) != len(values):
            problems.append(f"--set {item}: a value appears twice")
        axes.append(Axis(path, "set", tuple(values)))
    if problems:
        raise SpecError(problems)
    return axes, constants


def _sets_of(axis: Axis, value: str, conv_layers: list[str]) -> list[str]:
    if axis.kind == "replicas":
        return [f"{REPLICAS_PATH}={{{', '.join(f'{n}: {value}' for n in conv_layers)}}}"]
    if axis.kind == "tile_budget":
        return [f"{REPLICAS_PATH}=auto"] + ([f"{BUDGET_PATH}={value}"] if value != "0" else [])
    if axis.kind == "strategy":
        # 'none' means no replication: one replica per layer (the compiler rejects none with replicas)
        return [f"{STRATEGY_PATH}={value}"] + ([f"{REPLICAS_PATH}={{}}"] if value == "none" else [])
    if axis.kind == "set":
        return [f"{axis.name}={value}"]
    return []  # layer_replicas and hardware are combined by `expand`


def expand(workload: str, hardware: str, settings: str | None, axes: list[Axis], constant_sets: list[str],
           conv_layers: list[str], accuracy: bool = True) -> list[Point]:
    """Every combination of the axes' values, in order (the last axis varies fastest)."""
    points = []
    for index, combo in enumerate(itertools.product(*(a.values for a in axes))):
        params = {a.name: v for a, v in zip(axes, combo)}
        hw = next((v for a, v in zip(axes, combo) if a.kind == "hardware"), hardware)
        sets = list(constant_sets)
        layer_counts = {a.name.split(".", 1)[1]: v for a, v in zip(axes, combo) if a.kind == "layer_replicas"}
        if layer_counts:
            sets.append(f"{REPLICAS_PATH}={{{', '.join(f'{n}: {c}' for n, c in layer_counts.items())}}}")
        for a, v in zip(axes, combo):
            sets.extend(_sets_of(a, v, conv_layers))
        sets_t = tuple(sets)
        points.append(Point(index=index, id=point_id(workload, hw, settings, sets_t, accuracy), params=params,
                            workload=workload, hardware=hw, settings=settings, sets=sets_t, accuracy=accuracy))
    ids = [p.id for p in points]
    if len(set(ids)) != len(ids):
        raise SpecError(["two points of this sweep are the same run; remove the repeated values"])
    return points
