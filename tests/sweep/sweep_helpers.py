"""Per-point functions for executor tests (module-level, so spawned workers import them)."""

from __future__ import annotations

import os
import signal
import time

from archsim.errors import CompileError


def square(payload: dict) -> dict:
    """A deterministic 'measurement' of a point, with a little work so points overlap in a pool."""
    n = int(payload["sets"][0].split("=")[1])
    time.sleep(0.05)
    return {"row": {"square": n * n}, "detail": {"n": n}}


def picky(payload: dict) -> dict:
    """n=3 cannot be mapped (a failed point), n=4 hits a bug (an error point)."""
    n = int(payload["sets"][0].split("=")[1])
    if n == 3:
        raise CompileError(f"{n} replicas do not fit")
    if n == 4:
        raise ZeroDivisionError("division by zero")
    return {"row": {"square": n * n}, "detail": {}}


def dies_at_three(payload: dict) -> dict:
    """The worker computing n=3 is killed outright (as by the OOM killer)."""
    n = int(payload["sets"][0].split("=")[1])
    if n == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05 if n < 3 else 1.0)
    return {"row": {"square": n * n}, "detail": {}}


def environment(payload: dict) -> dict:
    """Which process ran the point, and its thread variables."""
    return {"row": {"pid": os.getpid(), **{name: os.environ.get(name, "") for name in
                                           ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}},
            "detail": {}}
