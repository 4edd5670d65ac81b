"""Stuck-at faults, for any device model.

A fraction `zero_rate` of the devices is stuck at 0 S and a fraction `gmax_rate` at
g_max (spec: `archsim.spec.devices.StuckAt`). Which devices are stuck is drawn once, at
programming, from one uniform number per device: u < zero_rate -> stuck at 0,
zero_rate <= u < zero_rate + gmax_rate -> stuck at g_max. A stuck device ignores its
programming, does not drift and reads exactly its stuck value (no read noise): a
device that cannot be switched is modelled as a fixed resistor.

The uniforms are drawn AFTER the device's own programming draws and only when a rate is
non-zero, so turning faults on leaves the noise of the healthy devices unchanged.
"""

from __future__ import annotations

import numpy as np

from archsim.spec.devices import StuckAt

NOT_STUCK = 0
STUCK_ZERO = 1
STUCK_GMAX = 2


def draw_stuck(shape: tuple[int, ...], stuck: StuckAt, rng: np.random.Generator) -> np.ndarray | None:
    """Stuck-at codes (int8) for devices of `shape`; None when both rates are zero (no draw)."""
    if stuck.zero_rate <= 0 and stuck.gmax_rate <= 0:
        return None
    u = rng.random(shape)
    codes = np.zeros(shape, dtype=np.int8)
    codes[u < stuck.zero_rate] = STUCK_ZERO
    codes[(u >= stuck.zero_rate) & (u < stuck.zero_rate + stuck.gmax_rate)] = STUCK_GMAX
    return codes


def apply_stuck(g: np.ndarray, codes: np.ndarray | None, g_max: float) -> np.ndarray:
    """`g` with stuck devices replaced by 0 or `g_max` (a new array when anything changes)."""
    if codes is None:
        return g
    return np.where(codes == STUCK_ZERO, 0.0, np.where(codes == STUCK_GMAX, g_max, g))
