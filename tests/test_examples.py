"""Every shipped workload runs through `archsim run` on every shipped chip it fits."""

import json

import pytest

from archsim.cli import main
from archsim.compiler import compile_program
from archsim.errors import CompileError
from archsim.spec import load_hardware, load_workload, presets

PAIRS = []
for hw in presets("hardware"):
    for wl in presets("workload"):
        try:
            compile_program(load_workload(wl), load_hardware(hw))
        except CompileError:
            continue
        PAIRS.append((wl, hw))

QUICK = ["--set", "run.images=1", "--set", "run.eval_images=20", "--set", "run.programming_repeats=1"]


def test_the_pairs_that_fit():
    assert len(PAIRS) == 21 and ("mlp", "tiny") in PAIRS and ("vgg8", "hermes") not in PAIRS and ("lenet", "tiny") in PAIRS


@pytest.mark.parametrize("workload, hardware", PAIRS, ids=[f"{w}-{h}" for w, h in PAIRS])
def test_archsim_run(workload, hardware, tmp_path, capsys):
    assert main(["run", workload, "-H", hardware, "--out", str(tmp_path), *QUICK]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["workload"] == workload and summary["hardware"] == hardware
    assert summary["latency_cycles"] > 0 and summary["throughput_images_per_s"] > 0
    assert summary["energy_per_image_j"] > 0 and summary["bottleneck"]
    assert ("accuracy" in summary) == bool(load_workload(workload).weights)
    assert f"{workload} on {hardware}" in capsys.readouterr().out
