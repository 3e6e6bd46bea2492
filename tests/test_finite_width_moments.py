"""Gaussian-moment formulas of the finite-width model against independent computations:
an exact brute-force Wick/Isserlis pairing sum (numeric and fully symbolic with sympy) and Monte Carlo with a
tolerance set by the standard error."""

from itertools import product
from types import SimpleNamespace

import numpy as np
import pytest
import sympy as sp

from odes.finite_width.moments import generalization_error, moments


def pairings(idx):
    """All perfect matchings of the list idx (Isserlis: E[z_i1 ... z_i2n] = sum over pairings of prod Omega)."""
    if not idx:
        yield []
        return
    first, rest = idx[0], idx[1:]
    for k in range(len(rest)):
        for tail in pairings(rest[:k] + rest[k + 1:]):
            yield [(first, rest[k])] + tail


def gaussian_moment(Omega, idx):
    """E[prod_k z_{idx_k}] for z ~ N(0, Omega) by the pairing sum (works for floats and sympy entries)."""
    total = 0
    for pr in pairings(list(range(len(idx)))):
        term = 1
        for i, j in pr:
            term = term * Omega[idx[i], idx[j]]
        total = total + term
    return total


def brute_force(Omega, cdiag, c0, p, ps):
    """E[lambda nu^T r0], E[lambda lambda^T r0], E[lambda lambda^T r0^2], E[r0^2] by pairing sums.
    r0 = sum_a cdiag_a z_a^2 - c0 (cdiag = (a, -b))."""
    n = p + ps
    E2 = lambda i, j: Omega[i, j]
    E4 = lambda i, j, k: gaussian_moment(Omega, [i, j, k, k])
    E6 = lambda i, j, k, m: gaussian_moment(Omega, [i, j, k, k, m, m])
    lnr = [[sum(cdiag[k] * E4(i, p + j, k) for k in range(n)) - c0 * E2(i, p + j) for j in range(ps)]
           for i in range(p)]
    llr = [[sum(cdiag[k] * E4(i, j, k) for k in range(n)) - c0 * E2(i, j) for j in range(p)] for i in range(p)]
    llr2 = [[sum(cdiag[k] * cdiag[m] * E6(i, j, k, m) for k, m in product(range(n), range(n)))
             - 2 * c0 * sum(cdiag[k] * E4(i, j, k) for k in range(n)) + c0**2 * E2(i, j) for j in range(p)]
            for i in range(p)]
    r2 = (sum(cdiag[k] * cdiag[m] * gaussian_moment(Omega, [k, k, m, m]) for k, m in product(range(n), range(n)))
          - 2 * c0 * sum(cdiag[k] * Omega[k, k] for k in range(n)) + c0**2)
    return lnr, llr, llr2, r2


def random_state(rng, p, ps):
    Z = rng.standard_normal((p + ps, p + ps + 2))
    Omega = Z @ Z.T / (p + ps + 2)
    a = rng.uniform(0.2, 1.0, p)
    b = rng.uniform(0.2, 1.0, ps)
    c0 = 0.3
    Q, M, T = Omega[:p, :p], Omega[:p, p:], Omega[p:, p:]
    return Omega, SimpleNamespace(a=a, b=b, T=T, c0=c0), Q, M


@pytest.mark.parametrize("p,ps", [(1, 1), (2, 1), (1, 2), (3, 2), (2, 3)])
def test_moments_equal_exact_pairing_sum(p, ps):
    rng = np.random.default_rng(10 * p + ps)
    Omega, par, Q, M = random_state(rng, p, ps)
    lnr, llr, llr2, r2 = brute_force(Omega, np.concatenate([par.a, -par.b]), par.c0, p, ps)
    mo = moments(Q, M, par)
    np.testing.assert_allclose(mo.lam_nu_r, lnr, rtol=0, atol=1e-13)
    np.testing.assert_allclose(mo.P, llr, rtol=0, atol=1e-13)
    np.testing.assert_allclose(mo.Sigma, llr2, rtol=0, atol=1e-12)
    assert abs(2 * generalization_error(Q, M, par) - r2) < 1e-12
    assert abs(mo.e0 - sum(np.concatenate([par.a, -par.b]) * np.diagonal(Omega)) + par.c0) < 1e-14


@pytest.mark.parametrize("p,ps", [(2, 1), (1, 2)])
def test_moments_symbolic_wick(p, ps):
    """Fully symbolic Q, M, T, a, b, c0: the code's formulas minus the pairing sum expand to exactly 0."""
    n = p + ps
    O = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"w{min(i, j)}{max(i, j)}"))
    a = [sp.Symbol(f"a{j}") for j in range(p)]
    b = [sp.Symbol(f"b{k}") for k in range(ps)]
    c0 = sp.Symbol("c0")
    arr = lambda m: np.array(m.tolist(), dtype=object)
    Q, M, T = arr(O[:p, :p]), arr(O[:p, p:]), arr(O[p:, p:])
    par = SimpleNamespace(a=np.array(a, dtype=object), b=np.array(b, dtype=object), T=T, c0=c0)
    mo = moments(Q, M, par)
    lnr, llr, llr2, r2 = brute_force(O, a + [-x for x in b], c0, p, ps)
    for i in range(p):
        for j in range(ps):
            assert sp.expand(mo.lam_nu_r[i, j] - lnr[i][j]) == 0
        for j in range(p):
            assert sp.expand(mo.P[i, j] - llr[i][j]) == 0
            assert sp.expand(mo.Sigma[i, j] - llr2[i][j]) == 0
    assert sp.expand(2 * mo.eps_g - r2) == 0
    # negative control: the coefficient 8 of the 6th-moment term matters (8 -> 7 must fail)
    S8 = (mo.X * par.a[None, :]) @ Q - (mo.Y * par.b[None, :]) @ M.T
    sigma_wrong = mo.Sigma - 0.5 * (S8 + S8.T)
    assert sp.expand(sigma_wrong[0, 0] - llr2[0][0]) != 0


def test_moments_monte_carlo_within_standard_error():
    """1e6 Gaussian samples at a random (Q, M, T, a, b, c0); every entry within 5 standard errors."""
    p, ps = 3, 2
    rng = np.random.default_rng(7)
    Omega, par, Q, M = random_state(rng, p, ps)
    n = 1_000_000
    z = rng.multivariate_normal(np.zeros(p + ps), Omega, size=n)
    lam, nu = z[:, :p], z[:, p:]
    r0 = lam**2 @ par.a - nu**2 @ par.b - par.c0
    mo = moments(Q, M, par)
    checks = {
        "lam_nu_r": (lam[:, :, None] * nu[:, None, :] * r0[:, None, None], mo.lam_nu_r),
        "P": (lam[:, :, None] * lam[:, None, :] * r0[:, None, None], mo.P),
        "Sigma": (lam[:, :, None] * lam[:, None, :] * (r0**2)[:, None, None], mo.Sigma),
        "r0^2": (r0**2, 2 * mo.eps_g),
        "r0": (r0, mo.e0),
    }
    for name, (samples, formula) in checks.items():
        mean = samples.mean(axis=0)
        se = samples.std(axis=0, ddof=1) / np.sqrt(n)
        zscore = np.max(np.abs(mean - formula) / se)
        assert zscore < 5.0, f"{name}: max |z| = {zscore:.2f}"
    # power: a 10% error in the O(eta^2) moment would be detected
    samples = checks["Sigma"][0]
    se = samples.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.max(np.abs(samples.mean(axis=0) - 1.10 * mo.Sigma) / se) > 5.0
