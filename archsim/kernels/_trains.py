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

from ._numba import float32_from_bits, jit, popcount
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
_FUSED_WORDS = 5          # words per line drawn in registers for BL 17..32 (`_lines`)
PROB_BITS = 48           # resolution of the firing probabilities: 2**-48
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
def _levels(lanes, lg):
    """Levels evaluated for every line of a side at once (`_lines`): bit_length(#lanes)
    + 4, rounded up to whole words; after them each slot is undecided with
    probability 2**-levels (at most 1/16 of a slot per line on average), and the
    few lines with an undecided slot finish one by one. For BL 17..32 (lg = 1) a fixed
    2 _FUSED_WORDS levels, which `_lines` keeps in registers."""
    if lg == 1:
        return 2 * _FUSED_WORDS
    g = 1 << lg
    return min(PROB_BITS, (_bit_length(_U(popcount(lanes))) + 4 + g - 1) // g * g)


@jit
def _lines(key, row0, wpt, lg, lanes, levels, m, s, out, idx, qv, base, word, res, und):
    """Trains of the m lines idx[:m] (thresholds qv[:m], 0 < q < 2**48) of sample row
    s, evaluated in the slots ``lanes`` only (bit t = slot t; 0 elsewhere), into
    out[s, idx[t]]; returns the OR of them. Each slot's uniform is compared with q
    lazily, most significant level first, ``g = 2**lg`` levels per word of ``64 >>
    lg`` lanes (word of line i, level k: ``(row0 + i) wpt + k // g``), stopping
    when every slot is decided: the first ``levels`` levels (`_levels`) run for all
    lines at once (word operations across lines, vectorised; deciding a slot early
    never changes its bit), then each line with an undecided slot continues alone."""
    width = _U(64 >> lg)
    g = 1 << lg
    if lg == 1:  # BL 17..32, the usual case: the first words of each line in registers
        for t in range(m):
            b = (row0 + _U(idx[t])) * wpt + _ONE  # + 1: the word counter of _word
            base[t] = b
            q = qv[t]
            result = _ZERO
            u = lanes
            for wi in range(_FUSED_WORDS):  # constant: unrolled, the loop over t vectorises
                r = _mix(key + (b + _U(wi)) * _GAMMA)
                bits = r & lanes
                qm = _ZERO - ((q >> _U(PROB_BITS - 1 - 2 * wi)) & _ONE)
                result |= u & ~bits & qm
                u &= ~(bits ^ qm)
                bits = (r >> width) & lanes
                qm = _ZERO - ((q >> _U(PROB_BITS - 2 - 2 * wi)) & _ONE)
                result |= u & ~bits & qm
                u &= ~(bits ^ qm)
            res[t] = result
            und[t] = u
    else:
        for t in range(m):
            base[t] = (row0 + _U(idx[t])) * wpt + _ONE
            res[t] = _ZERO
            und[t] = lanes
        for wi in range(levels >> lg):
            off = _U(wi)
            for t in range(m):
                word[t] = _mix(key + (base[t] + off) * _GAMMA)
            for sub in range(g):
                k = wi * g + sub
                sh = _U(sub) * width
                qs = _U(PROB_BITS - 1 - k)
                for t in range(m):
                    bits = (word[t] >> sh) & lanes
                    qm = _ZERO - ((qv[t] >> qs) & _ONE)  # all ones where q's bit k is 1
                    u = und[t]
                    res[t] |= u & ~bits & qm  # u bit 0 < q bit 1: the slot fires
                    und[t] = u & ~(bits ^ qm)  # equal bits: still undecided
    fired = _ZERO
    for t in range(m):
        result = res[t]
        u = und[t]
        if u != _ZERO:
            q = qv[t]
            b0 = base[t] - _ONE
            gm = g - 1
            r = _ZERO
            k = levels
            while k < PROB_BITS and u != _ZERO:
                if k & gm == 0:
                    r = _word(key, b0 + _U(k >> lg))
                else:
                    r >>= width
                bits = r & lanes
                qm = _ZERO - ((q >> _U(PROB_BITS - 1 - k)) & _ONE)
                result |= u & ~bits & qm
                u &= ~(bits ^ qm)
                k += 1
        out[s, idx[t]] = result
        fired |= result
    return fired


@jit
def _sample_trains(x, d, ab, balance, kx, kd, bl, s0, bx, bd, active, trains, nactive, rowlist, bounds, chunk,
                   lo, hi):
    """Trains of samples lo..hi-1 (rows into ``bx[s, i]``, columns into ``bd[s, j]``).

    A sample with x = 0 or d = 0 has no coincidence: ``nactive[s] = 0``, trains
    unwritten. Otherwise the scales (`probability_scales`) and the trains, the side
    with fewer nonzero inputs first: the other side's trains are then evaluated only
    in the slots where the first fires (elsewhere no coincidence can happen; which
    slots are evaluated never changes a train's bits where they are), and not at all
    when it never fires. Then the sample's active columns ``active[s, :k]``, their
    trains ``trains[s, :k]`` (only the slots where some row fires), ``k =
    nactive[s]``; when k > 0, the rows that fire ``rowlist[s, :bounds[s, -1]]`` (in
    order), those of row chunk c (``chunk`` rows each) from ``bounds[s, c]`` on. Per
    side, the lines with 0 < p < 1 are compacted branch-free and drawn together
    (`_lines`). (One loop body serves both sides, selected per pass: calls with array
    arguments cost reference-count updates, so there is one such call per side.)"""
    lg = _log2_groups(bl)
    wpt = PROB_BITS >> lg
    xbits = x.view(np.uint32)  # x is C-contiguous
    size = max(x.shape[1], d.shape[1])
    idx = np.empty(size, dtype=np.intp)
    qv = np.empty(size, dtype=np.uint64)
    base = np.empty(size, dtype=np.uint64)
    word = np.empty(size, dtype=np.uint64)
    res = np.empty(size, dtype=np.uint64)
    und = np.empty(size, dtype=np.uint64)
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
        bits_x = np.uint32(0)  # max |x| as float32 bits: the same order, vectorised
        nzx = 0
        for i in range(x.shape[1]):
            a = xbits[s, i] & np.uint32(0x7FFFFFFF)
            bits_x = max(bits_x, a)
            nzx += a != np.uint32(0)
        if nzx == 0:
            continue
        mx = np.float64(float32_from_bits(bits_x))
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
            fired = _ZERO
            m = 0
            for i in range(lines):  # branch-free: p = 0 for about half the lines
                p = abs(scale * np.float64(v[s, i]))
                sure = p >= 1.0
                b = lanes if sure else _ZERO
                idx[m] = i
                qv[m] = _U(min(p, 1.0) * _P_SCALE)  # drawn below when 0 < p < 1
                m += (p > 0.0) & ~sure
                out[s, i] = b
                fired |= b
            if m > 0:
                fired |= _lines(key, _U((s0 + s) * lines), _U(wpt), lg, lanes, _levels(lanes, lg), m, s, out,
                                idx, qv, base, word, res, und)
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
        if k == 0:
            continue
        k = 0
        for c in range(bounds.shape[1] - 1):  # the rows that fire, in order (branch-free)
            bounds[s, c] = k
            for i in range(c * chunk, min(bx.shape[1], (c + 1) * chunk)):
                rowlist[s, k] = np.uint32(i)
                k += bx[s, i] != _ZERO
        bounds[s, bounds.shape[1] - 1] = k


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
