"""Plain-text views of results for the terminal."""

from __future__ import annotations

import pandas as pd

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
