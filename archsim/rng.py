"""Named random streams: every random draw of a run comes from the run's one seed.

A stream is keyed by (seed, purpose, *indices), e.g. (seed, ASSIGNMENT, layer, image),
so each draw is reproducible on its own, whatever the order, thread or worker that
asks for it. There is no global or module-level generator.
"""

from __future__ import annotations

import enum

import numpy as np


class Stream(enum.IntEnum):
    ASSIGNMENT = 1   # patch-to-replica permutations (per layer, per image)
    PROGRAMMING = 2  # device programming noise, drift exponents, faults (per tile)
    READ = 3         # read noise (per tile, per read)
    MVM = 4          # periphery noise of the analog MVMs
    DATA = 5         # dataset shuffling and augmentation
    TRAINING = 6     # weight initialisation, noise injection
    TIMING = 7       # sampled quantities of the timing model
    UPDATE = 8       # device updates of in-situ training: pulse trains, step noise, rounding (per tile, per step)


def generator(seed: int, stream: Stream, *key: int) -> np.random.Generator:
    """An independent generator for one (seed, stream, key) triple."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), *map(int, key)]))


def stream_seed(seed: int, stream: Stream, *key: int) -> int:
    """A 63-bit integer seed for kernels that take (seed, counter) rather than a Generator."""
    state = np.random.SeedSequence([int(seed), int(stream), *map(int, key)]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))
