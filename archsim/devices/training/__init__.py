"""Device-update models for in-situ (analog) training: how a tile's devices change when
the network learns on them.

One class per algorithm, all with the small API of `common.UpdateState`:

- ``program(weights, spec, rng, ...)`` (classmethod): a state holding the initial
  weights (R, C) on its devices;
- ``apply(x, d, lr, counter)``: gradient descent by n vector pairs, x (n, R) layer
  inputs and d (n, C) output errors: on average W -= lr x^T d (`MixedPrecision` and
  `HybridPCM` accumulate the summed outer product x^T d);
- ``weights()``: the (R, C) float32 weights the forward and backward MVMs read;
- ``pulses`` (R, C) and ``cycles`` (per physical device): programming pulses and writes,
  for energy and endurance (`endurance_summary`);
- ``to_programmed_tile(device, compensation, rng)``: the trained devices as a
  `ProgrammedTile`, whose ``read(t, rng)`` gives drift and read noise at t after
  training (e.g. 1 h, 1 day, 1 year).

Algorithms (`program_state` picks one by name from a `Tiles` spec):

- ``rpu``: `PulsedDevice`, the stochastic pulse-coincidence update (Gokmen & Vlasov 2016);
- ``mixed-precision``: `MixedPrecision` (Nandakumar et al. 2020);
- ``hic``: `HybridPCM` (Joshi et al. 2021).

The caller derives the programming generator from the run's seed, e.g.
``archsim.rng.generator(seed, Stream.PROGRAMMING, tile)``, and passes a distinct
``counter`` (e.g. the global step) to every ``apply`` of a state.
"""

from __future__ import annotations

import numpy as np

from archsim.devices.training.common import UpdateState, endurance_summary
from archsim.devices.training.hic import HybridPCM
from archsim.devices.training.rpu import MixedPrecision, PulsedDevice, PulsedParameters
from archsim.spec.hardware import Tiles

ALGORITHMS = ("rpu", "mixed-precision", "hic")

__all__ = ["ALGORITHMS", "HybridPCM", "MixedPrecision", "PulsedDevice", "PulsedParameters", "UpdateState",
           "endurance_summary", "program_state"]


def program_state(algorithm: str, weights: np.ndarray, tiles: Tiles, rng: np.random.Generator) -> UpdateState:
    """The device-update state of ``algorithm`` (one of `ALGORITHMS`) holding ``weights``,
    with the update parameters ``tiles.update`` (and for hic ``tiles.mapping.hic`` and
    ``tiles.device``)."""
    if algorithm == "rpu":
        return PulsedDevice.program(weights, tiles.update, rng)
    if algorithm == "mixed-precision":
        return MixedPrecision.program(weights, tiles.update, rng)
    if algorithm == "hic":
        return HybridPCM.program(weights, tiles.update, rng, hic=tiles.mapping.hic, device=tiles.device)
    raise ValueError(f"unknown update algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}")
