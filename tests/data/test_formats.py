"""IDX, CIFAR python-batch and .npz readers on files the tests write themselves."""

from __future__ import annotations

import gzip
import pickle
import tarfile

import numpy as np
import pytest

from archsim.data.formats import read_cifar_batch, read_cifar_tar, read_idx, read_npz, write_idx
from archsim.errors import DataError

from .conftest import cifar_pickle, fake_cifar_batch


# -- IDX --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((7, 5, 3)) * 50).astype(dtype)
    write_idx(tmp_path / name, a)
    b = read_idx(tmp_path / name)
    assert b.dtype == np.dtype(dtype).newbyteorder("=") and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_the_upstream_layout(tmp_path):
    write_idx(tmp_path / "l", np.array([3, 1, 4], dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_idx_gzip_is_recognised_by_content_not_name(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", a)
    (tmp_path / "x.gz").rename(tmp_path / "plain-name")
    write_idx(tmp_path / "raw", a)
    (tmp_path / "raw").rename(tmp_path / "raw.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-name"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw.gz"), a)


def test_idx_gzip_output_is_reproducible(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "1.gz", a)
    write_idx(tmp_path / "2.gz", a)
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def test_idx_limit_reads_the_first_entries(tmp_path):
    a = np.arange(5 * 4, dtype=np.uint8).reshape(5, 4)
    write_idx(tmp_path / "a.gz", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz", limit=2), a[:2])
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz", limit=99), a)


def test_idx_wrong_magic(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x03" + bytes(20))
    with pytest.raises(DataError) as exc:
        read_idx(tmp_path / "bad")
    assert str(exc.value) == (f"{tmp_path / 'bad'}: is not an IDX file: it must start with the magic number "
                              "00 00 <type> <dimensions>, but starts with 12 34 08 03")


def test_idx_unknown_type_code(tmp_path):
    (tmp_path / "bad").write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(DataError, match=r"bad: IDX type code 0x0a is not one of 0x08 \(uint8\)"):
        read_idx(tmp_path / "bad")


def test_idx_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataError, match="is not an IDX file.*starts with an empty file"):
        read_idx(tmp_path / "empty")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_data(tmp_path, gz):
    a = np.zeros((10, 28, 28), dtype=np.uint8)
    path = tmp_path / ("t.gz" if gz else "t")
    write_idx(tmp_path / "t", a)
    payload = (tmp_path / "t").read_bytes()[:-100]
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(DataError) as exc:
        read_idx(path)
    assert str(exc.value) == (f"{path}: is truncated: its header declares shape [10, 28, 28] "
                              f"(7840 bytes of data) but only 7740 bytes follow")


def test_idx_truncated_gzip_stream(tmp_path):
    write_idx(tmp_path / "t.gz", np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8))
    data = (tmp_path / "t.gz").read_bytes()
    (tmp_path / "t.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.gz: is truncated: the gzip stream ends before the data is complete"):
        read_idx(tmp_path / "t.gz")


def test_idx_truncated_header(tmp_path):
    (tmp_path / "h").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 10, 0, 0]))
    with pytest.raises(DataError, match="h: is truncated: the IDX header declares 3 dimensions"):
        read_idx(tmp_path / "h")


def test_idx_trailing_bytes(tmp_path):
    write_idx(tmp_path / "t", np.zeros(4, np.uint8))
    with open(tmp_path / "t", "ab") as f:
        f.write(b"junk")
    with pytest.raises(DataError, match=r"has bytes after the data its header declares \(shape \[4\]\)"):
        read_idx(tmp_path / "t")


def test_idx_missing_file_and_bad_gzip(tmp_path):
    with pytest.raises(DataError, match="nope: no such file"):
        read_idx(tmp_path / "nope")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 3)
    with pytest.raises(DataError, match="bad.gz: cannot be read"):
        read_idx(tmp_path / "bad.gz")


def test_write_idx_rejects_what_idx_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="IDX cannot store dtype bool"):
        write_idx(tmp_path / "b", np.zeros(3, bool))


# -- CIFAR ------------------------------------------------------------------------------------

def test_cifar10_batch_in_the_official_layout(tmp_path):
    data, labels = fake_cifar_batch(tmp_path / "test_batch", n=6, seed=3)
    images, y = read_cifar_batch(tmp_path / "test_batch")
    assert images.shape == (6, 3, 32, 32) and images.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    # row layout: 1024 red values, then green, then blue, each row-major over 32 x 32
    assert images[2, 0, 0, 1] == data[2, 1]
    assert images[2, 1, 0, 0] == data[2, 1024]
    assert images[2, 2, 31, 31] == data[2, 3071]
    assert images[2, 0, 1, 0] == data[2, 32]


def test_cifar_batch_written_by_python3_protocols(tmp_path):
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072) % 251
    for protocol in (2, 4, 5):
        raw = pickle.dumps({b"data": data, b"labels": np.array([1, 2])}, protocol=protocol)
        (tmp_path / "b").write_bytes(raw)
        images, labels = read_cifar_batch(tmp_path / "b")
        np.testing.assert_array_equal(images.reshape(2, -1), data)
        assert labels.tolist() == [1, 2]


