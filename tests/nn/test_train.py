"""Training: it learns, resumes exactly, is reproducible; `archsim train` end to end."""

import json

import numpy as np
import pytest

from archsim.cli import main
from archsim.data.formats import write_idx
from archsim.data.weights import load_weights
from archsim.nn import Network, param_shapes
from archsim.nn.train import TrainState, evaluate, train
from archsim.spec import load_run
from synthetic_bars import WORKLOAD, bars, compiled

@pytest.fixture(scope="module")
def data():
    return bars(800, 0), bars(200, 1)


def program(**mapping):
    return compiled(mapping={**WORKLOAD["mapping"], **mapping})


def settings(**kw):
    return load_run(None, [f"train.{k}={v}" for k, v in {"epochs": 3, "batch_size": 32, "lr": 0.05, **kw}.items()]).train


def test_replicas_start_from_one_draw_unless_independent():
    """replica_init: same (default) copies one He-normal draw to every replica;
    independent draws each replica's own."""
    from archsim.nn.train import new_state
    p = program()
    same = new_state(p, 0, settings()).params["conv1.weight"]
    indep = new_state(p, 0, settings(replica_init="independent")).params["conv1.weight"]
    assert same.shape == indep.shape == (4, 6, 1, 3, 3)
    assert all(np.array_equal(same[0], same[r]) for r in range(4))
    assert not any(np.array_equal(indep[0], indep[r]) for r in range(1, 4))
    assert abs(float(indep.std()) / float(same.std()) - 1) < 0.3  # the same He scale either way


def test_replica_gradient_own_or_scaled_by_the_replica_count(data):
    """One SGD step (no momentum, no decay): a replica's own-patch gradient (`own`, as each
    array is updated on the hardware) is 1/n of the `scaled` one; unreplicated layers agree."""
    (tx, ty), (vx, vy) = data
    one_step = dict(epochs=1, batch_size=32, momentum=0.0, weight_decay=0.0)
    p = program()
    from archsim.nn.train import new_state
    start = new_state(p, 0, settings(**one_step)).params
    own = train(p, tx[:32], ty[:32], vx, vy, settings(**one_step, replica_gradient="own"), seed=0).params
    scaled = train(p, tx[:32], ty[:32], vx, vy, settings(**one_step, replica_gradient="scaled"), seed=0).params
    step_own = own["conv1.weight"] - start["conv1.weight"]
    assert step_own.shape[0] == 4 and np.abs(step_own).max() > 1e-4
    # each float32 step carries the rounding of w - lr * g: half an ulp of |w|, four times over in 4 * step
    ulp = np.spacing(np.abs(start["conv1.weight"]).max())
    np.testing.assert_allclose(scaled["conv1.weight"] - start["conv1.weight"], 4 * step_own, rtol=1e-3, atol=5 * ulp)
    np.testing.assert_array_equal(own["fc.weight"], scaled["fc.weight"])


def test_replica_gradient_reaches_the_devices_of_in_situ_training(data):
    """The chip's replica step follows replica_gradient too (one epoch of mixed precision)."""
    (tx, ty), (vx, vy) = data
    runs = [train(program(), tx[:64], ty[:64], vx, vy,
                  settings(epochs=1, algorithm="mixed-precision", replica_gradient=g), seed=0).params
            for g in ("own", "scaled")]
    assert not np.array_equal(runs[0]["conv1.weight"], runs[1]["conv1.weight"])
    unchanged = train(program(), tx[:64], ty[:64], vx, vy, settings(epochs=1, algorithm="mixed-precision"),
                      seed=0).params  # scaled is the default
    np.testing.assert_array_equal(unchanged["conv1.weight"], runs[1]["conv1.weight"])


def test_replicated_rapa_training_learns(data):
    (tx, ty), (vx, vy) = data
    state = train(program(), tx, ty, vx, vy, settings(), seed=0)
    assert state.params["conv1.weight"].shape == (4, 6, 1, 3, 3)  # one weight per replica
    assert state.history[-1]["test_accuracy"] > 0.9
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]


