"""Readers (and an IDX writer) for the file formats datasets come in.

- IDX (MNIST, Fashion-MNIST): a 4-byte magic number ``00 00 <type> <ndim>``, then
  ``ndim`` big-endian uint32 sizes, then the values in C order. Gzip-compressed files
  are recognised by their content (``1f 8b``), not by their name.
- CIFAR-10 / CIFAR-100 "python version" batches: a pickled dict with ``b'data'``
  (N x 3072 uint8, each row 1024 red, 1024 green, 1024 blue values in row-major order)
  and ``b'labels'`` (CIFAR-10) or ``b'fine_labels'`` (CIFAR-100). They are read with
  ``pickle`` (``encoding='bytes'``, as the official files were written by Python 2)
  through an unpickler that only accepts the few globals a numpy array needs, so a
  file that is not a CIFAR batch cannot run code. The batches may also be read
  straight from the downloaded ``.tar.gz``.
- ``.npz``: ``x_train/y_train/x_test/y_test`` (the Keras layout) or ``images/labels``
  (one split), loaded with ``allow_pickle=False``.

Every reader returns raw arrays (as stored) and raises DataError naming the file for
anything missing, truncated or malformed. Scaling and layout checks live in
`archsim.data.datasets`.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from typing import Any, BinaryIO, Iterable, Iterator, Union

import numpy as np

from archsim.errors import DataError

Source = Union[str, "os.PathLike[str]"]  # a file path

# IDX type byte -> numpy dtype (big-endian for multi-byte types)
IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"

CIFAR_ROW = 3 * 32 * 32


@contextlib.contextmanager
def _open_binary(source) -> Iterator[BinaryIO]:
    """Open a path (or an importlib.resources Traversable) for reading, gunzipping if needed."""
    opener = source.open if hasattr(source, "open") and not isinstance(source, (str, os.PathLike)) \
        else lambda mode: open(source, mode)
    with opener("rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                yield g
        else:
            yield f


# -- IDX --------------------------------------------------------------------------------------

def read_idx(source, limit: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (raw or gzip), in native byte order.

    With `limit`, only the first `limit` entries along the first axis are read (the
    rest of the file is not checked); otherwise trailing bytes are an error.
    """
    where = str(source)
    try:
        with _open_binary(source) as f:
            header = f.read(4)
            if len(header) < 4 or header[0] != 0 or header[1] != 0:
                found = header.hex(" ") if header else "an empty file"
                raise DataError(f"{where}: is not an IDX file: it must start with the magic number "
                                f"00 00 <type> <dimensions>, but starts with {found}")
            code, ndim = header[2], header[3]
            if code not in IDX_DTYPES:
                raise DataError(f"{where}: IDX type code 0x{code:02x} is not one of "
                                + ", ".join(f"0x{c:02x} ({IDX_DTYPES[c].name})" for c in IDX_DTYPES))
            if ndim == 0:
                raise DataError(f"{where}: IDX header declares 0 dimensions")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataError(f"{where}: is truncated: the IDX header declares {ndim} dimensions "
                                f"but the file ends inside the header")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            dtype = IDX_DTYPES[code]
            count = dims[0] if limit is None else min(int(limit), dims[0])
            per_item = int(np.prod(dims[1:], dtype=np.int64)) * dtype.itemsize
            expected = count * per_item
            data = _read_exactly(f, expected)
            if len(data) < expected:
                raise DataError(f"{where}: is truncated: its header declares shape {list(dims)} "
                                f"({dims[0] * per_item} bytes of data) but only {len(data)} bytes follow")
            if limit is None and f.read(1):
                raise DataError(f"{where}: has bytes after the data its header declares "
                                f"(shape {list(dims)}); the file is not a valid IDX file")
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except EOFError:
        raise DataError(f"{where}: is truncated: the gzip stream ends before the data is complete") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"{where}: cannot be read: {exc}") from None
    array = np.frombuffer(data, dtype=dtype).reshape((count, *dims[1:]))
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else array


