"""Phase-change memory: the statistical model of Nandakumar et al. 2019 / Joshi et al. 2020.

Sources: S. R. Nandakumar et al., "Phase-change memory models for deep learning training
and inference", ICECS 2019; V. Joshi et al., "Accurate deep neural network inference
using computational phase-change memory", Nat. Commun. 11:2473 (2020); the same model as
implemented in IBM aihwkit (`PCMLikeNoiseModel`, docs/source/pcm_inference.rst).
Constants: ../shared/docs/models.md section 4. With x = g / g_max:

- programming (once): sigma_prog = max(0.26348 + 1.9650 x - 1.1731 x^2, 0) uS * g_max/25uS,
  g_prog = max(g_target + sigma_prog N(0,1), 0);
- drift (exponent once per device, from the TARGET state): mu_nu = clip(-0.0155 ln x +
  0.0244, 0.049, 0.1), sd_nu = clip(-0.0125 ln x - 0.0059, 0.008, 0.045),
  nu = |mu_nu + sd_nu N(0,1)| (a folded normal), x floored at 1e-7;
  g_drift(t) = g_prog ((t + t0)/t0)^(-nu), t = time since programming, t0 = 20 s;
- 1/f read noise (per read): Q_s = min(0.0088 / max(x_prog^0.65, 1e-3), 0.2) with
  x_prog = g_prog / g_max, sigma_rel(t) = Q_s sqrt(ln((t + t0 + t_read) / (2 t_read))),
  g(t) = max(g_drift + |g_drift| sigma_rel N(0,1), 0).

The spec's `prog_noise_scale`, `read_noise_scale` and `drift_scale` multiply
sigma_prog, sigma_rel and nu (1 = the published device), as in aihwkit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.devices.base import DeviceState, check_time, sample_read
from archsim.devices.faults import apply_stuck, draw_stuck
from archsim.spec.devices import PCMDevice

PROG_COEFF = (0.26348, 1.9650, -1.1731)  # sigma_prog polynomial in x, microsiemens at g_max = 25 uS
PROG_G_MAX_REFERENCE = 25e-6             # S: the g_max the polynomial was fitted at
X_FLOOR = 1e-7                           # smallest x used in the logarithms of the drift fit


def prog_sigma(x: np.ndarray | float, g_max: float) -> np.ndarray:
    """Programming-noise sigma (S) at normalised target conductance x = g_target / g_max."""
    x = np.asarray(x, dtype=np.float64)
    c0, c1, c2 = PROG_COEFF
    return np.maximum(c0 + c1 * x + c2 * x * x, 0.0) * 1e-6 * (g_max / PROG_G_MAX_REFERENCE)


def drift_mu(x: np.ndarray | float) -> np.ndarray:
    """Mean drift exponent mu_nu at normalised target conductance x."""
    lx = np.log(np.maximum(np.abs(np.asarray(x, dtype=np.float64)), X_FLOOR))
    return np.clip(-0.0155 * lx + 0.0244, 0.049, 0.1)


def drift_sd(x: np.ndarray | float) -> np.ndarray:
    """Spread sd_nu of the drift exponent (before folding) at normalised target x."""
    lx = np.log(np.maximum(np.abs(np.asarray(x, dtype=np.float64)), X_FLOOR))
    return np.clip(-0.0125 * lx - 0.0059, 0.008, 0.045)


def read_q(x_prog: np.ndarray | float) -> np.ndarray:
    """Q_s, the 1/f-noise amplitude, at normalised programmed conductance x_prog."""
    x = np.abs(np.asarray(x_prog, dtype=np.float64))
    return np.minimum(0.0088 / np.maximum(x ** 0.65, 1e-3), 0.2)


def read_time_factor(t: float, t0: float = 20.0, t_read: float = 250e-9) -> float:
    """sqrt(ln((t + t0 + t_read) / (2 t_read))): the growth of 1/f noise, t since programming.

    4.765 at t = 1 hour and 5.637 at 1 year with the default t0 and t_read (models.md).
    """
    t = check_time(t) + t0
    return float(np.sqrt(np.log((t + t_read) / (2.0 * t_read))))


def drift_factor(t: float, nu: np.ndarray | float, t0: float = 20.0) -> np.ndarray:
    """g_drift / g_prog = ((t + t0) / t0)^(-nu); 0.775 at 1 hour for nu = 0.049."""
    t = check_time(t)
    return np.power((t + t0) / t0, -np.asarray(nu, dtype=np.float64))


def folded_normal_moments(mu: float, sd: float) -> tuple[float, float]:
    """Mean and standard deviation of |mu + sd N(0,1)| (the drawn nu, before drift_scale)."""
    from math import erf, exp, pi, sqrt
    mean = sd * sqrt(2 / pi) * exp(-mu * mu / (2 * sd * sd)) + mu * erf(mu / (sd * sqrt(2)))
    return mean, sqrt(max(mu * mu + sd * sd - mean * mean, 0.0))


@dataclass(frozen=True)
class PCMModel:
    """Behaviour of `archsim.spec.devices.PCMDevice` (continuous conductance, g_min = 0)."""

    spec: PCMDevice

    g_min = 0.0
    levels = 0

    @property
    def g_max(self) -> float:
        return self.spec.g_max

    def prog_sigma(self, g_target: np.ndarray) -> np.ndarray:
        """Programming-noise sigma (S) of each target conductance."""
        s = self.spec
        x = np.clip(np.asarray(g_target, dtype=np.float64), 0.0, s.g_max) / s.g_max
        return s.prog_noise_scale * prog_sigma(x, s.g_max)

    def programmed(self, g_target: np.ndarray, z: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
        """The conductance reached at g_target with standard-normal draws z: programming
        noise (`sigma`: prog_sigma(g_target), when the caller has it), no conductance below 0."""
        sigma = self.prog_sigma(g_target) if sigma is None else sigma
        return np.maximum(g_target + sigma * z, 0.0)

    def drift_exponents(self, g_target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One drift exponent per device, drawn from its target state (models.md section 4)."""
        x = np.clip(np.asarray(g_target, dtype=np.float64), 0.0, self.spec.g_max) / self.spec.g_max
        return np.abs(drift_mu(x) + drift_sd(x) * rng.standard_normal(x.shape)) * self.spec.drift_scale

    def program(self, g_target: np.ndarray, rng: np.random.Generator) -> DeviceState:
        """Programming noise and one drift exponent per device (draw order: noise, nu, faults)."""
        s = self.spec
        g_target = np.clip(np.asarray(g_target, dtype=np.float64), 0.0, s.g_max)
        g_prog = self.programmed(g_target, rng.standard_normal(g_target.shape))
        nu = self.drift_exponents(g_target, rng)
        stuck = draw_stuck(g_target.shape, s.stuck, rng)
        if stuck is not None:
            g_prog = apply_stuck(g_prog, stuck, s.g_max)
            nu = np.where(stuck == 0, nu, 0.0)
        return DeviceState(g_target=g_target, g_prog=g_prog, nu=nu, stuck=stuck)

    def conductance(self, state: DeviceState, t: float) -> np.ndarray:
        """Drifted conductance g_prog ((t + t0)/t0)^(-nu), no read noise (S)."""
        return state.g_prog * drift_factor(t, state.nu, self.spec.t0)

    def read_sigma(self, state: DeviceState, t: float) -> np.ndarray:
        """Per-device standard deviation (S) of the 1/f read noise at time t."""
        s = self.spec
        factor = s.read_noise_scale * read_time_factor(t, s.t0, s.t_read)
        sigma = np.abs(self.conductance(state, t)) * read_q(state.g_prog / s.g_max) * factor
        return sigma if state.stuck is None else np.where(state.stuck == 0, sigma, 0.0)

    def read(self, state: DeviceState, t: float, rng: np.random.Generator) -> np.ndarray:
        """One noisy read at time t (S)."""
        return sample_read(self.conductance(state, t), self.read_sigma(state, t), rng)
