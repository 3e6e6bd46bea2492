"""Finite-N online-SGD simulator (validation.online_sgd): initial conditions, one-step drift vs the ODE RHS,
exact eps_g vs a Monte-Carlo test set, divergence flag, reproducibility, HDF5 round trip."""

from __future__ import annotations

import numpy as np
import pytest

from odes.common import hdf5io
from odes.common.errors import ParameterError
from odes.finite_width import FiniteWidthParams, generalization_error
from odes.finite_width.ode import rhs
from validation import online_sgd
from validation.online_sgd import (
    OnlineSGDResult,
    initial_weights,
    one_step_increments,
    overlaps,
    run_single,
    simulate,
)

# a deliberately general model: unequal a_j, b_k, eta_j, centred activation (c0 != 0), label noise,
# weight decay and a non-diagonal teacher Gram matrix
GENERAL = dict(p=3, p_star=2, eta=[0.3, 0.5, 0.4], a=[0.5, 0.3, 0.2], b=[0.6, 0.4], centered=True, noise=0.2,
               weight_decay=0.5, T=[[1.0, 0.2], [0.2, 0.8]])
M0_GEN = np.array([[0.3, -0.2], [0.1, 0.4], [0.2, 0.1]])
R0_GEN = np.array([[0.8, 0.1, 0.0], [0.1, 0.6, 0.05], [0.0, 0.05, 0.7]])


def test_protocol_V_initial_state_is_exact():
    P = FiniteWidthParams(**GENERAL)
    W, Ws = initial_weights(P, 300, np.random.default_rng(3), init="V", M0=M0_GEN, R0=R0_GEN)
    Q, M = overlaps(W, Ws)
    T = Ws @ Ws.T / 300
    np.testing.assert_allclose(T, P.T, atol=1e-13)
    np.testing.assert_allclose(M, M0_GEN, atol=1e-13)
    Q_perp = Q - M @ np.linalg.solve(P.T, M.T)
    np.testing.assert_allclose(Q_perp, R0_GEN, atol=1e-13)
    # default R0 = I and T = I: w_j = xi_j + sum_k (M0)_jk w*_k, Q(0) = I + M0 M0^T
    P2 = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    W, Ws = initial_weights(P2, 100, np.random.default_rng(0), init="V", M0=[[0.2], [0.1]])
    Q, M = overlaps(W, Ws)
    np.testing.assert_allclose(Q, np.eye(2) + np.array([[0.04, 0.02], [0.02, 0.01]]), atol=1e-13)


def test_protocol_R_initial_state_statistics():
    """w_j ~ N(0, I_N): Q(0) - I and sqrt(N) M(0) have O(1) fluctuations of known variance."""
    P = FiniteWidthParams(p=4, p_star=2, gamma=0.1)
    N, n_rep = 400, 200
    rng = np.random.default_rng(5)
    qd, qo, m = [], [], []
    for _ in range(n_rep):
        Q, M = overlaps(*initial_weights(P, N, rng, init="R"))
        qd.append(np.diagonal(Q) - 1)
        qo.append(Q[np.triu_indices(4, 1)])
        m.append(M.ravel() * np.sqrt(N))
    qd, qo, m = (np.concatenate(v) for v in (qd, qo, m))
    # N Var(Q_jj) = 2, N Var(Q_jl) = 1, N Var(M_jk) = 1 (T = I); 800 / 1200 / 1600 samples: SE of var ~ 5-7%
    assert abs(N * qd.var() / 2 - 1) < 0.25
    assert abs(N * qo.var() - 1) < 0.25
    assert abs(m.var() - 1) < 0.25
    assert abs(np.mean(m)) < 4 / np.sqrt(m.size)


