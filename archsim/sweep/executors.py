"""Run the points of a sweep: serially, in a local process pool, or on a dask cluster.

The per-point function is given by the caller (a module-level function, so that it
pickles by reference); it takes `Point.payload()` and returns a dict with 'row'
(the point's measured values) and 'detail'. Each outcome is saved by the store as
soon as its point finishes. ArchsimError (bad input, a mapping that does not fit)
makes a 'failed' point whose error is the message; any other exception an 'error'
point (retried by --resume). Ctrl-C or a dead worker stops the sweep with a
SweepError naming the points that were in flight; every finished point is kept.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator, Sequence

from archsim.errors import ArchsimError, SweepError
from archsim.pool import THREAD_VARIABLES, limit_threads, spawn_executor, stop
from archsim.sweep.points import Point
from archsim.sweep.store import FINISHED, PointStore

log = logging.getLogger(__name__)

EXECUTORS = ("serial", "pool", "dask")
PointFunction = Callable[[dict[str, Any]], dict[str, Any]]


def guarded(fn: PointFunction, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one point; its failure becomes its outcome instead of stopping the sweep."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        outcome = {"status": "ok", "error": "", **fn(payload)}
    except ArchsimError as exc:
        outcome = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # a bug: keep the sweep going, say what happened
        log.debug("point %s raised", payload.get("id"), exc_info=True)
        outcome = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    outcome["wall_s"] = time.perf_counter() - start
    outcome["cpu_s"] = time.process_time() - cpu
    return outcome


class _Progress:
    """How many of the points are finished and saved (those kept by --resume included), and
    a tqdm bar on a terminal (silent otherwise)."""

    def __init__(self, total: int, done: int, enabled: bool, desc: str):
        self.total, self.done = total, done
        self.bar = None
        if enabled:
            from tqdm import tqdm
            bar = tqdm(total=total, initial=done, desc=desc, unit="point", file=sys.stderr, leave=True,
                       disable=None)   # None: no bar unless stderr is a terminal
            self.bar = None if bar.disable else bar

    def update(self, point: Point, outcome: dict[str, Any]) -> None:
        if self.bar is not None:
            if outcome["status"] != "ok":
                self.bar.write(f"point {point.index} ({point.label()}): {outcome['status']}: "
                               f"{outcome['error'].splitlines()[0] if outcome['error'] else ''}", file=sys.stderr)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _lost(kind: str, in_flight: Sequence[Point], tracker: _Progress, reason: str) -> SweepError:
    names = "; ".join(f"point {p.index} [{p.id}] ({p.label()})" for p in in_flight) or "none"
    return SweepError(f"sweep {kind}: {reason}; {tracker.done} of {tracker.total} points are finished and saved; "
                      f"lost (in flight): {names}. Run the same command with --resume to finish it.",
                      exit_code=130 if kind == "interrupted" else 1)


def run_points(fn: PointFunction, points: Sequence[Point], store: PointStore, *, executor: str = "pool",
               workers: int | None = None, scheduler: str | None = None, resume: bool = False,
               progress: bool = True, desc: str = "sweep") -> dict[str, int]:
    """Run every point not yet finished and save each outcome as it arrives.

    executor: 'serial' (in this process), 'pool' (a spawn-context process pool of
    `workers` processes, default the CPU count) or 'dask' (a LocalCluster on loopback
    with `workers` worker processes, or the cluster at `scheduler`). Returns counts
    {'total', 'skipped', 'run'}.
    """
    if executor not in EXECUTORS:
        raise ArchsimError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if scheduler and executor != "dask":
        executor = "dask"
    if resume:
        todo = [p for p in points if not store.finished(p.id)]
    else:
        store.clear(points)
        todo = list(points)
    counts = {"total": len(points), "skipped": len(points) - len(todo), "run": len(todo)}
    tracker = _Progress(len(points), counts["skipped"], progress, desc)
    try:
        if todo:
            runner = {"serial": _serial, "pool": _pool, "dask": _dask}[executor]
            runner(fn, todo, store, tracker, workers=workers, scheduler=scheduler)
    finally:
        tracker.close()
    return counts


def _finish(point: Point, outcome: dict[str, Any], store: PointStore, tracker: _Progress) -> None:
    finished = int(outcome["status"] in FINISHED)  # counted once saved (a failed write is not)
    try:
        store.write(point, outcome)
    except KeyboardInterrupt:
        store.write(point, outcome)   # Ctrl-C while saving a computed point: it is saved all the same
        tracker.done += finished
        raise
    tracker.done += finished
    tracker.update(point, outcome)


def _serial(fn, todo, store, tracker, **_):
    for point in todo:
        try:
            outcome = guarded(fn, point.payload())
        except KeyboardInterrupt:
            raise _lost("interrupted", [point], tracker, "Ctrl-C") from None
        try:
            _finish(point, outcome, store, tracker)
        except KeyboardInterrupt:
            raise _lost("interrupted", [], tracker, "Ctrl-C") from None


def _pool(fn, todo, store, tracker, *, workers, **_):
    """At most `workers` points are submitted at a time, so the points in flight are exactly
    the submitted ones (what Ctrl-C or a dead worker loses, and the error names)."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    pool = spawn_executor(workers)
    queue = list(reversed(todo))
    in_flight: dict = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                point = queue.pop()
                in_flight[pool.submit(guarded, fn, point.payload())] = point
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = []
            for future in sorted(finished, key=lambda f: in_flight[f].index):
                point = in_flight.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # BrokenProcessPool: a worker died (killed, out of memory)
                    broken.append((point, exc))
                    continue
                _finish(point, outcome, store, tracker)
            if broken:
                lost = sorted([p for p, _ in broken] + list(in_flight.values()), key=lambda p: p.index)
                in_flight = {}
                raise _lost("stopped", lost, tracker,
                            f"a worker process died ({type(broken[0][1]).__name__}: {broken[0][1]})")
    except KeyboardInterrupt:
        raise _lost("interrupted", sorted(in_flight.values(), key=lambda p: p.index), tracker, "Ctrl-C") from None
    finally:
        stop(pool)


