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


# SplitMix64 (Steele, Lea & Flood 2014): the counter-based hash behind the seeded draws that
# are not numpy Generators (the MVM noise of kernels.gaussian, random tiling's permutations
# in compiler.assignment). Word i of a stream with key k is splitmix64(k + (i + 1) * GAMMA).
SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
SPLITMIX_M1 = np.uint64(0xBF58476D1CE4E5B9)
SPLITMIX_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (a bijection of uint64), elementwise with wrapping
    arithmetic. The numba kernels use a jitted copy (kernels.gaussian._mix), tested equal."""
    z = (z ^ (z >> np.uint64(30))) * SPLITMIX_M1
    z = (z ^ (z >> np.uint64(27))) * SPLITMIX_M2
    return z ^ (z >> np.uint64(31))
