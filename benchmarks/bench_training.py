"""Training throughput: digital SGD against in-situ analog training (rpu, hic) on the RAPA
ConvNet for 28x28 (replicas 16/4/1, random tiling) on the rpu chip, in one process.

Each algorithm trains the same 384 Fashion-MNIST images (6 minibatches of 64) after one
warm-up minibatch (numba cache load, tile programming); the figure is images per second
of the training steps (forward, backward, update; no evaluation). hic runs on the rpu chip
with PCM devices. Medians over repeats.

Last line: sgd_img_s=<n> rpu_img_s=<n> hic_img_s=<n>
"""

from __future__ import annotations

import statistics
import sys
import time


from archsim import api
from archsim.nn import train as trainer

IMAGES, BATCH, REPEATS = 384, 64, 3


def measure(algorithm: str) -> float:
    sets = [f"run.train.algorithm={algorithm}", f"run.train.batch_size={BATCH}", "run.train.epochs=1"]
    if algorithm == "hic":
        sets.append("hardware.tiles.device.kind=pcm")
    specs = api.load_specs("rapa_convnet_28", "rpu", sets=sets)
    program = api.compile_specs(specs)
    data = api.load_data(specs, "test", IMAGES + BATCH)
    x, y = data.images, data.labels
    times = []
    for _ in range(REPEATS):
        state = trainer.new_state(program, 0, specs.run.train)
        steps = []

        def progress(event):
            if "step" in event:
                steps.append(time.perf_counter())

        # one epoch over warm-up + timed images; the first step's end starts the clock
        trainer.train(program, x, y, x[:1], y[:1], specs.run.train, 0, state=state, progress=progress)
        times.append((steps[-1] - steps[0]) / (len(steps) - 1) / BATCH)
    per_image = statistics.median(times)
    print(f"{algorithm}: {1 / per_image:,.0f} images/s ({per_image * 1e3:.2f} ms per image)")
    return 1 / per_image


def main() -> int:
    rates = {a: measure(a) for a in ("sgd", "rpu", "hic")}
    print(f"rpu/sgd {rates['rpu'] / rates['sgd']:.2f}, hic/sgd {rates['hic'] / rates['sgd']:.2f} (target >= 0.33)")
    print(f"sgd_img_s={rates['sgd']:.0f} rpu_img_s={rates['rpu']:.0f} hic_img_s={rates['hic']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
