"""In-situ analog training: the chip's forward, backward and update are the network's own
(checked with an ideal periphery), and every device algorithm learns."""

import numpy as np
import pytest

from archsim.errors import ArchsimError
from archsim.nn import Network, init_params
from archsim.nn import functional as F
from archsim.nn.analog_train import InSituChip
from archsim.nn.train import train
from archsim.spec import load_run
from synthetic_bars import bars, compiled


@pytest.fixture(scope="module")
def setup():
    program = compiled()  # tiny chip: ideal devices, ideal converters, no noise
    params = init_params(program, np.random.default_rng(0), replicated=True)
    x, y = bars(12, 0)
    return program, params, x, y


@pytest.mark.parametrize("strategy", ["random", "image", "alternate", "perforated"])
@pytest.mark.parametrize("algorithm", ["rpu", "mixed-precision", "hic"])
def test_chip_forward_and_backward_are_the_networks(setup, algorithm, strategy):
    """Every algorithm with every RAPA assignment strategy."""
    _, _, x, y = setup
    program = compiled(mapping={"replicas": {"conv1": 4}, "strategy": strategy})
    params = init_params(program, np.random.default_rng(0), replicated=True)
    chip = InSituChip.program_all(program, params, algorithm, seed=0)
    held = chip.read_params(params)  # what the devices hold (hic rounds to its grid)
    ids = np.arange(len(x))
    digital, analog = Network(program), Network(program, chip, transposed=chip.transposed)
    ref, tape_ref = digital.forward(held, x, ids, train=True)
    out, tape = analog.forward(held, x, ids, train=True)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    _, dlogits = F.softmax_cross_entropy(ref, y)
    seen = {}
    grads = analog.backward(held, tape, dlogits, input_grad=True,
                            outer=lambda plan, rep, xs, ds: seen.setdefault((plan.name, rep), (xs, ds)))
    expected = digital.backward(held, tape_ref, dlogits, input_grad=True)
    np.testing.assert_allclose(grads["input"], expected["input"], rtol=1e-3, atol=1e-6)  # transposed MVMs
    assert "conv1.weight" not in grads and "fc.weight" not in grads  # the devices learn those
    for (name, rep), (xs, ds) in seen.items():  # the pairs the devices get sum to the true gradient
        dk = xs.T @ ds
        w = expected[f"{name}.weight"]
        ndim = 4 if name.startswith("conv") else 2
        full = w[rep] if w.ndim > ndim else w
        rows = int(np.prod(full.shape[1:]))
        np.testing.assert_allclose(F.kernel_weight(dk[:rows], full.shape), full, rtol=1e-4, atol=1e-6)


def test_outer_gets_every_analog_layer_with_the_digital_product(setup):
    """A digital network handed `outer` gives the pairs of every analog layer, also those it
    computed ungrouped (one shared kernel: fc here), and they sum to the true gradient."""
    program, params, x, y = setup
    net = Network(program)
    logits, tape = net.forward(params, x, np.arange(len(x)), train=True)
    _, dlogits = F.softmax_cross_entropy(logits, y)
    expected = net.backward(params, tape, dlogits)
    seen = {}
    net.backward(params, tape, dlogits, outer=lambda plan, rep, xs, ds: seen.setdefault(plan.name, []).append(
        xs.T @ ds))
    assert set(seen) == {plan.name for plan in program.analog_layers}
    dk = sum(seen["fc"])
    np.testing.assert_allclose(dk[:-1].T, expected["fc.weight"], rtol=1e-5, atol=1e-7)  # with the bias row
    np.testing.assert_allclose(dk[-1], expected["fc.bias"], rtol=1e-5, atol=1e-7)


def test_backward_pass_reads_the_weights_before_their_update(setup):
    """As on the chip (forward, backward, then update), every layer's errors travel back
    through the weights the forward pass used, even though its devices learn on the way:
    the input gradient equals the digital one at the pre-update weights."""
    program, params, x, y = setup
    chip = InSituChip.program_all(program, params, "mixed-precision", seed=0)
    chip.lr = 5.0  # large steps: reading updated weights would change dx by far more than rtol
    held = chip.read_params(params)
    ids = np.arange(len(x))
    digital, analog = Network(program), Network(program, chip, transposed=chip.transposed)
    ref, tape_ref = digital.forward(held, x, ids, train=True)
    _, dlogits = F.softmax_cross_entropy(ref, y)
    expected = digital.backward(held, tape_ref, dlogits, input_grad=True)["input"]
    _, tape = analog.forward(held, x, ids, train=True)
    got = analog.backward(held, tape, dlogits, input_grad=True, outer=chip.update)["input"]
    assert not np.allclose(chip.read_params(params)["fc.weight"], held["fc.weight"])  # they learned
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


def test_chip_evaluation_on_kernel_gathered_patches_gives_the_same_bits(setup):
    """Evaluating the chip (no backward pass) hands its tiles PatchRows: the same outputs as
    gathered patches, with the same noise counters."""
    program, params, x, _ = setup
    outputs = []
    for takes_rows in (True, False):
        chip = InSituChip.program_all(program, params, "rpu", seed=0)
        chip.takes_patch_rows = takes_rows
        outputs.append(Network(program, chip).forward(params, x)[0])
    assert outputs[0].tobytes() == outputs[1].tobytes()


def test_read_params_round_trip(setup):
    """The devices hold the programmed weights (up to their bounds and programming variation)."""
    program, params, _, _ = setup
    chip = InSituChip.program_all(program, params, "mixed-precision", seed=0)
    held = chip.read_params(params)
    for key in params:
        assert held[key].shape == params[key].shape
        if key.endswith(".weight"):
            assert np.corrcoef(held[key].ravel(), params[key].ravel())[0, 1] > 0.95


