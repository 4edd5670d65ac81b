"""Stochastic pulse-coincidence weight update (Gokmen & Vlasov 2016) and pulse application.

Orientation (archsim's kernel matrices, as the tiles store them): ``W`` is ``R x C``
with the R array rows driven by the layer inputs and the C columns giving the
outputs, ``y = x @ W``. For a batch of ``n`` vector pairs, ``x`` (``n x R``, the
layer inputs) and ``d`` (``n x C``, the error at the outputs, dL/dy), gradient
descent wants ``W -= lr * x^T d``, the sum of the ``n`` outer products.

:func:`pulsed_update` (in place on ``W`` and ``pulses``). For each sample ``s`` in
order (one parallel array update per vector pair, as in the hardware):

1. Pulse trains. Row line ``i`` fires in each of ``BL`` slots independently with
   probability ``px = min(|a_s x_si|, 1)``, column line ``j`` with ``pd = min(|b_s
   d_sj|, 1)``. Gokmen & Vlasov: ``a_s = b_s = sqrt(ab)``, ``ab = lr / (dw_min
   BL)``; with ``balance`` (aihwkit's update management) ``a_s = sqrt(ab (md /
   mx))``, ``b_s = sqrt(ab (mx / md))``, ``mx = max|x_s|``, ``md = max|d_s|``: the
   same product ``a_s b_s = ab``, with the largest probabilities of both sides
   equal, so fewer of them clip at 1 (`probability_scales`).
2. Coincidences. Device ``(i, j)`` receives one pulse per slot in which both of
   its lines fire: ``c = #{t : row i and column j fire in slot t}``. The trains are
   shared along lines (a row's train drives all C devices of the row), so devices
   of one row or column are correlated, as on the chip; each device alone has
   ``c ~ Binomial(BL, px pd)`` (the slots and the two trains are independent). An
   independent Binomial draw per device would have the right marginals but lose
   these correlations, so the kernel draws the trains themselves.
3. Steps. Each pulse moves the device in the direction ``-sign(x_si d_sj)``
   (gradient descent): ``w += step * (1 + ctoc z)``, ``step = dw_up[i, j]`` up or
   ``-dw_down[i, j]`` down, ``z ~ N(0, 1)`` per pulse, then ``w = clip(w,
   w_min[i, j], w_max[i, j])`` after every pulse (float64 arithmetic on the
   device, rounded to float32 once per call). ``pulses[i, j] += c``.

Moments (one sample, one device, bounds not reached, ``p = px pd``, ``delta`` =
the step in the update's direction): ``E[dw] = -sign(x d) delta BL p`` and
``Var[dw] = delta^2 BL p (1 - p + ctoc^2)`` (``c`` pulses of iid size
``delta (1 + ctoc z)``: ``E[c] delta^2 ctoc^2 + Var[c] delta^2``). When no
probability clips, ``BL p = BL a_s b_s |x d| = lr |x d| / dw_min``: with
``delta = dw_min`` the expected update is exactly ``-lr x d``, and the samples of
a batch add independently.

:func:`apply_pulses` (in place): ``counts[i, j]`` signed pulses to device
``(i, j)`` (positive: up), each a step as in 3 (the mixed-precision transfer).

Randomness (counter-based, SplitMix64 words and the ziggurat of
:mod:`.gaussian`): ``key = stream_key(seed, counter)`` and one sub-key per use,
``side_key(key, side)`` (`SIDE_X`, `SIDE_D`, `SIDE_PULSE`, `SIDE_TRANSFER`);
word ``m`` of a side is ``mix(side_key + (m + 1) GAMMA)``, normal ``m`` is
``normal_at(side_key, m)``:

* a train's slot ``t`` fires iff ``u_t < q``, ``q = floor(p 2**48)`` (``p = 1``:
  ``q = 2**48``, always), where ``u_t`` is a 48-bit uniform whose bit ``47 - k``
  (``k = 0`` the most significant) is bit ``(k % g) * lanes + t`` of word
  ``base + k // g``; ``lanes`` is the smallest of 8, 16, 32, 64 that holds BL
  slots and ``g = 64 / lanes``. Train ``(s, i)`` of a side with ``L`` lines starts
  at word ``base = (s L + i) * 48 / g``. The kernel compares lazily, most
  significant bit first, for all slots at once with word operations, and stops
  when every slot is decided (about ``log2(BL) + 1.3`` levels, ``48 / g`` words at
  most); the numpy twin builds every ``u_t``. ``p`` is quantised to 2**-48.
* pulse ``k`` of device ``(i, j)`` in sample ``s`` uses normal ``((s R + i) C + j)
  BL + k`` of `SIDE_PULSE`; pulse ``k`` of device ``(i, j)`` in `apply_pulses`
  normal ``(i C + j) 2**32 + k`` of `SIDE_TRANSFER`.

Sample ``s`` is its index in the whole call, so results are the same for any
numba thread count, row chunking or sample blocking (the wrapper processes
blocks of samples to bound the train memory). `stream_words` and
`stream_normals` expose the same streams to the numpy twins
(`archsim.kernels.reference.pulsed_update_twin`, bit for bit).

Speed (the trains dominate; no work is done where no pulse can coincide): a
sample whose x or d is all zero is skipped; of the others, the side with fewer
nonzero inputs is drawn first and the other side's trains only in the slots where
some line of the first fired (a train's bits in the slots it is evaluated in do not
depend on which slots those are). The lines with 0 < p < 1 are compacted
branch-free and their first ``bit_length(#slots) + 4`` levels (rounded up to whole
words) compared for all of them at once (vectorised across lines); the few lines
with a slot still undecided continue alone until every slot is decided. The rows
that fire are listed per sample. Coincidences: per live sample, the devices with
a hit are compacted branch-free (flat index, popcount, direction), the normals of
their first two pulses drawn in one vectorised pass, then each device is stepped
(the second pulse computed always and selected, so that the common one- or
two-pulse devices do not branch).
Trains are drawn in parallel over chunks of samples, coincidences over chunks of
rows (all rows on one thread; each device is in one chunk, which steps it sample
after sample, so the chunking never changes a result). Measured numbers:
``benchmarks/bench_update.py``.
"""

