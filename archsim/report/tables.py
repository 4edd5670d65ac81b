"""Tables users load: CSV written with pandas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from archsim.files import replace_atomically


def write_table(path: Path, rows: list[dict]) -> None:
    """Write rows (dicts with the same keys) as CSV, atomically."""
    replace_atomically(path, lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))


def write_results(directory: Path, rows: list[dict]) -> pd.DataFrame:
    """DIR/results.csv and DIR/results.parquet: one row per finished point, in point order.

    The CSV is a pure function of the rows (no timestamps, no wall times), so a sweep that
    was interrupted and resumed writes the same bytes as one that ran straight through.
    """
    directory = Path(directory)
    table = pd.DataFrame(rows)
    for column in table.columns:   # integer columns stay integers where failed points leave gaps
        values = [r[column] for r in rows if r.get(column) is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            table[column] = table[column].astype("Int64")
    for column in ("error", "accuracy_at", "accuracy_note"):
        if column in table:
            table[column] = table[column].fillna("").astype(str)
    replace_atomically(directory / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
    replace_atomically(directory / "results.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    return table


def read_results(directory: Path) -> pd.DataFrame:
    """The results table of a sweep or comparison (empty strings kept as strings)."""
    path = Path(directory) / "results.csv"
    if not path.is_file() or path.stat().st_size <= 1:
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=True, dtype={"id": str, "error": str, "accuracy_at": str,
                                                         "accuracy_note": str})
