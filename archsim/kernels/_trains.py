"""Pulse trains of the stochastic update (:mod:`archsim.kernels.pulsed`): the random
streams and the lazy per-slot comparison that draws every line's train.

The definitions (which word and bit drives which slot, the thresholds, the order of
the sides) are in the docstring of :mod:`archsim.kernels.pulsed`; this module
implements them for the kernel and exposes the streams to the numpy twins
(`stream_words`, `stream_normals`). Its jitted functions are compiled into the
kernels of ``pulsed.py``: after editing this file delete the numba cache files
(see :mod:`._numba`).
"""

from __future__ import annotations

import operator

import numpy as np

from ._numba import jit, popcount
from .gaussian import _GAMMA, _as_uint64, _mix, normal_at, stream_key

_U = np.uint64
_ZERO = _U(0)
_ONE = _U(1)
_ALL = _U(0xFFFFFFFFFFFFFFFF)
_K_X = _U(0xA54FF53A5F1D36F1)
_K_D = _U(0x510E527FADE682D1)
_K_PULSE = _U(0x9B05688C2B3E6C1F)
_K_TRANSFER = _U(0x1F83D9ABFB41BD6B)

SIDE_X, SIDE_D, SIDE_PULSE, SIDE_TRANSFER = 0, 1, 2, 3
PROB_BITS = 48           # resolution of the firing probabilities: 2**-48
_Q_ONE = _U(1 << PROB_BITS)
_P_SCALE = float(1 << PROB_BITS)
MAX_BL = 64


def lane_geometry(bl: int) -> tuple[int, int]:
    """(lanes, g): bit lanes per slot group and slot groups per 64-bit word for BL."""
    lanes = 8 if bl <= 8 else 16 if bl <= 16 else 32 if bl <= 32 else 64
    return lanes, 64 // lanes  # as _log2_groups in the kernels


@jit
def _side_key(key, side):
    if side == 0:
        c = _K_X
    elif side == 1:
        c = _K_D
    elif side == 2:
        c = _K_PULSE
    else:
        c = _K_TRANSFER
    return _mix(key ^ c)


@jit
def _word(key, m):
    return _mix(key + (_U(m) + _ONE) * _GAMMA)


@jit
def _log2_groups(bl):
    """log2(g): slot groups per word are 8, 4, 2 or 1 for BL up to 8, 16, 32, 64."""
    if bl <= 8:
        return 3
    if bl <= 16:
        return 2
    if bl <= 32:
        return 1
    return 0


@jit
def _bit_length(v):
    n = 0
    while v != _ZERO:
        v >>= _ONE
        n += 1
    return n


@jit
def _train(key, base, q, lg, lanes, prefix):
    """One pulse train with threshold q, evaluated in the slots ``lanes`` only (bit t
    = slot t; the result is 0 elsewhere): each slot's uniform is compared with q
    lazily, most significant level first, ``2**lg`` levels per word of ``64 >> lg``
    lanes. The first ``prefix`` levels always run (`_prefix`; a predictable loop),
    the rest only until every slot is decided."""
    if q == _ZERO:
        return _ZERO
    if q >= _Q_ONE:
        return lanes
    width = _U(64 >> lg)
    gm = (1 << lg) - 1
    result = _ZERO
    und = lanes
    r = _ZERO
    k = 0
    while k < PROB_BITS and (k < prefix or und != _ZERO):
        if k & gm == 0:
            r = _word(key, base + (k >> lg))
        else:
            r >>= width
        bits = r & lanes
        qm = _ZERO - ((q >> _U(PROB_BITS - 1 - k)) & _ONE)  # all ones where q's bit k is 1
        result |= und & ~bits & qm  # u bit 0 < q bit 1: the slot fires
        und &= ~(bits ^ qm)         # equal bits: still undecided
        k += 1
    return result


@jit
def _prefix(lanes):
    """Levels always evaluated for a train in ``lanes``: bit_length(#lanes) + 2; after
    them each slot is undecided with probability 2**-levels, so on average at most
    1/4 of a slot is left."""
    return min(PROB_BITS, _bit_length(_U(popcount(lanes))) + 2)


