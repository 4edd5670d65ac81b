"""The one place where numba is configured for archsim's kernels.

Every other kernel module imports its decorators from here, so the compile
options (caching, fast-math, error model) and the threading layer are decided
once:

* Threading layer: ``workqueue``. numba's default OpenMP layer fights
  OpenBLAS's threads (a BLAS matmul followed by a parallel numba kernel ran 2 to
  3x slower) and, once used, breaks fork-based process pools. The layer is
  chosen by assigning ``numba.config.THREADING_LAYER`` below (and
  ``NUMBA_THREADING_LAYER``, which a reload of numba's configuration reads),
  which numba reads when the first parallel kernel launches; assigning it is
  not "work": nothing is compiled or launched at import.
* ``cache=True``: kernels compile lazily on first call and the machine code is
  cached on disk (the cache is CPU-specific). No eager signatures.
* ``fastmath=False`` everywhere: the kernels are compared bit for bit with numpy
  twins and must give the same result for any thread count, so floating-point
  reassociation and FMA contraction are not allowed. Reductions that must be
  fast are written to vectorise without reassociation (integer reductions or
  explicit lanes).
* ``error_model="numpy"``: division by zero gives inf/nan instead of raising;
  this also removes the zero checks that would block vectorisation.
* ``boundscheck=False`` (numba's default), ``nogil=True``.
* 512-bit vectors on AVX-512 CPUs: LLVM's tuning for them prefers 256-bit
  registers (older Xeons lowered their clock for 512-bit work), but these
  kernels are bound by their vector loops (DAC, ADC, Gaussian draws), and
  full-width ones ran analog inference 1-4 % (ResNet-32) and 6.7 % (RAPA
  ConvNet) faster, the DAC 25-30 % on 288- and 576-value rows, with the same
  bits: elementwise float and exact integer operations do not depend on the
  vector width. Loops over a few dozen values of run-time length gain nothing
  or lose (they end in the scalar remainder): gather those into a scratch row
  first (`_mvm_rows._prepare_runs`). Done by adding
  ``-prefer-256-bit`` to the CPU features numba compiles for, through
  ``NUMBA_CPU_FEATURES`` (numba re-reads its environment before every
  compilation; the worker processes inherit it), unless the user set that
  variable or ``NUMBA_CPU_NAME`` themselves.

Notes for kernel authors (measured on the 2-core machines):

* Every array handed to a jitted function, or view taken of one, costs an
  atomic reference-count update. Inside a parallel loop, when every row does
  that on the same shared arrays, the threads fight over one cache line and
  the kernel stops scaling. Parallel loops here only split fixed chunks of
  rows and call a serial worker once per chunk; the workers index the parent
  arrays instead of taking row views.
* numba wraps negative indices. When LLVM cannot prove an index is
  non-negative (``out[off + t]``), a contiguous loop becomes gathers; index
  with ``np.uintp`` there.
* A parallel launch costs 20 to 40 us even on one thread: latency-bound work
  (one small MVM) stays serial.
* The on-disk cache is keyed on the source file of the kernel itself, not of
  the jitted functions it calls from other modules (numba compiles those
  into the caller). After editing one kernel module, delete the ``*.nbi`` and
  ``*.nbc`` files under ``archsim/kernels/__pycache__`` (CI starts clean).
"""

from __future__ import annotations

import os

import llvmlite.ir
import numba
import numba.core.codegen
import numba.extending

_OUR_FEATURES = "ARCHSIM_NUMBA_CPU_FEATURES"  # what we put in NUMBA_CPU_FEATURES (not the user)


def _prefer_512_bit_vectors() -> None:
    """NUMBA_CPU_FEATURES = this host's features and -prefer-256-bit, on AVX-512 hosts, unless
    the user chose features or a CPU. A value a parent process set for its own host (children
    inherit the environment, batch systems pass it on to other nodes) is recomputed here."""
    current = os.environ.get("NUMBA_CPU_FEATURES")
    ours = current is not None and current == os.environ.get(_OUR_FEATURES)
    if (current is not None and not ours) or "NUMBA_CPU_NAME" in os.environ:
        return
    features = numba.core.codegen.get_host_cpu_features()  # (what numba uses by default)
    wanted = features + ",-prefer-256-bit" if "+avx512f" in features.split(",") else None
    if wanted == current:
        return
    if wanted is None:
        del os.environ["NUMBA_CPU_FEATURES"], os.environ[_OUR_FEATURES]
    else:
        os.environ["NUMBA_CPU_FEATURES"] = os.environ[_OUR_FEATURES] = wanted
    numba.config.reload_config()


_prefer_512_bit_vectors()
# after any reload of numba's configuration, which would reset it; in the environment too,
# which numba reads again whenever a NUMBA_ variable changes
os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
numba.config.THREADING_LAYER = "workqueue"

prange = numba.prange

_COMMON = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


def jit(fn=None):
    """Serial nopython kernel (``@jit``)."""

    def wrap(f):
        return numba.njit(**_COMMON)(f)

    return wrap(fn) if fn is not None else wrap


def pjit(fn=None):
    """Parallel nopython kernel: loops written with :data:`prange` run on
    numba's (workqueue) threads. Work must be split so that results do not
    depend on the thread count."""

    def wrap(f):
        return numba.njit(parallel=True, **_COMMON)(f)

    return wrap(fn) if fn is not None else wrap


@numba.extending.intrinsic
def float32_from_bits(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 bit pattern."""
    if not isinstance(bits, numba.types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        i32 = llvmlite.ir.IntType(32)
        if signature.args[0].bitwidth > 32:
            value = builder.trunc(value, i32)
        elif signature.args[0].bitwidth < 32:
            value = builder.zext(value, i32)
        return builder.bitcast(value, llvmlite.ir.FloatType())

    return numba.types.float32(bits), codegen


@numba.extending.intrinsic
def popcount(typingctx, value):
    """Number of set bits of an unsigned 64-bit integer (LLVM ``ctpop``: one
    instruction with POPCNT, vectorised with AVX-512 VPOPCNTQ)."""
    if not (isinstance(value, numba.types.Integer) and value.bitwidth == 64 and not value.signed):
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return numba.types.uint64(value), codegen


def set_num_threads(n: int) -> None:
    """Number of numba threads for parallel kernels (results do not depend on it)."""
    numba.set_num_threads(n)


def get_num_threads() -> int:
    return numba.get_num_threads()
