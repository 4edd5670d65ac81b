"""Speed of the noisy analog MVM against a plain numpy float32 GEMM / matvec.

Setup (aihwkit-like periphery): x float32 (1024 x 512) through one 512 x 512
tile, 7-bit DAC, abs-max noise management, output noise 0.06 (exact
Gaussian), 9-bit ADC over +-12, bound management off (max_passes = 1). The
extra figure: the cost of exact per-MVM device read noise (``read_sigma``, one
sigma per device) relative to the same MVM without it, at both batch sizes.

Measured in one process, interleaved with the reference so that machine noise
(CPU steal, other tenants) hits both alike; medians after warm-up (which
includes numba's compilation or cache load). The last line is machine
readable:

    noisy_over_gemm=<ratio> batch1_over_numpy=<ratio>
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from archsim.kernels import analog_mvm, get_num_threads

BATCH, ROWS, COLS = 1024, 512, 512
PERIPHERY = dict(dac_bits=7, dac_range=1.0, adc_bits=9, adc_range=12.0, out_noise=0.06,
                 w_noise=0.0, noise_management="abs_max", nm_constant=1.0, max_passes=1,
                 input_slices=1)
REPEATS = 41  # batched: >= 20 required
REPEATS_B1 = 3000  # batch-1 latency


def interleaved_medians(f, g, repeats):
    """Medians of f and g timed alternately (seconds)."""
    tf, tg = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        g()
        t2 = time.perf_counter()
        tf.append(t1 - t0)
        tg.append(t2 - t1)
    return statistics.median(tf), statistics.median(tg)


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, ROWS)).astype(np.float32)
    w = rng.uniform(-1.0, 1.0, size=(ROWS, COLS)).astype(np.float32)
    sigma = rng.uniform(0.0, 0.02, size=(ROWS, COLS)).astype(np.float32)
    x1 = x[:1]
    v = np.ascontiguousarray(x[0])
    counter = iter(range(1 << 62))

    def noisy():
        return analog_mvm(x, w, seed=1, counter=next(counter), **PERIPHERY)

    def gemm():
        return x @ w

    def noisy1():
        return analog_mvm(x1, w, seed=1, counter=next(counter), **PERIPHERY)

    def matvec():
        return w.T @ v

    def noisy_read():
        return analog_mvm(x, w, read_sigma=sigma, seed=1, counter=next(counter), **PERIPHERY)

    def noisy1_read():
        return analog_mvm(x1, w, read_sigma=sigma, seed=1, counter=next(counter), **PERIPHERY)

    t0 = time.perf_counter()
    noisy()
    noisy1()
    first = time.perf_counter() - t0
    noisy_read()  # compile / load the read-noise specialisations outside the timing
    noisy1_read()
    for _ in range(5):  # warm-up: caches, BLAS threads, allocator
        noisy()
        gemm()
    for _ in range(200):
        noisy1()
        matvec()

    t_noisy, t_gemm = interleaved_medians(noisy, gemm, REPEATS)
    t_b1, t_mv = interleaved_medians(noisy1, matvec, REPEATS_B1)
    for _ in range(2):
        noisy_read()
    t_read, t_noread = interleaved_medians(noisy_read, noisy, REPEATS)
    t_read1, t_noread1 = interleaved_medians(noisy1_read, noisy1, REPEATS_B1 // 3)

    y, passes = noisy()
    print(f"noisy analog MVM benchmark (numba threads: {get_num_threads()})")
    print(f"  first call incl. compile / cache load: {first:.2f} s")
    print(f"  batch {BATCH} x {ROWS} through {ROWS} x {COLS}, 7-bit DAC, abs-max NM, "
          f"out_noise 0.06, 9-bit ADC +-12, max_passes 1")
    print(f"    numpy float32 GEMM      : {t_gemm * 1e3:8.3f} ms  (median of {REPEATS})")
    print(f"    noisy analog MVM        : {t_noisy * 1e3:8.3f} ms  "
          f"-> {t_noisy / t_gemm:.2f}x GEMM (target <= 1.5, stretch 1.2)")
    print(f"    outputs clipped at +-12 : {np.mean(np.abs(y) >= 12.0 * np.abs(x).max(1, keepdims=True)) * 100:.3f} %")
    print("  batch 1 (per-vector latency)")
    print(f"    numpy w.T @ x matvec    : {t_mv * 1e6:8.2f} us  (median of {REPEATS_B1})")
    print(f"    noisy analog MVM        : {t_b1 * 1e6:8.2f} us  "
          f"-> {t_b1 / t_mv:.2f}x matvec (target <= 1.0)")
    print(f"  read noise (read_sigma) on / off: batch {BATCH} {t_read / t_noread:.2f}x "
          f"({t_read * 1e3:.2f} / {t_noread * 1e3:.2f} ms), batch 1 {t_read1 / t_noread1:.2f}x "
          f"({t_read1 * 1e6:.1f} / {t_noread1 * 1e6:.1f} us)")
    print(f"noisy_over_gemm={t_noisy / t_gemm:.3f} batch1_over_numpy={t_b1 / t_mv:.3f}")


if __name__ == "__main__":
    main()