def test_cifar100_fine_labels(tmp_path):
    data, labels = fake_cifar_batch(tmp_path / "test", n=5, seed=4, label_key=b"fine_labels", classes=100)
    images, y = read_cifar_batch(tmp_path / "test", label_key=b"fine_labels")
    np.testing.assert_array_equal(y, labels)
    with pytest.raises(DataError) as exc:
        read_cifar_batch(tmp_path / "test", label_key=b"labels")
    assert str(exc.value) == (f"{tmp_path / 'test'}: is not a CIFAR python batch: it has no b'labels' entry "
                              "(it has: b'batch_label', b'fine_labels', b'data', b'filenames')")


def test_cifar_batch_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (eval, (f"open({str(marker)!r}, 'w')",))

    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match=r"references (__builtin__|builtins)\.eval, which a CIFAR batch never holds"):
        read_cifar_batch(tmp_path / "evil")
    assert not marker.exists()


def test_cifar_batch_malformed(tmp_path):
    raw = cifar_pickle(np.zeros((4, 3072), np.uint8), [0, 1, 2, 3])
    (tmp_path / "trunc").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="trunc: is truncated"):
        read_cifar_batch(tmp_path / "trunc")
    (tmp_path / "shape").write_bytes(cifar_pickle(np.zeros((4, 1024), np.uint8), [0, 1, 2, 3]))
    with pytest.raises(DataError, match=r"b'data' must be a uint8 array of shape \[N, 3072\], not a uint8 array "
                                        r"of shape \[4, 1024\]"):
        read_cifar_batch(tmp_path / "shape")
    (tmp_path / "count").write_bytes(cifar_pickle(np.zeros((4, 3072), np.uint8), [0, 1]))
    with pytest.raises(DataError, match="count: holds 4 images but 2 labels"):
        read_cifar_batch(tmp_path / "count")
    (tmp_path / "list").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataError, match="list: is not a CIFAR python batch: it holds a list, not a dict"):
        read_cifar_batch(tmp_path / "list")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(DataError, match="text: is not a CIFAR python batch"):
        read_cifar_batch(tmp_path / "text")


def test_cifar_tar(tmp_path):
    batches = {}
    for i, name in enumerate(["data_batch_1", "data_batch_2", "test_batch"]):
        batches[name] = fake_cifar_batch(tmp_path / "src" / name, n=3 + i, seed=i)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in batches:
            tar.add(tmp_path / "src" / name, arcname=f"cifar-10-batches-py/{name}")
    images, labels = read_cifar_tar(archive, ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/data_batch_2"])
    assert images.shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(images.reshape(7, -1), np.concatenate([batches["data_batch_1"][0],
                                                                         batches["data_batch_2"][0]]))
    assert read_cifar_tar(archive, ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/data_batch_2"],
                          limit=2)[0].shape[0] == 3  # stops after the batch that reaches the limit
    with pytest.raises(DataError, match="the archive has no cifar-10-batches-py/data_batch_5"):
        read_cifar_tar(archive, ["cifar-10-batches-py/data_batch_5"])
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.tar.gz: cannot be read as a .tar.gz archive"):
        read_cifar_tar(tmp_path / "junk.tar.gz", ["x"])


# -- npz --------------------------------------------------------------------------------------

def test_npz_layouts(tmp_path):
    x, y = np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3])
    np.savez(tmp_path / "keras.npz", x_train=x, y_train=y, x_test=x[:1], y_test=y[:1])
    np.savez(tmp_path / "one.npz", images=x, labels=y)
    images, labels, keys = read_npz(tmp_path / "keras.npz", "test")
    assert images.shape == (1, 28, 28) and keys == "x_test/y_test"
    images, labels, keys = read_npz(tmp_path / "one.npz", "train")
    assert images.shape == (3, 28, 28) and keys == "images/labels"


def test_npz_problems(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(2), x_test=np.zeros(2))
    with pytest.raises(DataError) as exc:
        read_npz(tmp_path / "other.npz", "train")
    assert str(exc.value) == (f"{tmp_path / 'other.npz'}: holds no train split: it must contain the arrays "
                              "x_train/y_train/x_test/y_test, or images/labels (it has: a, x_test)")
    np.savez(tmp_path / "obj.npz", images=np.array([{"a": 1}], dtype=object), labels=np.zeros(1))
    with pytest.raises(DataError, match="obj.npz: is not a readable .npz file \\(archsim loads it without pickle\\)"):
        read_npz(tmp_path / "obj.npz", "test")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="junk.npz: is not a readable .npz file"):
        read_npz(tmp_path / "junk.npz", "test")
    (tmp_path / "text.npz").write_text("x_test")
    with pytest.raises(DataError, match=r"text.npz: is not an .npz file \(an .npz file is a zip archive\)$"):
        read_npz(tmp_path / "text.npz", "test")