def _need_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ArchsimError("--executor dask needs dask distributed: pip install 'archsim[dask]'") from None


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    quiet = logging.getLogger("distributed")   # its INFO chatter would drown the sweep's output
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)


@contextmanager
def local_cluster(workers: int | None = None) -> Iterator[Any]:
    """A dask LocalCluster on loopback, closed on exit: `workers` single-threaded worker
    processes (default the CPU count), each with one numba and one BLAS thread; the
    distributed logger says only errors meanwhile."""
    _need_distributed()
    from distributed import LocalCluster
    with _quiet_distributed():
        cluster = LocalCluster(n_workers=max(1, workers or os.cpu_count() or 1), threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR,
                               env={name: "1" for name in THREAD_VARIABLES})
        try:
            yield cluster
        finally:
            cluster.close()


def _dask(fn, todo, store, tracker, *, workers, scheduler, **_):
    _need_distributed()
    with _quiet_distributed(), (local_cluster(workers) if scheduler is None else nullcontext(scheduler)) as cluster:
        _dask_run(fn, todo, store, tracker, cluster, scheduler)


def _dask_run(fn, todo, store, tracker, cluster, scheduler):
    """`cluster`: a LocalCluster, or the address of the scheduler."""
    from distributed import Client, as_completed
    try:
        client = Client(cluster, timeout="30s")
    except OSError as exc:
        raise ArchsimError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
    futures = {}
    try:
        client.run(limit_threads)
        futures = {client.submit(guarded, fn, p.payload(), key=f"archsim-point-{p.id}", pure=False): p
                   for p in todo}
        for future in as_completed(list(futures)):
            point = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # KilledWorker and the like
                lost = [point] + _dask_in_flight(client, futures)
                raise _lost("stopped", sorted(lost, key=lambda p: p.index), tracker,
                            f"the dask cluster lost it ({type(exc).__name__}: {exc})") from None
            _finish(point, outcome, store, tracker)
    except KeyboardInterrupt:
        raise _lost("interrupted", _dask_in_flight(client, futures), tracker, "Ctrl-C") from None
    finally:
        if futures:
            client.cancel(list(futures))
        client.close()


def _dask_in_flight(client, futures: dict) -> list[Point]:
    """The points a dask worker is computing now (all unfinished ones if the scheduler cannot say)."""
    try:
        running = {key for keys in client.processing().values() for key in keys}
    except Exception:  # the scheduler is gone: every unfinished point may have been in flight
        running = {f.key for f in futures}
    return sorted((p for f, p in futures.items() if f.key in running), key=lambda p: p.index)
