"""Line buffers in the tile buffers: which input positions each patch has to fetch.

A replica computes its patches in order and keeps every input position it has
fetched in its tile buffer from the first patch that reads it to the last one, so a
patch fetches only the positions no earlier patch of the same replica (and image)
brought in: in raster order with stride 1 that is about one new column of its window.
If the replica's working set (the most positions live at once) does not fit its
buffer, the replica keeps nothing and fetches every patch's whole window instead.
The producer frees a position once every fetch that reads it has happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FetchPlan:
    """The fetches of one analog layer for one image."""

    fetch: list                 # per patch: producer positions it fetches (None: not computed)
    reads: np.ndarray           # per producer position: how many fetches read it
    peak_positions: np.ndarray  # per replica: most positions held at once with reuse
    reuse: np.ndarray           # per replica: whether its working set fits (reuse) or not


def plan_fetches(win_ptr: np.ndarray, win_idx: np.ndarray, n_src: int, patches: int, orders: list,
                 max_positions: int) -> FetchPlan:
    """Fetch lists for replicas computing `orders[r]` (patch lists) with CSR input windows.

    max_positions: the most input positions a replica's tile buffers hold.
    """
    replicas = len(orders)
    lengths = np.array([len(o) for o in orders], dtype=np.int64)
    fetch: list = [None] * patches
    if lengths.sum() == 0:
        return FetchPlan(fetch, np.zeros(n_src, np.int64), np.zeros(replicas, np.int64),
                         np.ones(replicas, bool))
    seq = np.concatenate([np.asarray(o, dtype=np.int64) for o in orders])
    rep = np.repeat(np.arange(replicas, dtype=np.int64), lengths)
    width = win_ptr[seq + 1] - win_ptr[seq]
    total = int(width.sum())
    pair_seq = np.repeat(np.arange(len(seq), dtype=np.int64), width)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(width) - width, width)
    q = win_idx[np.repeat(win_ptr[seq], width) + offsets]
    key = rep[pair_seq] * n_src + q
    _, first = np.unique(key, return_index=True)
    _, last_reversed = np.unique(key[::-1], return_index=True)
    last = total - 1 - last_reversed
    n = len(seq)
    delta = (np.bincount(pair_seq[first], minlength=n + 1)
             - np.bincount(pair_seq[last] + 1, minlength=n + 1))
    live = np.cumsum(delta[:-1])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    peak = np.zeros(replicas, np.int64)
    nonempty = lengths > 0
    peak[nonempty] = np.maximum.reduceat(live, starts[nonempty])
    reuse = peak <= max_positions
    new = np.zeros(total, bool)
    new[first] = True
    if not reuse.all():
        new |= ~reuse[rep[pair_seq]]
    fq = q[new]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(pair_seq[new], minlength=n))]).tolist()
    flat = fq.tolist()
    for j, p in enumerate(seq.tolist()):
        fetch[p] = flat[bounds[j]:bounds[j + 1]]
    return FetchPlan(fetch, np.bincount(fq, minlength=n_src), peak, reuse)