def _read_exactly(f: BinaryIO, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_idx(path: Source, array: np.ndarray) -> None:
    """Write `array` as an IDX file; gzip-compressed (reproducibly: no name, mtime 0) if
    `path` ends with .gz."""
    a = np.asarray(array)
    native = a.dtype.newbyteorder("=") if a.dtype.itemsize > 1 else a.dtype
    if native not in _IDX_CODES:
        raise ValueError(f"IDX cannot store dtype {a.dtype}; use one of "
                         + ", ".join(sorted({d.name for d in IDX_DTYPES.values()})))
    if a.ndim == 0 or a.ndim > 255:
        raise ValueError(f"IDX stores arrays of 1 to 255 dimensions, not {a.ndim}")
    code = _IDX_CODES[native]
    payload = (bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
               + np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes())
    with open(path, "wb") as f:
        if str(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
                g.write(payload)
        else:
            f.write(payload)


# -- CIFAR python batches ---------------------------------------------------------------------

# (module, name) pairs a pickled CIFAR batch may reference: numpy array reconstruction
# (numpy 1.x and 2.x spellings) and the bytes helper Python 3 uses at protocol 2.
_CIFAR_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; anything else is refused."""

    def find_class(self, module, name):
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"it references {module}.{name}, which a CIFAR batch never holds "
                                         f"(archsim refuses to unpickle it)")
        if module.startswith("numpy.core."):  # numpy >= 2 renamed numpy.core to numpy._core
            try:
                return getattr(importlib.import_module("numpy._core." + module[len("numpy.core."):]), name)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def _unpickle_batch(f: BinaryIO, where: str) -> object:
    try:
        return _BatchUnpickler(f, encoding="bytes").load()
    except EOFError:
        raise DataError(f"{where}: is truncated (the pickle ends early); it is not a complete CIFAR batch") from None
    except pickle.UnpicklingError as exc:
        if "truncated" in str(exc):
            raise DataError(f"{where}: is truncated (the pickle ends early); it is not a complete CIFAR batch") from None
        raise DataError(f"{where}: is not a CIFAR python batch: {exc}") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, ImportError, struct.error, zlib.error, OSError) as exc:
        raise DataError(f"{where}: is not a CIFAR python batch: {exc}") from None


def parse_cifar_batch(obj: object, where: str, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from an unpickled batch dict."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: is not a CIFAR python batch: it holds a {type(obj).__name__}, not a dict")
    keys = ", ".join(repr(k) for k in obj)
    missing = [k for k in (b"data", label_key) if k not in obj]
    if missing:
        raise DataError(f"{where}: is not a CIFAR python batch: it has no "
                        + " or ".join(repr(k) for k in missing) + f" entry (it has: {keys})")
    data, labels = obj[b"data"], obj[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW:
        desc = (f"a {data.dtype} array of shape {list(data.shape)}" if isinstance(data, np.ndarray)
                else f"a {type(data).__name__}")
        raise DataError(f"{where}: b'data' must be a uint8 array of shape [N, {CIFAR_ROW}], not {desc}")
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: {label_key!r} is not a list of integers: {exc}") from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {label_key!r} must be a list of integers, not {labels.dtype} "
                        f"values of shape {list(labels.shape)}")
    if len(labels) != len(data):
        raise DataError(f"{where}: holds {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_cifar_batch(path: Source, label_key: bytes = b"labels") -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch file (e.g. cifar-10-batches-py/test_batch, cifar-100-python/test)."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            obj = _unpickle_batch(f, where)
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except OSError as exc:
        raise DataError(f"{where}: cannot be read: {exc}") from None
    return parse_cifar_batch(obj, where, label_key)


def read_cifar_tar(path: Source, members: Iterable[str], label_key: bytes = b"labels",
                   limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Batches `members` (e.g. 'cifar-10-batches-py/test_batch') read from the downloaded
    archive, concatenated in the order given; stops once `limit` images are read."""
    where = str(path)
    members = list(members)
    images, labels, count = [], [], 0
    try:
        with tarfile.open(path, "r:*") as tar:
            names = set(tar.getnames())
            absent = [m for m in members if m not in names]
            if absent:
                raise DataError(f"{where}: the archive has no " + ", ".join(absent)
                                + "; it is not the CIFAR python archive archsim expects")
            for member in members:
                f = tar.extractfile(member)
                if f is None:
                    raise DataError(f"{where}: {member} is not a regular file in the archive")
                x, y = parse_cifar_batch(_unpickle_batch(f, f"{where}:{member}"), f"{where}:{member}", label_key)
                images.append(x)
                labels.append(y)
                count += len(x)
                if limit is not None and count >= limit:
                    break
    except FileNotFoundError:
        raise DataError(f"{where}: no such file") from None
    except EOFError:
        raise DataError(f"{where}: is truncated (the archive ends early)") from None
    except (tarfile.TarError, OSError, zlib.error) as exc:
        raise DataError(f"{where}: cannot be read as a .tar.gz archive: {exc}") from None
    return np.concatenate(images), np.concatenate(labels)


# -- npz --------------------------------------------------------------------------------------

NPZ_LAYOUTS = "x_train/y_train/x_test/y_test, or images/labels"


@contextlib.contextmanager
def open_npz(path: Source, label: str, unpicklable: str) -> Iterator[Any]:
    """The .npz file at `path`, opened without pickle; every failure to read it becomes a
    DataError starting with `label` (`unpicklable` is the message for object arrays, with
    `{exc}` for the reason)."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"PK":
                raise DataError(f"{label}: is not an .npz file (an .npz file is a zip archive)")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                yield npz
    except FileNotFoundError:
        raise DataError(f"{label}: no such file") from None
    except ValueError as exc:  # object arrays, or not a zip/npy at all
        raise DataError(f"{label}: {unpicklable.format(exc=exc)}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
        raise DataError(f"{label}: is not a readable .npz file: {exc}") from None


def read_npz(path: Source, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, keys used) of `split` from an .npz file.

    A file with ``x_<split>``/``y_<split>`` gives that split; a file with only
    ``images``/``labels`` holds a single split and is returned for whichever split is asked
    (the caller decides which files may be read that way).
    """
    where = str(path)
    with open_npz(path, where, "is not a readable .npz file (archsim loads it without pickle): {exc}") as npz:
        keys = list(npz.keys())
        if f"x_{split}" in keys and f"y_{split}" in keys:
            used = (f"x_{split}", f"y_{split}")
        elif "images" in keys and "labels" in keys:
            used = ("images", "labels")
        else:
            raise DataError(f"{where}: holds no {split} split: it must contain the arrays "
                            f"{NPZ_LAYOUTS} (it has: {', '.join(keys) or 'nothing'})")
        images, labels = npz[used[0]], npz[used[1]]
    return images, labels, "/".join(used)


__all__ = ["read_idx", "write_idx", "read_cifar_batch", "read_cifar_tar", "parse_cifar_batch", "read_npz", "open_npz",
           "IDX_DTYPES", "NPZ_LAYOUTS"]
