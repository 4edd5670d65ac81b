"""In-situ analog training (`train.algorithm`: rpu, mixed-precision, hic).

Every tile of the Program (layer, replica, row/column block) holds the device state of the
algorithm (`archsim.devices.training`), programmed with its block of the initial kernel
matrix. A training step then runs, as the chip would:
- the forward MVMs through each tile's periphery (DAC, output noise, ADC, bound
  management) on the devices' current weights;
- the backward MVMs through the same tiles driven backwards (`tile_mvm_transposed`);
- the update of every tile from its replica's (x, d) pairs (x the patches with the
  constant-1 bias input, d the output errors): W -= lr x^T d on average, by stochastic
  pulse coincidences (rpu), or through a digital accumulator that moves whole device
  steps (mixed-precision) or a low-precision one with carries into binary PCM (hic).
Layers without tiles, digital biases and batch norm learn by digital SGD with momentum.

Learning rate: the devices take no momentum, so they step by lr / (1 - momentum), the
steady-state step of momentum SGD, and a run compares like with like against `sgd` at the
same --lr. A replica's step is multiplied by its layer's replica count (it sees 1/n of the
patches) unless `run.train.replica_gradient` is `own`, as in digital RAPA training.

Tile weights are read in the units the periphery expects: rpu and mixed-precision devices
hold weights in device units (bounds about +-0.6, as aihwkit), read as they are; a hic
tile is normalised by its full-scale weight range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.compiler.program import LayerPlan, Program
from archsim.devices import AnalogSlices
from archsim.devices.inputs import PatchRows
from archsim.devices.mvm import tile_mvm, tile_mvm_transposed
from archsim.devices.training import UpdateState, endurance_summary, program_state
from archsim.nn.analog import replica_mvm, tile_weights
from archsim.nn.network import Params, params_from_kernels
from archsim.rng import Stream, generator, stream_seed

Key = tuple[str, int, int]  # (layer, replica, block)


@dataclass
class InSituChip:
    """The device states of every tile, and the chip's forward, backward and update."""

    program: Program
    states: dict[Key, UpdateState]
    seed: int
    backend: str = "numba"
    calls: int = 0          # MVMs so far: each draws its own periphery noise
    updates: int = 0        # device updates so far: each draws its own pulses
    lr: float = 0.0         # the devices' learning rate for the current step
    scale_replicas: bool = True  # a replica's step times its layer's replica count (replica_gradient)
    takes_patch_rows = True  # evaluations hand it `PatchRows` (the kernel gathers them): see Network

    @classmethod
    def program_all(cls, program: Program, params: Params, algorithm: str, seed: int, *,
                    backend: str = "numba", scale_replicas: bool = True) -> "InSituChip":
        tiles = program.hardware.tiles
        states = {key: program_state(algorithm, weights, tiles, generator(seed, Stream.PROGRAMMING, tile, 1))
                  for key, tile, weights in tile_weights(program, params)}
        return cls(program=program, states=states, seed=seed, backend=backend, scale_replicas=scale_replicas)

    @property
    def mvm_seed(self) -> int:
        """The periphery noise stream of every MVM (counter: `calls`)."""
        return stream_seed(self.seed, Stream.MVM, 1_000_003)

    def devices(self) -> dict:
        """What a resumed run needs to continue exactly: every device state and both counters."""
        return {"states": self.states, "calls": self.calls, "updates": self.updates}

    @classmethod
    def resume(cls, program: Program, seed: int, devices: dict, *, backend: str = "numba",
               scale_replicas: bool = True) -> "InSituChip":
        """The chip `devices()` describes, continuing where it stopped."""
        return cls(program=program, seed=seed, backend=backend, scale_replicas=scale_replicas, **devices)

    # -- reading the devices -------------------------------------------------------------------
    def _slices(self, key: Key) -> AnalogSlices:
        state = self.states[key]
        full = float(getattr(state, "w_range", 1.0))  # hic: normalise by the full-scale range
        w = state.weights()
        return AnalogSlices(weights=(w / full if full != 1.0 else w)[None].astype(np.float32, copy=False),
                            coeff=np.ones(1), out_scale=np.full(w.shape[1], full))

    def kernel(self, plan: LayerPlan, replica: int) -> np.ndarray:
        """The replica's whole kernel matrix as its devices hold it now (rows incl. bias row)."""
        a = plan.analog
        k = np.zeros((a.matrix_rows, a.matrix_cols), np.float32)
        for b, block in enumerate(a.blocks):
            k[block.row_start:block.row_stop, block.col_start:block.col_stop] = self.states[plan.name, replica, b].weights()
        return k

    def read_params(self, params: Params) -> Params:
        """`params` with every analog layer's weights (and array-row biases) read from the devices."""
        out = dict(params)
        for plan in self.program.analog_layers:
            out.update(params_from_kernels(plan, [self.kernel(plan, r) for r in range(plan.analog.replicas)], params))
        return out

    # -- the three operations ------------------------------------------------------------------
    def __call__(self, plan: LayerPlan, replica: int, patches: np.ndarray | PatchRows, kernel: np.ndarray) -> np.ndarray:
        """Forward MVMs of one replica's patches (a `ReplicaProduct` for `Network`; the
        devices' own weights, not `kernel`, are used)."""
        def block_mvm(b: int, x: np.ndarray):
            return tile_mvm(self._slices((plan.name, replica, b)), x, self.program.hardware.tiles,
                            seed=self.mvm_seed, counter=self._next_call(), backend=self.backend)

        return replica_mvm(plan, patches, block_mvm)[0]

    def transposed(self, plan: LayerPlan, replica: int, d: np.ndarray) -> np.ndarray:
        """Backward MVMs: d (n, C) @ K.T through the tiles, without the bias row (n, rows)."""
        a = plan.analog
        width = a.data_rows()
        out = np.zeros((len(d), a.matrix_rows), dtype=np.float32)
        for b, block in enumerate(a.blocks):
            x, _ = tile_mvm_transposed(self._slices((plan.name, replica, b)), d[:, block.col_start:block.col_stop],
                                       self.program.hardware.tiles, seed=self.mvm_seed, counter=self._next_call(),
                                       backend=self.backend)
            out[:, block.row_start:block.row_stop] += x  # column blocks' partial sums add digitally
        return out[:, :width]

    def update(self, plan: LayerPlan, replica: int, x: np.ndarray, d: np.ndarray) -> None:
        """Every tile of the replica learns from its rows of x and columns of d."""
        if len(x) == 0:
            return
        if not (np.isfinite(x).all() and np.isfinite(d).all()):
            raise FloatingPointError(f"non-finite inputs or errors at layer {plan.name}")
        lr = self.lr * (plan.analog.replicas if self.scale_replicas else 1)  # it sees 1/n of the patches
        for b, block in enumerate(plan.analog.blocks):
            self.states[plan.name, replica, b].apply(
                np.ascontiguousarray(x[:, block.row_start:block.row_stop], np.float32),
                np.ascontiguousarray(d[:, block.col_start:block.col_stop], np.float32), lr, self.updates)
            self.updates += 1

    def _next_call(self) -> int:
        self.calls += 1
        return self.calls - 1

    # -- endurance and drift ---------------------------------------------------------------------
    def writes(self) -> dict:
        """Pulses applied and write-erase cycles per physical device (max, mean, fractions of the
        spec's endurance, and a histogram with power-of-two bin edges)."""
        cycles = np.concatenate([np.ravel(s.cycles) for s in self.states.values()])
        pulses = int(sum(int(s.pulses.sum()) for s in self.states.values()))
        top = max(1, int(cycles.max()) if cycles.size else 1)
        edges = np.concatenate([[0], 2.0 ** np.arange(0, int(np.ceil(np.log2(top))) + 2)])
        counts, _ = np.histogram(cycles, bins=edges)
        return {"pulses": pulses, "devices": int(cycles.size),
                **endurance_summary(cycles, self.program.hardware.tiles.update.endurance),
                "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}

    def programmed_tiles(self) -> dict:
        """Every trained tile as a `ProgrammedTile` of the spec's device (t = 0: end of training)."""
        tiles = self.program.hardware.tiles
        out = {}
        for key, state in self.states.items():
            physical = self.program.layer(key[0]).analog.tiles[key[1]][key[2]]
            out[key] = state.to_programmed_tile(tiles.device, tiles.noise.drift_compensation,
                                                generator(self.seed, Stream.PROGRAMMING, physical, 2))
        return out
