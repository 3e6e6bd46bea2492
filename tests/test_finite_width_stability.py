"""Learning-rate limits (spec 6.1, 6.4, oracle O9): closed forms against the numerical Jacobian at the
zero-loss point, threshold bracketing with the ODE, and the ParameterError contract."""

import numpy as np
import pytest

from odes.common.errors import DivergenceError, ParameterError
from odes.finite_width import FiniteWidthParams, integrate_overlaps
from odes.finite_width.plateau import jacobian_eigenvalues, plateau, relax_to_plateau
from odes.finite_width.stability import learning_rate_limits, zero_loss_limit, zero_loss_rate


@pytest.mark.parametrize("p,ps,g_plateau", [(1, 1, 0.1802), (2, 1, 0.2052), (4, 2, 0.3000), (8, 4, 0.4478)])
def test_o9_limits(p, ps, g_plateau):
    lim = learning_rate_limits(FiniteWidthParams(p, ps, gamma=0.01))
    assert abs(lim["plateau"] - g_plateau) < 5e-5
    assert abs(lim["zero_loss"] - ps / (4 + 2 * ps)) < 1e-15
    assert lim["notes"] == []


def test_plateau_limit_is_where_the_fixed_point_disappears():
    """Bracketing: just below the limit the relaxation from (I, 0) converges, just above it runs away."""
    par = FiniteWidthParams(2, 2, gamma=0.01, noise=1.0)     # noise makes the plateau limit the binding one
    g = learning_rate_limits(par)["plateau"]
    assert g < learning_rate_limits(par)["zero_loss"]
    below = par.replace(gamma=0.99 * g)
    q = relax_to_plateau(below, alpha=600.0)
    np.testing.assert_allclose(q, plateau(below).q * np.eye(2), atol=1e-8)
    above = par.replace(gamma=1.01 * g)
    with pytest.raises(ParameterError):
        plateau(above)
    with pytest.raises(DivergenceError):
        integrate_overlaps(above, np.eye(2), np.zeros((2, 2)), [0, 2000], check_stability=False)
    with pytest.raises(ParameterError, match="'gamma'.*plateau existence"):
        integrate_overlaps(above, np.eye(2), np.zeros((2, 2)), [0, 2000])


@pytest.mark.parametrize("g,rate", [(0.05, -0.28), (0.1, -0.32), (0.15, -0.12), (0.2, 0.32)])
def test_o9_zero_loss_jacobian_single_unit(g, rate):
    par = FiniteWidthParams(1, 1, gamma=g)
    ev = jacobian_eigenvalues(par, np.eye(1), np.eye(1))
    assert abs(ev[0] - rate) < 1e-8
    assert abs(zero_loss_rate(g, 1, 1.0, 1.0) - rate) < 1e-12


@pytest.mark.parametrize("p,ps", [(4, 2), (3, 1), (5, 3)])
def test_zero_loss_limit_is_the_binding_mode(p, ps):
    """Near gamma = p*/(4+2p*) the largest non-zero Jacobian eigenvalue at zero loss is lambda_r, and it changes
    sign there (zero modes: the manifold and the marginal directions)."""
    lim = zero_loss_limit(ps, 1 / ps, 1.0)
    D = np.zeros((p, ps))
    D[:ps] = np.sqrt(p / ps) * np.eye(ps)
    for f in (0.98, 1.02):
        par = FiniteWidthParams(p, ps, gamma=f * lim)
        ev = jacobian_eigenvalues(par, D @ D.T, D)
        nz = ev[np.abs(ev) > 1e-7]
        assert abs(nz.max() - zero_loss_rate(f * lim, ps, 1 / ps, 1.0)) < 1e-7
        assert np.sign(nz.max()) == np.sign(f - 1)


def test_zero_loss_bracketing_with_ode():
    start = (np.array([[1.01]]), np.array([[1.0]]))
    ok = FiniteWidthParams(1, 1, gamma=0.16)
    assert integrate_overlaps(ok, *start, [0, 200]).eps_g[-1] < 1e-5
    bad = FiniteWidthParams(1, 1, gamma=0.17)          # the model is valid; the solver refuses the rate
    with pytest.raises(DivergenceError):
        integrate_overlaps(bad, *start, [0, 200], check_stability=False)
    with pytest.raises(ParameterError, match="'gamma'.*zero-loss.*0.166667"):
        integrate_overlaps(bad, *start, [0, 200])


def test_not_checked_cases_are_reported():
    lim = learning_rate_limits(FiniteWidthParams(2, 1, eta=[0.1, 0.2]))
    assert lim["plateau"] is None and lim["zero_loss"] is None and "Gamma" in lim["notes"][0]
    lim = learning_rate_limits(FiniteWidthParams(2, 2, gamma=0.05, T=[[1, 0.2], [0.2, 1]]))
    assert lim["plateau"] is not None and lim["zero_loss"] is None
    lim = learning_rate_limits(FiniteWidthParams(3, 1, eta=[0.1] * 3, a=[3**-0.5] * 3, b=[1.0], centered=True))
    assert lim["zero_loss"] is None and "c0" in lim["notes"][0]
    lim = learning_rate_limits(FiniteWidthParams(1, 2, gamma=0.05))
    assert lim["zero_loss"] is None and "p < p*" in lim["notes"][0]
