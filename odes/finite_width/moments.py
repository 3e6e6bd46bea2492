r"""Gaussian moments of the finite-width model (closed forms by Wick/Isserlis).

With :math:`z=(\lambda,\nu)\sim\mathcal N(0,\Omega)`, :math:`\Omega=[[Q,M],[M^\top,T]]` and the noiseless residual
:math:`r_0=\lambda^\top A\lambda-\nu^\top B\nu-c_0`:

.. math::

    \varepsilon_g = \tfrac12 E[r_0^2] = \tfrac12 e_0^2 + \mathrm{tr}(AQAQ) - 2\,\mathrm{tr}(AMBM^\top)
          + \mathrm{tr}(BTBT), \qquad e_0 = E[r_0] = \mathrm{tr}(AQ)-\mathrm{tr}(BT)-c_0,

    E[\lambda\nu^\top r_0] = e_0 M + 2Y,\qquad Y = QAM - MBT \qquad (p\times p^*),

    P = E[\lambda\lambda^\top r_0] = e_0 Q + 2X,\qquad X = QAQ - MBM^\top \qquad (p\times p),

    \Sigma = E[\lambda\lambda^\top r_0^2] = 2\varepsilon_g Q + 4e_0 X + 8(XAQ - YBM^\top)
           = 2\varepsilon_g Q + 4 e_0 X + 8(QAQAQ - QAMBM^\top - MBM^\top AQ + MBTBM^\top).

They follow from the general identities (:math:`q = z^\top C z`, :math:`C=\mathrm{diag}(A,-B)`)
:math:`E[zz^\top q] = \Omega\,\mathrm{tr}(C\Omega) + 2\Omega C\Omega` and
:math:`E[zz^\top q^2] = \Omega[(\mathrm{tr}C\Omega)^2 + 2\mathrm{tr}(C\Omega C\Omega)] + 4\mathrm{tr}(C\Omega)\,\Omega C
\Omega + 8\,\Omega C\Omega C\Omega` (15 pairings of a 6th moment), with the constant :math:`c_0` folded in.
The tests check every formula against an exact pairing enumeration, sympy and Monte Carlo.

ε_g holds at any N for given (Q, M, T) (the covariance of :math:`\lambda = Wx/\sqrt N` is exactly Q), so it is
also how simulations are evaluated, without a test set. Noisy test labels would add :math:`\Delta/2`.
All matrix products are O(p^3 + p^2 p^* + p p^{*2}); the diagonal matrices A, B are applied as broadcasts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from odes.finite_width.params import FiniteWidthParams


class Moments(NamedTuple):
    """All Gaussian moments at one state (shapes: scalars, (p,p) or (p,p*))."""

    e0: float            #: E[r0]
    eps_g: float         #: (1/2) E[r0^2]
    X: np.ndarray        #: QAQ - MBM^T                 (p, p)
    Y: np.ndarray        #: QAM - MBT                   (p, p*)
    lam_nu_r: np.ndarray  #: E[lambda nu^T r0] = e0 M + 2Y (p, p*)
    P: np.ndarray        #: E[lambda lambda^T r0]        (p, p)
    Sigma: np.ndarray    #: E[lambda lambda^T r0^2]      (p, p)


def _e0(Q, params):
    # no float() casts in the internal helpers: they also run on sympy object arrays (exact tests)
    return np.dot(params.a, np.diagonal(Q)) - np.dot(params.b, np.diagonal(params.T)) - params.c0


def _eps_from(e0, Q, M, params):
    a, b, T = params.a, params.b, params.T
    aQ = a[:, None] * Q
    bT = b[:, None] * T
    return (0.5 * e0 * e0 + np.sum(aQ * aQ.T) - 2.0 * np.sum((a[:, None] * M * b[None, :]) * M)
            + np.sum(bT * bT.T))


def generalization_error(Q: np.ndarray, M: np.ndarray, params: FiniteWidthParams) -> float:
    """eps_g(Q, M) = (1/2) E[r0^2] of the module formula (noiseless test labels). Q: (p, p), M: (p, p*)."""
    return float(_eps_from(_e0(Q, params), Q, M, params))


def generalization_error_path(Q: np.ndarray, M: np.ndarray, params: FiniteWidthParams) -> np.ndarray:
    """eps_g along a trajectory: Q (n, p, p), M (n, p, p*) -> (n,)."""
    return np.array([generalization_error(q, m, params) for q, m in zip(Q, M)])


def moments(Q: np.ndarray, M: np.ndarray, params: FiniteWidthParams, *, need_sigma: bool = True) -> Moments:
    """Every moment of the module docstring at (Q, M); ``need_sigma=False`` skips Sigma (set to None)."""
    a, b, T = params.a, params.b, params.T
    e0 = _e0(Q, params)
    eps = _eps_from(e0, Q, M, params)
    Qa = Q * a[None, :]                 # Q A
    Mb = M * b[None, :]                 # M B
    X = Qa @ Q - Mb @ M.T
    X = 0.5 * (X + X.T)
    Y = Qa @ M - Mb @ T
    lam_nu = e0 * M + 2.0 * Y
    P = e0 * Q + 2.0 * X
    Sigma = None
    if need_sigma:
        S8 = (X * a[None, :]) @ Q - (Y * b[None, :]) @ M.T   # X A Q - Y B M^T (symmetric in exact arithmetic)
        Sigma = 2.0 * eps * Q + 4.0 * e0 * X + 4.0 * (S8 + S8.T)
    return Moments(e0, eps, X, Y, lam_nu, P, Sigma)
