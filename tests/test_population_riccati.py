"""Matrix Riccati core: oracles O1 (model A) and O6 (model B); closed forms vs integrators (<= 1e-9)."""

import numpy as np
import pytest

from odes.common.errors import ParameterError
from odes.population import powerlaw as pl
from odes.population.riccati import (
    closed_form_centered,
    closed_form_uncentered,
    convergence_check,
    integrate_matrix_flow,
    loss_uncentered,
    rhs_centered,
    rhs_uncentered,
)


def _o1():
    S_star = np.diag([0.5, 0.5, 0.0, 0.0])
    u1 = np.array([np.cos(1), 0, np.sin(1), 0])
    u2 = np.array([0, np.cos(0.5), 0, np.sin(0.5)])
    return np.stack([u1, u2], 1) / np.sqrt(2), S_star


def _o6():
    return 0.1 * np.array([[1.0, 0], [0, 1], [1, 1]]), np.diag([2 / 5**0.5, 1 / 5**0.5, 0.0])


O1_T = [0.0, 1.0, 5.0, 20.0]
O1_L = [0.2344805663349, 0.06697133956729, 3.095123185095e-5, 2.9e-18]
O6_T = [0.0, 0.5, 1.0, 2.0, 5.0]
O6_R = [0.97416718427, 0.57493912818, 0.071772907738, 5.817866811e-4, 6.81047301e-9]


@pytest.mark.parametrize("solver", ["integrate", "closed"])
def test_o1_model_a(solver):
    W0, S_star = _o1()
    if solver == "integrate":
        res = integrate_matrix_flow(W0, S_star, O1_T, model="uncentered", rtol=1e-12, atol=1e-16)
    else:
        res = closed_form_uncentered(W0, S_star, O1_T)
    np.testing.assert_allclose(res.loss[:3], O1_L[:3], rtol=2e-11)
    assert res.loss[3] == pytest.approx(2.9e-18, rel=0.02)   # spec gives 2 digits
    assert np.trace(res.S[1]) == pytest.approx(0.896957537698, abs=2e-12)


@pytest.mark.parametrize("solver", ["integrate", "closed", "block", "restart", "gram"])
def test_o6_model_b(solver):
    W0, S_star = _o6()
    lam = np.diag(S_star)[:2]
    if solver == "integrate":
        R = integrate_matrix_flow(W0, S_star, O6_T, model="centered", rtol=1e-12, atol=1e-16).loss
    elif solver == "closed":
        R = closed_form_centered(W0, S_star, O6_T).loss
    else:
        G_V, N0 = pl.blocks_from_w0(W0, 2)
        f = {"block": pl.teacher_block_curve, "restart": pl.restart_curve, "gram": pl.integrate_gram_ode}[solver]
        kw = {"rtol": 1e-12, "atol": 1e-18} if solver == "gram" else {}
        R = f(G_V, N0, lam, O6_T, **kw)[0]
    np.testing.assert_allclose(R, O6_R, rtol=3e-9)


def _random_instance(rng, d, m, rank):
    W0 = rng.standard_normal((d, m)) / np.sqrt(d * m)
    U, _ = np.linalg.qr(rng.standard_normal((d, rank)))
    mu = rng.uniform(0.2, 1.0, rank)
    return W0, (U * (mu / mu.sum())) @ U.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_a_matches_integrator(seed):
    rng = np.random.default_rng(seed)
    W0, S_star = _random_instance(rng, 7, 4, 3)
    t = [0.0, 0.3, 1.0, 4.0, 10.0]
    a = integrate_matrix_flow(W0, S_star, t, model="uncentered", rtol=1e-12, atol=1e-16)
    b = closed_form_uncentered(W0, S_star, t)
    assert np.max(np.abs(a.S - b.S)) <= 1e-9
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_b_matches_integrator(seed):
    rng = np.random.default_rng(10 + seed)
    W0, S_star = _random_instance(rng, 8, 5, 3)
    t = [0.0, 0.3, 1.0, 3.0]
    a = integrate_matrix_flow(W0, S_star, t, model="centered", rtol=1e-12, atol=1e-16)
    b = closed_form_centered(W0, S_star, t)
    assert np.max(np.abs(a.S - b.S)) <= 1e-9


def test_rhs_is_minus_gradient():
    """dS/dt = -(grad_W L) W^T - W (grad_W L)^T with grad_W L by central finite differences."""
    rng = np.random.default_rng(3)
    W, S_star = _random_instance(rng, 5, 3, 2)
    W *= 3
    eps = 1e-6
    G = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        E = np.zeros_like(W)
        E[idx] = eps
        G[idx] = (loss_uncentered((W + E) @ (W + E).T, S_star)
                  - loss_uncentered((W - E) @ (W - E).T, S_star)) / (2 * eps)
    dS = -(G @ W.T + W @ G.T)
    np.testing.assert_allclose(rhs_uncentered(W @ W.T, S_star), dS, atol=1e-8)
    # model B: R = ||S - S*||^2, grad_W R = 4(S - S*)W
    GB = 4 * (W @ W.T - S_star) @ W
    np.testing.assert_allclose(rhs_centered(W @ W.T, S_star), -(GB @ W.T + W @ GB.T), atol=1e-12)


def test_convergence_check_small():
    W0, S_star = _o1()
    assert convergence_check(W0, S_star, [0.0, 1.0, 5.0]) < 1e-8


def test_invalid_inputs():
    W0, S_star = _o1()
    with pytest.raises(ParameterError, match="model"):
        integrate_matrix_flow(W0, S_star, [0, 1], model="C")
    with pytest.raises(ParameterError, match="times"):
        integrate_matrix_flow(W0, S_star, [0, -1])
    with pytest.raises(ParameterError, match="S_star"):
        closed_form_uncentered(W0, -S_star, [0, 1])
    with pytest.raises(ParameterError, match="S_star"):
        closed_form_centered(W0, np.eye(3), [0, 1])


def test_deprecated_model_letters_and_names_still_work():
    """model='A'/'B' and rhs_a/rhs_b/loss_a/risk_b/closed_form_a/closed_form_b: same numbers, DeprecationWarning."""
    from odes.population import riccati as rc

    rng = np.random.default_rng(0)
    W0 = 0.3 * rng.standard_normal((4, 2))
    S_star = np.diag([1.0, 0.5, 0.0, 0.0])
    S = W0 @ W0.T
    for old, new in (("A", "uncentered"), ("B", "centered")):
        with pytest.warns(DeprecationWarning):
            a = integrate_matrix_flow(W0, S_star, [0.0, 0.5], model=old, rtol=1e-10, atol=1e-13)
        b = integrate_matrix_flow(W0, S_star, [0.0, 0.5], model=new, rtol=1e-10, atol=1e-13)
        assert a.model == new and np.array_equal(a.loss, b.loss)
    pairs = [(rc.rhs_a, rc.rhs_uncentered), (rc.rhs_b, rc.rhs_centered), (rc.loss_a, rc.loss_uncentered),
             (rc.risk_b, rc.risk_centered)]
    for old, new in pairs:
        with pytest.warns(DeprecationWarning):
            assert np.array_equal(old(S, S_star), new(S, S_star))
    with pytest.warns(DeprecationWarning):
        assert np.array_equal(rc.closed_form_b(W0, S_star, [0.0, 0.5]).loss,
                              rc.closed_form_centered(W0, S_star, [0.0, 0.5]).loss)
    with pytest.raises(ParameterError):
        integrate_matrix_flow(W0, S_star, [0.0, 0.5], model="C")
