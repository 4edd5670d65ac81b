"""RAPA analyses: input gradients against finite differences, FGSM, majority voting,
mean kernel, filter similarity."""

import numpy as np
import pytest

from archsim.nn import Network, init_params
from archsim.nn.analysis import (baseline_filter_similarity, fgsm_accuracy, filter_similarities,
                                 filter_similarity, input_gradient, majority_vote, majority_vote_accuracy,
                                 mean_kernel)
from archsim.nn.train import evaluate, train
from archsim.spec import load_run
from synthetic_bars import bars, compiled

@pytest.fixture(scope="module")
def trained():
    (tx, ty), (vx, vy) = bars(400, 0), bars(200, 1)
    p = compiled()
    s = load_run(None, ["train.epochs=2", "train.batch_size=32", "train.lr=0.05"]).train
    state = train(p, tx, ty, vx, vy, s, seed=0)
    return p, state.params, vx, vy


def finite_difference_check(program, replicated, seed=0, entries=12):
    rng = np.random.default_rng(seed)
    net = Network(program)
    params = init_params(program, rng, replicated=replicated, dtype=np.float64)
    for k in params:
        if k.endswith((".bias", ".beta", ".gamma")):
            params[k] = params[k] + 0.3 * rng.standard_normal(params[k].shape)
    x = rng.random((3, *program.workload.input.shape))
    y = np.array([0, 1, 3])
    ids = np.array([7, 8, 9])
    grad = input_gradient(net, params, x, y, ids)
    assert grad.shape == x.shape and np.abs(grad).max() > 0

    def loss(xx):
        from archsim.nn.functional import softmax_cross_entropy
        return softmax_cross_entropy(net.forward(params, xx, ids)[0], y)[0]

    for flat in rng.choice(x.size, size=entries, replace=False):
        idx = np.unravel_index(flat, x.shape)
        eps = 1e-6
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = (loss(plus) - loss(minus)) / (2 * eps)
        assert grad[idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), idx


@pytest.mark.parametrize("strategy", ["random", "image", "perforated", "none"])
def test_input_gradient_matches_finite_differences(strategy):
    replicas = {"conv1": 4} if strategy != "none" else {}
    finite_difference_check(compiled(mapping={"replicas": replicas, "strategy": strategy}),
                            replicated=strategy != "none")


def test_input_gradient_shared_weights_and_input_used_twice():
    layers = [{"name": "conv1", "op": "conv2d", "out_channels": 1, "kernel": 3, "padding": 1},
              {"name": "bn", "op": "batchnorm"},
              {"name": "res", "op": "add", "inputs": ["bn", "input"]},
              {"name": "relu1", "op": "relu"},
              {"name": "flatten", "op": "flatten"},
              {"name": "fc", "op": "linear", "out_features": 4}]
    finite_difference_check(compiled(layers=layers), replicated=False)


def test_input_gradient_follows_the_random_assignment():
    p = compiled()
    rng = np.random.default_rng(1)
    net = Network(p)
    params = init_params(p, rng, replicated=True, dtype=np.float64)
    x, y = rng.random((2, 1, 12, 12)), np.array([0, 1])
    a = input_gradient(net, params, x, y, np.array([0, 1]))
    b = input_gradient(net, params, x, y, np.array([100, 101]))
    assert not np.allclose(a, b)  # different ids, different replica per patch


def test_backward_default_unchanged():
    p = compiled()
    net = Network(p)
    params = init_params(p, np.random.default_rng(0), replicated=True)
    x = np.random.default_rng(1).random((4, 1, 12, 12)).astype(np.float32)
    logits, tape = net.forward(params, x, keep=True)
    d = np.ones_like(logits)
    plain = net.backward(params, tape, d)
    both = net.backward(params, tape, d, input_grad=True)
    assert "input" not in plain and both["input"].shape == x.shape
    assert all(np.array_equal(plain[k], both[k]) for k in plain)


