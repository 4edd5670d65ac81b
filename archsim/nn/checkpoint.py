"""Training checkpoints: parameters, momentum buffers, epoch and history in one weights file;
for in-situ algorithms also the chip's device states (every device's value, accumulators and
write counts, and the noise counters), pickled beside it, so a resumed run continues on the
same devices exactly as an uninterrupted one.

The weights file commits a checkpoint: the device states of epoch e go first to their own
file (``checkpoint.devices-e<e>.pkl``), then the weights, whose metadata names that file,
and only then is the previous epoch's device file removed. A crash anywhere leaves a
weights file and the device file it names, so a resume continues from the last whole epoch.
"""

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


def devices_path(path: Path, epoch: int | None = None) -> Path:
    """Where the device states of the checkpoint `path` after `epoch` are kept (None: the one
    file of checkpoints written before device files were named by epoch)."""
    path = Path(path)
    return path.with_name(path.stem + (".devices.pkl" if epoch is None else f".devices-e{epoch}.pkl"))


def save_checkpoint(path: Path, state: TrainState, meta: dict) -> None:
    """Written atomically (save_weights) and committed by the weights file, so an interrupted
    run never leaves a broken checkpoint (see the module docstring)."""
    path = Path(path)
    devices = None
    if state.devices is not None:
        devices = devices_path(path, state.epoch)
        saved = {"epoch": state.epoch, "devices": state.devices}
        replace_atomically(devices, lambda tmp: tmp.write_bytes(pickle.dumps(saved, pickle.HIGHEST_PROTOCOL)))
    save_weights(path, {**state.params, **{VELOCITY + k: v for k, v in state.velocity.items()}},
                 {**meta, "epoch": state.epoch, "history": state.history,
                  **({"devices": devices.name} if devices else {})})
    for stale in path.parent.glob(path.stem + ".devices*.pkl"):  # older epochs, or a crash's leftovers
        if stale != devices:
            stale.unlink(missing_ok=True)


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
    # the file the weights name; older checkpoints kept one unnamed file beside them
    where = Path(path).with_name(meta["devices"]) if "devices" in meta else devices_path(path)
    if where.exists():
        with open(where, "rb") as f:
            saved = pickle.load(f)  # our own file, written by save_checkpoint
        if saved["epoch"] != epoch:  # only an old-style checkpoint interrupted between its two writes
            raise DataError(f"{where}: holds the devices after epoch {saved['epoch']}, but {path} "
                            f"the weights after epoch {epoch}; delete both to start again")
        devices = saved["devices"]
    elif "devices" in meta or (epoch > 0 and specs.run.train.algorithm in IN_SITU):
        raise DataError(f"{path}: in-situ training ({specs.run.train.algorithm.value}) resumes on the devices it "
                        f"left, but {where} is missing; without it the devices, their write counts "
                        f"and noise would start again. Restore it, or choose another --out to start again")
    return TrainState(params=params, velocity=velocity, epoch=epoch, history=list(meta["history"]),
                      devices=devices)