def test_one_step_drift_matches_ode_rhs_including_eta2_term():
    """Average of N x (one-step increment) over fresh samples at a frozen state = ODE RHS, within the standard
    error (all terms: gradient, O(eta^2), label noise, weight decay, c0). Negative control: the gradient-flow RHS
    (no eta^2 / noise term) is rejected by many standard errors."""
    P = FiniteWidthParams(**GENERAL)
    N, n = 500, 100_000
    rng = np.random.default_rng(1)
    W, Ws = initial_weights(P, N, rng, init="V", M0=M0_GEN, R0=R0_GEN)
    Q, M = overlaps(W, Ws)
    dQ, dM = one_step_increments(P, W, Ws, n, rng)
    zQ_den, zM_den = dQ.std(axis=0) / np.sqrt(n), dM.std(axis=0) / np.sqrt(n)
    rQ, rM = rhs(Q, M, P)
    zQ = (dQ.mean(axis=0) - rQ) / zQ_den
    zM = (dM.mean(axis=0) - rM) / zM_den
    # 6 + 6 independent entries; O(1/N) corrections are ~0.1 SE here
    assert np.max(np.abs(zQ)) < 4.0, zQ
    assert np.max(np.abs(zM)) < 4.0, zM
    gQ, _ = rhs(Q, M, P, gradient_flow=True)
    z_gf = (dQ.mean(axis=0) - gQ) / zQ_den
    assert np.max(np.abs(np.diagonal(z_gf))) > 20.0


def test_eps_g_of_simulated_state_matches_test_set_monte_carlo():
    """The closed-form eps_g(Q, M) of a state reached by SGD equals 1/2 E[(yhat - y)^2] on a fresh noiseless test
    set (forward pass written out here), within 4 standard errors."""
    P = FiniteWidthParams(**GENERAL)
    N = 200
    Q, M, a_div, (W, Ws) = run_single(P, N, [0.0, 3.0], seed=7, init="V", M0=M0_GEN, R0=R0_GEN,
                                      return_weights=True)
    assert np.isinf(a_div)
    np.testing.assert_allclose(Q[-1], W @ W.T / N, atol=1e-12)
    rng = np.random.default_rng(11)
    X = rng.standard_normal((200_000, N))
    lam, nu = X @ W.T / np.sqrt(N), X @ Ws.T / np.sqrt(N)
    r0 = (lam**2 - P.c) @ P.a - (nu**2 - P.c) @ P.b
    half_sq = 0.5 * r0**2
    mc, se = half_sq.mean(), half_sq.std() / np.sqrt(half_sq.size)
    exact = generalization_error(Q[-1], M[-1], P)
    assert abs(mc - exact) < 4 * se, (mc, exact, se)
    assert abs(exact - generalization_error(Q[0], M[0], P)) > 10 * se  # the state really moved


def test_runs_are_reproducible_and_independent_of_chunking(monkeypatch):
    P = FiniteWidthParams(p=2, p_star=1, gamma=0.1, noise=0.1)
    kw = dict(init="V", M0=[[0.2], [0.1]])
    Q1, M1, _ = run_single(P, 100, [0, 1, 2.5], seed=3, **kw)
    monkeypatch.setattr(online_sgd, "_CHUNK_NUMBERS", 700)  # 7 steps per chunk
    Q2, M2, _ = run_single(P, 100, [0, 1, 2.5], seed=3, **kw)
    np.testing.assert_array_equal(Q1, Q2)
    np.testing.assert_array_equal(M1, M2)
    Q3, _, _ = run_single(P, 100, [0, 1, 2.5], seed=4, **kw)
    assert not np.allclose(Q1[-1], Q3[-1])


def test_blow_up_is_flagged_not_nan():
    """gamma far beyond the stability limit: every run blows up; flagged, finite arrays, statistics refuse."""
    P = FiniteWidthParams(p=1, p_star=1, gamma=1.5)
    with pytest.warns(RuntimeWarning, match="blew up"):
        res = simulate(P, 100, np.arange(0, 20.0, 2.0), seeds=2, init="R", quiet=True)
    assert res.diverged.all()
    assert np.all(np.isfinite(res.alpha_diverged)) and np.all(res.alpha_diverged < 20)
    assert np.all(np.isfinite(res.Q)) and np.all(np.isfinite(res.eps_g))
    from odes.common.errors import DivergenceError

    with pytest.raises(DivergenceError):
        res.mean("eps_g")


