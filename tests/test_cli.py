"""The command line as a user runs it: exit codes, messages, no tracebacks."""

import json
import os
import subprocess
import sys

import pytest

from archsim.cli import main


def run_cli(*args, cwd=None):
    """Run `archsim ...` in a subprocess exactly as a user would."""
    proc = subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return proc.returncode, proc.stdout, proc.stderr


def test_plan_rapa_json(capsys):
    assert main(["plan", "rapa_convnet_32", "--hardware", "rpu", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    convs = [l for l in plan["layers"] if l["kind"] == "conv2d"]
    assert [l["sequential_mvms"] for l in convs] == [64, 64, 64]
    assert [l["replicas"] for l in convs] == [16, 4, 1]
    assert {"name", "kind", "matrix_rows", "matrix_cols", "patches", "replicas", "tiles_per_replica",
            "sequential_mvms"} <= set(convs[0])
    assert plan["totals"]["tiles_used"] == 22 and plan["totals"]["tiles_available"] == 2048
    assert plan["acceleration"]["pipelined"] == 16.0


def test_plan_table(capsys):
    assert main(["plan", "rapa_convnet_32"]) == 0
    out = capsys.readouterr().out
    assert "conv1 conv2d analog         76x32     1024" in out
    assert "acceleration      16.00x pipelined, 6.97x sequential" in out


def test_bare_archsim_runs_the_default_and_writes_results(tmp_path):
    code, out, err = run_cli(cwd=tmp_path)
    assert code == 0, err
    assert "rapa_convnet_28 on rpu" in out
    directory = tmp_path / "reports" / "rapa_convnet_28-rpu"
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["acceleration"]["closed_form"]["pipelined"] == 16.0
    assert 1 < summary["acceleration"]["pipelined"] <= 16.5
    # the shipped weights and test images give a real accuracy (well above chance)
    assert summary["accuracy"]["digital"] > 0.6 and summary["accuracy"]["analog"]["1h"]["mean"] > 0.5
    for key in ("latency_cycles", "latency_s", "throughput_images_per_s", "energy_per_image_j", "bottleneck"):
        assert key in summary
    assert {"layers.csv", "components.csv", "trace.json", "plan.json", "specs.json"} <= \
        {p.name for p in directory.iterdir()}
    assert json.loads((directory / "trace.json").read_text())["traceEvents"]


def test_bad_spec_exits_2_with_located_message_and_no_traceback(tmp_path):
    bad = tmp_path / "w.yaml"
    bad.write_text("schema_version: 1\nname: x\ninput: {shape: [1, 8, 8]}\nlayers:\n"
                   "  - {name: c, op: conv2d, out_channels: 0, kernel: 3}\n")
    code, out, err = run_cli("plan", str(bad))
    assert code == 2 and "Traceback" not in err
    assert f"{bad}:5: workload.layers[0].out_channels must be an integer >= 1, not 0" in err
    code, out, err = run_cli("--debug", "plan", str(bad))
    assert code == 2 and "Traceback" in err


def test_compile_error_exits_2():
    code, out, err = run_cli("plan", "vgg8", "-H", "hermes")
    assert code == 2 and "even one replica per layer needs 216 tiles" in err and "Traceback" not in err


def test_validate(tmp_path):
    code, out, err = run_cli("validate", "workloads/lenet.yaml", "hardware_specs/tiny.yaml",
                             cwd=os.path.dirname(os.path.dirname(__file__)))
    assert code == 0 and "valid workload spec 'lenet'" in out and "valid hardware spec 'tiny'" in out
    (tmp_path / "empty.yaml").write_text("")
    code, out, err = run_cli("validate", str(tmp_path / "empty.yaml"), str(tmp_path / "missing.yaml"))
    assert code == 2
    assert err.splitlines() == [f"{tmp_path / 'empty.yaml'}: is empty; expected a YAML mapping",
                                f"{tmp_path / 'missing.yaml'}: no such file"]


def test_set_overrides_reach_every_document(capsys):
    assert main(["plan", "rapa_convnet_32", "--json", "--set", "workload.mapping.replicas=[32, 8, 2, 1]",
                 "--set", "seed=9"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["seed"] == 9 and [l["sequential_mvms"] for l in plan["layers"]] == [32, 32, 32, 1]
    assert main(["plan", "rapa_convnet_32", "--set", "nonsense"]) == 2
    assert "must look like path.to.key=value" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["plan", "--help"]])
def test_help_and_version(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0


def test_compare_with_no_strategy_named_is_an_error(capsys, tmp_path):
    assert main(["compare", "rapa_convnet_28", "--strategies", "", "--out", str(tmp_path)]) == 2  # not "all"
    assert "--strategies" in capsys.readouterr().err
    assert main(["compare", "rapa_convnet_28", "--strategies", "none,,image", "--out", str(tmp_path)]) == 2
    assert "(not '')" in capsys.readouterr().err
