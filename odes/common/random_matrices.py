r"""Random-matrix ensembles and closed-form spectral laws shared by every quadnet model.

One home for what the families used to draw or evaluate each in their own module (``dmft.spectra``,
``dmft.dynamics.ensembles``, ``odes.population.highdim``, ``validation.online_sgd``, ``validation.erm``,
``validation.gd_simulator``); the old import paths re-export these functions. Every sampler takes a
``numpy.random.Generator`` and makes exactly the generator calls listed in its docstring, in that order, so a
seed gives the same matrix wherever it is drawn.

Normalisations (``N(0, v)``: Gaussian of variance ``v``):

* **Marchenko-Pastur** ``MP(ratio)``, aspect ratio ``ratio = d/m = 1/kappa``, mean eigenvalue 1: continuous part
  ``rho(x) = sqrt((x_+ - x)(x - x_-)) / (2 pi ratio x)`` on ``x_pm = (1 pm sqrt(ratio))^2`` (mass
  ``min(1, 1/ratio)``) and, for ``ratio > 1``, an atom of mass ``1 - 1/ratio`` at 0. Moments
  ``int x dMP = 1``, ``int x^2 dMP = 1 + ratio``. :func:`mp_edges` and :func:`mp_density` take ``kappa* = 1/ratio``
  (the stationary theory's teacher width); :func:`mp_cdf_continuous` and :func:`mp_quantiles` take ``ratio``
  (their keyword ``gamma=`` is deprecated).
* **Normalised Wishart** :func:`mp_wishart`: ``S = W^T W/m`` with ``W`` (m, d) iid ``N(0, 1)``; spectrum ->
  ``MP(d/m)``, ``E S = I``.
* **Unnormalised Wishart** :func:`wishart`: ``scale G^T G`` with ``G`` (dof, dim) iid ``N(0, 1)``,
  ``E = scale dof I`` (Bartlett decomposition when ``dof >= dim``).
* **Haar** :func:`haar_frame`, :func:`haar_orthogonal`: QR of an iid ``N(0, 1)`` matrix with the sign convention
  ``diag(R) > 0``, so the frame is exactly Haar; every entry of a d x d Haar matrix has mean 0 and variance 1/d.
* **GOE** :func:`goe`: symmetric, ``E[M_ij M_kl] = (delta_ik delta_jl + delta_il delta_jk)/d`` (off-diagonal
  variance 1/d, diagonal 2/d); spectrum -> semicircle of radius 2 (variance 1).
* **Semicircle** :func:`semicircle_density` ``SC(s2)``: ``sqrt(4 s2 - x^2)/(2 pi s2)``, variance ``s2``.
* **Hutchinson probes** :func:`probes`: symmetric, diagonal ``N(0, 1)``, off-diagonal ``N(0, 1/2)``, so
  ``vec_p(U) ~ N(0, I_p)`` and ``E <U, J U> = Tr_p J``.
* **Complex Hermitian (beta = 2) twins** :func:`gue`, :func:`probes_hermitian`, :func:`mp_wishart_complex`,
  :func:`haar_unitary`: the same first two moments in the real inner product ``<A, B> = Re Tr(A^H B)`` on the
  ``p = d^2``-dimensional real space of Hermitian matrices: GUE ``E|M_ij|^2 = 1/d`` for all i, j (semicircle of
  radius 2); probes with diagonal ``N(0, 1)`` and off-diagonal real and imaginary parts ``N(0, 1/2)``, so
  ``E <U, J U> = Tr_p J``; complex Wishart ``W^H W/m`` with ``E|W_ij|^2 = 1`` (``E S = I``, spectrum -> MP(d/m)).
  Their large-d limits are those of the real ensembles, but the finite-d corrections of normalised traces are
  O(1/d^2) instead of O(1/d) (dmft.dynamics.gradient_flow, ``field="complex"``).
* ``vec_p(A) = (A_ii; sqrt2 A_ij, i < j)`` (diagonal first, then the strict upper triangle row by row): the
  isometry from symmetric d x d matrices (Frobenius) to ``R^p``, ``p = d(d+1)/2``; :func:`vec_p_index` gives it
  as index arrays.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

from odes.common import check
from odes.common.deprecation import renamed_keywords

__all__ = [
    "mp_edges", "mp_density", "mp_cdf_continuous", "mp_quantiles", "semicircle_density",
    "mp_wishart", "wishart", "haar_frame", "haar_orthogonal", "goe", "probes", "symmetric_basis", "vec_p", "unvec_p",
    "vec_p_index", "gue", "probes_hermitian", "mp_wishart_complex", "haar_unitary",
]

_GRID = 4001


# ----------------------------------------------------------------------------------------------------------
# closed-form laws
def mp_edges(kappa_star: float) -> tuple[float, float]:
    """Edges ``(1 -+ sqrt(ratio))^2`` of the continuous part of MP(ratio = 1/kappa*)."""
    g = 1.0 / check.positive("kappa_star", kappa_star)
    return (1.0 - np.sqrt(g)) ** 2, (1.0 + np.sqrt(g)) ** 2


def mp_density(x: np.ndarray, kappa_star: float) -> np.ndarray:
    """Continuous part of MP(1/kappa*) (the atom ``max(1 - kappa*, 0)`` at 0 is not included)."""
    x = np.asarray(x, dtype=float)
    lo, hi = mp_edges(kappa_star)
    g = 1.0 / kappa_star
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2.0 * np.pi * g * xi)
    return out


def semicircle_density(x: np.ndarray, s2: float) -> np.ndarray:
    """Semicircle of variance ``s2``: ``sqrt(4 s2 - x^2)/(2 pi s2)`` on ``|x| < 2 sqrt(s2)``."""
    x = np.asarray(x, dtype=float)
    s2 = check.positive("sigma2", s2)
    return np.sqrt(np.clip(4.0 * s2 - x * x, 0.0, None)) / (2.0 * np.pi * s2)


@renamed_keywords(gamma="ratio")
def mp_cdf_continuous(ratio: float, n: int = _GRID) -> tuple[np.ndarray, np.ndarray]:
    """Grid (x, F_c(x)) of the cumulative mass of the continuous MP part (total mass min(1, 1/ratio)).

    Quadrature in theta with x = m + r cos(theta) (m = 1 + ratio, r = 2 sqrt ratio), which removes the square-root
    edges: dF = sqrt(r^2 - (x - m)^2)/(2 pi ratio x) dx = r^2 sin^2(theta)/(2 pi ratio x) dtheta."""
    m, r = 1.0 + ratio, 2.0 * math.sqrt(ratio)
    theta = np.linspace(math.pi, 0.0, n)  # x increasing
    x = m + r * np.cos(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(x > 0, (r * np.sin(theta)) ** 2 / (2.0 * math.pi * ratio * np.maximum(x, 1e-300)), 0.0)
    cdf = integrate.cumulative_trapezoid(f, -theta, initial=0.0)  # d(-theta) > 0
    return x, cdf


@renamed_keywords(gamma="ratio")
def mp_quantiles(ratio: float, d: int) -> np.ndarray:
    """d midpoint quantiles ``F^{-1}((i - 1/2)/d)`` of MP(ratio) (ascending), the continuous part affinely
    corrected so that the first two empirical moments are exactly 1 and 1 + ratio (pure rescaling of the mean
    if the affine map would create a negative eigenvalue)."""
    x, cdf = mp_cdf_continuous(ratio)
    mass_c = min(1.0, 1.0 / ratio)
    atom = 1.0 - mass_c
    u = (np.arange(d) + 0.5) / d
    q = np.zeros(d)
    cont = u > atom
    # exact total mass of the continuous part is mass_c; normalise the quadrature to it
    q[cont] = np.interp(u[cont] - atom, cdf * (mass_c / cdf[-1]), x)
    n_plus = int(cont.sum())
    if n_plus == 0:
        return q
    qc = q[cont]
    f = n_plus / d
    m1, m2 = qc.sum() / d, (qc ** 2).sum() / d
    # solve a m1 + b f = 1, a^2 m2 + 2 a b m1 + b^2 f = 1 + ratio for (a, b), root with a closest to 1
    # substitute b = (1 - a m1)/f:  a^2 (m2 - m1^2/f) + (1/f) = 1 + ratio
    var = m2 - m1 ** 2 / f
    target = 1.0 + ratio - 1.0 / f
    if var > 0 and target > 0:
        a = math.sqrt(target / var)
        b = (1.0 - a * m1) / f
        if qc.min() * a + b >= 0.0:
            q[cont] = a * qc + b
            return q
    q[cont] = qc / m1  # fallback: mean only
    return q


# ----------------------------------------------------------------------------------------------------------
# samplers
def mp_wishart(rng: np.random.Generator, d: int, m: int) -> np.ndarray:
    """``S = W^T W/m``, ``W`` (m, d) iid N(0, 1) (one ``standard_normal((m, d))`` call): ``E S = I``, spectrum
    -> MP(d/m). The teacher ``S* = W*^T W*/m*`` of the extensive-width model."""
    w = rng.standard_normal((m, d))
    return w.T @ w / m


def wishart(rng: np.random.Generator, dim: int, dof: int, scale: float = 1.0) -> np.ndarray:
    """A sample of scale * G^T G with G (dof x dim) i.i.d. N(0, 1), without forming G when dof >= dim
    (Bartlett: G^T G = L L^T, L lower triangular, L_ii^2 ~ chi^2(dof - i), L_ij ~ N(0,1) for i > j).
    Cost O(dim^3) independent of dof."""
    if dof < dim:
        G = rng.standard_normal((dof, dim))
        return scale * (G.T @ G)
    L = np.tril(rng.standard_normal((dim, dim)), -1)
    L[np.diag_indices(dim)] = np.sqrt(rng.chisquare(float(dof) - np.arange(dim)))  # float: dof may exceed int64
    return scale * (L @ L.T)


def haar_frame(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """(n, k) matrix with Haar-distributed orthonormal columns: ``Q diag(sign(diag R))`` from the QR of one
    ``standard_normal((n, k))`` draw (k <= n)."""
    g = rng.standard_normal((n, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diagonal(r))[None, :]


def haar_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    """Haar-distributed d x d orthogonal matrix (QR with the sign convention diag(R) > 0); entries have mean 0
    and variance 1/d."""
    return haar_frame(rng, d, d)


def goe(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n GOE matrices (n, d, d), off-diagonal variance 1/d, diagonal variance 2/d:
    ``(G + G^T)/sqrt(2d)`` with ``G = standard_normal((n, d, d))``."""
    g = rng.standard_normal((n, d, d))
    return (g + g.transpose(0, 2, 1)) / math.sqrt(2.0 * d)


