"""Analog execution: the Program's layers computed on programmed, noisy tiles.

Every tile of the Program is programmed with its block of its replica's kernel matrix
(its own programming noise, drawn from (seed, PROGRAMMING, tile)), read at the
inference time t (drift, read noise from (seed, READ, tile, read)), and every MVM goes
through the periphery kernel. Row blocks' partial sums are added digitally, column
blocks concatenated. The product plugs into `Network`, so assignment, perforation and
the digital layers are exactly those of the digital reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from archsim.compiler.program import LayerPlan, Program
from archsim.devices import AnalogSlices, ProgrammedTile, program_tile
from archsim.devices.inputs import PatchRows
from archsim.devices.mvm import tile_mvm
from archsim.nn.network import Params, kernel_matrices
from archsim.rng import Stream, generator, stream_seed


def tile_weights(program: Program, params: Params):
    """((layer, replica, block), physical tile, its float64 block of the replica's kernel
    matrix) for every tile of the Program."""
    for plan in program.analog_layers:
        kernels = kernel_matrices(plan, params)
        for rep in range(plan.analog.replicas):
            for b, block in enumerate(plan.analog.blocks):
                weights = kernels[rep][block.row_start:block.row_stop, block.col_start:block.col_stop]
                yield (plan.name, rep, b), plan.analog.tiles[rep][b], np.asarray(weights, np.float64)


@dataclass(frozen=True)
class ProgrammedChip:
    """Every tile of a Program programmed once (repeat k draws its own programming noise)."""

    program: Program
    tiles: dict[tuple[str, int, int], ProgrammedTile]
    seed: int
    repeat: int

    @classmethod
    def program_all(cls, program: Program, params: Params, seed: int, repeat: int = 0) -> "ProgrammedChip":
        hw_tiles = program.hardware.tiles
        tiles = {key: program_tile(weights, hw_tiles, generator(seed, Stream.PROGRAMMING, tile, repeat))
                 for key, tile, weights in tile_weights(program, params)}
        return cls(program=program, tiles=tiles, seed=seed, repeat=repeat)

    def read(self, t: float, per_mvm: bool = True, backend: str = "numba") -> "AnalogProduct":
        """The chip at t seconds after programming, as a product for `Network`.

        per_mvm: every MVM draws its own device read noise (exact, as an output-referred
        Gaussian of variance sum_i x_i^2 sigma_ij^2, in the kernel); otherwise one read
        realisation is frozen for the whole evaluation (as aihwkit's drifted weights).
        """
        reads, sigmas = {}, {}
        key_t = int(round(t * 1e3))
        for key, tile in self.tiles.items():
            physical = self.program.layer(key[0]).analog.tiles[key[1]][key[2]]
            rng = generator(self.seed, Stream.READ, physical, self.repeat, key_t)
            if per_mvm:
                reads[key] = tile.mean_read(t, rng).slices()
                sigma = tile.slice_sigma(t)
                sigmas[key] = sigma if sigma.any() else None
            else:
                reads[key] = tile.read(t, rng).slices()
        return AnalogProduct(program=self.program, reads=reads, sigmas=sigmas, backend=backend,
                             seed=stream_seed(self.seed, Stream.MVM, self.repeat, key_t))


@dataclass
class AnalogProduct:
    """A `ReplicaProduct` computing on the programmed tiles of `program` read at time `t`."""

    program: Program
    reads: dict[tuple[str, int, int], AnalogSlices]
    seed: int
    sigmas: dict[tuple[str, int, int], np.ndarray | None] = field(default_factory=dict)  # per-MVM read noise
    backend: str = "numba"  # or "numpy": the kernels' slow twins, for cross-checks
    calls: int = 0

    last_passes: np.ndarray | None = None  # passes of each row of the latest call (Network's PassLog reads it)
    takes_patch_rows = True  # Network may hand it `PatchRows` (gathered by the kernel) instead of patches

    @classmethod
    def program_chip(cls, program: Program, params: Params, seed: int, t: float, repeat: int = 0,
                     per_mvm: bool = True) -> "AnalogProduct":
        """Program every tile with `params` and read the chip at time t after programming."""
        return ProgrammedChip.program_all(program, params, seed, repeat).read(t, per_mvm)

    def reserve_chunks(self, chunks: int) -> int:
        """Noise counters for an evaluation of `chunks` chunks; returns the first. Chunk i
        draws from base + i * T ... base + i * T + T - 1 (T tiles; a forward pass drives
        every tile at most once), so its noise does not depend on which process computes
        it, and later evaluations and MVMs draw past the reserved range."""
        base = self.calls
        self.calls = base + chunks * len(self.reads)
        return base

    def start_chunk(self, base: int, index: int) -> None:
        """Draw the noise of chunk `index` of the evaluation that reserved from `base`."""
        self.calls = base + index * len(self.reads)

    def __call__(self, plan: LayerPlan, replica: int, patches: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        def block_mvm(b: int, x: np.ndarray):
            key = (plan.name, replica, b)
            y = tile_mvm(self.reads[key], x, self.program.hardware.tiles, seed=self.seed, counter=self.calls,
                         read_sigma=self.sigmas.get(key), backend=self.backend)
            self.calls += 1
            return y

        out, self.last_passes = replica_mvm(plan, patches, block_mvm)
        return out


def replica_mvm(plan: LayerPlan, patches: np.ndarray | PatchRows, block_mvm) -> tuple[np.ndarray, np.ndarray]:
    """One replica's patches (n, rows without the bias row; or `PatchRows`) through its row/column blocks:
    `block_mvm(b, x)` -> (y, passes) computes block b's MVM. A block holding the bias row
    gets a constant-1 input column; row blocks' partial sums add digitally, column blocks
    fill their own outputs. Returns the (n, cols) output and the passes of each patch (a
    replica's blocks work in parallel: the most any of them needed)."""
    a = plan.analog
    out = (np.zeros if a.row_blocks > 1 else np.empty)((len(patches), a.matrix_cols), dtype=np.float32)
    passes = np.zeros(len(patches), dtype=np.int32)
    for b, block in enumerate(a.blocks):
        stop = block.row_start + a.data_rows(block)
        bias = stop < block.row_stop  # this block holds the bias row, driven by a constant 1
        if isinstance(patches, PatchRows):
            x = patches.window(block.row_start, stop, bias)
        else:
            x = patches[:, block.row_start:stop]
            if bias:
                x = np.concatenate([x, np.ones((len(x), 1), x.dtype)], axis=1)
        y, p = block_mvm(b, x)
        if a.row_blocks > 1:
            out[:, block.col_start:block.col_stop] += y
        else:
            out[:, block.col_start:block.col_stop] = y
        passes = np.maximum(passes, p)
    return out, passes
