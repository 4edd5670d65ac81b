"""Patch assignment: which replica computes which output position (models.md section 1).

Patches are output positions in raster order (index = i * w + j). Every strategy
assigns every patch of every image to exactly one replica, except perforated
convolution, which computes only ceil(P / n) patches on ONE replica and fills the rest
in from the nearest computed neighbour. Replicas process their patches in raster
order, so the spatial order of outputs (which the timing engine's line buffers see)
follows from the assignment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from archsim.rng import SPLITMIX_GAMMA, Stream, splitmix64, stream_seed
from archsim.spec.workload import Strategy


def near_square_factors(n: int, h: int, w: int) -> tuple[int, int] | None:
    """(a, b) with a * b = n, a <= h, b <= w, closest to the image's aspect; None if none."""
    best = None
    for a in range(1, n + 1):
        if n % a or a > h or n // a > w:
            continue
        b = n // a
        score = abs(math.log((h / a) / (w / b)))
        if best is None or score < best[0]:
            best = (score, a, b)
    return None if best is None else (best[1], best[2])


def _bands(size: int, parts: int) -> np.ndarray:
    """Band index of each of `size` positions split into `parts` near-equal contiguous bands."""
    return (np.arange(size) * parts) // size


def image_blocks(h: int, w: int, n: int) -> np.ndarray:
    """Contiguous blocks: an a x b grid of near-equal rectangles (raster strips if n has no
    grid that fits the image)."""
    grid = near_square_factors(n, h, w)
    if grid is None:
        return ((np.arange(h * w) * n) // (h * w)).astype(np.int32)
    a, b = grid
    return (_bands(h, a)[:, None] * b + _bands(w, b)[None, :]).reshape(-1).astype(np.int32)


def alternate_interleave(h: int, w: int, n: int) -> np.ndarray:
    """A periodic interleave, replica = (i * s + j) mod n, with every replica's load within one.

    Horizontal neighbours always differ. The row skew s = w mod n keeps the loads balanced
    (each row continues the cycle where the last one stopped) and makes vertical neighbours
    differ; when n divides w, s is the column period b of a near-square a x b pattern, so
    every b-wide, a-high window holds each replica once.
    """
    skew = w % n
    if skew == 0:
        grid = near_square_factors(n, n, n)
        skew = grid[1] if grid and grid[1] < n else 1
    i, j = np.divmod(np.arange(h * w), w)
    return ((i * skew + j) % n).astype(np.int32)


def perforation(h: int, w: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Computed positions and, for every position, the computed one it copies (the nearest).

    ceil(P / n) positions are computed: the centres of an a x b grid of near-equal cells
    when that count has such a grid, otherwise positions evenly spread in raster order.
    """
    p = h * w
    m = -(-p // n)
    grid = near_square_factors(m, h, w)
    if grid is not None:
        a, b = grid
        rows = ((2 * np.arange(a) + 1) * h) // (2 * a)
        cols = ((2 * np.arange(b) + 1) * w) // (2 * b)
        computed = (rows[:, None] * w + cols[None, :]).reshape(-1).astype(np.int64)
    else:
        computed = (((np.arange(m) * 2 + 1) * p) // (2 * m)).astype(np.int64)
    ci, cj = np.divmod(computed, w)
    i, j = np.divmod(np.arange(p), w)
    dist = (i[:, None] - ci[None, :]) ** 2 + (j[:, None] - cj[None, :]) ** 2
    fill_from = computed[np.argmin(dist, axis=1)]
    return computed, fill_from.astype(np.int32)


def group_by_replica(owner: np.ndarray, replicas: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of `owner` (replica of each patch, -1: not computed) sorted by replica, in
    their own order within a replica, uncomputed ones left out; and each replica's end in
    that order (replica r holds order[ends[r - 1]:ends[r]])."""
    # as int16 numpy's stable sort is a radix sort (3-8x faster on 28 k patches), the same order
    order = np.argsort(owner.astype(np.int16) if replicas < 2**15 else owner, kind="stable")
    counts = np.bincount(owner[owner >= 0], minlength=replicas)
    return order[len(owner) - int(counts.sum()):], np.cumsum(counts)


# Random tiling draws each image's permutation from a counter-based hash (rng.splitmix64,
# as the MVM noise does): the words of image i are mix(k_i + (patch + 1) * GAMMA) with
# k_i = mix(key ^ mix(i ^ K_IMAGE)), distinct within an image (mix is a bijection), and the
# patches sorted by their words are a uniform random permutation. Vectorised over a whole
# batch of images: a stream per image from numpy's SeedSequence cost ~45 us an image and
# layer, 4 % of a ResNet-32 analog inference.
_K_IMAGE = np.uint64(0xA4093822299F31D0)


@dataclass(frozen=True, eq=False)
class Assignment:
    """The patch-to-replica assignment of one layer; the same object drives timing and numerics.

    `replica_of(image)` gives, for each patch, the replica computing it (-1: not computed,
    perforated); `owners(images)` the same for a batch. Random tiling redraws a balanced
    random permutation for every image from (seed, layer_index, image); the other
    strategies are fixed.
    """

    strategy: Strategy
    replicas: int
    out_hw: tuple[int, int]
    seed: int
    layer_index: int
    fixed: np.ndarray | None = None      # replica of each patch, for fixed strategies
    fill_from: np.ndarray | None = None  # perforated: source patch of every position

    @property
    def patches(self) -> int:
        return self.out_hw[0] * self.out_hw[1]

    def owners(self, images) -> np.ndarray:
        """(B, P) replica of each patch of each image id (a read-only broadcast for fixed strategies)."""
        images = np.asarray(images)
        if self.fixed is not None:
            return np.broadcast_to(self.fixed, (len(images), self.patches))
        out = np.empty((len(images), self.patches), dtype=np.int32)
        np.put_along_axis(out, self._by_word(images), self._replica_of_rank[None, :], axis=1)
        return out

    def grouped(self, images) -> tuple[np.ndarray, np.ndarray]:
        """`group_by_replica` of the flattened `owners(images)` (flat index image * P +
        patch): random tiling's straight from the draw, whose replicas are contiguous runs
        of ranks, each sorted back into raster order (not a second sort of all the owners)."""
        images = np.asarray(images)
        if self.fixed is not None:
            return group_by_replica(self.owners(images).reshape(-1), self.replicas)
        b = len(images)
        counts = np.bincount(self._replica_of_rank, minlength=self.replicas)  # a run of ranks each
        first = np.concatenate([[0], np.cumsum(counts)])
        by_word = self._by_word(images)
        base = (np.arange(b, dtype=np.int64) * self.patches)[:, None]
        order = np.concatenate([(np.sort(by_word[:, lo:hi], axis=1) + base).reshape(-1)
                                for lo, hi in zip(first[:-1], first[1:])])
        return order, b * np.cumsum(counts)

    @cached_property
    def _replica_of_rank(self) -> np.ndarray:
        """Random tiling: the k-th patch of an image by hash word goes to replica k * n // P
        (equal chunks of a uniform random permutation)."""
        return ((np.arange(self.patches) * self.replicas) // self.patches).astype(np.int32)

    def _by_word(self, images: np.ndarray) -> np.ndarray:
        """(B, P) each image's patches sorted by their hash words: a uniform random permutation."""
        image_keys = splitmix64(np.uint64(self._key) ^ splitmix64(images.astype(np.uint64) ^ _K_IMAGE))
        words = splitmix64(image_keys[:, None] + np.arange(1, self.patches + 1, dtype=np.uint64) * SPLITMIX_GAMMA)
        return np.argsort(words, axis=1)

    @cached_property
    def _key(self) -> int:
        """The layer's 64-bit key of the random tiling draws (a SeedSequence: 8 us, so once)."""
        return stream_seed(self.seed, Stream.ASSIGNMENT, self.layer_index)

    def replica_of(self, image: int) -> np.ndarray:
        if self.fixed is not None:
            return self.fixed
        return self.owners([image])[0]

    def patches_of(self, image: int) -> list[np.ndarray]:
        """Each replica's patches in processing (raster) order."""
        order, ends = self.grouped([image])
        return np.split(order, ends[:-1])

    def loads(self, image: int = 0) -> np.ndarray:
        owner = self.replica_of(image)
        return np.bincount(owner[owner >= 0], minlength=self.replicas)

    def max_load(self) -> int:
        """Patches of the busiest replica; the same for every image by construction."""
        return int(self.loads(0).max())

    def to_plain(self) -> dict:
        return {"strategy": self.strategy.value, "replicas": self.replicas, "out_hw": list(self.out_hw),
                "computed_patches": int(self.loads(0).sum()), "max_load": self.max_load()}


def make_assignment(strategy: Strategy, replicas: int, out_hw: tuple[int, int], seed: int,
                    layer_index: int) -> Assignment:
    """The assignment of one layer with `replicas` replicas (1 replica: all patches on it);
    perforated: one array computing ceil(P / replicas) patches (Figurnov et al. 2016)."""
    h, w = out_hw
    fixed = fill = None
    if replicas == 1 or strategy is Strategy.NONE:
        fixed = np.zeros(h * w, dtype=np.int32)
        strategy = Strategy.NONE if replicas == 1 else strategy
    elif strategy is Strategy.IMAGE:
        fixed = image_blocks(h, w, replicas)
    elif strategy is Strategy.ALTERNATE:
        fixed = alternate_interleave(h, w, replicas)
    elif strategy is Strategy.PERFORATED:  # ONE kernel matrix computes 1/replicas of the patches
        computed, fill = perforation(h, w, replicas)
        fixed = np.full(h * w, -1, dtype=np.int32)
        fixed[computed] = 0
        replicas = 1
    for arr in (fixed, fill):
        if arr is not None:
            arr.setflags(write=False)
    return Assignment(strategy, replicas, (h, w), seed, layer_index, fixed, fill)
