r"""Stationary theory (:mod:`dmft.stationary`) vs finite-d ERM (:mod:`validation.erm`), and recovery curves.

* :func:`validate_stationary`: for each d in ``ds`` and ``seeds`` instances, minimise the ERM and record test
  error, train error, rank fraction and the pooled eigenvalues of S; a weighted linear fit in 1/d,
  ``q(d) = q_inf + c/d`` (weights 1/se^2 from the seed spread; the intercept error is inflated by
  sqrt(chi^2/dof) when the fit is worse than the errors), gives the extrapolated ``q_inf +- se`` to compare with
  the theory. The spectrum check compares the histogram of the non-zero eigenvalues at the largest d with
  the theory mass per bin ``int_bin rho_Y(s + theta) ds`` (and the atom at 0 with 1 - rank fraction).
* :func:`recovery_curve`: noiseless data, tiny lam; fraction of seeds with relative error
  ``||S - S*||_F / ||S*||_F < eps_rec`` as a function of alpha around alpha_c.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import ParameterError
from odes.common.numerics import fit_inverse_size
from odes.common.progress import progress
from odes.common.result import Result, coordinate, variable

__all__ = ["StationaryValidation", "validate_stationary", "extrapolate_inverse_d", "RecoveryCurve",
           "recovery_curve", "spectrum_histogram"]


def extrapolate_inverse_d(ds, means, ses) -> tuple[float, float, float]:
    """Weighted least squares ``means ~ q_inf + c/d``; returns ``(q_inf, se(q_inf), c)``.
    With a single d, returns the value itself (no extrapolation, c = 0)."""
    fit = fit_inverse_size(ds, means, ses)
    return fit.intercept, fit.intercept_se, fit.slope


_QUANTITY = {"test": ("test_error", "test error (2/d) Tr(S - S*)^2 (excess population error)"),
             "train": ("train_error", "train error: mean squared residual on the noisy training labels"),
             "rank": ("rank_fraction", "rank fraction rank(S)/d")}


@dataclass(frozen=True, repr=False)
class StationaryValidation(Result):
    """Theory vs ERM. Arrays ``test/train/rank`` have shape (len(ds), seeds).

    Labelled data (:meth:`to_xarray`): coordinates ``d``, ``seed`` and ``s`` (centres of the spectrum bins, edges
    in ``s_bin_edges``). For ``q`` in ``test_error``, ``train_error``, ``rank_fraction`` (the fields ``test``,
    ``train``, ``rank``): ``q_per_seed`` (d, seed), the seed mean ``q`` (d) with its standard error ``q_se``
    (sample std / sqrt(seeds)), the 1/d extrapolation ``extrapolated_q``, ``extrapolated_q_se``,
    ``extrapolated_q_slope`` (q(d) = q_inf + slope/d) and the theory ``theory_q``; the spectra
    ``spectrum_erm``, ``spectrum_theory`` (s), ``atom_erm``, ``atom_theory``, ``not_converged``."""

    params: ExtensiveWidthParams
    sensing: str
    ds: np.ndarray
    test: np.ndarray
    train: np.ndarray
    rank: np.ndarray
    theory: dict
    extrapolated: dict
    bin_edges: np.ndarray
    hist_erm: np.ndarray
    hist_theory: np.ndarray
    atom_erm: float
    atom_theory: float
    flags: tuple = ()
    notes: dict = field(default_factory=dict)

    def table(self) -> tuple[list[str], list[list]]:
        """Rows: one per d (seed mean +- s.e.), then the 1/d extrapolation and the theory."""
        header = ["d", "test", "+-", "train", "+-", "rank", "+-"]
        rows = []
        for i, d in enumerate(self.ds):
            row: list = [str(int(d))]
            for arr in (self.test, self.train, self.rank):
                m, s = _mean_se(arr[i])
                row += [m, s]
            rows.append(row)
        e = self.extrapolated
        rows.append(["1/d->0", e["test"][0], e["test"][1], e["train"][0], e["train"][1], e["rank"][0],
                     e["rank"][1]])
        t = self.theory
        rows.append(["theory", t["test_error"], 0.0, t["train_error"], 0.0, t["rank_fraction"], 0.0])
        return header, rows

    def to_xarray(self):
        seed0 = int(self.notes.get("seed0", 0))
        v: dict[str, tuple] = {}
        for field_name, (name, long) in _QUANTITY.items():
            arr = getattr(self, field_name)
            ms = np.array([_mean_se(a) for a in arr]).reshape(-1, 2)
            q, se, slope = self.extrapolated[field_name]
            v[name] = variable("d", ms[:, 0], f"ERM {long}, mean over seeds")
            v[name + "_se"] = variable("d", ms[:, 1], f"standard error of {name} (sample std / sqrt(seeds))")
            v[name + "_per_seed"] = variable(("d", "seed"), arr, f"ERM {long}, per seed")
            v["extrapolated_" + name] = variable((), q, f"1/d -> 0 extrapolation q_inf of {name} (weighted fit "
                                                 "q_inf + slope/d)")
            v["extrapolated_" + name + "_se"] = variable((), se, f"standard error of extrapolated_{name}")
            v["extrapolated_" + name + "_slope"] = variable((), slope, f"slope of {name} in 1/d")
        inputs = {"alpha", "kappa", "kappa_star", "lam", "noise"}  # in the 0.1 theory dict; they are the params
        for k, val in self.theory.items():
            if k not in inputs:
                v["theory_" + k] = variable((), val, f"stationary theory: {k}")
        e = np.asarray(self.bin_edges, dtype=float)
        v["s_bin_edges"] = variable("s_edge", e, "edges of the spectrum bins (the first excludes the zero "
                                    "eigenvalues)")
        v["spectrum_erm"] = variable("s", self.hist_erm, f"fraction of the eigenvalues of S (ERM, d = "
                                     f"{int(self.ds[-1])}) per bin")
        v["spectrum_theory"] = variable("s", self.hist_theory, "theory mass int_bin rho_Y(s + theta) ds per bin")
        v["atom_erm"] = variable((), self.atom_erm, "fraction of (numerically) zero eigenvalues of S (ERM)")
        v["atom_theory"] = variable((), self.atom_theory, "mass of the zero eigenvalue (theory)")
        v["not_converged"] = variable((), int(self.notes.get("not_converged", 0)), "ERM runs that stopped "
                                      "before their tolerance (kept in the statistics)")
        coords = {"d": coordinate("d", self.ds, "dimension d of the ERM instances"),
                  "seed": coordinate("seed", seed0 + np.arange(self.test.shape[1]), "random seed of the instance"),
                  "s": coordinate("s", 0.5 * (e[1:] + e[:-1]), "eigenvalue s of S (bin centre)")}
        return self.dataset(v, coords, {"sensing": self.sensing, "flags": ";".join(self.flags)})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON (scalars: extrapolations, theory, atoms) plus ``d``, the per-d means and ``_se`` and
        ``flags``; legacy 0.1 keys ``header``, ``rows``, ``theory``, ``extrapolated``."""
        ds = self.to_xarray()
        out = super().to_json()
        out["d"] = np.asarray(self.ds).tolist()
        for name, da in ds.data_vars.items():
            if da.dims == ("d",):
                out[str(name)] = da.values.tolist()
        out["flags"] = list(self.flags)
        return out

    def legacy_json(self) -> dict[str, Any]:
        header, rows = self.table()
        return {"header": header, "rows": rows, "theory": self.theory, "extrapolated": self.extrapolated}

    def plot(self, ax: Any = None) -> Any:
        """Test and train error vs 1/d (with the extrapolation and the theory) and the spectrum histogram.

        Returns the first axes (test error; the figure is ``ax.figure``); with ``ax`` given only that panel is
        drawn. See :func:`dmft.plots_stationary.plot_stationary_validation`."""
        from dmft.plots_stationary import plot_stationary_validation
        return plot_stationary_validation(self, ax=ax)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return float(x.mean()), 0.0
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def spectrum_histogram(sol, eigs: np.ndarray, d_total: int, bins: int = 20) -> tuple[np.ndarray, ...]:
    """Histogram (fraction of all d eigenvalues, pooled) of the non-zero eigenvalues of S vs the theory mass
    ``int_bin rho_Y(s + theta) ds`` per bin. Returns (edges, frac_erm, frac_theory)."""
    from dmft.spectra import FreeConvolution
    eigs = np.asarray(eigs, dtype=float)
    top = max(float(np.max(eigs)) if eigs.size else 0.0, float(sol.grid[-1]) if sol.grid.size else 0.0)
    if top <= 0.0:  # S = 0 in theory and ERM (e.g. very large lam): no non-zero eigenvalue to histogram
        top = 1.0
    edges = np.linspace(0.0, 1.02 * top, bins + 1)
    edges[0] = 1e-12 * top  # exclude the zero eigenvalues (the atom)
    frac_erm = np.histogram(eigs, bins=edges)[0] / d_total
    fc = FreeConvolution(sol.params.kappa_star, sol.sigma2)
    cuts = list(edges + sol.threshold) + [sol.cut]
    q = fc.quadrature(cuts)
    s = q.x - sol.threshold
    keep = q.x > sol.cut
    frac_th = np.histogram(s[keep], bins=edges, weights=q.w[keep])[0]
    return edges, frac_erm, frac_th


