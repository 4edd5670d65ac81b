"""Drift compensation: rescale the digital outputs so their scale matches the one after programming.

Method (Joshi et al. 2020, Nat. Commun. 11:2473; aihwkit `GlobalDriftCompensation` and
`PerColumnDriftCompensation`; models.md section 4): right after programming the tile
reads a reference response to a fixed probe input, the mean |output|; at inference time
t it reads the same response again and multiplies every digital output by ref / now.

Probe: the R unit vectors (the identity matrix), as current aihwkit does, so the
response of column j to probe i is W[i, j] and the readouts are

- global: mean over all i, j of |W[i, j]|, one factor for the whole tile;
- per_column: mean over i of |W[i, j]|, one factor per output column;
- none: factor 1.

(An all-ones probe would read |sum_i W[i, j]|, which can nearly cancel in a column and
make a per-column factor blow up; the identity probe cannot cancel.) The response is
computed exactly from the effective weights read at that time (device read noise
included, periphery noise not): the calibration averages many outputs, so periphery
noise would only add a small random error. A readout of 0 (an all-zero column) gives
factor 1.
"""

from __future__ import annotations

import numpy as np

from archsim.spec.hardware import DriftCompensation


def readout(weights: np.ndarray, mode: DriftCompensation) -> np.ndarray:
    """The probe response (C,) of an effective weight matrix (R, C) (weight units)."""
    a = np.abs(np.asarray(weights, dtype=np.float64))
    if mode is DriftCompensation.PER_COLUMN:
        return a.mean(axis=0)
    if mode is DriftCompensation.GLOBAL:
        return np.full(a.shape[1], a.mean())
    return np.ones(a.shape[1])


def factor(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """ref / now per column, 1 where either readout is 0."""
    ok = (reference > 0) & (current > 0)
    return np.where(ok, reference / np.where(ok, current, 1.0), 1.0)
