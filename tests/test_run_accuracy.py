"""`archsim run` with weights: accuracy and timing from one run, timing charging measured passes."""

import json

import numpy as np
import pytest

from archsim import api
from archsim.compiler import compile_program
from archsim.data.weights import save_weights
from archsim.engine import simulate
from archsim.nn import init_params
from archsim.rng import Stream, generator
from archsim.spec import load_hardware, load_workload, presets


@pytest.fixture
def workload_with_weights(tmp_path):
    """rapa_convnet_28 with random (untrained) weights: enough to exercise the paths."""
    text = presets("workload")["rapa_convnet_28"].read_text()
    text = "\n".join(l for l in text.splitlines() if not l.startswith("weights:"))
    path = tmp_path / "w.yaml"
    path.write_text(text.replace("mapping:", "weights: w.npz\nmapping:"))
    program = compile_program(load_workload(path), load_hardware("rpu"), 0)
    save_weights(tmp_path / "w.npz", init_params(program, generator(0, Stream.TRAINING, 0), replicated=True), {})
    return path


SETS = ["run.eval_images=40", "run.programming_repeats=2", "run.images=2", "run.inference_times=[1s, 1d]"]


def test_ideal_chip_analog_equals_digital_and_summary_has_accuracy(workload_with_weights, tmp_path):
    ticks = []
    directory, summary = api.run(workload_with_weights, "tiny", sets=SETS + ["hardware.tiles.count=64"],
                                 out=tmp_path / "out", tick=lambda done, total: ticks.append((done, total)))
    assert ticks == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]  # digital, then 2 programmings x 2 times
    acc = summary["accuracy"]
    assert acc["images"] == 40 and set(acc["analog"]) == {"1s", "1d"}
    assert all(v["mean"] == acc["digital"] and v["std"] == 0 for v in acc["analog"].values())
    assert json.loads((directory / "accuracy.json").read_text())["digital"] == acc["digital"]


def test_bound_management_passes_measured_and_charged(workload_with_weights, tmp_path):
    # a small ADC range makes outputs saturate, so iterative bound management repeats MVMs
    sets = SETS + ["hardware.tiles.adc.range=2.0"]
    _, summary = api.run(workload_with_weights, "rpu", sets=sets, out=tmp_path / "out")
    means = summary["accuracy"]["passes_mean"]
    assert max(means.values()) > 1.05
    specs = api.load_specs(workload_with_weights, "rpu", sets=sets)
    one_pass = simulate(compile_program(specs.workload, specs.hardware, 0), specs.run, baseline=False, trace=False)
    assert summary["latency_cycles"] > one_pass.latency_cycles
    assert summary["accuracy"]["analog"]["1s"]["std"] >= 0


def test_replayed_passes_are_the_measured_ones(workload_with_weights):
    from archsim.data import load_dataset
    from archsim.nn.accuracy import chip_accuracy
    specs = api.load_specs(workload_with_weights, "rpu", sets=SETS + ["hardware.tiles.adc.range=2.0"])
    program = api.compile_specs(specs)
    params = api.load_params(specs, program)
    images = load_dataset("fashion-mnist", "test", limit=10)
    _, log = chip_accuracy(program, params, images.images, images.labels, times=(1.0,), repeats=1, seed=0, keep=2)
    replay = log.for_engine()
    conv1 = replay("conv1", 1, 784)
    assert np.array_equal(conv1, log.per_image["conv1"][1]) and conv1.shape == (784,)
    assert set(log.per_image["conv1"]) == {0, 1}


