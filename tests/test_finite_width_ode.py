"""Finite-width overlap ODEs: single-RHS oracle R1, trajectory oracles O1, O2, O3, O5, O7 (spec Sec. 8),
solver contract (tolerances, convergence order, divergence, HDF5 round trip), and the one-step SGD drift."""

import numpy as np
import pytest

from odes.common import hdf5io
from odes.common.errors import DivergenceError, ParameterError
from odes.finite_width import FiniteWidthParams, OverlapTrajectory, initial_overlaps, integrate_overlaps, rhs
from odes.finite_width.integrate import tolerance_check
from odes.finite_width.moments import generalization_error
from odes.finite_width.ode import rhs_parts

ORACLE_TOL = 1e-7


def r1_params(**kw):
    base = dict(p=2, p_star=2, eta=[0.2, 0.3], a=[0.6, 0.4], b=[0.7, 0.3], T=[[1, 0.1], [0.1, 0.9]], noise=0.2,
                weight_decay=0.05, offset=0.1)
    base.update(kw)
    return FiniteWidthParams(**base)


R1_Q = np.array([[1.0, 0.2], [0.2, 0.8]])
R1_M = np.array([[0.3, -0.1], [0.05, 0.4]])


def test_r1_single_rhs_oracle():
    par = r1_params()
    assert abs(generalization_error(R1_Q, R1_M, par) - 0.94095) < 1e-12
    dQ, dM = rhs(R1_Q, R1_M, par)
    np.testing.assert_allclose(dQ, [[-0.214266752, -0.091754048], [-0.091754048, -0.055583808]], atol=1e-12)
    np.testing.assert_allclose(dM, [[0.01884, 0.00796], [-0.00135, 0.00624]], atol=1e-12)
    dQ_gf, _ = rhs(R1_Q, R1_M, r1_params(noise=0.0, weight_decay=0.0), gradient_flow=True)
    np.testing.assert_allclose(dQ_gf, [[-0.456, -0.16368], [-0.16368, -0.16344]], atol=1e-12)


def test_rhs_parts_sum_and_components():
    par = r1_params()
    parts = rhs_parts(R1_Q, R1_M, par)
    dQ, dM = rhs(R1_Q, R1_M, par)
    np.testing.assert_allclose(sum(v[0] for v in parts.values()), dQ, atol=1e-15)
    np.testing.assert_allclose(sum(v[1] for v in parts.values()), dM, atol=1e-15)
    # component form of the noise and weight-decay terms, written independently
    g = np.array([0.2 * 0.6, 0.3 * 0.4])
    eta = np.array([0.2, 0.3])
    np.testing.assert_allclose(parts["noise"][0], 4 * 0.2 * np.outer(g, g) * R1_Q, atol=1e-15)
    np.testing.assert_allclose(parts["weight_decay"][0], -0.05 * (eta[:, None] + eta[None, :]) * R1_Q, atol=1e-15)
    np.testing.assert_allclose(parts["weight_decay"][1], -0.05 * eta[:, None] * R1_M, atol=1e-15)
    # gradient_flow=True equals the sum of the drift and the weight decay only
    dQg, dMg = rhs(R1_Q, R1_M, par, gradient_flow=True)
    np.testing.assert_allclose(dQg, parts["gradient_flow"][0] + parts["weight_decay"][0], atol=1e-15)


def test_o1_single_unit():
    par = FiniteWidthParams(1, 1, gamma=0.05)
    tr = integrate_overlaps(par, [[1.01]], [[0.1]], [0, 5, 10, 20, 40])
    ref = [2.0001500000, 1.3302459706, 1.1294517073, 0.2207692022, 0.0009142453]
    assert np.max(np.abs(tr.eps_g - ref)) < ORACLE_TOL


def test_o2_two_students_one_teacher():
    par = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    dQ, dM = rhs(Q0, M0, par)
    np.testing.assert_allclose(dQ, [[-0.19695, 0.0064875], [0.0064875, -0.20668125]], atol=1e-12)
    np.testing.assert_allclose(dM.ravel(), [0.037, 0.0185], atol=1e-12)
    tr = integrate_overlaps(par, Q0, M0, [0, 5, 10, 20, 50])
    ref = [1.4759375000, 0.8667883971, 0.2508747307, 0.0188534186, 0.0009907669]
    assert np.max(np.abs(tr.eps_g - ref)) < ORACLE_TOL
    np.testing.assert_allclose(tr.M[-1].ravel(), [1.2601297137, 0.6300648568], atol=ORACLE_TOL)
    np.testing.assert_allclose(tr.Q[-1], [[1.5968732487, 0.7768043218], [0.7768043218, 0.4316667660]],
                               atol=ORACLE_TOL)
    # the direction of M is conserved (Procrustes symmetry, p* = 1)
    d = tr.M[:, :, 0] / np.linalg.norm(tr.M[:, :, 0], axis=1)[:, None]
    assert np.max(np.abs(d - d[0])) < 1e-12


