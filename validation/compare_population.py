r"""Finite-d gradient flow of model (A) (orthonormal init) vs its d -> infinity limit.

For each d and seed the exact finite-d flow (principal-angle mode reduction, or the literal d x d matrix ODE)
is compared with the limit ell(tau) on a tau grid (default 61 points in [0, 3]). Reported per d:

* ``max_dev``: mean over seeds of max_tau |d L_d(tau) - ell(tau)| (+ its standard error);
* ``scaled_dev`` = d * max_dev, which should stay O(1) (the deviation is O(1/d));
* ``end_coef`` = d (<d L_d(tau_end)> - ell(tau_end)) (+ SE): the 1/d coefficient at the last time,
  which should be d-independent;
* ``slope``: fitted exponent p of max_dev ∝ d^{-p} (expected 1), with its standard error and 95% CI from the
  per-seed spread (:func:`exponent_fit`), and a ``verdict``.

The per-seed max deviation is dominated by O(1/d) init fluctuations at early tau, so its log has a seed spread
of ~0.66 at every d and the exponent is noise with a few seeds (4 seeds: 0.53 +- 0.78 for (0.5, 0.25) at
d = 200, 500, 1000). With ``n_seeds=None`` (the default) seeds are doubled from ``start_seeds`` until the CI
half-width is <= ``ci_target`` (or ``max_seeds`` is reached: verdict 'inconclusive').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from odes.common import check
from odes.common.deprecation import renamed_keywords
from odes.common.errors import ParameterError
from odes.common.progress import progress
from odes.common.result import SUMMARY_MAX_CHARS, Result, coordinate, mean_and_se, variable
from odes.population.highdim import (
    TAU_LONG_NAME,
    check_finite_d_memory,
    finite_d_matrix,
    finite_d_modes,
    solve_limit,
)
from odes.population.params import HighDimParams

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


@dataclass(frozen=True, eq=False, repr=False)
class PopulationValidation(Result):
    """Finite-d vs limit table for model (A). ``loss`` has shape (n_d, n_seeds, n_tau) (d L_d).

    Labelled data (:meth:`to_xarray`): coordinates ``d``, ``seed`` (index k of the run with seed seed0 + k), ``tau``
    (= t/d; the curve coordinate; stored as field ``gamma``, read it as :attr:`tau`). Along ``tau``: the limit
    ``test_error_limit`` (ell) and
    ``chi_limit``; along (d, tau): ``test_error`` = mean over seeds of d L_d, ``chi``, with standard errors ``_se``
    (sample std / sqrt(seeds); NaN for one seed), per seed ``test_error_per_seed``, ``chi_per_seed`` (d, seed, tau);
    along ``d``: ``max_dev`` with ``max_dev_se``, ``scaled_dev`` (= d max_dev) with ``scaled_dev_se``,
    ``end_coef`` with ``end_coef_se``, ``chi_dev``; scalar ``slope`` (NaN for one d)."""

    curve_coord = "tau"  # plain class attribute (not a dataclass field)

    params: HighDimParams
    gamma: np.ndarray
    limit_loss: np.ndarray
    limit_chi: np.ndarray
    dims: np.ndarray
    loss: np.ndarray
    chi: np.ndarray
    max_dev: np.ndarray
    max_dev_se: np.ndarray
    scaled_dev: np.ndarray
    end_coef: np.ndarray
    end_coef_se: np.ndarray
    chi_dev: np.ndarray
    slope: float
    method: str
    n_seeds: int
    slope_se: float = float("nan")
    slope_ci: np.ndarray = None  # type: ignore[assignment]   # (2,) 95% CI; filled by validate_population
    ci_target: float = float("nan")
    verdict: str = ""

    @property
    def tau(self) -> np.ndarray:
        """Rescaled time tau = t/d of the grid (stored as field ``gamma``, its quadnet 0.1 name)."""
        return self.gamma

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring); attributes ``method`` and ``n_seeds``."""
        darr = np.asarray(self.dims, dtype=float)
        one = self.n_seeds < 2          # a standard error from one seed is undefined: NaN, not the stored 0
        se = (lambda x: np.full(np.shape(x), np.nan) if one else np.asarray(x, dtype=float))
        L_m, L_se = mean_and_se(self.loss, axis=1)
        C_m, C_se = mean_and_se(self.chi, axis=1)
        dL = "d L_d(d tau), rescaled population loss at dimension d"
        var = {
            "test_error_limit": variable("tau", self.limit_loss, "population loss ell = lim d L (rescaled test "
                                                                 "error, d -> infinity)"),
            "chi_limit": variable("tau", self.limit_chi, "cosine similarity chi (d -> infinity)"),
            "test_error": variable(("d", "tau"), L_m, dL + ", mean over seeds"),
            "test_error_se": variable(("d", "tau"), L_se, "standard error of test_error (std / sqrt(seeds))"),
            "test_error_per_seed": variable(("d", "seed", "tau"), self.loss, dL + ", per seed"),
            "chi": variable(("d", "tau"), C_m, "cosine similarity chi at dimension d, mean over seeds"),
            "chi_se": variable(("d", "tau"), C_se, "standard error of chi (std / sqrt(seeds))"),
            "chi_per_seed": variable(("d", "seed", "tau"), self.chi, "cosine similarity chi, per seed"),
            "max_dev": variable("d", self.max_dev, "max over tau of |d L_d - ell|, mean over seeds"),
            "max_dev_se": variable("d", se(self.max_dev_se), "standard error of max_dev (std / sqrt(seeds))"),
            "scaled_dev": variable("d", self.scaled_dev, "d x max_dev (O(1) if the deviation is O(1/d))"),
            "scaled_dev_se": variable("d", se(darr * self.max_dev_se), "standard error of scaled_dev"),
            "end_coef": variable("d", self.end_coef, "d (<d L_d> - ell) at the last tau (1/d coefficient)"),
            "end_coef_se": variable("d", se(self.end_coef_se), "standard error of end_coef (std / sqrt(seeds))"),
            "chi_dev": variable("d", self.chi_dev, "max over tau of |<chi_d> - chi|"),
            "slope": variable((), self.slope, "fitted p of max_dev ∝ d^-p (expected 1; NaN for one d)"),
            "slope_se": variable((), self.slope_se, "standard error of the fitted exponent p (pooled over seeds)"),
            "slope_ci_low": variable((), _ci(self.slope_ci)[0], "lower end of the 95% CI of p (Student t)"),
            "slope_ci_high": variable((), _ci(self.slope_ci)[1], "upper end of the 95% CI of p (Student t)"),
            "ci_target": variable((), self.ci_target, "target 95% CI half-width of the adaptive seed count"),
        }
        return self.dataset(var, coords={
            "d": coordinate("d", np.asarray(self.dims, dtype=np.int64), "input dimension d"),
            "seed": coordinate("seed", np.arange(self.n_seeds), "run index k (seed = seed0 + k)"),
            "tau": coordinate("tau", self.tau, TAU_LONG_NAME)},
            attrs={"method": self.method, "n_seeds": int(self.n_seeds), "verdict": self.verdict})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON plus ``d`` and every per-d variable (``max_dev``, ``max_dev_se``, ...)."""
        return {**super().to_json(), **self.json_along(self.to_xarray(), "d")}

    def summary(self) -> str:
        """Generic summary followed by the per-d deviation table (mean ± standard error over seeds)."""
        text = super().summary() + "\n" + self.table_along("d", ["max_dev", "scaled_dev", "end_coef", "chi_dev"])
        return text if len(text) < SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 4] + " ..."

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 keys of ``validate population``: the table ``header`` and ``rows``."""
        header, rows = self.table()
        return {"header": header, "rows": rows}

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """Limit ell(tau) with the seed-averaged finite-d values on ``ax``; with ``ax=None`` a new figure with a
        second panel, d x max deviation vs d (>= 2 dimensions). Returns the curves axes (see
        :func:`validation.plots_population.plot_population_validation`)."""
        from validation.plots_population import plot_population_validation

        return plot_population_validation(self, ax, **kw)

    def table(self) -> tuple[list[str], list[list]]:
        header = ["d", "seeds", "max|dL_d-ell|", "SE", "d*max", "d(<dL_d>-ell)(end)", "SE", "max|chi_d-chi|"]
        rows = [[int(d), self.n_seeds, float(a), float(b), float(c), float(e), float(f), float(g)]
                for d, a, b, c, e, f, g in zip(self.dims, self.max_dev, self.max_dev_se, self.scaled_dev,
                                              self.end_coef, self.end_coef_se, self.chi_dev)]
        return header, rows