def probes(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n Hutchinson probes (n, d, d): symmetric, diag N(0,1), off-diag N(0,1/2) (vec_p(U) ~ N(0, I_p)):
    ``(G + G^T)/2`` with ``G = standard_normal((n, d, d))``."""
    g = rng.standard_normal((n, d, d))
    return (g + g.transpose(0, 2, 1)) / 2.0


def _complex_normal(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """iid complex N(0, 1): real and imaginary parts N(0, 1/2) each (E|z|^2 = 1)."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2.0)


def gue(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n GUE matrices (n, d, d): Hermitian, ``E|M_ij|^2 = 1/d`` for all i, j (diagonal real N(0, 1/d)):
    ``(G + G^H)/sqrt(2d)`` with G iid complex N(0, 1). Spectrum -> semicircle of radius 2 (variance 1)."""
    g = _complex_normal(rng, (n, d, d))
    return (g + np.conj(g.transpose(0, 2, 1))) / math.sqrt(2.0 * d)


def probes_hermitian(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n Hermitian Hutchinson probes (n, d, d): diagonal N(0, 1), off-diagonal real and imaginary parts
    N(0, 1/2), so the p = d^2 real coordinates are iid N(0, 1) and E <U, J U> = Tr_p J (<A, B> = Re Tr(A^H B))."""
    g = _complex_normal(rng, (n, d, d))
    return (g + np.conj(g.transpose(0, 2, 1))) / math.sqrt(2.0)


def mp_wishart_complex(rng: np.random.Generator, d: int, m: int) -> np.ndarray:
    """``S = W^H W/m``, W (m, d) iid complex N(0, 1): Hermitian PSD, ``E S = I``, spectrum -> MP(d/m)."""
    w = _complex_normal(rng, (m, d))
    return np.conj(w.T) @ w / m


def haar_unitary(rng: np.random.Generator, d: int) -> np.ndarray:
    """Haar-distributed d x d unitary matrix (QR of an iid complex Gaussian matrix, phases of diag(R) removed)."""
    q, r = np.linalg.qr(_complex_normal(rng, (d, d)))
    ph = np.diag(r) / np.abs(np.diag(r))
    return q * ph


# ----------------------------------------------------------------------------------------------------------
# symmetric-matrix coordinates
def vec_p(S: np.ndarray) -> np.ndarray:
    """``(S_ii; sqrt2 S_ij, i < j)``: isometry from symmetric matrices to R^p."""
    d = S.shape[0]
    iu = np.triu_indices(d, 1)
    return np.concatenate([np.diag(S), math.sqrt(2.0) * S[iu]])


def symmetric_basis(d: int) -> list[np.ndarray]:
    """The orthonormal basis of d x d symmetric matrices (Frobenius inner product) in the order of :func:`vec_p`:
    E_aa (a = 0..d-1), then (e_a e_b^T + e_b e_a^T)/sqrt 2 for a < b (``np.triu_indices(d, 1)`` order); p = d(d+1)/2
    matrices, and S = sum_i vec_p(S)_i E_i."""
    basis = []
    for a in range(d):
        E = np.zeros((d, d))
        E[a, a] = 1.0
        basis.append(E)
    for a, b in zip(*np.triu_indices(d, 1)):
        E = np.zeros((d, d))
        E[a, b] = E[b, a] = 1.0 / math.sqrt(2.0)
        basis.append(E)
    return basis


def unvec_p(v: np.ndarray, d: int) -> np.ndarray:
    """Inverse of :func:`vec_p`."""
    S = np.zeros((d, d))
    iu = np.triu_indices(d, 1)
    S[iu] = v[d:] / math.sqrt(2.0)
    S = S + S.T
    S[np.diag_indices(d)] = v[:d]
    return S


def vec_p_index(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, w)`` with ``w * S[i, j] == vec_p(S)`` (same order; ``w = 1`` on the diagonal, ``sqrt 2`` off it):
    vec_p by fancy indexing, for array libraries other than numpy."""
    iu = np.triu_indices(d, 1)
    i = np.concatenate([np.arange(d), iu[0]])
    j = np.concatenate([np.arange(d), iu[1]])
    w = np.concatenate([np.ones(d), np.full(iu[0].size, math.sqrt(2.0))])
    return i, j, w
