"""DMFT solver: t = 0 oracle O1, exact equal-time response, C_e PSD, forward pass vs an independent recursion,
stability bound / divergence errors, HDF5 round trip, runs and extrapolations."""

import dataclasses
import math

import numpy as np
import pytest

from dmft.dynamics import (
    DMFTResult,
    DMFTSettings,
    check_step,
    ensembles,
    extrapolate_d_eff,
    richardson,
    solve,
    step_bound,
)
from dmft.dynamics.solver import NUGGET, advance, cholesky_row, initial_state
from dmft.params import ExtensiveWidthParams
from odes.common import hdf5io
from odes.common.errors import DivergenceError, ParameterError

SET_B = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)


def _o1(kappa, kappa_star, sigma0):
    return 2 * (sigma0 ** 4 * (1 + 1 / kappa) - 2 * sigma0 ** 2 + 1 + 1 / kappa_star)


@pytest.fixture(scope="module")
def small_run():
    return solve(SET_B, DMFTSettings(eta=0.05, steps=30, d_eff=12, samples=4, probes=2, seed=1), quiet=True)


def test_t0_exact_for_identity_init():
    """kappa = inf: S(0) = sigma0^2 I, quantile S* has exact moments -> O1 holds exactly at finite d_eff."""
    p = ExtensiveWidthParams(alpha=1.0, kappa=math.inf, kappa_star=0.5, lam=0.05, noise=0.5)
    r = solve(p, DMFTSettings(eta=0.05, steps=2, d_eff=10, samples=2, sigma0=0.7), quiet=True)
    o1 = 2 * (0.7 ** 4 - 2 * 0.7 ** 2 + 1 + 1 / 0.5)
    assert r.test_error[0] == pytest.approx(o1, rel=1e-12)
    assert r.train_error[0] == pytest.approx(o1 + 0.5, rel=1e-12)


def test_t0_matches_o1_within_sampling_error(small_run):
    """kappa = 1: the Haar cross term (1/d)Tr(S0 S*) fluctuates; compare with O1 within 4 standard errors."""
    o1 = _o1(1.0, 0.5, 1.0)
    r = small_run
    assert abs(r.test_error[0] - o1) <= 4 * r.test_error_std[0] + 1e-12
    assert r.train_error[0] - r.test_error[0] == pytest.approx(0.5, abs=1e-12)
    r2 = solve(SET_B, DMFTSettings(eta=0.05, steps=1, d_eff=60, samples=6, seed=3), quiet=True)
    assert abs(r2.test_error[0] - o1) <= 4 * r2.test_error_std[0]
    assert r2.test_error_std[0] < 0.5 * r.test_error_std[0]  # fluctuation shrinks with d_eff


def test_equal_time_hutchinson_matches_exact():
    r = solve(SET_B, DMFTSettings(eta=0.05, steps=6, d_eff=10, samples=4, probes=16, seed=2), quiet=True)
    h, x, se = r.R_S_equal_time_hutchinson[1:], r.R_S_equal_time_exact[1:], r.R_S_equal_time_hutchinson_se[1:]
    z = (h - x) / se
    assert np.all(np.abs(z) < 4.0), z
    assert np.all(se < 0.1 * np.abs(x))
    np.testing.assert_allclose(r.R_S[np.arange(1, 7), np.arange(0, 6)], x, rtol=1e-13)


def test_ce_psd_and_structure(small_run):
    r = small_run
    ev = np.linalg.eigvalsh(r.C_e)
    assert ev.min() >= -1e-10 * ev.max()
    np.testing.assert_allclose(np.diag(r.C_e), r.train_error, rtol=1e-14)
    np.testing.assert_allclose(r.C_e, r.C_e.T, rtol=0, atol=1e-13)
    # B = (I - R_S/(2 alpha))^{-1}, unit lower triangular (independent inverse)
    n = r.B.shape[0]
    np.testing.assert_allclose(r.B, np.linalg.inv(np.eye(n) - r.R_S / (2 * SET_B.alpha)), atol=1e-12)
    M = 2 * r.C_S + SET_B.noise
    np.testing.assert_allclose(r.C_e, r.B @ M @ r.B.T, rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(r.train_error_std)) and np.all(r.train_error_std > 0)


