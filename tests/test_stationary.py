"""dmft.stationary: spec reference points, threshold bracketing, limits, flags, errors, I/O."""

import math
import warnings

import numpy as np
import pytest

from dmft.params import ExtensiveWidthParams as P
from dmft.stationary import StationarySolution, solve_stationary
from dmft.thresholds import alpha_c
from odes.common import hdf5io
from odes.common.errors import ConvergenceError, ParameterError


@pytest.fixture(scope="module")
def set_b():
    return solve_stationary(P(1.0, 1.0, 0.5, 0.05, 0.5))


def test_reference_point_B(set_b):
    """Spec O4: 0.27367 / 0.30120, a = 0.62395, D = 0.7521, sigma^2 = 0.19342, lam/a = 0.0801 (+-0.0002)."""
    s = set_b
    assert abs(s.test_error - 0.27367) < 1e-5 and abs(s.train_error - 0.30120) < 1e-5
    assert abs(s.a - 0.62395) < 1e-5 and abs(s.D - 0.7521) < 1e-4
    assert abs(s.sigma2 - 0.19342) < 1e-5 and abs(s.threshold - 0.0801) < 1e-4
    assert s.residual < 1e-9 and s.flags == () and s.reliable


def test_reference_point_10_digits():
    """Second reference point of the spec (two independent implementations, 10 digits)."""
    s = solve_stationary(P(0.6, 1.0, 0.5, 0.01, 0.1))
    assert abs(s.C_S - 0.0859209050) < 1e-10
    assert abs(s.test_error - 0.1718418) < 1e-7
    assert abs(s.train_error - 0.0314318908) < 1e-10
    assert abs(s.rank_fraction - 0.6935884092) < 1e-10


def test_sets_A_and_C():
    c = solve_stationary(P(1.5, 2.0, 0.25, 0.02, 0.1))  # O5
    assert abs(c.train_error - 0.07689) < 1e-5 and abs(c.test_error - 0.02627) < 1e-5
    assert abs(c.a - 0.78033) < 1e-5 and abs(c.D - 0.6590) < 1e-4
    a = solve_stationary(P(1.0, 1.0, 0.5, 0.01, 0.0))  # O6 (+-0.5 %)
    assert abs(a.train_error / 1.580e-4 - 1) < 5e-3 and abs(a.test_error / 3.993e-4 - 1) < 5e-3
    assert abs(a.a / 0.62898 - 1) < 5e-3 and abs(a.D / 0.7420 - 1) < 5e-3
    # kappa >= 1: results do not depend on kappa
    c_inf = solve_stationary(P(1.5, math.inf, 0.25, 0.02, 0.1))
    assert abs(c_inf.test_error - c.test_error) < 1e-13


def test_rank_constrained_reference_point():
    """kappa < 1 branch: spec C_S = 0.0819405660, spectral gap 0.3858555 (hard cut at the kappa-quantile)."""
    s = solve_stationary(P(0.4, 0.3, 0.25, 0.05, 0.1))
    assert abs(s.C_S - 0.0819405660) < 1e-9
    assert abs(s.spectral_gap - 0.3858555) < 1e-7
    assert abs(s.rank_fraction - 0.3) < 1e-10 and s.omega > s.threshold
    assert "rank_constraint_active" in s.flags and s.reliable


