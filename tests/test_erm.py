"""validation.erm: operators (no n x p matrices), solvers (KKT), and a cheap theory-vs-ERM check.

The slow theory-vs-ERM checks with 1/d extrapolation are in tests/test_erm_slow.py."""

import math

import numpy as np
import pytest

from dmft.params import ExtensiveWidthParams as P
from dmft.stationary import solve_stationary
from validation.compare_stationary import extrapolate_inverse_d
from validation.erm import make_instance, solve_convex, solve_gd_rank, unvec_p, vec_p

SET_B = P(1.0, 1.0, 0.5, 0.05, 0.5)


def _sym(rng, d):
    a = rng.standard_normal((d, d))
    return (a + a.T) / 2


@pytest.mark.parametrize("sensing", ["wishart", "goe"])
def test_operators_adjoint_gradient_and_labels(sensing):
    rng = np.random.default_rng(0)
    inst = make_instance(P(0.7, 1.0, 0.5, 0.0, 0.3), 9, 1, sensing)
    S, V = _sym(rng, 9), _sym(rng, 9)
    r = rng.standard_normal(inst.n)
    # adjoint: <predict(S), r> = Tr(S adjoint(r))
    assert abs(inst.predict(S) @ r - np.sum(S * inst.adjoint(r))) < 1e-9 * np.abs(r).sum()
    # gradient of F(S) = (d/4n) sum (y - Tr S Z)^2 by central differences
    F = lambda M: inst.d / (4 * inst.n) * np.sum((inst.y - inst.predict(M)) ** 2)
    G, _ = inst.grad_matrix(S)
    e = 1e-6
    assert abs((F(S + e * V) - F(S - e * V)) / (2 * e) - np.sum(G * V)) < 1e-6 * max(1, abs(np.sum(G * V)))
    if sensing == "wishart":  # the trick equals the explicit Z = (x x^T - I)/sqrt d
        x = inst.X[3]
        Z = (np.outer(x, x) - np.eye(9)) / 3.0
        assert abs(np.sum(S * Z) - inst.predict(S)[3]) < 1e-12
    assert np.allclose(unvec_p(vec_p(S), 9), S) and abs(vec_p(S) @ vec_p(V) - np.sum(S * V)) < 1e-12


@pytest.mark.parametrize("sensing", ["wishart", "goe"])
def test_sensing_covariance_identity_monte_carlo(sensing):
    """E Tr(AZ) Tr(BZ) = (2/d) Tr(AB); Monte Carlo over n = 40000 sensing matrices, 5 standard errors."""
    rng = np.random.default_rng(1)
    d = 6
    inst = make_instance(P(40000 / 36, 1.0, 0.5), d, 2, sensing)
    A, B = _sym(rng, d), _sym(rng, d)
    a, b = inst.predict(A), inst.predict(B)
    prod = a * b
    assert abs(prod.mean() - 2 / d * np.sum(A * B)) < 5 * prod.std() / math.sqrt(inst.n)
    assert abs(a.mean()) < 5 * a.std() / math.sqrt(inst.n)


def test_fista_reaches_kkt_point():
    """KKT of min_{S >= 0} F(S) + lam Tr S: (G + lam) S = 0 and G + lam >= 0 on the null space of S."""
    inst = make_instance(SET_B, 20, 3, "wishart")
    r = solve_convex(inst, 0.05, tol=1e-9)
    assert r.converged
    # rebuild S from a second solve (FISTA is deterministic) and check KKT
    L = 1.05 * inst.hessian_norm()
    S = np.zeros((20, 20))
    for _ in range(3000):  # plain proximal gradient, independent of the FISTA momentum/restart code
        G, _ = inst.grad_matrix(S)
        ev, U = np.linalg.eigh(S - G / L)
        S = (U * np.maximum(ev - 0.05 / L, 0)) @ U.T
    assert abs(inst.test_error(S) - r.test_error) < 1e-6
    G, _ = inst.grad_matrix(S)
    M = G + 0.05 * np.eye(20)
    assert np.linalg.norm(M @ S) < 1e-6 * np.linalg.norm(S)
    ev, U = np.linalg.eigh(S)
    null = U[:, ev < 1e-8]
    assert np.linalg.eigvalsh(null.T @ M @ null).min() > -1e-8


def test_gd_on_w_is_descent_and_matches_convex_solution_for_kappa_1():
    """With m = d, GD on W from small init reaches the convex minimiser (Burer-Monteiro)."""
    prm = P(1.0, 1.0, 0.5, 0.05, 0.5)
    inst = make_instance(prm, 16, 4, "goe")
    rc = solve_convex(inst, 0.05, tol=1e-10)
    rg = solve_gd_rank(inst, 1.0, 0.05, tol=1e-8, max_steps=50000, sigma0=0.3)
    assert rg.converged
    assert abs(rg.test_error - rc.test_error) < 1e-4 * rc.test_error
    assert abs(rg.train_error - rc.train_error) < 1e-4 * rc.train_error


def test_extrapolation_exact_on_linear_data():
    ds = np.array([30, 50, 70])
    q0, se, c = extrapolate_inverse_d(ds, 0.3 + 0.7 / ds, np.full(3, 0.01))
    assert abs(q0 - 0.3) < 1e-12 and abs(c - 0.7) < 1e-10 and 0 < se < 0.1


def test_theory_vs_goe_erm_cheap():
    """Set B, GOE sensing at d = 30, 12 seeds. Tolerance = 3 s.e. (seed spread) + |c|/d with c = 0.8 the
    measured 1/d coefficient of the ERM (spec GOE data 0.2924, 0.2724, 0.2779, 0.2708 at d = 30..100 and our
    slow runs; relative finite-size bias of the static map ~1.5/d)."""
    th = solve_stationary(SET_B)
    vals = np.array([[r.test_error, r.train_error, r.rank_fraction] for r in
                     (solve_convex(make_instance(SET_B, 30, 500 + s, "goe"), SET_B.lam, tol=1e-7)
                      for s in range(12))])
    m = vals.mean(axis=0)
    se = vals.std(axis=0, ddof=1) / math.sqrt(len(vals))
    bias = 0.8 / 30
    assert abs(m[0] - th.test_error) < 3 * se[0] + bias
    assert abs(m[1] - th.train_error) < 3 * se[1] + bias
    assert abs(m[2] - th.rank_fraction) < 3 * se[2] + 1.0 / 30  # rank fraction resolution 1/d
