"""Choosing the behaviour for a device spec, and the interface every device model offers."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from archsim.devices.base import DeviceState
from archsim.devices.ideal import IdealModel
from archsim.devices.pcm import PCMModel
from archsim.devices.rram import RRAMModel
from archsim.spec.devices import Device, IdealDevice, PCMDevice, RRAMDevice


class DeviceModel(Protocol):
    """What `device_model` returns: programming once, then reads at any time t (seconds)."""

    g_min: float
    g_max: float
    levels: int  # programmable levels, 0 = continuous

    def prog_sigma(self, g_target: np.ndarray) -> np.ndarray: ...
    def programmed(self, g_target: np.ndarray, z: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray: ...
    def program(self, g_target: np.ndarray, rng: np.random.Generator) -> DeviceState: ...
    def conductance(self, state: DeviceState, t: float) -> np.ndarray: ...
    def read_sigma(self, state: DeviceState, t: float) -> np.ndarray: ...
    def read(self, state: DeviceState, t: float, rng: np.random.Generator) -> np.ndarray: ...


def device_model(spec: Device) -> DeviceModel:
    """The model implementing a device spec (ideal, pcm or rram)."""
    if isinstance(spec, PCMDevice):
        return PCMModel(spec)
    if isinstance(spec, RRAMDevice):
        return RRAMModel(spec)
    if isinstance(spec, IdealDevice):
        return IdealModel(spec)
    raise TypeError(f"no device model for {type(spec).__name__}; expected IdealDevice, PCMDevice or RRAMDevice")


def read_sigma(spec: Device, state: DeviceState, t: float) -> np.ndarray:
    """Per-device read-noise sigma (S) at time t since programming.

    A kernel can apply exact per-MVM read noise from it: output j of an MVM then gets
    Gaussian noise of variance sum_i x_i^2 sigma_ij^2 (in conductance units; see
    `ProgrammedTile.slice_sigma` for the same in normalised weight units).
    """
    return device_model(spec).read_sigma(state, t)
