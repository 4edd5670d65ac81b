"""archsim.pool: one object written once for every worker, read back equal; workers keep freed memory."""

import ctypes
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from archsim import pool


def _sample():
    rng = np.random.default_rng(3)
    return {"w": rng.random((37, 5), dtype=np.float32), "ints": np.arange(11, dtype=np.int16),
            "strided": np.arange(20.0)[::3], "empty": np.zeros((0, 4)), "name": "net", "n": 7}


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k]


def test_shared_round_trip_gives_private_writable_aligned_arrays():
    obj = _sample()
    with pool.shared(obj) as handle:
        assert os.path.exists(handle.path)
        first, second = handle.load(), handle.load()
        _same(obj, first)
        assert first["w"].ctypes.data % 64 == 0  # out-of-band buffers sit at aligned offsets
        first["w"][0, 0] = -1.0  # copy-on-write: neither the file nor another load sees it
        assert second["w"][0, 0] == obj["w"][0, 0] and handle.load()["w"][0, 0] == obj["w"][0, 0]
    assert not os.path.exists(handle.path)
    assert first["w"][0, 0] == -1.0 and second["w"][1, 1] == obj["w"][1, 1]  # mappings outlive the name


def test_shared_falls_back_to_the_temporary_directory(monkeypatch, tmp_path):
    """No /dev/shm, or a full one: the file goes to the temporary directory."""
    monkeypatch.setattr(pool, "_SHM_DIRS", (str(tmp_path / "missing"),))
    monkeypatch.setattr(pool.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pool.shared(_sample()) as handle:
        assert os.path.dirname(handle.path) == str(tmp_path / "tmp")
        _same(_sample(), handle.load())

    calls = []
    real = pool._write_shared

    def full_then_ok(head, buffers, directory):
        calls.append(directory)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(head, buffers, directory)

    monkeypatch.setattr(pool, "_SHM_DIRS", (str(tmp_path),))
    monkeypatch.setattr(pool, "_write_shared", full_then_ok)
    with pool.shared(_sample()) as handle:
        _same(_sample(), handle.load())
    assert calls == [str(tmp_path), str(tmp_path / "tmp")]


def test_shared_removes_the_file_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with pool.shared(_sample()) as handle:
            raise RuntimeError("a task failed")
    assert not os.path.exists(handle.path)


def test_worker_loads_what_the_parent_shared():
    obj = _sample()
    with pool.worker_pool(1) as workers, pool.shared(obj) as handle:
        back = workers.executor.submit(handle.load).result()
    _same(obj, back)


class _MallocInfo(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mapped_growth_of_a_4mb_block(keep: bool = False) -> int:
    """Bytes malloc maps anew (hblkhd) for a 4 MB numpy array, in this process."""
    if keep:
        assert pool.keep_freed_memory()
    info = ctypes.CDLL(None).mallinfo2
    info.restype = _MallocInfo
    before = info().hblkhd
    block = np.ones(4 << 20, np.uint8)  # noqa: F841 (alive while malloc is asked)
    return info().hblkhd - before


def test_workers_keep_freed_memory_for_their_temporaries():
    """A fresh process maps a 4 MB block of its own (glibc's threshold is 128 KiB until a big
    block was freed), to be page-faulted afresh every time; after keep_freed_memory, which
    every worker runs, such blocks come from the heap."""
    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("not glibc >= 2.33")
    script = ("import sys; sys.path.insert(0, {!r}); from test_pool import _mapped_growth_of_a_4mb_block as g; "
              "print(g({}))")

    def fresh(keep):
        return int(subprocess.run([sys.executable, "-c", script.format(os.path.dirname(__file__), keep)],
                                  capture_output=True, text=True, check=True).stdout)

    assert fresh(False) >= 4 << 20 > fresh(True)
    with pool.worker_pool(1) as workers:
        assert workers.executor.submit(_mapped_growth_of_a_4mb_block).result() < 4 << 20


def test_shared_removes_files_left_by_killed_writers(monkeypatch, tmp_path):
    """A writer killed outright cannot remove its file; a later call does, judging by the
    writer's lock (the kernel drops a dead process's locks): a locked file is in use, and
    a fresh unlocked one may not be locked yet."""
    import fcntl
    old = time.time() - 2 * pool._ORPHAN_AGE_S
    orphan, in_use, fresh = (tmp_path / f"archsim-shared-{n}" for n in ("orphan", "in-use", "fresh"))
    other = tmp_path / "unrelated-file"
    for f in (orphan, in_use, fresh, other):
        f.write_bytes(b"x")
    for f in (orphan, in_use, other):
        os.utime(f, (old, old))
    holder = os.open(in_use, os.O_RDONLY)  # the live writer's lock (another open file: they conflict)
    fcntl.flock(holder, fcntl.LOCK_SH)
    try:
        monkeypatch.setattr(pool, "_SHM_DIRS", (str(tmp_path),))
        with pool.shared(_sample()) as handle:
            os.utime(handle.path, (old, old))  # old, but locked by its writer (this process):
            pool._remove_orphans(str(tmp_path))  # a second writer's sweep spares it
            assert os.path.exists(handle.path)
        assert not orphan.exists() and in_use.exists() and fresh.exists() and other.exists()
    finally:
        os.close(holder)
