"""Speed of the device-update models of in-situ training (archsim.devices.training).

Per image of the RAPA ConvNet for 28x28 (conv1 26x32 with 784 patches, conv2 801x32
with 196, conv3 801x64 with 49, fc 1025x10 with 1), one ``apply`` per layer for a
minibatch of IMAGES images (x: patches x rows, d: patches x columns), with the
default `UpdateDevice` (BL 31, dw_min 0.001, update management) and lr 0.01:

- ``rpu``: the stochastic pulse-coincidence kernel (`PulsedDevice`);
- ``mixed-precision`` and ``hic``: accumulate x^T d (BLAS) and transfer.

The vector pairs are synthetic with the sparsity measured on the shipped RAPA-28
weights and 16 Fashion-MNIST training images (the fraction of nonzero inputs x per
layer: 0.47, 0.43, 0.03, 0.14; of nonzero output errors d: 0.08, 0.007, 0.03, 1.0),
x uniform in [0, 1], d normal with sigma 2e-3 (the measured mean |d| is 1e-3). The
pulsed update costs far more on dense pairs: the last lines time the brief's case of
64 dense vector pairs on an 801x32 matrix (x uniform [0, 1], d normal sigma 0.01).
Medians (and minima) over repeats, with 1 numba thread and with the default count.

Last line: rpu_ms_per_image=<n> mixed_ms_per_image=<n> hic_ms_per_image=<n> (default threads)
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from archsim.devices.training import HybridPCM, MixedPrecision, PulsedDevice
from archsim.kernels import get_num_threads, set_num_threads
from archsim.spec.devices import UpdateDevice

IMAGES = 16
REPEATS = 7
LR = 0.01
LAYERS = {  # name: (rows, cols, patches per image, x density, d density)
    "conv1": (26, 32, 784, 0.47, 0.08),
    "conv2": (801, 32, 196, 0.43, 0.007),
    "conv3": (801, 64, 49, 0.03, 0.03),
    "fc": (1025, 10, 1, 0.14, 1.0),
}


def pairs(rng, n, rows, cols, dx, dd, d_sigma=2e-3):
    x = rng.random((n, rows)).astype(np.float32) * (rng.random((n, rows)) < dx)
    d = (d_sigma * rng.standard_normal((n, cols))).astype(np.float32) * (rng.random((n, cols)) < dd)
    return x.astype(np.float32), d.astype(np.float32)


def timed(state, x, d):
    times = []
    for k in range(REPEATS + 1):
        t = time.perf_counter()
        state.apply(x, d, LR, counter=k)
        times.append(time.perf_counter() - t)
    return times[1:]  # the first call may compile


def main() -> None:
    rng = np.random.default_rng(0)
    spec = UpdateDevice()
    default_threads = get_num_threads()
    data = {name: pairs(rng, IMAGES * p, r, c, dx, dd) for name, (r, c, p, dx, dd) in LAYERS.items()}
    totals = {}
    for threads in sorted({1, default_threads}):
        set_num_threads(threads)
        for cls, label in ((PulsedDevice, "rpu"), (MixedPrecision, "mixed"), (HybridPCM, "hic")):
            total = 0.0
            for name, (rows, cols, *_rest) in LAYERS.items():
                state = cls.program(rng.uniform(-0.2, 0.2, (rows, cols)), spec, np.random.default_rng(1))
                times = timed(state, *data[name])
                med, low = statistics.median(times) / IMAGES * 1e3, min(times) / IMAGES * 1e3
                total += med
                print(f"threads={threads} {label:5s} {name}: {med:.3f} ms/image (min {low:.3f}), "
                      f"pulses/image {state.pulses.sum() / (REPEATS + 1) / IMAGES:.0f}")
            print(f"threads={threads} {label:5s} all layers: {total:.3f} ms/image")
            totals[(threads, label)] = total
        x, d = pairs(rng, 64, 801, 32, 1.0, 1.0, d_sigma=0.01)
        state = PulsedDevice.program(rng.uniform(-0.2, 0.2, (801, 32)), spec, np.random.default_rng(1))
        times = timed(state, x, d)
        print(f"threads={threads} rpu dense 64 x (801x32): {statistics.median(times) * 1e3:.3f} ms per call "
              f"(min {min(times) * 1e3:.3f}), pulses/call {state.pulses.sum() / (REPEATS + 1):.0f}")
    set_num_threads(default_threads)
    print(f"rpu_ms_per_image={totals[(default_threads, 'rpu')]:.3f} "
          f"mixed_ms_per_image={totals[(default_threads, 'mixed')]:.3f} "
          f"hic_ms_per_image={totals[(default_threads, 'hic')]:.3f}")


if __name__ == "__main__":
    main()