def test_worker_processes_give_the_numbers_of_one_process():
    """Every evaluation's chunks shared out over two processes: the same accuracies (the
    shipped RAPA ConvNet on noisy PCM tiles with per-MVM read noise, random tiling) and the
    same pass log, because each chunk's MVM noise is keyed by the chunk."""
    from archsim.data import load_dataset
    from archsim.nn.accuracy import chip_accuracy
    from archsim.nn.network import images_per_chunk
    specs = api.load_specs("rapa_convnet_28", "standard_aimc",
                           sets=["hardware.tiles.adc.range=3.0", "hardware.tiles.noise.bound_management=iterative",
                                 "hardware.tiles.noise.max_passes=4"])
    program = api.compile_specs(specs)
    params = api.load_params(specs, program)
    images = load_dataset("fashion-mnist", "test", limit=60)
    assert len(images.labels) > 2 * images_per_chunk(program)  # three chunks: two shares
    runs = [chip_accuracy(program, params, images.images, images.labels, times=(1.0, 86400.0), repeats=2, seed=3,
                          keep=60, workers=workers) for workers in (1, 2)]
    (one, log1), (two, log2) = runs
    assert one == two
    assert len({r for v in one["analog"].values() for r in v["runs"]}) > 1  # the noise did something
    assert log1.per_image.keys() == log2.per_image.keys()
    for layer, images_passes in log1.per_image.items():
        assert sorted(images_passes) == sorted(log2.per_image[layer]) == list(range(60))
        assert all(np.array_equal(p, log2.per_image[layer][i]) for i, p in images_passes.items())
    assert all(np.array_equal(h, log2.histogram[k]) for k, h in log1.histogram.items())
    assert max(one["passes_mean"].values()) > 1.05  # bound management repeated MVMs


def test_each_evaluation_reserves_its_own_noise_counters(monkeypatch):
    """Chunk i of an evaluation draws from base + i * T (T tiles); a second evaluation of the
    same product, and MVMs after it, draw past the first one's counters."""
    from archsim.data import load_dataset
    from archsim.nn import Network
    from archsim.nn.analog import ProgrammedChip
    from archsim.nn.network import images_per_chunk
    from archsim.nn.train import evaluate
    specs = api.load_specs("rapa_convnet_28", "standard_aimc")
    program = api.compile_specs(specs)
    params = api.load_params(specs, program)
    images = load_dataset("fashion-mnist", "test", limit=2 * images_per_chunk(program) + 3)  # three chunks
    product = ProgrammedChip.program_all(program, params, seed=0).read(3600.0)
    tiles = len(product.reads)
    net = Network(program, product)
    seen = []
    original = type(product).start_chunk

    def spy(self, base, index):
        seen.append((base, index))
        original(self, base, index)

    monkeypatch.setattr(type(product), "start_chunk", spy)
    evaluate(net, params, images.images, images.labels)
    assert product.calls == 3 * tiles
    evaluate(net, params, images.images, images.labels)
    assert seen == [(0, 0), (0, 1), (0, 2), (0, 3), (3 * tiles, 0), (3 * tiles, 1), (3 * tiles, 2), (3 * tiles, 3)]
    assert product.calls == 6 * tiles


def test_products_without_chunk_keying_and_daemonic_processes_evaluate_here(monkeypatch):
    """A product that keeps its own counter (in-situ training chips) is not shared out: each
    share would start from the same counter. A process that may not have children (a dask
    worker) evaluates in process."""
    from concurrent.futures import Executor

    from archsim.data import load_dataset
    from archsim.nn import Network, accuracy
    from archsim.nn.network import digital_product
    from archsim.nn.train import evaluate
    from archsim.pool import Workers

    class Refusing(Executor):
        def submit(self, *args, **kwargs):
            raise AssertionError("shared out")

    specs = api.load_specs("rapa_convnet_28", "rpu")
    program = api.compile_specs(specs)
    params = api.load_params(specs, program)
    images = load_dataset("fashion-mnist", "test", limit=60)
    calls = []

    def counting(plan, replica, patches, kernel):
        calls.append(len(patches))
        return digital_product(plan, replica, patches, kernel)

    one = evaluate(Network(program, counting), params, images.images, images.labels,
                   workers=Workers(Refusing(), 2))
    assert calls and one == evaluate(Network(program), params, images.images, images.labels)
    from archsim import pool
    monkeypatch.setattr(pool, "can_spawn", lambda: False)
    monkeypatch.setattr(pool, "worker_pool", lambda n: (_ for _ in ()).throw(AssertionError("spawned")))
    result, _ = accuracy.chip_accuracy(program, params, images.images, images.labels, times=(1.0,), repeats=1,
                                       seed=0, workers=2)
    assert result["images"] == 60


def test_pool_workers_start_no_pools_of_their_own():
    """A sweep point's run.workers must not start a pool inside a pool worker (N x M processes)."""
    from archsim.pool import can_spawn, worker_pool
    with worker_pool(1) as workers:
        assert workers.executor.submit(can_spawn).result() is False
    assert can_spawn()
