"""Every malformed spec gives located messages (file:line: yaml.path what is wrong), all at once."""


import pytest

from archsim.errors import SpecError
from archsim.spec import load_file, load_hardware, load_run, load_workload, presets

RPU = presets("hardware")["rpu"].read_text()


def problems(fn, *args, **kw) -> list[str]:
    with pytest.raises(SpecError) as info:
        fn(*args, **kw)
    return info.value.problems


def test_hardware_problems_are_all_reported_with_file_line_and_path(write):
    text = (RPU.replace("count: 2048", "count: -4")
               .replace("bits: 9, range: 12.0", "bits: 0x, range: 12.0, bitz: 3")
               .replace("link_bandwidth: 32GB/s", "link_bandwidth: 32GHz"))
    path = write("hw.yaml", text)
    assert problems(load_hardware, path) == [
        f"{path}:16: hardware.tiles.count must be an integer >= 1, not -4",
        f"{path}:22: hardware.tiles.adc.bitz is not a valid key (did you mean 'bits'?); "
        "valid keys are: bits, range, count, conversion_time",
        f"{path}:22: hardware.tiles.adc.bits must be an integer from 0 to 16, not '0x'",
        f"{path}:42: hardware.interconnect.link_bandwidth has unit 'GHz', which is not a unit of bandwidth; "
        "use one of B/s, GB/s, GiB/s, KB/s, KiB/s, MB/s, MiB/s, TB/s, TiB/s, kB/s",
    ]


def test_missing_required_key_says_what_it_means(write):
    path = write("hw.yaml", RPU.replace("clock: 1GHz\n", ""))
    assert problems(load_hardware, path) == [
        f"{path}:1: hardware.clock is required: reference clock; simulated time counts its cycles"]


def test_wrong_types(write):
    path = write("hw.yaml", RPU.replace("double_buffered: true", "double_buffered: yes please")
                 .replace("rows: 4096", "rows: 40.5"))
    assert problems(load_hardware, path) == [
        f"{path}:17: hardware.tiles.rows must be an integer >= 1, not 40.5",
        f"{path}:24: hardware.tiles.double_buffered must be true or false, not 'yes please'",
    ]


def test_unknown_device_kind(write):
    path = write("hw.yaml", RPU.replace("kind: ideal", "kind: pcn"))
    assert problems(load_hardware, path) == [
        f"{path}:19: hardware.tiles.device.kind must be one of ideal, pcm, rram, not 'pcn' (did you mean 'pcm'?)"]


WORKLOAD = """
schema_version: 1
name: broken
input: {shape: [3, 32, 32]}
layers:
  - {name: conv1, op: conv2d, out_channels: 8, kernel: 3, padding: 1}
  - {name: pool, op: maxpool, kernel: 2}
  - {name: fc, op: linear, out_features: 10}
  - {name: add1, op: add, inputs: [conv1, nothere]}
  - {name: conv1, op: relu}
mapping: {replicas: {conv9: 2}}
"""


def test_broken_graph_and_shape_mismatch(write):
    path = write("w.yaml", WORKLOAD)
    assert problems(load_workload, path) == [
        f"{path}:7: workload.layers[2].inputs needs a flat input but gets shape [8, 16, 16]; "
        "insert a flatten layer before it",
        f"{path}:8: workload.layers[3].inputs names 'nothere', which is not a layer; "
        "earlier layers are: input, conv1, pool, fc",
        f"{path}:9: workload.layers[4].name 'conv1' is already the name of layers[0]",
        f"{path}:10: workload.mapping.replicas.conv9 is not an analog layer; analog layers are: conv1, fc",
    ]


def test_residual_shape_mismatch_and_forward_reference(write):
    path = write("w.yaml", """
        schema_version: 1
        name: shapes
        input: {shape: [3, 32, 32]}
        layers:
          - {name: conv1, op: conv2d, out_channels: 8, kernel: 3, padding: 1, inputs: [later]}
          - {name: conv2, op: conv2d, inputs: [input], out_channels: 4, kernel: 3, stride: 2}
          - {name: add, op: add, inputs: [conv2, input]}
          - {name: later, op: relu}
        """)
    assert problems(load_workload, path) == [
        f"{path}:5: workload.layers[0].inputs names 'later', which comes later; "
        "list layers in a topological order",
        f"{path}:7: workload.layers[2].inputs must all have the same shape, got [4, 15, 15], [3, 32, 32]",
    ]


def test_kernel_larger_than_input(write):
    path = write("w.yaml", """
        schema_version: 1
        name: big
        input: {shape: [1, 4, 4]}
        layers:
          - {name: conv1, op: conv2d, out_channels: 8, kernel: 7}
        """)
    assert problems(load_workload, path) == [
        f"{path}:5: workload.layers[0].kernel 7 is larger than the padded input 4x4"]


def test_negative_size_and_bad_enum(write):
    path = write("w.yaml", """
        schema_version: 1
        name: neg
        input: {shape: [1, 28, 28]}
        layers:
          - {name: conv1, op: conv2d, out_channels: -8, kernel: 3}
          - {name: pool, op: maxpol, kernel: 2}
        mapping: {strategy: rand}
        """)
    assert problems(load_workload, path) == [
        f"{path}:5: workload.layers[0].out_channels must be an integer >= 1, not -8",
        f"{path}:6: workload.layers[1].op must be one of conv2d, linear, maxpool, avgpool, relu, batchnorm, "
        "add, flatten, not 'maxpol' (did you mean 'maxpool'?)",
        f"{path}:7: workload.mapping.strategy must be one of random, image, alternate, perforated, none, "
        "not 'rand' (did you mean 'random'?)",
    ]


