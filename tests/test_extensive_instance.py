"""The shared finite-size instance: the documented stream and counting rule, and ERM and GD seeing the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmft.params import ExtensiveWidthParams
from validation import gd_simulator as gs
from validation.erm import make_instance
from validation.extensive_instance import CHUNK_ROWS, draw_instance, sample_count

P = ExtensiveWidthParams(alpha=0.8, kappa=float("inf"), kappa_star=0.5, lam=0.05, noise=0.3)


def test_counting_rule():
    assert sample_count(0.8, 10) == 80 and sample_count(1e-6, 10) == 1 and sample_count(0.505, 10) == 50


def test_documented_stream_replicated_by_hand():
    """Teacher, noise, design drawn from SeedSequence([seed, d]) in the documented order; the GOE design spans
    several blocks and is the same on every regeneration."""
    d, seed = 4, 5
    prm = ExtensiveWidthParams(alpha=(CHUNK_ROWS + 100) / d ** 2, kappa=1.0, kappa_star=0.5, noise=0.3)
    inst = draw_instance(prm, d, seed, "goe")
    rng = np.random.default_rng(np.random.SeedSequence([seed, d]))
    n, ms = CHUNK_ROWS + 100, 2
    w = rng.standard_normal((ms, d))
    xi = rng.standard_normal(n)
    A = rng.standard_normal((n, 10)) * math.sqrt(2 / d)
    assert inst.n == n and inst.n_blocks == 2
    np.testing.assert_allclose(inst.S_star, w.T @ w / ms, rtol=1e-14)
    np.testing.assert_allclose(inst.noise, math.sqrt(0.3) * xi, rtol=1e-14)
    np.testing.assert_allclose(inst.goe_design(), A, rtol=1e-14)
    np.testing.assert_array_equal(inst.goe_design(), inst.goe_design())


@pytest.mark.parametrize("sensing", ["wishart", "goe"])
def test_erm_and_gd_see_the_same_instance(sensing):
    """GD's train error at t = 0 (S0 = sigma0^2 I for kappa = inf) equals the ERM instance's mean squared residual
    of S0 on its labels: same teacher, noise and sensing for the same (d, seed)."""
    d, seed, s0 = 6, 3, 0.7
    inst = make_instance(P, d, seed, sensing)
    train, test = gs.simulate_gd(P, d, 0.01, 1, seed=seed, sigma0=s0, sensing=sensing)
    S0 = s0 ** 2 * np.eye(d)
    assert train[0] == pytest.approx(np.mean((inst.predict(S0) - inst.y) ** 2), rel=1e-12)
    assert test[0] == pytest.approx(2 / d * np.sum((S0 - inst.S_star) ** 2), rel=1e-12)
