r"""Conserved quantity of gradient flow, the Procrustes selection rule and the late-time power law.

**First integral (spec 5.1).** For Gamma = gamma I (A, B, T arbitrary) let L = 4 gamma BT,
K = -2 gamma (e0 I + 2QA), Q_perp = Q - M T^{-1} M^T. The gradient-flow ODEs read exactly
dM/dalpha = KM + ML, dQ_perp/dalpha = K Q_perp + Q_perp K^T, so G = M^T Q_perp^{-1} M obeys
dG/dalpha = L^T G + G L and

.. math:: I(\alpha) = e^{-\alpha L^\top}\, M^\top Q_\perp^{-1} M\, e^{-\alpha L}\quad(p^*\times p^*)

is conserved. (Weight decay replaces K by K - kappa H in both equations and keeps I conserved; the O(eta^2)
term breaks it, because Sigma is not of the form K Q_perp + Q_perp K^T.)

**Procrustes selection (spec 5.2).** For A = aI, B = bI, T = tI, Gamma = gamma I, c0 = 0 and isotropic
Q_perp(0) = q0 I, the singular vectors of M are conserved by the full SGD ODE (symmetry), and if zero loss is
reached

.. math:: M_\infty = t\sqrt{b/a}\; M_0 (M_0^\top M_0)^{-1/2}, \qquad
          Q_\infty = (b/a)\,t\; M_0 (M_0^\top M_0)^{-1} M_0^\top,

the point of the zero-loss manifold {W = D W*, a D^T D = B} closest to W(0) (orthogonal Procrustes).
(Default convention: M_inf = sqrt(p/p*) polar(M0), Q_inf = (p/p*) x the projector onto range(M0).)

**Late-time power law (spec 6.5), p > p*.** The orthogonal block restricted to range(U)^perp is a quartic
(marginal) direction: q_perp ~ (p*+2) / (8 gamma a (p+2) alpha), and

.. math:: \varepsilon_g \approx \frac{(p-p^*)(p^*+2)}{64\gamma^2 (p+2)\alpha^2}\cdot
          \frac{1-4\gamma bt}{1-(4+2p^*)\gamma bt}

(last factor = 1 in gradient flow). Derived for the default convention (a = 1/p, b = 1/p*, t = 1); the tests
check the eps_g prefactor against long ODE runs also for other isotropic a, b, t (agreement 1e-4 - 7e-4 after
Richardson extrapolation). The approach to the limit is O(1/alpha) relative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import expm, sqrtm

from odes.common import check
from odes.common.errors import ParameterError
from odes.finite_width.plateau import isotropic_rate

if TYPE_CHECKING:
    from odes.finite_width.integrate import OverlapTrajectory
    from odes.finite_width.params import FiniteWidthParams


def first_integral(Q: np.ndarray, M: np.ndarray, alpha: float, params: FiniteWidthParams) -> np.ndarray:
    """I(alpha) = exp(-alpha L^T) M^T Q_perp^{-1} M exp(-alpha L), L = 4 gamma B T (needs Gamma = gamma I)."""
    g = params.eta * params.a
    if not np.allclose(g, g[0], rtol=1e-12, atol=0):
        raise ParameterError("eta", "the first integral needs Gamma = gamma I")
    L = 4.0 * g[0] * (params.b[:, None] * params.T)
    Qp = Q - M @ np.linalg.solve(params.T, M.T)
    G = M.T @ np.linalg.solve(Qp, M)
    E = expm(-alpha * L)
    return E.T @ G @ E


def first_integral_path(traj: OverlapTrajectory) -> np.ndarray:
    """I(alpha) along an :class:`~odes.finite_width.integrate.OverlapTrajectory`, shape (n, p*, p*)."""
    return np.array([first_integral(q, m, a, traj.params) for a, q, m in zip(traj.alpha, traj.Q, traj.M)])


def _isotropic_teacher(params) -> tuple[float, float, float]:
    a, _ = isotropic_rate(params)
    b = params.b
    T = params.T
    if not np.allclose(b, b[0], rtol=1e-12, atol=0) or not np.allclose(T, T[0, 0] * np.eye(len(T)), atol=1e-12):
        raise ParameterError("b", "this closed form needs B = bI and T = tI")
    if abs(params.c0) > 1e-12:
        raise ParameterError("centered", "no zero-loss solution when c0 != 0")
    return a, float(b[0]), float(T[0, 0])


def procrustes_limit(params: FiniteWidthParams, M0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M_inf, Q_inf) of the module docstring; M0 must have full column rank p* (hence p >= p*)."""
    a, b, t = _isotropic_teacher(params)
    M0 = check.array("M0", M0, shape=(params.p, params.p_star))
    G = M0.T @ M0
    if params.p < params.p_star or np.linalg.matrix_rank(G) < params.p_star:
        raise ParameterError("M0", "needs full column rank p* (and p >= p*)")
    Ginv_half = np.linalg.inv(np.real(sqrtm(G)))
    M_inf = t * np.sqrt(b / a) * M0 @ Ginv_half
    Q_inf = (b / a) * t * M0 @ np.linalg.solve(G, M0.T)
    return M_inf, 0.5 * (Q_inf + Q_inf.T)


def late_time_q_perp(params: FiniteWidthParams, alpha: float | np.ndarray) -> np.ndarray:
    """q_perp(alpha) ~ (p*+2) / (8 gamma a (p+2) alpha) on range(U)^perp (p > p*)."""
    a, g = isotropic_rate(params)
    alpha = np.asarray(alpha, float)
    return (params.p_star + 2) / (8.0 * g * a * (params.p + 2) * alpha)


def late_time_eps(params: FiniteWidthParams, alpha: float | np.ndarray, *, gradient_flow: bool = False) -> np.ndarray:
    r"""eps_g(alpha) ~ (p-p*)(p*+2)/(64 gamma^2 (p+2) alpha^2) x (1 - 4 gamma b t)/(1 - (4+2p*) gamma b t)
    for p > p* (module docstring; the last factor is dropped in gradient flow)."""
    _, b, t = _isotropic_teacher(params)
    _, g = isotropic_rate(params)
    p, ps = params.p, params.p_star
    if p <= ps:
        raise ParameterError("p", "the power law needs p > p* (p = p* converges exponentially)")
    alpha = np.asarray(alpha, float)
    c = (p - ps) * (ps + 2) / (64.0 * g * g * (p + 2))
    if not gradient_flow:
        c *= (1.0 - 4.0 * g * b * t) / (1.0 - (4.0 + 2.0 * ps) * g * b * t)
    return c / alpha**2