@pytest.mark.parametrize("algorithm", ["rpu", "mixed-precision", "hic"])
def test_every_device_algorithm_learns_and_reports_writes(algorithm):
    (tx, ty), (vx, vy) = bars(800, 0), bars(150, 1)
    s = load_run(None, [f"train.algorithm={algorithm}", "train.epochs=3", "train.batch_size=32",
                        "train.lr=0.005"]).train
    state = train(compiled(), tx, ty, vx, vy, s, seed=0)
    last = state.history[-1]
    assert last["test_accuracy"] > 0.85 and last["analog_test_accuracy"] > 0.85
    writes = last["writes"]
    assert writes["pulses"] > 0 and 0 < writes["max"] and writes["max_fraction"] == writes["max"] / 1e8
    assert sum(writes["histogram"]["counts"]) == writes["devices"]
    assert set(last["after_drift"]) == {"1h", "1d", "1y"}
    again = train(compiled(), tx, ty, vx, vy, s, seed=0)  # one seed, the same numbers
    assert all(np.array_equal(state.params[k], again.params[k]) for k in state.params)


def test_divergence_is_a_clear_error():
    (tx, ty), (vx, vy) = bars(128, 0), bars(32, 1)
    s = load_run(None, ["train.epochs=1", "train.batch_size=32", "train.lr=1e8"]).train
    with pytest.raises(ArchsimError, match="diverged.*lower run.train.lr"):
        train(compiled(), tx, ty, vx, vy, s, seed=0)


@pytest.mark.parametrize("algorithm", ["rpu", "hic"])
def test_resumed_in_situ_run_continues_on_the_same_devices(algorithm, tmp_path, monkeypatch):
    """A run killed while writing its epoch-2 checkpoint resumes from epoch 1 and ends exactly
    where the uninterrupted run did: weights, history, and every device's write count."""
    from types import SimpleNamespace

    from archsim.errors import DataError
    from archsim.data.weights import load_weights, save_weights
    from archsim.nn.checkpoint import devices_path, load_checkpoint, save_checkpoint
    (tx, ty), (vx, vy) = bars(160, 0), bars(40, 1)
    s = load_run(None, [f"train.algorithm={algorithm}", "train.epochs=2", "train.batch_size=32",
                        "train.lr=0.005"]).train
    from archsim.spec import to_plain
    meta = {"workload": "bars", "hardware": "tiny", "seed": 0, "train": to_plain(s)}
    ckpt = tmp_path / "checkpoint.npz"

    def checkpoint(state):
        if state.epoch == 1:
            save_checkpoint(ckpt, state, meta)
        else:  # killed between the device file and the weights that commit it
            with monkeypatch.context() as m:
                m.setattr("archsim.nn.checkpoint.save_weights", crash)
                with pytest.raises(KeyboardInterrupt):
                    save_checkpoint(ckpt, state, meta)

    def crash(*args):
        raise KeyboardInterrupt

    full = train(compiled(), tx, ty, vx, vy, s, seed=0, checkpoint=checkpoint)
    assert devices_path(ckpt, 2).exists()  # written, but not committed
    specs = SimpleNamespace(workload=SimpleNamespace(name="bars"), hardware=SimpleNamespace(name="tiny"),
                            run=SimpleNamespace(seed=0, train=s))
    state = load_checkpoint(ckpt, specs)
    assert state.epoch == 1 and state.devices is not None
    resumed = train(compiled(), tx, ty, vx, vy, s, seed=0, state=state,
                    checkpoint=lambda st: save_checkpoint(ckpt, st, meta))
    assert all(np.array_equal(full.params[k], resumed.params[k]) for k in full.params)
    assert resumed.history == full.history  # incl. the writes, counted from the start of training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.devices-e2.pkl", "checkpoint.npz"]
    state = load_checkpoint(ckpt, specs)  # the new checkpoint replaced the old one
    assert state.epoch == 2 and all(np.array_equal(full.params[k], state.params[k]) for k in full.params)
    # other training settings would mix two runs: refused, naming them; more epochs continue
    for other in (["train.algorithm=sgd"], ["train.lr=0.01", "train.replica_gradient=own"]):
        changed = load_run(None, [f"train.algorithm={algorithm}", "train.epochs=2", "train.batch_size=32",
                                  "train.lr=0.005", *other]).train
        with pytest.raises(DataError, match="other run.train settings .*" + other[0].split(".")[1].split("=")[0]):
            load_checkpoint(ckpt, SimpleNamespace(**{**vars(specs), "run": SimpleNamespace(seed=0, train=changed)}))
    longer = load_run(None, [f"train.algorithm={algorithm}", "train.epochs=5", "train.batch_size=32",
                             "train.lr=0.005"]).train
    assert load_checkpoint(ckpt, SimpleNamespace(**{**vars(specs), "run": SimpleNamespace(seed=0, train=longer)}))
    # a checkpoint from before a setting existed resumes when the setting keeps its default
    arrays, old_meta = load_weights(ckpt)
    del old_meta["train"]["replica_gradient"]
    save_weights(ckpt, arrays, old_meta)
    assert load_checkpoint(ckpt, specs).epoch == 2
    # a checkpoint from before device files were named by epoch: one unnamed file
    del old_meta["devices"]
    save_weights(ckpt, arrays, old_meta)
    devices_path(ckpt, 2).rename(devices_path(ckpt))
    assert load_checkpoint(ckpt, specs).epoch == 2
    devices_path(ckpt).unlink()  # the weights alone would restart the devices: refused
    with pytest.raises(DataError, match="is missing"):
        load_checkpoint(ckpt, specs)