def test_not_yaml_empty_binary_missing(write, tmp_path):
    assert problems(load_file, write("bad.yaml", "a: [1, 2\n")) == [
        f"{tmp_path / 'bad.yaml'}:2: is not valid YAML: expected ',' or ']', but got '<stream end>'"]
    assert problems(load_file, write("empty.yaml", "")) == [
        f"{tmp_path / 'empty.yaml'}: is empty; expected a YAML mapping"]
    (tmp_path / "bin.yaml").write_bytes(b"\x89PNG\x00\x01\xff")
    assert problems(load_file, tmp_path / "bin.yaml") == [f"{tmp_path / 'bin.yaml'}: is not a text (UTF-8) file"]
    assert problems(load_file, tmp_path / "nothere.yaml") == [f"{tmp_path / 'nothere.yaml'}: no such file"]


def test_duplicate_key_and_unknown_document(write, tmp_path):
    assert problems(load_file, write("dup.yaml", "seed: 1\nseed: 2\n")) == [
        f"{tmp_path / 'dup.yaml'}:2: is not valid YAML: key 'seed' appears twice"]
    assert problems(load_file, write("what.yaml", "colour: blue\n"))[0].endswith(
        "is neither a hardware spec (it would have 'tiles'), a workload (it would have 'layers') nor run "
        "settings (keys schema_version, seed, out, backend, fidelity, images, inference_times, eval_images, read_noise, "
        "programming_repeats, workers, train)")


def test_yaml_is_loaded_safely(write):
    path = write("evil.yaml", "seed: !!python/object/apply:os.system ['echo pwned']\n")
    msgs = problems(load_file, path)
    assert len(msgs) == 1 and "is not valid YAML" in msgs[0] and "python/object/apply" in msgs[0]


def test_set_overrides_are_validated_and_marked():
    msgs = problems(load_run, None, ["seed=-1", "images=0"])
    assert msgs == ["run settings (--set): run.seed must be an integer >= 0, not -1",
                    "run settings (--set): run.images must be an integer >= 1, not 0"]
    assert load_run(None, ["seed=7", "inference_times=[1s, 1h]"]).inference_times == (1.0, 3600.0)


def test_exponent_numbers_without_a_dot_are_numbers(write):
    """`1e-3` is a number in a spec file and in --set (YAML 1.1 would make it a string)."""
    assert load_run(None, ["train.lr=1e-3"]).train.lr == 0.001
    assert load_run(write("run.yaml", "train: {lr: 5E-4, weight_decay: 1e-5}\n")).train.weight_decay == 1e-5


def test_unknown_preset_lists_the_known_ones():
    msgs = problems(load_hardware, "rpv")
    assert msgs == ["rpv: no such file; built-in hardware specs are: hermes, rpu, standard_aimc, tiny"]


def test_every_shipped_spec_is_valid():
    for kind in ("hardware", "workload"):
        for name, path in presets(kind).items():
            found, spec = load_file(path)
            assert found == kind and spec.name == name
            assert not kind == "hardware" or spec.source.strip()


def test_digits_between_device_levels_are_refused_with_the_values_that_fit():
    """hic's multi-level digit and a bit slice's digit must each land on a device level."""
    rram = ["tiles.device.kind=rram", "tiles.device.levels=10"]
    assert problems(load_hardware, "rpu", rram + ["tiles.mapping.representation=hic"]) == [
        f"{presets('hardware')['rpu']}:20: hardware.tiles.mapping.hic.ml_levels must put every multi-level "
        "digit on one of the device's 10 levels: ml_levels - 1 must divide levels - 1 = 9 (allowed ml_levels: "
        "2, 4, 10), not 16"]
    assert problems(load_hardware, "rpu", rram + ["tiles.mapping.representation=bit_sliced",
                                                  "tiles.mapping.bit_slicing.base=5"]) == [
        f"{presets('hardware')['rpu']} (--set): hardware.tiles.mapping.bit_slicing.base needs digits 0..4 on "
        "devices with 10 levels: levels - 1 = 9 must be a multiple of 4"]
    fits = rram + ["tiles.mapping.representation=hic", "tiles.mapping.hic.ml_levels=4"]
    assert load_hardware("rpu", fits).tiles.mapping.hic.ml_levels == 4
    assert load_hardware("rpu", rram).tiles.device.levels == 10  # hic unused: its default does not matter


def test_hic_training_checks_its_digits_against_the_devices():
    """In-situ hic training programs hic's digits whatever the inference representation."""
    from archsim.api import load_specs
    sets = ["hardware.tiles.device.kind=rram", "hardware.tiles.device.levels=10"]
    load_specs("rapa_convnet_28", "rpu", sets=sets)  # inference on differential pairs: fine
    msgs = problems(load_specs, "rapa_convnet_28", "rpu", sets=sets + ["run.train.algorithm=hic"])
    assert msgs == [f"{presets('hardware')['rpu']}: hardware.tiles.mapping.hic.ml_levels must put every "
                    "multi-level digit on one of the device's 10 levels: ml_levels - 1 must divide levels - 1 "
                    "= 9 (allowed ml_levels: 2, 4, 10), not 16 (run.train.algorithm is hic)"]
