"""Find and load image-classification datasets from local files (never from the network).

Search order for `load_dataset(name, split, path=..., base_dir=...)`:

1. `path` (the workload's ``dataset.path``, relative to `base_dir`, the workload
   file's directory). When given it is the only place searched: a workload that names
   its data never silently gets other data.
2. ``$ARCHSIM_DATA/<name>/`` (``ARCHSIM_DATA`` may list several directories,
   separated by ``os.pathsep``).
3. The standard places: ``/usr/share/datasets/<name>/`` (where Debian's
   ``dataset-fashion-mnist`` installs) and ``~/.cache/archsim/datasets/<name>/``
   (``$XDG_CACHE_HOME/archsim/datasets/<name>/`` when that is set).
4. The test split only: the subset shipped with archsim (the first 1000 Fashion-MNIST
   test images), flagged ``Dataset.subset = True``.

``<name>`` is the canonical name (fashion-mnist, mnist, cifar10, cifar100). A folder
may hold the upstream files as downloaded: IDX files (``train-images-idx3-ubyte.gz``
etc., gzip or not), CIFAR python batches (directly, in ``cifar-10-batches-py/`` /
``cifar-100-python/``, or the unextracted ``cifar-10-python.tar.gz`` /
``cifar-100-python.tar.gz``), or numpy archives (``<name>.npz`` with
``x_train/y_train/x_test/y_test``, or ``train.npz`` / ``test.npz`` with
``images/labels``). A place that holds the data but in a broken state (a file
missing, truncated or malformed) is an error, not a reason to look further.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from archsim.data import formats
from archsim.errors import DataError

SPLITS = ("train", "test")
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)  # standard places before the user cache
ENV_VAR = "ARCHSIM_DATA"


@dataclass(frozen=True)
class DatasetInfo:
    """What archsim knows about a dataset: its shape, classes, files and how to get it."""

    name: str                                  # canonical name, also the folder name searched for
    title: str                                 # as the authors write it
    aliases: tuple[str, ...]                   # other accepted names (compared case-insensitively)
    shape: tuple[int, int, int]                # one image: channels, height, width
    classes: int
    layout: str                                # "idx" or "cifar"
    source: str                                # where to download it
    batches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # cifar: split -> batch files
    batch_dir: str = ""                        # cifar: folder in the official archive
    archive: str = ""                          # cifar: the official archive's file name
    label_key: bytes = b"labels"               # cifar: labels entry of a batch
    subset: tuple[str, str] = ()               # shipped test subset: (images file, labels file)
    package: str = ""                          # distribution package that installs it


DATASETS: Mapping[str, DatasetInfo] = MappingProxyType({d.name: d for d in (
    DatasetInfo(name="fashion-mnist", title="Fashion-MNIST", aliases=("fashion_mnist", "fashionmnist", "fmnist"),
                shape=(1, 28, 28), classes=10, layout="idx",
                source="https://github.com/zalandoresearch/fashion-mnist",
                subset=("t10k-images-idx3-ubyte-1k.gz", "t10k-labels-idx1-ubyte-1k.gz"),
                package="dataset-fashion-mnist"),
    DatasetInfo(name="mnist", title="MNIST", aliases=(), shape=(1, 28, 28), classes=10, layout="idx",
                source="https://yann.lecun.com/exdb/mnist/ (or a mirror)"),
    DatasetInfo(name="cifar10", title="CIFAR-10", aliases=("cifar-10", "cifar_10"), shape=(3, 32, 32),
                classes=10, layout="cifar", source="https://www.cs.toronto.edu/~kriz/cifar.html",
                batches=MappingProxyType({"train": tuple(f"data_batch_{i}" for i in range(1, 6)),
                                          "test": ("test_batch",)}),
                batch_dir="cifar-10-batches-py", archive="cifar-10-python.tar.gz", label_key=b"labels"),
    DatasetInfo(name="cifar100", title="CIFAR-100", aliases=("cifar-100", "cifar_100"), shape=(3, 32, 32),
                classes=100, layout="cifar", source="https://www.cs.toronto.edu/~kriz/cifar.html",
                batches=MappingProxyType({"train": ("train",), "test": ("test",)}),
                batch_dir="cifar-100-python", archive="cifar-100-python.tar.gz", label_key=b"fine_labels"),
)})

_IDX_PREFIX = {"train": "train", "test": "t10k"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one split, ready for the network.

    `images` are float32 (N, C, H, W) in [0, 1]; `labels` int64 (N,) in [0, classes).
    Both arrays are read-only. `origin` says which file(s) were read and how they were
    found; `subset` is True when they are the small subset shipped with archsim.
    """

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    classes: int
    name: str
    split: str
    origin: str
    subset: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, {self.split!r}, {len(self)} images of {list(self.images.shape[1:])}, "
                f"{self.classes} classes{', subset' if self.subset else ''}, origin={self.origin!r})")


