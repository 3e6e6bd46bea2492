"""Hessian spectra of eps_g(U) (spec Sec. 7, oracle O10) against a numerical Hessian at N = 14, plus the
analytic gradient against finite differences of the loss and the quartic flatness of the marginal modes."""

import numpy as np
import pytest

from odes.finite_width import FiniteWidthParams
from odes.finite_width.hessian import (
    group_eigenvalues,
    numerical_hessian,
    plateau_spectrum,
    plateau_weights,
    population_gradient,
    population_loss,
    teacher_vectors,
    zero_loss_spectrum,
    zero_loss_weights,
)
from odes.finite_width.plateau import plateau

N = 14


def _assert_same_spectrum(num, formula, tol=1e-6):
    got = group_eigenvalues(num, tol=tol)
    assert [m for _, m in got] == [m for _, m in formula], (got, formula)
    np.testing.assert_allclose([v for v, _ in got], [v for v, _ in formula], atol=tol)


def test_gradient_matches_finite_differences_of_loss():
    rng = np.random.default_rng(0)
    par = FiniteWidthParams(3, 2, gamma=0.05, a=[0.5, 0.3, 0.2], b=[0.6, 0.4], centered=True, offset=0.2)
    U, Us = rng.standard_normal((3, 9)) / 3, rng.standard_normal((2, 9)) / 3
    g = population_gradient(U, Us, par)
    h = 1e-6
    fd = np.zeros_like(U)
    for idx in np.ndindex(U.shape):
        e = np.zeros_like(U)
        e[idx] = h
        fd[idx] = (population_loss(U + e, Us, par) - population_loss(U - e, Us, par)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-8)


def test_o10_values():
    par = FiniteWidthParams(4, 2, gamma=0.05)
    for got, ref in ((plateau_spectrum(par, N), [(-0.5, 8), (0.0, 38), (1 / 3, 9), (1.0, 1)]),
                     (zero_loss_spectrum(par, N), [(0.0, 29), (0.5, 24), (1.0, 2), (2.0, 1)])):
        assert [m for _, m in got] == [m for _, m in ref]
        np.testing.assert_allclose([v for v, _ in got], [v for v, _ in ref], atol=1e-14)


@pytest.mark.parametrize("p,ps", [(1, 1), (2, 1), (3, 2), (4, 2)])
def test_plateau_spectrum_gf_and_sgd_plateau(p, ps):
    par = FiniteWidthParams(p, ps, gamma=0.05)
    Us = teacher_vectors(par, N)
    for gf in (True, False):
        q = plateau(par, gradient_flow=gf).q
        H = numerical_hessian(plateau_weights(par, N, q), Us, par)
        _assert_same_spectrum(np.linalg.eigvalsh(H), plateau_spectrum(par, N, q=q))


def test_plateau_spectrum_general_teacher():
    par = FiniteWidthParams(3, 2, gamma=0.05, a=[0.4] * 3, b=[0.7, 0.2], T=[[1, 0.3], [0.3, 0.8]])
    Us = teacher_vectors(par, N)
    np.testing.assert_allclose(Us @ Us.T, par.T, atol=1e-14)
    q = plateau(par, gradient_flow=True).q
    H = numerical_hessian(plateau_weights(par, N, q), Us, par)
    _assert_same_spectrum(np.linalg.eigvalsh(H), plateau_spectrum(par, N))
    # strict saddle with p p* negative directions
    assert np.sum(np.linalg.eigvalsh(H) < -1e-6) == 6


@pytest.mark.parametrize("p,ps", [(1, 1), (2, 1), (3, 2), (4, 2)])
def test_zero_loss_spectrum(p, ps):
    par = FiniteWidthParams(p, ps, gamma=0.05)
    rng = np.random.default_rng(p)
    # a generic point of the manifold: D = sqrt(b/a) x (random orthonormal columns)
    D = np.sqrt(p / ps) * np.linalg.qr(rng.standard_normal((p, ps)))[0]
    U, Us = zero_loss_weights(par, N, D), teacher_vectors(par, N)
    assert population_loss(U, Us, par) < 1e-14
    _assert_same_spectrum(np.linalg.eigvalsh(numerical_hessian(U, Us, par)), zero_loss_spectrum(par, N))


def test_marginal_directions_are_quartic():
    """eps_g(U + s u xi^T) = 1.5 a^2 s^4 for unit u in ker(D^T A), unit xi orthogonal to the teacher."""
    par = FiniteWidthParams(3, 1, gamma=0.05)
    Us = teacher_vectors(par, N)
    U = zero_loss_weights(par, N)
    u = np.array([0.0, 1.0, 0.0])
    xi = np.zeros(N)
    xi[5] = 1.0
    for s in (0.1, 0.05):
        assert abs(population_loss(U + s * np.outer(u, xi), Us, par) / s**4 - 1.5 / 9) < 1e-9
