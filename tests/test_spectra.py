"""dmft.spectra: MP [+] semicircle against closed forms, free-cumulant moments and sampled matrices."""

import numpy as np
import pytest
from scipy import integrate

from dmft.spectra import (
    FreeConvolution,
    free_cumulant_moments,
    mp_density,
    mp_edges,
    sample_y_eigenvalues,
    semicircle_density,
)

CASES = [(0.5, 0.19342), (0.5, 2e-4), (0.25, 9.05), (2.0, 0.1), (0.1, 1e-3), (0.5, 1e-8), (1.0, 0.05),
         (0.25, 0.3), (0.5, 0.02)]


@pytest.mark.parametrize("ks,s2", CASES)
def test_mass_and_moments_vs_free_cumulants(ks, s2):
    fc = FreeConvolution(ks, s2)
    q = fc.quadrature()
    mom = np.array([np.sum(q.w * q.x ** k) for k in range(1, 5)])
    assert abs(q.w.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(mom, free_cumulant_moments(ks, s2), rtol=1e-11, atol=1e-13)


def test_small_sigma_has_two_components_and_smoothed_atom():
    fc = FreeConvolution(0.5, 2e-4)
    assert len(fc.support) == 2
    (a, b), (c, e) = fc.support
    # the smoothed atom carries mass 1 - kappa* = 1/2
    q = fc.quadrature()
    assert abs(q.w[q.x < b + 1e-12].sum() - 0.5) < 1e-12
    # the bulk approaches the MP edges as s2 -> 0
    lo, hi = mp_edges(0.5)
    assert abs(c - lo) < 0.01 and abs(e - hi) < 0.01


def test_mp_limit_and_semicircle_limit():
    x = np.linspace(0.1, 5.7, 50)
    np.testing.assert_allclose(FreeConvolution(0.5, 1e-9).density(x), mp_density(x, 0.5), rtol=2e-3, atol=1e-3)
    # kappa* -> infinity: MP -> delta at 1, so rho_Y -> semicircle centred at 1
    s2 = 0.3
    y = np.linspace(1 - 1.0, 1 + 1.0, 41)
    np.testing.assert_allclose(FreeConvolution(1e7, s2).density(y), semicircle_density(y - 1.0, s2), atol=2e-3)
    # MP closed form integrates to kappa* (continuous part) and has mean 1 including the atom
    lo, hi = mp_edges(0.5)
    assert abs(integrate.quad(lambda t: mp_density(np.array([t]), 0.5)[0], lo, hi)[0] - 0.5) < 1e-8
    assert abs(FreeConvolution(0.5, 0.0).integrate(lambda t: t) - 1.0) < 1e-10


@pytest.mark.parametrize("ks,s2", [(0.5, 0.19342), (0.25, 0.3), (2.0, 0.1)])
def test_stieltjes_off_axis_equals_integral_of_density(ks, s2):
    fc = FreeConvolution(ks, s2)
    q = fc.quadrature(h=0.0125)  # fine rule: the direct sum of 1/(z - x) needs it close to the axis
    z = np.array([0.3 + 0.05j, 2.0 + 0.5j, -1.0 + 0.01j, 8.0 + 2j, 0.1 + 3j, 40.0 + 1e-6j])
    direct = np.array([np.sum(q.w / (zz - q.x)) for zz in z])
    G = fc.stieltjes(z)
    np.testing.assert_allclose(G, direct, rtol=1e-7)
    assert np.all(G.imag <= 0)
    # the chosen root is a root of the cubic
    g, c = fc.mp_ratio, fc.s2
    cub = -g * c * G ** 3 + (g * z + c) * G ** 2 - (z - 1 + g) * G + 1
    assert np.max(np.abs(cub)) < 1e-10
    # all roots solve the cubic, and -Im G(x + i0)/pi is the density
    x = np.linspace(*fc.edges, 7)[1:-1]
    np.testing.assert_allclose(-fc.stieltjes(x + 0j).imag / np.pi, fc.density(x), atol=1e-10)


def test_quadrature_converges_when_step_is_halved():
    for theta in (0.02, 0.5, 3.0):
        a = FreeConvolution(0.5, 0.19342, h=0.05).threshold_integrals(theta)
        b = FreeConvolution(0.5, 0.19342, h=0.025).threshold_integrals(theta)
        for k in ("P", "f2", "yf", "resid2", "D"):
            assert abs(a[k] - b[k]) < 1e-11, k


def test_threshold_integrals_vs_generic_routines_and_identities():
    fc = FreeConvolution(0.5, 0.19342)
    theta = 0.08
    ti = fc.threshold_integrals(theta)
    f = lambda y: np.maximum(y - theta, 0.0)
    fp = lambda y: (y > theta).astype(float)
    assert abs(ti["f2"] - fc.integrate(lambda y: f(y) ** 2, cuts=[theta])) < 1e-12
    assert abs(ti["yf"] - fc.integrate(lambda y: y * f(y), cuts=[theta])) < 1e-12
    assert abs(ti["m2"] - free_cumulant_moments(0.5, 0.19342)[1]) < 1e-12
    # generic divided-difference routine (no corner treatment, different code path)
    Dg = fc.divided_difference_integral(f, fp, cuts=[theta], h=0.025)
    assert abs(ti["D"] - Dg) < 1e-5
    # D = P^2 for f linear everywhere above the spectrum's lower edge (theta below the support)
    low = fc.threshold_integrals(fc.edges[0] - 1.0)
    assert abs(low["D"] - 1.0) < 1e-13 and abs(low["P"] - 1.0) < 1e-13


@pytest.fixture(scope="module")
def sampled():
    rng = np.random.default_rng(12345)
    d, ks, s2 = 2000, 0.5, 0.19342
    return d, ks, s2, sample_y_eigenvalues(d, ks, s2, rng)


def test_histogram_vs_sampled_eigenvalues(sampled):
    d, ks, s2, ev = sampled
    fc = FreeConvolution(ks, s2)
    edges = np.linspace(fc.edges[0] - 0.05, fc.edges[1] + 0.05, 25)
    q = fc.quadrature(cuts=list(edges))
    p = np.histogram(q.x, bins=edges, weights=q.w)[0]
    counts = np.histogram(ev, bins=edges)[0]
    # binomial standard error (conservative: eigenvalues are more rigid than independent draws) + O(1/d) edges
    se = np.sqrt(d * p * (1 - p)) + 1.0
    assert np.all(np.abs(counts - d * p) < 4 * se + 0.01 * d * p)
    assert counts.sum() == d


def test_moments_vs_sampled_eigenvalues(sampled):
    d, ks, s2, ev = sampled
    mom_sample = np.array([np.mean(ev ** k) for k in range(1, 5)])
    # (1/d) Tr Y^k fluctuates by O(1/d) (and has an O(1/m*) bias): 1 % relative tolerance at d = 2000
    np.testing.assert_allclose(mom_sample, free_cumulant_moments(ks, s2), rtol=1e-2)


def test_divergence_and_stein_form_vs_sampled_matrix(sampled):
    """D = (1/p) sum_{a<=b} f[1](y_a, y_b) from sampled eigenvalues, and C_S = (1/d) Tr (f(Y) - S*)^2 from an
    explicit sample, against the quadrature (d = 2000; finite-d corrections O(1/d))."""
    d, ks, s2, ev = sampled
    theta = 0.08
    f = np.maximum(ev - theta, 0.0)
    dx = ev[:, None] - ev[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = np.where(np.abs(dx) > 0, (f[:, None] - f[None, :]) / dx, (ev > theta)[:, None] * 1.0)
    D_sample = (np.sum(dd) + np.sum(ev > theta)) / (d * (d + 1))  # sum over a<=b = (full + diagonal)/2
    ti = FreeConvolution(ks, s2).threshold_integrals(theta)
    assert abs(D_sample - ti["D"]) < 3e-3
    # C_S from the teacher overlap directly (needs the matrix, smaller d)
    rng = np.random.default_rng(7)
    dm = 1000
    ms = int(ks * dm)
    W = rng.standard_normal((ms, dm))
    S_star = W.T @ W / ms
    A = rng.standard_normal((dm, dm))
    Y = S_star + np.sqrt(s2) * (A + A.T) / np.sqrt(2 * dm)
    lam_, U = np.linalg.eigh(Y)
    F = (U * np.maximum(lam_ - theta, 0.0)) @ U.T
    cs_sample = np.sum((F - S_star) ** 2) / dm
    cs_theory = ti["resid2"] + s2 * (2 * ti["D"] - 1)
    assert abs(cs_sample - cs_theory) < 5e-3
