"""Analog inference throughput with the PCM model, against the noise-free numpy forward.

For the RAPA ConvNet (28x28, replicas 16/4/1, random tiling) and ResNet-32 (CIFAR-10
shape, replicas auto), both on the standard_aimc chip (PCM devices, 8-bit DAC/ADC,
output and weight read noise, global drift compensation), measured two ways in one run:
images per second of an accuracy evaluation (`archsim.nn.train.evaluate`, tiles
programmed once beforehand and read at 1 h; programming is a one-off cost reported
separately)
- in this process (numba and BLAS on all cores), analog and digital float32 forward of
  the same network and mapping;
- shared out over one worker process per core (`run.workers`, one thread each; the same
  numbers), the workers started and warmed up beforehand (their start-up is printed).
Weights are random (throughput does not depend on them); inputs are uniform in [0, 1].
Medians over repeats.

Last line: rapa_img_s=<n, worker processes> resnet32_img_s=<n, worker processes>
rapa_over_digital=<analog/digital time ratio, in process> rapa_img_s_in_process=<n>
resnet32_img_s_in_process=<n>
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from archsim.compiler import compile_program
from archsim.nn import Network, init_params
from archsim.nn.analog import ProgrammedChip
from archsim.nn.network import images_per_chunk
from archsim.nn.train import evaluate
from archsim.pool import worker_pool
from archsim.rng import Stream, generator
from archsim.spec import load_hardware, load_workload

REPEATS = 5
WORKERS = os.cpu_count() or 1


def timed(net: Network, params, x: np.ndarray, workers=None) -> float:
    """Median wall seconds of evaluating x."""
    labels = np.zeros(len(x), np.int64)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        evaluate(net, params, x, labels, workers=workers)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, images: int, workers) -> tuple[float, float, float]:
    """(analog img/s with the workers, analog img/s in process, analog/digital time in process)."""
    program = compile_program(load_workload(name), load_hardware("standard_aimc"), seed=0)
    params = init_params(program, generator(0, Stream.TRAINING, 0), replicated=True)
    x = generator(0, Stream.DATA, 0).random((images, *program.workload.input.shape), dtype=np.float32)
    start = time.perf_counter()
    chip = ProgrammedChip.program_all(program, params, seed=0)
    product = chip.read(3600.0)
    programming = time.perf_counter() - start
    analog, digital = Network(program, product), Network(program)
    warm = x[:2 * WORKERS * images_per_chunk(program)]  # warm-up: numba cache load, here and in every worker
    evaluate(analog, params, warm[:8], np.zeros(8, np.int64))
    evaluate(analog, params, warm, np.zeros(len(warm), np.int64), workers=workers)
    a, d = timed(analog, params, x), timed(digital, params, x)
    pooled = timed(analog, params, x, workers)
    print(f"{name}: {program.tiles_used} tiles programmed in {programming:.2f} s; in process: analog "
          f"{images / a:,.0f} img/s, digital {images / d:,.0f} img/s, analog/digital time {a / d:.2f}; "
          f"{workers.count} worker processes: analog {images / pooled:,.0f} img/s")
    return images / pooled, images / a, a / d


def main() -> int:
    start = time.perf_counter()
    with worker_pool(WORKERS) as workers:
        print(f"{WORKERS} worker processes started in {time.perf_counter() - start:.2f} s")
        rapa, rapa_in, rapa_ratio = measure("rapa_convnet_28", 500, workers)
        resnet, resnet_in, _ = measure("resnet32", 100, workers)
    print(f"rapa_img_s={rapa:.0f} resnet32_img_s={resnet:.0f} rapa_over_digital={rapa_ratio:.2f} "
          f"rapa_img_s_in_process={rapa_in:.0f} resnet32_img_s_in_process={resnet_in:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