def test_forward_pass_equals_independent_recursion():
    """The solver's S^k equals the effective-process recursion rebuilt from its own kernels B, L, Gamma."""
    settings = DMFTSettings(eta=0.05, steps=8, d_eff=6, samples=2, seed=4)
    state = initial_state(SET_B, settings, np.random.SeedSequence(4))
    S0 = state.S.copy()
    while state.k <= settings.steps:
        advance(state, SET_B, settings)
    eta, lam, a = settings.eta, SET_B.lam, SET_B.alpha
    T, d = settings.steps, settings.d_eff
    for s in range(2):
        S = [S0[s]]
        for k in range(T):
            Xi = sum(state.L[k, l] * state.Gam[s, l] for l in range(k + 1)) / (2 * math.sqrt(a))
            D = [x - state.Sstar[s] for x in S]
            G = D[k] + sum(state.B[k, j] * D[j] for j in range(k)) + Xi
            P = np.eye(d) - eta * (G + lam * np.eye(d))
            S.append(P @ S[k] @ P)
        np.testing.assert_allclose(S[-1], state.S[s], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(state.CSs[s, T, :T + 1],
                                   [np.sum((S[T] - state.Sstar[s]) * (S[l] - state.Sstar[s])) / d
                                    for l in range(T + 1)], rtol=1e-12)
    # Cholesky rows reproduce C_e + mu I (mu: the white-noise regularisation)
    mu = NUGGET * state.Ce[0, 0]
    np.testing.assert_allclose(state.L @ state.L.T, state.Ce + mu * np.eye(T + 1), rtol=1e-10, atol=1e-12)


def test_invalid_eta_rejected_with_bound():
    bound = step_bound(1.0, 0.5)
    assert bound == pytest.approx(1 / ((1 + 1 / math.sqrt(0.5)) ** 2 * (1 + 1 / math.sqrt(2.0)) ** 2))
    # SET_B has lam = 0.05: eta (2 s_max h_max + lam) < 2, closed form 2/(2 s h + 0.05) = 0.058788
    with pytest.raises(ParameterError, match=r"'eta'.*eta < 0\.058788"):
        solve(SET_B, DMFTSettings(eta=0.06, steps=3, d_eff=4, samples=2), quiet=True)
    check_step(SET_B, 0.05)
    # the bound is sufficient, not necessary: set C of the spec is stable at eta = 0.05 > bound 0.0447
    set_c = ExtensiveWidthParams(alpha=1.5, kappa=2.0, kappa_star=0.25, lam=0.02, noise=0.1)
    with pytest.raises(ParameterError, match="'eta'"):
        solve(set_c, DMFTSettings(eta=0.05, steps=3, d_eff=4, samples=2, sigma0=0.1), quiet=True)
    r = solve(set_c, DMFTSettings(eta=0.05, steps=40, d_eff=8, samples=2, sigma0=0.1, check_stability=False),
              quiet=True)
    assert np.all(np.isfinite(r.test_error)) and r.test_error[-1] < r.test_error[0]
    for bad in (dict(eta=-1), dict(steps=0), dict(d_eff=1), dict(samples=1), dict(probes=0),
                dict(sigma0=float("nan")), dict(ensemble="gaussian")):
        with pytest.raises(ParameterError):
            DMFTSettings(**bad)


def test_divergence_raises_not_nan():
    """Past the stability bound (forced by bypassing check_step) the run stops with DivergenceError."""
    settings = DMFTSettings(eta=0.5, steps=200, d_eff=6, samples=2)
    state = initial_state(SET_B, settings, np.random.SeedSequence(0))
    with pytest.raises(DivergenceError):
        while state.k <= settings.steps:
            advance(state, SET_B, settings)


def test_hdf5_roundtrip(small_run, tmp_path):
    path = small_run.save(tmp_path / "r.h5")
    back = DMFTResult.load(path)
    assert hdf5io.equal(back, small_run)
    assert back.settings == small_run.settings and back.params == SET_B


def test_runs_combine_and_extrapolations():
    s = DMFTSettings(eta=0.05, steps=10, d_eff=8, samples=2, runs=3, seed=5)
    r = solve(SET_B, s, quiet=True)
    singles = [solve(SET_B, dataclasses.replace(s, runs=1), quiet=True)]
    assert r.test_error_std[5] > 0 and not hdf5io.equal(r.train_error, singles[0].train_error)
    # synthetic exact data y = a + b/d: the extrapolation must return a exactly
    base = singles[0]
    fake = []
    for d in (20, 40, 80):
        fake.append(dataclasses.replace(base, settings=dataclasses.replace(base.settings, d_eff=d),
                                        train_error=1.0 + 3.0 / d + 0 * base.t, test_error=2.0 - 1.0 / d + 0 * base.t,
                                        train_error_std=0.01 + 0 * base.t, test_error_std=0.01 + 0 * base.t))
    ex = extrapolate_d_eff(fake)
    np.testing.assert_allclose(ex.train_error, 1.0, rtol=1e-12)
    np.testing.assert_allclose(ex.test_error, 2.0, rtol=1e-12)
    # Richardson on synthetic first-order data y(t; eta) = f(t) + c eta
    t2 = 0.025 * np.arange(21)
    coarse = dataclasses.replace(base, train_error=np.sin(base.t) + 0.3 * 0.05, test_error=base.t + 0.1 * 0.05)
    fine = dataclasses.replace(base, settings=dataclasses.replace(base.settings, eta=0.025, steps=20), t=t2,
                               train_error=np.sin(t2) + 0.3 * 0.025, test_error=t2 + 0.1 * 0.025,
                               train_error_std=np.zeros(21), test_error_std=np.zeros(21))
    gf = richardson(coarse, fine)
    np.testing.assert_allclose(gf.train_error, np.sin(base.t), atol=1e-14)
    np.testing.assert_allclose(gf.test_error, base.t, atol=1e-14)


def test_quantile_vs_wishart_ensembles_agree_at_t0():
    """Both ensembles estimate the same d = infinity value O1 (Wishart has a +1/m finite-size bias)."""
    o1 = _o1(1.0, 0.5, 1.0)
    r = solve(SET_B, DMFTSettings(eta=0.05, steps=1, d_eff=40, samples=8, ensemble="wishart", seed=9), quiet=True)
    # E (1/d)Tr S^2 = 1 + 1/kappa + 1/m exactly for Wishart: bias 2(1/m + 1/m*)
    d = 40
    bias = 2 * (1 / d + 1 / (0.5 * d))
    assert abs(r.test_error[0] - o1 - bias) <= 4 * r.test_error_std[0]
    assert ensembles.mp_matrix(np.random.default_rng(0), 5, 0.0, "quantile") == pytest.approx(np.eye(5))


def test_causal_cholesky_stays_consistent_for_low_rank_covariance():
    """A smooth, numerically rank-3 covariance (frozen noise): the regularised causal Cholesky keeps
    |L(k,:)|^2 = C(k,k) + mu and L L^T = C + mu I; a non-PSD row is refused."""
    n = 300
    t = np.linspace(0, 10, n)
    F = np.stack([np.exp(-t), 1 - np.exp(-0.5 * t), np.ones(n) * 0.3 + 0.01 * np.sin(t)], axis=1)
    C = F @ F.T
    mu = 1e-9 * C[0, 0]
    L = np.zeros((n, n))
    for k in range(n):
        cholesky_row(L, C[k, :k + 1], k, mu)
    np.testing.assert_allclose(np.sum(L ** 2, axis=1), np.diag(C) + mu, rtol=1e-7)
    np.testing.assert_allclose(L @ L.T, C + mu * np.eye(n), atol=1e-9 * C.max())
    with pytest.raises(DivergenceError):
        bad = np.zeros((2, 2))
        cholesky_row(bad, np.array([1.0]), 0, 0.0)
        cholesky_row(bad, np.array([2.0, 1.0]), 1, 0.0)  # |corr| > 1: not PSD


def test_novikov_stein_identity():
    """Gaussian integration by parts on the noise (independent check of the noise normalisation and of the
    response): (1/p) E <Xi^s, S^t - S^0> = (1/(2 alpha d)) sum_{j<t} (L L^T)(s, j) R_S(t, j), per sample, where
    Xi^s = (1/(2 sqrt alpha)) sum_l L(s,l) Gamma^l has per-component covariance (L L^T)/(2 alpha d).
    Pooled over samples/seeds, tolerance 4 standard errors (feedback through the shared kernels is O(1/Ns))."""
    d, T, ns = 12, 24, 8
    pairs = [(12, 3), (24, 10), (24, 20)]
    lhs, rhs = {q: [] for q in pairs}, {q: [] for q in pairs}
    p = d * (d + 1) / 2
    for seed in range(10):
        s = DMFTSettings(eta=0.05, steps=T, d_eff=d, samples=ns, probes=2, seed=seed)
        st = initial_state(SET_B, s, np.random.SeedSequence(seed))
        while st.k <= T:
            advance(st, SET_B, s)
        C = st.L @ st.L.T
        for t, s_ in pairs:
            for i in range(ns):
                xi = sum(st.L[s_, l] * st.Gam[i, l] for l in range(s_ + 1)) / (2 * math.sqrt(SET_B.alpha))
                lhs[(t, s_)].append(np.sum(xi * (st.Dh[i, t] - st.Dh[i, 0])) / p)
                rhs[(t, s_)].append(C[s_, :t] @ st.RSs[i, t, :t] / (2 * SET_B.alpha * d))
    for q in pairs:
        diff = np.array(lhs[q]) - np.array(rhs[q])
        se = diff.std(ddof=1) / math.sqrt(diff.size)
        assert abs(diff.mean()) < 4 * se, (q, diff.mean(), se, np.mean(rhs[q]))
        assert abs(np.mean(rhs[q])) > 4 * se  # the identity is not trivially 0 = 0


# ---- issue 9 regressions ------------------------------------------------------------------------------------
def test_step_bound_includes_lam():
    """GD on the l2-regularised risk: Hessian = data curvature (<= 2 s_max h_max) + lam, so eta (2 s h + lam) < 2.
    lam = 40 used to pass the lam-free check at eta = 0.05 and then diverge. Just below the new bound the run is
    stable and reaches the closed-form stationary value (lam above the spectrum of Y: S = 0, test = 2(1 + 1/kappa*)
    = 6); eta = 0.05 (accepted before) diverges when forced."""
    p = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=40.0, noise=0.5)
    s, h = (1 + 1 / math.sqrt(0.5)) ** 2, (1 + 1 / math.sqrt(2.0)) ** 2
    bound = 2 / (2 * s * h + 40.0)
    assert step_bound(1.0, 0.5, 40.0) == pytest.approx(bound, rel=1e-14)
    with pytest.raises(ParameterError, match=rf"'eta'.*eta = {1.01 * bound:g}.*eta < {bound:.6g}"):
        solve(p, DMFTSettings(eta=1.01 * bound, steps=3, d_eff=4, samples=2), quiet=True)
    r = solve(p, DMFTSettings(eta=0.99 * bound, steps=30, d_eff=4, samples=2), quiet=True)
    assert abs(r.test_error[-1] - 2 * (1 + 1 / 0.5)) < 1e-6
    with pytest.raises(DivergenceError):
        solve(p, DMFTSettings(eta=0.05, steps=30, d_eff=4, samples=2, check_stability=False), quiet=True)