def _ci(ci: np.ndarray | None) -> tuple[float, float]:
    return (float("nan"), float("nan")) if ci is None else (float(ci[0]), float(ci[1]))


@dataclass(frozen=True)
class DeviationExponent:
    """OLS fit log dev_(i,k) = c - p log d_i over all (d_i, seed k) points: exponent p, its standard error
    se = sqrt(s^2 / sum_(i,k) (log d_i - mean)^2) (s^2 the residual variance, n - 2 dof) and the 95% CI
    p +- t_(0.975, n-2) se (Student t). ``se`` and the CI are NaN with fewer than 3 points or 2 distinct d."""

    slope: float
    se: float
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        return 0.5 * (self.ci_high - self.ci_low)


def exponent_fit(dims: Sequence[float], dev: np.ndarray) -> DeviationExponent:
    """Fit the d-scaling exponent of ``dev`` (shape (n_d, n_seeds), positive) with a CI from the seed spread
    (see :class:`DeviationExponent`)."""
    from scipy import stats

    dev = np.asarray(dev, dtype=float)
    x = np.repeat(np.log(np.asarray(dims, dtype=float)), dev.shape[1])
    y = np.log(np.maximum(dev.ravel(), np.finfo(float).tiny))
    if np.unique(x).size < 2:
        return DeviationExponent(float("nan"), float("nan"), float("nan"), float("nan"))
    xc = x - x.mean()
    b = float(xc @ (y - y.mean()) / (xc @ xc))
    if x.size < 3:
        return DeviationExponent(-b, float("nan"), float("nan"), float("nan"))
    resid = y - y.mean() - b * xc
    se = float(np.sqrt(resid @ resid / (x.size - 2) / (xc @ xc)))
    h = float(stats.t.ppf(0.975, x.size - 2)) * se
    return DeviationExponent(-b, se, -b - h, -b + h)


