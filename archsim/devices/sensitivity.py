"""How much programming noise a weight matrix gets, in weight units, under a tile spec.

Used by Hessian-aware training (HA-SGD, Wan et al. 2020): the expected loss under weight
noise d ~ N(0, s^2) is L(w) + 1/2 sum_i s_i^2 H_ii, with s the deployed weight's noise.
A weight is rebuilt as w = w_scale * sum_k coeff_k (u+_k - u-_k) (g_max - g_min)-normalised
device pairs (see representations.Encoding), so with independent device noise
s^2 = w_scale^2 * sum_k coeff_k^2 (sigma(G+_k)^2 + sigma(G-_k)^2) / (g_max - g_min)^2.
Programmed conductances are clipped at g_min (a device cannot go below it), so a device's
variance is that of a rectified Gaussian; the upper clip (RRAM's g_max) is ignored. The
representation matters: bi-scale weights store small weights at a fine scale, so their
s shrinks with them.
"""

from __future__ import annotations

import math

import numpy as np

from archsim.devices.models import device_model
from archsim.devices.representations import encode
from archsim.spec.hardware import Tiles


def programming_sigma(weights: np.ndarray, tiles: Tiles) -> np.ndarray:
    """(R, C) standard deviation of each weight after programming, in weight units."""
    model = device_model(tiles.device)
    enc = encode(np.asarray(weights, np.float64), tiles.mapping, levels=model.levels)
    g_target = model.g_min + enc.u * (model.g_max - model.g_min)
    var = rectified_variance(g_target - model.g_min, model.prog_sigma(g_target)) / (model.g_max - model.g_min) ** 2
    return enc.w_scale * np.sqrt(np.einsum("krc,krc->rc", enc.coeff() ** 2, var[0] + var[1]))


_erf = np.vectorize(math.erf, otypes=[float])


def rectified_variance(mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Var(max(mean + sigma Z, 0)) for Z ~ N(0, 1), elementwise (sigma 0: no variance)."""
    mean, sigma = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sigma, float))
    safe = np.where(sigma > 0, sigma, 1.0)
    a = mean / safe
    cdf = 0.5 * (1.0 + _erf(a / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    first = mean * cdf + safe * pdf
    second = (mean ** 2 + safe ** 2) * cdf + mean * safe * pdf
    return np.where(sigma > 0, np.maximum(second - first ** 2, 0.0), 0.0)
