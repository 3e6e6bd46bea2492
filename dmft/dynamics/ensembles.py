r"""Random matrices of the effective process: teacher S*, initial S(0), GOE innovations, Hutchinson probes.

* Marchenko-Pastur law of ratio gamma = d/m (mean eigenvalue 1): density
  rho(x) = sqrt((b-x)(x-a)) / (2 pi gamma x) on [a, b] = [(1-sqrt gamma)^2, (1+sqrt gamma)^2], plus an atom of
  mass 1 - 1/gamma at 0 when gamma > 1. ``mp_quantiles(gamma, d)`` returns the d midpoint quantiles
  F^{-1}((i - 1/2)/d), with the continuous part affinely corrected so that the first two empirical moments are
  exact: (1/d) sum x = 1, (1/d) sum x^2 = 1 + gamma (falls back to a pure rescaling of the mean if the affine
  map would create a negative eigenvalue).
* ``quantile`` ensemble: S = O diag(q) O^T with O Haar-distributed (QR of a Gaussian matrix, sign-fixed).
* ``wishart`` ensemble: S = W^T W/m with W m x d iid N(0, 1) (m = round(d/gamma)).
* GOE innovation Gamma: symmetric, E[Gamma_ij Gamma_kl] = (delta_ik delta_jl + delta_il delta_jk)/d
  (off-diagonal variance 1/d, diagonal 2/d).
* Hutchinson probe U: symmetric, diagonal N(0, 1), off-diagonal N(0, 1/2), so vec_p(U) ~ N(0, I_p) and
  E <U, J U> = Tr_p J for any linear map J on symmetric matrices.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

_GRID = 4001


def mp_cdf_continuous(gamma: float, n: int = _GRID) -> tuple[np.ndarray, np.ndarray]:
    """Grid (x, F_c(x)) of the cumulative mass of the continuous MP part (total mass min(1, 1/gamma)).

    Quadrature in theta with x = m + r cos(theta) (m = 1 + gamma, r = 2 sqrt gamma), which removes the square-root
    edges: dF = sqrt(r^2 - (x - m)^2)/(2 pi gamma x) dx = r^2 sin^2(theta)/(2 pi gamma x) dtheta."""
    m, r = 1.0 + gamma, 2.0 * math.sqrt(gamma)
    theta = np.linspace(math.pi, 0.0, n)  # x increasing
    x = m + r * np.cos(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(x > 0, (r * np.sin(theta)) ** 2 / (2.0 * math.pi * gamma * np.maximum(x, 1e-300)), 0.0)
    cdf = integrate.cumulative_trapezoid(f, -theta, initial=0.0)  # d(-theta) > 0
    return x, cdf


def mp_quantiles(gamma: float, d: int) -> np.ndarray:
    """d midpoint quantiles of MP(gamma) (ascending), first two moments exactly 1 and 1 + gamma."""
    x, cdf = mp_cdf_continuous(gamma)
    mass_c = min(1.0, 1.0 / gamma)
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
    # solve a m1 + b f = 1, a^2 m2 + 2 a b m1 + b^2 f = 1 + gamma for (a, b), root with a closest to 1
    # substitute b = (1 - a m1)/f:  a^2 (m2 - m1^2/f) + (1/f) = 1 + gamma
    var = m2 - m1 ** 2 / f
    target = 1.0 + gamma - 1.0 / f
    if var > 0 and target > 0:
        a = math.sqrt(target / var)
        b = (1.0 - a * m1) / f
        if qc.min() * a + b >= 0.0:
            q[cont] = a * qc + b
            return q
    q[cont] = qc / m1  # fallback: mean only
    return q


def haar_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    """Haar-distributed d x d orthogonal matrix (QR with the sign convention diag(R) > 0)."""
    g = rng.standard_normal((d, d))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


def mp_matrix(rng: np.random.Generator, d: int, ratio: float, ensemble: str) -> np.ndarray:
    """A d x d matrix with MP(ratio) spectrum: ratio = d/m = 1/kappa (ratio 0: identity)."""
    if ratio == 0.0:
        return np.eye(d)
    if ensemble == "quantile":
        o = haar_orthogonal(rng, d)
        return (o * mp_quantiles(ratio, d)) @ o.T
    m = max(1, int(round(d / ratio)))
    w = rng.standard_normal((m, d))
    return w.T @ w / m


def goe(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n GOE matrices (n, d, d), off-diagonal variance 1/d, diagonal variance 2/d."""
    g = rng.standard_normal((n, d, d))
    return (g + g.transpose(0, 2, 1)) / math.sqrt(2.0 * d)


def probes(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n Hutchinson probes (n, d, d): symmetric, diag N(0,1), off-diag N(0,1/2) (vec_p(U) ~ N(0, I_p))."""
    g = rng.standard_normal((n, d, d))
    return (g + g.transpose(0, 2, 1)) / 2.0
