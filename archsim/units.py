"""Quantities with units, parsed once at the spec boundary into canonical SI values.

Inside archsim every quantity is a float in its SI base unit (seconds, hertz, bytes,
joules, square metres, siemens, watts, bytes per second); names carry the unit
where it is ambiguous (`latency_s`, `energy_j`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from dataclasses import dataclass

_PREFIX = {"": 1.0, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3,
           "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


@dataclass(frozen=True)
class Dimension:
    """A physical dimension: its name, SI base unit and the unit spellings accepted."""

    name: str
    base: str
    units: dict[str, float]

    def examples(self) -> str:
        return ", ".join(f"'{v}'" for v in _EXAMPLES[self.name])


def _si(base: str, prefixes: str) -> dict[str, float]:
    return {p + base: _PREFIX[p] for p in prefixes}


def _bytes(suffix: str = "") -> dict[str, float]:
    units = {"B" + suffix: 1.0}
    units.update({p + "B" + suffix: _PREFIX[p] for p in "kKMGT"})
    units.update({p + "B" + suffix: f for p, f in _BINARY.items()})
    return units


TIME = Dimension("time", "s", {**_si("s", ["", "m", "u", "µ", "n", "p", "f"]),
                               "min": 60.0, "h": 3600.0, "day": 86400.0, "d": 86400.0,
                               "year": 365.25 * 86400.0, "y": 365.25 * 86400.0})
FREQUENCY = Dimension("frequency", "Hz", _si("Hz", ["", "k", "M", "G", "T"]))
SIZE = Dimension("size", "B", _bytes())
BANDWIDTH = Dimension("bandwidth", "B/s", _bytes("/s"))
ENERGY = Dimension("energy", "J", _si("J", ["", "m", "u", "µ", "n", "p", "f"]))
POWER = Dimension("power", "W", _si("W", ["", "m", "u", "µ", "n"]))
CONDUCTANCE = Dimension("conductance", "S", _si("S", ["", "m", "u", "µ", "n"]))
AREA = Dimension("area", "m2", {"m2": 1.0, "mm2": 1e-6, "um2": 1e-12, "µm2": 1e-12,
                                "m^2": 1.0, "mm^2": 1e-6, "um^2": 1e-12, "µm^2": 1e-12})

_EXAMPLES = {"time": ("80ns", "1h"), "frequency": ("1GHz", "200MHz"),
             "size": ("64KiB", "2MB"), "bandwidth": ("32GB/s", "1GiB/s"),
             "energy": ("2.5pJ", "1nJ"), "power": ("10mW",), "conductance": ("25uS",),
             "area": ("0.1mm2", "2500um2")}

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d][^\s]*)?\s*$")


def parse_quantity(value: object, dim: Dimension) -> float:
    """Parse '80ns' (or 0) into SI base units of `dim`; ValueError says what is allowed."""
    if isinstance(value, bool):
        raise ValueError(f"must be a {dim.name} with a unit such as {dim.examples()}, not {value!r}")
    if isinstance(value, (int, float)):
        if value == 0:
            return 0.0
        raise ValueError(f"must be a {dim.name} with a unit such as {dim.examples()}, "
                         f"not the bare number {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"must be a {dim.name} with a unit such as {dim.examples()}, not {value!r}")
    match = _NUMBER_UNIT.match(value)
    if not match or match.group(2) is None:
        raise ValueError(f"must be a {dim.name} with a unit such as {dim.examples()}, not {value!r}")
    unit = match.group(2)
    if unit not in dim.units:
        raise ValueError(f"has unit {unit!r}, which is not a unit of {dim.name}; "
                         f"use one of {', '.join(sorted(dim.units))}")
    # decimal arithmetic so that '25uS' is exactly 2.5e-05, not 2.4999999999999998e-05
    return float(Decimal(match.group(1)) * Decimal(repr(dim.units[unit])))


def format_quantity(value: float, dim: Dimension) -> str:
    """A short human form of an SI value, e.g. 8e-08 s -> '80 ns'."""
    if value == 0:
        return f"0 {dim.base}"
    for prefix, factor in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0),
                           ("m", 1e-3), ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15)):
        if abs(value) >= factor * 0.9999 and dim.name != "area":
            return f"{value / factor:.4g} {prefix}{dim.base}"
    return f"{value:.4g} {dim.base}"
