"""Every layer's gradients against central finite differences (float64), and conv against loops."""

import numpy as np
import pytest

from archsim.compiler import compile_program
from archsim.nn import Network, init_params
from archsim.nn import functional as F
from archsim.spec import from_data, load_hardware

HW = load_hardware("tiny", ["tiles.count=64"])


def program_of(layers, shape=(2, 8, 8), mapping=None, seed=0):
    raw = {"schema_version": 1, "name": "grad", "input": {"shape": list(shape)}, "layers": layers,
           "mapping": mapping or {"strategy": "none"}}
    return compile_program(from_data("workload", raw), HW, seed)


ALL_OPS = [
    {"name": "c1", "op": "conv2d", "out_channels": 3, "kernel": 3, "padding": 1},
    {"name": "bn1", "op": "batchnorm"},
    {"name": "r1", "op": "relu"},
    {"name": "c2", "op": "conv2d", "out_channels": 3, "kernel": 3, "padding": 1, "bias": False},
    {"name": "res", "op": "add", "inputs": ["c2", "r1"]},
    {"name": "mp", "op": "maxpool", "kernel": 3, "stride": 2, "padding": 1},
    {"name": "c3", "op": "conv2d", "out_channels": 4, "kernel": 2, "stride": 2},
    {"name": "ap", "op": "avgpool", "kernel": 2},
    {"name": "fl", "op": "flatten"},
    {"name": "fc", "op": "linear", "out_features": 5},
]


def check_gradients(program, replicated=False, train=True, seed=1, entries=6):
    rng = np.random.default_rng(seed)
    net = Network(program)
    params = init_params(program, rng, replicated=replicated, dtype=np.float64)
    for k in params:  # make biases and batch-norm parameters non-trivial
        if not k.endswith(".weight"):
            params[k] = params[k] + 0.3 * rng.standard_normal(params[k].shape)
        if k.endswith(".var"):
            params[k] = np.abs(params[k]) + 0.5
    x = rng.standard_normal((3, *program.workload.input.shape))
    ids = np.array([11, 12, 13])
    logits, _ = net.forward(params, x, ids, train=train)
    weights = rng.standard_normal(logits.shape)

    def loss(p):
        return float((net.forward(p, x, ids, train=train)[0] * weights).sum())

    _, tape = net.forward(params, x, ids, train=train, keep=True)
    grads = net.backward(params, tape, weights)
    checked = 0
    for key, value in params.items():
        if key.endswith((".mean", ".var")):
            continue
        assert key in grads, key
        assert grads[key].shape == value.shape, key
        for flat in rng.choice(value.size, size=min(entries, value.size), replace=False):
            idx = np.unravel_index(flat, value.shape)
            eps = 1e-6
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert grads[key][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (key, idx)
            checked += 1
    return checked


def test_all_ops_train_mode():
    assert check_gradients(program_of(ALL_OPS)) > 40


def test_all_ops_inference_mode_batchnorm():
    assert check_gradients(program_of(ALL_OPS), train=False) > 40


@pytest.mark.parametrize("strategy", ["random", "image", "alternate", "perforated"])
@pytest.mark.parametrize("replicated", [False, True])
def test_replicated_conv_trains_each_replica_on_its_patches(strategy, replicated):
    layers = [{"name": "c1", "op": "conv2d", "out_channels": 3, "kernel": 3, "padding": 1},
              {"name": "r1", "op": "relu"},
              {"name": "fl", "op": "flatten"},
              {"name": "fc", "op": "linear", "out_features": 4}]
    program = program_of(layers, mapping={"strategy": strategy, "replicas": {"c1": 4}})
    assert check_gradients(program, replicated=replicated, entries=8) > 10


def test_digital_bias_gradients():
    layers = [{"name": "c1", "op": "conv2d", "out_channels": 3, "kernel": 3},
              {"name": "fl", "op": "flatten"}, {"name": "fc", "op": "linear", "out_features": 4}]
    program = program_of(layers, mapping={"strategy": "random", "replicas": {"c1": 3}, "bias": "digital"})
    assert program.layer("c1").analog.bias_row is False
    assert check_gradients(program, replicated=True) > 10


def conv_loops(x, w, b, stride, padding):
    """The obviously correct convolution."""
    n, c, h, wd = x.shape
    co, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    y = np.zeros((n, co, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


@pytest.mark.parametrize("k, stride, padding", [(3, 1, 1), (5, 1, 2), (3, 2, 0), (1, 2, 0), (2, 2, 1)])
def test_im2col_conv_matches_loops(k, stride, padding):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)
    patches = F.im2col(x, k, stride, padding)
    y = patches @ F.kernel_matrix(w, b)[:-1] + b  # the bias row is driven by a constant 1
    ref = conv_loops(x, w, b, stride, padding)
    assert np.allclose(y.transpose(0, 2, 1).reshape(ref.shape), ref)


def test_pools_match_loops():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 7))
    y, _ = F.maxpool_forward(x, 3, 2, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    ref = np.array([[[[xp[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(4)] for i in range(4)]
                     for c in range(3)] for n in range(2)])
    assert np.array_equal(y, ref)
    ties = rng.integers(0, 3, (2, 3, 7, 7)).astype(float)  # many equal maxima: the first one wins
    y, arg = F.maxpool_forward(ties, 3, 2, 1)
    tp = np.pad(ties, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    first = np.array([[[[tp[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3].argmax() for j in range(4)] for i in range(4)]
                       for c in range(3)] for n in range(2)])
    assert np.array_equal(arg, first) and F.maxpool_forward(ties, 3, 2, 1, need_arg=False)[1] is None
    avg = F.avgpool_forward(x, 2, 2, 0)
    assert np.allclose(avg, x[:, :, :6, :6].reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5)))


@pytest.mark.parametrize("shape", [(3, 16, 5, 7), (2, 4, 8, 8), (3, 6)])
def test_channel_affine_is_the_broadcast_in_any_layout(shape):
    """Channels-last maps (conv outputs) take the flat tiled pass: the same float32 bits."""
    rng = np.random.default_rng(2)
    scale, shift = rng.standard_normal((2, shape[1])).astype(np.float32)
    bshape = (1, -1) + (1,) * (len(shape) - 2)
    layouts = [rng.standard_normal(shape).astype(np.float32)]
    if len(shape) == 4:
        b, c, h, w = shape
        layouts.append(rng.standard_normal((b, h, w, c)).astype(np.float32).transpose(0, 3, 1, 2))
    for x in layouts:
        y = F.channel_affine(x, scale, shift)
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.array_equal(y, x * scale.reshape(bshape) + shift.reshape(bshape))
