"""Heun (2nd-order) gradient-flow DMFT (dmft.dynamics.gradient_flow, flow_kernels).

References: central finite differences of the nonlinear Heun effective dynamics (adjoint), the explicit p x p
Jacobian trace (exact equal-time responses), oracle O1 (t = 0), a finite-d Heun simulation of the same algorithm
on a fixed instance (order of the scheme), the spec's O3 values and the stationary theory (late time)."""

import math

import numpy as np
import pytest

from dmft.dynamics.flow_kernels import heun_adjoint, heun_adjoint_reference
from dmft.dynamics.gradient_flow import FlowSettings, flow_grid, flow_settings, halved, solve_flow
from dmft.params import ExtensiveWidthParams
from odes.common.errors import ParameterError
from odes.common.random_matrices import symmetric_basis
from tests.helpers import heun_effective_forward as _heun_forward

SET_B = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)


def _sym(rng, d, scale=1.0):
    a = rng.standard_normal((d, d)) * scale
    return (a + a.T) / 2


def _histories(S0, Sstar, B, Xi, h, lam):
    """(S^k, P_k, Q_k, Pt_k) of the unperturbed forward run."""
    d = S0.shape[0]
    eye = np.eye(d)
    s = _heun_forward(S0, Sstar, B, Xi, h, lam)
    K = len(h)
    S, P, Q, Pt = (np.zeros((K + 1, d, d)) for _ in range(4))
    for k in range(K):
        S[k] = s[2 * k]
        g = []
        for i in (2 * k, 2 * k + 1):
            D = [x - Sstar for x in s]
            g.append(D[i] + sum(B[i, m] * D[m] for m in range(i)) + Xi[i] + lam * eye)
        P[k] = eye - h[k] * g[0]
        Pt[k] = eye - h[k] * g[1]
        Q[k] = eye - 0.5 * h[k] * (g[0] + P[k] @ g[1])
    return S, P, Q, Pt


