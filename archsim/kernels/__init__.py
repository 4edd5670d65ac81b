"""Numba kernels: pure functions over arrays (arrays in, arrays out).

Only this subpackage imports numba; its options live in :mod:`._numba`.
Randomness comes in explicitly as ``(seed, counter)`` and results do not depend
on the numba thread count.
"""

from ._numba import get_num_threads, set_num_threads
from .gather import gather_runs
from .gaussian import standard_normal
from .mvm import analog_mvm, analog_mvm_runs, analog_mvm_transposed
from .pulsed import apply_pulses, pulsed_update

__all__ = [
    "analog_mvm",
    "analog_mvm_runs",
    "analog_mvm_transposed",
    "apply_pulses",
    "gather_runs",
    "get_num_threads",
    "pulsed_update",
    "set_num_threads",
    "standard_normal",
]
