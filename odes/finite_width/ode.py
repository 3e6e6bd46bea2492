r"""Right-hand side of the finite-width overlap ODEs (exact as N -> infinity), time alpha = steps / N.

.. math::

    \frac{dM}{d\alpha} = -2\Gamma\,[\,e_0 M + 2(QAM - MBT)\,] - \kappa H M

    \frac{dQ}{d\alpha} = -2(\Gamma P + P\Gamma) + 4\Gamma(\Sigma + \Delta Q)\Gamma - \kappa(HQ + QH)

with :math:`\Gamma = HA = \mathrm{diag}(\eta_j a_j)`, :math:`P = E[\lambda\lambda^\top r_0]`,
:math:`\Sigma = E[\lambda\lambda^\top r_0^2]` (see :mod:`odes.finite_width.moments`), label-noise variance
:math:`\Delta` and weight decay :math:`\kappa`. In components, with :math:`\gamma_j = \eta_j a_j`:
:math:`dQ_{jl}/d\alpha = -2(\gamma_j+\gamma_l)P_{jl} + 4\gamma_j\gamma_l(\Sigma_{jl}+\Delta Q_{jl})
-\kappa(\eta_j+\eta_l)Q_{jl}`.

Derivation: per SGD step :math:`\Delta Q_{jl} = \frac1N[-\eta_l g_l\lambda_j - \eta_j g_j\lambda_l
+ \eta_j\eta_l g_j g_l |x|^2/N - \kappa(\eta_j+\eta_l)Q_{jl}]` with :math:`g_j = 2a_j\lambda_j r`; one unit of alpha
is N steps, :math:`|x|^2/N\to1`, and the averages are Gaussian moments. The O(eta^2) term
:math:`4\Gamma(\Sigma+\Delta Q)\Gamma` is the only place where the label noise enters.

``gradient_flow=True`` drops the O(eta^2) term (noise included) and keeps the same time variable alpha. For
:math:`\Gamma=\gamma I` the gradient-flow ODE depends on (gamma, alpha) only through :math:`t=\gamma\alpha`
(when kappa = 0).

Cost: a handful of matrix products, O(p^3 + p^2 p^* + p p^{*2}) per evaluation; diagonal matrices are broadcasts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from odes.finite_width.moments import moments

if TYPE_CHECKING:
    from odes.finite_width.params import FiniteWidthParams


def rhs(Q: np.ndarray, M: np.ndarray, params: FiniteWidthParams, *, gradient_flow: bool = False) -> tuple[np.ndarray,
        np.ndarray]:
    """(dQ/dalpha, dM/dalpha) at the state (Q (p,p), M (p,p*)) for ``params`` (FiniteWidthParams)."""
    g = params.eta * params.a                       # diagonal of Gamma
    mo = moments(Q, M, params, need_sigma=not gradient_flow)
    dM = -2.0 * g[:, None] * mo.lam_nu_r
    gP = g[:, None] * mo.P
    dQ = -2.0 * (gP + gP.T)
    if not gradient_flow:
        S = mo.Sigma + params.noise * Q
        dQ += 4.0 * (g[:, None] * S * g[None, :])
    kappa = params.weight_decay
    if kappa:
        h = params.eta
        dM -= kappa * h[:, None] * M
        dQ -= kappa * (h[:, None] + h[None, :]) * Q
    return dQ, dM


def rhs_parts(Q: np.ndarray, M: np.ndarray, params: FiniteWidthParams) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The RHS split into its parts ``{"gradient_flow", "eta2", "noise", "weight_decay"}`` (each (dQ, dM)).

    gradient_flow: -2(Gamma P + P Gamma), -2 Gamma E[lambda nu^T r0];  eta2: 4 Gamma Sigma Gamma, 0;
    noise: 4 Delta Gamma Q Gamma, 0;  weight_decay: -kappa(HQ + QH), -kappa H M.  Their sum is :func:`rhs`.
    """
    g, h = params.eta * params.a, params.eta
    mo = moments(Q, M, params)
    gP = g[:, None] * mo.P
    zero = np.zeros_like(M)
    gg = g[:, None] * g[None, :]
    return {
        "gradient_flow": (-2.0 * (gP + gP.T), -2.0 * g[:, None] * mo.lam_nu_r),
        "eta2": (4.0 * gg * mo.Sigma, zero),
        "noise": (4.0 * params.noise * gg * Q, zero),
        "weight_decay": (-params.weight_decay * (h[:, None] + h[None, :]) * Q,
                         -params.weight_decay * h[:, None] * M),
    }


def pack(Q: np.ndarray, M: np.ndarray) -> np.ndarray:
    """State vector y = [Q.ravel(), M.ravel()] (full symmetric Q is kept; length p^2 + p p*)."""
    return np.concatenate([np.asarray(Q, float).ravel(), np.asarray(M, float).ravel()])


def unpack(y: np.ndarray, p: int, p_star: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack` (views; Q is symmetrised by the caller when needed)."""
    return y[: p * p].reshape(p, p), y[p * p:].reshape(p, p_star)


def rhs_vector(y: np.ndarray, params: FiniteWidthParams, *, gradient_flow: bool = False) -> np.ndarray:
    """:func:`rhs` on the packed state (for ODE solvers and numerical Jacobians)."""
    Q, M = unpack(y, params.p, params.p_star)
    Q = 0.5 * (Q + Q.T)
    dQ, dM = rhs(Q, M, params, gradient_flow=gradient_flow)
    return pack(0.5 * (dQ + dQ.T), dM)
