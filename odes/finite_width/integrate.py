r"""Integration of the finite-width overlap ODEs (:mod:`odes.finite_width.ode`) and the trajectory result.

The state y = [Q.ravel(), M.ravel()] (p^2 + p p* numbers) is integrated with ``scipy.integrate.solve_ivp``:

* ``method="DOP853"`` (default): explicit Runge-Kutta of order 8 with an embedded error estimate (orders 5 and 3);
  the local error per step is kept below ``atol + rtol |y|``. Right choice for every run in the spec (the ODE is
  at most mildly stiff; the stiffest rate is the trace mode of Q, about -4 tr(BT) gamma).
* Long horizons: near the zero-loss manifold the solution changes on the scale alpha (power-law decay) while the
  fastest relaxation rate stays O(gamma), so an explicit method is stability-limited to a bounded step: DOP853
  costs about 2.4 RHS evaluations per unit alpha ((2,1), gamma = 0.1: alpha = 1e4 takes 2.4e4 evaluations). For
  alpha >> 1e3 use ``"LSODA"`` (1.2e3 evaluations up to alpha = 1e4, same eps_g to 3e-5 relative) or ``"Radau"``.
* ``"RK45"`` (order 5(4)) or the stiff/implicit ``"Radau"`` (order 5), ``"BDF"`` (orders 1-5), ``"LSODA"``
  (switching). Implicit methods build a finite-difference Jacobian of size (p^2+pp*)^2: fine for p <= 16, costly
  beyond.

One solver call covers [0, max(alphas)]; the output times are read off the method's dense-output interpolant
(DOP853: order 7), so a fine output grid costs almost nothing extra.

Convergence check: integrate twice with tolerances differing by 100x (:func:`tolerance_check`) and compare.

Divergence: a non-finite right-hand side, a failed solver step, or a runaway state (max |Q_ij|, |M_ij| above
``blowup`` = 1e4 x the natural scale of the overlaps, see :func:`integrate_overlaps`) raise
:class:`~odes.common.errors.DivergenceError` with the time reached. NaN curves are never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.integrate import solve_ivp

from odes.common import check, numerics
from odes.common.errors import DivergenceError, ParameterError
from odes.common.numerics import time_grid
from odes.common.progress import progress
from odes.common.result import Result, coordinate, variable
from odes.finite_width.moments import generalization_error_path
from odes.finite_width.ode import pack, rhs_vector, unpack
from odes.finite_width.params import FiniteWidthParams

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

#: labels shared by every finite-width result (docs/results.md)
ALPHA_LONG_NAME = "alpha = SGD steps / N (one-pass SGD time)"
TEST_ERROR_LONG_NAME = "test error eps_g = 1/2 E[(f_W(x) - f*(x))^2] (noiseless labels)"

METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")


@dataclass(frozen=True, eq=False, repr=False)
class OverlapTrajectory(Result):
    r"""Solution of the overlap ODEs on an alpha grid (a curve along ``alpha`` = steps/N).

    Fields: ``params`` (FiniteWidthParams), ``alpha`` (n,), ``Q`` (n, p, p), ``M`` (n, p, p*), ``eps_g`` (n,)
    (noiseless test error :math:`\varepsilon_g = \tfrac12 E[r_0^2]`, Sec. 2 formula), ``gradient_flow``
    (O(eta^2) term dropped), solver ``method``, ``rtol``, ``atol``, and ``nfev`` (number of right-hand-side
    evaluations).

    Labelled data (:meth:`to_xarray`): coordinate ``alpha``; ``test_error`` (alpha) = ``eps_g``; ``Q`` (alpha, i, i2),
    ``M`` (alpha, i, k) with index coordinates ``i``, ``i2`` (student units) and ``k`` (teacher units).
    """

    curve_coord = "alpha"  # plain class attribute (not a dataclass field)

    params: FiniteWidthParams
    alpha: np.ndarray
    Q: np.ndarray
    M: np.ndarray
    eps_g: np.ndarray
    gradient_flow: bool = False
    method: str = "DOP853"
    rtol: float = 1e-10
    atol: float = 1e-12
    nfev: int = 0

    @property
    def Q_perp(self) -> np.ndarray:
        """Q - M T^{-1} M^T along the trajectory (n, p, p): Gram matrix of the parts orthogonal to the teacher."""
        Tinv = np.linalg.inv(self.params.T)
        return self.Q - np.einsum("nik,kl,njl->nij", self.M, Tinv, self.M)

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset: ``test_error`` (alpha), ``Q`` (alpha, i, i2), ``M`` (alpha, i, k), ``nfev``."""
        p, ps = self.params.p, self.params.p_star
        return self.dataset(
            {"test_error": variable("alpha", self.eps_g, TEST_ERROR_LONG_NAME),
             "Q": variable(("alpha", "i", "i2"), self.Q, "student-student overlap Q_ij = w_i . w_j / N"),
             "M": variable(("alpha", "i", "k"), self.M, "student-teacher overlap M_ik = w_i . w*_k / N"),
             "nfev": variable((), self.nfev, "number of right-hand-side evaluations of the ODE solver")},
            coords={"alpha": coordinate("alpha", self.alpha, ALPHA_LONG_NAME),
                    "i": coordinate("i", np.arange(p), "student hidden unit index"),
                    "i2": coordinate("i2", np.arange(p), "student hidden unit index (second)"),
                    "k": coordinate("k", np.arange(ps), "teacher hidden unit index")},
            attrs={"gradient_flow": int(self.gradient_flow), "method": self.method, "rtol": self.rtol,
                   "atol": self.atol})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON plus the full overlaps ``Q`` (n, p, p), ``M`` (n, p, p*) and the solver settings."""
        out = super().to_json()
        out.update({"Q": self.Q.tolist(), "M": self.M.tolist(), "gradient_flow": bool(self.gradient_flow),
                    "solver": {"method": self.method, "rtol": self.rtol, "atol": self.atol, "nfev": self.nfev}})
        return out

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 key: ``eps_g`` (now ``test_error``)."""
        return {"eps_g": self.eps_g}

    def at(self, alpha: float | np.ndarray) -> dict[str, Any]:
        """``test_error``, ``Q`` and ``M`` linearly interpolated at ``alpha`` (inside the grid; exact on grid
        points, error O(h^2 max|y''|) between them). ``Q``/``M`` get the shape of ``alpha`` + (p, p) / (p, p*)."""
        out = super().at(alpha)
        a = np.asarray(alpha, dtype=float)

        def interp(arr: np.ndarray) -> np.ndarray:
            flat = arr.reshape(arr.shape[0], -1)
            cols = [np.interp(a, self.alpha, flat[:, j]) for j in range(flat.shape[1])]
            return np.stack(cols, axis=-1).reshape(a.shape + arr.shape[1:])

        out["Q"], out["M"] = interp(self.Q), interp(self.M)
        return out

    def plot(self, ax: Any = None, *, label: str | None = None, logy: bool = True, **kw: Any) -> Any:
        """eps_g(alpha) on ``ax`` (created if None). Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(self.alpha, self.eps_g, label=label or ("GF ODE" if self.gradient_flow else "SGD ODE"), **kw)
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(r"$\varepsilon_g$")
        if logy:
            ax.set_yscale("log")
        return ax


def initial_state(params: FiniteWidthParams, M0: np.ndarray | None = None, *, N: int | None = None,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""(Q0, M0) with Q_perp(0) = I, i.e. Q0 = I + M0 T^{-1} M0^T.

    ``M0=None``: the N -> infinity statistics of a random initialisation w_j ~ N(0, I_N): rows of M0 drawn from
    N(0, T/N) (entries ~ N(0, 1/N) for T = I), seeded by ``seed``; needs ``N``. (The O(N^{-1/2}) fluctuations
    of Q_perp around I are not drawn: Q_perp(0) = I exactly, as in the spec's protocol V.)
    """
    p, ps, T = params.p, params.p_star, params.T
    if M0 is None:
        if N is None:
            raise ParameterError("N", "needed for a random initial M0 (entries ~ N(0, 1/N))")
        N = check.integer("N", N, lo=1)
        L = np.linalg.cholesky(T)
        M0 = np.random.default_rng(seed).standard_normal((p, ps)) @ L.T / np.sqrt(N)
    else:
        M0 = check.array("M0", M0, shape=(p, ps))
    Q0 = np.eye(p) + M0 @ np.linalg.solve(T, M0.T)
    return 0.5 * (Q0 + Q0.T), M0


