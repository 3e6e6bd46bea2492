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

import numpy as np

from odes.common import check, hdf5io
from odes.common.errors import ParameterError
from odes.common.progress import progress
from odes.population.highdim import check_finite_d_memory, finite_d_matrix, finite_d_modes, solve_limit
from odes.population.params import HighDimParams


@dataclass(frozen=True, eq=False)
class PopulationValidation:
    """Finite-d vs limit table for model (A). ``loss`` has shape (n_d, n_seeds, n_gamma) (d L_d)."""

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

    def save(self, path) -> None:
        hdf5io.save(self, path)

    load = staticmethod(hdf5io.load)

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
    n_seeds = check.integer("seeds", n_seeds, lo=1, hi=10**6)
    seed0 = check.integer("seed", seed0, lo=0, hi=2**62)
    g = np.linspace(0.0, 3.0, 61) if gammas is None else check.array("gammas", gammas, shape=(None,), lo=0.0)
    for d in dims:               # every size before the first run, not after minutes of work
        params.widths(d)
        check_finite_d_memory(params, d, g.size, method)
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
    slope = float(-np.polyfit(np.log(darr), np.log(max_dev), 1)[0]) if len(dims) > 1 else float("nan")
    return PopulationValidation(params=params, gamma=g, limit_loss=lim.loss, limit_chi=lim.chi,
                                dims=np.asarray(dims), loss=L, chi=C, max_dev=max_dev, max_dev_se=se,
                                scaled_dev=darr * max_dev, end_coef=end, end_coef_se=np.broadcast_to(
                                    end_se, end.shape).copy(), chi_dev=chi_dev, slope=slope, method=method,
                                n_seeds=n_seeds)
