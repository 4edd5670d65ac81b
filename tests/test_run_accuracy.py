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
