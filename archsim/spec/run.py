"""Run settings: everything about one run that is neither the chip nor the network."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from archsim.spec.schema import spec_field
from archsim.units import TIME


class Backend(str, enum.Enum):
    NUMBA = "numba"   # compiled kernels (default)
    NUMPY = "numpy"   # the slow reference twins


class Fidelity(str, enum.Enum):
    EXACT = "exact"            # one simulation event per MVM
    AGGREGATED = "aggregated"  # one event per run of MVMs


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """One seed drives every random draw of a run; the same seed gives the same numbers."""

    schema_version: Literal[1] = spec_field(1, doc="version of this spec format (1)")
    seed: int = spec_field(0, doc="the one seed of every random draw", ge=0)
    out: str = spec_field("", doc="output directory (empty: reports/<workload>-<hardware>)")
    backend: Backend = spec_field(Backend.NUMBA, doc="numeric kernels: numba or numpy")
    fidelity: Fidelity = spec_field(Fidelity.EXACT, doc="timing fidelity: exact or aggregated")
    images: int = spec_field(4, doc="images streamed through the timing simulation", ge=1)
    inference_times: tuple[float, ...] = spec_field((3600.0,), doc="times after programming at which "
                                                    "accuracy is evaluated", unit=TIME, ge=0)
