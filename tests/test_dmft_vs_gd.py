"""DMFT vs finite-d gradient descent with GOE sensing (the Gaussian model the DMFT is derived for).

Tolerance per time point: |GD/DMFT - 1| <= 3 se + bias, se from both spreads (DMFT jackknife / run spread, GD
seed s.e.), bias = 1.5/d_eff + 1.5/d (the O(1/d_eff) bias of the effective process and the O(1/d) finite-size
correction of GOE-sensing GD, both measured ~1-1.5/d in the spec, Sec. 3.5 and 4.3). Also checks that the
deviation at the larger d is not worse than at the smaller (trend), averaged over time."""

import numpy as np
import pytest

from dmft.dynamics import DMFTSettings, solve
from dmft.params import ExtensiveWidthParams
from validation.compare_dmft import relative_deviations, run_validation
from validation.gd_simulator import simulate_gd_seeds

SET_B = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)


def _check(dmft, sim, d_eff, d):
    dv = relative_deviations(dmft, sim, t_min=0.25)
    bias = 1.5 / d_eff + 1.5 / d
    for name in ("train", "test"):
        dev, se = dv[name], dv[name + "_se"]
        assert np.all(np.abs(dev) <= 3 * se + bias), (name, dev, se)
    return dv


def test_dmft_vs_gd_goe_cheap():
    s = DMFTSettings(eta=0.05, steps=40, d_eff=24, samples=4, runs=3, seed=7)
    dmft = solve(SET_B, s, quiet=True)
    sim = simulate_gd_seeds(SET_B, 36, 0.05, 40, range(12), sensing="goe")
    _check(dmft, sim, 24, 36)


@pytest.mark.slow
def test_dmft_vs_gd_goe_sizes():
    s = DMFTSettings(eta=0.05, steps=200, d_eff=60, samples=4, runs=4, seed=8)
    val = run_validation(SET_B, s, [30, 60, 90], 6, sensing="goe")
    for d in (30, 60, 90):
        _check(val.dmft, val.gd[f"d{d}"], 60, d)
    assert val.mean_dev_test[2] <= val.mean_dev_test[0] + 0.01