def test_fixed_point_against_sampled_matrices():
    """The solved (sigma^2, a) satisfy the equations evaluated by brute force on one sampled Y = S* + sigma M
    (d = 1200, explicit f(Y), divided differences of its eigenvalues, C_S = (1/d) Tr(f(Y) - S*)^2); kappa >= 1
    and the rank-constrained kappa < 1 branch. Tolerance: O(1/d) finite-size effects, 3 %."""
    rng = np.random.default_rng(3)
    d = 1200
    for prm in (P(1.0, 1.0, 0.5, 0.05, 0.5), P(0.4, 0.3, 0.25, 0.05, 0.1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = solve_stationary(prm)
        ms = int(round(prm.kappa_star * d))
        W = rng.standard_normal((ms, d))
        S_star = W.T @ W / ms
        A = rng.standard_normal((d, d))
        ev, U = np.linalg.eigh(S_star + math.sqrt(s.sigma2) * (A + A.T) / math.sqrt(2 * d))
        keep = np.zeros(d, bool)
        k = d if prm.kappa >= 1 else int(round(prm.kappa * d))
        keep[d - k:] = True
        f = np.where(keep & (ev > s.threshold), ev - s.threshold, 0.0)
        F = (U * f) @ U.T
        cs = np.sum((F - S_star) ** 2) / d
        dx = ev[:, None] - ev[None, :]
        off = np.abs(dx) > 0
        dd = np.where(off, (f[:, None] - f[None, :]) / np.where(off, dx, 1.0), 1.0 * (f > 0)[:, None])
        D = (dd.sum() + (f > 0).sum()) / (d * (d + 1))
        assert abs(cs / s.C_S - 1) < 0.03
        assert abs(D / s.D - 1) < 0.03
        assert abs((prm.noise + 2 * cs) / (4 * prm.alpha) / s.sigma2 - 1) < 0.03
        assert abs((1 - D / (2 * prm.alpha)) / s.a - 1) < 0.03


@pytest.mark.parametrize("k,ks", [(1.0, 0.5), (math.inf, 0.25)])
def test_threshold_bracketing_tiny_lambda(k, ks):
    """Delta = 0, lam -> 0+: recovery error ~ 0 just above alpha_c, finite just below."""
    ac = alpha_c(k, ks).alpha_c
    above = solve_stationary(P(ac + 0.02, k, ks, 1e-5, 0.0))
    below = solve_stationary(P(ac - 0.02, k, ks, 1e-5, 0.0))
    assert above.test_error < 1e-6
    assert below.test_error > 1e-2
    # above: error ~ lam^2 (perfect recovery as lam -> 0); below: lam-independent limit
    above2 = solve_stationary(P(ac + 0.02, k, ks, 1e-4, 0.0))
    assert 50 < above2.test_error / above.test_error < 200
    below2 = solve_stationary(P(ac - 0.02, k, ks, 1e-4, 0.0))
    assert abs(below2.test_error / below.test_error - 1) < 0.05


def test_noise_to_zero_limit_is_continuous():
    """Delta -> 0 at fixed small lam converges to the noiseless solution (above alpha_c: ~ 0)."""
    base = solve_stationary(P(0.5, 1.0, 0.5, 1e-3, 0.0))
    eps = solve_stationary(P(0.5, 1.0, 0.5, 1e-3, 1e-8))
    assert abs(eps.test_error - base.test_error) < 1e-6
    assert base.test_error < 1e-4


def test_lambda_zero_cases():
    with pytest.raises(ParameterError, match="interpolation threshold"):
        solve_stationary(P(0.2, 1.0, 0.5, 0.0, 0.5))
    with pytest.raises(ParameterError, match="alpha_c"):
        solve_stationary(P(0.3, 1.0, 0.5, 0.0, 0.0))
    pr = solve_stationary(P(1.0, 1.0, 0.5, 0.0, 0.0))
    assert pr.test_error == 0.0 and pr.rank_fraction == 0.5
    # lam = 0 above interpolation is the limit of small lam
    s0 = solve_stationary(P(1.0, 1.0, 0.5, 0.0, 0.5))
    s1 = solve_stationary(P(1.0, 1.0, 0.5, 1e-7, 0.5))
    assert abs(s0.test_error - s1.test_error) < 1e-5 and s0.threshold == 0.0


def test_flags_for_known_failures():
    with pytest.warns(UserWarning, match="unreliable"):
        s = solve_stationary(P(0.2, 0.2, 0.1, 0.01, 0.1))  # spec failure (i): predicted interpolation
    assert "interpolation_beyond_parameter_count" in s.flags and not s.reliable
    with pytest.warns(UserWarning, match="kappa < kappa"):
        s = solve_stationary(P(0.5, 0.25, 0.5, 0.05, 0.1))  # spec failure (ii)
    assert "kappa_below_kappa_star" in s.flags and not s.reliable and s.to_json()["reliable"] is False


def test_convergence_error_reports_residual():
    with pytest.raises(ConvergenceError) as exc:
        solve_stationary(P(1.0, 1.0, 0.5, 0.05, 0.5), max_scan=0)
    assert exc.value.residual is not None


def test_quadrature_check_and_hdf5_roundtrip(tmp_path, set_b):
    s = solve_stationary(P(1.0, 1.0, 0.5, 0.05, 0.5), quadrature_check=True)
    assert s.quadrature_change < 1e-10
    path = s.save(tmp_path / "st.h5")
    back = StationarySolution.load(path)
    assert hdf5io.equal(back, s)
    # the stored density of S_inf integrates to the rank fraction (trapezoid on the cosine grid)
    assert abs(np.trapezoid(s.density, s.grid) - s.rank_fraction) < 2e-3
    ax = s.plot()
    assert ax is not None


# ---- issue 9 regressions ------------------------------------------------------------------------------------
def _linear_response(alpha, kappa_star):
    """Delta -> 0+ at lam = 0, kappa >= 1, alpha above alpha_feas (closed form of the small-sigma expansion):
    Y = S* + sigma M splits into the MP bulk (mass r) and, on the null space of S*, a semicircle of variance
    (1 - r) sigma^2 (mass 1 - r), of which the PSD projection keeps half. Then
    D0 = r^2 + 2 r (1 - r) + (1 - r)^2/2, C_S = c sigma^2 with c = (1 - r)^2/2 + 2 D0 - 1, and
    sigma^2 = Delta / (4 alpha - 2 c), test = 2 c sigma^2."""
    r = min(kappa_star, 1.0)
    d0 = r * r + 2 * r * (1 - r) + (1 - r) ** 2 / 2
    c = (1 - r) ** 2 / 2 + 2 * d0 - 1
    return 2 * c / (4 * alpha - 2 * c)


def test_tiny_noise_is_continuous_or_refused():
    """Regression: noise = 1e-30 returned a NEGATIVE test error; lam = 1e-16 raised KeyError. Now values down to
    the resolution floor sigma^2 = 1e-18 follow the Delta -> 0 linear response (independent closed form,
    test/Delta = 7/9 at alpha = 1, kappa* = 1/2) and smaller ones are refused naming the parameter."""
    ref = _linear_response(1.0, 0.5)
    assert ref == pytest.approx(7 / 9)
    for noise in (1e-12, 1e-17):
        s = solve_stationary(P(1.0, 1.0, 0.5, 0.0, noise), n_grid=2)
        assert s.test_error > 0 and abs(s.test_error / noise / ref - 1) < 1e-6
    with pytest.raises(ParameterError, match="'noise'.*1e-18"):
        solve_stationary(P(1.0, 1.0, 0.5, 0.0, 1e-30))
    with pytest.raises(ParameterError, match="'lam'.*1e-18"):
        solve_stationary(P(1.0, 1.0, 0.5, 1e-16, 0.0))
    with pytest.raises(ParameterError, match="'lam/noise'"):
        solve_stationary(P(1.0, 1.0, 0.5, 1e-16, 1e-30))
    # lam -> 0+ at Delta = 0 above alpha_c: continuous towards exact recovery (test ~ lam^2), down to the floor
    t = [solve_stationary(P(1.0, 1.0, 0.5, lam, 0.0), n_grid=2).test_error for lam in (1e-6, 1e-8)]
    assert abs(t[0] / t[1] / 1e4 - 1) < 1e-3


@pytest.mark.parametrize("name,kw", [("alpha", dict(alpha=1e308)), ("alpha", dict(alpha=1e-308)),
                                     ("kappa_star", dict(kappa_star=1e308)), ("kappa_star", dict(kappa_star=1e-308)),
                                     ("noise", dict(noise=1e308)), ("kappa", dict(kappa=1e-308))])
def test_extreme_parameters_are_refused_with_range(name, kw):
    """Leaked 'math domain error' / 'Array must not contain infs or NaNs' before: now a ParameterError naming the
    parameter and its supported range."""
    base = dict(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5) | kw
    with pytest.raises(ParameterError, match=f"'{name}'.*must be in"):
        P(**base)
