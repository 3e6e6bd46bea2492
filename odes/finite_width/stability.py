r"""Learning-rate limits of the finite-width SGD ODEs (spec Sec. 6.1 and 6.4).

Two conditions must hold for one-pass SGD to learn (in the N -> infinity ODE):

(i) **Plateau existence** (A = aI, Gamma = gamma I; B, T arbitrary). With u = a q, tau = tr(BT) + c0,
tau2 = tr((BT)^2), the M = 0 fixed point Q = qI solves

.. math:: F(u) = \tau - \frac{\kappa}{2a} - (p+2)u + \gamma[(p+2)(p+4)u^2 - 2\tau(p+2)u + \tau^2 + 2\tau_2+\Delta] = 0,

which has a real root iff
:math:`(p+2)(1+2\gamma\tau)^2 \ge 4\gamma(p+4)[\tau - \kappa/(2a) + \gamma(\tau^2+2\tau_2+\Delta)]`.
This is a quadratic inequality in gamma whose positive root is :func:`plateau_existence_limit`. Beyond it the
overlap q runs away (the ODE blows up). Default convention, Delta = kappa = 0: 0.1802 (1,1), 0.2052 (2,1),
0.3000 (4,2), 0.4478 (8,4).

(ii) **Zero-loss stability** (A = aI, B = bI, T = tI, Gamma = gamma I, c0 = 0, p >= p*). Linearising the SGD
ODE at the zero-loss manifold gives a symmetric "Q_perp in the teacher block" mode with rate
:math:`\lambda_r = 8\gamma bt[-1 + (4+2p^*)\gamma bt]`, so the zero-loss point is stable iff
:math:`\gamma b t < 1/(4+2p^*)` (default: gamma < p*/(4+2p*)). This is the Delta = kappa = 0 linearisation; with
label noise or weight decay the minimum is shifted by O(gamma Delta, kappa) and the same limit is applied as
the leading-order criterion.

Both conditions are necessary, not sufficient: they are local. A warm start far from both fixed points can still
blow up below the limits (e.g. (p, p*) = (1,1), gamma = 0.16, Q0 = 1.25, M0 = 0.5 diverges; from Q0 = 1.01,
M0 = 1 it converges), so the integrator's divergence detection stays the final guard.

What is **not** checked: (i) when the effective rates Gamma are not all equal or the a_j differ; (ii) when
additionally B or T is not proportional to the identity, when c0 != 0 (no zero-loss solution exists), when
p < p* (no zero-loss solution), or when b t <= 0 (a non-positive teacher term, e.g. b = 0). For such
parameters :func:`learning_rate_limits` reports the limit as None and lists the reason; integrate and watch
for :class:`~odes.common.errors.DivergenceError`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from odes.common.errors import ParameterError

if TYPE_CHECKING:
    from odes.finite_width.params import FiniteWidthParams

_TOL = 1e-12


def _all_equal(v: np.ndarray) -> bool:
    return bool(np.allclose(v, v[0], rtol=_TOL, atol=0.0))


def _is_scalar_matrix(m: np.ndarray) -> bool:
    d = np.diagonal(m)
    return bool(np.allclose(m, d[0] * np.eye(len(m)), rtol=0.0, atol=_TOL * max(1.0, abs(d[0]))))


def plateau_existence_limit(p: int, tau: float, tau2: float, noise: float = 0.0, shift: float = 0.0) -> float:
    r"""Largest gamma with a real root of F(u) (condition (i)); ``shift`` = kappa/(2a) (weight decay).

    The condition :math:`(p+2)(1+2\gamma\tau)^2 - 4\gamma(p+4)[\tau' + \gamma(\tau^2+2\tau_2+\Delta)] \ge 0`,
    :math:`\tau' = \tau - \kappa/(2a)`, reads :math:`c_2\gamma^2 + c_1\gamma + c_0 \ge 0` with
    :math:`c_2 = 4(p+2)\tau^2 - 4(p+4)(\tau^2+2\tau_2+\Delta)`, :math:`c_1 = 4(p+2)\tau - 4(p+4)\tau'`,
    :math:`c_0 = p+2`. Returns inf when it holds for every gamma > 0.
    """
    taup = tau - shift
    c2 = 4.0 * (p + 2) * tau**2 - 4.0 * (p + 4) * (tau**2 + 2.0 * tau2 + noise)
    c1 = 4.0 * (p + 2) * tau - 4.0 * (p + 4) * taup
    c0 = float(p + 2)
    if c2 < 0:
        return (-c1 - math.sqrt(c1 * c1 - 4.0 * c2 * c0)) / (2.0 * c2)
    if c2 == 0:
        return math.inf if c1 >= 0 else -c0 / c1
    disc = c1 * c1 - 4.0 * c2 * c0
    if c1 >= 0 or disc < 0:
        return math.inf
    return (-c1 - math.sqrt(disc)) / (2.0 * c2)


def zero_loss_limit(p_star: int, b: float, t: float) -> float:
    """gamma_max = 1 / ((4 + 2 p*) b t): condition (ii); needs b t > 0."""
    if not b * t > 0:
        raise ParameterError("b", f"the zero-loss limit needs b t > 0, got b t = {b * t:g}")
    return 1.0 / ((4.0 + 2.0 * p_star) * b * t)


def zero_loss_rate(gamma: float, p_star: int, b: float, t: float) -> float:
    """lambda_r = 8 gamma b t [-1 + (4 + 2 p*) gamma b t] (slowest symmetric zero-loss mode, Delta = kappa = 0)."""
    return 8.0 * gamma * b * t * (-1.0 + (4.0 + 2.0 * p_star) * gamma * b * t)


def learning_rate_limits(params: FiniteWidthParams) -> dict:
    """Limits on gamma that apply to ``params``.

    Returns ``{"plateau": float | None, "zero_loss": float | None, "notes": list[str]}``; a None limit means the
    closed form does not apply (the reason is in ``notes``).
    """
    notes: list[str] = []
    out: dict = {"plateau": None, "zero_loss": None, "notes": notes}
    g = params.eta * params.a
    a = params.a
    if not (_all_equal(g) and _all_equal(a)):
        notes.append("limits not checked: they need A = aI and Gamma = gamma I")
        return out
    a0 = float(a[0])
    if a0 <= 0:
        notes.append("limits not checked: they need a > 0")
        return out
    BT = params.b[:, None] * params.T
    tau = float(np.trace(BT)) + params.c0
    tau2 = float(np.sum(BT * BT.T))
    kappa_shift = params.weight_decay * float(params.eta[0]) / (2.0 * float(g[0]))  # kappa / (2a)
    out["plateau"] = plateau_existence_limit(params.p, tau, tau2, params.noise, kappa_shift)
    if not (_all_equal(params.b) and _is_scalar_matrix(params.T)):
        notes.append("zero-loss limit not checked: it needs B = bI and T = tI")
    elif abs(params.c0) > _TOL:
        notes.append("zero-loss limit not applicable: c0 != 0, no zero-loss solution")
    elif params.p < params.p_star:
        notes.append("zero-loss limit not applicable: p < p*, no zero-loss solution")
    elif float(params.b[0]) * float(params.T[0, 0]) <= 0:
        notes.append("zero-loss limit not applicable: b t <= 0, the teacher term is not positive")
    else:
        out["zero_loss"] = zero_loss_limit(params.p_star, float(params.b[0]), float(params.T[0, 0]))
        if params.noise or params.weight_decay:
            notes.append("zero-loss limit is the Delta = kappa = 0 linearisation")
    return out


def check_learning_rate(params: FiniteWidthParams) -> None:
    """Raise ParameterError('gamma', ...) if gamma is at or beyond a limit of :func:`learning_rate_limits`."""
    lim = learning_rate_limits(params)
    g = float((params.eta * params.a)[0])
    for key, what in (("plateau", "plateau existence (spec 6.1)"), ("zero_loss", "zero-loss stability (spec 6.4)")):
        gmax = lim[key]
        if gmax is not None and g >= gmax:
            raise ParameterError(
                "gamma", f"effective learning rate gamma = {g:.6g} is beyond the {what} limit: need gamma < "
                f"{gmax:.6g} (check_stability=False, CLI --no-stability-check, integrates anyway)")
