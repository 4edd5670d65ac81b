"""Worker processes for CPU-bound work (sweep points, chunks of an accuracy evaluation).

Spawn-context processes (machine-facts.md: a fork after numba's threads ran can leave a
broken pool) with one numba and one BLAS thread each, so that N workers on N cores do not
oversubscribe them. Standard library only: the bottom layer, like `files`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads() -> None:
    """One numba and one BLAS thread in this process. Takes effect for libraries not yet
    imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


_WORKER = "ARCHSIM_POOL_WORKER"  # set in every worker: its work does not start pools of its own


def worker_init() -> None:
    limit_threads()
    os.environ[_WORKER] = "1"
    # Ctrl-C reaches the whole process group: the parent alone handles it (and stops the workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a parent killed outright (SIGKILL, out of memory) cannot stop its workers: they stop themselves
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int, period_s: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(period_s)
    os._exit(1)


def spawn_executor(workers: int) -> ProcessPoolExecutor:
    """A spawn-context pool of `workers` processes initialised by `worker_init`, all started
    at once. The thread limits are also put in the environment they are spawned with (and
    taken out again here), so they hold even for libraries a worker imports before its
    initializer runs (the main module of the parent is re-imported first)."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    limit_threads()
    try:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=worker_init)
        try:
            list(executor.map(_ready_task, range(workers)))  # start every worker now
        except BaseException:
            stop(executor)
            raise
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return executor


def _ready_task(_: int) -> int:
    return os.getpid()


def stop(executor: ProcessPoolExecutor) -> None:
    """Shut the pool down without waiting for queued work, and end workers still running."""
    executor.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def can_spawn() -> bool:
    """False inside a daemonic process (a dask worker, say), which may not have children, and
    inside a worker of these pools (a sweep point): its processes would oversubscribe the cores."""
    return not multiprocessing.current_process().daemon and _WORKER not in os.environ


@dataclass(frozen=True)
class Workers:
    """A started pool and how many processes it has."""

    executor: ProcessPoolExecutor
    count: int


@contextmanager
def worker_pool(count: int) -> Iterator[Workers]:
    """`count` worker processes (`spawn_executor`), stopped on leaving."""
    executor = spawn_executor(count)
    try:
        yield Workers(executor, count)
    finally:
        stop(executor)
