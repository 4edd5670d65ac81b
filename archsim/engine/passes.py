"""Analog passes per MVM (bound management), until the numeric kernels supply them.

Under iterative bound management a saturated MVM is repeated with a halved input, up
to `tiles.noise.max_passes` analog passes (models.md section 5). How many passes an
MVM needs depends on the data, so the numeric kernels will count them; until then the
engine takes one of:

- None: one pass per MVM;
- an int: that many passes for every MVM;
- a mapping {layer name: int or per-patch sequence}: per layer (unlisted layers: 1);
- a callable (layer_name, image, patches) -> int or per-patch sequence;
- `sampled_passes(seed)`, or the string "sampled" (the run's seed): counts drawn from
  the TIMING random stream.

Every count is clipped to [1, max_passes]; with bound management off it is 1.
Bit-serial input slices (`tiles.noise.input_slices`) multiply the passes separately.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

import numpy as np

from archsim.engine.core import SimulationError
from archsim.rng import Stream, generator
from archsim.spec.hardware import BoundManagement, HardwareSpec

PassSource = None | int | str | Mapping | Callable


def sampled_passes(seed: int, repeat_probability: float = 0.05) -> Callable:
    """Pass counts drawn per patch: each extra pass happens with `repeat_probability`.

    The draws for (layer, image) come from generator(seed, Stream.TIMING, crc32(layer
    name), image), so they do not depend on the order in which the engine asks.
    """
    if not 0.0 <= repeat_probability < 1.0:
        raise ValueError(f"repeat_probability must be in [0, 1), not {repeat_probability}")

    def draw(layer: str, image: int, patches: int) -> np.ndarray:
        rng = generator(seed, Stream.TIMING, zlib.crc32(layer.encode()), image)
        return rng.geometric(1.0 - repeat_probability, size=patches)

    return draw


def resolve(passes: PassSource, hw: HardwareSpec, seed: int = 0) -> Callable | None:
    """A function (node, image) -> per-patch pass list or None (one pass), from `passes`."""
    if passes is None:
        return None
    if isinstance(passes, str):
        if passes != "sampled":
            raise SimulationError(f"passes must be 'sampled' when given as a string, not '{passes}'")
        passes = sampled_passes(seed)
    limit = hw.tiles.noise.max_passes if hw.tiles.noise.bound_management is BoundManagement.ITERATIVE else 1

    def clip(value, name: str, patches: int) -> list[int] | None:
        arr = np.asarray(value, dtype=np.int64)
        if arr.ndim == 0:
            n = int(min(max(int(arr), 1), limit))
            return None if n == 1 else [n] * patches
        if arr.shape != (patches,):
            raise SimulationError(f"passes for layer '{name}': expected {patches} per-patch counts, "
                                  f"got shape {list(arr.shape)}")
        return np.clip(arr, 1, limit).tolist()

    if isinstance(passes, (int, np.integer)):
        return (lambda node, image: clip(int(passes), node.name, node.positions)) if int(passes) > 1 else None
    if isinstance(passes, Mapping):
        table = dict(passes)
        return lambda node, image: (clip(table[node.name], node.name, node.positions)
                                    if node.name in table else None)
    if callable(passes):
        return lambda node, image: clip(passes(node.name, image, node.positions), node.name, node.positions)
    raise SimulationError(f"passes must be None, an int, 'sampled', a mapping or a callable, "
                          f"not {type(passes).__name__}")