from __future__ import annotations

import operator

import numpy as np

from ._numba import get_num_threads, jit, pjit, popcount, prange
from ._trains import (MAX_BL, PROB_BITS, SIDE_D, SIDE_PULSE, SIDE_TRANSFER, SIDE_X, _ZERO, _sample_trains,
                      _side_key, _U, lane_geometry, stream_normals, stream_words)
from .gaussian import _GAMMA, _as_uint64, _fast, _mix, normal_at, stream_key

__all__ = ["pulsed_update", "apply_pulses", "probability_scales", "stream_words", "stream_normals",
           "lane_geometry", "SIDE_X", "SIDE_D", "SIDE_PULSE", "SIDE_TRANSFER", "PROB_BITS", "MAX_BL"]

MAX_TRANSFER = 1 << 32   # most pulses per device in one apply_pulses call
_INT64_LIMIT = 1 << 63

_SAMPLE_CHUNK = 64       # samples per work unit of the train generation
_MIN_ROW_CHUNK = 8       # rows per work unit of the coincidence pass: at least this many,
_ROW_CHUNKS = 16         # and at most this many units (`_coincide_chunk`)
_SERIAL_WORK = 4096      # n (R + C) below which one thread does everything
_BLOCK_WORDS = 1 << 21   # train words held at once (16 MiB): samples per block


@jit
def _steps(wv, count, step, lo, hi, ctoc, key, base):
    """Device value after `count` pulses of size step (1 + ctoc z), each clipped to
    [lo, hi] (float64; z = normals base, base + 1, ...). Scalars only: array
    arguments would cost reference-count updates per call."""
    for k in range(count):
        if ctoc > 0.0:
            wv = wv + step * (1.0 + ctoc * np.float64(normal_at(key, base + k)))
        else:
            wv = wv + step
        wv = min(max(wv, lo), hi)
    return wv


