"""Device and weight-representation parameters of an analog tile (configuration only).

The behaviour (programming, drift, read noise) lives in `archsim.devices`; these classes
only say which model and with which constants. Defaults cite their sources
(../shared/docs/models.md sections 2 to 4).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Literal, Union

from archsim.spec.schema import spec_field
from archsim.units import CONDUCTANCE, TIME


@dataclass(frozen=True, kw_only=True)
class StuckAt:
    """Stuck-at faults, drawn once per device at programming."""

    zero_rate: float = spec_field(0.0, doc="fraction of devices stuck at 0 conductance", ge=0, le=1)
    gmax_rate: float = spec_field(0.0, doc="fraction of devices stuck at g_max", ge=0, le=1)

    def check(self):
        if self.zero_rate + self.gmax_rate > 1:
            yield ("gmax_rate",), "plus zero_rate must not exceed 1"


@dataclass(frozen=True, kw_only=True)
class IdealDevice:
    """A device that holds exactly the conductance it is programmed to."""

    kind: Literal["ideal"] = "ideal"
    g_max: float = spec_field(25e-6, doc="maximum conductance", unit=CONDUCTANCE, gt=0)
    stuck: StuckAt = spec_field(default_factory=StuckAt, doc="stuck-at fault rates")


@dataclass(frozen=True, kw_only=True)
class PCMDevice:
    """Phase-change memory, statistical model of Nandakumar 2019 / Joshi 2020 as in aihwkit.

    Programming noise, drift nu per device and 1/f read noise follow models.md section 4;
    the `*_scale` factors multiply the published sigmas (1 = published device).
    """

    kind: Literal["pcm"] = "pcm"
    g_max: float = spec_field(25e-6, doc="maximum conductance (published model: 25 uS)",
                              unit=CONDUCTANCE, gt=0)
    prog_noise_scale: float = spec_field(1.0, doc="multiplier on the programming-noise sigma", ge=0)
    read_noise_scale: float = spec_field(1.0, doc="multiplier on the 1/f read-noise sigma", ge=0)
    drift_scale: float = spec_field(1.0, doc="multiplier on the drift exponent nu", ge=0)
    t0: float = spec_field(20.0, doc="drift reference time after programming", unit=TIME, gt=0)
    t_read: float = spec_field(250e-9, doc="duration of one read (1/f noise integration)", unit=TIME, gt=0)
    stuck: StuckAt = spec_field(default_factory=StuckAt, doc="stuck-at fault rates")


class ProgNoiseMode(str, enum.Enum):
    STATE_INDEPENDENT = "state_independent"
    STATE_PROPORTIONAL = "state_proportional"


@dataclass(frozen=True, kw_only=True)
class RRAMDevice:
    """A generic resistive RAM device: discrete levels, programming and read noise.

    Noise sigmas are relative to g_max (state independent) or to the target
    conductance (state proportional); read noise is relative to the conductance read.
    """

    kind: Literal["rram"] = "rram"
    g_max: float = spec_field(100e-6, doc="maximum conductance", unit=CONDUCTANCE, gt=0)
    g_min: float = spec_field(0.0, doc="minimum (off) conductance", unit=CONDUCTANCE, ge=0)
    levels: int = spec_field(0, doc="programmable conductance levels (0 = continuous)", ge=0)
    prog_noise: float = spec_field(0.03, doc="programming noise sigma, relative", ge=0)
    prog_noise_mode: ProgNoiseMode = spec_field(ProgNoiseMode.STATE_INDEPENDENT,
                                                doc="whether programming noise scales with the state")
    read_noise: float = spec_field(0.01, doc="read noise sigma relative to the conductance read", ge=0)
    stuck: StuckAt = spec_field(default_factory=StuckAt, doc="stuck-at fault rates")

    def check(self):
        if self.g_min >= self.g_max:
            yield ("g_min",), "must be below g_max"
        if self.levels == 1:
            yield ("levels",), "must be 0 (continuous) or at least 2"


Device = Union[IdealDevice, PCMDevice, RRAMDevice]


class Rounding(str, enum.Enum):
    NEAREST = "nearest"        # round half to even
    STOCHASTIC = "stochastic"  # round up with probability equal to the fraction (unbiased)


@dataclass(frozen=True, kw_only=True)
class UpdateDevice:
    """How the analog devices of a tile are UPDATED during in-situ training.

    Used by the device-update models of `archsim.devices.training` (rpu = pulsed update,
    mixed-precision, hic); inference-only runs ignore it.

    Weight units: the pulsed (rpu) and mixed-precision models hold each weight as one
    bidirectional device in device units: a device step is `dw_min` and the weight is
    clipped to its bounds, about +-`w_bound`, exactly as in aihwkit's pulsed devices
    (a weight read by the MVM equals the device value; no further scaling, so a network
    weight of 0.3 is a device at 0.3, half way to the bound). The hic model instead holds
    a fixed-point weight of `hic_range` times the matrix's initial max |W| full scale
    (binary + multi-level PCM, the layout of `WeightMapping.hic`).

    Sources: pulsed device and update after Gokmen & Vlasov 2016 (Front. Neurosci.
    10:333) with aihwkit's `PulsedDevice`/`ConstantStepDevice` and `UpdateParameters`
    defaults (dw_min 0.001, 30 % device-to-device and cycle-to-cycle step variation,
    bounds +-0.6 with 30 % spread, up_down_dtod 0.01, desired_bl 31, update management
    on); mixed precision after Nandakumar et al. 2020 (Front. Neurosci. 14:406); hic after
    Joshi et al. 2021 (arXiv 2102.05271). models.md sections 3, 4 and 6.
    """

    bl: int = spec_field(31, doc="stochastic pulse-train length BL: update pulse slots per vector pair "
                                 "(Gokmen & Vlasov: 10 to 31; aihwkit desired_bl 31)", ge=1, le=64)
    update_management: bool = spec_field(True, doc="balance the row and column pulse probabilities per "
                                                   "vector pair, A = sqrt(lr / (dw_min BL)) sqrt(max|d| / max|x|), "
                                                   "B = lr / (dw_min BL A) (aihwkit update_management); the "
                                                   "expected update is unchanged, fewer probabilities clip at 1")
    dw_min: float = spec_field(0.001, doc="mean device weight step of one pulse (device weight units)", gt=0)
    dw_min_dtod: float = spec_field(0.3, doc="device-to-device spread of the step, relative "
                                             "(dw_ij = dw_min |1 + dtod N(0,1)|)", ge=0)
    dw_min_ctoc: float = spec_field(0.3, doc="cycle-to-cycle spread of each pulse's step, relative "
                                             "(step dw_ij (1 + ctoc N(0,1)); aihwkit dw_min_std)", ge=0)
    up_down: float = spec_field(0.0, doc="mean up/down step asymmetry beta: up step dw_ij (1 + beta_ij), down "
                                         "step dw_ij (1 - beta_ij) (aihwkit up_down)", gt=-1, lt=1)
    up_down_dtod: float = spec_field(0.01, doc="device-to-device spread of beta (beta_ij = up_down + "
                                               "up_down_dtod N(0,1)), absolute", ge=0)
    w_bound: float = spec_field(0.6, doc="mean weight bound: device ij is clipped to [-b-_ij, b+_ij] "
                                         "(device weight units)", gt=0)
    w_bound_dtod: float = spec_field(0.3, doc="device-to-device spread of each bound, relative "
                                              "(b_ij = w_bound |1 + dtod N(0,1)|)", ge=0)
    endurance: float = spec_field(1e8, doc="write-erase cycles a device survives (PCM: 1e6 to 1e8); "
                                           "write counts are reported as a fraction of it", ge=1)
    mp_threshold: float = spec_field(1.0, doc="mixed-precision transfer threshold epsilon in units of dw_min "
                                              "(Nandakumar 2020: the device granularity, 1); at least 1, since "
                                              "a transfer moves whole device steps", ge=1)
    hic_accumulator_bits: int = spec_field(8, doc="bits of the hic low-precision signed update accumulator; "
                                                  "it holds 2**(bits-1) steps per multi-level device level "
                                                  "(our assumption: 8)", ge=1, le=24)
    hic_rounding: Rounding = spec_field(Rounding.STOCHASTIC, doc="rounding of each update into the hic "
                                                                 "accumulator's step")
    hic_range: float = spec_field(2.0, doc="hic full-scale weight (all devices set) as a multiple of the "
                                           "matrix's max |W| when it is first programmed (headroom for "
                                           "training)", gt=0)


class Representation(str, enum.Enum):
    DIFFERENTIAL = "differential"   # one G+/G- pair per weight
    BIT_SLICED = "bit_sliced"       # several pairs per weight with significance factors
    HIC = "hic"                     # binary PCM (high bits) + multi-level PCM (low part)
    BI_SCALE = "bi_scale"           # analog mantissa x one of a few digital scales


class ScaleGranularity(str, enum.Enum):
    PER_MATRIX = "per_matrix"
    PER_COLUMN = "per_column"


@dataclass(frozen=True, kw_only=True)
class BitSlicing:
    """Weight bit-slicing: `slices` device pairs, slice k weighted base**-k."""

    slices: int = spec_field(2, doc="device pairs per weight", ge=1, le=8)
    base: float = spec_field(4.0, doc="significance ratio between neighbouring slices", gt=1)

    def level_problem(self, levels: int) -> str | None:
        """Why a slice's digit 0..ceil(base)-1 would fall between the levels of a device with
        `levels` levels (0: continuous), or None."""
        digits = math.ceil(self.base) - 1
        if levels < 2 or (levels - 1) % digits == 0:
            return None
        return (f"needs digits 0..{digits} on devices with {levels} levels: levels - 1 = {levels - 1} must be "
                f"a multiple of {digits}")


@dataclass(frozen=True, kw_only=True)
class HIC:
    """Hybrid in-memory computing weights (Joshi et al. 2021)."""

    binary_devices: int = spec_field(3, doc="binary PCM devices for the high-significance bits", ge=1, le=16)
    ml_levels: int = spec_field(16, doc="programmable levels of the multi-level PCM device", ge=2)

    def level_problem(self, levels: int) -> str | None:
        """Why a multi-level digit m / (ml_levels - 1) would fall between the levels of a device
        with `levels` levels (0: continuous), or None. In-situ hic training programs these
        digits too, whatever the inference representation."""
        if levels < 2 or (levels - 1) % (self.ml_levels - 1) == 0:
            return None
        fits = [d + 1 for d in range(1, levels) if (levels - 1) % d == 0]
        return (f"must put every multi-level digit on one of the device's {levels} levels: ml_levels - 1 must "
                f"divide levels - 1 = {levels - 1} (allowed ml_levels: {', '.join(map(str, fits))}), "
                f"not {self.ml_levels}")


@dataclass(frozen=True, kw_only=True)
class BiScale:
    """Analog floating-point (bi-scale) weights (Wan et al. 2020).

    Each group of `group_size` weights in a column shares one of `scales` digital
    scales, spaced by `ratio`; the periphery multiplies the column partial sums.
    """

    scales: int = spec_field(2, doc="number of digital scales (exponents)", ge=1, le=16)
    ratio: float = spec_field(4.0, doc="ratio between successive scales", gt=1)
    group_size: int = spec_field(1, doc="weights sharing one scale (1 = per weight)", ge=1)


@dataclass(frozen=True, kw_only=True)
class WeightMapping:
    """How a weight matrix becomes conductances."""

    representation: Representation = spec_field(Representation.DIFFERENTIAL, doc="weight representation")
    scale: ScaleGranularity = spec_field(ScaleGranularity.PER_MATRIX,
                                         doc="weight-to-conductance scale: one per matrix or per column")
    bit_slicing: BitSlicing = spec_field(default_factory=BitSlicing, doc="used when representation is bit_sliced")
    hic: HIC = spec_field(default_factory=HIC, doc="used when representation is hic")
    bi_scale: BiScale = spec_field(default_factory=BiScale, doc="used when representation is bi_scale")

    def level_problems(self, levels: int):
        """(relative path, message) for each digit this representation would put between the
        levels of a device with `levels` levels (0: continuous, any digit fits)."""
        if self.representation is Representation.BIT_SLICED and (problem := self.bit_slicing.level_problem(levels)):
            yield ("bit_slicing", "base"), problem
        if self.representation is Representation.HIC and (problem := self.hic.level_problem(levels)):
            yield ("hic", "ml_levels"), problem

    def cells_per_weight(self) -> int:
        """Array columns one weight occupies: a unit cell is one differential device pair,
        and representations with several pairs per weight place them in adjacent columns."""
        if self.representation is Representation.BIT_SLICED:
            return self.bit_slicing.slices
        if self.representation is Representation.HIC:
            return self.hic.binary_devices + 1
        return 1
