"""The hardware spec: one chip built from analog tiles, digital units, buffers and a network.

Every field carries its meaning and unit; the YAML form writes quantities with units
("80ns", "1GHz", "64KiB", "2.5pJ") and they are held here in SI base units.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Literal

from archsim.spec.devices import Device, PCMDevice, UpdateDevice, WeightMapping
from archsim.spec.schema import spec_field
from archsim.units import AREA, BANDWIDTH, ENERGY, FREQUENCY, POWER, SIZE, TIME


@dataclass(frozen=True, kw_only=True)
class DAC:
    """Input digital-to-analog converters (one per array row)."""

    bits: int = spec_field(7, doc="resolution; 2**bits - 1 symmetric levels (0 = ideal)", ge=0, le=16)
    range: float = spec_field(1.0, doc="input range +-range after noise management", gt=0)


@dataclass(frozen=True, kw_only=True)
class ADC:
    """Output analog-to-digital converters, shared among the array columns."""

    bits: int = spec_field(9, doc="resolution; 2**bits - 1 symmetric levels (0 = ideal)", ge=0, le=16)
    range: float = spec_field(12.0, doc="output bound +-range in normalised units (aihwkit out_bound)", gt=0)
    count: int = spec_field(1, doc="ADCs per tile; each converts cols/count columns per MVM", ge=1)
    conversion_time: float = spec_field(5e-9, doc="time of one conversion", unit=TIME, gt=0)


class NoiseManagement(str, enum.Enum):
    ABS_MAX = "abs_max"
    CONSTANT = "constant"
    NONE = "none"


class BoundManagement(str, enum.Enum):
    ITERATIVE = "iterative"
    NONE = "none"


class DriftCompensation(str, enum.Enum):
    GLOBAL = "global"
    PER_COLUMN = "per_column"
    NONE = "none"


@dataclass(frozen=True, kw_only=True)
class TileNoise:
    """Periphery non-idealities of one MVM (aihwkit IOParameters, models.md section 5)."""

    out_noise: float = spec_field(0.06, doc="output noise sigma, normalised units", ge=0)
    w_noise: float = spec_field(0.0, doc="output-referred weight read noise sigma", ge=0)
    noise_management: NoiseManagement = spec_field(NoiseManagement.ABS_MAX, doc="input scaling before the DAC")
    nm_constant: float = spec_field(1.0, doc="input scale used when noise_management is constant", gt=0)
    bound_management: BoundManagement = spec_field(BoundManagement.ITERATIVE,
                                                   doc="repeat a saturated MVM with halved input")
    max_passes: int = spec_field(6, doc="most analog passes per input vector under bound management", ge=1)
    input_slices: int = spec_field(1, doc="bit-serial input slices (analog passes per MVM)", ge=1)
    drift_compensation: DriftCompensation = spec_field(DriftCompensation.GLOBAL,
                                                       doc="rescaling of outputs against conductance drift")


@dataclass(frozen=True, kw_only=True)
class Tiles:
    """The analog crossbar tiles; all tiles of a chip are alike."""

    count: int = spec_field(doc="number of analog tiles on the chip", ge=1)
    rows: int = spec_field(doc="array rows (inputs)", ge=1)
    cols: int = spec_field(doc="array columns (outputs), in unit cells of one device pair", ge=1)
    device: Device = spec_field(default_factory=PCMDevice, doc="device model (kind: ideal, pcm or rram)")
    mapping: WeightMapping = spec_field(default_factory=WeightMapping, doc="weight to conductance mapping")
    dac: DAC = spec_field(default_factory=DAC, doc="input DACs")
    adc: ADC = spec_field(default_factory=ADC, doc="output ADCs")
    integration_time: float = spec_field(doc="analog integration time of one MVM pass", unit=TIME, gt=0)
    double_buffered: bool = spec_field(True, doc="load the next input while the current one converts")
    update_pulse_time: float = spec_field(1e-9, doc="duration of one update pulse (training)", unit=TIME, gt=0)
    update: UpdateDevice = spec_field(default_factory=UpdateDevice,
                                      doc="device update model for in-situ training (rpu, mixed-precision, hic)")
    noise: TileNoise = spec_field(default_factory=TileNoise, doc="periphery noise and management")

    def check(self):
        for path, message in self.mapping.level_problems(getattr(self.device, "levels", 0)):
            yield ("mapping", *path), message


class DigitalOp(str, enum.Enum):
    ACCUMULATE = "accumulate"  # partial sums of row blocks
    BIAS = "bias"
    RELU = "relu"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    BATCHNORM = "batchnorm"
    ADD = "add"                # residual add
    MAC = "mac"                # multiply-accumulate for layers kept digital


@dataclass(frozen=True, kw_only=True)
class Digital:
    """Digital processing units (accumulation, activations, pooling, ...)."""

    count: int = spec_field(doc="number of digital units", ge=1)
    ops_per_cycle: int = spec_field(doc="element operations per clock cycle per unit", ge=1)
    operations: tuple[DigitalOp, ...] = spec_field(tuple(DigitalOp), doc="operations the units implement",
                                                   nonempty=True)


@dataclass(frozen=True, kw_only=True)
class Buffer:
    """An SRAM buffer."""

    capacity: float = spec_field(doc="capacity", unit=SIZE, gt=0)
    read_bandwidth: float = spec_field(doc="read bandwidth", unit=BANDWIDTH, gt=0)
    write_bandwidth: float = spec_field(doc="write bandwidth", unit=BANDWIDTH, gt=0)


@dataclass(frozen=True, kw_only=True)
class Buffers:
    """The buffers: one beside each tile, one beside each digital unit, one for chip I/O."""

    tile: Buffer = spec_field(doc="input buffer of each analog tile")
    digital: Buffer = spec_field(doc="buffer of each digital unit")
    io: Buffer = spec_field(doc="chip input/output buffer")


class Topology(str, enum.Enum):
    BUS = "bus"
    MESH = "mesh"


@dataclass(frozen=True, kw_only=True)
class Interconnect:
    """The on-chip network between tiles, digital units and the I/O buffer."""

    topology: Topology = spec_field(Topology.MESH, doc="shared bus or 2D mesh with XY routing")
    mesh_cols: int = spec_field(0, doc="mesh columns (0 = the most square mesh that fits every node)", ge=0)
    link_bandwidth: float = spec_field(doc="bandwidth of one link (the bus, for a bus)", unit=BANDWIDTH, gt=0)
    hop_latency: float = spec_field(doc="latency of one router hop (bus arbitration, for a bus)",
                                    unit=TIME, ge=0)
    flit_bytes: int = spec_field(32, doc="bytes per flit", ge=1)


@dataclass(frozen=True, kw_only=True)
class Energy:
    """Energy of each recorded action (energy = action counts x this table)."""

    mvm: float = spec_field(doc="one analog MVM pass of a whole array (drive and integration)", unit=ENERGY, ge=0)
    dac_conversion: float = spec_field(doc="one DAC conversion (one input element)", unit=ENERGY, ge=0)
    adc_conversion: float = spec_field(doc="one ADC conversion (one output element)", unit=ENERGY, ge=0)
    buffer_read: float = spec_field(doc="reading one byte from a buffer", unit=ENERGY, ge=0)
    buffer_write: float = spec_field(doc="writing one byte to a buffer", unit=ENERGY, ge=0)
    link: float = spec_field(doc="moving one byte over one link or the bus", unit=ENERGY, ge=0)
    digital_op: float = spec_field(doc="one digital element operation", unit=ENERGY, ge=0)
    update_pulse: float = spec_field(0.0, doc="one update pulse on a whole array (training)", unit=ENERGY, ge=0)
    static_power: float = spec_field(0.0, doc="leakage of the whole chip", unit=POWER, ge=0)


@dataclass(frozen=True, kw_only=True)
class Area:
    """Area of each component (chip area = sum over components)."""

    tile: float = spec_field(doc="one analog array with its DACs and drivers", unit=AREA, ge=0)
    adc: float = spec_field(doc="one ADC", unit=AREA, ge=0)
    digital_unit: float = spec_field(doc="one digital unit", unit=AREA, ge=0)
    buffer_per_kib: float = spec_field(doc="one KiB of buffer SRAM", unit=AREA, ge=0)
    router: float = spec_field(doc="one mesh router (or bus interface)", unit=AREA, ge=0)


@dataclass(frozen=True, kw_only=True)
class HardwareSpec:
    """A chip: `name`, `source` (citation) and `notes` (where it deviates) are its provenance."""

    schema_version: Literal[1] = spec_field(doc="version of this spec format (1)")
    name: str = spec_field(doc="short name of the design", nonempty=True)
    source: str = spec_field(doc="citation the parameters come from", nonempty=True)
    notes: str = spec_field("", doc="where this spec deviates from or adds to the source")
    clock: float = spec_field(doc="reference clock; simulated time counts its cycles", unit=FREQUENCY, gt=0)
    tiles: Tiles = spec_field(doc="analog tiles")
    digital: Digital = spec_field(doc="digital units")
    buffers: Buffers = spec_field(doc="SRAM buffers")
    interconnect: Interconnect = spec_field(doc="on-chip network")
    energy: Energy = spec_field(doc="energy per action")
    area: Area = spec_field(doc="area per component")

    def cycles(self, seconds: float) -> int:
        """A duration in whole clock cycles (rounded up: hardware cannot finish early)."""
        return max(0, math.ceil(seconds * self.clock - 1e-9))

    def check(self):
        if self.cycles(self.tiles.integration_time) < 1:
            yield ("tiles", "integration_time"), "must last at least one clock cycle"
