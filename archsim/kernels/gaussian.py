"""Fast, exact, seeded, counter-based standard normal samples.

Design
------
*Random bits.* Sample ``i`` of the stream ``(seed, counter)`` depends only on
``(seed, counter, i)``: no generator state is carried from one sample to the
next, so any split of the work over threads or chunks gives bit-identical
results. The bits come from the SplitMix64 output function (Steele, Lea &
Flood 2014) used as a counter-based hash, one 64-bit word per sample::

    key    = mix(mix(seed ^ K_SEED) ^ mix(counter ^ K_COUNTER))
    word_i = mix(key + (i + 1) * GAMMA)

*Gaussian.* Each word drives one step of a 4096-layer ziggurat (Marsaglia &
Tsang 2000, with the layer count raised so that only ~0.12 % of samples leave
the fast path): bits 0-11 pick the layer, bit 12 the sign and bits 13-43 a
31-bit uniform ``j``. When ``j < k[layer]`` the point lies inside the layer's
inner rectangle and ``x = j * w[layer]`` is returned; that branch-free path is
written so that LLVM vectorises it (AVX-512 gathers for the two tables).
Otherwise the slow path runs the exact ziggurat rejection: Marsaglia's
exponential method for the tail beyond ``r`` and an ``exp`` test for the
wedges, with extra 64-bit uniforms ``mix(key_slow + i * GAMMA + k *
GAMMA_SLOW)``, ``k = 1, 2, ...`` (a rejected wedge restarts with such a word).
The samples are exact N(0, 1) draws up to the 2**-31 resolution of the
uniform inside a layer (finer than float32 everywhere but next to zero) and
the final rounding to float32; there is no truncation: the tail method reaches
any value.

The ziggurat tables (read-only arrays of 4096 to 4097 entries, built in about
2 ms when the module is imported, like a table of literals) follow from
``r = 4.3859450348713045``, the base-strip edge for which the 4096 equal-area
layers close at the top (the test suite re-derives it by bisection). numba
freezes them into the compiled code.

Public function: :func:`standard_normal`. Kernel-level helpers (called from
other numba kernels, e.g. the analog MVM): :func:`stream_key`,
:func:`fill_normals` / :func:`fill_normals_range` (block fill) and
:func:`normal_at` (one sample).
"""

from __future__ import annotations

import math
import operator

import numpy as np

from archsim.rng import SPLITMIX_GAMMA, SPLITMIX_M1, SPLITMIX_M2

from ._numba import jit, pjit, prange

__all__ = ["standard_normal", "stream_key", "fill_normals", "fill_normals_range", "normal_at"]

# --------------------------------------------------------------------------
# SplitMix64 constants, shared with archsim.rng (uint64 so that numba never mixes
# signedness, which would silently promote to float64).
_U = np.uint64
_GAMMA = SPLITMIX_GAMMA  # (module globals: numba freezes them into the code)
_GAMMA_SLOW = _U(0xD1B54A32D192ED03)
_M1 = SPLITMIX_M1
_M2 = SPLITMIX_M2
_K_SEED = _U(0x6A09E667F3BCC909)
_K_COUNTER = _U(0xBB67AE8584CAA73B)
_K_SLOW = _U(0x3C6EF372FE94F82B)
_S30 = _U(30)
_S27 = _U(27)
_S31 = _U(31)
_S11 = _U(11)
_ONE = _U(1)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

_UINT64_LIMIT = 1 << 64

# --------------------------------------------------------------------------
# Ziggurat: 4096 layers of equal area v under f(x) = exp(-x^2 / 2).
_ZIG_LAYER_BITS = 12
_ZIG_LAYERS = 1 << _ZIG_LAYER_BITS
_ZIG_J_BITS = 31
_ZIG_R = 4.3859450348713045
_LAYER_MASK = _U(_ZIG_LAYERS - 1)
_SIGN_SHIFT = _U(_ZIG_LAYER_BITS)
_J_SHIFT = _U(_ZIG_LAYER_BITS + 1)
_J_MASK = _U((1 << _ZIG_J_BITS) - 1)


