"""Slow: stationary theory vs finite-d ERM with 1/d extrapolation; recovery probability around alpha_c.

Run with ``python -m pytest -m slow tests/test_erm_slow.py`` (several minutes on one core)."""

import numpy as np
import pytest

from dmft.params import ExtensiveWidthParams as P
from dmft.stationary import solve_stationary
from dmft.thresholds import alpha_c
from validation.compare_stationary import recovery_curve, validate_stationary

pytestmark = pytest.mark.slow
SET_B = P(1.0, 1.0, 0.5, 0.05, 0.5)


@pytest.mark.parametrize("sensing,ds", [("wishart", (30, 50, 70)), ("goe", (30, 40, 50))])
def test_set_B_extrapolates_to_theory(sensing, ds):
    """The 1/d extrapolation (weighted fit, errors from the seed spread, inflated by chi^2) agrees with the
    theory within 3 of its standard errors, for test, train and rank fraction; spectrum histogram at the
    largest d bin by bin within binomial errors, atom at 0 within 0.03."""
    v = validate_stationary(SET_B, ds, seeds=6, sensing=sensing)
    for name, key in (("test", "test_error"), ("train", "train_error"), ("rank", "rank_fraction")):
        q0, se, _ = v.extrapolated[name]
        assert abs(q0 - v.theory[key]) < 3 * se + 1e-3, (name, q0, se, v.theory[key])
    # per-bin binomial s.e. of the pooled fraction (N = seeds * d eigenvalues; conservative, eigenvalues are more
    # rigid than independent draws) + 0.01 for the O(1/d) edge smearing
    N = 6 * ds[-1]
    p = v.hist_theory
    assert np.all(np.abs(v.hist_erm - p) < 4 * np.sqrt(p * (1 - p) / N) + 0.01)
    assert abs(v.atom_erm - v.atom_theory) < 0.03


def test_rank_constrained_gd_vs_theory():
    """kappa < 1 branch (spec: GD matches within 2-6 % when the rank constraint is active): GD on W from small
    init, d = 40 (m* = 10, m = 12), 3 seeds; tolerance 3 s.e. + 8 % (finite-d)."""
    prm = P(0.4, 0.3, 0.25, 0.05, 0.1)
    th = solve_stationary(prm)
    v = validate_stationary(prm, (40,), seeds=3, sensing="wishart",
                            erm_options={"tol": 1e-5, "max_steps": 20000})
    for name, key in (("test", "test_error"), ("train", "train_error")):
        arr = getattr(v, name)[0]
        se = arr.std(ddof=1) / np.sqrt(arr.size)
        assert abs(arr.mean() - getattr(th, key)) < 3 * se + 0.08 * getattr(th, key), (name, arr, getattr(th, key))
    assert np.allclose(v.rank[0], 0.3)


@pytest.mark.parametrize("k,ks", [(1.0, 0.5), (1.0, 0.25)])
def test_recovery_probability_brackets_alpha_c(k, ks):
    """Noiseless, lam = 1e-4, d = 20, 4 seeds: no recovery at alpha_c - 0.04, recovery at alpha_c + 0.08
    (the finite-d crossing lies 0.01-0.05 above alpha_c at d = 20-40)."""
    ac = alpha_c(k, ks).alpha_c
    rc = recovery_curve(k, ks, [ac - 0.04, ac + 0.08], d=20, seeds=4)
    assert rc.prob[0] <= 0.25 and rc.prob[1] >= 0.75, rc.rel_err
