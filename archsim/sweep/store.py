"""The per-point result store: DIR/points/<id>.json, one file per finished point.

Each file is written atomically as soon as its point finishes, so an interrupted sweep
keeps every finished point and `--resume` skips them. The table of a sweep is always
rebuilt from these files in point order, so it does not depend on the order in which
points finished nor on how many runs it took.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from archsim.files import replace_atomically
from archsim.sweep.points import Point

FINISHED = ("ok", "failed")   # 'error' (an unexpected exception) is retried by --resume


def _typed(value: str) -> int | float | str:
    """A parameter as the table holds it: '16' -> 16, '0.5' -> 0.5, '16GB/s' stays text."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return number if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value


class PointStore:
    """Finished points of one sweep directory."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory) / "points"

    def path(self, point_id: str) -> Path:
        return self.directory / f"{point_id}.json"

    def write(self, point: Point, outcome: dict[str, Any]) -> None:
        """Save one point's outcome ({'status', 'error', 'row', 'detail', ...}) atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"point": point.to_dict(), **outcome}
        text = json.dumps(record, indent=1, sort_keys=False) + "\n"
        replace_atomically(self.path(point.id), lambda tmp: tmp.write_text(text))

    def read(self, point_id: str) -> dict[str, Any] | None:
        path = self.path(point_id)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:   # not ours (writes are atomic): treat as not finished
            return None

    def finished(self, point_id: str) -> bool:
        record = self.read(point_id)
        return record is not None and record.get("status") in FINISHED

    def clear(self, points: Iterable[Point]) -> None:
        """Forget the given points (a sweep started without --resume recomputes them)."""
        for point in points:
            self.path(point.id).unlink(missing_ok=True)

    def rows(self, points: Iterable[Point]) -> list[dict[str, Any]]:
        """The results table, one row per finished point, in point order:
        point index, id, parameters, status, error, then the measured values."""
        rows = []
        for point in points:
            record = self.read(point.id)
            if record is None:
                continue
            row = {"point": point.index, "id": point.id, **{k: _typed(v) for k, v in point.params.items()},
                   "status": record.get("status", ""), "error": record.get("error", "")}
            row.update(record.get("row") or {})
            rows.append(row)
        return rows
