"""The noisy MVM of a programmed tile: every weight slice through the periphery kernel.

A tile read (`TileRead.slices()`) holds P normalised slice matrices, their significance
coefficients and the per-column output scale (weight scale x drift compensation). Each
slice is one analog MVM with the spec's DAC, noise management, output noise, ADC and
bound management (archsim.kernels.analog_mvm); the periphery combines the digitised
slices: y = out_scale * sum_p coeff_p * y_p. Device read noise is either frozen in the read
(`ProgrammedTile.read`) or drawn anew in every analog pass by the kernel (`mean_read` with
`read_sigma=slice_sigma(t)`, PCM 1/f noise as in models.md section 4).
"""

from __future__ import annotations

import numpy as np

from archsim.devices.inputs import PatchRows
from archsim.devices.tile import AnalogSlices
from archsim.kernels import analog_mvm, analog_mvm_runs, analog_mvm_transposed
from archsim.kernels.reference import analog_mvm_twin, gather_runs_twin
from archsim.spec.devices import Representation
from archsim.spec.hardware import BoundManagement, Tiles


def periphery(tiles: Tiles) -> dict:
    """Kernel arguments of a tile spec's periphery."""
    n = tiles.noise
    return {"dac_bits": tiles.dac.bits, "dac_range": tiles.dac.range, "adc_bits": tiles.adc.bits,
            "adc_range": tiles.adc.range, "out_noise": n.out_noise, "w_noise": n.w_noise,
            "noise_management": n.noise_management.value, "nm_constant": n.nm_constant,
            "max_passes": n.max_passes if n.bound_management is BoundManagement.ITERATIVE else 1,
            "input_slices": n.input_slices}


BACKENDS = {"numba": analog_mvm, "numpy": analog_mvm_twin}  # the numpy twin: same results, slowly


def _runs_mvm(rows: PatchRows, w, **kwargs):
    return analog_mvm_runs(rows.src, rows.starts, rows.run, rows.count, rows.step, w, first=rows.first,
                           bias=rows.bias, **kwargs)


def _runs_twin(rows: PatchRows, w, **kwargs):
    return analog_mvm_twin(rows.materialise(gather_runs_twin), w, **kwargs)


RUNS = {"numba": _runs_mvm, "numpy": _runs_twin}  # the MVM of PatchRows


def _transposed_twin(d, w, **kwargs):
    return analog_mvm_twin(d, np.ascontiguousarray(w.T), **kwargs)  # the twin's documented use


TRANSPOSED = {"numba": analog_mvm_transposed, "numpy": _transposed_twin}


def tile_mvm(slices: AnalogSlices, x: np.ndarray | PatchRows, tiles: Tiles, *, seed: int, counter: int,
             read_sigma: np.ndarray | None = None, backend: str = "numba") -> tuple[np.ndarray, np.ndarray]:
    """y (B, C) = x (B, R) through the tile, and the analog passes (B,) each vector took.
    x may be `PatchRows`, which the kernel gathers as it converts them (the same result).

    Slices stored in adjacent columns (bit-sliced, HIC) integrate in the same analog pass,
    so a vector's passes are the most any slice needed; bi-scale slices are separate
    passes (one per digital scale), so they add up. `counter` must differ between calls
    with the same seed: slice p uses noise stream (seed, counter * P + p).

    Per-MVM read noise: with `slices` from `ProgrammedTile.mean_read(t, rng).slices()` and
    `read_sigma = ProgrammedTile.slice_sigma(t)` (P, R, C), every analog pass of slice p
    draws fresh device read noise (kernel argument `read_sigma=read_sigma[p]`), instead
    of one frozen read (`ProgrammedTile.read(t, rng).slices()`, read_sigma None).
    backend: "numba" (the kernels) or "numpy" (their twins, archsim.kernels.reference).
    """
    if isinstance(x, PatchRows):
        if x.shape[1] != slices.weights.shape[1]:
            raise ValueError(f"{x.shape[1]} input columns for a tile of {slices.weights.shape[1]} rows")
        forward = RUNS[backend]
    else:
        x = np.ascontiguousarray(x, dtype=np.float32)
        forward = BACKENDS[backend]
    args = periphery(tiles)
    n_slices = len(slices.coeff)
    if read_sigma is not None:
        read_sigma = np.ascontiguousarray(read_sigma, dtype=np.float32)
        if read_sigma.shape != slices.weights.shape:
            raise ValueError(f"read_sigma must have the shape of the slice weights "
                             f"{slices.weights.shape} (P, R, C), got {read_sigma.shape}")
    if n_slices == 1 and slices.coeff[0] == 1:  # the kernel applies the column scale itself
        return forward(x, slices.weights[0], seed=seed, counter=counter,
                       read_sigma=None if read_sigma is None else read_sigma[0],
                       out_scale=np.ascontiguousarray(slices.out_scale, np.float64), **args)
    parts = []
    passes = np.zeros(x.shape[0], dtype=np.int32)
    sequential = tiles.mapping.representation is Representation.BI_SCALE
    for p in range(n_slices):
        yp, pp = forward(x, slices.weights[p], seed=seed, counter=counter * n_slices + p,
                                   read_sigma=None if read_sigma is None else read_sigma[p], **args)
        parts.append(yp)
        passes = passes + pp if sequential else np.maximum(passes, pp)
    return _combine(parts, slices.coeff, slices.out_scale), passes


def tile_mvm_transposed(slices: AnalogSlices, d: np.ndarray, tiles: Tiles, *, seed: int, counter: int,
                        backend: str = "numba") -> tuple[np.ndarray, np.ndarray]:
    """x (B, R) = d (B, C) @ W.T through the tile driven backwards (error backpropagation):
    the columns are driven, the rows converted, with the same periphery as `tile_mvm`.
    The per-column output scale multiplies d digitally before the DACs (d @ (W diag s).T =
    (d s) @ W.T); returns (x, passes) like `tile_mvm`."""
    d = np.ascontiguousarray(d if _unit(slices.out_scale) else d * slices.out_scale, dtype=np.float32)
    args = periphery(tiles)
    n_slices = len(slices.coeff)
    parts = []
    passes = np.zeros(d.shape[0], dtype=np.int32)
    for p in range(n_slices):
        xp, pp = TRANSPOSED[backend](d, slices.weights[p], seed=seed, counter=counter * n_slices + p, **args)
        parts.append(xp)
        passes = np.maximum(passes, pp)
    return _combine(parts, slices.coeff, None), passes


def _unit(scale: np.ndarray | None) -> bool:
    return scale is None or bool(np.all(scale == 1))


def _combine(parts: list[np.ndarray], coeff: np.ndarray, out_scale: np.ndarray | None) -> np.ndarray:
    """out_scale * sum_p coeff_p parts_p, summed in float64 (from 0) and rounded once to
    float32 (one forward slice of coefficient 1 gets this from the kernel, which applies
    out_scale in its output pass). One unscaled part of coefficient 1 (a transposed MVM's
    fresh output: it is overwritten) is that sum bit for bit as ``part + 0``, which only
    turns -0.0 into +0.0."""
    if len(parts) == 1 and coeff[0] == 1 and out_scale is None:
        y = parts[0]
        y += np.float32(0.0)  # as the sum from 0: -0.0 becomes +0.0
        return y
    y = np.zeros(parts[0].shape, dtype=np.float64)
    for c, part in zip(coeff, parts):
        y += c * part
    return (y if out_scale is None else y * out_scale).astype(np.float32)
