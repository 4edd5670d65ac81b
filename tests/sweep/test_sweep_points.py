"""Point expansion: axes from the command-line options, the product, stable ids."""

import pytest

from archsim.errors import SpecError
from archsim.sweep import Axis, expand, point_id, replica_axes, set_axes, split_values

CONV = ["conv1", "conv2", "conv3"]
ANALOG = CONV + ["fc"]


def test_split_values_keeps_brackets_together():
    assert split_values("1,2, 4") == ["1", "2", "4"]
    assert split_values("[32, 8, 2, 1],[1, 1, 1, 1]") == ["[32, 8, 2, 1]", "[1, 1, 1, 1]"]
    assert split_values("{conv1: 2, conv2: 1}") == ["{conv1: 2, conv2: 1}"]


def test_uniform_replicas_apply_to_every_conv_layer():
    axes = replica_axes(["1,2,4"], None, CONV, ANALOG)
    assert axes == [Axis("replicas", "replicas", ("1", "2", "4"))]
    points = expand("rapa_convnet_32", "rpu", None, axes, ["seed=3"], CONV)
    assert [p.params for p in points] == [{"replicas": "1"}, {"replicas": "2"}, {"replicas": "4"}]
    assert points[2].sets == ("seed=3", "workload.mapping.replicas={conv1: 4, conv2: 4, conv3: 4}")


def test_per_layer_replicas_make_a_product_in_one_override():
    axes = replica_axes(["conv1=1,4", "conv2=1,2"], None, CONV, ANALOG)
    assert [a.name for a in axes] == ["replicas.conv1", "replicas.conv2"]
    points = expand("w", "h", None, axes, [], CONV)
    assert [p.params for p in points] == [
        {"replicas.conv1": "1", "replicas.conv2": "1"}, {"replicas.conv1": "1", "replicas.conv2": "2"},
        {"replicas.conv1": "4", "replicas.conv2": "1"}, {"replicas.conv1": "4", "replicas.conv2": "2"}]
    assert points[3].sets == ("workload.mapping.replicas={conv1: 4, conv2: 2}",)


def test_auto_replicas_with_budgets():
    axes = replica_axes(["auto"], "64,128", CONV, ANALOG)
    points = expand("w", "h", None, axes, [], CONV)
    assert points[1].sets == ("workload.mapping.replicas=auto", "workload.mapping.tile_budget=128")
    assert expand("w", "h", None, replica_axes(["auto"], None, CONV, ANALOG), [], CONV)[0].sets == \
        ("workload.mapping.replicas=auto",)


@pytest.mark.parametrize("replicas, budgets, message", [
    (["1,x"], None, "--replicas 1,x: 'x' is not an integer >= 1"),
    (["0,1"], None, "'0' is not an integer >= 1"),
    (["1,1"], None, "a value appears twice"),
    (["conv9=1,2"], None, "'conv9' is not an analog layer; analog layers are: conv1, conv2, conv3, fc"),
    (["conv1=1", "conv1=2"], None, "layer 'conv1' is given twice"),
    (["1,2", "conv1=1"], None, "not a mix"),
    (["1,2"], "64", "--budgets is only used with --replicas auto"),
    (["auto"], "64,0", "'0' is not an integer >= 1"),
])
def test_replica_option_errors(replicas, budgets, message):
    with pytest.raises(SpecError) as info:
        replica_axes(replicas, budgets, CONV, ANALOG)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_set_axes_split_swept_from_constant():
    axes, constants = set_axes(["seed=1", "hardware.tiles.adc.bits=6,8", "workload.mapping.replicas=[4, 2, 1, 1]"])
    assert axes == [Axis("hardware.tiles.adc.bits", "set", ("6", "8"))]
    assert constants == ["seed=1", "workload.mapping.replicas=[4, 2, 1, 1]"]
    with pytest.raises(SpecError, match="appears twice"):
        set_axes(["seed=1,1"])


def test_strategy_none_means_one_replica_per_layer():
    points = expand("w", "h", None, [Axis("strategy", "strategy", ("image", "none"))], [], CONV)
    assert points[0].sets == ("workload.mapping.strategy=image",)
    assert points[1].sets == ("workload.mapping.strategy=none", "workload.mapping.replicas={}")


def test_ids_are_stable_and_distinct():
    axes = [Axis("replicas", "replicas", ("1", "2")), Axis("seed", "set", ("0", "1"))]
    first = expand("rapa_convnet_32", "rpu", None, axes, [], CONV)
    again = expand("rapa_convnet_32", "rpu", None, axes, [], CONV)
    assert [p.id for p in first] == [p.id for p in again] and len({p.id for p in first}) == 4
    # pinned: --resume of a sweep finds its points across archsim sessions and machines
    assert point_id("rapa_convnet_32", "rpu", None, ("seed=1",), True) == "21725453cc09"
    assert point_id("rapa_convnet_32", "rpu", None, ("seed=1",), False) != \
        point_id("rapa_convnet_32", "rpu", None, ("seed=1",), True)
    # the last axis varies fastest; the hardware axis sets the point's chip
    assert [p.params for p in first][:2] == [{"replicas": "1", "seed": "0"}, {"replicas": "1", "seed": "1"}]
    chips = expand("w", "rpu", None, [Axis("hardware", "hardware", ("rpu", "tiny"))], [], CONV)
    assert [p.hardware for p in chips] == ["rpu", "tiny"]


def test_repeated_points_are_refused():
    with pytest.raises(SpecError, match="two points of this sweep are the same run"):
        expand("w", "h", None, [Axis("seed", "set", ("1", "1"))], [], CONV)