def _ziggurat_boundaries(r, layers):
    """Layer edges xs[0..layers] for base-strip edge r, and the area v.

    xs[1] = r, xs[0] = v / f(r) (the base strip with the tail has area v like
    every other layer), xs[i+1] = f^-1(f(xs[i]) + v / xs[i]), xs[layers] = 0.
    The top layer closes (xs[layers-1] * (1 - f(xs[layers-1])) == v) only for
    the right r.
    """
    v = r * math.exp(-0.5 * r * r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    xs = [v / math.exp(-0.5 * r * r), r]
    x = r
    for _ in range(1, layers - 1):
        x = math.sqrt(-2.0 * math.log(math.exp(-0.5 * x * x) + v / x))
        xs.append(x)
    xs.append(0.0)
    return np.array(xs), v


def _ziggurat_tables():
    xs, _ = _ziggurat_boundaries(_ZIG_R, _ZIG_LAYERS)
    scale = 2.0**_ZIG_J_BITS
    k = np.floor(scale * (xs[1:] / xs[:-1])).astype(np.int32)  # fast path: j < k
    w32 = (xs[:-1] / scale).astype(np.float32)  # fast-path scale
    w64 = xs[:-1] / scale  # slow-path scale
    fx = np.exp(-0.5 * xs * xs)  # f at the edges, fx[layers] = 1
    for a in (k, w32, w64, fx):
        a.setflags(write=False)
    return k, w32, w64, fx


_ZIG_K, _ZIG_W32, _ZIG_W64, _ZIG_F = _ziggurat_tables()


# --------------------------------------------------------------------------
# Kernel-level helpers.
@jit
def _mix(z):
    """SplitMix64 output function (a bijection of uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def stream_key(seed, counter):
    """64-bit key of the stream (seed, counter); both are uint64."""
    return _mix(_mix(seed ^ _K_SEED) ^ _mix(counter ^ _K_COUNTER))


@jit
def _fast(h):
    """Ziggurat fast path of one 64-bit word; NaN when it needs the slow path."""
    layer = np.intp(h & _LAYER_MASK)
    j = np.int32((h >> _J_SHIFT) & _J_MASK)
    x = np.float32(j) * _ZIG_W32[layer]
    if (h >> _SIGN_SHIFT) & _ONE:
        x = -x
    return x if j < _ZIG_K[layer] else np.float32(np.nan)


@jit
def _slow_key(key):
    return _mix(key ^ _K_SLOW)


@jit
def _slow(key, key_slow, i):
    """Full ziggurat for sample i, starting again from its first word."""
    h = _mix(key + (_U(i) + _ONE) * _GAMMA)
    lattice = key_slow + _U(i) * _GAMMA
    k = _U(0)
    r = _ZIG_R
    while True:
        layer = np.intp(h & _LAYER_MASK)
        j = np.int64((h >> _J_SHIFT) & _J_MASK)
        neg = (h >> _SIGN_SHIFT) & _ONE
        x = np.float64(j) * _ZIG_W64[layer]
        if j < _ZIG_K[layer]:  # only after a restart
            return np.float32(-x if neg else x)
        if layer == 0:
            # Tail beyond r (Marsaglia 1964): x = r + a, a ~ Exp(rate r),
            # accepted with probability exp(-a^2 / 2).
            while True:
                k += _ONE
                u1 = (np.float64(_mix(lattice + k * _GAMMA_SLOW) >> _S11) + 1.0) * _INV53
                k += _ONE
                u2 = (np.float64(_mix(lattice + k * _GAMMA_SLOW) >> _S11) + 1.0) * _INV53
                a = -math.log(u1) / r
                e = -math.log(u2)
                if e + e > a * a:
                    break
            x = r + a
            return np.float32(-x if neg else x)
        # Wedge between the inner rectangle and the curve: uniform y over the
        # layer's height, accepted below the curve.
        k += _ONE
        u = np.float64(_mix(lattice + k * _GAMMA_SLOW) >> _S11) * _INV53
        y = _ZIG_F[layer] + u * (_ZIG_F[layer + 1] - _ZIG_F[layer])
        if y < math.exp(-0.5 * x * x):
            return np.float32(-x if neg else x)
        k += _ONE  # rejected: restart with a fresh word
        h = _mix(lattice + k * _GAMMA_SLOW)


@jit
def normal_at(key, i):
    """Sample i (int >= 0) of the stream with the given key, as float32."""
    x = _fast(_mix(key + (_U(i) + _ONE) * _GAMMA))
    if x != x:
        x = _slow(key, _slow_key(key), i)
    return x


_PATCH_BLOCK = 64


@jit
def fill_normals_range(key, start, out, off, n):
    """out[off + t] = sample (start + t) of the stream ``key`` for t < n.

    The fast path runs as one vectorised loop; the ~0.12 % of samples that
    need the slow path come out as NaN and are patched block by block (a
    vectorised NaN count per block of 64, then a scalar scan of the rare
    blocks that have one). Indices are unsigned so that numba emits no
    negative-index wraparound (which turns contiguous loads into gathers).
    """
    z = key + _U(start) * _GAMMA
    base = np.uintp(off)
    for t in range(n):
        z += _GAMMA
        out[base + np.uintp(t)] = _fast(_mix(z))
    key_slow = _U(0)
    for b0 in range(0, n, _PATCH_BLOCK):
        b1 = min(n, b0 + _PATCH_BLOCK)
        cnt = 0
        for t in range(b0, b1):
            v = out[base + np.uintp(t)]
            cnt += v != v
        if cnt:
            if key_slow == 0:
                key_slow = _slow_key(key)
            for t in range(b0, b1):
                v = out[base + np.uintp(t)]
                if v != v:
                    out[base + np.uintp(t)] = _slow(key, key_slow, start + t)


@jit
def fill_normals(key, start, out):
    """out[t] = sample (start + t) of the stream ``key`` for all of ``out``."""
    fill_normals_range(key, start, out, 0, out.shape[0])


_CHUNK = 8192  # fixed work unit of standard_normal (independent of threads)


@pjit
def _standard_normal(seed, counter, n):
    key = stream_key(np.uint64(seed), np.uint64(counter))
    out = np.empty(n, dtype=np.float32)
    nchunks = (n + _CHUNK - 1) // _CHUNK
    for c in prange(nchunks):
        lo = c * _CHUNK
        fill_normals_range(key, lo, out, lo, min(_CHUNK, n - lo))
    return out


def _as_uint64(value, name):
    """Validate a seed/counter (an integer in [0, 2**64)) and return it as a
    Python int holding its int64 bit pattern: numba types it as int64 whatever
    the value, so one compiled specialisation serves every seed; kernels
    reinterpret it with ``np.uint64(...)``."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= v < _UINT64_LIMIT:
        raise ValueError(f"{name} must be in [0, 2**64), got {v}")
    return v - _UINT64_LIMIT if v >= _UINT64_LIMIT >> 1 else v


def standard_normal(seed: int, counter: int, n: int) -> np.ndarray:
    """``n`` exact N(0, 1) samples, float32, of the stream ``(seed, counter)``.

    Sample ``i`` depends only on ``(seed, counter, i)``: the result is the
    same for any numba thread count, and ``standard_normal(s, c, n)[:m]`` equals
    ``standard_normal(s, c, m)``. ``seed`` and ``counter`` are integers in
    ``[0, 2**64)``; different counters give independent streams.
    """
    seed_i = _as_uint64(seed, "seed")
    counter_i = _as_uint64(counter, "counter")
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _standard_normal(seed_i, counter_i, n)
