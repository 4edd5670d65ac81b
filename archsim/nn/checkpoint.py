"""Training checkpoints: parameters, momentum buffers, epoch and history in one weights file."""

from __future__ import annotations

from pathlib import Path

from archsim.data.weights import load_weights, save_weights
from archsim.errors import DataError
from archsim.nn.train import TrainState

VELOCITY = "velocity/"


def save_checkpoint(path: Path, state: TrainState, meta: dict) -> None:
    """Written atomically (save_weights), so an interrupted run never leaves a broken checkpoint."""
    save_weights(path, {**state.params, **{VELOCITY + k: v for k, v in state.velocity.items()}},
                 {**meta, "epoch": state.epoch, "history": state.history})


def load_checkpoint(path: Path, specs) -> TrainState:
    """Continue a run: the checkpoint must come from the same workload, hardware and seed."""
    arrays, meta = load_weights(path)
    found = (meta.get("workload"), meta.get("hardware"), meta.get("seed"))
    if found != (specs.workload.name, specs.hardware.name, specs.run.seed):
        raise DataError(f"{path}: was written for workload '{found[0]}' on '{found[1]}' with seed {found[2]}; "
                        f"resume with the same ones or choose another --out")
    params = {k: v for k, v in arrays.items() if not k.startswith(VELOCITY)}
    velocity = {k[len(VELOCITY):]: v for k, v in arrays.items() if k.startswith(VELOCITY)}
    return TrainState(params=params, velocity=velocity, epoch=int(meta["epoch"]), history=list(meta["history"]))