def dataset_info(name: str) -> DatasetInfo:
    """The dataset called `name` (canonical name or alias, any case); DataError if unknown."""
    key = str(name).strip().lower()
    for info in DATASETS.values():
        if key == info.name or key in info.aliases:
            return info
    raise DataError(f"unknown dataset '{name}'; archsim knows: {', '.join(DATASETS)}")


def user_cache_dir() -> Path:
    """~/.cache/archsim/datasets, or $XDG_CACHE_HOME/archsim/datasets when that is set."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "archsim" / "datasets"


def search_places(name: str, path: str = "", base_dir: str = "") -> list[tuple[str, Path]]:
    """The (how, where) places `load_dataset` searches, in order, before the shipped subset."""
    info = dataset_info(name)
    if path:
        p = Path(path).expanduser()
        return [("dataset.path in the workload", p if p.is_absolute() else Path(base_dir or ".") / p)]
    places = [(f"${ENV_VAR}", Path(d).expanduser() / info.name)
              for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d.strip()]
    places += [("standard place", d / info.name) for d in SYSTEM_DIRS]
    places.append(("user cache", user_cache_dir() / info.name))
    return places


# -- probing one place ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Found:
    files: str                                                    # for Dataset.origin
    read: Callable[[int | None], tuple[np.ndarray, np.ndarray]]   # limit -> (images, labels) as stored


def _first_file(folder: Path, names: list[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _idx_names(prefix: str, kind: str, ndim: int) -> list[str]:
    stems = [f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte"]
    return [s + ext for s in stems for ext in (".gz", "")]


def _idx_pair(images: Path, labels: Path) -> _Found:
    def read(limit):
        return formats.read_idx(images, limit), formats.read_idx(labels, limit)
    return _Found(f"{images} + {labels}", read)


def _expected_files(info: DatasetInfo, split: str) -> str:
    if info.layout == "idx":
        p = _IDX_PREFIX[split]
        native = f"{p}-images-idx3-ubyte[.gz] and {p}-labels-idx1-ubyte[.gz]"
    else:
        names = info.batches[split]
        shown = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
        native = f"{info.batch_dir}/{shown}, or {info.archive}"
    return f"{native}, or {info.name}.npz / {split}.npz"


def _probe(info: DatasetInfo, place: Path, split: str, explicit: bool) -> _Found | str:
    """The data of `split` at `place`, or the reason it is not there; DataError if broken."""
    if not place.exists():
        return "does not exist"
    if place.is_file():
        if not explicit:
            return "is a file, not a folder"
        name = place.name.lower()
        if name.endswith(".npz"):
            return _Found(str(place), lambda limit: formats.read_npz(place, split)[:2])
        if info.layout == "cifar" and name.endswith((".tar.gz", ".tgz", ".tar")):
            return _cifar_tar(info, place, split)
        raise DataError(f"{place} (dataset.path in the workload): is a file archsim cannot read as "
                        f"{info.title}; give a folder holding {_expected_files(info, split)}, or an .npz file")
    if info.layout == "idx":
        p = _IDX_PREFIX[split]
        images = _first_file(place, _idx_names(p, "images", 3))
        labels = _first_file(place, _idx_names(p, "labels", 1))
        if images and labels:
            return _idx_pair(images, labels)
        if images or labels:
            have, need = (images, f"{p}-labels-idx1-ubyte[.gz]") if images else (labels, f"{p}-images-idx3-ubyte[.gz]")
            raise DataError(f"{place}: has {have.name} but no {need}; the {split} split needs both "
                            f"the images and the labels file ({info.title}: {info.source})")
    else:
        names = info.batches[split]
        for folder in (place, place / info.batch_dir):
            present = [n for n in names if (folder / n).is_file()]
            if len(present) == len(names):
                return _cifar_batches(info, folder, names)
            if present:
                missing = [n for n in names if n not in present]
                raise DataError(f"{folder}: is an incomplete {info.title} folder: it has {', '.join(present)} "
                                f"but not {', '.join(missing)} (get {info.archive} from {info.source})")
        if (place / info.archive).is_file():
            return _cifar_tar(info, place / info.archive, split)
    npz = _first_file(place, [f"{info.name}.npz", f"{split}.npz"])
    if npz:
        return _Found(str(npz), lambda limit: formats.read_npz(npz, split)[:2])
    return f"holds none of {_expected_files(info, split)}"


def _cifar_batches(info: DatasetInfo, folder: Path, names: tuple[str, ...]) -> _Found:
    def read(limit):
        images, labels, count = [], [], 0
        for n in names:
            x, y = formats.read_cifar_batch(folder / n, info.label_key)
            images.append(x)
            labels.append(y)
            count += len(y)
            if limit is not None and count >= limit:
                break
        return np.concatenate(images), np.concatenate(labels)
    shown = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return _Found(str(folder / shown), read)


def _cifar_tar(info: DatasetInfo, archive: Path, split: str) -> _Found:
    members = [f"{info.batch_dir}/{n}" for n in info.batches[split]]
    return _Found(f"{archive} ({', '.join(members)})",
                  lambda limit: formats.read_cifar_tar(archive, members, info.label_key, limit))


def _shipped_subset(info: DatasetInfo) -> _Found | None:
    if not info.subset:
        return None
    folder = resources.files("archsim").joinpath("presets", "datasets", info.name)
    images, labels = (folder.joinpath(n) for n in info.subset)
    if not (images.is_file() and labels.is_file()):
        return None
    return _Found(f"{folder}/{info.subset[0]} + {info.subset[1]}",
                  lambda limit: (formats.read_idx(images, limit), formats.read_idx(labels, limit)))


# -- converting and checking ------------------------------------------------------------------

def _to_images(raw: np.ndarray, info: DatasetInfo, where: str) -> np.ndarray:
    x = np.asarray(raw)
    c, h, w = info.shape
    if x.ndim == 3 and c == 1:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1:] != info.shape and x.shape[1:] == (h, w, c):
        x = x.transpose(0, 3, 1, 2)  # channels-last (as Keras stores CIFAR)
    if x.ndim != 4 or x.shape[1:] != info.shape:
        raise DataError(f"{where}: images have shape {list(raw.shape)}; {info.title} needs [N, {c}, {h}, {w}]"
                        + (f" or [N, {h}, {w}]" if c == 1 else f" or [N, {h}, {w}, {c}]"))
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(f"{where}: integer images must hold values 0 to 255, found {x.min()} to {x.max()}")
        return x.astype(np.float32) / np.float32(255)
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataError(f"{where}: floating-point images must lie in [0, 1], found values from "
                            f"{np.nanmin(x)} to {np.nanmax(x)}" + ("" if np.isfinite(x).all() else " and NaN/inf"))
        return x
    raise DataError(f"{where}: images have dtype {x.dtype}; expected uint8 (0..255) or floats in [0, 1]")


def _to_labels(raw: np.ndarray, n: int, info: DatasetInfo, where: str) -> np.ndarray:
    y = np.asarray(raw)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]  # (N, 1), as Keras stores CIFAR labels
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: labels must be N integers, not {y.dtype} values of shape {list(raw.shape)}")
    if len(y) != n:
        raise DataError(f"{where}: holds {n} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= info.classes):
        raise DataError(f"{where}: labels must lie in 0..{info.classes - 1} for {info.title}, "
                        f"found {y.min()} to {y.max()}")
    return y.astype(np.int64)


def _build(info: DatasetInfo, split: str, found: _Found, limit: int | None, origin: str,
           subset: bool) -> Dataset:
    raw_x, raw_y = found.read(limit)
    if limit is not None:
        raw_x, raw_y = raw_x[:limit], raw_y[:limit]
    images = _to_images(raw_x, info, found.files)
    labels = _to_labels(raw_y, len(images), info, found.files)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Dataset(images=images, labels=labels, classes=info.classes, name=info.name, split=split,
                   origin=origin, subset=subset)


def _how_to_get(info: DatasetInfo) -> str:
    cache = user_cache_dir() / info.name
    if info.layout == "idx":
        p = [f"{_IDX_PREFIX[s]}-{k}-idx{d}-ubyte.gz" for s in SPLITS for k, d in (("images", 3), ("labels", 1))]
        ways = [f"download {', '.join(p[:-1])} and {p[-1]} from {info.source} into {cache}/"]
        if info.package:
            ways.insert(0, f"install the Debian/Ubuntu package: apt-get install {info.package} "
                           f"(it puts the files in {SYSTEM_DIRS[0] / info.name}/)")
    else:
        ways = [f"download the python version, {info.archive}, from {info.source} and put it, or the "
                f"{info.batch_dir}/ folder extracted from it, in {cache}/"]
    ways.append(f"or put the files (or a {info.name}.npz with x_train/y_train/x_test/y_test) in a folder "
                f"{info.name}/ under a directory named by ${ENV_VAR}, or set dataset.path in the workload")
    return "\n".join(f"  - {w}" for w in ways) + "\narchsim never downloads data."


def load_dataset(name: str, split: str, *, path: str = "", base_dir: str = "",
                 limit: int | None = None) -> Dataset:
    """The `split` ('train' or 'test') of dataset `name`, from the first place that holds it.

    `path` and `base_dir` are the workload's ``dataset.path`` and directory; `limit`
    keeps the first `limit` images (all of them, if the split holds fewer).
    Raises DataError when the data is missing (listing every place searched and how to
    get it) or malformed.
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' of {info.title}; choose one of {', '.join(SPLITS)}")
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, not {limit!r}")
    looked = []
    if not path and not os.environ.get(ENV_VAR, "").strip():
        looked.append(f"${ENV_VAR}: not set")
    for how, place in search_places(info.name, path, base_dir):
        try:
            found = _probe(info, place, split, explicit=bool(path))
        except OSError as exc:  # e.g. a folder we may not list
            raise DataError(f"{place} ({how}): cannot be searched: {exc.strerror or exc}") from None
        if isinstance(found, str):
            looked.append(f"{place} ({how}): {found}")
            continue
        return _build(info, split, found, limit, f"{found.files} (found via {how})", subset=False)
    what = f"the {split} split of {info.title}"
    if path:
        raise DataError(f"{what} is not where the workload's dataset.path points:\n  - {looked[0]}\n"
                        f"Put the data there, or remove dataset.path to search ${ENV_VAR}, "
                        f"{', '.join(str(d) for d in SYSTEM_DIRS)} and {user_cache_dir()}.\nTo get it:\n"
                        + _how_to_get(info))
    subset = _shipped_subset(info) if split == "test" else None
    if subset is not None:
        dataset = _build(info, split, subset, limit, "", subset=True)
        return replace(dataset, origin=f"{subset.files} (subset shipped with archsim: the first {len(dataset)} "
                                       f"images of the {info.title} test split; the full dataset was not found)")
    note = ""
    if info.subset and split != "test":
        note = (f"(archsim ships only the first 1000 {info.title} test images, for a quick look; "
                f"the {split} split needs the full dataset.)\n")
    elif info.subset:
        note = (f"(the {info.title} test subset that archsim ships, {' and '.join(info.subset)}, is missing "
                f"from this installation of archsim.)\n")
    raise DataError(f"{what} was not found. archsim looked in:\n" + "\n".join(f"  - {l}" for l in looked)
                    + f"\n{note}To get it:\n" + _how_to_get(info))
