"""Where a sweep leaves the ideal line, and what the report says about it."""

import pandas as pd

from archsim.report import analysis

AXES = [{"name": "replicas", "kind": "replicas", "values": ["1", "2", "4", "8"]}]
HARDWARE = {"clock": 1e9, "interconnect": {"topology": "mesh", "link_bandwidth": 32e9, "flit_bytes": 32,
                                           "hop_latency": 1e-9},
            "digital": {"count": 64, "ops_per_cycle": 64}}


def table(speedups, kinds, busy):
    n = len(speedups)
    return pd.DataFrame({"point": range(n), "status": "ok", "replicas": [2 ** k for k in range(n)],
                         "speedup": speedups, "acceleration_pipelined": [float(2 ** k) for k in range(n)],
                         "bottleneck": [f"{k}0" for k in kinds], "bottleneck_kind": kinds,
                         "bottleneck_layer": ["conv1" if k == "tile" else "" for k in kinds],
                         "bottleneck_utilisation": busy, "replicas_mapped": ""})


def test_a_line_that_follows_the_ideal_has_no_bend():
    lines = analysis.series(table([1, 2, 3.9, 7.5], ["tile"] * 4, [0.99] * 4), AXES)
    assert len(lines) == 1 and lines[0].bend is None
    text = analysis.explain(lines, AXES, HARDWARE)[0]
    assert "follows the ideal (within 10%) over the whole sweep, up to 7.5x at replicas=8" in text


def test_the_bend_and_the_saturated_component_are_named_with_the_spec_capacity():
    t = table([1, 2, 3.2, 3.3], ["tile", "tile", "tile", "link"], [0.99, 0.98, 0.8, 0.95])
    t.loc[3, "bottleneck"] = "link(3,7)->(4,7)"
    line = analysis.series(t, AXES)[0]
    assert line.bend["at"]["replicas"] == 4 and line.bend["before"]["replicas"] == 2
    assert line.bend["saturated"]["replicas"] == 8
    text = analysis.explain([line], AXES, HARDWARE)[0]
    assert "speedup follows the ideal up to replicas=2" in text
    assert "At replicas=4 it reaches 3.2x of an ideal 4x (80%): no component is saturated yet" in text
    assert ("At replicas=8 link(3,7)->(4,7) (interconnect link, 95% busy) is saturated: each mesh link carries "
            "32 GB/s") in text
    assert "caps the speedup near 3.47x" in text


def test_digital_saturation_names_the_digital_capacity():
    t = table([1, 2, 2.1], ["tile", "tile", "digital"], [0.99, 0.99, 0.97])
    text = analysis.explain(analysis.series(t, AXES), AXES, HARDWARE)[0]
    assert "At replicas=4 it reaches 2.1x of an ideal 4x (52%). There digital0 (digital unit, 97% busy) is " \
           "saturated: 64 digital units of 64 operations per cycle at 1 GHz" in text


def test_other_swept_parameters_make_separate_lines_and_failed_points_are_left_out():
    t = pd.concat([table([1, 2], ["tile"] * 2, [0.9] * 2).assign(seed=0),
                   table([1, 1.2], ["tile", "link"], [0.9, 0.95]).assign(seed=1)], ignore_index=True)
    t.loc[len(t)] = {**t.iloc[0].to_dict(), "status": "failed", "seed": 2}
    axes = AXES + [{"name": "seed", "kind": "set", "values": ["0", "1", "2"]}]
    lines = analysis.series(t, axes)
    assert [s.label for s in lines] == ["seed=0", "seed=1"]
    assert lines[0].bend is None and lines[1].bend["at"]["replicas"] == 2


def test_x_axis_choice():
    assert analysis.x_axis([{"name": "tile_budget", "kind": "tile_budget"}])[0] == "tile_budget"
    assert analysis.x_axis([{"name": "replicas.conv1", "kind": "layer_replicas"}])[0] == "replicas.conv1"
    assert analysis.x_axis([{"name": "replicas.conv1", "kind": "layer_replicas"},
                            {"name": "replicas.conv2", "kind": "layer_replicas"}])[0] == "acceleration_pipelined"


def test_run_summary_names_the_bottleneck_as_the_findings_do():
    from archsim.report.text import summary_items
    row = {"bottleneck": "tile5", "bottleneck_kind": "tile", "bottleneck_layer": "conv2", "bottleneck_utilisation": 0.87}
    summary = {"latency_cycles": 10, "latency_s": 1e-8, "throughput_images_per_s": 1e8, "energy_per_image_j": 1e-6,
               "tops_per_w": 1.0, **row}
    assert dict(summary_items(summary))["bottleneck"] == analysis.component(row) == "tile5 (analog tile, layer conv2, 87% busy)"