def validate_stationary(params: ExtensiveWidthParams, ds=(30, 50, 70), seeds: int | Sequence[int] = 3,
                        sensing: str = "wishart", *, seed0: int = 1000, quiet: bool = True, bins: int = 20,
                        erm_options: dict | None = None) -> StationaryValidation:
    """Run the ERM at every d and compare with :func:`dmft.stationary.solve_stationary`.

    ``seeds``: a count n (instances ``seed0, ..., seed0 + n - 1``) or the explicit list of instance seeds
    (:func:`odes.common.check.seed_list`); at least 2 (the error bars and the extrapolation weights come from the
    seed spread); ``ds`` distinct sizes >= 4. ERM runs that stop before their tolerance are counted in
    ``notes["not_converged"]`` (and reported by the CLI); they are kept in the statistics."""
    from dmft.stationary import solve_stationary
    from validation.erm import check_erm_memory, solve_erm
    seed_ids = check.seed_list("seeds", seeds, seed0)
    if len(seed_ids) < 2:
        raise ParameterError("seeds", f"need at least 2 instances per d (error bars from the spread), got "
                                      f"{len(seed_ids)}")
    ds = [check.integer("d", d, lo=4) for d in np.atleast_1d(np.asarray(ds, dtype=object))]
    if len(ds) == 0 or len(set(ds)) != len(ds):
        raise ParameterError("d", f"need one or more distinct sizes, got {ds}")
    for d in ds:
        check_erm_memory(params, d, sensing)  # before any array of size d exists
    ds = np.array(ds, dtype=int)
    sol = solve_stationary(params)
    test = np.zeros((ds.size, len(seed_ids)))
    train = np.zeros_like(test)
    rank = np.zeros_like(test)
    last_eigs = []
    n_not_conv = 0
    jobs = [(i, d, j) for i, d in enumerate(ds) for j in range(len(seed_ids))]
    for i, d, j in progress(jobs, total=len(jobs), desc="ERM", quiet=quiet):
        r = solve_erm(params, int(d), seed_ids[j], sensing, **(erm_options or {}))
        n_not_conv += int(not r.converged)
        test[i, j], train[i, j], rank[i, j] = r.test_error, r.train_error, r.rank_fraction
        if i == ds.size - 1:
            last_eigs.append(r.eigenvalues)
    ext = {}
    for name, arr in (("test", test), ("train", train), ("rank", rank)):
        ms = np.array([_mean_se(a) for a in arr])
        ext[name] = extrapolate_inverse_d(ds, ms[:, 0], ms[:, 1])
    eigs = np.concatenate(last_eigs)
    top = max(float(eigs.max()), 1e-300)
    nz = eigs[eigs > 1e-6 * top]
    edges, h_erm, h_th = spectrum_histogram(sol, nz, eigs.size, bins)
    theory = {k: v for k, v in sol.legacy_json().items() if isinstance(v, float)}  # the 0.1 content
    return StationaryValidation(params, sensing, ds, test, train, rank, theory, ext, edges, h_erm, h_th,
                                float(1.0 - nz.size / eigs.size), float(sol.atom), tuple(sol.flags),
                                {"not_converged": n_not_conv, "seed0": seed0})


# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class RecoveryCurve(Result):
    """P(recovery) vs alpha at one d: ``prob[i]`` over ``seeds`` instances, ``alpha_c`` the theory.

    Labelled data (:meth:`to_xarray`): coordinates ``alpha`` (samples n/d^2) and ``seed`` (instance index);
    ``recovery_probability`` (= ``prob``) with ``recovery_probability_se`` (sample std of the 0/1 outcomes /
    sqrt(seeds)), ``relative_error_per_seed`` (= ``rel_err``); scalars ``kappa``, ``kappa_star``, ``d``, ``lam``,
    ``eps_rec``, ``alpha_c`` and ``alpha_crossing`` (:meth:`crossing`, NaN if none)."""

    curve_coord: ClassVar[str | None] = "alpha"

    kappa: float
    kappa_star: float
    d: int
    alphas: np.ndarray
    prob: np.ndarray
    rel_err: np.ndarray
    alpha_c: float
    lam: float
    eps_rec: float

    def crossing(self) -> float | None:
        """Linear interpolation of the alpha where prob crosses 1/2 (None if it does not)."""
        p = self.prob
        for i in range(len(p) - 1):
            if p[i] < 0.5 <= p[i + 1]:
                return float(self.alphas[i] + (0.5 - p[i]) / (p[i + 1] - p[i]) * (self.alphas[i + 1] - self.alphas[i]))
        return None

    def to_xarray(self):
        rel = np.asarray(self.rel_err, dtype=float)
        se = np.array([_mean_se((r < self.eps_rec).astype(float))[1] for r in rel]).reshape(-1)
        cross = self.crossing()
        v = {"recovery_probability": variable("alpha", self.prob, f"fraction of instances with ||S - S*||_F / "
                                              f"||S*||_F < eps_rec (d = {self.d})"),
             "recovery_probability_se": variable("alpha", se, "standard error of recovery_probability (sample "
                                                 "std of the 0/1 outcomes / sqrt(seeds))"),
             "relative_error_per_seed": variable(("alpha", "seed"), rel, "relative error ||S - S*||_F / ||S*||_F"),
             "kappa": variable((), self.kappa, "input: student width ratio kappa"),
             "kappa_star": variable((), self.kappa_star, "input: teacher width ratio kappa*"),
             "d": variable((), self.d, "dimension d"),
             "lam": variable((), self.lam, "l2 strength lam of the ERM"),
             "eps_rec": variable((), self.eps_rec, "recovery tolerance on the relative error"),
             "alpha_c": variable((), self.alpha_c, "perfect-recovery threshold alpha_c (theory)"),
             "alpha_crossing": variable((), float("nan") if cross is None else cross,
                                        "alpha where recovery_probability crosses 1/2 (NaN: no crossing)")}
        coords = {"alpha": coordinate("alpha", self.alphas, "sample ratio alpha = n/d^2"),
                  "seed": coordinate("seed", np.arange(rel.shape[1]), "instance index (seed = seed0 + index)")}
        return self.dataset(v, coords)

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """recovery_probability vs alpha (s.e. band) and the theory alpha_c; returns the axes."""
        ax = super().plot(ax, **kw)
        ax.axvline(self.alpha_c, color="k", lw=1, ls=":", label=f"alpha_c = {self.alpha_c:.4g}")
        ax.legend(fontsize="small")
        return ax