def test_o3_four_students_two_teachers():
    par = FiniteWidthParams(4, 2, gamma=0.15)
    Q0, M0 = initial_overlaps(par, 0.2 * np.array([[1, 0], [0, 1], [0.5, 0], [0, -0.5]]))
    tr = integrate_overlaps(par, Q0, M0, [0, 5, 10, 20, 40])
    ref = [0.7381250000, 0.5607169351, 0.2912698025, 0.0405915182, 0.0024542771]
    assert np.max(np.abs(tr.eps_g - ref)) < ORACLE_TOL
    m = 1.2514746234
    np.testing.assert_allclose(tr.M[-1], [[m, 0], [0, m], [m / 2, 0], [0, -m / 2]], atol=ORACLE_TOL)
    assert abs(np.trace(tr.Q[-1]) - 4.0734271912) < ORACLE_TOL


def test_o5_centred_non_default():
    a = 1 / np.sqrt(3)
    par = FiniteWidthParams(3, 1, eta=[0.1] * 3, a=[a] * 3, b=[1.0], centered=True)
    assert abs(par.c0 - (np.sqrt(3) - 1)) < 1e-15
    M0 = np.array([[0.3], [0.0], [-0.1]])
    tr = integrate_overlaps(par, 0.5 * np.eye(3) + M0 @ M0.T, M0, [0, 2, 5, 10])
    ref = [1.4978632795, 1.3366215786, 0.9906122519, 0.4363270484]
    assert np.max(np.abs(tr.eps_g - ref)) < ORACLE_TOL


def test_o7_gradient_flow_and_time_rescaling():
    par = FiniteWidthParams(2, 1, gamma=1.0)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    ts = [0, 0.5, 1, 2, 5]
    tr = integrate_overlaps(par, Q0, M0, ts, gradient_flow=True)
    ref = [1.4759375000, 0.5693662021, 0.0330542474, 0.0038327198, 0.0005218943]
    assert np.max(np.abs(tr.eps_g - ref)) < ORACLE_TOL
    # GF with Gamma = gamma I depends on t = gamma alpha only
    g = 0.1
    tr2 = integrate_overlaps(par.replace(gamma=g), Q0, M0, np.array(ts) / g, gradient_flow=True)
    assert np.max(np.abs(tr2.eps_g - ref)) < ORACLE_TOL


def test_gradient_flow_flag_changes_only_eta2_term():
    par = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    sgd = integrate_overlaps(par, Q0, M0, [0, 5])
    gf = integrate_overlaps(par, Q0, M0, [0, 5], gradient_flow=True)
    assert abs(sgd.eps_g[-1] - gf.eps_g[-1]) > 1e-3


def test_convergence_order_and_tolerance():
    """RK45 error vs tolerance, and the DOP853 result independent of tolerance to 1e-9."""
    par = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    ref = integrate_overlaps(par, Q0, M0, [10.0], rtol=1e-13, atol=1e-15).eps_g[-1]
    errs = [abs(integrate_overlaps(par, Q0, M0, [10.0], method="RK45", rtol=r, atol=r * 1e-3).eps_g[-1] - ref)
            for r in (1e-5, 1e-7)]
    assert errs[1] < errs[0] / 10
    lo = integrate_overlaps(par, Q0, M0, [10.0], rtol=1e-8, atol=1e-10).eps_g[-1]
    assert abs(lo - ref) < 1e-7
    # an implicit method agrees
    rad = integrate_overlaps(par, Q0, M0, [10.0], method="Radau", rtol=1e-10, atol=1e-12).eps_g[-1]
    assert abs(rad - ref) < 1e-8


def test_tolerance_check_and_dense_grid():
    par = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    err = tolerance_check(par, Q0, M0, [0, 5, 10], rtol=1e-6)
    ref = integrate_overlaps(par, Q0, M0, [10.0], rtol=1e-13, atol=1e-15).eps_g[-1]
    true_err = abs(integrate_overlaps(par, Q0, M0, [10.0], rtol=1e-6, atol=1e-8).eps_g[-1] - ref)
    assert 0 < err < 1e-4 and true_err <= 1.01 * err + 1e-12
    # a fine output grid (dense output) gives the same values as a coarse one
    fine = integrate_overlaps(par, Q0, M0, np.linspace(0, 10, 201))
    coarse = integrate_overlaps(par, Q0, M0, [0.0, 5.0, 10.0])
    np.testing.assert_allclose(fine.eps_g[[0, 100, 200]], coarse.eps_g, atol=1e-9)


def test_divergence_raises_not_nan():
    par = FiniteWidthParams(2, 1, gamma=0.3)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    with pytest.raises(DivergenceError) as info:
        integrate_overlaps(par, Q0, M0, [0, 5, 10, 20], check_stability=False)
    assert info.value.time is not None and 0 < info.value.time < 20