def _instance(d=3, K=3, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    S0 = a @ a.T / d
    b = rng.standard_normal((d, d))
    Sstar = b @ b.T / d
    N = 2 * K + 1
    B = np.eye(N) + np.tril(rng.standard_normal((N, N)) * 0.1, -1)
    Xi = np.array([_sym(rng, d, 0.3) for _ in range(N)])
    h = np.array([0.1, 0.07, 0.12][:K])
    return S0, Sstar, B, Xi, h, 0.05


@pytest.mark.parametrize("target", [1, 2, 5, 6])
def test_heun_adjoint_equals_finite_differences(target):
    S0, Sstar, B, Xi, h, lam = _instance()
    d = S0.shape[0]
    p = d * (d + 1) / 2
    U = _sym(np.random.default_rng(5), d)
    S, P, Q, Pt = _histories(S0, Sstar, B, Xi, h, lam)
    r = heun_adjoint(target, S, P, Q, Pt, h, B, U, np.empty((target, d, d)))
    r_ref = heun_adjoint_reference(target, S, P, Q, Pt, h, B, U)
    np.testing.assert_allclose(r, r_ref, rtol=1e-12, atol=1e-14)
    eps = 1e-5
    for j in range(target):
        plus = _heun_forward(S0, Sstar, B, Xi, h, lam, j, eps * U)[target]
        minus = _heun_forward(S0, Sstar, B, Xi, h, lam, j, -eps * U)[target]
        fd = np.sum(U * (plus - minus)) / (2 * eps) / p
        assert r[j] == pytest.approx(fd, rel=1e-7, abs=1e-12), (j, r[j], fd)


def test_exact_equal_time_responses_match_the_jacobian_trace():
    """(1/p) Tr_p ds^{2k+1}/dg^{2k} = -(2h/d) Tr(S P) and (1/p) Tr_p ds^{2k+2}/dg^{2k+1} = -(h/d) Tr(P S Q),
    from the explicit Jacobian (finite differences over an orthonormal basis of symmetric matrices)."""
    S0, Sstar, B, Xi, h, lam = _instance()
    d = S0.shape[0]
    p = d * (d + 1) // 2
    S, P, Q, Pt = _histories(S0, Sstar, B, Xi, h, lam)
    basis = symmetric_basis(d)
    for k in (0, 1, 2):
        for target, src, exact in ((2 * k + 1, 2 * k, -(2 * h[k] / d) * np.trace(S[k] @ P[k])),
                                   (2 * k + 2, 2 * k + 1, -(h[k] / d) * np.trace(P[k] @ S[k] @ Q[k]))):
            tr = 0.0
            for E in basis:  # no feedback path between the source and the target: the trace is exact
                plus = _heun_forward(S0, Sstar, B, Xi, h, lam, src, 1e-6 * E)[target]
                minus = _heun_forward(S0, Sstar, B, Xi, h, lam, src, -1e-6 * E)[target]
                tr += np.sum(E * (plus - minus)) / 2e-6
            assert tr / p == pytest.approx(exact, rel=1e-7)


def test_flow_grid_and_settings():
    g = flow_grid(2.0, 0.3)
    assert g.size == 7 and g.sum() == pytest.approx(2.0) and np.allclose(g, g[0])
    g = flow_grid(5.0, 0.05, h0=0.01, growth=1.2)
    assert g.sum() == pytest.approx(5.0) and g[0] == pytest.approx(0.01) and g.max() <= 0.05 + 1e-15
    assert np.all(np.diff(g[:-1]) >= -1e-15)
    st = flow_settings(1.0, 0.25, d_eff=4, samples=2)
    assert halved(st).steps == (0.125,) * 8
    with pytest.raises(ParameterError, match="steps"):
        FlowSettings(steps=(0.1, -0.1))
    with pytest.raises(ParameterError, match="t_max"):
        flow_grid(-1.0, 0.1)
    with pytest.raises(ParameterError, match="'h'"):
        solve_flow(SET_B, flow_settings(1.0, 0.2, d_eff=4, samples=2))


def test_initial_values_match_oracle_o1():
    p = ExtensiveWidthParams(alpha=1.0, kappa=math.inf, kappa_star=0.5, lam=0.05, noise=0.5)
    r = solve_flow(p, flow_settings(0.2, 0.05, d_eff=8, samples=2))
    test0 = 2 * (1 * (1 + 0) - 2 + 1 + 2)  # sigma0 = 1, kappa = inf, kappa* = 1/2
    assert r.test_error[0] == pytest.approx(test0, rel=1e-12)
    assert r.train_error[0] == pytest.approx(test0 + 0.5, rel=1e-9)
    assert np.all(np.isfinite(r.train_error_se)) and np.all(np.isfinite(r.test_error_se))


ORDER_SET = ExtensiveWidthParams(alpha=4.0, kappa=math.inf, kappa_star=4.0, lam=0.05, noise=0.5)


def _rms_rel(r, ref, name, tc):
    y = np.interp(tc, r.t, getattr(r, name))
    y_ref = np.interp(tc, ref.t, getattr(ref, name))
    return float(np.sqrt(np.mean((y / y_ref - 1.0) ** 2)))


def test_empirical_order_is_two():
    """Error vs step of the Heun DMFT against a fine (h = 0.0125) reference with the same seed (common random
    numbers: same S*, S(0), innovation stream and fixed Hutchinson probes, so the Monte-Carlo noise largely cancels
    in the differences). Heun is 2nd order: the log-log slope of the rms relative error over t = 0.2..0.8 must be
    ~2 (accepted 1.6-3.2); the GD/Euler solver on the same case must show ~1 (0.7-1.4), i.e. the test can tell."""
    from dmft.dynamics import DMFTSettings, solve

    T, kw = 0.8, dict(d_eff=12, samples=8, seed=1)
    ref = solve_flow(ORDER_SET, flow_settings(T, 0.0125, **kw))
    tc = np.arange(0.2, T + 1e-9, 0.2)
    hs = np.array([0.2, 0.1, 0.05])
    for name in ("test_error", "train_error"):
        err = [_rms_rel(solve_flow(ORDER_SET, flow_settings(T, h, **kw)), ref, name, tc) for h in hs]
        slope = np.polyfit(np.log(hs), np.log(err), 1)[0]
        assert 1.6 <= slope <= 3.2, (name, err, slope)
    err_gd = [_rms_rel(solve(ORDER_SET, DMFTSettings(eta=h, steps=int(round(T / h)), **kw), quiet=True), ref,
                       "test_error", tc) for h in hs]
    slope_gd = np.polyfit(np.log(hs), np.log(err_gd), 1)[0]
    assert 0.7 <= slope_gd <= 1.4, (err_gd, slope_gd)


def _stationary_b():
    from dmft.stationary import solve_stationary

    st = solve_stationary(SET_B)
    assert st.test_error == pytest.approx(0.27367, abs=2e-4)  # spec O4: the two references agree
    return st.test_error, st.train_error


def _late_time(d_eff, runs, t_max):
    """Late-time Heun DMFT (graded grid 0.01 -> 0.05) vs the stationary theory, spec set B; tolerance
    1.5/d_eff (finite-d_eff bias, spec Sec. 3.5) + 1 % (t_max vs t = inf, spec 4.2) + 3 run-to-run s.e."""
    r = solve_flow(SET_B, flow_settings(t_max, 0.05, h0=0.01, growth=1.15, d_eff=d_eff, samples=4, runs=runs,
                                        seed=3))
    test, train = _stationary_b()
    for y, se, ref in ((r.test_error[-1], r.test_error_se[-1], test), (r.train_error[-1], r.train_error_se[-1],
                                                                        train)):
        tol = 1.5 / d_eff + 0.01 + 3 * se / y
        assert abs(y / ref - 1) <= tol, (y, se, ref, tol)


@pytest.mark.slow
def test_late_time_matches_stationary_cheap():
    _late_time(d_eff=12, runs=2, t_max=6.0)


@pytest.mark.slow
def test_late_time_matches_stationary_deff24():
    _late_time(d_eff=24, runs=3, t_max=8.0)


def test_batched_numpy_backend_equals_numba_kernel():
    st = flow_settings(0.6, 0.05, d_eff=6, samples=2, probes=2, seed=4)
    a = solve_flow(SET_B, st)
    b = solve_flow(SET_B, FlowSettings(**{**st.__dict__, "backend": "numpy"}))
    np.testing.assert_allclose(b.R_S, a.R_S, rtol=0, atol=1e-9 * np.abs(a.R_S).max())  # rounding, fed back
    np.testing.assert_allclose(b.train_error, a.train_error, rtol=1e-9)
    np.testing.assert_allclose(b.test_error, a.test_error, rtol=1e-9)


def test_torch_backend_equals_numpy_on_cpu():
    torch = pytest.importorskip("torch")
    from dmft.dynamics.flow_backend import get_ops, heun_adjoint_batched

    rng = np.random.default_rng(0)
    nb, d, K = 3, 5, 6
    N = 2 * K + 1

    def sym(*shape):
        a = rng.standard_normal(shape + (d, d))
        return (a + np.swapaxes(a, -1, -2)) / 2

    S = sym(nb, K + 1) @ sym(nb, K + 1) / d
    P, Pt = np.eye(d) - 0.05 * sym(nb, K + 1), np.eye(d) - 0.05 * sym(nb, K + 1)
    Q = np.eye(d) - 0.05 * rng.standard_normal((nb, K + 1, d, d))
    h = rng.uniform(0.01, 0.05, K + 1)
    B = np.eye(N) + np.tril(rng.standard_normal((N, N)) * 0.05, -1)
    U = sym(nb)
    ops_np, ops_t = get_ops("numpy"), get_ops("torch", "cpu")
    for target in (1, 4, 7, N - 1):
        r_np = heun_adjoint_batched(target, S, P, Q, Pt, h, B, U, ops_np)
        r_t = heun_adjoint_batched(target, *(ops_t.asarray(x) for x in (S, P, Q, Pt)), h, B, ops_t.asarray(U), ops_t)
        np.testing.assert_allclose(r_t, r_np, rtol=1e-12, atol=1e-14)
    assert torch.get_default_dtype() is not None


def test_torch_backend_absent_is_a_parameter_error(monkeypatch):
    """Without torch (hidden from the import system if it is installed), backend="torch" is a ParameterError."""
    from tests.helpers import hide_torch

    hide_torch(monkeypatch)
    with pytest.raises(ParameterError, match="backend"):
        solve_flow(SET_B, flow_settings(0.1, 0.05, d_eff=4, samples=2, backend="torch"))
