r"""Hessian of the population loss eps_g(U), U = W / sqrt(N) in R^{p x N} (Euclidean metric), spec Sec. 7.

eps_g(U) is the Sec. 2 formula with Q = U U^T, M = U U*^T, T = U* U*^T (exact at any N). Its gradient is

.. math:: \nabla_U \varepsilon_g = 2(e_0 A + 2AQA)\,U - 4AMB\,U^*.

**Plateau** (M = 0, Q = qI, A = aI; any q, e.g. the GF plateau q = tau/(a(p+2)) or the shifted SGD plateau),
with h = 2a(e0 + 2aq) and mu_k the eigenvalues of BT:

=================================  =======================  =================================================
eigenvalue                          multiplicity             directions
=================================  =======================  =================================================
h - 4 a mu_k                        p per mu_k               delta U = D U* (towards the teacher)
h                                   p(p-1)/2 + p(N-p-p*)     rotations eps U (eps antisymmetric); bulk
h + 8 a^2 q                         p(p+1)/2 - 1             eps U, eps symmetric traceless
h + 4 a^2 q (p+2)                   1                        eps U, eps = I
=================================  =======================  =================================================

In gradient flow h = 0: {-4a mu_k, 0, 8 a tau/(p+2), 4 a tau}, a strict saddle with p p* negative directions,
and rho_k = -eta h_k = 4 gamma mu_k links the Hessian to the escape rate.

**Zero-loss manifold** (U = D U*, a D^T D = B; A = aI, B = bI, T = tI, c0 = 0, p >= p*):
0 with multiplicity (p-p*)N + p*(p*-1)/2; 4abt with p*(N-p*); 8abt with p*(p*+1)/2 - 1; 4abt(p*+2) once.
The (p-p*)(N-p*) marginal zero modes delta U = u xi^T (u in ker(D^T A), xi orthogonal to the teacher) are
quartic: eps_g(U + s u xi^T) = (3/2) a^2 s^4 |u|^4 |xi|^4 (for unit u, xi: 1.5 a^2 s^4).

The numerical check (:func:`numerical_hessian`) differentiates the analytic gradient by central differences,
error O(h^2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from odes.common import check
from odes.common.deprecation import deprecated_alias
from odes.common.errors import ParameterError
from odes.finite_width.moments import generalization_error
from odes.finite_width.plateau import isotropic_rate

if TYPE_CHECKING:
    from odes.finite_width.params import FiniteWidthParams


def _overlaps(U: np.ndarray, Ustar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return U @ U.T, U @ Ustar.T, Ustar @ Ustar.T


def population_loss(U: np.ndarray, Ustar: np.ndarray, params: FiniteWidthParams) -> float:
    """eps_g at U (p, N), teacher U* (p*, N); uses params' a, b, c0 (params.T is ignored: T = U* U*^T)."""
    Q, M, T = _overlaps(U, Ustar)
    return generalization_error(Q, M, _with_T(params, T))


def population_gradient(U: np.ndarray, Ustar: np.ndarray, params: FiniteWidthParams) -> np.ndarray:
    """grad_U eps_g = 2(e0 A + 2AQA) U - 4 A M B U*, shape (p, N)."""
    Q, M, T = _overlaps(U, Ustar)
    a, b = params.a, params.b
    e0 = float(a @ np.diagonal(Q) - b @ np.diagonal(T) - params.c0)
    K = e0 * np.diag(a) + 2.0 * (a[:, None] * Q * a[None, :])
    return 2.0 * K @ U - 4.0 * (a[:, None] * M * b[None, :]) @ Ustar