def test_fgsm_curve(trained):
    p, params, vx, vy = trained
    net = Network(p)
    eps = [0.0, 0.05, 0.1, 0.2, 0.4]
    acc = fgsm_accuracy(net, params, vx, vy, eps, batch=64)
    assert acc[0] == evaluate(net, params, vx, vy)
    assert acc[0] > 0.8
    assert np.all(np.diff(acc) <= 0.02)  # non-increasing, up to noise
    assert acc[-1] < acc[0] - 0.1


def test_majority_vote(trained):
    p, params, vx, vy = trained
    net = Network(p)
    acc, per_draw = majority_vote_accuracy(net, params, vx, vy, draws=1, id_offset=5)
    assert acc == per_draw[0] == evaluate(net, params, vx, vy, id_offset=5)
    r = majority_vote(net, params, vx, vy, draws=5, batch=64)
    assert r.per_draw.shape == (5,) and r.per_draw[0] == evaluate(net, params, vx, vy)
    assert r.accuracy >= r.per_draw.min()
    assert len(set(r.per_draw)) > 1 or r.per_draw[0] == 1.0  # the draws differ


def test_majority_vote_ties_go_to_largest_summed_softmax():
    class Fixed:  # two draws: image 0 votes (0, 1) with class 1 more confident
        program = compiled()

        def forward(self, params, x, ids):  # draw k has id k (one image)
            logits = np.array([[2.0, 0.0, 0, 0]]) if ids[0] == 0 else np.array([[0.0, 5.0, 0, 0]])
            return logits, None

    r = majority_vote(Fixed(), {}, np.zeros((1, 1, 12, 12)), np.array([1]), draws=2)
    assert list(r.per_draw) == [0.0, 1.0] and r.predictions[0] == 1 and r.accuracy == 1.0


def test_mean_kernel(trained):
    p, params, vx, vy = trained
    shared = {k: v[0] if k.startswith("conv1.") else v for k, v in params.items()}
    identical = {k: np.stack([v] * 4) if k.startswith("conv1.") else v for k, v in shared.items()}
    reduced = mean_kernel(identical, p)
    assert all(np.array_equal(reduced[k], shared[k]) for k in shared)
    assert reduced["conv1.weight"].shape == (6, 1, 3, 3)
    net = Network(p)
    a, _ = net.forward(identical, vx[:50])
    b, _ = net.forward(reduced, vx[:50])
    assert np.array_equal(a.argmax(1), b.argmax(1)) and np.allclose(a, b, atol=1e-5)
    m = mean_kernel(params, p)
    assert np.allclose(m["conv1.weight"], params["conv1.weight"].mean(0), atol=1e-7)
    assert m["fc.weight"] is params["fc.weight"]
    assert evaluate(net, m, vx, vy) > 0.5  # the trained replicas are similar enough to average


def test_filter_similarity(trained):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 1, 3, 3))
    assert filter_similarity(np.stack([w] * 4)) == pytest.approx(1.0)
    assert filter_similarity(np.stack([w, -w])) == pytest.approx(-1.0)
    # brute force over pairs and channels
    ws = rng.standard_normal((3, 5, 2, 3, 3))
    f = ws.reshape(3, 5, -1)
    brute = np.mean([f[i, c] @ f[j, c] / np.linalg.norm(f[i, c]) / np.linalg.norm(f[j, c])
                     for i in range(3) for j in range(i + 1, 3) for c in range(5)])
    assert filter_similarity(ws) == pytest.approx(brute)
    independent = filter_similarity(rng.standard_normal((16, 64, 8, 3, 3)))
    assert abs(independent) < 0.02
    p, params, _, _ = trained
    base = baseline_filter_similarity(p, "conv1", np.random.default_rng(1), draws=20)
    assert abs(base) < 0.1
    trained_similarity = filter_similarities(params, p)
    assert set(trained_similarity) == {"conv1"} and -1 <= trained_similarity["conv1"] <= 1
