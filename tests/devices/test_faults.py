"""Stuck-at faults for every device model: rates, exact stuck values, no effect on the rest.

n = 400,000 devices: a rate p is estimated with standard error sqrt(p(1-p)/n), at most
0.08 % absolute; the tests allow 5 standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from archsim.devices import ProgrammedTile, device_model
from archsim.devices.faults import NOT_STUCK, STUCK_GMAX, STUCK_ZERO
from archsim.spec.devices import IdealDevice, PCMDevice, RRAMDevice, StuckAt

N = 400_000
FAULTY = StuckAt(zero_rate=0.02, gmax_rate=0.005)
SPECS = [IdealDevice(stuck=FAULTY), PCMDevice(stuck=FAULTY), RRAMDevice(levels=8, stuck=FAULTY)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_stuck_rates_and_values(spec):
    model = device_model(spec)
    target = np.full(N, 0.5 * spec.g_max)
    state = model.program(target, np.random.default_rng(0))
    for code, rate in ((STUCK_ZERO, FAULTY.zero_rate), (STUCK_GMAX, FAULTY.gmax_rate)):
        frac = np.mean(state.stuck == code)
        assert abs(frac - rate) < 5 * np.sqrt(rate * (1 - rate) / N)
    for t in (0.0, 3600.0, 3e7):
        g = model.read(state, t, np.random.default_rng(1))
        assert np.all(g[state.stuck == STUCK_ZERO] == 0.0)
        assert np.all(g[state.stuck == STUCK_GMAX] == spec.g_max)
        assert np.all(model.read_sigma(state, t)[state.stuck != NOT_STUCK] == 0.0)


@pytest.mark.parametrize("clean, faulty", [(PCMDevice(), PCMDevice(stuck=FAULTY)),
                                           (RRAMDevice(), RRAMDevice(stuck=FAULTY))], ids=["pcm", "rram"])
def test_faults_leave_the_healthy_devices_untouched(clean, faulty):
    target = np.linspace(0, clean.g_max, 1000)
    a = device_model(clean).program(target, np.random.default_rng(3))
    b = device_model(faulty).program(target, np.random.default_rng(3))
    assert a.stuck is None
    ok = b.stuck == NOT_STUCK
    np.testing.assert_array_equal(a.g_prog[ok], b.g_prog[ok])
    if a.nu is not None:
        np.testing.assert_array_equal(a.nu[ok], b.nu[ok])


def test_stuck_devices_perturb_the_weights_of_a_tile():
    w = np.random.default_rng(0).standard_normal((200, 100))
    tile = ProgrammedTile.program(w, device=IdealDevice(stuck=StuckAt(gmax_rate=0.01)),
                                  rng=np.random.default_rng(1))
    err = tile.effective_weights(0.0, np.random.default_rng(2), compensate=False) - w
    bad = np.abs(err) > 1e-12
    # a weight is wrong iff one of its two devices is stuck at g_max: 1 - 0.99^2 = 1.99 %
    assert bad.mean() == pytest.approx(0.0199, abs=5 * np.sqrt(0.0199 / w.size))
