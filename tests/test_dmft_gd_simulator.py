"""Finite-d GD simulator: vectorised formulas vs explicit per-sample sums, G = gradient of the loss, test-error
formula vs Monte Carlo, GOE stored vs regenerated sensing, t = 0 vs oracle O1, optional torch backend == numpy."""

import math

import numpy as np
import pytest

from dmft.params import ExtensiveWidthParams
from odes.common.errors import DivergenceError, ParameterError
from validation import gd_simulator as gs

P = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)


def test_wishart_step_matches_explicit_loss_gradient():
    """One GD step of the simulator == W <- W - eta grad L(W) with L = kappa/(8 alpha) sum (y - yhat)^2
    + lam/2 |W|^2 computed with explicit Z_mu = (x x^T - I)/sqrt d and finite-difference gradient."""
    d, eta = 4, 0.05
    train, test = gs.simulate_gd(P, d, eta, 1, seed=3)
    rng = np.random.default_rng(np.random.SeedSequence([3, d]))  # the documented stream of the instance
    n, mstar, m = int(P.alpha * d * d), int(P.kappa_star * d), int(P.kappa * d)
    wstar = rng.standard_normal((mstar, d))
    xi = rng.standard_normal(n)
    X = rng.standard_normal((n, d))
    w0 = np.random.default_rng(np.random.SeedSequence([3, d, 1])).standard_normal((m, d))  # student stream
    Z = np.array([(np.outer(x, x) - np.eye(d)) / math.sqrt(d) for x in X])
    sstar = wstar.T @ wstar / mstar
    y = np.einsum("ab,nab->n", sstar, Z) + math.sqrt(P.noise) * xi

    def loss(W):
        yhat = np.einsum("ab,nab->n", W.T @ W / m, Z)
        return P.kappa / (8 * P.alpha) * np.sum((y - yhat) ** 2) + P.lam / 2 * np.sum(W ** 2)

    def yhat(W):
        return np.einsum("ab,nab->n", W.T @ W / m, Z)

    assert train[0] == pytest.approx(np.mean((y - yhat(w0)) ** 2), rel=1e-12)
    grad = np.zeros_like(w0)
    h = 1e-6
    for i in range(m):
        for j in range(d):
            e = np.zeros_like(w0)
            e[i, j] = h
            grad[i, j] = (loss(w0 + e) - loss(w0 - e)) / (2 * h)
    w1 = w0 - eta * grad
    s1 = w1.T @ w1 / m
    assert test[1] == pytest.approx(2 / d * np.sum((s1 - sstar) ** 2), rel=1e-7)
    assert train[1] == pytest.approx(np.mean((y - yhat(w1)) ** 2), rel=1e-7)


def test_test_error_formula_monte_carlo():
    """E_x (Tr(A Z))^2 = (2/d) Tr A^2 for Gaussian x (the simulator's exact test error)."""
    rng = np.random.default_rng(0)
    d, n = 5, 200000
    A = rng.standard_normal((d, d))
    A = A + A.T
    x = rng.standard_normal((n, d))
    v = (np.einsum("na,ab,nb->n", x, A, x) - np.trace(A)) / math.sqrt(d)
    se = (v ** 2).std() / math.sqrt(n)
    assert abs(np.mean(v ** 2) - 2 / d * np.trace(A @ A)) < 4 * se


def test_goe_stored_equals_regenerated_and_covariance():
    d = 12
    a = gs.simulate_gd(P, d, 0.05, 5, seed=1, sensing="goe")
    b = gs.simulate_gd(P, d, 0.05, 5, seed=1, sensing="goe", goe_memory=0.0)  # regenerate every step
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    from validation.extensive_instance import draw_instance

    A = gs._GOESensing(draw_instance(ExtensiveWidthParams(alpha=3000 / 16, kappa=1.0, kappa_star=0.5), 4, 0, "goe"),
                       1e9).stored
    assert A.shape == (3000, 10) and A.var() == pytest.approx(2 / 4, rel=0.03)


def test_t0_close_to_o1_and_decreasing():
    o1 = 2 * (2 - 2 + 1 + 2)  # sigma0 = 1, kappa = 1, kappa* = 1/2
    sim = gs.simulate_gd_seeds(P, 30, 0.05, 20, range(6), sensing="goe")
    # finite-d Wishart init/teacher: E test(0) = O1 + 2(1/m + 1/m*) exactly
    bias = 2 * (1 / 30 + 1 / 15)
    assert abs(sim.test_mean[0] - o1 - bias) < 4 * sim.test_sem[0]
    assert np.all(np.diff(sim.test_mean[:10]) < 0)
    with pytest.raises(ParameterError, match="sensing"):
        gs.simulate_gd(P, 4, 0.05, 2, sensing="bernoulli")


