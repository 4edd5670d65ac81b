"""load_dataset: layouts, conversion, search order, messages and the shipped subset."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from archsim.data import DATASETS, Dataset, dataset_info, load_dataset, search_places
from archsim.data.formats import read_idx
from archsim.errors import DataError

from .conftest import fake_cifar_batch, fake_idx

SYSTEM_FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_system_fmnist = pytest.mark.skipif(
    not (SYSTEM_FMNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


# -- layouts and conversion -------------------------------------------------------------------

def test_idx_folder_via_archsim_data(tmp_path, monkeypatch):
    images, labels = fake_idx(tmp_path / "data" / "mnist", "test", n=12)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "data"))
    d = load_dataset("mnist", "test")
    assert isinstance(d, Dataset) and len(d) == 12
    assert d.images.dtype == np.float32 and d.images.shape == (12, 1, 28, 28)
    assert d.labels.dtype == np.int64
    np.testing.assert_array_equal(d.images[:, 0], images.astype(np.float32) / 255)
    np.testing.assert_array_equal(d.labels, labels)
    assert 0 <= d.images.min() and d.images.max() <= 1
    assert (d.classes, d.name, d.split, d.subset) == (10, "mnist", "test", False)
    folder = tmp_path / "data" / "mnist"
    assert d.origin == (f"{folder / 't10k-images-idx3-ubyte.gz'} + {folder / 't10k-labels-idx1-ubyte.gz'} "
                        "(found via $ARCHSIM_DATA)")
    assert not d.images.flags.writeable and not d.labels.flags.writeable
    assert "12 images of [1, 28, 28]" in repr(d)


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, True), (False, True)])
def test_idx_name_variants(tmp_path, monkeypatch, gz, dotted):
    images, _ = fake_idx(tmp_path / "mnist", "train", n=3, gz=gz, dotted=dotted)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    np.testing.assert_array_equal(load_dataset("mnist", "train").images[:, 0] * 255, images)


def test_names_are_case_insensitive_with_aliases():
    assert dataset_info("Fashion-MNIST").name == "fashion-mnist"
    assert dataset_info("FMNIST").name == "fashion-mnist"
    assert dataset_info("fashion_mnist").name == "fashion-mnist"
    assert dataset_info("CIFAR-10").name == "cifar10"
    assert dataset_info("cifar_100").name == "cifar100"
    assert set(DATASETS) == {"fashion-mnist", "mnist", "cifar10", "cifar100"}
    with pytest.raises(DataError) as exc:
        dataset_info("imagenet")
    assert str(exc.value) == "unknown dataset 'imagenet'; archsim knows: fashion-mnist, mnist, cifar10, cifar100"


def test_unknown_split_and_bad_limit():
    with pytest.raises(DataError, match="unknown split 'validation' of MNIST; choose one of train, test"):
        load_dataset("mnist", "validation")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_dataset("mnist", "test", limit=0)


def test_limit(tmp_path, monkeypatch):
    images, labels = fake_idx(tmp_path / "mnist", "test", n=10)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    d = load_dataset("mnist", "test", limit=4)
    assert len(d) == 4 and d.images.shape[0] == 4
    np.testing.assert_array_equal(d.labels, labels[:4])
    assert len(load_dataset("mnist", "test", limit=1000)) == 10  # all there are


def test_cifar10_extracted_folder(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    train = [fake_cifar_batch(folder / f"data_batch_{i}", n=2 + i, seed=i) for i in range(1, 6)]
    test = fake_cifar_batch(folder / "test_batch", n=4, seed=9)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    d = load_dataset("cifar10", "train")
    assert d.images.shape == (sum(len(b[0]) for b in train), 3, 32, 32) and d.classes == 10
    np.testing.assert_array_equal(d.images.reshape(len(d), -1) * 255, np.concatenate([b[0] for b in train]))
    np.testing.assert_array_equal(d.labels, np.concatenate([b[1] for b in train]))
    assert d.origin == f"{folder / 'data_batch_1..data_batch_5'} (found via $ARCHSIM_DATA)"
    t = load_dataset("CIFAR-10", "test")
    np.testing.assert_array_equal(t.labels, test[1])
    assert len(load_dataset("cifar10", "train", limit=4)) == 4  # reads batches 1 and 2 only


def test_cifar10_batches_directly_in_the_folder(tmp_path, monkeypatch):
    fake_cifar_batch(tmp_path / "cifar10" / "test_batch", n=3, seed=1)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    assert len(load_dataset("cifar10", "test")) == 3


def test_cifar10_from_the_downloaded_archive(tmp_path, monkeypatch):
    src = tmp_path / "src"
    _, labels = fake_cifar_batch(src / "test_batch", n=5, seed=2)
    fake_cifar_batch(src / "data_batch_1", n=2, seed=3)
    (tmp_path / "cache" / "cifar10").mkdir(parents=True)
    archive = tmp_path / "cache" / "cifar10" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("data_batch_1", "test_batch"):
            tar.add(src / name, arcname=f"cifar-10-batches-py/{name}")
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "cache"))
    d = load_dataset("cifar10", "test")
    np.testing.assert_array_equal(d.labels, labels)
    assert d.origin == f"{archive} (cifar-10-batches-py/test_batch) (found via $ARCHSIM_DATA)"
    with pytest.raises(DataError, match="the archive has no cifar-10-batches-py/data_batch_2, "):
        load_dataset("cifar10", "train")


def test_cifar100(tmp_path, monkeypatch):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    _, labels = fake_cifar_batch(folder / "test", n=6, seed=5, label_key=b"fine_labels", classes=100)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    d = load_dataset("cifar100", "test")
    assert d.classes == 100 and d.images.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(d.labels, labels)


def test_incomplete_cifar_folder_is_an_error(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    for i in (1, 2, 4, 5):
        fake_cifar_batch(folder / f"data_batch_{i}", n=1, seed=i)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", "train")
    assert str(exc.value) == (f"{folder}: is an incomplete CIFAR-10 folder: it has data_batch_1, data_batch_2, "
                              f"data_batch_4, data_batch_5 but not data_batch_3 (get cifar-10-python.tar.gz "
                              f"from https://www.cs.toronto.edu/~kriz/cifar.html)")


def test_idx_images_without_labels_is_an_error(tmp_path, monkeypatch):
    fake_idx(tmp_path / "mnist", "test", n=2)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", "test")
    assert str(exc.value) == (f"{tmp_path / 'mnist'}: has t10k-images-idx3-ubyte.gz but no "
                              "t10k-labels-idx1-ubyte[.gz]; the test split needs both the images and the "
                              "labels file (MNIST: https://yann.lecun.com/exdb/mnist/ (or a mirror))")


def test_broken_data_is_reported_not_skipped(tmp_path, monkeypatch, no_system_data):
    # a truncated file where the data should be stops the search (no fallback to the subset)
    fake_idx(tmp_path / "d" / "fashion-mnist", "test", n=5)
    bad = tmp_path / "d" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:40])
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "d"))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: is truncated"):
        load_dataset("fashion-mnist", "test")


def test_npz_in_a_folder_keras_layout(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)  # channels-last, as Keras stores CIFAR
    y = rng.integers(0, 10, (4, 1))                            # (N, 1) labels, as Keras stores CIFAR
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    d = load_dataset("cifar10", "train")
    assert d.images.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(d.images * 255, x.transpose(0, 3, 1, 2).astype(np.float32))
    np.testing.assert_array_equal(d.labels, y[:, 0])
    assert len(load_dataset("cifar10", "test")) == 2


def test_npz_split_files_and_float_images(tmp_path, monkeypatch):
    x = np.linspace(0, 1, 3 * 28 * 28, dtype=np.float64).reshape(3, 28, 28)
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "test.npz", images=x, labels=np.array([0, 9, 4], np.uint8))
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    d = load_dataset("mnist", "test")
    np.testing.assert_allclose(d.images[:, 0], x, rtol=1e-7)
    assert d.labels.tolist() == [0, 9, 4]
    assert d.origin == f"{tmp_path / 'mnist' / 'test.npz'} (found via $ARCHSIM_DATA)"


@pytest.mark.parametrize("images,labels,message", [
    (np.zeros((2, 32, 32), np.uint8), np.zeros(2, int),
     "images have shape [2, 32, 32]; MNIST needs [N, 1, 28, 28] or [N, 28, 28]"),
    (np.zeros((2, 28, 28), np.uint8), np.zeros(3, int), "holds 2 images but 3 labels"),
    (np.zeros((2, 28, 28), np.uint8), np.array([0, 10]), "labels must lie in 0..9 for MNIST, found 0 to 10"),
    (np.zeros((2, 28, 28), np.uint8), np.array([0.0, 1.0]), "labels must be N integers, not float64 values"),
    (np.full((2, 28, 28), 2.0), np.zeros(2, int), "floating-point images must lie in [0, 1], found values "
                                                    "from 2.0 to 2.0"),
    (np.full((2, 28, 28), 300, np.int32), np.zeros(2, int), "integer images must hold values 0 to 255"),
])
def test_npz_content_is_checked(tmp_path, images, labels, message):
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", "test", path="d.npz", base_dir=str(tmp_path))
    assert str(exc.value).startswith(f"{tmp_path / 'd.npz'}: ")
    assert message in str(exc.value)


# -- search order -----------------------------------------------------------------------------

def test_archsim_data_beats_the_standard_places(tmp_path, monkeypatch, no_system_data):
    fake_idx(no_system_data / "mnist", "test", n=2, seed=1)
    fake_idx(tmp_path / "xdg-cache" / "archsim" / "datasets" / "mnist", "test", n=3, seed=2)
    assert "(found via standard place)" in load_dataset("mnist", "test").origin  # system before user cache
    fake_idx(tmp_path / "env" / "mnist", "test", n=4, seed=3)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "env"))
    d = load_dataset("mnist", "test")
    assert len(d) == 4 and d.origin.startswith(str(tmp_path / "env" / "mnist"))


@needs_system_fmnist
def test_archsim_data_beats_the_installed_fashion_mnist(tmp_path, monkeypatch):
    fake_idx(tmp_path / "env" / "fashion-mnist", "test", n=7)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "env"))
    d = load_dataset("fashion-mnist", "test")
    assert len(d) == 7 and "(found via $ARCHSIM_DATA)" in d.origin


def test_user_cache_is_searched(tmp_path, no_system_data):
    fake_idx(tmp_path / "xdg-cache" / "archsim" / "datasets" / "mnist", "train", n=3)
    assert "(found via user cache)" in load_dataset("mnist", "train").origin


def test_archsim_data_lists_several_directories(tmp_path, monkeypatch):
    fake_idx(tmp_path / "b" / "mnist", "test", n=3)
    monkeypatch.setenv("ARCHSIM_DATA", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert load_dataset("mnist", "test").origin.startswith(str(tmp_path / "b" / "mnist"))


def test_workload_path_beats_everything(tmp_path, monkeypatch):
    workload_dir = tmp_path / "workloads"
    fake_idx(workload_dir / "data" / "fm", "test", n=5)
    fake_idx(tmp_path / "env" / "fashion-mnist", "test", n=7)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "env"))
    d = load_dataset("fashion-mnist", "test", path="data/fm", base_dir=str(workload_dir))
    assert len(d) == 5 and d.origin.endswith("(found via dataset.path in the workload)")
    absolute = load_dataset("fashion-mnist", "test", path=str(workload_dir / "data" / "fm"), base_dir="/elsewhere")
    assert len(absolute) == 5
    assert search_places("fashion-mnist", "data/fm", str(workload_dir)) == [
        ("dataset.path in the workload", workload_dir / "data" / "fm")]


def test_workload_path_that_holds_nothing_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    fake_idx(tmp_path / "env" / "fashion-mnist", "test", n=7)
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as exc:
        load_dataset("fashion-mnist", "test", path="missing", base_dir=str(tmp_path))
    message = str(exc.value)
    assert message.startswith("the test split of Fashion-MNIST is not where the workload's dataset.path points:\n"
                              f"  - {tmp_path / 'missing'} (dataset.path in the workload): does not exist\n"
                              "Put the data there, or remove dataset.path to search $ARCHSIM_DATA, ")
    assert "apt-get install dataset-fashion-mnist" in message


def test_standard_places_listed_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "env"))
    assert search_places("cifar10") == [("$ARCHSIM_DATA", tmp_path / "env" / "cifar10"),
                                        ("standard place", Path("/usr/share/datasets/cifar10")),
                                        ("user cache", tmp_path / "xdg-cache" / "archsim" / "datasets" / "cifar10")]


# -- missing data -----------------------------------------------------------------------------

def test_missing_cifar10_message(tmp_path, no_system_data):
    (tmp_path / "xdg-cache" / "archsim" / "datasets" / "cifar10").mkdir(parents=True)
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", "test")
    cache = tmp_path / "xdg-cache" / "archsim" / "datasets" / "cifar10"
    assert str(exc.value) == (
        "the test split of CIFAR-10 was not found. archsim looked in:\n"
        "  - $ARCHSIM_DATA: not set\n"
        f"  - {no_system_data / 'cifar10'} (standard place): does not exist\n"
        f"  - {cache} (user cache): holds none of cifar-10-batches-py/test_batch, or cifar-10-python.tar.gz, "
        "or cifar10.npz / test.npz\n"
        "To get it:\n"
        "  - download the python version, cifar-10-python.tar.gz, from https://www.cs.toronto.edu/~kriz/cifar.html "
        f"and put it, or the cifar-10-batches-py/ folder extracted from it, in {cache}/\n"
        "  - or put the files (or a cifar10.npz with x_train/y_train/x_test/y_test) in a folder cifar10/ under a "
        "directory named by $ARCHSIM_DATA, or set dataset.path in the workload\n"
        "archsim never downloads data.")


def test_missing_fashion_mnist_train_message(tmp_path, monkeypatch, no_system_data):
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as exc:
        load_dataset("fashion-mnist", "train")
    message = str(exc.value)
    assert message.startswith("the train split of Fashion-MNIST was not found. archsim looked in:\n"
                              f"  - {tmp_path / 'env' / 'fashion-mnist'} ($ARCHSIM_DATA): does not exist\n")
    assert ("(archsim ships only the first 1000 Fashion-MNIST test images, for a quick look; "
            "the train split needs the full dataset.)") in message
    assert ("install the Debian/Ubuntu package: apt-get install dataset-fashion-mnist "
            f"(it puts the files in {no_system_data / 'fashion-mnist'}/)") in message
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and " in message
    assert "https://github.com/zalandoresearch/fashion-mnist" in message


def test_missing_data_is_not_read_from_files_where_folders_belong(tmp_path, monkeypatch):
    (tmp_path / "mnist").write_text("not a folder")
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"mnist \(\$ARCHSIM_DATA\): is a file, not a folder"):
        load_dataset("mnist", "test")


# -- the shipped subset -----------------------------------------------------------------------

def test_shipped_subset_is_the_fallback_for_test_only(no_system_data):
    d = load_dataset("fashion-mnist", "test")
    assert d.subset and len(d) == 1000 and d.images.shape == (1000, 1, 28, 28)
    assert "subset shipped with archsim: the first 1000 images of the Fashion-MNIST test split; " \
           "the full dataset was not found" in d.origin
    assert "t10k-images-idx3-ubyte-1k.gz" in d.origin
    assert np.bincount(d.labels).tolist() == [107, 105, 111, 93, 115, 87, 97, 95, 95, 95]
    small = load_dataset("fashion-mnist", "test", limit=10)
    assert small.subset and len(small) == 10 and "the first 10 images" in small.origin
    np.testing.assert_array_equal(small.labels, d.labels[:10])


@needs_system_fmnist
def test_shipped_subset_equals_the_first_1000_of_the_real_test_split(no_system_data):
    subset = load_dataset("fashion-mnist", "test")
    labels = read_idx(SYSTEM_FMNIST / "t10k-labels-idx1-ubyte.gz", limit=1000)
    images = read_idx(SYSTEM_FMNIST / "t10k-images-idx3-ubyte.gz", limit=1000)
    np.testing.assert_array_equal(subset.labels, labels)
    np.testing.assert_array_equal(subset.images[:, 0], images.astype(np.float32) / 255)


@needs_system_fmnist
def test_installed_fashion_mnist_is_found_and_preferred_to_the_subset():
    d = load_dataset("fashion-mnist", "test")
    assert not d.subset and len(d) == 10000 and d.classes == 10
    assert d.origin == (f"{SYSTEM_FMNIST / 't10k-images-idx3-ubyte.gz'} + {SYSTEM_FMNIST / 't10k-labels-idx1-ubyte.gz'}"
                        " (found via standard place)")
    train = load_dataset("fashion-mnist", "train", limit=100)
    assert len(train) == 100 and train.labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def test_workload_path_may_name_a_file(tmp_path):
    np.savez(tmp_path / "fm.npz", images=np.zeros((2, 28, 28), np.uint8), labels=np.array([1, 2]))
    d = load_dataset("fashion-mnist", "test", path="fm.npz", base_dir=str(tmp_path))
    assert len(d) == 2 and d.origin == f"{tmp_path / 'fm.npz'} (found via dataset.path in the workload)"
    (tmp_path / "fm.txt").write_text("1 2 3")
    with pytest.raises(DataError) as exc:
        load_dataset("fashion-mnist", "test", path="fm.txt", base_dir=str(tmp_path))
    assert str(exc.value) == (f"{tmp_path / 'fm.txt'} (dataset.path in the workload): is a file archsim cannot "
                              "read as Fashion-MNIST; give a folder holding t10k-images-idx3-ubyte[.gz] and "
                              "t10k-labels-idx1-ubyte[.gz], or fashion-mnist.npz / test.npz, or an .npz file")


def test_missing_shipped_subset_is_explained(monkeypatch, no_system_data):
    from archsim.data import datasets
    monkeypatch.setattr(datasets, "_shipped_subset", lambda info: None)  # as in an install without package data
    with pytest.raises(DataError, match=r"\(the Fashion-MNIST test subset that archsim ships, "
                                        r"t10k-images-idx3-ubyte-1k.gz and t10k-labels-idx1-ubyte-1k.gz, "
                                        r"is missing from this installation of archsim.\)"):
        load_dataset("fashion-mnist", "test")