@jit
def _live(nactive):
    """The samples with at least one active column, in order."""
    n = 0
    for s in range(nactive.shape[0]):
        n += nactive[s] > 0
    out = np.empty(n, dtype=np.intp)
    k = 0
    for s in range(nactive.shape[0]):
        if nactive[s] > 0:
            out[k] = s
            k += 1
    return out


@jit
def _coincide_rows(w, x, d, bx, active, trains, nactive, rowlist, bounds, live, dw_up, dw_down, w_min, w_max,
                   ctoc, key, bl, s0, pulses, rc, r0, r1):
    """Coincidences and steps of rows r0..r1-1 (row chunk rc) for the live samples, in
    order (each device's pulses in sample order: the same result for any chunking).

    Per sample: the chunk's rows that fire (`rowlist`) are gathered, the devices
    with a coincidence are compacted branch-free (hits are rare and unpredictable)
    with their pulse counts (popcount) and directions, the normals of every hit's
    first two pulses are drawn in one vectorised pass, then each device is stepped:
    the second pulse branch-free (selected when it has one), further pulses (rare)
    one by one. Devices are indexed flat (all arrays are R x C, C-contiguous)."""
    rows = w.shape[0]
    cols = w.shape[1]
    n = w.size
    wf = w.reshape(n)
    upf = dw_up.reshape(n)
    downf = dw_down.reshape(n)
    lof = w_min.reshape(n)
    hif = w_max.reshape(n)
    pf = pulses.reshape(n)
    size = (r1 - r0) * cols
    hit = np.empty(size, dtype=np.uint64)
    hit_n = np.empty(size, dtype=np.uint64)
    z1 = np.empty(size, dtype=np.float64)
    z2 = np.empty(size, dtype=np.float64)
    row_b = np.empty(r1 - r0, dtype=np.uint64)
    row_f = np.empty(r1 - r0, dtype=np.uint64)
    row_pos = np.empty(r1 - r0, dtype=np.uint64)
    noisy = ctoc > 0.0
    ubl = _U(bl)
    eight = _U(8)
    for s in live:
        na = nactive[s]
        k0 = bounds[s, rc]
        nr = bounds[s, rc + 1] - k0
        if nr == 0:
            continue
        for k in range(nr):
            i = np.intp(rowlist[s, k0 + k])
            row_b[k] = bx[s, i]
            row_f[k] = _U(i * cols) << eight
            row_pos[k] = _U(x[s, i] > 0)
        m = 0
        for t in range(na):
            tr = trains[s, t]
            j = active[s, t]
            tj = (_U(j) << eight) | _U(d[s, j] > 0)
            for k in range(nr):  # hit: device << 8 | count << 1 | step up (-sign(x d))
                h = row_b[k] & tr
                hit[m] = (row_f[k] + tj) ^ row_pos[k] | (popcount(h) << _U(1))
                m += h != _ZERO
        if m == 0:
            continue
        dev0 = _U((s0 + s) * rows * cols)
        for u in range(m):  # normal index of the device's first pulse
            hit_n[u] = (dev0 + (hit[u] >> eight)) * ubl
        if noisy:
            for u in range(m):  # normal_at's fast path, vectorised
                z1[u] = 1.0 + ctoc * np.float64(_fast(_mix(key + (hit_n[u] + _U(1)) * _GAMMA)))
                z2[u] = 1.0 + ctoc * np.float64(_fast(_mix(key + (hit_n[u] + _U(2)) * _GAMMA)))
            for u in range(m):
                if z1[u] != z1[u]:
                    z1[u] = 1.0 + ctoc * np.float64(normal_at(key, hit_n[u]))
                if z2[u] != z2[u]:
                    z2[u] = 1.0 + ctoc * np.float64(normal_at(key, hit_n[u] + _U(1)))
        else:
            for u in range(m):
                z1[u] = 1.0
                z2[u] = 1.0
        for u in range(m):
            hu = hit[u]
            f = np.intp(hu >> eight)
            c = np.intp((hu >> _U(1)) & _U(127))
            up = np.float64(upf[f])
            down = -np.float64(downf[f])
            step = up if hu & _U(1) else down
            lo = np.float64(lof[f])
            hi = np.float64(hif[f])
            w1 = min(max(np.float64(wf[f]) + step * z1[u], lo), hi)
            w2 = min(max(w1 + step * z2[u], lo), hi)
            wv = w2 if c > 1 else w1
            if c > 2:
                wv = _steps(wv, c - 2, step, lo, hi, ctoc, key, np.int64(hit_n[u]) + 2)
            wf[f] = np.float32(wv)
            pf[f] += c


