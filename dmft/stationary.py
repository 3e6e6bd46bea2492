r"""Stationary (t -> infinity) solution of the extensive-width model = the l2-regularised ERM reached by GD.

Equations (conventions of :mod:`dmft.params`; teacher spectrum MP(1/kappa*), ``M`` GOE of radius 2):

    S_inf = f(Y),  Y = S* + sigma M,   f(y) = (y - theta) 1{y > c},   theta = lam / a,
    c = theta                        (kappa >= 1: soft threshold + PSD projection, convex problem)
    c = max(theta, omega)            (kappa < 1: only the top kappa d eigenvalues, omega = upper kappa-quantile
                                      of rho_Y; the rank-constrained prox reached by GD from small init)
    sigma^2 = (Delta + 2 C_S) / (4 alpha)
    D  = int int rho_Y(x) rho_Y(y) [f(x) - f(y)]/(x - y) dx dy           (normalised divergence)
    a  = 1 - D / (2 alpha)
    C_S = int rho_Y (f(y) - y)^2 dy + sigma^2 (2 D - 1)                  (Stein form, no cancellation)
        = int rho_Y f^2 - 2 [int rho_Y y f - sigma^2 D] + (1 + 1/kappa*)
    test = 2 C_S,   train = a^2 (2 C_S + Delta),   rank fraction = int_{y > c} rho_Y,

with ``rho_Y = MP(1/kappa*) [+] SC(sigma^2)`` (:mod:`dmft.spectra`).

Algorithm: for fixed ``sigma^2`` the calibration equation ``g(a) = a - 1 + D(sigma^2, lam/a)/(2 alpha) = 0`` has a
unique root in (0, 1] (g is increasing, g(0+) = -1, g(1) >= 0): Brent. The outer equation
``h(sigma^2) = (Delta + 2 C_S)/(4 alpha) - sigma^2 = 0`` is bracketed by a geometric scan upward from a point
where h > 0 (the smallest root is taken) and solved by Brent in ``log sigma^2``. The quadrature (tanh-sinh, step
``h``) is exponentially convergent; ``quadrature_check=True`` re-solves at ``h/2`` and stores the change.

``lam = 0``: theta = 0 and a is explicit; a solution requires ``D < 2 alpha`` (above the interpolation threshold),
otherwise a :class:`ParameterError` explains that ``lam = 0`` has no stationary solution there (use ``lam > 0``).
``lam = 0, Delta = 0, alpha >= alpha_c``: the exact solution is perfect recovery (sigma^2 = 0).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq

from dmft.params import ExtensiveWidthParams, dof_line  # dof_line re-exported (old import path)
from dmft.spectra import FreeConvolution
from odes.common import check
from odes.common.errors import ConvergenceError, ParameterError, QuadnetError
from odes.common.numerics import scan_sign_change
from odes.common.result import Result, coordinate, variable

__all__ = ["StationarySolution", "solve_stationary", "stationary_map", "dof_line", "FLAG_TEXT", "SIGMA2_MIN"]

# Smallest sigma^2 the spectral quadrature resolves: the MP atom at 0 (kappa* < 1) is smoothed into a semicircle
# of radius 2 sigma, which for sigma^2 below ~1e-20 is no longer separated from 0 in double precision (measured:
# the rank-constrained branch loses 1e-7 relative accuracy at 1e-20 and fails below; the convex branch at 1e-30).
SIGMA2_MIN = 1e-18

FLAG_TEXT = {
    "kappa_below_kappa_star": "kappa < kappa*: the top-kappa-d prediction is NOT validated (finite-d GD train loss "
                              "5-8% below it at every d); treat as unreliable",
    "interpolation_beyond_parameter_count": "predicted interpolation beyond the parameter count: the degrees "
                                            "of freedom of the fit D/2 (per d^2) exceed the student's "
                                            "kappa - kappa^2/2, or the train error is below half the "
                                            "least-squares bound Delta (1 - (kappa - kappa^2/2)/alpha); finite-d "
                                            "GD ends elsewhere (local minima) -- prediction unreliable",
    "rank_constrained": "kappa < 1: non-convex rank-constrained branch (top kappa d eigenvalues); validated "
                        "against finite-d GD only in the active/inactive regimes, within 2-6%",
    "rank_constraint_active": "the rank constraint rank S <= kappa d is active (cut at the kappa-quantile omega)",
}


@dataclass(frozen=True, repr=False)
class StationarySolution(Result):
    """Solution of the stationary equations (fields documented in :mod:`dmft.stationary`).

    ``grid``/``density``: density of the non-zero eigenvalues of ``S_inf`` (continuous part,
    ``rho_S(s) = rho_Y(s + theta)`` for ``s > c - theta``), ``atom``: mass of the zero eigenvalue
    (``1 - rank_fraction``). ``spectral_gap = c - theta`` (smallest non-zero eigenvalue; 0 when the rank
    constraint is inactive). ``flags``: keys of :data:`FLAG_TEXT`; ``warning``: their text (``""`` if none).

    Labelled data (:meth:`to_xarray`): a point result; coordinate ``s`` (= ``grid``) for the variable ``density``,
    every other number a scalar variable (``a``, ``D``, ``omega``, ``quadrature_change`` are NaN where ``None``)."""

    params: ExtensiveWidthParams
    test_error: float
    train_error: float
    rank_fraction: float
    sigma2: float
    a: float | None  # None only for the exact perfect-recovery solution (lam = Delta = 0)
    D: float | None
    C_S: float
    threshold: float
    cut: float
    omega: float | None
    spectral_gap: float
    iterations: int
    residual: float
    grid: np.ndarray
    density: np.ndarray
    atom: float
    flags: tuple = ()
    warning: str = ""
    quadrature_h: float = 0.05
    quadrature_change: float | None = None
    solver: dict = field(default_factory=dict)

    @property
    def reliable(self) -> bool:
        return not ({"kappa_below_kappa_star", "interpolation_beyond_parameter_count"} & set(self.flags))

    def to_xarray(self):
        """Scalars of the solution and the spectrum ``density(s)`` of the non-zero eigenvalues of S_inf."""
        def num(v: float | None) -> float:
            return float("nan") if v is None else float(v)

        scalars = {
            "test_error": ("test error 2 C_S = lim (2/d) E Tr(S_inf - S*)^2 (excess population error)",
                           self.test_error),
            "train_error": ("train error a^2 (2 C_S + Delta): mean squared residual on the noisy training labels",
                            self.train_error),
            "rank_fraction": ("rank fraction rank(S_inf)/d", self.rank_fraction),
            "sigma2": ("variance sigma^2 = (Delta + 2 C_S)/(4 alpha) of the Gaussian noise in Y = S* + sigma M",
                       self.sigma2),
            "a": ("calibration a = 1 - D/(2 alpha) (NaN: exact perfect recovery)", num(self.a)),
            "D": ("normalised divergence D of the eigenvalue map f (NaN: exact perfect recovery)", num(self.D)),
            "C_S": ("C_S = lim (1/d) E Tr(S_inf - S*)^2", self.C_S),
            "threshold": ("soft threshold theta = lam/a", self.threshold),
            "cut": ("cut c = max(theta, omega) below which eigenvalues of Y are set to 0", self.cut),
            "omega": ("upper kappa-quantile omega of rho_Y (NaN for kappa >= 1)", num(self.omega)),
            "spectral_gap": ("smallest non-zero eigenvalue c - theta of S_inf", self.spectral_gap),
            "atom": ("mass 1 - rank_fraction of the zero eigenvalue of S_inf", self.atom),
            "iterations": ("evaluations of the threshold integrals", self.iterations),
            "residual": ("final residual of the stationary equations (max of relative sigma^2 and absolute a)",
                         self.residual),
            "quadrature_h": ("tanh-sinh step of the quadratures", self.quadrature_h),
            "quadrature_change": ("max relative change of test/train at step h/2 (NaN: not checked)",
                                  num(self.quadrature_change)),
            "reliable": ("False when a flag marks the prediction unreliable", self.reliable),
        }
        variables = {k: variable((), v, ln) for k, (ln, v) in scalars.items()}
        variables["density"] = variable("s", self.density, "density of the non-zero eigenvalues of S_inf "
                                        "rho_Y(s + theta), s > c - theta (integrates to rank_fraction)")
        coords = {"s": coordinate("s", self.grid, "non-zero eigenvalue s of S_inf")}
        return self.dataset(variables, coords, attrs={"flags": ";".join(self.flags), "warning": self.warning,
                                                      "solver_method": str(self.solver.get("method", ""))})

    def to_json(self) -> dict[str, Any]:
        """Generic protocol JSON plus ``flags`` (list), ``warning`` and, for one release, the 0.1 keys."""
        return {**super().to_json(), "flags": list(self.flags), "warning": self.warning}

    def legacy_json(self) -> dict[str, Any]:
        """The quadnet 0.1 ``summary()`` dict (CLI JSON of ``quadnet stationary``): parameters at the top level."""
        return {
            "alpha": self.params.alpha, "kappa": "inf" if math.isinf(self.params.kappa) else self.params.kappa,
            "kappa_star": self.params.kappa_star, "lam": self.params.lam, "noise": self.params.noise,
            "test_error": self.test_error, "train_error": self.train_error, "rank_fraction": self.rank_fraction,
            "sigma2": self.sigma2, "a": self.a, "D": self.D, "C_S": self.C_S, "threshold": self.threshold,
            "cut": self.cut, "omega": self.omega, "spectral_gap": self.spectral_gap,
            "iterations": self.iterations, "residual": self.residual, "flags": list(self.flags),
            "warning": self.warning, "reliable": self.reliable,
        }

    def plot(self, ax: Any = None) -> Any:
        """The density of the non-zero eigenvalues of S_inf (atom at 0 in the legend); returns the axes."""
        from dmft.plots_stationary import plot_spectrum
        return plot_spectrum(self, ax=ax)


# ----------------------------------------------------------------------------------------------------------
def stationary_map(params: ExtensiveWidthParams, sigma2: float, a: float, *, h: float = 0.05) -> dict:
    r"""One evaluation of the right-hand sides at (sigma^2, a): returns ``D, C_S, P (rank fraction), theta, c,
    omega`` and the updated ``sigma2_new = (Delta + 2 C_S)/(4 alpha)``, ``a_new = 1 - D/(2 alpha)``."""
    fc = FreeConvolution(params.kappa_star, sigma2, h=h)
    omega = fc.quantile_upper(params.kappa) if params.kappa < 1.0 else None
    theta = params.lam / a if params.lam > 0 else 0.0
    ti = fc.threshold_integrals(theta, omega)
    cs = ti["resid2"] + sigma2 * (2.0 * ti["D"] - 1.0)
    return {"D": ti["D"], "C_S": cs, "P": ti["P"], "theta": theta, "c": ti["c"], "omega": omega,
            "sigma2_new": (params.noise + 2.0 * cs) / (4.0 * params.alpha),
            "a_new": 1.0 - ti["D"] / (2.0 * params.alpha), "fc": fc}


class _Counter:
    def __init__(self) -> None:
        self.n = 0


def _calibrate(params: ExtensiveWidthParams, fc: FreeConvolution, omega: float | None, cnt: _Counter,
               xtol: float, a_guess: float | None = None) -> tuple[float, dict]:
    """Solve a = 1 - D(lam/a)/(2 alpha) for fixed sigma^2 (unique root in (0, 1]). ``a_guess`` (warm start):
    secant iteration from it first; its root is accepted when it lies in (0, 1) with |g| <= 1e-13 (the root is
    unique), otherwise Brent as without a guess."""
    alpha, lam = params.alpha, params.lam
    if lam == 0.0:
        cnt.n += 1
        ti = fc.threshold_integrals(0.0, omega)
        return 1.0 - ti["D"] / (2.0 * alpha), ti

    cache: dict[float, dict] = {}

    def g(a: float) -> float:
        cnt.n += 1
        ti = fc.threshold_integrals(lam / a, omega)
        cache[a] = ti
        return a - 1.0 + ti["D"] / (2.0 * alpha)

    top = fc.edges[1]
    a_lo = lam / (top + 1.0)  # theta above the spectrum: D = 0, g = a - 1 < 0
    if a_guess is not None and a_lo < a_guess < 1.0:
        from scipy.optimize import root_scalar
        try:
            with warnings.catch_warnings():  # "tolerance reached" warnings: the result is checked below
                warnings.simplefilter("ignore", RuntimeWarning)
                r = root_scalar(g, x0=a_guess, x1=a_guess * (1.0 - 1e-4), method="secant", xtol=xtol * 1e-3,
                                maxiter=20)
            a = float(r.root)
            if r.converged and a_lo < a < 1.0:
                if a not in cache:
                    g(a)
                if abs(a - 1.0 + cache[a]["D"] / (2.0 * alpha)) <= 1e-13:
                    return a, cache[a]
        except (ArithmeticError, ValueError):
            pass
    g1 = g(1.0)
    if g1 <= 0.0:
        return 1.0, cache[1.0]
    a = brentq(g, a_lo, 1.0, xtol=xtol * 1e-3, rtol=4 * np.finfo(float).eps, maxiter=200)
    if a not in cache:
        g(a)
    return a, cache[a]


def _solve(params: ExtensiveWidthParams, h: float, xtol: float, max_scan: int, cnt: _Counter,
           guess: float | None = None) -> tuple[float, float, dict, float]:
    alpha, delta = params.alpha, params.noise

    last_a: list[float | None] = [None]  # warm start only: the previous evaluation's a seeds the next

    def evaluate(s2: float) -> tuple[float, float, dict, float | None]:
        fc = FreeConvolution(params.kappa_star, s2, h=h)
        omega = fc.quantile_upper(params.kappa) if params.kappa < 1.0 else None
        a, ti = _calibrate(params, fc, omega, cnt, xtol, last_a[0])
        if guess is not None:
            last_a[0] = a
        cs = ti["resid2"] + s2 * (2.0 * ti["D"] - 1.0)
        return (delta + 2.0 * cs) / (4.0 * alpha) - s2, a, ti, omega

    memo: dict[float, tuple] = {}

    def hfun(logs: float) -> float:
        r = evaluate(math.exp(logs))
        memo[logs] = r
        return r[0] / math.exp(logs)

    if guess is not None:  # warm start: secant iteration in log sigma^2 from the guess (cold scan if it fails)
        from scipy.optimize import root_scalar
        x0 = math.log(guess)
        try:
            with warnings.catch_warnings():  # "tolerance reached" warnings: the result is checked below
                warnings.simplefilter("ignore", RuntimeWarning)
                r = root_scalar(hfun, x0=x0, x1=x0 + 1e-3, method="secant", xtol=xtol, maxiter=12)
            logs = float(r.root)
            ok = r.converged and math.isfinite(logs) and abs(logs - x0) < math.log(4.0)
        except (ArithmeticError, ValueError, RuntimeError):  # ConvergenceError is a RuntimeError
            ok = False
        if ok:
            if logs not in memo:
                hfun(logs)
            res, a, ti, omega = memo[logs]
            return math.exp(logs), a, {**ti, "omega": omega, "res_sigma": abs(res) / math.exp(logs)}, res
    # lower point with h > 0, scanning down by decades to the resolution floor SIGMA2_MIN
    floor = math.log(SIGMA2_MIN)
    lo = max(math.log(delta / (4.0 * alpha)), floor) if delta > 0 else math.log(1e-2)
    while hfun(lo) <= 0.0:
        if lo <= floor:
            _below_resolution(params)
        lo = max(lo - math.log(10.0), floor)
    found, lo, hi = scan_sign_change(hfun, lo, +1.0, math.log(2.0), max_scan)
    if not found:
        raise ConvergenceError(f"stationary solver: sigma^2 grows without bound (scanned to {math.exp(hi):.3g}); "
                               "no stationary solution found", residual=memo[hi][0], iterations=cnt.n)
    logs = brentq(hfun, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200)
    if logs not in memo:
        hfun(logs)
    res, a, ti, omega = memo[logs]
    s2 = math.exp(logs)
    return s2, a, {**ti, "omega": omega, "res_sigma": abs(res) / s2}, res


def _below_resolution(params: ExtensiveWidthParams) -> None:
    """The fixed point lies below SIGMA2_MIN (residual still <= 0 there): refuse with the range."""
    name = "noise" if params.lam == 0.0 else ("lam" if params.noise == 0.0 else "lam/noise")
    raise ParameterError(name, f"lam = {params.lam:g}, noise = {params.noise:g} put the stationary solution at "
                               f"sigma^2 < {SIGMA2_MIN:g}, below the resolution of the spectral quadrature (the test "
                               f"error there is < 4 alpha sigma^2 = {4 * params.alpha * SIGMA2_MIN:g}); use lam = "
                               "noise = 0 (exact perfect recovery above alpha_c) or larger values: roughly noise >= "
                               "1e-17 or lam >= 1e-9")


def solve_stationary(params: ExtensiveWidthParams, *, h: float = 0.05, xtol: float = 1e-13, tol: float = 1e-9,
                     quadrature_check: bool = False, n_grid: int = 400, max_scan: int = 80,
                     initial_guess: float | None = None) -> StationarySolution:
    r"""Solve the stationary equations for ``params`` (see module docstring).

    Options: ``h`` tanh-sinh step of all quadratures; ``xtol`` Brent tolerance in ``log sigma^2`` and ``a``;
    ``tol`` maximal accepted final residual (relative residual of the sigma^2 equation, absolute residual of the
    a equation), else ConvergenceError;
    ``quadrature_check`` re-solve with ``h/2`` and store ``quadrature_change`` (max relative change of
    test/train); ``n_grid`` points of the stored eigenvalue density of S_inf; ``initial_guess``: a guess of
    ``sigma^2`` (e.g. the neighbouring point's, for continuation along a sweep): Brent then starts from a bracket
    of relative width ~2% around it, widened geometrically (falling back to the cold scan). Same solution to
    ``xtol`` when the root is unique; when several exist, the warm start follows the branch of the guess.

    Raises ParameterError when ``lam = 0`` and no solution with ``a > 0`` exists (below the interpolation
    threshold), ConvergenceError when the iteration does not meet ``tol``.
    """
    if not isinstance(params, ExtensiveWidthParams):
        raise ParameterError("params", "must be an ExtensiveWidthParams")
    h = check.positive("h", h)
    xtol = check.positive("xtol", xtol)
    tol = check.positive("tol", tol)
    n_grid = check.integer("n_grid", n_grid, lo=2)
    max_scan = check.integer("max_scan", max_scan, lo=0)
    alpha, delta, lam = params.alpha, params.noise, params.lam
    cnt = _Counter()
    if lam == 0.0 and delta == 0.0:
        from dmft.thresholds import alpha_c as _alpha_c
        from dmft.thresholds import can_recover
        if not can_recover(params.kappa, params.kappa_star):
            raise ParameterError("lam", "lam = 0 with Delta = 0 and min(kappa, 1) < min(kappa*, 1) has no stationary "
                                        "solution (no recovery); use lam > 0")
        else:
            ac = _alpha_c(params.kappa, params.kappa_star).alpha_c
            if alpha >= ac:
                return _perfect_recovery(params, h, n_grid)
            raise ParameterError("lam", f"lam = 0 with Delta = 0 below alpha_c = {ac:.6g} has no unique stationary "
                                        "solution (many interpolators); use lam > 0 (e.g. 1e-4)")
    if lam == 0.0:
        from dmft.thresholds import interpolation_threshold
        ai = interpolation_threshold(params.kappa, params.kappa_star, delta, h=h).alpha_interp
        if alpha <= ai:
            raise ParameterError("lam", f"lam = 0 has no stationary solution at alpha = {alpha:g}: the fixed point "
                                        "needs a = 1 - D/(2 alpha) > 0, i.e. alpha above the interpolation threshold "
                                        f"alpha_interp = {ai:.6g} (below it the noisy labels are interpolated and "
                                        "the solution is not unique); use lam > 0")
    if initial_guess is not None:
        initial_guess = check.positive("initial_guess", initial_guess)
    try:
        s2, a, ti, res = _solve(params, h, xtol, max_scan, cnt, initial_guess)
    except (ValueError, ArithmeticError, KeyError, np.linalg.LinAlgError) as exc:
        if isinstance(exc, QuadnetError):
            raise
        raise ConvergenceError(f"stationary solver failed at alpha = {alpha:g}, kappa = {params.kappa_label}, "
                               f"kappa* = {params.kappa_star:g}, lam = {lam:g}, noise = {delta:g} "
                               f"({type(exc).__name__}: {exc})", iterations=cnt.n) from None
    if lam == 0.0 and a <= 0.0:
        raise ConvergenceError(f"lam = 0: fixed point with a = {a:.3g} <= 0 (alpha too close to interpolation)",
                               residual=abs(a), iterations=cnt.n)
    # final residuals of both equations at the solution
    m = stationary_map(params, s2, a, h=h)
    cnt.n += 1
    r_sigma = abs(m["sigma2_new"] - s2) / s2
    r_a = abs(m["a_new"] - a) if lam > 0 else 0.0  # absolute (a in (0, 1]; its relative error is r_a / a)
    residual = max(r_sigma, r_a)
    if not (residual <= tol) or not math.isfinite(residual):
        raise ConvergenceError("stationary solver did not converge", residual=residual, iterations=cnt.n)
    sol = _build(params, s2, a, m, cnt.n, residual, h, n_grid)
    if quadrature_check:
        sol2 = solve_stationary(params, h=h / 2, xtol=xtol, tol=tol, n_grid=n_grid, max_scan=max_scan)
        change = max(abs(sol2.test_error / sol.test_error - 1.0) if sol.test_error else 0.0,
                     abs(sol2.train_error / sol.train_error - 1.0) if sol.train_error else 0.0)
        object.__setattr__(sol, "quadrature_change", float(change))
    return sol


def _flags(params: ExtensiveWidthParams, train: float, active: bool, D: float | None
           ) -> tuple[tuple[str, ...], str]:
    flags: list[str] = []
    if params.kappa < 1.0:
        flags.append("rank_constrained")
        if active:
            flags.append("rank_constraint_active")
        if params.kappa < params.kappa_star:
            flags.append("kappa_below_kappa_star")
        dof = dof_line(params.kappa)
        over_dof = D is not None and 0.5 * D > dof
        too_small = params.alpha > dof and train < 0.5 * params.noise * (1.0 - dof / params.alpha)
        if params.noise > 0 and (over_dof or too_small):
            flags.append("interpolation_beyond_parameter_count")
    bad = [f for f in flags if f in ("kappa_below_kappa_star", "interpolation_beyond_parameter_count")]
    text = "; ".join(FLAG_TEXT[f] for f in bad)
    if text:
        warnings.warn("stationary solution unreliable: " + text, stacklevel=3)
    return tuple(flags), text


def _build(params: ExtensiveWidthParams, s2: float, a: float, m: dict, iterations: int, residual: float,
           h: float, n_grid: int) -> StationarySolution:
    fc: FreeConvolution = m["fc"]
    cs = m["C_S"]
    theta, c = m["theta"], m["c"]
    test = 2.0 * cs
    train = a * a * (2.0 * cs + params.noise)
    if not all(math.isfinite(v) for v in (test, train, s2, a)):
        raise ConvergenceError("stationary solution is not finite", residual=float("nan"), iterations=iterations)
    top = fc.edges[1]
    lo = max(c, fc.edges[0])
    if top > lo:
        yy = lo + (top - lo) * (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_grid)))
        grid, dens = yy - theta, fc.density(yy)
    else:
        grid, dens = np.zeros(0), np.zeros(0)
    active = m["omega"] is not None and m["omega"] > theta
    flags, text = _flags(params, train, active, float(m["D"]))
    return StationarySolution(
        params=params, test_error=float(test), train_error=float(train), rank_fraction=float(m["P"]),
        sigma2=float(s2), a=float(a), D=float(m["D"]), C_S=float(cs), threshold=float(theta), cut=float(c),
        omega=None if m["omega"] is None else float(m["omega"]), spectral_gap=float(c - theta),
        iterations=int(iterations), residual=float(residual), grid=grid, density=dens,
        atom=float(1.0 - m["P"]), flags=flags, warning=text, quadrature_h=h, solver={"method": "nested brent"})


def _perfect_recovery(params: ExtensiveWidthParams, h: float, n_grid: int) -> StationarySolution:
    """lam = 0, Delta = 0, alpha >= alpha_c: S_inf = S* exactly (sigma^2 = 0, test = train = 0)."""
    from dmft.spectra import mp_density, mp_edges
    lo, hi = mp_edges(params.kappa_star)
    rank = min(params.kappa_star, 1.0)
    yy = lo + (hi - lo) * (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_grid)))
    flags, text = _flags(params, 0.0, False, None)
    return StationarySolution(
        params=params, test_error=0.0, train_error=0.0, rank_fraction=rank, sigma2=0.0, a=None,
        D=None, C_S=0.0, threshold=0.0, cut=0.0, omega=None, spectral_gap=float(lo), iterations=0,
        residual=0.0, grid=yy, density=mp_density(yy, params.kappa_star), atom=1.0 - rank, flags=flags,
        warning=text, quadrature_h=h, solver={"method": "exact perfect recovery (lam = Delta = 0, alpha >= alpha_c)"})
