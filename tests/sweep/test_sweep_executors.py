"""The point store and the executors, with small per-point functions (sweep_helpers)."""

import json
import os
import re

import pytest

import sweep_helpers
from archsim.errors import SweepError
from archsim.sweep import Axis, PointStore, expand, run_points


def points(*values):
    return expand("w", "h", None, [Axis("n", "set", tuple(str(v) for v in values))], [], ["conv1"])


def outcomes(store, pts):
    return [{k: v for k, v in store.read(p.id).items() if k not in ("wall_s", "cpu_s")} for p in pts]


def test_store_writes_atomically_and_rebuilds_rows_in_point_order(tmp_path):
    store, pts = PointStore(tmp_path), points(1, 2, 3)
    for p in reversed(pts):  # finishing order does not matter
        store.write(p, {"status": "ok", "error": "", "row": {"square": int(p.params["n"]) ** 2}})
    assert [r["square"] for r in store.rows(pts)] == [1, 4, 9]
    assert store.rows(pts)[0] == {"point": 0, "id": pts[0].id, "n": 1, "status": "ok", "error": "", "square": 1}
    assert sorted(f.name for f in (tmp_path / "points").iterdir()) == sorted(f"{p.id}.json" for p in pts)
    assert json.loads(store.path(pts[1].id).read_text())["point"]["params"] == {"n": "2"}
    store.clear(pts[:1])
    assert [r["point"] for r in store.rows(pts)] == [1, 2] and not store.finished(pts[0].id)


def test_serial_records_failed_and_error_points_and_resume_retries_only_errors(tmp_path):
    store, pts = PointStore(tmp_path), points(1, 3, 4)
    counts = run_points(sweep_helpers.picky, pts, store, executor="serial", progress=False)
    assert counts == {"total": 3, "skipped": 0, "run": 3}
    rows = store.rows(pts)
    assert [r["status"] for r in rows] == ["ok", "failed", "error"]
    assert rows[1]["error"] == "3 replicas do not fit"
    assert rows[2]["error"] == "ZeroDivisionError: division by zero"
    counts = run_points(sweep_helpers.picky, pts, store, executor="serial", resume=True, progress=False)
    assert counts == {"total": 3, "skipped": 2, "run": 1}


def test_resume_skips_finished_points_without_touching_them(tmp_path):
    store, pts = PointStore(tmp_path), points(1, 2, 3, 4)
    run_points(sweep_helpers.square, pts[:2], store, executor="serial", progress=False)
    before = {p.id: store.path(p.id).read_bytes() for p in pts[:2]}
    counts = run_points(sweep_helpers.square, pts, store, executor="serial", resume=True, progress=False)
    assert counts == {"total": 4, "skipped": 2, "run": 2}
    assert {p.id: store.path(p.id).read_bytes() for p in pts[:2]} == before
    # without --resume every point runs again
    assert run_points(sweep_helpers.square, pts, store, executor="serial", progress=False)["run"] == 4


def test_pool_gives_the_serial_outcomes_in_worker_processes_with_one_thread(tmp_path):
    pts = points(1, 2, 3, 4, 5)
    serial, pool = PointStore(tmp_path / "s"), PointStore(tmp_path / "p")
    run_points(sweep_helpers.square, pts, serial, executor="serial", progress=False)
    run_points(sweep_helpers.square, pts, pool, executor="pool", workers=2, progress=False)
    assert outcomes(serial, pts) == outcomes(pool, pts)
    env = PointStore(tmp_path / "e")
    run_points(sweep_helpers.environment, pts[:2], env, executor="pool", workers=2, progress=False)
    for row in env.rows(pts[:2]):
        assert row["pid"] != os.getpid()
        assert row["NUMBA_NUM_THREADS"] == row["OMP_NUM_THREADS"] == row["OPENBLAS_NUM_THREADS"] == "1"


def test_a_killed_worker_stops_the_sweep_naming_the_points_in_flight(tmp_path):
    store, pts = PointStore(tmp_path), points(1, 2, 3, 4, 5, 6)
    with pytest.raises(SweepError) as info:
        run_points(sweep_helpers.dies_at_three, pts, store, executor="pool", workers=2, progress=False)
    message = str(info.value)
    assert info.value.exit_code == 1
    assert "a worker process died" in message and "--resume" in message
    assert f"point 2 [{pts[2].id}] (n=3)" in message            # the point whose worker died
    lost = {int(i) for i in re.findall(r"point (\d+) \[", message.split("lost (in flight): ")[1])}
    done = {p.index for p in pts if store.finished(p.id)}
    assert 2 in lost and len(lost) <= 2                           # at most one point per worker
    assert not done & lost and {0, 1, 2} <= done | lost           # every started point: saved or named
    assert done & {0, 1}                                          # 2 started only after 0 or 1 finished


def test_unknown_executor_is_refused(tmp_path):
    from archsim.errors import ArchsimError
    with pytest.raises(ArchsimError, match="--executor must be one of serial, pool, dask"):
        run_points(sweep_helpers.square, points(1), PointStore(tmp_path), executor="threads", progress=False)


def test_dask_local_cluster_gives_the_serial_outcomes(tmp_path):
    pytest.importorskip("distributed")
    pts = points(1, 2, 3, 4)
    serial, dask = PointStore(tmp_path / "s"), PointStore(tmp_path / "d")
    run_points(sweep_helpers.square, pts, serial, executor="serial", progress=False)
    counts = run_points(sweep_helpers.square, pts, dask, executor="dask", workers=2, progress=False)
    assert counts["run"] == 4 and outcomes(serial, pts) == outcomes(dask, pts)


class Terminal:
    """A stderr that says it is a terminal, keeping what is written."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_bar_on_a_terminal_only(tmp_path, capsys, monkeypatch):
    run_points(sweep_helpers.square, points(1, 2), PointStore(tmp_path / "a"), executor="serial", progress=True)
    assert capsys.readouterr().err == ""   # not a terminal: quiet
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    run_points(sweep_helpers.picky, points(1, 3), PointStore(tmp_path / "b"), executor="serial", progress=True,
               desc="sweep")
    assert "sweep: 100%" in terminal.text and "2/2" in terminal.text
    assert "point 1 (n=3): failed: 3 replicas do not fit" in terminal.text