def test_same_seed_same_weights_and_exact_resume(data):
    (tx, ty), (vx, vy) = data
    p = program()
    snapshots = {}

    def checkpoint(state):  # what a checkpoint file holds after each epoch
        snapshots[state.epoch] = TrainState({k: v.copy() for k, v in state.params.items()},
                                            {k: v.copy() for k, v in state.velocity.items()},
                                            state.epoch, list(state.history))

    full = train(p, tx, ty, vx, vy, settings(), seed=5, checkpoint=checkpoint)
    again = train(p, tx, ty, vx, vy, settings(), seed=5)
    assert all(np.array_equal(full.params[k], again.params[k]) for k in full.params)
    # a run killed after epoch 1 and resumed from its checkpoint ends exactly where the full run did
    resumed = train(p, tx, ty, vx, vy, settings(), seed=5, state=snapshots[1])
    assert all(np.array_equal(full.params[k], resumed.params[k]) for k in full.params)
    assert resumed.history == full.history
    other = train(p, tx, ty, vx, vy, settings(epochs=1), seed=6)
    assert not np.array_equal(other.params["fc.weight"], snapshots[1].params["fc.weight"])


def test_clipping_and_noise_injection(data):
    (tx, ty), (vx, vy) = data
    clipped = train(program(), tx, ty, vx, vy, settings(epochs=1, clip_sigma=2.0, weight_noise=0.05), seed=0)
    w = clipped.params["fc.weight"]
    assert np.abs(w).max() <= 2.0 * w.std() * 1.2  # clipped every step; drifts a little after the last
    plain = train(program(), tx, ty, vx, vy, settings(epochs=1), seed=0)
    assert not np.array_equal(plain.params["fc.weight"], w)


def test_training_evaluates_on_workers_with_the_same_numbers(data, monkeypatch):
    """`workers` (run.workers of `archsim train`) share each epoch's test images out: the same
    history as evaluating here."""
    from archsim.pool import worker_pool
    (tx, ty), (vx, vy) = data
    monkeypatch.setattr("archsim.nn.train.images_per_chunk", lambda program: 64)  # 200 test images: 4 chunks
    s = settings(epochs=2)
    here = train(program(), tx, ty, vx, vy, s, seed=0)
    with worker_pool(2) as pool:
        submit = pool.executor.submit
        calls = []
        monkeypatch.setattr(pool.executor, "submit", lambda *a, **k: calls.append(a[0]) or submit(*a, **k))
        shared = train(program(), tx, ty, vx, vy, s, seed=0, workers=pool)
    assert len(calls) == 2 * 2  # two shares per epoch
    assert shared.history == here.history


def test_evaluate_uses_the_mapping(data):
    (tx, ty), _ = data
    p = program(strategy="perforated")
    net = Network(p)
    params = {k: np.zeros(s, np.float32) for k, s in param_shapes(p).items()}
    assert evaluate(net, params, tx[:50], ty[:50]) == np.mean(ty[:50] == 0)  # all-zero logits pick class 0


def test_archsim_train_cli_end_to_end(tmp_path, monkeypatch, capsys):
    root = tmp_path / "data" / "bars"
    root.mkdir(parents=True)
    for split, n, seed in (("train", 600, 0), ("t10k", 200, 1)):
        x, y = bars(n, seed, size=28)
        write_idx(root / f"{split}-images-idx3-ubyte.gz", (x[:, 0] * 255).astype(np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    wl = dict(WORKLOAD, dataset={"name": "fashion-mnist", "path": str(root)})
    wl["input"] = {"shape": [1, 28, 28]}
    (tmp_path / "w.yaml").write_text(json.dumps(wl))
    out = tmp_path / "run"
    # the network has 4 outputs but fashion-mnist has 10 classes: the check must catch it
    assert main(["train", str(tmp_path / "w.yaml"), "-H", "tiny", "--out", str(out), "--epochs", "1"]) == 2
    assert "classes" in capsys.readouterr().err
    wl["layers"][-1]["out_features"] = 10
    (tmp_path / "w.yaml").write_text(json.dumps(wl))
    assert main(["train", str(tmp_path / "w.yaml"), "-H", "tiny", "--out", str(out), "--epochs", "2",
                 "--lr", "0.05"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["test_accuracy"] > 0.8
    params, meta = load_weights(out / "weights.npz")
    assert params["conv1.weight"].shape == (4, 6, 1, 3, 3) and meta["workload"] == "bars"
    assert main(["train", str(tmp_path / "w.yaml"), "-H", "tiny", "--out", str(out), "--epochs", "3",
                 "--lr", "0.05", "--resume"]) == 0
    assert len(json.loads((out / "history.json").read_text())["history"]) == 3
    page = (out / "index.html").read_text()  # the training report, rebuilt by `archsim report` too
    assert "Training per epoch" in page and "training acceleration" in page
    assert (out / "plots" / "training.svg").is_file() and json.loads((out / "timing.json").read_text())["bl"] == 31
    (out / "index.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "index.html").read_text() == page
