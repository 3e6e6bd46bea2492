r"""Finite-d gradient flow of model (A) (orthonormal init) vs its d -> infinity limit.

For each d and seed the exact finite-d flow (principal-angle mode reduction, or the literal d x d matrix ODE)
is compared with the limit ell(gamma) on a gamma grid (default 61 points in [0, 3]). Reported per d:

* ``max_dev``: mean over seeds of max_gamma |d L_d(gamma) - ell(gamma)| (+ its standard error);
* ``scaled_dev`` = d * max_dev, which should stay O(1) (the deviation is O(1/d));
* ``end_coef`` = d (<d L_d(gamma_end)> - ell(gamma_end)) (+ SE): the 1/d coefficient at the last time,
  which should be d-independent;
* ``slope``: fitted exponent p of max_dev ∝ d^{-p} (expected 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from odes.common import check
from odes.common.errors import ParameterError
from odes.common.numerics import fit_power_law
from odes.common.progress import progress
from odes.common.result import SUMMARY_MAX_CHARS, Result, coordinate, mean_and_se, variable
from odes.population.highdim import TAU_LONG_NAME, finite_d_matrix, finite_d_modes, solve_limit
from odes.population.params import HighDimParams

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


@dataclass(frozen=True, eq=False, repr=False)
class PopulationValidation(Result):
    """Finite-d vs limit table for model (A). ``loss`` has shape (n_d, n_seeds, n_gamma) (d L_d).

    Labelled data (:meth:`to_xarray`): coordinates ``d``, ``seed`` (index k of the run with seed seed0 + k), ``tau``
    (= ``gamma`` = t/d; the curve coordinate). Along ``tau``: the limit ``test_error_limit`` (ell) and
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
        }
        return self.dataset(var, coords={
            "d": coordinate("d", np.asarray(self.dims, dtype=np.int64), "input dimension d"),
            "seed": coordinate("seed", np.arange(self.n_seeds), "run index k (seed = seed0 + k)"),
            "tau": coordinate("tau", self.gamma, TAU_LONG_NAME)},
            attrs={"method": self.method, "n_seeds": int(self.n_seeds)})

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
        :func:`validation.plots_population.plot_validation`)."""
        from validation.plots_population import plot_validation

        return plot_validation(self, ax, **kw)

    def table(self) -> tuple[list[str], list[list]]:
        header = ["d", "seeds", "max|dL_d-ell|", "SE", "d*max", "d(<dL_d>-ell)(end)", "SE", "max|chi_d-chi|"]
        rows = [[int(d), self.n_seeds, float(a), float(b), float(c), float(e), float(f), float(g)]
                for d, a, b, c, e, f, g in zip(self.dims, self.max_dev, self.max_dev_se, self.scaled_dev,
                                              self.end_coef, self.end_coef_se, self.chi_dev)]
        return header, rows


def validate_population(params: HighDimParams, dims: Sequence[int], n_seeds: int = 4, *,
                        gammas: Sequence[float] | None = None, method: str = "modes", seed0: int = 0,
                        quiet: bool = True) -> PopulationValidation:
    """Run the finite-d flows (``method`` 'modes' = exact principal-angle reduction, 'matrix' = d x d ODE)
    for every d in ``dims`` and seeds seed0..seed0+n_seeds-1, and compare with the limit."""
    if method not in ("modes", "matrix"):
        raise ParameterError("method", f"must be 'modes' or 'matrix', got {method!r}")
    dims = [check.integer("d", d, lo=4) for d in dims]
    if len(set(dims)) != len(dims):
        raise ParameterError("d", f"dimensions must be distinct, got {dims}")
    n_seeds = check.integer("seeds", n_seeds, lo=1)
    g = np.linspace(0.0, 3.0, 61) if gammas is None else np.asarray(gammas, dtype=float)
    lim = solve_limit(params, g)
    solver = finite_d_modes if method == "modes" else finite_d_matrix
    L = np.empty((len(dims), n_seeds, g.size))
    C = np.empty_like(L)
    bar = progress(total=len(dims) * n_seeds, desc="finite d", quiet=quiet)
    for i, d in enumerate(dims):
        for k in range(n_seeds):
            res = solver(params, d, g, seed=seed0 + k)
            L[i, k], C[i, k] = res.loss, res.chi
            bar.update(1)
    bar.close()
    dev = np.max(np.abs(L - lim.loss), axis=2)               # (n_d, n_seeds)
    max_dev = dev.mean(axis=1)
    se = dev.std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.zeros(len(dims))
    darr = np.asarray(dims, dtype=float)
    end = darr * (L[:, :, -1].mean(axis=1) - lim.loss[-1])
    end_se = darr * (L[:, :, -1].std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else 0.0)
    chi_dev = np.max(np.abs(C.mean(axis=1) - lim.chi), axis=1)
    slope = -fit_power_law(darr, max_dev).slope if len(dims) > 1 else float("nan")
    return PopulationValidation(params=params, gamma=g, limit_loss=lim.loss, limit_chi=lim.chi,
                                dims=np.asarray(dims), loss=L, chi=C, max_dev=max_dev, max_dev_se=se,
                                scaled_dev=darr * max_dev, end_coef=end, end_coef_se=np.broadcast_to(
                                    end_se, end.shape).copy(), chi_dev=chi_dev, slope=slope, method=method,
                                n_seeds=n_seeds)