def test_memory_estimate_bounds_the_allocated_state():
    """The formula of DMFTSettings.memory_bytes covers the arrays SolverState.empty really allocates (and is not
    wildly larger); absurd sizes are refused before allocating, naming the option."""
    from dmft.dynamics.state import SolverState
    from odes.common.resources import check_memory

    for st in (DMFTSettings(steps=30, d_eff=8, samples=3, probes=2), DMFTSettings(steps=200, d_eff=3, samples=2)):
        state = initial_state(SET_B, st, np.random.SeedSequence(0))
        allocated = sum(v.nbytes for v in vars(state).values() if isinstance(v, np.ndarray))
        est = sum(st.memory_bytes())
        assert allocated <= est <= 3 * allocated
        assert isinstance(state, SolverState)
    with pytest.raises(ParameterError, match="'d_eff'.*memory"):
        solve(SET_B, DMFTSettings(d_eff=100000, steps=3), quiet=True)
    with pytest.raises(ParameterError, match="'steps'.*memory"):
        solve(SET_B, DMFTSettings(d_eff=4, steps=100000, eta=0.05), quiet=True)
    with pytest.raises(ParameterError, match="'x'.*2 B.*1 B"):
        check_memory("x", 2.0, "test", limit=1.0)


def test_sigma0_range():
    with pytest.raises(ParameterError, match="'sigma0'.*\\(0, 10000\\)"):
        DMFTSettings(sigma0=1e308)
    assert DMFTSettings(sigma0=9999.0).sigma0 == 9999.0
