"""A tiny synthetic task shared by the nn tests: four classes of bars on noise."""

import numpy as np

from archsim.compiler import compile_program
from archsim.spec import from_data, load_hardware

HW = load_hardware("tiny", ["tiles.count=64"])

WORKLOAD = {
    "schema_version": 1, "name": "bars", "input": {"shape": [1, 12, 12]},
    "layers": [{"name": "conv1", "op": "conv2d", "out_channels": 6, "kernel": 3, "padding": 1},
               {"name": "relu1", "op": "relu"},
               {"name": "pool1", "op": "maxpool", "kernel": 2},
               {"name": "flatten", "op": "flatten"},
               {"name": "fc", "op": "linear", "out_features": 4}],
    "mapping": {"replicas": {"conv1": 4}, "strategy": "random"},
}


def bars(n, seed, size=12):
    """Four classes: a bright horizontal or vertical bar in the top or bottom half, on noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.random((n, 1, size, size)).astype(np.float32) * 0.3
    pos = rng.integers(0, size // 2, n)
    for i in range(n):
        off = 0 if y[i] % 2 == 0 else size // 2
        if y[i] < 2:
            x[i, 0, off + pos[i], :] += 0.7
        else:
            x[i, 0, :, off + pos[i]] += 0.7
    return np.clip(x, 0, 1), y.astype(np.int64)


def compiled(layers=None, mapping=None, shape=(1, 12, 12)):
    """The bars network (or other layers) compiled on the tiny chip with seed 3."""
    raw = dict(WORKLOAD, input={"shape": list(shape)}, layers=layers or WORKLOAD["layers"],
               mapping=mapping or WORKLOAD["mapping"])
    return compile_program(from_data("workload", raw), HW, seed=3)
