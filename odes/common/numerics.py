r"""Numerical helpers shared by every quadnet model, written once.

* :func:`time_grid`: the check of a user's time grid (non-empty, 1-d, finite, >= 0, increasing; options name
  what differs between the families: strict or weak increase, a grid that must start at 0).
* :func:`tolerance_check`: the a-posteriori error estimate of an ODE integration, ``max |y(rtol) - y(rtol/f)|``.
* :func:`fit_inverse_size`: weighted least squares ``y = a + b/size`` (finite-size extrapolation ``a`` with its
  standard error).
* :func:`fit_power_law`: the slope of ``log y = c + x log size`` with its standard error.
* :func:`scan_sign_change`: bracketing a root by walking a fixed step until the function changes sign.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from odes.common import check
from odes.common.errors import ParameterError

__all__ = ["time_grid", "tolerance_check", "LinearFit", "fit_inverse_size", "fit_power_law", "scan_sign_change"]


def time_grid(name: str, values: ArrayLike, *, strictly_increasing: bool = True,
              start_at_zero: bool = False) -> np.ndarray:
    """The user's time grid ``values`` as a float array: 1-d, at least one point, finite, ``>= 0``, strictly
    increasing (``strictly_increasing=False``: non-decreasing, repeated times allowed) and, with
    ``start_at_zero=True``, starting at exactly 0. Raises :class:`ParameterError` naming ``name``."""
    t = check.array(name, values, lo=0.0)
    if t.ndim != 1 or t.size == 0:
        raise ParameterError(name, f"must be a non-empty 1-d list of times >= 0, got shape {t.shape}")
    steps = np.diff(t)
    if strictly_increasing and np.any(steps <= 0):
        raise ParameterError(name, "must be strictly increasing")
    if not strictly_increasing and np.any(steps < 0):
        raise ParameterError(name, "must be non-decreasing")
    if start_at_zero and t[0] != 0.0:
        raise ParameterError(name, f"must start at 0, got {t[0]:g}")
    return t


def tolerance_check(run: Callable[[float], ArrayLike], rtol: float, factor: float = 100.0) -> float:
    """``max |run(rtol) - run(rtol/factor)|``: the change of an integrated curve when the solver tolerance is
    tightened by ``factor``, an estimate of its error at ``rtol`` (``run`` maps a relative tolerance to the
    curve and chooses its own absolute tolerance from it)."""
    rtol = check.positive("rtol", rtol)
    factor = check.real("factor", factor, lo=1.0, lo_open=True)
    a = np.asarray(run(rtol), dtype=float)
    b = np.asarray(run(rtol / factor), dtype=float)
    return float(np.max(np.abs(a - b)))


class LinearFit(NamedTuple):
    """``y = intercept + slope x`` with the standard errors of both coefficients (NaN where undetermined)."""

    intercept: float
    intercept_se: float
    slope: float
    slope_se: float


def fit_inverse_size(sizes: ArrayLike, means: ArrayLike, ses: ArrayLike, *, se_floor: float = 1e-3,
                     scale_by_chi2: bool = True) -> LinearFit:
    r"""Weighted least squares ``means ~ a + b/size`` (``slope = b``), weights ``1/ses^2``.

    ``(a, b) = (A^T W A)^{-1} A^T W y`` with ``A = [1, 1/size]``, covariance ``(A^T W A)^{-1}``; standard errors
    smaller than ``se_floor * max|means|`` are raised to it (an exact point must not take all the weight).
    ``scale_by_chi2``: with more than two sizes, the covariance is multiplied by ``max(1, chi^2/dof)`` (the
    scatter about the fit is not smaller than the error bars claim). A single size returns its own value
    (``a = means[0]``, ``se = ses[0]``, ``b = 0``); all means and errors exactly 0 (nothing to extrapolate, e.g.
    S = 0 at every size) return zeros. The weights are computed in units of the smallest standard error (no
    overflow for tiny errors); the result does not depend on that unit."""
    d, y, s = (np.asarray(v, dtype=float) for v in (sizes, means, ses))
    if d.size == 1:
        return LinearFit(float(y[0]), float(s[0]), 0.0, float("nan"))
    ymax = float(np.max(np.abs(y)))
    if ymax == 0.0 and float(np.max(s)) == 0.0:
        return LinearFit(0.0, 0.0, 0.0, 0.0)
    s_eff = np.maximum(s, se_floor * (ymax if ymax > 0.0 else float(np.max(s))))
    if np.any(s_eff <= 0.0):
        raise ParameterError("ses", "standard errors must be positive (or use se_floor > 0)")
    unit = float(np.min(s_eff))
    w = (unit / s_eff) ** 2  # = unit^2 / se^2
    A = np.stack([np.ones_like(d), 1.0 / d], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * y))
    dof = d.size - 2
    if scale_by_chi2 and dof > 0:
        chi2 = float(np.sum(w * (y - A @ coef) ** 2)) / unit**2
        cov = cov * max(1.0, chi2 / dof)
    cov = cov * unit**2
    return LinearFit(float(coef[0]), float(math.sqrt(cov[0, 0])), float(coef[1]), float(math.sqrt(cov[1, 1])))


def fit_power_law(sizes: ArrayLike, values: ArrayLike, ses: ArrayLike | None = None) -> LinearFit:
    r"""Least-squares slope ``x`` of ``log values = c + x log sizes`` (``intercept = c``).

    With ``ses`` (standard errors of ``values``): weights ``1/sigma^2``, ``sigma = ses/values`` (the error of
    ``log values``), slope error ``sqrt(1/S_xx)`` (``S_xx = sum w (log size - mean)^2``) multiplied by
    ``max(1, sqrt(chi^2/dof))`` with more than two points. Without: unit weights and the residual error
    ``sqrt(chi^2/((n - 2) S_xx))`` (NaN for two points). Needs >= 2 points and positive values."""
    x = np.log(np.asarray(sizes, dtype=float))
    v = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ParameterError("sizes", f"need at least two points to fit a power law, got {x.size}")
    if np.any(v <= 0):
        raise ParameterError("values", "must be positive to fit a power law")
    y = np.log(v)
    w = np.ones_like(y) if ses is None else 1.0 / (np.asarray(ses, dtype=float) / v) ** 2
    xb = np.sum(w * x) / np.sum(w)
    yb = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - xb) ** 2)
    slope = float(np.sum(w * (x - xb) * (y - yb)) / sxx)
    dof = x.size - 2
    chi2 = float(np.sum(w * (y - yb - slope * (x - xb)) ** 2))
    if ses is None:
        err = float(np.sqrt(chi2 / (dof * sxx))) if dof > 0 else float("nan")
    else:
        err = float(np.sqrt(1.0 / sxx))
        if dof > 0:
            err *= max(1.0, float(np.sqrt(chi2 / dof)))
    c = float(yb - slope * xb)
    c_se = err * float(np.sqrt(sxx / np.sum(w) + xb ** 2))  # Var c = s^2 (1/sum w + xb^2/S_xx), Var x = s^2/S_xx
    return LinearFit(c, c_se, slope, err)


def scan_sign_change(fun: Callable[[float], float], x0: float, sign0: float, step: float, max_steps: int
                     ) -> tuple[bool, float, float]:
    """Walk ``x0 + k step`` (k = 1..max_steps) until ``fun`` takes the sign opposite to ``sign0`` (the sign of
    ``fun(x0)``, already known). Returns ``(found, lo, hi)``: the bracketing pair (lo, hi) of the first sign change,
    or ``(False, x_last, x_last)``. Used to bracket roots (e.g. in log sigma^2)
    before Brent's method."""
    x = x0
    for _ in range(max_steps):
        nxt = x + step
        if fun(nxt) * sign0 < 0.0:
            return True, x, nxt
        x = nxt
    return False, x, x