def numerical_hessian(U: np.ndarray, Ustar: np.ndarray, params: FiniteWidthParams, *, h: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Jacobian of :func:`population_gradient`, shape (pN, pN)."""
    x0 = np.asarray(U, float).ravel()
    n = x0.size
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        gp = population_gradient((x0 + e).reshape(U.shape), Ustar, params).ravel()
        gm = population_gradient((x0 - e).reshape(U.shape), Ustar, params).ravel()
        H[:, i] = (gp - gm) / (2.0 * h)
    return 0.5 * (H + H.T)


def _with_T(params, T):
    class _P:  # minimal view with a replaced teacher Gram (no re-validation, no stability check)
        pass

    v = _P()
    v.a, v.b, v.T, v.c0 = params.a, params.b, T, params.c0
    return v


def teacher_vectors(params: FiniteWidthParams, N: int) -> np.ndarray:
    """Teacher weight vectors U* (p*, N) with U* U*^T = T, supported on the first p* coordinates (Cholesky factor)."""
    N = check.integer("N", N, lo=params.p + params.p_star)
    Us = np.zeros((params.p_star, N))
    Us[:, : params.p_star] = np.linalg.cholesky(params.T)
    return Us


def plateau_weights(params: FiniteWidthParams, N: int, q: float) -> np.ndarray:
    """U (p, N) with U U^T = q I and U U*^T = 0 (rows on coordinates p*, ..., p*+p-1)."""
    N = check.integer("N", N, lo=params.p + params.p_star)
    U = np.zeros((params.p, N))
    U[:, params.p_star: params.p_star + params.p] = np.sqrt(q) * np.eye(params.p)
    return U


def zero_loss_weights(params: FiniteWidthParams, N: int, D: np.ndarray | None = None) -> np.ndarray:
    """U = D U* on the zero-loss manifold; default D = sqrt(b/a) [I_{p*}; 0] (p x p*)."""
    a, _ = isotropic_rate(params)
    b = float(params.b[0])
    if params.p < params.p_star:
        raise ParameterError("p", "zero loss needs p >= p*")
    if D is None:
        D = np.zeros((params.p, params.p_star))
        D[: params.p_star] = np.sqrt(b / a) * np.eye(params.p_star)
    return D @ teacher_vectors(params, N)


def _merge(pairs: list[tuple[float, int]], tol: float = 1e-12) -> list[tuple[float, int]]:
    out: dict[float, int] = {}
    for v, m in pairs:
        if m <= 0:
            continue
        for k in out:
            if abs(k - v) <= tol * max(1.0, abs(v)):
                out[k] += m
                break
        else:
            out[v] = m
    return sorted(out.items())


def plateau_spectrum(params: FiniteWidthParams, N: int, *, q: float | None = None) -> list[tuple[float, int]]:
    """[(eigenvalue, multiplicity)] at M = 0, Q = qI (module table); default q: the gradient-flow plateau."""
    a, _ = isotropic_rate(params)
    p, ps = params.p, params.p_star
    N = check.integer("N", N, lo=p + ps)
    BT = params.b[:, None] * params.T
    mu = np.linalg.eigvals(BT).real
    tau = float(np.trace(BT)) + params.c0
    if q is None:
        q = tau / (a * (p + 2))
    e0 = p * a * q - tau
    h = 2.0 * a * (e0 + 2.0 * a * q)
    pairs = [(h - 4.0 * a * m, p) for m in mu]
    pairs += [(h, p * (p - 1) // 2 + p * (N - p - ps)), (h + 8.0 * a * a * q, p * (p + 1) // 2 - 1),
              (h + 4.0 * a * a * q * (p + 2), 1)]
    return _merge(pairs)


def zero_loss_spectrum(params: FiniteWidthParams, N: int) -> list[tuple[float, int]]:
    """[(eigenvalue, multiplicity)] on the zero-loss manifold (module docstring)."""
    a, _ = isotropic_rate(params)
    p, ps = params.p, params.p_star
    N = check.integer("N", N, lo=p + ps)
    b, t = float(params.b[0]), float(params.T[0, 0])
    if not (np.allclose(params.b, b) and np.allclose(params.T, t * np.eye(ps)) and abs(params.c0) < 1e-12):
        raise ParameterError("b", "the zero-loss spectrum needs B = bI, T = tI and c0 = 0")
    if p < ps:
        raise ParameterError("p", "zero loss needs p >= p*")
    abt = a * b * t
    return _merge([(0.0, (p - ps) * N + ps * (ps - 1) // 2), (4.0 * abt, ps * (N - ps)),
                   (8.0 * abt, ps * (ps + 1) // 2 - 1), (4.0 * abt * (ps + 2), 1)])


def group_eigenvalues(ev: np.ndarray, tol: float = 1e-6) -> list[tuple[float, int]]:
    """Cluster sorted eigenvalues within ``tol`` into [(mean value, multiplicity)]."""
    ev = np.sort(np.asarray(ev, float))
    groups: list[list[float]] = []
    for v in ev:
        if groups and abs(v - groups[-1][-1]) <= tol:
            groups[-1].append(v)
        else:
            groups.append([v])
    return [(float(np.mean(g)), len(g)) for g in groups]


teacher_weights = deprecated_alias("teacher_weights", teacher_vectors)
