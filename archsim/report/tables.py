"""Tables users load: CSV written with pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_table(path: Path, rows: list[dict]) -> None:
    """Write rows (dicts with the same keys) as CSV, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    tmp.replace(path)