@jit
def _sample_trains(x, d, ab, balance, kx, kd, bl, s0, bx, bd, active, trains, nactive, lo, hi):
    """Trains of samples lo..hi-1 (rows into ``bx[s, i]``, columns into ``bd[s, j]``).

    A sample with x = 0 or d = 0 has no coincidence: ``nactive[s] = 0``, trains
    unwritten. Otherwise the scales (`probability_scales`) and the trains, the side
    with fewer nonzero inputs first: the other side's trains are then evaluated only
    in the slots where the first fires (elsewhere no coincidence can happen; which
    slots are evaluated never changes a train's bits where they are), and not at all
    when it never fires. Then the sample's active columns ``active[s, :k]``, their
    trains ``trains[s, :k]`` (only the slots where some row fires), ``k =
    nactive[s]``. (One loop body serves both sides,
    selected per pass: calls with array arguments in this per-sample loop would cost
    reference-count updates.)"""
    lg = _log2_groups(bl)
    wpt = PROB_BITS >> lg
    mask = _ALL >> _U(64 - bl)
    root = np.sqrt(ab)
    for s in range(lo, hi):
        nactive[s] = 0
        md = 0.0
        nzd = 0
        for j in range(d.shape[1]):
            a = abs(np.float64(d[s, j]))
            md = max(md, a)
            nzd += a != 0.0
        if md == 0.0:
            continue
        mx = 0.0
        nzx = 0
        for i in range(x.shape[1]):
            a = abs(np.float64(x[s, i]))
            mx = max(mx, a)
            nzx += a != 0.0
        if mx == 0.0:
            continue
        sx = root
        sd = root
        if balance:
            sx = np.sqrt(ab * (md / mx))
            sd = np.sqrt(ab * (mx / md))
        x_first = nzx <= nzd
        lanes = mask
        fired_x = _ZERO
        for side in range(2):
            use_x = x_first == (side == 0)
            v = x if use_x else d
            out = bx if use_x else bd
            scale = sx if use_x else sd
            key = kx if use_x else kd
            lines = v.shape[1]
            prefix = _prefix(lanes)
            fired = _ZERO
            for i in range(lines):
                p = abs(scale * np.float64(v[s, i]))
                b = _ZERO
                if p >= 1.0:
                    b = lanes
                elif p > 0.0:
                    b = _train(key, ((s0 + s) * lines + i) * wpt, _U(p * _P_SCALE), lg, lanes, prefix)
                out[s, i] = b
                fired |= b
            if use_x:
                fired_x = fired
            if fired == _ZERO:
                break
            lanes = fired
        if fired == _ZERO:
            continue
        k = 0
        for j in range(bd.shape[1]):
            t = bd[s, j] & fired_x  # slots where no row fires cannot coincide
            if t != _ZERO:
                active[s, k] = j
                trains[s, k] = t
                k += 1
        nactive[s] = k


@jit
def _words_at(seed, counter, side, index, out):
    key = _side_key(stream_key(_U(seed), _U(counter)), side)
    for t in range(index.shape[0]):
        out[t] = _word(key, index[t])


@jit
def _normals_at(seed, counter, side, index, out):
    key = _side_key(stream_key(_U(seed), _U(counter)), side)
    for t in range(index.shape[0]):
        out[t] = normal_at(key, index[t])


def _indices(index):
    index = np.ascontiguousarray(np.asarray(index, dtype=np.int64).reshape(-1))
    if index.size and int(index.min()) < 0:
        raise ValueError("stream indices must be >= 0")
    return index


def stream_words(seed: int, counter: int, side: int, index) -> np.ndarray:
    """The 64-bit words ``index`` (uint64) of one side of the stream (seed, counter)."""
    index = _indices(index)
    out = np.empty(index.size, dtype=np.uint64)
    _words_at(_as_uint64(seed, "seed"), _as_uint64(counter, "counter"), operator.index(side), index, out)
    return out


def stream_normals(seed: int, counter: int, side: int, index) -> np.ndarray:
    """The N(0, 1) samples ``index`` (float32) of one side of the stream (seed, counter)."""
    index = _indices(index)
    out = np.empty(index.size, dtype=np.float32)
    _normals_at(_as_uint64(seed, "seed"), _as_uint64(counter, "counter"), operator.index(side), index, out)
    return out
