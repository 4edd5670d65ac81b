"""Speed of the device-update models of in-situ training (archsim.devices.training).

The vector pairs are real: one training step of the RAPA ConvNet for 28x28 (replicas
16/4/1) with its shipped weights on IMAGES shipped Fashion-MNIST test images, whose layer
inputs x (patches x rows, with the bias column) and output errors d (patches x columns)
each analog layer's devices would learn from, taken from the network's backward pass
(`Network.backward(outer=...)`), all replicas of a layer together, and d scaled as in a
minibatch of 64. Their measured densities are printed. Each model does one ``apply`` per
layer with the default `UpdateDevice` (BL 31, dw_min 0.001, update management) and lr 0.01:

- ``rpu``: the stochastic pulse-coincidence kernel (`PulsedDevice`);
- ``mixed-precision`` and ``hic``: accumulate x^T d (BLAS) and transfer;

against, in the same run, the digital weight gradient x^T d of the same pairs (one float32
BLAS GEMM per layer, what SGD computes). Medians over repeats, with 1 numba thread and
with the default count.

Last line: rpu_ms_per_image=<n> mixed_ms_per_image=<n> hic_ms_per_image=<n>
rpu_over_gemm=<ratio> (default threads)
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from archsim import api
from archsim.devices.training import HybridPCM, MixedPrecision, PulsedDevice
from archsim.kernels import get_num_threads, set_num_threads
from archsim.nn import Network
from archsim.nn import functional as F
from archsim.spec.devices import UpdateDevice

IMAGES = 16
BATCH = 64  # the default minibatch the errors are scaled to
REPEATS = 7
LR = 0.01


def real_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(x, d) of every analog layer for one step on IMAGES images, replicas concatenated."""
    specs = api.load_specs("rapa_convnet_28", "rpu")
    program = api.compile_specs(specs)
    params = api.load_params(specs, program)
    data = api.load_data(specs, "test", IMAGES)
    net = Network(program)
    logits, tape = net.forward(params, data.images, np.arange(IMAGES), train=True)
    _, dlogits = F.softmax_cross_entropy(logits, data.labels)
    seen: dict[str, list] = {}
    net.backward(params, tape, dlogits * (IMAGES / BATCH),
                 outer=lambda plan, rep, x, d: seen.setdefault(plan.name, []).append((x, d)))
    missing = {plan.name for plan in program.analog_layers} - set(seen)
    assert not missing, f"no (x, d) pairs for {sorted(missing)}"
    return {name: (np.concatenate([x for x, _ in p]).astype(np.float32),
                   np.concatenate([d for _, d in p]).astype(np.float32)) for name, p in seen.items()}


def timed(fn, repeats: int = REPEATS) -> list[float]:
    times = []
    for k in range(repeats + 1):
        t = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t)
    return times[1:]  # the first call may compile


def main() -> None:
    pairs = real_pairs()
    for name, (x, d) in pairs.items():
        print(f"{name}: {x.shape[0] // IMAGES} pairs per image, {x.shape[1]}x{d.shape[1]}, nonzero x "
              f"{np.count_nonzero(x) / x.size:.3f}, nonzero d {np.count_nonzero(d) / d.size:.3f}, "
              f"mean |d| {np.abs(d).mean():.1e}")
    rng = np.random.default_rng(0)
    spec = UpdateDevice()
    default_threads = get_num_threads()
    gemm = sum(statistics.median(timed(lambda k, x=x, d=d: x.T @ d)) for x, d in pairs.values()) / IMAGES * 1e3
    print(f"digital weight gradient x^T d (BLAS), all layers: {gemm:.3f} ms/image")
    totals = {}
    for threads in sorted({1, default_threads}):
        set_num_threads(threads)
        for cls, label in ((PulsedDevice, "rpu"), (MixedPrecision, "mixed"), (HybridPCM, "hic")):
            total = 0.0
            for name, (x, d) in pairs.items():
                state = cls.program(rng.uniform(-0.2, 0.2, (x.shape[1], d.shape[1])), spec, np.random.default_rng(1))
                times = timed(lambda k: state.apply(x, d, LR, counter=k))
                med, low = statistics.median(times) / IMAGES * 1e3, min(times) / IMAGES * 1e3
                total += med
                print(f"threads={threads} {label:5s} {name}: {med:.3f} ms/image (min {low:.3f}), "
                      f"pulses/image {state.pulses.sum() / (REPEATS + 1) / IMAGES:.0f}")
            print(f"threads={threads} {label:5s} all layers: {total:.3f} ms/image "
                  f"({total / gemm:.1f}x the GEMM on BLAS's default threads)")
            totals[(threads, label)] = total
    set_num_threads(default_threads)
    print(f"rpu_ms_per_image={totals[(default_threads, 'rpu')]:.3f} "
          f"mixed_ms_per_image={totals[(default_threads, 'mixed')]:.3f} "
          f"hic_ms_per_image={totals[(default_threads, 'hic')]:.3f} "
          f"rpu_over_gemm={totals[(default_threads, 'rpu')] / gemm:.2f}")


if __name__ == "__main__":
    main()
