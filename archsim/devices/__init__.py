"""Analog device and weight models (numpy, functional, no simulated time).

- `representations`: weight matrix <-> normalised device targets (differential,
  bit-sliced, HIC, bi-scale; per-matrix or per-column scale);
- `ideal`, `pcm`, `rram`: device physics (programming noise, drift, read noise, levels);
- `faults`: stuck-at faults for any device;
- `compensation`: global / per-column drift compensation;
- `tile`: `ProgrammedTile`, the value object tying them together;
- `inputs` (imported on its own, it needs the numba kernels): the input vectors a layer
  drives into its tiles (im2col rows gathered from the feature map, in the order the
  replicas compute them, or `PatchRows` for the MVM kernel to gather).
- `training` (imported on its own, it needs the numba kernels): device-update models of
  in-situ training (rpu pulsed update, mixed precision, hic).

Sources: ../shared/docs/models.md sections 2 to 4 (each module cites its own).
"""

from archsim.devices.base import DeviceState
from archsim.devices.models import DeviceModel, device_model, read_sigma
from archsim.devices.representations import Encoding, decode, encode
from archsim.devices.tile import AnalogSlices, ProgrammedTile, TileRead, program_tile

__all__ = ["AnalogSlices", "DeviceModel", "DeviceState", "Encoding", "ProgrammedTile", "TileRead",
           "decode", "device_model", "encode", "program_tile", "read_sigma"]
