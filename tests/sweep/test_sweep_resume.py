"""Kill a real `archsim sweep` half way (SIGKILL, then Ctrl-C), resume it, get the same table."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archsim.cli import main

ARGS = ["sweep", "rapa_convnet_32", "-H", "rpu", "--replicas", "1,2,4,8,16,32", "--set", "run.images=3,4",
        "--no-accuracy"]
POINTS = 12


def start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "archsim", *ARGS, "--workers", "2", "--out", str(out), "--resume"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})


def finished(out: Path) -> dict[str, bytes]:
    folder = out / "points"
    return {p.name: p.read_bytes() for p in folder.glob("*.json")} if folder.is_dir() else {}


def wait_for(out: Path, count: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while len(finished(out)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the sweep did not get going"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.slow
def test_killed_and_interrupted_sweep_resumes_to_the_same_table(tmp_path, capsys):
    reference = tmp_path / "reference"
    assert main([*ARGS, "--executor", "serial", "--out", str(reference)]) == 0
    capsys.readouterr()
    out = tmp_path / "interrupted"

    # 1. killed outright: nothing can clean up, the finished points are on disk, the workers follow
    proc = start(out)
    wait_for(out, 2, proc)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    kept = finished(out)
    assert 2 <= len(kept) < POINTS
    end = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.1)
    assert not any(alive(w) for w in workers), "pool workers outlived their killed parent"

    # 2. Ctrl-C: an error that names the points in flight (lost) and says how to go on
    proc = start(out)
    wait_for(out, len(kept) + 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "sweep interrupted: Ctrl-C" in err and "--resume" in err
    done = finished(out)
    assert len(done) < POINTS and all(done[name] == data for name, data in kept.items())   # kept untouched
    assert f"{len(done)} of {POINTS} points are finished and saved" in err
    assert "lost (in flight): " in err
    lost = re.findall(r"point \d+ \[([0-9a-f]{12})\]", err)
    assert len(lost) <= 2 and not any(f"{i}.json" in done for i in lost)   # at most one per worker
    partial = (out / "results.csv").read_text().splitlines()
    assert len(partial) == 1 + len(done)   # the table of the finished points

    # 3. resumed to the end: the same bytes as the uninterrupted (serial) sweep
    proc = start(out)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"{POINTS} points: {POINTS} ok, 0 failed, {len(done)} kept from before (--resume)" in stdout
    assert all(finished(out)[name] == data for name, data in done.items())
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
