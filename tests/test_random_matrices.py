"""odes.common.random_matrices against independent references: closed-form moments of each law, Monte Carlo
with tolerances from the standard error, and the exact algebraic identities (orthogonality, isometry)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from odes.common import random_matrices as rm


def _mc_close(samples: np.ndarray, expected: float, z: float = 5.0) -> None:
    """Sample mean within z standard errors of the exact expectation."""
    samples = np.asarray(samples, dtype=float).ravel()
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    assert abs(samples.mean() - expected) < z * se + 1e-12, (samples.mean(), expected, se)


@pytest.mark.parametrize("kappa_star", [0.4, 1.0, 2.5])
def test_mp_density_mass_and_moments(kappa_star):
    """Continuous part of MP(ratio = 1/kappa*): mass min(1, kappa*), int x rho = 1, int x^2 rho = 1 + ratio
    (the atom sits at 0 and carries no moment)."""
    g = 1.0 / kappa_star
    lo, hi = rm.mp_edges(kappa_star)
    assert (lo, hi) == pytest.approx(((1 - math.sqrt(g)) ** 2, (1 + math.sqrt(g)) ** 2))
    mom = [integrate.quad(lambda x, k=k: x ** k * rm.mp_density(np.array([x]), kappa_star)[0], lo, hi,
                          limit=200)[0] for k in range(3)]
    assert mom == pytest.approx([min(1.0, kappa_star), 1.0, 1.0 + g], abs=1e-7)


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_mp_cdf_and_quantiles_vs_monte_carlo(ratio):
    """mp_cdf_continuous ends at the continuous mass; the quantiles match the empirical distribution of the
    normalised Wishart spectrum (d = 200, m = d/ratio): the fraction of eigenvalues below each quartile of
    mp_quantiles is the quartile's level, within the finite-d error (O(1/d) + sampling)."""
    x, cdf = rm.mp_cdf_continuous(ratio)
    assert cdf[-1] == pytest.approx(min(1.0, 1.0 / ratio), rel=1e-5)
    assert np.all(np.diff(cdf) >= 0)
    d = 200
    m = int(round(d / ratio))
    rng = np.random.default_rng(1)
    ev = np.concatenate([np.linalg.eigvalsh(rm.mp_wishart(rng, d, m)) for _ in range(5)])
    q = rm.mp_quantiles(ratio, 400)
    for level in (0.25, 0.5, 0.75):
        c = q[int(level * 400)]
        if c <= 1e-12:  # inside the atom at zero
            continue
        assert abs(np.mean(ev < c) - level) < 0.02
    # the MC spectrum's first two moments: E tr S/d = 1, E tr S^2/d = 1 + ratio + O(1/m) exactly (1 + ratio + 1/m
    # for the normalised Wishart: E (1/d) Tr S^2 = (m + d + 1)/m)
    rng = np.random.default_rng(2)
    s1, s2 = [], []
    for _ in range(60):
        S = rm.mp_wishart(rng, 30, int(round(30 / ratio)))
        s1.append(np.trace(S) / 30)
        s2.append(np.sum(S * S) / 30)
    mm = int(round(30 / ratio))
    _mc_close(s1, 1.0)
    _mc_close(s2, (mm + 30 + 1) / mm)


def test_semicircle_and_goe():
    """SC(s2) integrates to 1 with variance s2; GOE entries: off-diagonal variance 1/d, diagonal 2/d,
    E (1/d) Tr M^2 = (d + 1)/d."""
    s2 = 0.7
    r = 2 * math.sqrt(s2)
    m = [integrate.quad(lambda x, k=k: x ** k * rm.semicircle_density(np.array([x]), s2)[0], -r, r)[0]
         for k in range(3)]
    assert m == pytest.approx([1.0, 0.0, s2], abs=1e-7)
    d, n = 6, 4000
    M = rm.goe(np.random.default_rng(3), n, d)
    assert np.array_equal(M, M.transpose(0, 2, 1))
    _mc_close(d * M[:, 0, 1] ** 2, 1.0)
    _mc_close(d * M[:, 2, 2] ** 2 / 2.0, 1.0)
    _mc_close(M[:, 0, 1], 0.0)
    _mc_close(np.einsum("nij,nij->n", M, M) / d, (d + 1) / d)


