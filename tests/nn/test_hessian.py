"""HA-SGD: the noise model it uses and the finite-difference curvature penalty's gradient."""

import dataclasses

import numpy as np
import pytest

from archsim.compiler import compile_program
from archsim.nn import Network, init_params
from archsim.nn import functional as F
from archsim.nn.train import TrainState, _gradients, _hessian_penalty, train, weight_noise_sigmas
from archsim.spec import from_data, load_hardware, load_run
from archsim.spec.run import Algorithm
from synthetic_bars import WORKLOAD, bars, compiled

PCM = load_hardware("standard_aimc", ["tiles.count=64"])


def pcm_program(**mapping):
    raw = dict(WORKLOAD, mapping={**WORKLOAD["mapping"], **mapping})
    return compile_program(from_data("workload", raw), PCM, seed=3)


def test_noise_sigmas_follow_the_devices():
    program = pcm_program()
    params = init_params(program, np.random.default_rng(0), replicated=True)
    sig = weight_noise_sigmas(program, params)
    assert set(sig) == {"conv1.weight", "conv1.bias", "fc.weight", "fc.bias"}
    assert all(sig[k].shape == params[k].shape and (sig[k] > 0).all() for k in sig)
    # larger weights sit on larger conductances, which PCM programs with a larger sigma
    w, s = params["fc.weight"].ravel(), sig["fc.weight"].ravel()
    assert np.corrcoef(np.abs(w), s)[0, 1] > 0.5
    ideal = compiled()
    assert not any(v.any() for v in weight_noise_sigmas(ideal, init_params(ideal, np.random.default_rng(0))).values())


def test_penalty_gradient_is_the_gradient_of_the_penalty():
    program = pcm_program(replicas={"conv1": 1}, strategy="none")
    params = init_params(program, np.random.default_rng(1), dtype=np.float64)
    x, y = bars(16, 2)
    x = x.astype(np.float64)
    ids = np.arange(len(x))
    net = Network(program)
    settings = load_run(None, ["train.hessian.epsilon=0.5", "train.hessian.strength=2.0"]).train
    sigmas = {k: v.astype(np.float64) * 10 for k, v in weight_noise_sigmas(program, params).items()}
    g0, _, _ = _gradients(net, params, x, y, ids, 16, TrainState({}, {}))
    grads = {k: v.copy() for k, v in g0.items()}
    curvature = _hessian_penalty(net, params, x, y, ids, 16, grads, sigmas, settings, np.random.default_rng(7))
    # rebuild the probe u = s * v the way _hessian_penalty drew it
    rng = np.random.default_rng(7)
    u = {k: s * rng.choice(np.array([-1.0, 1.0]), size=s.shape) for k, s in sigmas.items()}
    eps = 0.5

    def loss(p):
        logits, _ = net.forward(p, x, ids)
        return F.softmax_cross_entropy(logits, y)[0]

    def shifted(p, h):
        return {**p, **{k: p[k] + h * v for k, v in u.items()}}

    def penalty(p):  # 1/2 u^T H u by the same finite difference, as a function of the weights
        return (loss(shifted(p, eps)) + loss(shifted(p, -eps)) - 2 * loss(p)) / (2 * eps ** 2)

    assert np.isfinite(curvature)
    added = {k: (grads[k] - g0[k]) / settings.hessian.strength for k in grads}
    r = {k: np.random.default_rng(3).standard_normal(v.shape) for k, v in params.items() if k in added}
    h = 1e-6  # ReLU and max-pool kinks: keep the step tiny
    numeric = (penalty({**params, **{k: params[k] + h * r[k] for k in r}})
               - penalty({**params, **{k: params[k] - h * r[k] for k in r}})) / (2 * h)
    analytic = sum(float((added[k] * r[k]).sum()) for k in r)
    assert analytic == pytest.approx(numeric, rel=1e-3, abs=1e-8)


def test_ha_sgd_trains_and_logs_curvature():
    program = pcm_program()
    (tx, ty), (vx, vy) = bars(320, 0), bars(100, 1)
    settings = load_run(None, ["train.algorithm=ha-sgd", "train.epochs=2", "train.batch_size=32",
                               "train.lr=0.05"]).train
    state = train(program, tx, ty, vx, vy, settings, seed=0)
    assert all("noise_curvature" in h and np.isfinite(h["noise_curvature"]) for h in state.history)
    assert state.history[-1]["test_accuracy"] > 0.5
    # the penalty is what moves the weights away from SGD's: without it, ha-sgd is sgd
    off = dataclasses.replace(settings, hessian=dataclasses.replace(settings.hessian, strength=0.0))
    sgd = dataclasses.replace(settings, algorithm=Algorithm.SGD)
    plain, unpenalised = (train(program, tx, ty, vx, vy, s, seed=0) for s in (sgd, off))
    assert all(np.array_equal(plain.params[k], unpenalised.params[k]) for k in plain.params)
    assert not np.array_equal(plain.params["fc.weight"], state.params["fc.weight"])


def test_curvature_estimate_matches_second_difference_of_the_loss():
    # a smooth loss (softmax regression: no ReLU or max-pool kinks), so both estimates of u^T H u agree
    raw = dict(WORKLOAD, layers=[{"name": "flatten", "op": "flatten"},
                                 {"name": "fc", "op": "linear", "out_features": 4}],
               mapping={"replicas": {}, "strategy": "none"})
    program = compile_program(from_data("workload", raw), PCM, seed=3)
    params = init_params(program, np.random.default_rng(1), dtype=np.float64)
    x, y = bars(16, 2)
    x = x.astype(np.float64)
    ids = np.arange(len(x))
    net = Network(program)
    eps = 0.05
    settings = load_run(None, [f"train.hessian.epsilon={eps}"]).train
    sigmas = weight_noise_sigmas(program, params)
    g0, _, _ = _gradients(net, params, x, y, ids, 16, TrainState({}, {}))
    curvature = _hessian_penalty(net, params, x, y, ids, 16, dict(g0), sigmas, settings, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    u = {k: s * rng.choice(np.array([-1.0, 1.0]), size=s.shape) for k, s in sigmas.items()}

    def loss(h):
        logits, _ = net.forward({**params, **{k: params[k] + h * v for k, v in u.items()}}, x, ids)
        return F.softmax_cross_entropy(logits, y)[0]

    second = (loss(eps) + loss(-eps) - 2 * loss(0.0)) / eps ** 2  # u^T H u from losses alone
    assert curvature == pytest.approx(second, rel=0.05)