def _no_seed_spread(dev: np.ndarray) -> bool:
    """True when every d has the same deviation for all seeds (deterministic instance: kappa = 1 or kappa* = 1
    make the orthonormal init seed-independent); the CI then measures only lack of fit, not noise."""
    return dev.shape[1] > 1 and bool(np.all(np.ptp(dev, axis=1) <= 1e-9 * np.abs(dev).max(axis=1)))


def _verdict(fit: DeviationExponent, dev: np.ndarray, ci_target: float) -> str:
    if dev.shape[0] < 2:
        return "one d: no exponent"
    if _no_seed_spread(dev):
        return f"no seed spread (deterministic instance): exponent {fit.slope:.4f}, no CI"
    if not np.isfinite(fit.se):
        return "too few points for a confidence interval"
    if fit.ci_low <= 1.0 <= fit.ci_high:
        if fit.half_width <= ci_target:
            return "consistent with O(1/d)"
        return (f"inconclusive: 95% CI half-width {fit.half_width:.2f} > target {ci_target:g} "
                "(more seeds or a wider d range)")
    return "exponent differs from 1 (95% CI excludes 1)"


@renamed_keywords(gammas="taus")
def validate_population(params: HighDimParams, dims: Sequence[int], n_seeds: int | None = None, *,
                        taus: Sequence[float] | None = None, method: str = "modes", seed0: int = 0,
                        ci_target: float = 0.15, start_seeds: int = 8, max_seeds: int = 128,
                        quiet: bool = True) -> PopulationValidation:
    """Run the finite-d flows (``method`` 'modes' = exact principal-angle reduction, 'matrix' = d x d ODE)
    for every d in ``dims`` and seeds seed0..seed0+n_seeds-1, and compare with the limit. ``n_seeds=None``:
    adaptive, start_seeds, 2 start_seeds, ... (<= max_seeds) until the exponent's 95% CI half-width is
    <= ci_target (or a single d is given)."""
    if method not in ("modes", "matrix"):
        raise ParameterError("method", f"must be 'modes' or 'matrix', got {method!r}")
    dims = [check.integer("d", d, lo=4) for d in dims]
    if len(set(dims)) != len(dims):
        raise ParameterError("d", f"dimensions must be distinct, got {dims}")
    ci_target = check.positive("ci_target", ci_target)
    if n_seeds is None:
        max_seeds = check.integer("max_seeds", max_seeds, lo=2)
        batch = min(check.integer("start_seeds", start_seeds, lo=2), max_seeds)
    else:
        n_seeds = check.integer("seeds", n_seeds, lo=1, hi=10**6)
        batch = max_seeds = n_seeds
    seed0 = check.integer("seed", seed0, lo=0, hi=2**62)
    g = np.linspace(0.0, 3.0, 61) if taus is None else check.array("taus", taus, shape=(None,), lo=0.0)
    for d in dims:               # every size before the first run, not after minutes of work
        params.widths(d)
        check_finite_d_memory(params, d, g.size, method)
    lim = solve_limit(params, g)
    solver = finite_d_modes if method == "modes" else finite_d_matrix
    Ls, Cs = [], []
    done = 0
    while True:
        L = np.empty((len(dims), batch, g.size))
        C = np.empty_like(L)
        bar = progress(total=len(dims) * batch, desc=f"finite d, seeds {done}..{done + batch - 1}", quiet=quiet)
        for i, d in enumerate(dims):
            for k in range(batch):
                res = solver(params, d, g, seed=seed0 + done + k)
                L[i, k], C[i, k] = res.loss, res.chi
                bar.update(1)
        bar.close()
        Ls.append(L)
        Cs.append(C)
        done += batch
        L, C = np.concatenate(Ls, axis=1), np.concatenate(Cs, axis=1)
        dev = np.max(np.abs(L - lim.loss), axis=2)           # (n_d, n_seeds)
        fit = exponent_fit(dims, dev)
        if len(dims) < 2 or done >= max_seeds or fit.half_width <= ci_target or _no_seed_spread(dev):
            break
        batch = min(done, max_seeds - done)                 # double the number of seeds
    n_seeds = done
    max_dev = dev.mean(axis=1)
    se = dev.std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.zeros(len(dims))
    darr = np.asarray(dims, dtype=float)
    end = darr * (L[:, :, -1].mean(axis=1) - lim.loss[-1])
    end_se = darr * (L[:, :, -1].std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else 0.0)
    chi_dev = np.max(np.abs(C.mean(axis=1) - lim.chi), axis=1)
    return PopulationValidation(params=params, gamma=g, limit_loss=lim.loss, limit_chi=lim.chi,
                                dims=np.asarray(dims), loss=L, chi=C, max_dev=max_dev, max_dev_se=se,
                                scaled_dev=darr * max_dev, end_coef=end, end_coef_se=np.broadcast_to(
                                    end_se, end.shape).copy(), chi_dev=chi_dev, slope=fit.slope, method=method,
                                n_seeds=n_seeds, slope_se=fit.se, slope_ci=np.array([fit.ci_low, fit.ci_high]),
                                ci_target=ci_target, verdict=_verdict(fit, dev, ci_target))
