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

import numpy as np

# the ensembles live in odes.common.random_matrices; re-exported here (old import path)
from odes.common.random_matrices import (  # noqa: F401
    goe,
    haar_orthogonal,
    mp_cdf_continuous,
    mp_quantiles,
    mp_wishart,
    probes,
)


def mp_matrix(rng: np.random.Generator, d: int, ratio: float, ensemble: str) -> np.ndarray:
    """A d x d matrix with MP(ratio) spectrum: ratio = d/m = 1/kappa (ratio 0: identity)."""
    if ratio == 0.0:
        return np.eye(d)
    if ensemble == "quantile":
        o = haar_orthogonal(rng, d)
        return (o * mp_quantiles(ratio, d)) @ o.T
    m = max(1, int(round(d / ratio)))
    return mp_wishart(rng, d, m)
