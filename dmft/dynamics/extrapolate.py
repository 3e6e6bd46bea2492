r"""Extrapolations of DMFT learning curves: d_eff -> infinity and eta -> 0 (gradient flow).

* :func:`extrapolate_d_eff`: the finite-d_eff bias is O(1/d_eff) (spec Sec. 3.5), so per time t_k a weighted
  least-squares fit y_k(d) = a_k + b_k/d over the runs (weights 1/std^2) gives the d_eff = infinity value a_k
  and its standard error (from the fit covariance). Needs >= 2 distinct d_eff on the same time grid.
* :func:`richardson` / :func:`solve_gradient_flow`: GD with step eta differs from gradient flow by O(eta), so
  GF(t) ~= 2 GD_{eta/2}(t) - GD_eta(t) on the common grid t = k eta (error O(eta^2)); std = sqrt(4 s_2^2 + s_1^2).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dmft.dynamics.result import DMFTCurve, DMFTResult
from dmft.dynamics.settings import DMFTSettings
from dmft.dynamics.solver import solve
from dmft.params import ExtensiveWidthParams
from odes.common.errors import ParameterError
from odes.common.numerics import fit_inverse_size


def fit_inverse_d(ds: np.ndarray, y: np.ndarray, s: np.ndarray, power: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column k, the weighted least-squares fit y[:, k] = a_k + b_k/d^power (weights 1/s^2,
    :func:`odes.common.numerics.fit_inverse_size` on x = d^power without error floor or chi^2 scaling). Returns
    (a, se(a), chi2) with chi2_k = sum_i ((y_ik - a_k - b_k/d_i^power)/s_ik)^2 (len(ds) - 2 degrees of freedom).
    power = 1: the real (GOE, beta = 1) effective process; power = 2: the complex-Hermitian one (beta = 2)."""
    ds = np.asarray(ds, dtype=float) ** power
    y = np.asarray(y, dtype=float)
    s = np.maximum(np.asarray(s, dtype=float), 1e-12 * max(float(np.abs(y).max()), 1e-300))
    n = y.shape[1]
    a, se, chi2 = np.empty(n), np.empty(n), np.empty(n)
    for k in range(n):
        fit = fit_inverse_size(ds, y[:, k], s[:, k], se_floor=0.0, scale_by_chi2=False)
        a[k], se[k] = fit.intercept, fit.intercept_se
        chi2[k] = float(np.sum(((y[:, k] - fit.intercept - fit.slope / ds) / s[:, k]) ** 2))
    return a, se, chi2


def extrapolate_d_eff(results: list[DMFTResult]) -> DMFTCurve:
    """1/d_eff linear extrapolation of train/test curves (see module docstring)."""
    ds = np.array([r.settings.d_eff for r in results], dtype=float)
    if len(set(ds)) < 2:
        raise ParameterError("d_eff", "extrapolation needs runs at >= 2 distinct d_eff values")
    t = results[0].t
    if any(r.t.shape != t.shape or not np.allclose(r.t, t) for r in results):
        raise ParameterError("eta", "all runs must share the time grid (same eta and steps)")
    out = {}
    for name in ("train_error", "test_error"):
        y = np.array([getattr(r, name) for r in results])
        s = np.array([getattr(r, name + "_std") for r in results])
        out[name], out[name + "_std"], _ = fit_inverse_d(ds, y, s)
    return DMFTCurve(params=results[0].params, method="d_eff_extrapolation", inputs=ds, t=t, **out)


def richardson(coarse: DMFTResult, fine: DMFTResult) -> DMFTCurve:
    """GF ~= 2 fine - coarse on the coarse grid; ``fine`` must have eta/2 and twice the steps."""
    e1, e2 = coarse.settings.eta, fine.settings.eta
    if not math.isclose(e2, e1 / 2.0, rel_tol=1e-12) or fine.settings.steps != 2 * coarse.settings.steps:
        raise ParameterError("eta", "Richardson extrapolation needs (eta, T) and (eta/2, 2T)")
    out = {}
    for name in ("train_error", "test_error"):
        f = getattr(fine, name)[::2]
        c = getattr(coarse, name)
        out[name] = 2.0 * f - c
        out[name + "_std"] = np.sqrt(4.0 * getattr(fine, name + "_std")[::2] ** 2 + getattr(coarse, name + "_std") ** 2)
    return DMFTCurve(params=coarse.params, method="richardson", inputs=np.array([e1, e2]), t=coarse.t, **out)


def solve_gradient_flow(params: ExtensiveWidthParams, settings: DMFTSettings, *,
                        quiet: bool = False) -> tuple[DMFTCurve, DMFTResult, DMFTResult]:
    """Gradient-flow curves on t = k eta by Richardson over (eta, T) and (eta/2, 2T). Returns (GF, GD_eta,
    GD_eta/2). The eta/2 run costs ~4-8x the eta run (O(T^2)-O(T^3))."""
    fine_settings = dataclasses.replace(settings, eta=settings.eta / 2.0, steps=2 * settings.steps,
                                        checkpoint_every=0)
    fine_settings.check_memory()  # the larger run: fail before the first one
    coarse = solve(params, settings, quiet=quiet)
    fine = solve(params, fine_settings, quiet=quiet)
    return richardson(coarse, fine), coarse, fine
