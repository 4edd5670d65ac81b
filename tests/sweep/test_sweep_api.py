"""archsim sweep / compare / report through the API and the command line (timing only, small chips)."""

import json

import numpy as np
import pandas as pd
import pytest

from archsim import api
from archsim.cli import main
from archsim.errors import SpecError

TINY = dict(hardware="tiny", accuracy=False, progress=False)


def test_a_point_is_the_same_run_as_archsim_run(tmp_path):
    sets = ["workload.mapping.replicas={conv1: 2}", "run.images=3"]
    _, summary = api.run("rapa_convnet_32", "tiny", None, sets, out=tmp_path / "run")
    point = api.run_point({"workload": "rapa_convnet_32", "hardware": "tiny", "settings": None, "sets": sets,
                           "accuracy": True})
    row = point["row"]
    assert row["latency_cycles"] == summary["latency_cycles"]
    assert row["throughput_images_per_s"] == summary["throughput_images_per_s"]
    assert row["speedup"] == summary["acceleration"]["pipelined"]
    assert row["latency_speedup"] == summary["acceleration"]["sequential"]
    assert row["acceleration_pipelined"] == summary["acceleration"]["closed_form"]["pipelined"] == 2.0
    assert row["energy_per_image_j"] == summary["energy_per_image_j"]
    assert row["bottleneck"] == summary["bottleneck"] and row["replicas_mapped"] == "conv1:2 conv2:1 conv3:1 fc:1"
    assert row["tiles_used"] == summary["mapping"]["tiles_used"] == 25
    assert row["accuracy_digital"] is None and row["accuracy_note"] == ""   # no weights
    assert point["detail"]["mesh"] == json.loads((tmp_path / "run" / "mesh.json").read_text())


def test_sweep_writes_one_row_per_point_and_records_points_that_do_not_fit(tmp_path):
    info = api.sweep("rapa_convnet_32", sets=["run.images=2"], replicas=["conv1=1,2,16"], out=tmp_path,
                     executor="serial", **TINY)
    assert (info["points"], info["ok"], info["failed"]) == (3, 2, 1)
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table["replicas.conv1"]) == [1, 2, 16] and list(table["status"]) == ["ok", "ok", "failed"]
    assert "does not fit hardware 'tiny'" in table["error"][2] and "39 tiles" in table["error"][2]
    assert table["speedup"][0] == 1.0 and 1.8 < table["speedup"][1] <= 2.05
    for column in ("latency_s", "throughput_images_per_s", "latency_speedup", "acceleration_pipelined",
                   "acceleration_sequential", "energy_per_image_j", "tiles_used", "bottleneck",
                   "bottleneck_kind", "accuracy_digital", "accuracy_analog", "accuracy_analog_std"):
        assert column in table
    parquet = pd.read_parquet(tmp_path / "results.parquet")   # the same table (CSV cannot tell "" from missing)
    pd.testing.assert_frame_equal(parquet.replace("", np.nan), table, check_dtype=False)
    assert list(parquet["tiles_used"].astype("float").fillna(-1)) == [24, 25, -1]
    definition = json.loads((tmp_path / "sweep.json").read_text())
    assert definition["kind"] == "sweep" and [a["name"] for a in definition["axes"]] == ["replicas.conv1"]
    assert len(list((tmp_path / "points").glob("*.json"))) == 3
    html = (tmp_path / "index.html").read_text()
    assert "replica sweep" in html and "<svg" in html and "does not fit hardware" in html


def test_swept_set_values_and_auto_budgets(tmp_path):
    info = api.sweep("rapa_convnet_32", sets=["run.images=2", "hardware.interconnect.link_bandwidth=8GB/s,64GB/s"],
                     replicas=["auto"], budgets="24,28", out=tmp_path, executor="serial", **TINY)
    table = pd.read_csv(tmp_path / "results.csv")
    assert info["ok"] == 4
    assert list(table["tile_budget"]) == [24, 24, 28, 28]
    assert list(table["hardware.interconnect.link_bandwidth"]) == ["8GB/s", "64GB/s"] * 2
    assert (table["tiles_used"] <= table["tile_budget"]).all()
    assert table["replicas_mapped"][0] == "conv1:1 conv2:1 conv3:1 fc:1"
    assert table["acceleration_pipelined"][2] > 1   # 4 more tiles buy replicas of conv1
    slow, fast = table["throughput_images_per_s"][2], table["throughput_images_per_s"][3]
    assert slow < fast   # the narrower links cost throughput


def test_a_mistyped_value_stops_the_sweep_before_it_starts(tmp_path):
    with pytest.raises(SpecError) as info:
        api.sweep("rapa_convnet_32", sets=["hardware.tiles.adc.bits=8,17"], replicas=["1,2"], out=tmp_path,
                  executor="serial", **TINY)
    assert any("hardware.tiles.adc.bits must be an integer from 0 to 16, not 17" in p for p in info.value.problems)
    assert not (tmp_path / "points").exists()
    with pytest.raises(SpecError, match="nothing to sweep"):
        api.sweep("rapa_convnet_32", out=tmp_path, executor="serial", **TINY)