def test_divergence_raises_not_nan():
    """A step far beyond stability: DivergenceError with the time, never NaN curves."""
    for sensing in ("wishart", "goe"):
        with pytest.raises(DivergenceError) as err:
            gs.simulate_gd(P, 6, 1.0, 200, seed=0, sensing=sensing)
        assert err.value.time is not None and err.value.time > 0


@pytest.mark.parametrize("sensing", ["wishart", "goe"])
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_torch_backend_equals_numpy(sensing, noise):
    """Optional torch backend (CPU here): same seed -> same instance, curves equal to the numpy ones to 1e-10."""
    pytest.importorskip("torch")
    p = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=noise)
    a = gs.simulate_gd(p, 12, 0.05, 8, seed=4, sensing=sensing)
    b = gs.simulate_gd(p, 12, 0.05, 8, seed=4, sensing=sensing, backend="torch", device="cpu")
    for x, y in zip(a, b):
        assert isinstance(y, np.ndarray) and y.dtype == np.float64
        np.testing.assert_allclose(y, x, rtol=1e-10, atol=0)
    if sensing == "goe":  # regenerated GOE chunks moved to the device every step
        c = gs.simulate_gd(p, 12, 0.05, 8, seed=4, sensing=sensing, goe_memory=0.0, backend="torch", device="cpu")
        np.testing.assert_allclose(c[1], a[1], rtol=1e-10, atol=0)
    sim = gs.simulate_gd_seeds(p, 12, 0.05, 8, [4], sensing=sensing, backend="torch", device="cpu")
    assert sim.backend == "torch"
    np.testing.assert_allclose(sim.test_error[0], a[1], rtol=1e-10, atol=0)
    with pytest.raises(DivergenceError):
        gs.simulate_gd(P, 6, 1.0, 200, seed=0, sensing=sensing, backend="torch", device="cpu")
    with pytest.raises(ParameterError, match="device"):
        gs.simulate_gd(p, 4, 0.05, 2, backend="torch", device="nosuchdevice")


def test_torch_backend_missing_gives_parameter_error(monkeypatch, capsys):
    """backend='torch' without torch: ParameterError naming the backend (and CLI exit 2 before any solve)."""

    from tests.helpers import hide_torch
    from validation.cli import main

    hide_torch(monkeypatch)
    with pytest.raises(ParameterError, match="torch is not installed"):
        gs.simulate_gd(P, 4, 0.05, 2, backend="torch")
    with pytest.raises(ParameterError, match="backend"):
        gs.simulate_gd(P, 4, 0.05, 2, backend="cupy")
    with pytest.raises(ParameterError, match="device"):
        gs.simulate_gd(P, 4, 0.05, 2, device="cpu")  # device without torch backend
    rc = main(["validate", "dmft", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--steps", "10",
               "--d-eff", "8", "--d", "6", "--seeds", "1", "--quiet", "--backend", "torch"])
    err = capsys.readouterr().err
    assert rc == 2 and "torch is not installed" in err and len(err.strip().splitlines()) == 1


# ---- issue 9 regression: one meaning of `seeds` ----------------------------------------------------------------
def test_seeds_int_is_a_count_sequence_is_a_list():
    """simulate_gd_seeds(..., seeds=2) ran ONE run with seed 2; now an int is a count (seeds seed0..seed0+n-1)
    and a sequence the explicit seeds, as everywhere in the library."""
    from odes.common import check

    two = gs.simulate_gd_seeds(P, 6, 0.05, 3, 2)
    assert two.seeds.tolist() == [0, 1] and two.test_error.shape == (2, 4)
    for i, s in enumerate((0, 1)):
        np.testing.assert_array_equal(two.test_error[i], gs.simulate_gd(P, 6, 0.05, 3, seed=s)[1])
    assert gs.simulate_gd_seeds(P, 6, 0.05, 3, 2, seed0=5).seeds.tolist() == [5, 6]
    one = gs.simulate_gd_seeds(P, 6, 0.05, 3, [2])
    assert one.seeds.tolist() == [2]
    np.testing.assert_array_equal(one.test_error[0], gs.simulate_gd(P, 6, 0.05, 3, seed=2)[1])
    assert check.seed_list("seeds", range(3, 5)) == [3, 4]
    for bad in (0, [], True, "3", [-1], 2.5):
        with pytest.raises(ParameterError, match="'seeds'"):
            check.seed_list("seeds", bad)


def test_gd_memory_refused_before_allocation():
    with pytest.raises(ParameterError, match="'d'.*memory"):
        gs.simulate_gd(P, 100000, 0.05, 3)
    # the formula covers the design actually drawn (wishart X: n x d floats)
    n, d = 100, 10
    assert gs.gd_memory_bytes(n, d, "wishart") >= 8 * n * d * 3
