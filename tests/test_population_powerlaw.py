"""Model (B), power-law teacher: solvers agree, oracle O7 (width floors) and O8 (time exponent),
escape-time formula, fitted exponents vs predictions, Wishart init sampler, invalid inputs."""

import numpy as np
import pytest

from odes.common import hdf5io
from odes.common.errors import ParameterError
from odes.population import powerlaw as pl
from odes.population.highdim import wishart
from odes.population.params import OnlineSGDParams, PowerLawParams
from odes.population.riccati import closed_form_centered, integrate_matrix_flow


def test_teacher_spectrum_normalised():
    lam = pl.teacher_spectrum(1.0, 400)
    assert np.sum(lam**2) == pytest.approx(1.0, abs=1e-14)
    assert lam[0] / lam[9] == pytest.approx(10.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_three_solvers_and_matrix_ode_agree(seed):
    """Teacher-block closed form, restart stepping, Gram DOP853 and the literal d x d ODE / closed form."""
    rng = np.random.default_rng(seed)
    d, r, m = 14, 4, 6
    lam = pl.teacher_spectrum(1.0, r)
    W0 = rng.standard_normal((d, m)) / np.sqrt(d * m)
    S_star = np.zeros((d, d))
    S_star[:r, :r] = np.diag(lam)
    t = np.array([0.0, 0.5, 2.0, 3.0])
    ref = integrate_matrix_flow(W0, S_star, t, model="centered", rtol=1e-12, atol=1e-16).loss
    np.testing.assert_allclose(closed_form_centered(W0, S_star, t).loss, ref, rtol=1e-9)
    G_V, N0 = pl.blocks_from_w0(W0, r)
    for f in (pl.teacher_block_curve, pl.restart_curve, pl.integrate_gram_ode):
        np.testing.assert_allclose(f(G_V, N0, lam, t)[0], ref, rtol=1e-9)
    # long times: the direct closed form overflows/loses accuracy, the overflow-free forms agree
    tl = np.array([10.0, 50.0, 200.0])
    a = pl.teacher_block_curve(G_V, N0, lam, tl)[0]
    b = pl.restart_curve(G_V, N0, lam, tl)[0]
    c = pl.integrate_gram_ode(G_V, N0, lam, tl, rtol=1e-12, atol=1e-20)[0]
    np.testing.assert_allclose(a, b, rtol=1e-8)
    np.testing.assert_allclose(a, c, rtol=1e-6)


def test_restart_for_width_below_rank_matches_ode():
    rng = np.random.default_rng(5)
    r, m = 6, 3
    lam = pl.teacher_spectrum(1.5, r)
    G_V = rng.standard_normal((r, m)) * 0.05
    N0 = wishart(rng, m, 20, 0.01)
    t = [0.0, 1.0, 5.0, 20.0]
    np.testing.assert_allclose(pl.restart_curve(G_V, N0, lam, t)[0],
                               pl.integrate_gram_ode(G_V, N0, lam, t, rtol=1e-12, atol=1e-18)[0], rtol=1e-9)


def test_wishart_sampler_moments():
    """Bartlett sampler vs the Wishart moments E N = n I, Var N_ij = n (i != j), Var N_ii = 2n (MC)."""
    rng = np.random.default_rng(0)
    dim, dof, n = 4, 30, 4000
    X = np.array([wishart(rng, dim, dof) for _ in range(n)])
    m = X.mean(0)
    assert np.max(np.abs(m - dof * np.eye(dim))) < 5 * np.sqrt(2 * dof / n)
    assert X[:, 0, 1].var() == pytest.approx(dof, rel=0.1)
    assert X[:, 2, 2].var() == pytest.approx(2 * dof, rel=0.1)


O7 = {1.0: (4.71619562e-2, 1.05358401e-2, 1.51643134e-3), 1.5: (2.65527368e-3, 1.60494314e-4, 7.75377865e-6)}


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_o7_width_floors(alpha):
    got = [pl.width_floor(alpha, 400, m) for m in (12, 50, 200)]
    np.testing.assert_allclose(got, O7[alpha], rtol=1e-8)


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_gf_reaches_width_floor_and_width_exponent(alpha):
    """GF (exact restart stepping) at t_end = 4 log d/(8 lambda_m) sits on the rank-m floor (spec: within
    0.3% at r = 400; here r = 100, d = 1e4, tolerance 1%); fitted width exponent vs predictions: within its
    95% CI of the finite-r slope of the floors (and of 2 alpha - 1 for alpha = 1.5, where finite r is mild)."""
    fit, data = pl.width_scan(alpha, 100, 10_000, [4, 8, 16, 32], seed=0)
    ratio = data["risk"] / data["floor"]
    assert np.all(ratio >= 1.0 - 1e-9) and np.all(ratio < 1.01)
    assert fit.contains(fit.predictions["finite_r"])
    assert abs(fit.exponent - fit.predictions["finite_r"]) < 0.01
    if alpha == 1.5:
        assert fit.contains(fit.predictions["asymptotic"])


@pytest.mark.parametrize("alpha", [1.0, 1.5])
def test_gf_converges_to_the_rank_m_floor(alpha):
    """GF with m < r converges to the best rank-m approximation: R(t_end) - floor -> 0 as t_end grows
    (t_end = t_factor log d/(8 lambda_m)); at t_factor = 4 / 8 / 16 the max relative excess is ~7e-3 / 4e-4 / 6e-6.
    The floor sum_{j>m} lambda_j^2 is an exact formula (Eckart-Young), independent of the flow."""
    ex = []
    for tf in (4.0, 8.0, 16.0):
        _, data = pl.width_scan(alpha, 100, 10_000, [4, 8, 16, 32], t_factor=tf)
        ex.append(data["risk"] / data["floor"] - 1.0)
    ex = np.array(ex)
    assert np.all(ex >= -1e-12)                          # never below the floor
    assert np.all(ex[1] < ex[0]) and np.all(ex[2] < ex[1])
    assert np.max(ex[2]) < 1e-5


def test_learned_directions_follow_escape_time_formula():
    """J(t) (prefix with S_jj > lambda_j/2) vs #{j: t_j <= t} from the escape-time formula (spec: exact for
    J <~ 300 at r = 600, <= 2% near J -> r/2; here r = 150, J <= 60: within one direction or 4%)."""
    p = PowerLawParams(1.0, 150, 150)
    tj = pl.escape_times(p)
    t = np.geomspace(tj[4], tj[59], 10)
    res = pl.risk_curve(p, t, seed=0)
    pred = np.searchsorted(np.sort(tj), t, side="right")
    assert np.all(np.abs(res.learned - pred) <= np.maximum(1, 0.04 * pred))


def test_time_exponent_vs_predictions():
    """r = m = 200, alpha = 1, d = 4e4, window J in [3, 20], 3 seeds. The fitted exponent (1.126) lies ABOVE the
    asymptotic 1 and the finite-r 0.985 predictions (they are NOT met: finite-log d effect, spec section 3.4) and
    its 95% CI over seeds contains the escape-time (finite r, finite log d) prediction 1.114, which is computed
    from the escape-time formula alone (no simulated data)."""
    p = PowerLawParams(1.0, 200, 200)
    fit, _ = pl.time_exponent(p, seeds=(0, 1, 2))
    pr = fit.predictions
    assert fit.window == (3, 20)
    assert pr["asymptotic"] == 1.0
    assert fit.ci_low > pr["finite_r"] and fit.ci_low > pr["asymptotic"]
    assert fit.contains(pr["escape_time"])
    assert fit.ci_high - fit.ci_low < 0.05


def test_escape_time_prediction_is_data_free_and_grid_converged():
    """The predictions depend only on (alpha, r, m, d, sigma0^2, window): the same for any seed/data, and the
    escape-time slope of the staircase R_esc(t) is converged in its own grid density (1000 vs 4000 per decade)."""
    p = PowerLawParams(1.0, 200, 200)
    a = pl.time_exponent_predictions(p, (3, 20))
    b = pl.time_exponent_predictions(p, (3, 20), per_decade=4000)
    assert abs(a["escape_time"] - b["escape_time"]) < 2e-3
    assert a["finite_r"] == b["finite_r"] and a["asymptotic"] == 1.0
    q = pl.time_exponent_predictions(PowerLawParams(0.4, 200, 200), (3, 20))
    assert q["asymptotic"] is None and q["finite_r"] is not None     # no decaying power law for alpha <= 1/2


def test_samples_axis_and_hdf5(tmp_path):
    p = PowerLawParams(1.0, 10, 10, 100)
    res = pl.risk_curve(p, [0.0, 1.0, 2.0], seed=0)
    np.testing.assert_allclose(res.samples(0.01 / 100), [0.0, 1e4, 2e4])
    res.save(tmp_path / "r.h5")
    assert hdf5io.equal(pl.PowerLawResult.load(tmp_path / "r.h5"), res)


@pytest.mark.slow
@pytest.mark.parametrize("alpha,ref", [(1.0, 1.116), (1.5, 1.379)])
def test_o8_time_exponent(alpha, ref):
    """O8: alpha = 1 (1.5), beta = 1/2, r = m = 600 (d = 3.6e5), window J in [10, 60], seed 0: 1.116 (1.379)
    within the spec's +-0.003; finite-r predictions 1.031 (1.310)."""
    p = PowerLawParams(alpha, 600, 600)
    fit, _ = pl.time_exponent(p, seeds=(0,), window=(10, 60))
    assert fit.exponent == pytest.approx(ref, abs=0.003)
    pr = fit.predictions
    assert pr["finite_r"] == pytest.approx({1.0: 1.031, 1.5: 1.310}[alpha], abs=1e-3)
    assert fit.exponent > pr["finite_r"] + 0.06          # finite-r prediction NOT met (8% / 5% below the fit)
    if alpha == 1.0:
        # escape-time prediction (formula only) 1.1161 vs 1.1150 [1.1122, 1.1179] over seeds 0-2: met within the
        # seed spread +-0.003 quoted by the spec. (alpha = 1.5: 1.3835 vs 1.3777 [1.3760, 1.3795]: 0.4% off, NOT
        # within the seed CI; not asserted.)
        assert abs(pr["escape_time"] - fit.exponent) < 0.003


@pytest.mark.slow
def test_o7_gf_at_r400():
    """Spec: GF at t_end reaches the r = 400, d = 1e5 floors within 0.3%; measured here up to 0.5% (m = 12)."""
    for alpha in (1.0, 1.5):
        fit, data = pl.width_scan(alpha, 400, 100_000, [12, 50, 200])
        np.testing.assert_allclose(data["floor"], O7[alpha], rtol=1e-8)
        assert np.all(data["risk"] / data["floor"] < 1.006)


def test_invalid_inputs():
    for kw, name in [({"alpha_pl": -1, "rank": 5, "width": 5}, "alpha_pl"),
                     ({"alpha_pl": 1, "rank": 0, "width": 5}, "rank"),
                     ({"alpha_pl": 1, "rank": 5, "width": 0}, "width"),
                     ({"alpha_pl": 1, "rank": 5, "width": 5, "d": 3}, "d"),
                     ({"alpha_pl": 1, "rank": 5, "width": 5, "sigma0_sq": -1.0}, "sigma0_sq"),
                     ({"alpha_pl": float("nan"), "rank": 5, "width": 5}, "alpha_pl")]:
        with pytest.raises(ParameterError, match=name):
            PowerLawParams(**kw)
    with pytest.raises(ParameterError, match="eta_d"):
        OnlineSGDParams(PowerLawParams(1, 5, 5), eta_d=0.5, t_max=1.0)
    with pytest.raises(ParameterError, match="width"):
        pl.risk_curve(PowerLawParams(1, 5, 3), [0, 1], method="teacher_block")
    with pytest.raises(ParameterError, match="window"):
        pl.time_exponent(PowerLawParams(1, 20, 20), window=(5, 40))
    with pytest.raises(ParameterError, match="window"):
        pl.time_exponent(PowerLawParams(1, 20, 20), window=(5, 20))      # J = r: the tail sum_{j>r} is 0
    for ws in ([4, 8], [4, 4, 8], [0, 4, 8], [4, 8, 20]):
        with pytest.raises(ParameterError, match="widths"):
            pl.width_scan(1.0, 20, 400, ws)


def _trend_fit(alpha_pl: float, log_d: float) -> float:
    p = PowerLawParams(alpha_pl=alpha_pl, rank=400, width=400, d=int(round(np.exp(log_d))))
    fit, _ = pl.time_exponent(p, seeds=(0,), window=(10, 40))
    return fit.exponent


# Spec (population flows, Sec. 3.4 "Trend with d"): r = m = 400, window J in [10, 40], single seed; the spec quotes a
# seed spread of about +-0.002-0.003 for such fits, so 0.006 (2-3 spreads) is the tolerance.
TREND = {1.0: {12: 1.126, 24: 1.081, 60: 1.065}, 1.5: {12: 1.383, 24: 1.365, 60: 1.343}}


def test_time_exponent_approaches_prediction_as_log_d_grows():
    """The fitted time exponent is above (2 alpha - 1)/alpha at reachable sizes because of the log d inside the
    escape times; it must reproduce the spec's values and move toward the prediction as log d grows
    (log d = 60 is d ~ 1e26: only the r x m blocks and an m x m Wishart Gram are ever formed)."""
    x12, x60 = _trend_fit(1.0, 12), _trend_fit(1.0, 60)
    assert abs(x12 - TREND[1.0][12]) < 0.006 and abs(x60 - TREND[1.0][60]) < 0.006
    assert 1.0 < x60 < x12          # closer to the asymptotic prediction 1 at larger log d


@pytest.mark.slow
@pytest.mark.parametrize("alpha_pl", [1.0, 1.5])
def test_time_exponent_trend_table(alpha_pl):
    fits = {L: _trend_fit(alpha_pl, L) for L in (12, 24, 60)}
    for L, ref in TREND[alpha_pl].items():
        assert abs(fits[L] - ref) < 0.006, (L, fits[L], ref)
    assert fits[12] > fits[24] > fits[60] > (2 * alpha_pl - 1) / alpha_pl


# ---- issue 9 par. 5.2: range of validity of the time exponent for 1/2 < alpha < 1 ---------------------------------
def _tail_slope_over_alpha(alpha: float, r: int, window: tuple[int, int]) -> float:
    """Independent finite-r reference: least-squares slope of log sum_{J<j<=r} j^{-2 alpha} vs log J over the
    window, divided by -alpha (the normalisation Z_r cancels in the slope)."""
    j = np.arange(1, r + 1, dtype=float)
    tail = np.cumsum((j ** (-2 * alpha))[::-1])[::-1]          # tail[J] = sum_{j > J}
    J = np.arange(window[0], window[1] + 1)
    return -np.polyfit(np.log(J), np.log(tail[J]), 1)[0] / alpha


def test_alpha_below_one_fit_follows_finite_rank_not_asymptotic():
    """alpha = 0.75, r = m = 200, J in [3, 20] (the issue's 0.942 vs 0.667): the gap is the finite-rank tail
    (2/3 -> 0.800, correction (J/r)^{2 alpha - 1}, slow for alpha near 1/2) plus finite log d. As log d grows at
    fixed r the fit falls toward the independent finite-r tail slope, not toward 2/3 (measured 0.9416 at
    log d = 10.6, 0.8427 at log d = 60 vs 0.8000). The result is flagged with a warning naming both effects."""
    ref = _tail_slope_over_alpha(0.75, 200, (3, 20))
    assert abs(ref - 0.8) < 1e-3
    fits = {}
    for log_d in (12.0, 60.0):
        p = PowerLawParams(0.75, 200, 200, d=int(round(np.exp(log_d))))
        fit, _ = pl.time_exponent(p, window=(3, 20))
        fits[log_d] = fit
    assert fits[60.0].exponent < fits[12.0].exponent
    assert 0 < fits[60.0].exponent / ref - 1 < 0.06                  # 5.3 % measured, shrinking with log d
    assert fits[60.0].exponent > 1.2 * (2 * 0.75 - 1) / 0.75          # far from the asymptotic 2/3
    v = fits[12.0].validity
    assert {"finite_rank", "finite_log_d", "alpha_below_1"} <= set(v["flags"]) and v["warning"]
    assert v["truncation"] == pytest.approx((20 / 200) ** 0.5)


def test_validity_no_warning_where_the_asymptotic_exponent_is_expected():
    """alpha = 1.5, r = m = 200: escape-time prediction within 5 % of 4/3 -> no warning (the fit, 1.368, is 2.6 %
    above 4/3). alpha = 1, same size: expected +11 % -> warning (the README's 3-13 % band for alpha >= 1)."""
    v15 = pl.time_exponent_validity(PowerLawParams(1.5, 200, 200), (3, 20),
                                    pl.time_exponent_predictions(PowerLawParams(1.5, 200, 200), (3, 20)))
    assert v15["warning"] is None and "alpha_below_1" not in v15["flags"]
    v1 = pl.time_exponent_validity(PowerLawParams(1.0, 200, 200), (3, 20),
                                   pl.time_exponent_predictions(PowerLawParams(1.0, 200, 200), (3, 20)))
    assert v1["warning"] and 0.1 < v1["expected_shift"] < 0.13


# ---- issue 9 par. 5.3: input defects of the time-exponent fit ------------------------------------------------------
def test_steep_spectrum_fits_within_resolvable_directions():
    """alpha = 3, r = m = 20, d = 400: the weights lambda_j fall below the init scale (S_jj(0) ~ 1/d) after a few
    j; the escape-time formula must not map those to t_j ~ 0 (sorting them first made the fit window empty and
    blamed 'window'). The flow itself (J(t)) learns exactly the directions with lambda_j d m/(m - j + 1) >= 2."""
    p = PowerLawParams(3.0, 20, 20)
    lam = np.arange(1, 21, dtype=float) ** -3.0
    lam /= np.sqrt(np.sum(lam**2))
    K = int(np.argmin(lam * 400 * 20 / (20 - np.arange(20)) >= 2))   # first j failing (0-based) = prefix length
    assert K == 6 and pl.resolvable_directions(p) == K
    tj = pl.escape_times(p)
    assert np.all(np.isfinite(tj[:K])) and np.all(np.diff(tj[:K]) > 0) and np.all(np.isinf(tj[K:]))
    res = pl.risk_curve(p, tj[:K] * 1.5, seed=0)                  # after each predicted escape: J(t) counts it
    assert np.all(res.learned >= np.arange(1, K + 1))
    fit, _ = pl.time_exponent(p)
    assert fit.window == (2, 5) and np.isfinite(fit.exponent) and fit.predictions["escape_time"] is not None
    with pytest.raises(ParameterError, match="'window'.*= 6"):
        pl.time_exponent(p, window=(2, 9))


def test_too_steep_spectrum_names_alpha_pl():
    """alpha_pl >= 500 at r = 20 underflowed (NaN -> 'cannot convert float NaN to integer'); now the valid
    range 0 <= alpha <= ln(1e300)/ln(20) = 230.59 is stated. alpha = 5 leaves 2 resolvable directions: the
    default window error names alpha_pl, not 'window'."""
    with pytest.raises(ParameterError, match="'alpha_pl'.*230.5") as ei:
        pl.teacher_spectrum(500.0, 20)
    assert "230.587" in str(ei.value) and abs(np.log(1e300) / np.log(20) - 230.587) < 1e-3
    with pytest.raises(ParameterError, match="'alpha_pl'"):
        pl.time_exponent(PowerLawParams(5.0, 20, 20))
    res = pl.risk_curve(PowerLawParams(200.0, 20, 20), pl.log_time_grid(PowerLawParams(200.0, 20, 20)))
    assert np.all(np.isfinite(res.risk)) and np.all(np.diff(res.risk) <= 1e-12)    # gradient flow: descent


def test_memory_is_checked_before_allocating(monkeypatch):
    """With 1 GiB of (pretended) memory, r = m = 5000 (>= 10 r^2 float64 = 1.9 GiB of r x r work arrays) is refused
    with a ParameterError naming rank and a valid range; r = m = 200 passes."""
    from odes.common import resources

    monkeypatch.setattr(resources, "physical_memory", lambda: float(2**30))
    with pytest.raises(ParameterError, match="'rank'.*valid range"):
        pl.risk_curve(PowerLawParams(1.0, 5000, 5000), [0.0, 1.0])
    with pytest.raises(ParameterError, match="'rank'.*valid range rank <= "):
        pl.risk_curve(PowerLawParams(1.0, 100000, 10, d=10**10), [0.0, 1.0])
    assert pl.check_risk_curve_memory(PowerLawParams(1.0, 200, 200), 100) < 2**30