def _coincide_chunk(rows, threads):
    """Rows per work unit of the coincidence pass: all of them on one thread (fewest
    per-sample loops; the device arrays stay in L2), else about 4 units per thread
    (`_chunk_rows` at the finest). Results do not depend on it: each device is in one
    unit, which steps it sample after sample."""
    if threads <= 1:
        return max(1, rows)
    return max(_chunk_rows(rows), -(-rows // (4 * threads)))


@jit
def _chunk_rows(rows):
    return max(_MIN_ROW_CHUNK, (rows + _ROW_CHUNKS - 1) // _ROW_CHUNKS)


@jit
def _pulsed_serial(w, x, d, ab, balance, bl, dw_up, dw_down, w_min, w_max, ctoc, seed, counter, s0, pulses,
                   bx, bd, active, trains, nactive, rowlist, bounds, size):
    key = stream_key(_U(seed), _U(counter))
    rows = w.shape[0]
    _sample_trains(x, d, ab, balance, _side_key(key, SIDE_X), _side_key(key, SIDE_D), bl, s0, bx, bd, active,
                   trains, nactive, rowlist, bounds, size, 0, x.shape[0])
    kn = _side_key(key, SIDE_PULSE)
    live = _live(nactive)
    for c in range(bounds.shape[1] - 1):
        r0 = c * size
        _coincide_rows(w, x, d, bx, active, trains, nactive, rowlist, bounds, live, dw_up, dw_down, w_min, w_max,
                       ctoc, kn, bl, s0, pulses, np.intp(c), r0, min(rows, r0 + size))


@pjit
def _pulsed_parallel(w, x, d, ab, balance, bl, dw_up, dw_down, w_min, w_max, ctoc, seed, counter, s0, pulses,
                     bx, bd, active, trains, nactive, rowlist, bounds, size):
    key = stream_key(_U(seed), _U(counter))
    kx = _side_key(key, SIDE_X)
    kd = _side_key(key, SIDE_D)
    kn = _side_key(key, SIDE_PULSE)
    rows = w.shape[0]
    n = x.shape[0]
    chunks = (n + _SAMPLE_CHUNK - 1) // _SAMPLE_CHUNK
    for c in prange(chunks):
        lo = c * _SAMPLE_CHUNK
        _sample_trains(x, d, ab, balance, kx, kd, bl, s0, bx, bd, active, trains, nactive, rowlist, bounds, size,
                       lo, min(n, lo + _SAMPLE_CHUNK))
    live = _live(nactive)
    rchunks = bounds.shape[1] - 1
    for c in prange(rchunks):
        r0 = c * size
        _coincide_rows(w, x, d, bx, active, trains, nactive, rowlist, bounds, live, dw_up, dw_down, w_min, w_max,
                       ctoc, kn, bl, s0, pulses, np.intp(c), r0, min(rows, r0 + size))


@jit
def _transfer_rows(w, counts, dw_up, dw_down, w_min, w_max, ctoc, key, pulses, r0, r1):
    cols = w.shape[1]
    for i in range(r0, r1):
        for j in range(cols):
            c = counts[i, j]
            if c == 0:
                continue
            n = c if c > 0 else -c
            step = np.float64(dw_up[i, j]) if c > 0 else -np.float64(dw_down[i, j])
            w[i, j] = np.float32(_steps(np.float64(w[i, j]), n, step, np.float64(w_min[i, j]),
                                        np.float64(w_max[i, j]), ctoc, key, (i * cols + j) << 32))
            pulses[i, j] += n


@pjit
def _transfer(w, counts, dw_up, dw_down, w_min, w_max, ctoc, seed, counter, pulses):
    key = _side_key(stream_key(_U(seed), _U(counter)), SIDE_TRANSFER)
    rows = w.shape[0]
    size = _chunk_rows(rows)
    chunks = (rows + size - 1) // size
    for c in prange(chunks):
        r0 = c * size
        _transfer_rows(w, counts, dw_up, dw_down, w_min, w_max, ctoc, key, pulses, r0, min(rows, r0 + size))


# --------------------------------------------------------------------------
# Python entry points: validation, then the kernels.
def _matrix(a, name, dtype, shape=None):
    if type(a) is not np.ndarray:
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must be {np.dtype(dtype)}, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def _writable(a, name):
    if not (a.flags.c_contiguous and a.flags.writeable):
        raise ValueError(f"{name} is updated in place: it must be a writeable C-contiguous array")
    return a


def _finite(a, name, nonnegative=False):
    ok = bool(np.isfinite(a).all()) and (not nonnegative or bool((a >= 0).all()))
    if not ok:
        raise ValueError(f"{name} must be finite{' and >= 0' if nonnegative else ''} everywhere")


def _real(value, name, positive):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value}")
    return value


def _device_arrays(w, dw_up, dw_down, w_min, w_max, pulses, ctoc):
    w = _writable(_matrix(w, "w", np.float32), "w")
    shape = w.shape
    arrays = []
    for a, name in ((dw_up, "dw_up"), (dw_down, "dw_down"), (w_min, "w_min"), (w_max, "w_max")):
        a = np.ascontiguousarray(_matrix(a, name, np.float32, shape))
        _finite(a, name, nonnegative=name.startswith("dw"))
        arrays.append(a)
    pulses = _writable(_matrix(pulses, "pulses", np.int64, shape), "pulses")
    return w, arrays, pulses, _real(ctoc, "ctoc", False)


def probability_scales(x: np.ndarray, d: np.ndarray, lr: float, dw_min: float, bl: int,
                       balance: bool) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): the per-sample firing-probability scales of `pulsed_update` (float64).

    ``ab = float64(lr / (dw_min * bl))``; with ``balance`` (update management) and
    ``mx = max|x_s| > 0``, ``md = max|d_s| > 0`` (float64 of the float32 values):
    ``a_s = sqrt(ab * (md / mx))``, ``b_s = sqrt(ab * (mx / md))``; otherwise
    ``a_s = b_s = sqrt(ab)``. Either way ``a_s b_s = ab`` up to rounding.
    """
    ab = float(lr) / (float(dw_min) * int(bl))
    mx = np.abs(np.asarray(x, np.float32)).max(axis=1).astype(np.float64) if x.size else np.zeros(len(x))
    md = np.abs(np.asarray(d, np.float32)).max(axis=1).astype(np.float64) if d.size else np.zeros(len(d))
    a = np.full(len(x), np.sqrt(ab))
    b = a.copy()
    if balance:
        ok = (mx > 0) & (md > 0)
        a[ok] = np.sqrt(ab * (md[ok] / mx[ok]))
        b[ok] = np.sqrt(ab * (mx[ok] / md[ok]))
    return a, b


def pulsed_update(w: np.ndarray, x: np.ndarray, d: np.ndarray, lr: float, dw_min: float, bl: int,
                  balance: bool, dw_up: np.ndarray, dw_down: np.ndarray, w_min: np.ndarray,
                  w_max: np.ndarray, ctoc: float, seed: int, counter: int, pulses: np.ndarray) -> None:
    """Stochastic pulse-coincidence update of ``w`` (R x C float32) by the vector pairs
    ``x`` (n x R float32) and ``d`` (n x C float32), in place (module docstring):
    on average ``w -= lr * x.T @ d`` for devices whose steps are ``dw_min``.

    ``lr`` (>= 0), ``dw_min`` (> 0), ``bl`` (1..64) and ``balance`` (update
    management) set the firing probabilities (`probability_scales`); ``dw_up``,
    ``dw_down`` (>= 0), ``w_min``, ``w_max``: (R x C) float32 per-device steps and
    bounds; ``ctoc``: relative cycle-to-cycle step noise; ``pulses``: (R x C) int64
    pulse counters, incremented in place. Randomness: the stream ``(seed,
    counter)``; the result does not depend on the numba thread count.
    """
    w, (dw_up, dw_down, w_min, w_max), pulses, ctoc = _device_arrays(w, dw_up, dw_down, w_min, w_max,
                                                                     pulses, ctoc)
    rows, cols = w.shape
    x = np.ascontiguousarray(_matrix(x, "x", np.float32))
    d = np.ascontiguousarray(_matrix(d, "d", np.float32))
    if x.shape[1] != rows or d.shape[1] != cols or x.shape[0] != d.shape[0]:
        raise ValueError(f"shape mismatch: w {w.shape} needs x (n, {rows}) and d (n, {cols}), "
                         f"got x {x.shape} and d {d.shape}")
    _finite(x, "x")
    _finite(d, "d")
    lr = _real(lr, "lr", False)
    dw_min = _real(dw_min, "dw_min", True)
    bl = operator.index(bl)
    if not 1 <= bl <= MAX_BL:
        raise ValueError(f"bl must be in [1, {MAX_BL}], got {bl}")
    if not isinstance(balance, (bool, np.bool_)):
        raise TypeError(f"balance must be true or false, got {balance!r}")
    n = x.shape[0]
    if n * rows * cols * bl >= _INT64_LIMIT or n * (rows + cols) * PROB_BITS >= _INT64_LIMIT:
        raise ValueError("too many samples for the random-stream index space; split the batch")
    seed = _as_uint64(seed, "seed")
    counter = _as_uint64(counter, "counter")
    ab = lr / (dw_min * bl)
    if n == 0 or ab == 0.0:
        return
    block = max(1, _BLOCK_WORDS // (rows + cols))
    size = _coincide_chunk(rows, get_num_threads())
    rchunks = (rows + size - 1) // size
    for s0 in range(0, n, block):
        s1 = min(n, s0 + block)
        m = s1 - s0
        scratch = (np.empty((m, rows), dtype=np.uint64), np.empty((m, cols), dtype=np.uint64),
                   np.empty((m, cols), dtype=np.intp), np.empty((m, cols), dtype=np.uint64),
                   np.empty(m, dtype=np.intp), np.empty((m, rows), dtype=np.uint32),
                   np.empty((m, rchunks + 1), dtype=np.intp))
        kernel = _pulsed_serial if m * (rows + cols) < _SERIAL_WORK else _pulsed_parallel
        kernel(w, x[s0:s1], d[s0:s1], ab, bool(balance), bl, dw_up, dw_down, w_min, w_max, ctoc, seed,
               counter, s0, pulses, *scratch, size)


def apply_pulses(w: np.ndarray, counts: np.ndarray, dw_up: np.ndarray, dw_down: np.ndarray,
                 w_min: np.ndarray, w_max: np.ndarray, ctoc: float, seed: int, counter: int,
                 pulses: np.ndarray) -> None:
    """Apply ``counts[i, j]`` signed pulses (positive: up) to each device of ``w``, in
    place, each pulse a step ``dw_up (1 + ctoc z)`` or ``-dw_down (1 + ctoc z)`` clipped
    to ``[w_min, w_max]``; ``pulses += |counts|``. Randomness: stream ``(seed, counter)``.
    """
    w, (dw_up, dw_down, w_min, w_max), pulses, ctoc = _device_arrays(w, dw_up, dw_down, w_min, w_max,
                                                                     pulses, ctoc)
    counts = np.ascontiguousarray(_matrix(counts, "counts", np.int64, w.shape))
    if counts.size and int(np.abs(counts).max()) >= MAX_TRANSFER:
        raise ValueError(f"at most {MAX_TRANSFER - 1} pulses per device per call")
    if w.size >= 1 << 31:
        raise ValueError("w has too many devices for the random-stream index space")
    _transfer(w, counts, dw_up, dw_down, w_min, w_max, ctoc, _as_uint64(seed, "seed"),
              _as_uint64(counter, "counter"), pulses)