def test_mixed_divergence_is_excluded_from_statistics():
    P = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    res = simulate(P, 120, [0, 1, 2], seeds=3, M0=[[0.2], [0.1]], quiet=True)
    assert not res.diverged.any()
    div = np.array([False, True, False])
    res2 = OnlineSGDResult(**{**{f: getattr(res, f) for f in res.__dataclass_fields__}, "diverged": div})
    np.testing.assert_allclose(res2.mean("eps_g"), res.eps_g[[0, 2]].mean(axis=0))
    assert res2.n_valid == 2


def test_input_validation():
    P = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    with pytest.raises(ParameterError, match="M0"):
        simulate(P, 100, [0, 1], seeds=1, init="V")
    with pytest.raises(ParameterError, match="M0"):
        simulate(P, 100, [0, 1], seeds=1, init="V", M0=[[0.1, 0.2]])
    with pytest.raises(ParameterError, match="init"):
        simulate(P, 100, [0, 1], seeds=1, init="X")
    with pytest.raises(ParameterError, match="M0"):                    # would be silently ignored
        simulate(P, 100, [0, 1], seeds=1, init="R", M0=[[0.2], [0.1]])
    with pytest.raises(ParameterError, match="alphas"):
        simulate(P, 100, [0, -1], seeds=1, init="R")
    with pytest.raises(ParameterError, match="alphas"):
        simulate(P, 100, [0, 1, 1.001], seeds=1, init="R")
    with pytest.raises(ParameterError, match="N"):
        simulate(P, 2, [0, 1], seeds=1, init="R")


def test_hdf5_round_trip(tmp_path):
    P = FiniteWidthParams(**GENERAL)
    res = simulate(P, 60, [0, 0.5, 1.0], seeds=[2, 5], init="V", M0=M0_GEN, R0=R0_GEN, quiet=True)
    path = res.save(tmp_path / "sim.h5")
    back = OnlineSGDResult.load(path)
    assert isinstance(back, OnlineSGDResult)
    assert hdf5io.equal(res, back)
    assert back.seeds.tolist() == [2, 5] and back.init == "V" and back.N == 60
    np.testing.assert_array_equal(back.diverged, res.diverged)


def test_kernel_step_equals_numpy_update_with_explicit_offset():
    """One SGD step of the numba kernel equals the update written out in numpy, for a model with an explicit
    label offset c0 (``params.offset``, tr A = tr B so c (tr A - tr B) would give 0) and all other terms on."""
    P = FiniteWidthParams(p=2, p_star=2, eta=[0.2, 0.3], a=[0.6, 0.4], b=[0.7, 0.3], T=[[1, 0.1], [0.1, 0.9]],
                          noise=0.2, weight_decay=0.05, offset=0.1)
    assert P.c0 == 0.1
    N, n = 50, 7
    W, Ws = initial_weights(P, N, np.random.default_rng(2), init="V", M0=[[0.3, -0.1], [0.05, 0.4]])
    dQ, dM = one_step_increments(P, W, Ws, n, np.random.default_rng(9))
    rng = np.random.default_rng(9)                       # the same draws, in the same order
    X, z = rng.standard_normal((n, N)), rng.standard_normal(n)
    for t in range(n):
        lam, nu = W @ X[t] / np.sqrt(N), Ws @ X[t] / np.sqrt(N)
        r = P.a @ lam**2 - P.b @ nu**2 - 0.1 - np.sqrt(0.2) * z[t]
        Wn = (1 - P.eta * 0.05 / N)[:, None] * W - (P.eta * 2 * P.a * lam * r)[:, None] * X[t][None, :] / np.sqrt(N)
        np.testing.assert_allclose(dQ[t], Wn @ Wn.T - W @ W.T, atol=1e-10)
        np.testing.assert_allclose(dM[t], Wn @ Ws.T - W @ Ws.T, atol=1e-10)


@pytest.mark.parametrize("p,ps", [(4, 2), (2, 3), (3, 3)])
def test_random_orthonormal_M0_has_equal_singular_values(p, ps):
    M0 = online_sgd.random_orthonormal_M0(p, ps, 0.3, seed=5)
    assert M0.shape == (p, ps)
    np.testing.assert_allclose(np.linalg.svd(M0, compute_uv=False), 0.3, atol=1e-14)
    assert np.array_equal(M0, online_sgd.random_orthonormal_M0(p, ps, 0.3, seed=5))