def _check_alphas(alphas) -> np.ndarray:
    return time_grid("alphas", alphas)


def integrate_overlaps(params: FiniteWidthParams, Q0: np.ndarray, M0: np.ndarray, alphas: np.ndarray | list[float], *,
                       gradient_flow: bool = False, method: str = "DOP853", rtol: float = 1e-10,
                       atol: float = 1e-12, quiet: bool = True, blowup: float = 1e4,
                       max_step: float = np.inf) -> OverlapTrajectory:
    r"""Integrate dQ/dalpha, dM/dalpha (module :mod:`odes.finite_width.ode`) from alpha = 0 and return them at
    ``alphas`` (strictly increasing, >= 0).

    Q0 (p, p) symmetric PSD, M0 (p, p*). ``gradient_flow`` drops the O(eta^2) and noise term (time stays alpha;
    for Gamma = gamma I, GF depends on t = gamma alpha only). ``method``/``rtol``/``atol`` go to solve_ivp
    (see module docstring for orders). ``blowup``: a state entry larger than blowup x max(1, max|y0|,
    max|T| max|b| / min|a|) counts as divergence (converging runs stay at that scale). ``quiet=False`` shows a
    progress bar (fraction of [0, max(alphas)] done).
    Raises ParameterError (bad input) or DivergenceError (non-finite / runaway / failed integration).
    """
    if not isinstance(params, FiniteWidthParams):
        raise ParameterError("params", "must be a FiniteWidthParams")
    p, ps = params.p, params.p_star
    Q0 = check.symmetric_psd("Q0", Q0, p, tol=1e-8)
    M0 = check.array("M0", M0, shape=(p, ps))
    al = _check_alphas(alphas)
    if method not in METHODS:
        raise ParameterError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    rtol = check.real("rtol", rtol, lo=1e-14, hi=1e-1)
    atol = check.real("atol", atol, lo=0.0, lo_open=True)
    blowup = check.positive("blowup", blowup)

    y0 = pack(Q0, M0)
    # natural scale of the overlaps: the initial state and the zero-loss scale t b / a (e.g. Q_inf = (b/a) t P)
    scale = max(1.0, float(np.max(np.abs(y0))),
                float(np.max(np.abs(params.T)) * np.max(np.abs(params.b)) / np.min(np.abs(params.a))))
    limit = blowup * scale

    class _NonFinite(Exception):
        pass

    def f(_t, y):
        dy = rhs_vector(y, params, gradient_flow=gradient_flow)
        if not np.all(np.isfinite(dy)):
            raise _NonFinite(_t)
        return dy

    def runaway(_t, y):
        return limit - np.max(np.abs(y))

    runaway.terminal = True
    runaway.direction = -1

    t_end = float(al[-1])
    bar = progress(total=100, desc="ODE", quiet=quiet)
    shown = [0]

    def f_bar(t, y):
        k = int(100 * t / t_end) if t_end > 0 else 100
        if k > shown[0]:
            bar.update(min(k, 100) - shown[0])
            shown[0] = min(k, 100)
        return f(t, y)

    if t_end == 0.0:
        ys, nfev = [y0], 0
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                sol = solve_ivp(f_bar, (0.0, t_end), y0, method=method, t_eval=al, rtol=rtol, atol=atol,
                                events=runaway, max_step=max_step)
            except _NonFinite as exc:
                raise DivergenceError("overlap ODE right-hand side became non-finite",
                                      time=float(exc.args[0])) from None
            finally:
                bar.close()
        nfev = int(sol.nfev)
        if sol.status == 1:
            raise DivergenceError(f"overlap ODE ran away (|state| > {limit:.3g}); learning rate too large?",
                                  time=float(sol.t_events[0][0]))
        if sol.status != 0 or sol.y.shape[1] != len(al) or not np.all(np.isfinite(sol.y)):
            raise DivergenceError(f"overlap ODE integration failed: {sol.message}", time=float(sol.t[-1]))
        ys = sol.y.T
    Y = np.array(ys)
    n = len(al)
    Q = Y[:, : p * p].reshape(n, p, p)
    Q = 0.5 * (Q + np.swapaxes(Q, 1, 2))
    M = Y[:, p * p:].reshape(n, p, ps)
    eps = generalization_error_path(Q, M, params)
    if not np.all(np.isfinite(eps)):  # pragma: no cover - guarded above
        raise DivergenceError("non-finite generalisation error")
    return OverlapTrajectory(params=params, alpha=al, Q=Q, M=M, eps_g=eps, gradient_flow=bool(gradient_flow),
                             method=method, rtol=rtol, atol=atol, nfev=nfev)


def tolerance_check(params: FiniteWidthParams, Q0: np.ndarray, M0: np.ndarray, alphas: np.ndarray | list[float], *,
                    gradient_flow: bool = False,
                    method: str = "DOP853", rtol: float = 1e-8) -> float:
    """Convergence check: max |eps_g(rtol) - eps_g(rtol/100)| over the grid (an estimate of the error at rtol)."""
    return numerics.tolerance_check(
        lambda r: integrate_overlaps(params, Q0, M0, alphas, gradient_flow=gradient_flow, method=method, rtol=r,
                                     atol=r * 1e-2).eps_g, rtol)


__all__ = ["OverlapTrajectory", "initial_state", "integrate_overlaps", "tolerance_check", "unpack"]
