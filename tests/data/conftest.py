"""Fixtures for the data tests: an isolated search environment and writers of small
datasets in the upstream file layouts (CIFAR is not available offline)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from archsim.data import datasets
from archsim.data.formats import write_idx


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No $ARCHSIM_DATA, and a user cache inside tmp_path; /usr/share/datasets stays real."""
    monkeypatch.delenv("ARCHSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def no_system_data(tmp_path, monkeypatch) -> Path:
    """Replace the standard system place (/usr/share/datasets) by an empty folder."""
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", (system,))
    return system


def fake_idx(folder: Path, split: str = "test", n: int = 12, seed: int = 0, gz: bool = True,
             dotted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Write the upstream IDX pair of one split with random uint8 images; return (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = {"train": "train", "test": "t10k"}[split]
    sep = "." if dotted else "-"
    ext = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images{sep}idx3-ubyte{ext}", images)
    write_idx(folder / f"{prefix}-labels{sep}idx1-ubyte{ext}", labels)
    return images, labels


def cifar_pickle(data: np.ndarray, labels, label_key: bytes = b"labels") -> bytes:
    """A batch pickled like the official files: protocol 2, bytes keys, and the numpy 1.x
    module name `numpy.core.multiarray` that Python 2 + numpy 1 wrote."""
    obj = {b"batch_label": b"testing batch 1 of 1", label_key: labels, b"data": data,
           b"filenames": [b"img_%d.png" % i for i in range(len(data))]}
    raw = pickle.dumps(obj, protocol=2)
    return raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def fake_cifar_batch(path: Path, n: int, seed: int, label_key: bytes = b"labels",
                     classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Write one CIFAR python batch of n random images; return (data (n, 3072) uint8, labels)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, classes, size=n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cifar_pickle(data, labels, label_key))
    return data, np.array(labels)
