"""Points per second of a 64-point timing sweep: serially, in the local process pool, on dask.

The sweep is `archsim sweep rapa_convnet_32 -H rpu --replicas conv1=1,2,4,8 --replicas
conv2=1,2,4,8 --replicas conv3=1,2,4,8 --no-accuracy` (4 x 4 x 4 points, each the full
`archsim run` timing path: compile, simulate, simulate one replica per layer). Each
repetition runs the same points, back to back, through `run_points` (what the sweep
command does between writing sweep.json and the table):
- serially in this process,
- in a spawn-context process pool of 2 workers (pool start-up included),
- on a dask LocalCluster of 2 single-threaded worker processes on loopback (cluster
  start-up excluded: it is paid once per session, ~1-3 s; it is printed apart).
Every executor must give the same outcomes (checked). Each repetition also prints the cores
the points kept busy (CPU seconds spent inside the points over the wall time): on a shared
machine a pool can only be as fast as the cores other jobs leave it. The machines are noisy,
so every figure is the median over the repetitions and the ratios are taken within a
repetition; the load average is printed before and after.

The last line is machine-readable:
    pool_over_serial=<median points/s ratio> dask_over_serial=<median points/s ratio>
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from archsim import api
from archsim.errors import ArchsimError
from archsim.sweep import PointStore, expand, replica_axes, run_points
from archsim.sweep.executors import local_cluster

REPEATS = 3
WORKERS = 2


def points():
    conv = ["conv1", "conv2", "conv3"]
    axes = replica_axes([f"{n}=1,2,4,8" for n in conv], None, conv, conv + ["fc"])
    return expand("rapa_convnet_32", "rpu", None, axes, [], conv, accuracy=False)


def outcomes(store: PointStore, pts) -> list:
    """What must not depend on the executor: every point's status, error and table row."""
    return [{k: store.read(p.id)[k] for k in ("status", "error", "row")} for p in pts]


def timed(pts, directory: Path, **kwargs) -> tuple[float, float, list]:
    """(wall s, CPU s spent inside the points, outcomes) of one run of the points."""
    store = PointStore(directory)
    start = time.perf_counter()
    run_points(api.run_point, pts, store, progress=False, **kwargs)
    wall = time.perf_counter() - start
    return wall, sum(store.read(p.id)["cpu_s"] for p in pts), outcomes(store, pts)


def dask_scheduler(stack: ExitStack) -> str | None:
    """The scheduler address of a LocalCluster like the one `--executor dask` starts (closed with
    the stack), its workers warmed up; None without dask distributed."""
    start = time.perf_counter()
    try:
        cluster = stack.enter_context(local_cluster(WORKERS))
    except ArchsimError:   # dask distributed is not installed
        return None
    from distributed import Client
    with Client(cluster) as client:
        client.run(lambda: __import__("archsim.api"))   # warm the workers like the pool's first points do
    print(f"dask LocalCluster of {WORKERS} workers started in {time.perf_counter() - start:.2f} s")
    return cluster.scheduler_address


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    pts = points()
    print(f"{len(pts)} points of rapa_convnet_32 on rpu (timing only); {load()}")
    api.run_point(pts[0].payload())   # imports and first-call costs out of the serial figure
    rates: dict[str, list[float]] = {"serial": [], "pool": [], "dask": []}
    pool_ratio, dask_ratio = [], []
    with ExitStack() as stack:
        scheduler = dask_scheduler(stack)
        for repeat in range(REPEATS):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                serial_s, serial_cpu, reference = timed(pts, tmp / "serial", executor="serial")
                pool_s, pool_cpu, pooled = timed(pts, tmp / "pool", executor="pool", workers=WORKERS)
                assert pooled == reference, "the pool gave other results than the serial run"
                rates["serial"].append(len(pts) / serial_s)
                rates["pool"].append(len(pts) / pool_s)
                pool_ratio.append(serial_s / pool_s)
                # cores busy = CPU s inside the points / wall s: what the machine gave us (it is shared)
                line = (f"repeat {repeat}: serial {serial_s:.2f} s ({serial_cpu / serial_s:.2f} cores busy), "
                        f"pool {pool_s:.2f} s ({pool_cpu / pool_s:.2f} cores busy)")
                if scheduler is not None:
                    dask_s, dask_cpu, dasked = timed(pts, tmp / "dask", executor="dask", scheduler=scheduler)
                    assert dasked == reference, "dask gave other results than the serial run"
                    rates["dask"].append(len(pts) / dask_s)
                    dask_ratio.append(serial_s / dask_s)
                    line += f", dask {dask_s:.2f} s ({dask_cpu / dask_s:.2f} cores busy)"
                print(f"{line}; {load()}", flush=True)
    for name, values in rates.items():
        if values:
            print(f"{name}: {statistics.median(values):.2f} points/s (min {min(values):.2f}, max {max(values):.2f})")
    print(load())
    dask = f"{statistics.median(dask_ratio):.3f}" if dask_ratio else "nan"
    print(f"pool_over_serial={statistics.median(pool_ratio):.3f} dask_over_serial={dask}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
