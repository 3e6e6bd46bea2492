"""odes.common.numerics against closed forms: the 2 x 2 normal equations of weighted least squares, scipy's
independent linregress, and exact synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from odes.common.errors import ParameterError
from odes.common.numerics import fit_inverse_size, fit_power_law, time_grid, tolerance_check


def _wls_closed_form(x, y, w):
    """a, b, se_a, se_b of y = a + b x from the explicit normal equations (Cramer's rule)."""
    S, Sx, Sxx = w.sum(), (w * x).sum(), (w * x * x).sum()
    Sy, Sxy = (w * y).sum(), (w * x * y).sum()
    det = S * Sxx - Sx ** 2
    a = (Sxx * Sy - Sx * Sxy) / det
    b = (S * Sxy - Sx * Sy) / det
    return a, b, math.sqrt(Sxx / det), math.sqrt(S / det)


def test_time_grid_accepts_and_names_the_option():
    assert time_grid("alphas", [0, 1, 2.5]).tolist() == [0.0, 1.0, 2.5]
    assert time_grid("times", [0, 1, 1], strictly_increasing=False).tolist() == [0.0, 1.0, 1.0]
    bad = [([], {}), ([[0, 1]], {}), ([0, -1], {}), ([0, 1, 1], {}), ([0, 2, 1], {"strictly_increasing": False}),
           ([1, 2], {"start_at_zero": True}), ([0, float("nan")], {}), ([0, float("inf")], {})]
    for values, kw in bad:
        with pytest.raises(ParameterError) as e:
            time_grid("my_times", values, **kw)
        assert e.value.name == "my_times"


def test_tolerance_check_closed_form():
    """A curve with error exactly c rtol: the estimate is c (rtol - rtol/factor)."""
    t = np.linspace(0, 1, 5)
    err = tolerance_check(lambda r: np.sin(t) + 3.0 * r * t, 1e-4, factor=10.0)
    assert err == pytest.approx(3.0 * (1e-4 - 1e-5), rel=1e-9)


def test_fit_inverse_size_matches_normal_equations():
    rng = np.random.default_rng(0)
    d = np.array([10.0, 20.0, 40.0, 80.0])
    ses = np.array([0.02, 0.015, 0.01, 0.008])
    y = 0.3 + 0.7 / d + ses * rng.standard_normal(4)
    a, b, sa, sb = _wls_closed_form(1.0 / d, y, 1.0 / ses ** 2)
    fit = fit_inverse_size(d, y, ses, scale_by_chi2=False)
    assert (fit.intercept, fit.slope, fit.intercept_se, fit.slope_se) == pytest.approx((a, b, sa, sb), rel=1e-10)
    # with the chi^2 scaling: standard errors times sqrt(max(1, chi2/dof))
    chi2 = float(np.sum((y - a - b / d) ** 2 / ses ** 2))
    k = math.sqrt(max(1.0, chi2 / 2))
    fit2 = fit_inverse_size(d, y, ses)
    assert (fit2.intercept, fit2.intercept_se, fit2.slope_se) == pytest.approx((a, k * sa, k * sb), rel=1e-10)
    # exact data are recovered; a single size is returned as it is
    exact = fit_inverse_size(d, 0.3 + 0.7 / d, ses)
    assert (exact.intercept, exact.slope) == pytest.approx((0.3, 0.7), rel=1e-12)
    one = fit_inverse_size([50.0], [0.4], [0.01])
    assert (one.intercept, one.intercept_se, one.slope) == (0.4, 0.01, 0.0)


def test_fit_power_law_unweighted_matches_linregress():
    rng = np.random.default_rng(1)
    N = np.array([50.0, 100.0, 200.0, 400.0, 800.0])
    y = 3.0 * N ** -0.5 * np.exp(0.05 * rng.standard_normal(N.size))
    ref = stats.linregress(np.log(N), np.log(y))
    fit = fit_power_law(N, y)
    assert (fit.slope, fit.slope_se, fit.intercept, fit.intercept_se) == pytest.approx(
        (ref.slope, ref.stderr, ref.intercept, ref.intercept_stderr), rel=1e-10)
    exact = fit_power_law(N, 3.0 * N ** -0.5)
    assert exact.slope == pytest.approx(-0.5, rel=1e-12) and exact.intercept == pytest.approx(math.log(3.0))


def test_fit_power_law_weighted_matches_normal_equations():
    rng = np.random.default_rng(2)
    N = np.array([50.0, 100.0, 200.0, 400.0])
    y = 2.0 * N ** -1.0
    ses = 0.05 * y * np.array([1.0, 0.7, 1.3, 0.9])
    y = y * (1 + ses / y * rng.standard_normal(N.size))
    sig = ses / y
    a, b, sa, sb = _wls_closed_form(np.log(N), np.log(y), 1.0 / sig ** 2)
    chi2 = float(np.sum((np.log(y) - a - b * np.log(N)) ** 2 / sig ** 2))
    k = max(1.0, math.sqrt(chi2 / 2))
    fit = fit_power_law(N, y, ses)
    assert (fit.slope, fit.intercept, fit.slope_se, fit.intercept_se) == pytest.approx((b, a, k * sb, k * sa),
                                                                                      rel=1e-9)
    with pytest.raises(ParameterError):
        fit_power_law([10.0], [1.0])
    with pytest.raises(ParameterError):
        fit_power_law([10.0, 20.0], [1.0, -1.0])


def test_scan_sign_change_brackets_the_first_root():
    from odes.common.numerics import scan_sign_change

    assert scan_sign_change(lambda x: x - 2.5, 0.0, -1.0, 1.0, 10) == (True, 2.0, 3.0)
    assert scan_sign_change(lambda x: x - 2.5, 0.0, -1.0, 1.0, 2) == (False, 2.0, 2.0)