def recovery_curve(kappa: float, kappa_star: float, alphas, d: int = 30, seeds: int | Sequence[int] = 8,
                   lam: float = 1e-4,
                   eps_rec: float = 0.01, sensing: str = "wishart", seed0: int = 2000, quiet: bool = True,
                   max_iter: int = 3000) -> RecoveryCurve:
    """Noiseless ERM (FISTA with lam-continuation 0.1 -> lam for kappa >= 1, GD on W for kappa < 1) with tiny
    lam; recovery means ``||S - S*||_F/||S*||_F < eps_rec`` (above alpha_c the error is O(lam); below it grows
    continuously from 0, so eps_rec must be small for the crossing to locate alpha_c). ``seeds``: a count n
    (instances ``seed0, ..., seed0 + n - 1``) or the explicit list (:func:`odes.common.check.seed_list`)."""
    from dmft.thresholds import alpha_c
    from validation.erm import make_instance, solve_convex, solve_gd_rank
    alphas = np.asarray(alphas, dtype=float)
    seed_ids = check.seed_list("seeds", seeds, seed0)
    rel = np.zeros((alphas.size, len(seed_ids)))
    jobs = [(i, a, j) for i, a in enumerate(alphas) for j in range(len(seed_ids))]
    for i, a, j in progress(jobs, total=len(jobs), desc="recovery", quiet=quiet):
        s = seed_ids[j]
        prm = ExtensiveWidthParams(float(a), kappa, kappa_star, lam, 0.0)
        inst = make_instance(prm, d, s, sensing)
        if kappa >= 1.0:  # continuation in lam (warm starts) down to the target lam
            S0 = None
            for lam_k in [v for v in (1e-1, 1e-2, 1e-3) if v > lam] + [lam]:
                r = solve_convex(inst, lam_k, tol=1e-6, max_iter=max_iter, raise_on_fail=False, S0=S0,
                                 keep_matrix=True)
                S0 = r.S
        else:
            r = solve_gd_rank(inst, kappa, lam, tol=1e-6, max_steps=20000, seed=s)
        rel[i, j] = math.sqrt(r.test_error * d / 2.0) / float(np.linalg.norm(inst.S_star))
    prob = np.mean(rel < eps_rec, axis=1)
    return RecoveryCurve(kappa, kappa_star, d, alphas, prob, rel, alpha_c(kappa, kappa_star).alpha_c, lam, eps_rec)