def test_haar_orthogonality_and_entry_moments():
    """Q^T Q = I; an entry of a d x d Haar matrix is a coordinate of a uniform unit vector: mean 0,
    E q^2 = 1/d, E q^4 = 3/(d(d+2)) (-> the N(0, 1/d) value 3/d^2)."""
    d, n = 5, 4000
    rng = np.random.default_rng(4)
    Q = np.stack([rm.haar_orthogonal(rng, d) for _ in range(n)])
    assert np.allclose(np.einsum("nki,nkj->nij", Q, Q), np.eye(d), atol=1e-12)
    q = Q[:, 1, 3]
    _mc_close(q, 0.0)
    _mc_close(q ** 2, 1.0 / d)
    _mc_close(q ** 4, 3.0 / (d * (d + 2)))
    F = rm.haar_frame(np.random.default_rng(5), 9, 4)
    assert F.shape == (9, 4) and np.allclose(F.T @ F, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("dim,dof", [(4, 2), (4, 9)])
def test_wishart_mean_and_variance(dim, dof):
    """scale G^T G with G (dof, dim) iid N(0,1): E = scale dof I, Var of a diagonal entry 2 dof scale^2,
    off-diagonal variance dof scale^2 (both the direct and the Bartlett branch)."""
    rng = np.random.default_rng(6)
    W = np.stack([rm.wishart(rng, dim, dof, 0.5) for _ in range(4000)])
    _mc_close(W[:, 1, 1], 0.5 * dof)
    _mc_close(W[:, 0, 2], 0.0)
    _mc_close((W[:, 1, 1] - 0.5 * dof) ** 2, 2 * dof * 0.25)
    _mc_close(W[:, 0, 2] ** 2, dof * 0.25)


def test_probes_and_vec_p():
    """vec_p is an isometry with inverse unvec_p; vec_p_index gives the same vector by indexing;
    the probes have vec_p(U) ~ N(0, I_p) (Monte Carlo covariance)."""
    rng = np.random.default_rng(7)
    d = 4
    A, B = (rng.standard_normal((d, d)) for _ in range(2))
    A, B = A + A.T, B + B.T
    assert np.allclose(rm.unvec_p(rm.vec_p(A), d), A)
    assert rm.vec_p(A) @ rm.vec_p(B) == pytest.approx(np.sum(A * B))
    i, j, w = rm.vec_p_index(d)
    assert np.array_equal(w * A[i, j], rm.vec_p(A))
    U = rm.probes(rng, 6000, d)
    V = np.stack([rm.vec_p(u) for u in U])
    cov = V.T @ V / len(V)
    p = d * (d + 1) // 2
    se = math.sqrt(2.0 / len(V))  # sd of a variance estimate of a unit Gaussian / sqrt(n), off-diagonal 1/sqrt(n)
    assert np.max(np.abs(cov - np.eye(p))) < 5 * se


def test_old_import_paths_reexport_the_same_functions():
    from dmft import spectra
    from dmft.dynamics import ensembles
    from odes.population import highdim
    from validation import erm

    assert spectra.mp_edges is rm.mp_edges and spectra.mp_density is rm.mp_density
    assert spectra.semicircle_density is rm.semicircle_density
    assert ensembles.mp_quantiles is rm.mp_quantiles and ensembles.goe is rm.goe and ensembles.probes is rm.probes
    assert ensembles.haar_orthogonal is rm.haar_orthogonal and ensembles.mp_cdf_continuous is rm.mp_cdf_continuous
    assert highdim.wishart is rm.wishart
    assert erm.vec_p is rm.vec_p and erm.unvec_p is rm.unvec_p


def test_symmetric_basis_is_orthonormal_and_matches_vec_p():
    """vec_p(S) are the coordinates of S in symmetric_basis: <E_i, E_j>_F = delta_ij and S = sum_i vec_p(S)_i E_i."""
    from odes.common.random_matrices import symmetric_basis, vec_p

    d = 4
    B = symmetric_basis(d)
    G = np.array([[np.sum(a * b) for b in B] for a in B])
    np.testing.assert_allclose(G, np.eye(d * (d + 1) // 2), atol=1e-15)
    S = np.random.default_rng(0).standard_normal((d, d))
    S = S + S.T
    np.testing.assert_allclose(sum(c * E for c, E in zip(vec_p(S), B)), S, atol=1e-14)
