"""Worker processes for CPU-bound work (sweep points, chunks of an accuracy evaluation).

Spawn-context processes (machine-facts.md: a fork after numba's threads ran can leave a
broken pool) with one numba and one BLAS thread each, so that N workers on N cores do not
oversubscribe them. Standard library only: the bottom layer, like `files`.
"""

from __future__ import annotations

import ctypes
import mmap
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: files of killed writers are not swept
    fcntl = None

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads() -> None:
    """One numba and one BLAS thread in this process. Takes effect for libraries not yet
    imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


_WORKER = "ARCHSIM_POOL_WORKER"  # set in every worker: its work does not start pools of its own


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc's malloc keep freed memory for reuse: blocks up to `mmap_threshold` come
    from the heap, and up to `trim_threshold` of free heap stays with the process.

    glibc raises its thresholds only after it has freed a large block; a worker that
    received its network from a file never did, so every layer's numpy temporaries (a few
    MB) were mapped and page-faulted afresh: a worker evaluated ResNet-32 21 % more slowly
    than the same code in a process that had programmed the chip itself. The price: a
    worker may hold up to `trim_threshold` of freed memory. False where there is no
    mallopt (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # no mallopt, or no C library to open by None (Windows)
        return False
    mapped = mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    trimmed = mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    return bool(mapped) and bool(trimmed)


def worker_init() -> None:
    limit_threads()
    keep_freed_memory()
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


@contextmanager
def optional_pool(count: int) -> Iterator[Workers | None]:
    """`worker_pool(count)` when more than one process is asked for and this one may start
    them (`can_spawn`), else None: the caller works in this process."""
    if count > 1 and can_spawn():
        with worker_pool(count) as workers:
            yield workers
    else:
        yield None


# --------------------------------------------------------------------------
# Sending one large object to every worker. Down each worker's pipe it is pickled, copied
# and unpickled once per worker: a programmed ResNet-32 and its weights (13 MB) took 60 ms
# for two workers, a tenth of evaluating 100 images. Written once to a file instead, which
# every worker maps, it costs one pickling.
_ALIGN = 64  # buffer offsets in the file: numpy arrays come back aligned for SIMD loads
_SHM_DIRS = ("/dev/shm",)  # shared memory (tmpfs) first, else the temporary directory
_SHARED_PREFIX = "archsim-shared-"
_ORPHAN_AGE_S = 60.0  # an unlocked file at least this old has lost its writer


@dataclass(frozen=True)
class Shared:
    """A handle to an object written by `shared`: what a task takes instead of the object."""

    path: str
    head: tuple[int, int]               # (offset, length) of the pickle stream
    buffers: tuple[tuple[int, int], ...]  # (offset, length) of each out-of-band buffer

    def load(self) -> Any:
        """The object, its arrays mapped copy-on-write from the file (writable, private)."""
        with open(self.path, "rb") as f:
            view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY))
        (h, n) = self.head
        return pickle.loads(view[h:h + n], buffers=[view[o:o + m] for o, m in self.buffers])


def _shared_dirs() -> list[str]:
    return [d for d in _SHM_DIRS if os.path.isdir(d)] + [tempfile.gettempdir()]


def _remove_orphans(directory: str) -> None:
    """Remove shared files whose writer was killed before it could: in shared memory they
    would hold their RAM until the machine restarts. A writer holds a shared lock on its
    file as long as it is in use, and the kernel drops the locks of a dead process (unlike
    a pid, this holds across pid namespaces that share /dev/shm); a file is only judged
    once it is old enough that its writer has surely locked it."""
    if fcntl is None:
        return
    for name in os.listdir(directory):
        if not name.startswith(_SHARED_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if time.time() - os.fstat(fd).st_mtime >= _ORPHAN_AGE_S:
                os.unlink(path)
        except OSError:  # locked (in use), or removed meanwhile
            pass
        finally:
            os.close(fd)


def _write_shared(head: bytes, buffers: list[pickle.PickleBuffer], directory: str) -> tuple[int, Shared]:
    """The file's descriptor, holding a shared lock while the file is in use, and its handle."""
    _remove_orphans(directory)
    fd, path = tempfile.mkstemp(prefix=_SHARED_PREFIX, dir=directory)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(head)
            layout = []
            for buf in buffers:
                raw = buf.raw()
                f.write(b"\0" * (-f.tell() % _ALIGN))
                layout.append((f.tell(), raw.nbytes))
                f.write(raw)
            f.write(b"\0")  # never an empty file (it could not be mapped)
    except BaseException:
        os.unlink(path)
        os.close(fd)
        raise
    return fd, Shared(path, (0, len(head)), tuple(layout))


@contextmanager
def shared(obj: Any) -> Iterator[Shared]:
    """`obj` for the tasks of a pool: pickled once (protocol 5), its large buffers (numpy
    arrays) out of band, into a file in shared memory (or, when that is missing or full,
    the temporary directory) that each task maps. The file is removed on leaving: the
    caller leaves once its tasks have loaded it (a mapping outlives the file's name), and
    cancels those not yet started when it leaves early. A file left by a killed process
    is removed by a later call."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    directories = _shared_dirs()
    for i, directory in enumerate(directories):
        try:
            fd, handle = _write_shared(head, buffers, directory)
            break
        except OSError:
            if i + 1 == len(directories):
                raise
    try:
        yield handle
    finally:
        os.unlink(handle.path)
        os.close(fd)
