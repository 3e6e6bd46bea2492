"""dmft.thresholds: alpha_c table of the spec, brute-force minimisation, special cases, interpolation threshold."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from dmft.thresholds import (
    M_function,
    alpha_c,
    alpha_c_grid,
    alpha_feasibility,
    alpha_interp_noiseless,
    interpolation_threshold,
    interpolation_threshold_grid,
    m0,
    m1,
    m2,
)
from odes.common.errors import ParameterError

INF = math.inf
# spec table (6 digits): kappa* -> {kappa: alpha_c}
TABLE = {
    0.1: {0.1: 0.095000, 0.25: 0.157219, 0.5: 0.157572, 1.0: 0.157572, 2.0: 0.157572, INF: 0.157572},
    0.25: {0.25: 0.218750, 0.5: 0.293942, 1.0: 0.293942, 2.0: 0.293942, INF: 0.293942},
    0.5: {0.5: 0.375000, 1.0: 0.422175, 2.0: 0.422175, INF: 0.422175},
    1.0: {1.0: 0.5, 2.0: 0.5, INF: 0.5},
}
# spec, 12 digits: (kappa*, kappa) -> alpha_c
EXTRA = {(0.1, 0.3): 0.157571815048, (0.25, 0.3): 0.265150194529, (0.5, 0.7): 0.422174811433}


def test_truncated_semicircle_moments_vs_quadrature():
    sc = lambda u: math.sqrt(max(4 - u * u, 0.0)) / (2 * math.pi)
    for b in (-2.0, -1.3, 0.0, 0.7, 1.9):
        for k, mk in ((0, m0), (1, m1), (2, m2)):
            ref = integrate.quad(lambda u, k=k: u ** k * sc(u), b, 2.0, epsabs=1e-14, epsrel=1e-13)[0]
            assert abs(float(mk(b)) - ref) < 1e-12


@pytest.mark.parametrize("ks", sorted(TABLE))
def test_alpha_c_table(ks):
    for k, val in TABLE[ks].items():
        assert abs(alpha_c(k, ks).alpha_c - val) <= 5e-7 + 1e-12  # table rounded to 6 digits


@pytest.mark.parametrize("key", sorted(EXTRA))
def test_alpha_c_extra_points_1e9(key):
    ks, k = key
    assert abs(alpha_c(k, ks).alpha_c - EXTRA[key]) <= 1e-9


@pytest.mark.parametrize("k,ks", [(0.3, 0.1), (0.3, 0.25), (0.7, 0.5), (INF, 0.25), (1.0, 0.5), (0.4, 0.2)])
def test_root_equals_bruteforce_minimum(k, ks):
    """Independent of the stationarity root: dense grid + bounded scalar minimisation of M(s)."""
    s = np.linspace(0.0, 2.0, 20001)
    Ms = M_function(s, k, ks)
    i = int(np.argmin(Ms))
    lo, hi = s[max(i - 1, 0)], s[min(i + 1, s.size - 1)]
    res = optimize.minimize_scalar(lambda t: float(M_function(t, k, ks)), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-12})
    brute = 0.5 * min(res.fun, Ms.min())
    assert abs(alpha_c(k, ks).alpha_c - brute) < 1e-12


def test_special_cases_and_flags():
    for r in (0.1, 0.3, 0.6):
        assert abs(alpha_c(r, r).alpha_c - (r - r * r / 2)) < 1e-14
    assert alpha_c(INF, 1.0).alpha_c == 0.5 and alpha_c(3.0, 2.0).alpha_c == 0.5
    # kappa = 1 and kappa = inf coincide
    assert alpha_c(1.0, 0.3).alpha_c == alpha_c(INF, 0.3).alpha_c
    # unreliable window kappa slightly above kappa*: alpha_c > kappa - kappa^2/2
    a = alpha_c(0.3, 0.25)
    assert a.unreliable and a.alpha_c > a.dof and "unreliable" in a.note
    assert not alpha_c(0.5, 0.25).unreliable and not alpha_c(0.3, 0.1).unreliable
    with pytest.raises(ParameterError, match="kappa"):
        alpha_c(0.1, 0.25)
    with pytest.raises(ParameterError, match="kappa_star"):
        alpha_c(1.0, -0.5)


def test_grid_is_vectorised_and_matches_scalar():
    ks = np.array([0.1, 0.25, 0.5])[:, None]
    k = np.array([0.3, 0.5, 1.0, INF])[None, :]
    g = alpha_c_grid(k, ks)
    assert g.shape == (3, 4)
    assert np.isnan(g[2, 0]) and not np.isnan(g[2, 1])  # kappa = 0.3 < kappa* = 0.5 undefined; 0.5 defined
    assert not np.any(np.isnan(g[:2]))
    assert g[2, 2] == alpha_c(1.0, 0.5).alpha_c and g[0, 0] == alpha_c(0.3, 0.1).alpha_c


def test_interpolation_threshold_double_descent_example():
    it = interpolation_threshold(1.0, 0.25, 0.5)
    assert abs(it.alpha_interp - 0.3012679547) < 1e-9
    assert abs(it.C_S - 5.2050111516) < 1e-9
    assert abs(math.sqrt(it.sigma2) - 3.0088902983) < 1e-9
    # same for kappa = inf (kappa >= 1 branch)
    assert abs(interpolation_threshold(INF, 0.25, 0.5).alpha_interp - it.alpha_interp) < 1e-12


def test_interpolation_threshold_limits():
    """Delta -> infinity: 1/4 (semicircle-dominated Y: D -> 1/2). Delta -> 0+: the PSD-feasibility threshold
    r - r^2/2 + (1-r)^2/4 (closed form, statistical dimension of the PSD tangent cone), which is ABOVE alpha_c.
    Convergence is slow (~Delta^0.17, measured: error 1e-4 at Delta = 1e-10)."""
    assert abs(interpolation_threshold(1.0, 0.25, 1e6).alpha_interp - 0.25) < 2e-3
    for ks in (0.25, 0.5):
        af = alpha_feasibility(ks)
        vals = [interpolation_threshold(1.0, ks, dl).alpha_interp for dl in (1e-6, 1e-8, 1e-10)]
        assert all(v < af for v in vals) and vals[0] < vals[1] < vals[2]
        assert af - vals[-1] < 2e-4
        assert af > alpha_c(1.0, ks).alpha_c + 0.01
    assert interpolation_threshold(1.0, 0.5, 0.0).alpha_interp == alpha_feasibility(0.5)
    assert alpha_feasibility(1.0) == 0.5
    g = interpolation_threshold_grid([1.0, INF], 0.25, 0.5)
    assert np.allclose(g, 0.3012679547, atol=1e-9)


def test_double_descent_peak_tends_to_interpolation_threshold():
    """At lam > 0 the cusp at alpha_interp becomes a smooth peak; as lam -> 0+ its location tends to the
    independently computed alpha_interp (spec: 0.3012679547 for kappa >= 1, kappa* = 0.25, Delta = 0.5) and its
    height rises toward the cusp value 2 C_S = 10.41 without exceeding it."""
    from dmft.thresholds import double_descent_peak

    peaks = [double_descent_peak(1.0, 0.25, lam, 0.5, xatol=1e-3) for lam in (1e-2, 1e-3)]
    ai = 0.3012679547
    dist = [pk.alpha_peak - ai for pk in peaks]
    assert all(0.0 < x < 0.02 for x in dist), dist          # peak just above the interpolation threshold
    assert dist[1] < dist[0]                                # and closer to it at smaller lam
    heights = [pk.test_error for pk in peaks]
    assert heights[0] < heights[1] < 2 * 5.2050111516       # height grows toward the cusp, stays below it


def test_double_descent_peak_rejects_bad_input():
    from dmft.thresholds import double_descent_peak

    with pytest.raises(ParameterError, match="'lam'"):
        double_descent_peak(1.0, 0.25, 0.0, 0.5)
    with pytest.raises(ParameterError, match="'noise'"):
        double_descent_peak(1.0, 0.25, 0.01, 0.0)


@pytest.mark.parametrize("k, ks", [(0.5, 0.25), (0.62, 0.25), (0.8, 0.25)])
def test_noiseless_interpolation_threshold_kappa_below_one_vs_extrapolation(k, ks):
    """Closed form alpha_interp(Delta = 0) = r - r^2/2 + (1-r)^2/2 m2(max(omega, 0)) (statistical dimension of the
    tangent cone of the rank-<=kappa PSD set at S*) against the independent Delta -> 0 extrapolation of the
    Delta > 0 solver: least-squares fit a + b Delta^(1/3) + c Delta^(2/3) over Delta = 1e-5 ... 1e-9, |a - closed|
    within 4 standard errors of a (measured: 1.9, 1.9, 1.8 sigma; sigma ~ 1e-10 ... 8e-10). (0.62, 0.25) is just
    below the change of form at kappa = (1 + kappa*)/2 = 0.625, (0.8, 0.25) above it (= alpha_feasibility)."""
    closed = alpha_interp_noiseless(k, ks)
    assert interpolation_threshold(k, ks, 0.0).alpha_interp == closed
    deltas = np.array([1e-5, 1e-6, 1e-7, 1e-8, 1e-9])
    vals = np.array([interpolation_threshold(k, ks, dl).alpha_interp for dl in deltas])
    X = np.stack([deltas ** (j / 3) for j in range(3)], axis=1)
    coef, *_ = np.linalg.lstsq(X, vals, rcond=None)
    resid = vals - X @ coef
    se = math.sqrt(resid @ resid / (len(vals) - 3) * np.linalg.inv(X.T @ X)[0, 0])
    assert abs(coef[0] - closed) < 4 * se + 1e-12, (coef[0], closed, se)
    assert all(vals < closed)
    if k >= 0.5 * (1 + ks):
        assert closed == alpha_feasibility(ks)
    else:
        assert closed < alpha_feasibility(ks) - 1e-8


def test_noiseless_interpolation_threshold_special_cases():
    """kappa = kappa*: r - r^2/2 (= alpha_c there); kappa >= 1: alpha_feasibility; kappa < kappa*
    (misspecified) solved at Delta = 0, approached linearly by Delta > 0 (checked at Delta = 1e-8)."""
    assert abs(alpha_interp_noiseless(0.25, 0.25) - (0.25 - 0.25 ** 2 / 2)) < 1e-15
    assert alpha_interp_noiseless(2.0, 0.25) == alpha_feasibility(0.25)
    it0 = interpolation_threshold(0.2, 0.25, 0.0)
    assert it0.sigma2 > 0 and math.isfinite(it0.C_S)
    assert abs(it0.alpha_interp - interpolation_threshold(0.2, 0.25, 1e-8).alpha_interp) < 1e-8


def test_cli_noiseless_interpolation_threshold_kappa_below_one(capsys):
    """`quadnet threshold --interpolation --noise 0` at kappa < 1 (formerly refused) prints the closed form:
    r - r^2/2 + (1-r)^2/2 m2(omega) with m0(omega) = 1/3 for (0.5, 0.25), checked here by quadrature of the
    semicircle (independent of the m0/m2 closed forms)."""
    import json

    from validation.cli import main

    assert main(["threshold", "--kappa", "0.5", "--kappa-star", "0.25", "--interpolation", "--noise", "0",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    sc = lambda u: np.sqrt(4 - u * u) / (2 * np.pi)  # noqa: E731
    omega = optimize.brentq(lambda b: integrate.quad(sc, b, 2)[0] - 1 / 3, -2, 2, xtol=1e-14)
    m2q = integrate.quad(lambda u: u * u * sc(u), omega, 2, epsabs=1e-14)[0]
    r = 0.25
    assert abs(out["alpha_interp"] - (r - r * r / 2 + (1 - r) ** 2 / 2 * m2q)) < 1e-10


# ---- issue 9 regressions ------------------------------------------------------------------------------------
def test_double_descent_peak_flat_curve_is_no_peak():
    """lam = 10: for alpha >~ 0.45 the fit is killed (theta = lam/a above the spectrum of Y: S = 0, rank 0) and the
    test error is the null value 2 (1 + 1/kappa*) = 10 (closed form); below it rises monotonically toward it.
    The maximum over the default bracket (0.15, 0.60) is this plateau, not a peak: it used to be reported as an
    arbitrary alpha_peak = 0.469. Now NoPeakError (CLI exit 3), never an invented location."""
    from dmft.params import ExtensiveWidthParams
    from dmft.stationary import solve_stationary
    from dmft.thresholds import NoPeakError, double_descent_peak
    from odes.common.errors import ConvergenceError

    t = {a: solve_stationary(ExtensiveWidthParams(a, 1.0, 0.25, 10.0, 0.5), n_grid=2) for a in (0.2, 0.3, 0.5, 0.6)}
    for a in (0.5, 0.6):
        assert t[a].rank_fraction == 0.0 and abs(t[a].test_error - 2 * (1 + 1 / 0.25)) < 1e-12
    assert t[0.2].test_error < t[0.3].test_error < 10.0
    with pytest.raises(NoPeakError, match="no double-descent peak") as exc:
        double_descent_peak(1.0, 0.25, 10.0, 0.5)
    assert isinstance(exc.value, ConvergenceError)  # CLI exit 3


def test_alpha_c_uses_effective_ranks():
    """A student with kappa >= 1 spans every PSD matrix: alpha_c(kappa >= 1, kappa* >= 1) = 1/2 (spec closed form
    for kappa* >= 1), also when kappa < kappa*; refused only when min(kappa, 1) < min(kappa*, 1)."""
    for k, ks in ((1.5, 2.0), (1.0, 3.0), (INF, 5.0)):
        a = alpha_c(k, ks)
        assert a.alpha_c == 0.5 and not a.unreliable
        assert float(M_function(0.3, k, ks)) == pytest.approx(1.0, abs=1e-15)  # M = 1 for r = 1
    with pytest.raises(ParameterError, match="min\\(kappa, 1\\)"):
        alpha_c(0.5, 2.0)


def test_full_rank_teacher_recovered_above_one_half_by_stationary_solver():
    """Independent of alpha_c: the stationary solver at Delta = 0, lam -> 0+ (lam = 1e-5, 1e-4) recovers exactly
    (test ~ lam^2) above alpha = 1/2 and not below, for kappa = 1.5 < kappa* = 2."""
    from dmft.params import ExtensiveWidthParams
    from dmft.stationary import solve_stationary

    above = [solve_stationary(ExtensiveWidthParams(0.55, 1.5, 2.0, lam, 0.0), n_grid=2).test_error
             for lam in (1e-5, 1e-4)]
    below = [solve_stationary(ExtensiveWidthParams(0.45, 1.5, 2.0, lam, 0.0), n_grid=2).test_error
             for lam in (1e-5, 1e-4)]
    assert above[0] < 1e-6 and 50 < above[1] / above[0] < 200      # ~ lam^2 -> 0
    assert below[0] > 1e-2 and abs(below[1] / below[0] - 1) < 0.05  # lam-independent, finite
    # lam = Delta = 0: exact perfect recovery above 1/2, refused below (many interpolators)
    assert solve_stationary(ExtensiveWidthParams(0.55, 1.5, 2.0, 0.0, 0.0)).test_error == 0.0
    with pytest.raises(ParameterError, match="alpha_c = 0.5"):
        solve_stationary(ExtensiveWidthParams(0.45, 1.5, 2.0, 0.0, 0.0))


def test_grids_keep_unreliable_flags_and_reasons():
    g = alpha_c_grid([0.3, 0.1, 0.5], 0.25)
    assert g.unreliable.tolist() == [True, False, False]       # alpha_c(0.3, 0.25) > dof (flag of AlphaC)
    assert "parameter count" in g.reason[0]
    assert np.isnan(g.values[1]) and "min(kappa, 1)" in g.reason[1]  # undefined: the reason is kept
    assert g.reason[2] == "" and g.ok.tolist() == [False, False, True]
    assert np.asarray(g).shape == (3,) and g[2] == alpha_c(0.5, 0.25).alpha_c  # array-like (backward compatible)
    it = interpolation_threshold_grid([1.0, 0.5, 1.0], 0.25, [0.5, 0.0, 1e-30])
    assert np.isfinite(it.values[0]) and it.reason[0] == "" and not it.unreliable[0]
    assert it.values[1] == alpha_interp_noiseless(0.5, 0.25) and it.reason[1] == ""  # Delta = 0 closed form
    assert np.isnan(it.values[2]) and "resolution" in it.reason[2]


def test_interpolation_threshold_rank_constrained_flag():
    """kappa < 1: alpha_interp above the parameter count kappa - kappa^2/2 is flagged (same rule as the
    stationary solver's interpolation_beyond_parameter_count)."""
    it = interpolation_threshold(0.3, 0.25, 0.5)
    assert it.unreliable == (it.alpha_interp > 0.3 - 0.3 ** 2 / 2)
    assert not interpolation_threshold(1.0, 0.25, 0.5).unreliable


@pytest.mark.parametrize("name,kw", [("kappa_star", dict(kappa_star=1e308)), ("kappa_star", dict(kappa_star=1e-308)),
                                     ("noise", dict(noise=1e308)), ("kappa", dict(kappa=1e-308))])
def test_extreme_inputs_name_the_parameter(name, kw):
    args = dict(kappa=1.0, kappa_star=0.25, noise=0.5) | kw
    with pytest.raises(ParameterError, match=f"'{name}'"):
        interpolation_threshold(args["kappa"], args["kappa_star"], args["noise"])