def test_serial_and_pool_give_byte_identical_tables(tmp_path):
    kwargs = dict(sets=["run.images=2", "seed=5"], replicas=["conv1=1,2,4"], **TINY)
    api.sweep("rapa_convnet_32", out=tmp_path / "serial", executor="serial", **kwargs)
    api.sweep("rapa_convnet_32", out=tmp_path / "pool", executor="pool", workers=2, **kwargs)
    serial = (tmp_path / "serial" / "results.csv").read_bytes()
    assert serial == (tmp_path / "pool" / "results.csv").read_bytes()
    assert b",5," not in serial.splitlines()[0]   # the constant seed is not a column, the seed is in sweep.json
    assert json.loads((tmp_path / "pool" / "sweep.json").read_text())["seed"] == 5


def test_dask_gives_the_serial_table(tmp_path):
    pytest.importorskip("distributed")
    kwargs = dict(sets=["run.images=2"], replicas=["conv1=1,2"], **TINY)
    api.sweep("rapa_convnet_32", out=tmp_path / "serial", executor="serial", **kwargs)
    api.sweep("rapa_convnet_32", out=tmp_path / "dask", executor="dask", workers=2, **kwargs)
    assert (tmp_path / "serial" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()


def test_compare_strategies_and_chips(tmp_path):
    info = api.compare("rapa_convnet_32", ["rpu", "tiny"], sets=["run.images=4"],
                       strategies="random,image,none", out=tmp_path, executor="serial", accuracy=False,
                       progress=False)
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(zip(table["hardware"], table["strategy"])) == [
        ("rpu", "random"), ("rpu", "image"), ("rpu", "none"), ("tiny", "random"), ("tiny", "image"),
        ("tiny", "none")]
    rpu = table[table["hardware"] == "rpu"].set_index("strategy")
    assert (rpu["status"] == "ok").all() and rpu.loc["none", "replicas_mapped"] == "conv1:1 conv2:1 conv3:1 fc:1"
    assert rpu.loc["none", "speedup"] == 1.0 and rpu.loc["random", "speedup"] > 10
    # the engine finds timing differences between the strategies
    assert rpu.loc["random", "latency_cycles"] != rpu.loc["image", "latency_cycles"]
    tiny = table[table["hardware"] == "tiny"].set_index("strategy")
    assert list(tiny["status"]) == ["failed", "failed", "ok"] and "does not fit" in tiny.loc["random", "error"]
    assert info["ok"] == 4 and any("rpu:" in f and "fastest" in f for f in info["findings"])
    with pytest.raises(SpecError, match="each must be one of random, image, alternate, perforated, none"):
        api.compare("rapa_convnet_32", ["rpu"], strategies="random,best", out=tmp_path / "x", progress=False)


def test_compare_measures_accuracy_when_the_workload_has_weights(tmp_path):
    quick = ["run.images=1", "run.eval_images=40", "run.programming_repeats=2"]
    api.compare("rapa_convnet_28", ["rpu"], sets=quick, strategies="random,none", out=tmp_path, executor="serial",
                progress=False)
    table = pd.read_csv(tmp_path / "results.csv").set_index("strategy")
    assert 0.5 < table.loc["random", "accuracy_digital"] <= 1 and 0.4 < table.loc["random", "accuracy_analog"] <= 1
    assert table.loc["random", "accuracy_analog_std"] >= 0 and table.loc["random", "accuracy_at"] == "1h"
    # the shipped weights are per replica: without replicas they cannot be used, but the timing is kept
    assert table.loc["none", "status"] == "ok" and pd.isna(table.loc["none", "accuracy_analog"])
    assert "accuracy not measured" in table.loc["none", "accuracy_note"] and "\n" not in table.loc["none", "accuracy_note"]
    assert "accuracy" in (tmp_path / "plots" / "strategies.svg").read_text()


def test_cli_sweep_compare_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "rapa_convnet_32", "-H", "tiny", "--replicas", "conv1=1,2", "--set", "run.images=2",
                 "--executor", "serial", "--no-accuracy", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 points: 2 ok, 0 failed" in printed and f"results written to {out}/" in printed
    first = (out / "index.html").read_bytes()
    (out / "index.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "index.html").read_bytes() == first   # the report is rebuilt, byte for byte
    assert main(["sweep", "rapa_convnet_32", "-H", "tiny", "--replicas", "conv1=1,2", "--set", "run.images=2",
                 "--executor", "serial", "--no-accuracy", "--out", str(out), "--resume"]) == 0
    assert "2 kept from before (--resume)" in capsys.readouterr().out
    assert main(["compare", "rapa_convnet_32", "-H", "rpu", "tiny", "--strategies", "none", "--set", "run.images=2",
                 "--executor", "serial", "--out", str(tmp_path / "cmp")]) == 0
    assert "2 points: 2 ok" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    assert "is not the directory of a finished run, sweep or comparison" in capsys.readouterr().err
    assert main(["sweep", "rapa_convnet_32", "--replicas", "conv9=1,2", "--out", str(tmp_path / "bad")]) == 2
    assert "'conv9' is not an analog layer" in capsys.readouterr().err
