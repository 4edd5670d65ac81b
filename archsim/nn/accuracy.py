"""Accuracy of a network on its chip: the digital reference and the analog chip at
several times after programming, over independent programmings (mean and spread)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from archsim.compiler.program import Program
from archsim.nn.analog import ProgrammedChip
from archsim.nn.network import Network, Params, PassLog
from archsim.nn.train import evaluate
from archsim.pool import optional_pool


def time_label(seconds: float) -> str:
    """'1s', '1h', '1d', '1y' style labels for times after programming."""
    for unit, size in (("y", 365.25 * 86400), ("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.3g}{unit}"
    return f"{seconds:.3g}s"


def chip_accuracy(program: Program, params: Params, images: np.ndarray, labels: np.ndarray, *,
                  times: tuple[float, ...], repeats: int, seed: int, keep: int = 4,
                  per_mvm: bool = True, backend: str = "numba", workers: int = 1,
                  tick: Callable[[int, int], None] | None = None) -> tuple[dict, PassLog]:
    """Accuracy dict and the analog pass log of the first programming read at the first time
    (per-patch counts for images with id < `keep`, which the timing engine replays).
    `workers` > 1 shares every evaluation's images out over that many processes (the same
    numbers; in a process that may not have children, such as a dask worker, it evaluates
    here). `tick(done, total)` follows the evaluations (the digital one, then repeats x
    times)."""
    with optional_pool(workers) as pool:
        total = 1 + repeats * len(times)
        digital = evaluate(Network(program), params, images, labels, workers=pool)
        if tick:
            tick(1, total)
        log = PassLog(keep)
        runs: dict[float, list[float]] = {t: [] for t in times}
        for repeat in range(repeats):
            chip = ProgrammedChip.program_all(program, params, seed, repeat)
            for i, t in enumerate(times):
                net = Network(program, chip.read(t, per_mvm, backend),
                              pass_log=log if repeat == 0 and i == 0 else None)
                runs[t].append(evaluate(net, params, images, labels, workers=pool))
                if tick:
                    tick(2 + repeat * len(times) + i, total)
    analog = {time_label(t): {"t_s": t, "mean": float(np.mean(r)), "std": float(np.std(r, ddof=1)) if len(r) > 1
                              else 0.0, "runs": r} for t, r in runs.items()}
    return {"digital": digital, "analog": analog, "images": int(len(labels)), "programming_repeats": repeats,
            "passes_mean": log.mean()}, log
