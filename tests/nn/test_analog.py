"""Analog execution against the digital reference."""

import numpy as np
import pytest

from archsim.compiler import compile_program
from archsim.data import load_dataset
from archsim.nn import Network, init_params
from archsim.nn.network import PassLog
from archsim.nn.analog import AnalogProduct, ProgrammedChip
from archsim.rng import Stream, generator
from archsim.spec import load_hardware, load_workload


@pytest.fixture(scope="module")
def images():
    return load_dataset("fashion-mnist", "test", limit=100).images  # the shipped subset at least


@pytest.mark.parametrize("strategy", ["random", "image", "alternate", "perforated"])
def test_ideal_devices_and_periphery_reproduce_the_digital_reference(images, strategy):
    """Guards against silent accuracy bugs: every test image gets the same prediction."""
    hw = load_hardware("tiny", ["tiles.count=64"])  # ideal devices, no quantisation, no noise
    program = compile_program(load_workload("rapa_convnet_28", [f"mapping.strategy={strategy}"]), hw, seed=4)
    params = init_params(program, generator(0, Stream.TRAINING, 0), replicated=True)
    digital, _ = Network(program).forward(params, images)
    log = PassLog(keep=0)
    analog, _ = Network(program, AnalogProduct.program_chip(program, params, seed=4, t=3600.0),
                        pass_log=log).forward(params, images)
    assert (analog.argmax(axis=1) == digital.argmax(axis=1)).all()
    assert np.abs(analog - digital).max() <= 1e-5 * np.abs(digital).max()
    assert log.mean() == {"conv1": 1, "conv2": 1, "conv3": 1, "fc": 1}


def test_row_blocks_add_partial_sums_and_bias_row_lands_in_the_last_block(images):
    hw = load_hardware("tiny", ["tiles.rows=64", "tiles.cols=16", "tiles.count=200"])
    program = compile_program(load_workload("lenet"), hw, seed=0)
    fc1 = program.layer("fc1").analog
    assert fc1.row_blocks == 7 and fc1.col_blocks == 8  # 401 x 120 on 64 x 16 arrays
    params = init_params(program, generator(0, Stream.TRAINING, 0))
    params = {k: v + 0.1 if k.endswith(".bias") else v for k, v in params.items()}
    digital, _ = Network(program).forward(params, images[:20])
    analog, _ = Network(program, AnalogProduct.program_chip(program, params, 0, 1.0)).forward(params, images[:20])
    assert np.allclose(analog, digital, rtol=1e-5, atol=1e-5 * np.abs(digital).max())


def test_pcm_noise_changes_outputs_reproducibly(images):
    program = compile_program(load_workload("rapa_convnet_28"), load_hardware("standard_aimc"), seed=0)
    params = init_params(program, generator(0, Stream.TRAINING, 0), replicated=True)
    run = [Network(program, AnalogProduct.program_chip(program, params, 7, 3600.0)).forward(params, images[:30])[0]
           for _ in range(2)]
    other = Network(program, AnalogProduct.program_chip(program, params, 8, 3600.0)).forward(params, images[:30])[0]
    digital = Network(program).forward(params, images[:30])[0]
    assert np.array_equal(run[0], run[1])
    assert not np.array_equal(run[0], other)
    rel = np.abs(run[0] - digital).mean() / np.abs(digital).mean()
    assert 0.005 < rel < 0.5  # noisy, but still the same network


def test_read_noise_is_drawn_per_mvm_or_frozen(images):
    hw = load_hardware("standard_aimc", ["tiles.noise.out_noise=0", "tiles.noise.w_noise=0"])
    program = compile_program(load_workload("rapa_convnet_28"), hw, seed=0)
    params = init_params(program, generator(0, Stream.TRAINING, 0), replicated=True)
    chip = ProgrammedChip.program_all(program, params, seed=3)
    per_mvm = Network(program, chip.read(3600.0))
    frozen = Network(program, chip.read(3600.0, per_mvm=False))
    assert not np.array_equal(per_mvm.forward(params, images[:10])[0], per_mvm.forward(params, images[:10])[0])
    assert np.array_equal(frozen.forward(params, images[:10])[0], frozen.forward(params, images[:10])[0])


def test_numpy_backend_gives_the_numba_results(images):
    """run.backend: numpy runs every tile MVM through the kernels' numpy twins."""
    program = compile_program(load_workload("lenet"), load_hardware("standard_aimc"), seed=0)
    params = init_params(program, generator(0, Stream.TRAINING, 0))
    chip = ProgrammedChip.program_all(program, params, seed=2)
    fast = Network(program, chip.read(3600.0)).forward(params, images[:6])[0]
    slow = Network(program, chip.read(3600.0, backend="numpy")).forward(params, images[:6])[0]
    assert np.allclose(fast, slow, rtol=1e-3, atol=1e-3 * np.abs(fast).max())
    assert (fast.argmax(axis=1) == slow.argmax(axis=1)).all()


def test_tiles_gathering_their_own_patches_give_the_same_bits(images):
    """Evaluation hands the tiles `PatchRows` (the kernel gathers each row as it converts
    it) instead of gathered patches: the same outputs bit for bit, with row blocks
    (windows of the patches) and the bias row in the last block, under PCM noise."""
    hw = load_hardware("standard_aimc", ["tiles.rows=64"])
    program = compile_program(load_workload("rapa_convnet_28"), hw, seed=0)
    assert program.layer("conv2").analog.row_blocks == 13  # 801 rows on 64-row arrays
    params = init_params(program, generator(0, Stream.TRAINING, 0), replicated=True)
    chip = ProgrammedChip.program_all(program, params, seed=5)
    class Recording:  # the chip's product, noting what each call is handed
        def __init__(self, product, takes_rows):
            self.product, self.takes_patch_rows, self.kinds = product, takes_rows, set()

        def __call__(self, plan, replica, patches, kernel):
            self.kinds.add(type(patches).__name__)
            return self.product(plan, replica, patches, kernel)

    outputs = []
    for takes_rows in (True, False):
        product = Recording(chip.read(3600.0), takes_rows)
        outputs.append(Network(program, product).forward(params, images[:12])[0])
        assert product.kinds == ({"PatchRows", "ndarray"} if takes_rows else {"ndarray"})  # fc: a matrix
    assert outputs[0].tobytes() == outputs[1].tobytes()
    kept, _ = Network(program, chip.read(3600.0)).forward(params, images[:12], keep=True)  # for a backward pass
    assert kept.tobytes() == outputs[0].tobytes()
