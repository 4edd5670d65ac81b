"""save_weights / load_weights: round trip, metadata, and one error listing every problem."""

from __future__ import annotations

import json

import numpy as np
import pytest

import archsim
from archsim.data import load_weights, save_weights
from archsim.errors import DataError


def params(replicas: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    w = (replicas, 8, 1, 5, 5) if replicas else (8, 1, 5, 5)
    return {"conv1.weight": rng.standard_normal(w).astype(np.float32),
            "conv1.bias": np.zeros(8, np.float32),
            "bn0.gamma": np.ones(8, np.float32), "bn0.beta": np.zeros(8, np.float32),
            "bn0.mean": np.zeros(8, np.float32), "bn0.var": np.ones(8, np.float32),
            "fc.weight": rng.standard_normal((10, 32)).astype(np.float64)}


EXPECTED = {"conv1.weight": {(8, 1, 5, 5), (4, 8, 1, 5, 5)}, "conv1.bias": (8,), "bn0.gamma": (8,),
            "bn0.beta": (8,), "bn0.mean": (8,), "bn0.var": (8,), "fc.weight": (10, 32)}


def test_round_trip(tmp_path):
    p = params()
    meta = {"workload": "lenet", "epochs": np.int64(3), "accuracy": np.float32(0.75), "seed": 7}
    save_weights(tmp_path / "w.npz", p, meta)
    loaded, m = load_weights(tmp_path / "w.npz", EXPECTED)
    assert loaded.keys() == p.keys()
    for k in p:
        assert loaded[k].dtype == p[k].dtype
        np.testing.assert_array_equal(loaded[k], p[k])
    assert m == {"workload": "lenet", "epochs": 3, "accuracy": 0.75, "seed": 7,
                 "archsim_version": archsim.__version__}
    assert [f.name for f in tmp_path.iterdir()] == ["w.npz"]  # no temporary file left behind


def test_replica_axis_is_allowed_when_expected_says_so(tmp_path):
    save_weights(tmp_path / "r.npz", params(replicas=4), {"archsim_version": "9.9"})
    loaded, meta = load_weights(tmp_path / "r.npz", EXPECTED)
    assert loaded["conv1.weight"].shape == (4, 8, 1, 5, 5) and meta["archsim_version"] == "9.9"
    with pytest.raises(DataError, match=r"'conv1.weight' has shape \(4, 8, 1, 5, 5\), expected \(8, 1, 5, 5\)$"):
        load_weights(tmp_path / "r.npz", {**EXPECTED, "conv1.weight": (8, 1, 5, 5)})


def test_all_problems_in_one_error(tmp_path):
    p = params(replicas=3)
    del p["bn0.var"]
    p["fc2.bias"] = np.zeros(3, np.float32)
    p["fc.weight"] = p["fc.weight"].T.copy()
    save_weights(tmp_path / "bad.npz", p, {})
    with pytest.raises(DataError) as exc:
        load_weights(tmp_path / "bad.npz", EXPECTED)
    assert str(exc.value) == (
        f"weights file {tmp_path / 'bad.npz'} does not fit the network (4 problems):\n"
        "  - 'conv1.weight' has shape (3, 8, 1, 5, 5), expected (8, 1, 5, 5) or (4, 8, 1, 5, 5)\n"
        "  - missing 'bn0.var' (shape (8,))\n"
        "  - 'fc.weight' has shape (32, 10), expected (10, 32)\n"
        "  - unexpected 'fc2.bias' (not a parameter of this network)")


def test_content_problems_without_expected(tmp_path):
    np.savez(tmp_path / "c.npz", weight=np.zeros(2, np.float32), **{"a.b": np.array([1.0, np.nan]),
             "a.c": np.arange(3), "__meta__": np.asarray("[1, 2]")})
    with pytest.raises(DataError) as exc:
        load_weights(tmp_path / "c.npz")
    assert str(exc.value) == (
        f"weights file {tmp_path / 'c.npz'} does not fit (4 problems):\n"
        "  - '__meta__' must be a JSON object stored as a string\n"
        "  - key 'weight' is not '<layer>.<param>' (e.g. 'conv1.weight')\n"
        "  - 'a.b' holds NaN or infinite values\n"
        "  - 'a.c' has dtype int64; weights must be floating-point")


def test_file_without_metadata(tmp_path):
    np.savez(tmp_path / "plain.npz", **{"fc.weight": np.ones((2, 3))})
    loaded, meta = load_weights(tmp_path / "plain.npz")
    assert meta == {} and loaded["fc.weight"].shape == (2, 3)


def test_metadata_is_plain_json(tmp_path):
    save_weights(tmp_path / "m.npz", {"fc.weight": np.ones(2)}, {"workload": "x"})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert json.loads(str(npz["__meta__"])) == {"archsim_version": archsim.__version__, "workload": "x"}


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError) as exc:
        load_weights(tmp_path / "none.npz")
    assert str(exc.value) == (f"weights file {tmp_path / 'none.npz'}: does not exist; check the workload's "
                              "`weights` entry (relative to the workload file) or train the network to create it")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"junk.npz: is not an .npz file \(an .npz file is a zip archive\)$"):
        load_weights(tmp_path / "junk.npz")
    (tmp_path / "zip.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DataError, match="zip.npz: is not a readable .npz file"):
        load_weights(tmp_path / "zip.npz")
    np.savez(tmp_path / "obj.npz", **{"fc.weight": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(DataError, match=r"obj.npz: cannot be read without pickle"):
        load_weights(tmp_path / "obj.npz")
    with pytest.raises(DataError, match="weights file .*: is not a file"):
        load_weights(tmp_path)


def test_save_problems(tmp_path):
    with pytest.raises(DataError, match=f"cannot write weights to {tmp_path / 'no' / 'w.npz'}: "):
        save_weights(tmp_path / "no" / "w.npz", {"fc.weight": np.ones(2)}, {})
    with pytest.raises(ValueError, match="key 'weight' is not '<layer>.<param>'"):
        save_weights(tmp_path / "w.npz", {"weight": np.ones(2)}, {})
    with pytest.raises(ValueError, match="'fc.weight' has dtype int64; weights must be floating-point"):
        save_weights(tmp_path / "w.npz", {"fc.weight": np.arange(2)}, {})
    assert list(tmp_path.iterdir()) == []
