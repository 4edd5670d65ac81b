"""Training checkpoints: parameters, momentum buffers, epoch and history in one weights file;
for in-situ algorithms also the chip's device states (every device's value, accumulators and
write counts, and the noise counters), pickled beside it, so a resumed run continues on the
same devices exactly as an uninterrupted one."""

from __future__ import annotations

import pickle
from pathlib import Path

from archsim.data.weights import load_weights, save_weights
from archsim.errors import DataError
from archsim.files import replace_atomically
from archsim.nn.train import IN_SITU, TrainState
from archsim.spec import to_plain
from archsim.spec.run import TrainSettings

VELOCITY = "velocity/"


def devices_path(path: Path) -> Path:
    """Where the device states of the checkpoint `path` are kept."""
    path = Path(path)
    return path.with_name(path.stem + ".devices.pkl")


def save_checkpoint(path: Path, state: TrainState, meta: dict) -> None:
    """Written atomically (save_weights), so an interrupted run never leaves a broken checkpoint;
    the device states first, tagged with their epoch: a crash between the two writes leaves them
    one epoch ahead of the weights, which `load_checkpoint` refuses rather than mix the two."""
    if state.devices is not None:
        saved = {"epoch": state.epoch, "devices": state.devices}
        replace_atomically(devices_path(path), lambda tmp: tmp.write_bytes(pickle.dumps(saved, pickle.HIGHEST_PROTOCOL)))
    save_weights(path, {**state.params, **{VELOCITY + k: v for k, v in state.velocity.items()}},
                 {**meta, "epoch": state.epoch, "history": state.history})


def load_checkpoint(path: Path, specs) -> TrainState:
    """Continue a run: the checkpoint must come from the same workload, hardware, seed and
    training settings (only the number of epochs may grow)."""
    arrays, meta = load_weights(path)
    found = (meta.get("workload"), meta.get("hardware"), meta.get("seed"))
    if found != (specs.workload.name, specs.hardware.name, specs.run.seed):
        raise DataError(f"{path}: was written for workload '{found[0]}' on '{found[1]}' with seed {found[2]}; "
                        f"resume with the same ones or choose another --out")
    # a setting added since the checkpoint was written had its default then (the old behaviour)
    before, now = {**to_plain(TrainSettings()), **meta.get("train", {})}, to_plain(specs.run.train)
    changed = sorted(k for k in now.keys() | before.keys() if k != "epochs" and before.get(k) != now.get(k))
    if changed:
        raise DataError(f"{path}: was trained with other run.train settings ("
                        + ", ".join(f"{k}: {before.get(k)!r}, now {now.get(k)!r}" for k in changed)
                        + "); resume with the same ones or choose another --out")
    params = {k: v for k, v in arrays.items() if not k.startswith(VELOCITY)}
    velocity = {k[len(VELOCITY):]: v for k, v in arrays.items() if k.startswith(VELOCITY)}
    epoch = int(meta["epoch"])
    devices = None
    if devices_path(path).exists():
        with open(devices_path(path), "rb") as f:
            saved = pickle.load(f)  # our own file, written by save_checkpoint
        if saved["epoch"] != epoch:
            raise DataError(f"{devices_path(path)}: holds the devices after epoch {saved['epoch']}, but {path} "
                            f"the weights after epoch {epoch}; delete both to start again")
        devices = saved["devices"]
    elif epoch > 0 and specs.run.train.algorithm in IN_SITU:
        raise DataError(f"{path}: in-situ training ({specs.run.train.algorithm.value}) resumes on the devices it "
                        f"left, but {devices_path(path)} is missing; without it the devices, their write counts "
                        f"and noise would start again. Restore it, or choose another --out to start again")
    return TrainState(params=params, velocity=velocity, epoch=epoch, history=list(meta["history"]),
                      devices=devices)
