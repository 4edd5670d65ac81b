"""benchmarks/experiment_rapa_fashion.py: staged training (warm restarts) and resuming."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from archsim.data.formats import write_idx

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "experiment_rapa_fashion.py"


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("experiment_rapa_fashion", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_epoch_stages_must_increase(experiment, capsys):
    assert experiment._stages("20,40,80") == [20, 40, 80]
    for bad in ("20,10", "0", "5,5"):
        with pytest.raises(SystemExit):
            experiment.main(["--epochs", bad])
        assert "increasing positive integers" in capsys.readouterr().err


def test_stages_resume_with_a_restarted_schedule(experiment, tmp_path, monkeypatch):
    root = tmp_path / "data" / "fashion-mnist"  # stand-in images: this checks the mechanics
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 640), ("t10k", 20)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path / "data"))
    args = ["--train-limit", "640", "--epochs", "1,2", "--seeds", "0", "--eval-images", "20",
            "--repeats", "1", "--only", "random-s0", "--out", str(tmp_path / "exp")]
    assert experiment.main(args) == 0
    train = tmp_path / "exp" / "random-s0" / "train"
    history = json.loads((train / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    # 10 steps an epoch: stage 1 ran its own one-epoch cosine down to 2.5e-4 (one two-epoch
    # schedule would still be at 5.8e-3 there); stage 2 resumed it and restarted the cosine
    assert history[0]["lr_end"] == pytest.approx(0.005 * (1 + np.cos(np.pi * 9 / 10)))
    row = json.loads((tmp_path / "exp" / "random-s0.json").read_text())
    assert row["digital"] == json.loads((train / "summary.json").read_text())["test_accuracy"]
    # evaluated again after an interruption, a trained configuration is not trained again
    checkpoint = (train / "checkpoint.npz").stat().st_mtime_ns
    (tmp_path / "exp" / "random-s0.json").unlink()
    assert experiment.main(args) == 0
    assert (train / "checkpoint.npz").stat().st_mtime_ns == checkpoint
    assert json.loads((tmp_path / "exp" / "random-s0.json").read_text())["digital"] == row["digital"]
    assert (tmp_path / "exp" / "results.csv").read_text().count("random-s0") == 1
