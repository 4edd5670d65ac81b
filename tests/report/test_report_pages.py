"""Reports of a run and a sweep: files, figures, the page, and `archsim report` rebuilding them."""

import json
import shutil
import warnings

import pandas as pd
import pytest

from archsim import api
from archsim.report import html, plots, write_run_report, write_sweep_report


def test_run_writes_its_report(run_dir):
    names = {p.name for p in (run_dir / "plots").iterdir()}
    assert names == {f"{n}.{ext}" for n in ("timeline", "mesh", "accuracy_time") for ext in ("png", "svg")}
    page = (run_dir / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert "rapa_convnet_28 on rpu" in page and "archsim 0.1.0" in page and "seed 0" in page
    assert "analog at 1s" in page and "Specs used" in page and "integration_time" in page
    assert "<script" not in page and "http://" not in page.split("<svg")[0]   # self-contained, no scripts
    mesh = json.loads((run_dir / "mesh.json").read_text())
    assert len(mesh["tiles"]) == 22 and mesh["tiles_available"] == 2048 and len(mesh["digital"]) == 64
    assert {layer for *_, layer, _busy in mesh["tiles"]} == {"conv1", "conv2", "conv3", "fc"}


def test_report_rebuilds_a_run_byte_for_byte(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    first = (copy / "index.html").read_bytes()
    shutil.rmtree(copy / "plots")
    (copy / "index.html").unlink()
    info = api.report(copy)
    assert info["kind"] == "run" and (copy / "index.html").read_bytes() == first
    assert "busiest component" in info["findings"][0]


def test_sweep_report_explains_the_bend(sweep_dir):
    table = pd.read_csv(sweep_dir / "results.csv")
    assert list(table["status"]) == ["ok"] * 4 + ["failed"]
    page = (sweep_dir / "index.html").read_text()
    assert "speedup follows the ideal up to replicas=16" in page and "is saturated" in page
    assert "link(" in page and "each mesh link carries 32 GB/s" in page
    assert "a layer cannot have more replicas than output patches" in page
    assert {p.name for p in (sweep_dir / "plots").iterdir()} >= {"speedup.svg", "speedup.png", "mesh.svg",
                                                                 "mesh_saturated.svg", "timeline.svg"}
    assert "The first point where link(" in page   # the mesh of the saturated point shows where it sits
    svg = (sweep_dir / "plots" / "speedup.svg").read_text()
    assert "saturated: link(" in svg and "ideal (closed form)" in svg


def test_reports_build_without_warnings(run_dir, sweep_dir, tmp_path):
    for source, build in ((run_dir, write_run_report), (sweep_dir, write_sweep_report)):
        copy = tmp_path / source.name
        shutil.copytree(source, copy)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            build(copy)


def test_save_writes_png_and_svg_and_returns_inline_svg(tmp_path):
    usage = {"cols": 3, "rows": 2, "topology": "mesh", "tiles_available": 4, "io": [0, 0, 0.1],
             "digital": [[2, 1, 0, 0.5]], "tiles": [[1, 0, 0, "conv1", 0.9], [1, 1, 1, "fc", 0.2]],
             "links": [["link(0,0)->(1,0)", 0.3], ["link(1,0)->(0,0)", 0.7], ["bus", 0.1]]}
    svg = plots.save(plots.mesh(usage), tmp_path, "m")
    assert svg.startswith("<svg") and (tmp_path / "plots" / "m.png").stat().st_size > 1000
    assert "2 of 4 tiles in use" in svg
    again = plots.save(plots.mesh(usage), tmp_path, "m")
    assert again == svg   # stable ids and no date: rebuilt reports are identical


def test_gantt_merges_overlapping_busy_intervals():
    assert plots._merge([(5, 1), (0, 2), (1, 2), (10, 1)]) == [(0, 3), (5, 1), (10, 1)]


def test_html_escapes_and_formats():
    section = html.Section("A <b> section").text("x < y & z").table(pd.DataFrame({"name": ["<a>"], "v": [0.123456]}))
    page = html.page("T", ["archsim 1"], [section])
    assert "A &lt;b&gt; section" in page and "x &lt; y &amp; z" in page and "&lt;a&gt;" in page
    assert "<td>0.1235</td>" in page and '<td class="text">&lt;a&gt;</td>' in page


def test_report_of_a_directory_without_results_is_an_error(tmp_path):
    from archsim.errors import ArchsimError
    with pytest.raises(ArchsimError, match="neither summary.json nor sweep.json"):
        api.report(tmp_path)


def test_sweep_with_accuracy_plots_it(accuracy_sweep_dir):
    table = pd.read_csv(accuracy_sweep_dir / "results.csv")
    assert list(table["hardware.tiles.adc.bits"]) == [4, 9]
    assert table["accuracy_analog"].notna().all() and (table["accuracy_at"] == "1s").all()
    assert table["accuracy_digital"][0] == table["accuracy_digital"][1]   # the ADC is not in the digital model
    names = {p.name for p in (accuracy_sweep_dir / "plots").iterdir()}
    assert {"speedup.svg", "accuracy.svg", "accuracy_time.svg"} <= names
    svg = (accuracy_sweep_dir / "plots" / "accuracy.svg").read_text()
    assert "hardware.tiles.adc.bits" in svg and "analog at 1s" in svg
    page = (accuracy_sweep_dir / "index.html").read_text()
    assert page.count("<svg") == 5 and "accuracy measured" in page
