"""Analog inference throughput with the PCM model, against the noise-free numpy forward.

For the RAPA ConvNet (28x28, replicas 16/4/1, random tiling) and ResNet-32 (CIFAR-10
shape, replicas auto), both on the standard_aimc chip (PCM devices, 8-bit DAC/ADC,
output and weight read noise, global drift compensation), measured in one process:
images per second of the analog forward (tiles programmed once beforehand, read at 1 h;
programming is a one-off cost reported separately) and of the digital float32 forward
of the same network and mapping. Weights are random (throughput does not depend on
them); inputs are uniform in [0, 1]. Medians over repeats.

Last line: rapa_img_s=<n> resnet32_img_s=<n> rapa_over_digital=<analog/digital time ratio>
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from archsim.compiler import compile_program
from archsim.nn import Network, init_params
from archsim.nn.analog import ProgrammedChip
from archsim.nn.network import images_per_chunk
from archsim.rng import Stream, generator
from archsim.spec import load_hardware, load_workload

REPEATS = 3


def forward_all(net: Network, params, images: np.ndarray) -> None:
    chunk = images_per_chunk(net.program)
    for lo in range(0, len(images), chunk):
        net.forward(params, images[lo:lo + chunk], np.arange(lo, min(lo + chunk, len(images))))


def measure(name: str, images: int) -> tuple[float, float]:
    program = compile_program(load_workload(name), load_hardware("standard_aimc"), seed=0)
    params = init_params(program, generator(0, Stream.TRAINING, 0), replicated=True)
    x = generator(0, Stream.DATA, 0).random((images, *program.workload.input.shape), dtype=np.float32)
    start = time.perf_counter()
    chip = ProgrammedChip.program_all(program, params, seed=0)
    product = chip.read(3600.0)
    programming = time.perf_counter() - start
    analog, digital = Network(program, product), Network(program)
    forward_all(analog, params, x[:8])  # warm-up: numba cache load
    a_times, d_times = [], []
    for _ in range(REPEATS):
        t = time.perf_counter()
        forward_all(analog, params, x)
        a_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        forward_all(digital, params, x)
        d_times.append(time.perf_counter() - t)
    a, d = statistics.median(a_times), statistics.median(d_times)
    print(f"{name}: {program.tiles_used} tiles programmed in {programming:.2f} s; analog {images / a:,.0f} img/s, "
          f"digital {images / d:,.0f} img/s, analog/digital time {a / d:.2f}")
    return images / a, a / d


def main() -> int:
    rapa, rapa_ratio = measure("rapa_convnet_28", 500)
    resnet, _ = measure("resnet32", 100)
    print(f"rapa_img_s={rapa:.0f} resnet32_img_s={resnet:.0f} rapa_over_digital={rapa_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