def test_input_validation():
    par = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    with pytest.raises(ParameterError, match="'M0'"):
        integrate_overlaps(par, Q0, np.zeros((1, 2)), [0, 1])
    with pytest.raises(ParameterError, match="'Q0'"):
        integrate_overlaps(par, [[1.0, 2.0], [2.0, 1.0]], M0, [0, 1])
    with pytest.raises(ParameterError, match="'alphas'"):
        integrate_overlaps(par, Q0, M0, [0, 2, 1])
    with pytest.raises(ParameterError, match="'alphas'"):
        integrate_overlaps(par, Q0, M0, [-1, 1])
    with pytest.raises(ParameterError, match="'method'"):
        integrate_overlaps(par, Q0, M0, [0, 1], method="Euler")
    with pytest.raises(ParameterError, match="'N'"):
        initial_overlaps(par)
    with pytest.raises(ParameterError, match="'gamma'"):    # beyond the zero-loss limit 1/6: refused by the solver
        integrate_overlaps(FiniteWidthParams(1, 1, gamma=0.17), [[1.01]], [[0.1]], [0, 1])
    with pytest.raises(ParameterError, match="'offset'"):
        FiniteWidthParams(1, 1, gamma=0.1, offset=float("nan"))


def test_initial_overlaps_random_statistics():
    """M0 rows ~ N(0, T/N): N * mean(M0^2) ~ 1 within its sampling error; Q_perp(0) = I exactly."""
    par = FiniteWidthParams(64, 8, gamma=0.1)
    N = 1000
    Q0, M0 = initial_overlaps(par, N=N, seed=3)
    x = N * M0**2
    assert abs(x.mean() - 1.0) < 5 * x.std() / np.sqrt(x.size)
    np.testing.assert_allclose(Q0 - M0 @ M0.T, np.eye(64), atol=1e-14)
    Q1, M1 = initial_overlaps(par, N=N, seed=3)
    assert np.array_equal(M0, M1)


def test_hdf5_round_trip(tmp_path):
    par = FiniteWidthParams(2, 1, gamma=0.1, noise=0.1, weight_decay=0.01)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    tr = integrate_overlaps(par, Q0, M0, [0, 1, 2])
    path = tr.save(tmp_path / "t.h5")
    back = OverlapTrajectory.load(path)
    assert isinstance(back, OverlapTrajectory)
    assert hdf5io.equal(tr, back)
    assert back.params.noise == 0.1 and back.nfev == tr.nfev


def test_plot_returns_axes():
    par = FiniteWidthParams(1, 1, gamma=0.05)
    tr = integrate_overlaps(par, [[1.01]], [[0.1]], [0, 1, 2])
    ax = tr.plot()
    assert ax.get_xlabel() == r"$\alpha$"


def test_one_step_sgd_drift_matches_rhs():
    """N x (mean one-step increment) of (Q, M) from a frozen state, averaged over fresh samples, equals the RHS
    up to the sampling error and O(1/N) corrections (general a, b, eta, centred, noise, weight decay)."""
    rng = np.random.default_rng(0)
    N, p, ps, n = 200, 3, 2, 40_000
    par = FiniteWidthParams(p, ps, eta=[0.3, 0.2, 0.25], a=[0.5, 0.3, 0.4], b=[0.6, 0.4], centered=True,
                            noise=0.2, weight_decay=0.5)
    Wt = np.linalg.qr(rng.standard_normal((N, ps)))[0].T * np.sqrt(N)    # T = I
    W = rng.standard_normal((p, N)) * 0.8 + 0.3 * rng.standard_normal((p, ps)) @ Wt
    Q, M = W @ W.T / N, W @ Wt.T / N
    dQs, dMs = np.zeros((n, p, p)), np.zeros((n, p, ps))
    x = rng.standard_normal((n, N))
    zeta = rng.standard_normal(n)
    lam, nu = x @ W.T / np.sqrt(N), x @ Wt.T / np.sqrt(N)
    c = 1.0
    r = (lam**2 - c) @ par.a - ((nu**2 - c) @ par.b + np.sqrt(par.noise) * zeta)
    eta = par.eta
    for s in range(0, n, 5000):
        sl = slice(s, s + 5000)
        G = 2 * (par.a * lam[sl]) * r[sl, None]                     # g_j = 2 a_j lambda_j r
        step = (eta * G)[:, :, None] * x[sl, None, :] / np.sqrt(N)   # (n, p, N)
        Wn = (1 - eta * par.weight_decay / N)[None, :, None] * W[None] - step
        dQs[sl] = N * (np.einsum("sin,sjn->sij", Wn, Wn) / N - Q)
        dMs[sl] = N * (Wn @ Wt.T / N - M)
    dQ, dM = rhs(Q, M, par)
    for est, ref in ((dQs, dQ), (dMs, dM)):
        mean, se = est.mean(0), est.std(0, ddof=1) / np.sqrt(n)
        assert np.max(np.abs(mean - ref) / (se + 0.03 * np.abs(ref))) < 5
