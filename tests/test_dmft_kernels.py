"""numba kernels vs numpy twins, adjoint response vs finite differences, exact equal-time trace identity,
random-matrix ensembles of the effective process."""

import math

import numpy as np
import pytest

from dmft.dynamics import ensembles, kernels
from dmft.dynamics import kernels_reference as ref
from odes.common.random_matrices import symmetric_basis


def _random_history(rng, T, d, eta=0.05):
    S = rng.standard_normal((T, d, d))
    S = np.einsum("tab,tcb->tac", S, S) / d
    G = rng.standard_normal((T, d, d))
    G = (G + G.transpose(0, 2, 1)) / 2
    P = np.eye(d) - eta * G
    SP = np.einsum("tab,tbc->tac", S, P)
    B = np.tril(0.05 * rng.standard_normal((T + 1, T + 1)), -1) + np.eye(T + 1)
    return P, SP, B


@pytest.mark.parametrize("k,block,d", [(1, 4, 6), (7, 3, 6), (23, 5, 6), (30, 24, 6), (30, 1, 6), (31, 7, 13),
                                       (31, 24, 2)])
def test_adjoint_kernel_equals_reference(k, block, d):
    """Blocked, packed-symmetric numba sweep == the unblocked full-matrix numpy twin, relative 1e-12 (observed
    ~1e-15: only the summation order differs)."""
    rng = np.random.default_rng(k)
    T = 32
    P, SP, B = _random_history(rng, T, d)
    U = ensembles.probes(rng, 1, d)[0]
    r1 = kernels.adjoint_sweep(k, P, SP, B, U, 0.05, block, np.empty((k, d, d)))
    r2 = ref.adjoint_sweep(k, P, SP, B, U, 0.05)
    assert np.max(np.abs(r2)) > 0
    assert np.max(np.abs(r1 - r2)) <= 1e-12 * np.max(np.abs(r2))


@pytest.mark.parametrize("k", [0, 1, 9, 20])
def test_history_kernels_equal_reference(k):
    rng = np.random.default_rng(100 + k)
    d, T = 5, 21
    D = rng.standard_normal((T, d, d))
    G = rng.standard_normal((T, d, d))
    b, c = rng.standard_normal(T), rng.standard_normal(T)
    for x, y in zip(kernels.history_contract(D, G, k, b, c), ref.history_contract(D, G, k, b, c)):
        assert np.max(np.abs(x - y)) <= 1e-12 * max(1.0, np.max(np.abs(y)))
    assert np.max(np.abs(kernels.gram_row(D, k) - ref.gram_row(D, k))) <= 1e-12


def _forward(Sstar, S0, B, Xi, eta, lam, j=None, H=None):
    """Independent forward recursion of the effective process given the kernels (spec Sec. 2.3):
    S^{k+1} = P_k S^k P_k, P_k = I - eta(G^k + lam), G^k = D^k + sum_{i<k} B(k,i) D^i + Xi^k (+ H at k = j)."""
    T = Xi.shape[0]
    d = S0.shape[0]
    S = [S0]
    Ps = []
    for k in range(T):
        D = [s - Sstar for s in S]
        G = D[k] + sum(B[k, i] * D[i] for i in range(k)) + Xi[k]
        if j is not None and k == j:
            G = G + H
        P = np.eye(d) - eta * (G + lam * np.eye(d))
        Ps.append(P)
        S.append(P @ S[k] @ P)
    return np.array(S), np.array(Ps)


def test_adjoint_response_equals_finite_differences():
    """<U, dS^k/dG^j U>/p from the adjoint sweep vs central differences of the nonlinear effective dynamics
    (fixed noise realisation and kernels), all source times j < k at once."""
    rng = np.random.default_rng(3)
    d, T, eta, lam = 5, 12, 0.05, 0.05
    Sstar = ensembles.mp_matrix(rng, d, 2.0, "wishart")
    S0 = ensembles.mp_matrix(rng, d, 1.0, "wishart")
    B = np.tril(0.2 * rng.standard_normal((T + 1, T + 1)), -1) + np.eye(T + 1)
    Xi = 0.3 * ensembles.goe(rng, T, d)
    S, P = _forward(Sstar, S0, B, Xi, eta, lam)
    SP = np.einsum("tab,tbc->tac", S[:T], P)
    U = ensembles.probes(rng, 1, d)[0]
    p = d * (d + 1) / 2
    k = T
    r = kernels.adjoint_sweep(k, P, SP, B, U, eta, 4, np.empty((k, d, d)))
    eps = 1e-4
    for j in range(k):
        sp, _ = _forward(Sstar, S0, B, Xi, eta, lam, j, eps * U)
        sm, _ = _forward(Sstar, S0, B, Xi, eta, lam, j, -eps * U)
        fd = np.sum(U * (sp[k] - sm[k])) / (2 * eps) / p
        assert abs(r[j] - fd) <= 1e-8 * max(1.0, abs(fd)) + 1e-10, (j, r[j], fd)


def test_equal_time_response_trace_identity_exact():
    """(1/p) Tr_p Q with Q(X) = -eta(X S P + P S X) (the one-step Jacobian dS^{k+1}/dG^k) equals
    -(2 eta/d) Tr(S P): explicit p x p Jacobian in the orthonormal vec_p basis."""
    rng = np.random.default_rng(5)
    d, eta = 6, 0.07
    S = ensembles.mp_matrix(rng, d, 0.5, "wishart")
    P = np.eye(d) - eta * (ensembles.goe(rng, 1, d)[0] + 0.1 * np.eye(d))
    basis = symmetric_basis(d)
    tr = sum(np.sum(E * (-eta * (E @ S @ P + P @ S @ E))) for E in basis)
    p = len(basis)
    assert tr / p == pytest.approx(-(2 * eta / d) * np.trace(S @ P), rel=1e-12)


def test_mp_quantiles_moments_and_edges():
    for gamma in (2.0, 0.5, 4.0):
        q = ensembles.mp_quantiles(gamma, 400)
        assert q.mean() == pytest.approx(1.0, abs=1e-12)
        assert (q ** 2).mean() == pytest.approx(1 + gamma, abs=1e-12)
        assert q.max() < (1 + math.sqrt(gamma)) ** 2
        assert np.mean(q == 0) == pytest.approx(max(0.0, 1 - 1 / gamma), abs=1 / 400)
    # median of MP(1/2) continuous law from an independent quadrature of the density
    from scipy import integrate, optimize
    g = 0.5
    a, b = (1 - math.sqrt(g)) ** 2, (1 + math.sqrt(g)) ** 2
    rho = lambda x: math.sqrt((b - x) * (x - a)) / (2 * math.pi * g * x)
    med = optimize.brentq(lambda m: integrate.quad(rho, a, m)[0] - 0.5, a, b)
    q = ensembles.mp_quantiles(g, 2001)
    assert q[1000] == pytest.approx(med, rel=2e-3)


def test_probe_and_goe_covariances():
    rng = np.random.default_rng(0)
    n, d = 40000, 3
    U = ensembles.probes(rng, n, d)
    G = ensembles.goe(rng, n, d)
    se = 4 * math.sqrt(2 / n)
    assert U[:, 0, 0].var() == pytest.approx(1.0, abs=se)
    assert U[:, 0, 1].var() == pytest.approx(0.5, abs=0.5 * se)
    assert G[:, 1, 1].var() * d == pytest.approx(2.0, abs=2 * se)
    assert G[:, 0, 2].var() * d == pytest.approx(1.0, abs=se)
