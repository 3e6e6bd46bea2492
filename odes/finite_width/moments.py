r"""Gaussian moments of the finite-width model (spec: finite-width ODEs, Sec. 2-3).

With :math:`z=(\lambda,\nu)\sim\mathcal N(0,\Omega)`, :math:`\Omega=[[Q,M],[M^\top,T]]` and the noiseless residual
:math:`r_0=\lambda^\top A\lambda-\nu^\top B\nu-c_0`:

.. math:: \varepsilon_g = \tfrac12 E[r_0^2] = \tfrac12 e_0^2 + \mathrm{tr}(AQAQ) - 2\,\mathrm{tr}(AMBM^\top)
          + \mathrm{tr}(BTBT), \qquad e_0 = \mathrm{tr}(AQ)-\mathrm{tr}(BT)-c_0 .

This holds at any N for given (Q, M, T) (the covariance of :math:`\lambda = Wx/\sqrt N` is exactly Q), so it is
also how simulations are evaluated, without a test set. Noisy test labels would add :math:`\Delta/2`.
"""

from __future__ import annotations

import numpy as np


def residual_mean(Q: np.ndarray, params) -> float:
    """e0 = tr(AQ) - tr(BT) - c0 (the mean residual)."""
    return float(np.dot(params.a, np.diagonal(Q)) - np.dot(params.b, np.diagonal(params.T)) - params.c0)


def generalization_error(Q: np.ndarray, M: np.ndarray, params) -> float:
    """eps_g(Q, M) of the formula above (noiseless test labels). Q: (p, p), M: (p, p*)."""
    a, b, T = params.a, params.b, params.T
    e0 = residual_mean(Q, params)
    aQ = a[:, None] * Q
    bT = b[:, None] * T
    return float(0.5 * e0**2 + np.sum(aQ * aQ.T) - 2.0 * np.sum((a[:, None] * M * b[None, :]) * M)
                 + np.sum(bT * bT.T))


def generalization_error_path(Q: np.ndarray, M: np.ndarray, params) -> np.ndarray:
    """eps_g along a trajectory: Q (n, p, p), M (n, p, p*) -> (n,)."""
    return np.array([generalization_error(q, m, params) for q, m in zip(Q, M)])
