r"""Theory (overlap ODEs, N -> infinity) versus finite-N online SGD, for a list of widths N.

For every N, :func:`compare_ode` runs :func:`validation.online_sgd.simulate` for several seeds and integrates
the ODE (:func:`odes.finite_width.integrate.integrate_overlaps`) from **each simulation's exact initial state**
(Q(0), M(0)) on the same alpha grid (the recorded one, steps/N). Per seed s it computes

.. math::
    D_\varepsilon = \max_\alpha |\varepsilon^{sim}_s(\alpha) - \varepsilon^{ode}_s(\alpha)|,\quad
    D_Q = \max_\alpha \max_{jl} |Q^{sim}_{s,jl} - Q^{ode}_{s,jl}|,\quad
    D_M = \max_\alpha \max_{jk} |M^{sim}_{s,jk} - M^{ode}_{s,jk}|,

.. math::
    D_{inv} = \max_\alpha \max\big(|\Delta\,\mathrm{tr}\,Q|,\ |\Delta\,\|M\|_F^2|\big)
    \quad\text{(rotation-invariant summaries)},

and reports their mean and standard deviation over the non-diverged seeds. The exponent x of D ∝ N^x is the
weighted least-squares slope of ln(mean D) against ln N, with weights from the standard error of each mean
(delta method: sigma(ln D) = std / (mean sqrt(S))); its uncertainty is the propagated standard error,
inflated by sqrt(chi^2/dof) when the points scatter more than their error bars (Birge ratio).

Expected behaviour (spec Sec. 4-6): for a macroscopic warm start (protocol V) the fluctuations of a single run
are O(N^{-1/2}) per unit alpha, so x ≈ -1/2. For a random initialisation (protocol R) M(0) = O(N^{-1/2}) is of the
same order as the SGD noise collected on the plateau, so the escape time carries O(1) run-to-run fluctuations
and the deviations do **not** shrink with N (x ≈ 0); that is a property of SGD, not an error of the ODE.

Numerics: the ODE is integrated with ``method`` (default DOP853, order 8) at ``rtol`` (default 1e-10), far
below the O(N^{-1/2}) statistical deviations; seeds whose initial states agree to 1e-12 share one integration.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from odes.common import check
from odes.common.deprecation import deprecated_alias
from odes.common.errors import DivergenceError, ParameterError
from odes.common.numerics import fit_power_law, time_grid
from odes.common.resources import check_memory
from odes.common.result import SUMMARY_MAX_CHARS, Result, coordinate, mean_and_se, variable
from odes.finite_width import FiniteWidthParams
from odes.finite_width.integrate import ALPHA_LONG_NAME, METHODS, TEST_ERROR_LONG_NAME, integrate_overlaps
from validation.online_sgd import OnlineSGDResult, run_memory, simulate

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

METRICS = ("D_eps", "D_Q", "D_M", "D_inv")


_METRIC_NAMES = {"D_eps": "max over alpha of |eps_g(sim) - eps_g(ODE)|",
                 "D_Q": "max over alpha and entries of |Q(sim) - Q(ODE)|",
                 "D_M": "max over alpha and entries of |M(sim) - M(ODE)|",
                 "D_inv": "max over alpha of the rotation-invariant deviations |tr Q|, |M|_F^2"}


@dataclass(frozen=True, eq=False, repr=False)
class WidthComparison(Result):
    """Theory vs simulation at one N (a curve along ``alpha``). ``ode_Q`` (S, n, p, p), ``ode_M`` (S, n, p, p*),
    ``ode_eps_g`` (S, n): the ODE from each seed's exact initial state; ``D_eps``, ``D_Q``, ``D_M``, ``D_inv`` (S,)
    per-seed maximal deviations (zero-weighted, i.e. not used, for diverged seeds: see ``simulation.valid``);
    ``ode_time`` seconds spent integrating.

    Labelled data (:meth:`to_xarray`, coordinates ``seed``, ``alpha``): ``test_error_sim`` and ``test_error_ode``
    (alpha), means over the non-diverged seeds, with standard errors ``_se`` (sample std / sqrt(runs));
    ``test_error_sim_per_seed``, ``test_error_ode_per_seed`` (seed, alpha); the deviations ``D_eps`` ... as scalar
    means with ``D_eps_se`` ... and per seed ``D_eps_per_seed`` (seed)."""

    curve_coord = "alpha"  # plain class attribute (not a dataclass field)

    N: int
    simulation: OnlineSGDResult
    ode_Q: np.ndarray
    ode_M: np.ndarray
    ode_eps_g: np.ndarray
    D_eps: np.ndarray
    D_Q: np.ndarray
    D_M: np.ndarray
    D_inv: np.ndarray
    ode_time: float = 0.0

    @property
    def params(self) -> FiniteWidthParams:
        """The parameters of the simulation (and of the ODE)."""
        return self.simulation.params

    def stats(self, metric: str) -> tuple[float, float]:
        """(mean, std) of a deviation metric over the non-diverged seeds (std with ddof = 1; 0 for one seed)."""
        if metric not in METRICS:
            raise ParameterError("metric", f"must be one of {METRICS}, got {metric!r}")
        v = np.asarray(getattr(self, metric))[self.simulation.valid]
        if v.size == 0:
            raise DivergenceError(f"all runs at N = {self.N} diverged")
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0

    def _variables(self) -> dict[str, tuple]:
        """Variables along (seed, alpha) shared with :meth:`ODEComparison.to_xarray` (which adds an N axis)."""
        sim = self.simulation
        ok = sim.valid
        sim_m, sim_se = mean_and_se(sim.eps_g[ok])
        ode_m, ode_se = mean_and_se(self.ode_eps_g[ok])
        var = {
            "test_error_sim": variable("alpha", sim_m, "online SGD: mean over runs of " + TEST_ERROR_LONG_NAME),
            "test_error_sim_se": variable("alpha", sim_se, "standard error of test_error_sim (std / sqrt(runs))"),
            "test_error_ode": variable("alpha", ode_m, "overlap ODE from each run's initial state, mean over runs"),
            "test_error_ode_se": variable("alpha", ode_se, "standard error of test_error_ode (std / sqrt(runs))"),
            "test_error_sim_per_seed": variable(("seed", "alpha"), sim.eps_g, "online SGD test error, per run"),
            "test_error_ode_per_seed": variable(("seed", "alpha"), self.ode_eps_g,
                                                "ODE test error from the run's initial state, per run"),
            "alpha_recorded": variable("alpha", sim.alpha, "alpha recorded by the simulation = round(alpha N)/N"),
            "diverged": variable("seed", np.asarray(sim.diverged, dtype=np.int8), "1 if the run blew up"),
            "runs": variable((), sim.n_valid, "number of non-diverged runs"),
            "t_sim": variable((), sim.wall_time, "wall-clock time of the simulations", "s"),
            "t_ode": variable((), self.ode_time, "wall-clock time of the ODE integrations", "s"),
        }
        for m in METRICS:
            mean, se = mean_and_se(np.asarray(getattr(self, m))[ok])
            var[m] = variable((), mean, _METRIC_NAMES[m] + ", mean over runs")
            var[m + "_se"] = variable((), se, f"standard error of {m} (std / sqrt(runs))")
            var[m + "_per_seed"] = variable("seed", getattr(self, m), _METRIC_NAMES[m] + ", per run")
        return var

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring), plus ``Q_sim``/``Q_ode`` (seed, alpha, i, i2) and
        ``M_sim``/``M_ode`` (seed, alpha, i, k) per run."""
        sim = self.simulation
        var = self._variables()
        var.update({
            "Q_sim": variable(("seed", "alpha", "i", "i2"), sim.Q, "online SGD overlap Q = W W^T / N, per run"),
            "M_sim": variable(("seed", "alpha", "i", "k"), sim.M, "online SGD overlap M = W W*^T / N, per run"),
            "Q_ode": variable(("seed", "alpha", "i", "i2"), self.ode_Q, "ODE overlap Q, per run's initial state"),
            "M_ode": variable(("seed", "alpha", "i", "k"), self.ode_M, "ODE overlap M, per run's initial state")})
        p, ps = self.params.p, self.params.p_star
        return self.dataset(var, coords={
            "seed": coordinate("seed", np.asarray(sim.seeds, dtype=np.int64), "random seed of the run"),
            "alpha": coordinate("alpha", sim.alpha, ALPHA_LONG_NAME),
            "i": coordinate("i", np.arange(p), "student hidden unit index"),
            "i2": coordinate("i2", np.arange(p), "student hidden unit index (second)"),
            "k": coordinate("k", np.arange(ps), "teacher hidden unit index")},
            attrs={"N": int(self.N), "init": sim.init})

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """Simulation mean ± standard error (band) and the ODE curve of eps_g(alpha); returns the axes."""
        from validation.plots_ode import plot_width

        return plot_width(self, ax, **kw)


@dataclass(frozen=True, eq=False, repr=False)
class ODEComparison(Result):
    """Theory-vs-simulation study over widths ``Ns``. ``widths``: {"N<N>": WidthComparison}; ``exponents`` and
    ``exponent_errors``: {metric: fitted x of D ∝ N^x, its standard error} (NaN-free: absent when fewer than
    two widths). ``rtol``/``method``: ODE solver settings.

    Labelled data (:meth:`to_xarray`): coordinates ``N``, ``seed``, ``alpha`` (the requested grid; the recorded one
    is ``alpha_recorded`` (N, alpha) = round(alpha N)/N); the variables of :class:`WidthComparison` with an ``N``
    axis (``test_error_sim`` (N, alpha) and its ``_se``, ``D_eps`` (N) and ``D_eps_se`` ...), and the fitted
    exponents ``D_eps_exponent`` with ``D_eps_exponent_se`` (its standard error) for each metric."""

    params: FiniteWidthParams
    init: str
    Ns: np.ndarray
    alphas: np.ndarray
    widths: dict
    exponents: dict = field(default_factory=dict)
    exponent_errors: dict = field(default_factory=dict)
    method: str = "DOP853"
    rtol: float = 1e-10
    M0: np.ndarray | None = None

    def width(self, N: int) -> WidthComparison:
        return self.widths[f"N{int(N)}"]

    def table(self) -> tuple[list[str], list[list]]:
        """Header and rows (one per N) of the deviation table: mean ± std over seeds."""
        header = ["N", "runs", "diverged"] + [f"{m} mean" for m in METRICS] + [f"{m} std" for m in METRICS] + [
            "t_sim [s]", "t_ode [s]"]
        rows = []
        for N in self.Ns:
            w = self.width(N)
            st = [w.stats(m) for m in METRICS]
            rows.append([int(N), int(w.simulation.n_valid), int(np.count_nonzero(w.simulation.diverged))]
                        + [s[0] for s in st] + [s[1] for s in st]
                        + [float(w.simulation.wall_time), float(w.ode_time)])
        return header, rows

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring)."""
        import xarray as xr

        per_n = [self.width(N).to_xarray().drop_vars(["Q_sim", "M_sim", "Q_ode", "M_ode", "i", "i2", "k"])
                 .assign_coords(alpha=self.alphas) for N in self.Ns]
        stacked = xr.concat(per_n, dim="N", data_vars="all", coords="minimal", combine_attrs="override")
        var = {str(k): (v.dims, v.values, dict(v.attrs)) for k, v in stacked.data_vars.items()}
        for m in METRICS:
            if m in self.exponents:
                var[m + "_exponent"] = variable((), self.exponents[m], f"fitted exponent x of {m} ∝ N^x")
                var[m + "_exponent_se"] = variable((), self.exponent_errors[m],
                                                   f"standard error of {m}_exponent (weighted fit, Birge-inflated)")
        first = self.width(self.Ns[0]).simulation
        return self.dataset(var, coords={
            "N": coordinate("N", np.asarray(self.Ns, dtype=np.int64), "input dimension N"),
            "seed": coordinate("seed", np.asarray(first.seeds, dtype=np.int64), "random seed of the run"),
            "alpha": coordinate("alpha", self.alphas, ALPHA_LONG_NAME + " (requested grid)")},
            attrs={"init": self.init, "method": self.method, "rtol": self.rtol})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON plus ``N``, ``alpha`` and every per-N variable (deviation means and ``_se``, runs)."""
        ds = self.to_xarray()
        return {**super().to_json(), "alpha": ds["alpha"].values.tolist(), **self.json_along(ds, "N")}

    def summary(self) -> str:
        """Generic summary followed by the per-N deviation table (mean ± standard error over runs)."""
        text = super().summary() + "\n" + self.table_along("N", ["runs", *METRICS])
        return text if len(text) < SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 4] + " ..."

    def legacy_json(self) -> dict[str, Any]:
        """The quadnet 0.1 ``validate ode`` JSON (``widths`` with per-N mean/std, ``exponents``, ...)."""
        per_n = []
        for N in self.Ns:
            w = self.width(N)
            d = {"N": int(N), "runs": int(w.simulation.n_valid),
                 "diverged": int(np.count_nonzero(w.simulation.diverged)),
                 "t_sim": float(w.simulation.wall_time), "t_ode": float(w.ode_time),
                 "alpha": w.simulation.alpha.tolist(),
                 "eps_sim_mean": w.simulation.mean("eps_g").tolist(),
                 "eps_sim_std": w.simulation.std("eps_g").tolist(),
                 "eps_ode_mean": w.ode_eps_g[w.simulation.valid].mean(axis=0).tolist()}
            for m in METRICS:
                d[m], d[m + "_std"] = w.stats(m)
            per_n.append(d)
        return {"p": self.params.p, "p_star": self.params.p_star, "init": self.init, "widths": per_n,
                "exponents": dict(self.exponents), "exponent_errors": dict(self.exponent_errors)}

    def plot(self, ax: Any = None, *, title: str | None = None) -> Any:
        """eps_g(alpha) (simulation mean ± standard error as bands, ODE as lines) on ``ax``; with ``ax=None`` a new
        figure that also has a second panel, the deviations vs N (only when there are >= 2 widths). Returns the
        curves axes (the figure is ``ax.figure``; see :mod:`validation.plots_ode`)."""
        from validation.plots_ode import plot_comparison

        return plot_comparison(self, ax, title=title)


# ---------------------------------------------------------------------------------------------------------
def max_deviations(sim_Q: np.ndarray, sim_M: np.ndarray, sim_eps: np.ndarray, ode_Q: np.ndarray,
                   ode_M: np.ndarray, ode_eps: np.ndarray) -> dict[str, np.ndarray]:
    """Per-seed maximal deviations (S,) between simulated and ODE curves, arrays (S, n, ...)."""
    dq = np.abs(sim_Q - ode_Q).max(axis=(1, 2, 3))
    dm = np.abs(sim_M - ode_M).max(axis=(1, 2, 3))
    de = np.abs(sim_eps - ode_eps).max(axis=1)
    dtr = np.abs(np.trace(sim_Q, axis1=2, axis2=3) - np.trace(ode_Q, axis1=2, axis2=3)).max(axis=1)
    dmf = np.abs((sim_M**2).sum(axis=(2, 3)) - (ode_M**2).sum(axis=(2, 3))).max(axis=1)
    return {"D_eps": de, "D_Q": dq, "D_M": dm, "D_inv": np.maximum(dtr, dmf)}


def fit_exponent(Ns: Sequence[float], means: Sequence[float], stds: Sequence[float],
                 counts: Sequence[int]) -> tuple[float, float]:
    """Weighted least-squares slope x of ln(mean) = x ln N + c and its standard error (see module docstring).

    Needs at least two widths and positive means. With exactly two widths the error is the propagated one."""
    x = np.log(np.asarray(Ns, dtype=float))
    m = np.asarray(means, dtype=float)
    if x.size < 2:
        raise ParameterError("N", "need at least two widths to fit an exponent")
    if np.any(m <= 0):
        raise ParameterError("means", "deviations must be positive to fit a power law")
    n = np.maximum(np.asarray(counts, dtype=float), 1.0)
    ses = np.asarray(stds, dtype=float) / np.sqrt(n)
    if np.any(ses <= 0):  # single seeds: unweighted fit (unit errors of ln mean)
        ses = m
    fit = fit_power_law(np.exp(x), m, ses)
    return fit.slope, fit.slope_se


def _ode_for_seeds(params: FiniteWidthParams, sim: OnlineSGDResult, *, method: str, rtol: float, atol: float,
                   check_stability: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ODE curves (S, n, ...) from each seed's exact (Q(0), M(0)); equal initial states share a run."""
    S = len(sim.seeds)
    time_grid("alphas", sim.alpha, start_at_zero=True)  # the ODE starts from the recorded state at alpha = 0
    out_Q, out_M, out_e = np.empty_like(sim.Q), np.empty_like(sim.M), np.empty_like(sim.eps_g)
    done: list[tuple[np.ndarray, np.ndarray, int]] = []
    for s in range(S):
        Q0, M0 = sim.Q[s, 0], sim.M[s, 0]
        src = next((k for (q, mm, k) in done if np.max(np.abs(q - Q0)) < 1e-12 and np.max(np.abs(mm - M0)) < 1e-12),
                   None)
        if src is not None:
            out_Q[s], out_M[s], out_e[s] = out_Q[src], out_M[src], out_e[src]
            continue
        tr = integrate_overlaps(params, Q0, M0, sim.alpha, method=method, rtol=rtol, atol=atol,
                                check_stability=check_stability)
        out_Q[s], out_M[s], out_e[s] = tr.Q, tr.M, tr.eps_g
        done.append((Q0, M0, s))
    return out_Q, out_M, out_e


def compare_width(sim: OnlineSGDResult, *, method: str = "DOP853", rtol: float = 1e-10, atol: float = 1e-12,
                  check_stability: bool = True) -> WidthComparison:
    """ODE curves and deviations for one simulation result (all seeds)."""
    t0 = time.perf_counter()
    oQ, oM, oe = _ode_for_seeds(sim.params, sim, method=method, rtol=rtol, atol=atol,
                                check_stability=check_stability)
    t_ode = time.perf_counter() - t0
    d = max_deviations(sim.Q, sim.M, sim.eps_g, oQ, oM, oe)
    return WidthComparison(N=int(sim.N), simulation=sim, ode_Q=oQ, ode_M=oM, ode_eps_g=oe, ode_time=t_ode, **d)


def compare_ode(params: FiniteWidthParams, Ns: Sequence[int], alphas: Sequence[float] | np.ndarray, *,
                seeds: int | Sequence[int] = 4, seed: int = 0, init: str = "V", M0: np.ndarray | None = None,
                R0: np.ndarray | None = None, method: str = "DOP853", rtol: float = 1e-10, atol: float = 1e-12,
                quiet: bool = False, check_stability: bool = True) -> ODEComparison:
    r"""Run theory and online SGD for every N in ``Ns`` (same seeds at every N) and compare them.

    ``alphas`` must start at 0. ``init``/``M0``/``R0`` as in :func:`validation.online_sgd.simulate`.
    ``check_stability``: refuse learning rates beyond the SGD limits before simulating (as
    :func:`integrate_overlaps` does). Raises DivergenceError if every run at some N diverges (single blow-ups
    are flagged and excluded)."""
    if check_stability:
        from odes.finite_width.stability import check_learning_rate

        check_learning_rate(params)
    Ns_arr = np.asarray([check.integer("N", n, lo=1, hi=2**53) for n in Ns], dtype=np.int64)
    if Ns_arr.size == 0:
        raise ParameterError("N", "need at least one width")
    if len(set(Ns_arr.tolist())) != Ns_arr.size:
        raise ParameterError("N", "widths must be distinct")
    Ns_arr = np.sort(Ns_arr)
    al = check.array("alphas", alphas, shape=(None,), lo=0.0)
    if al.size < 2 or al[0] != 0.0:
        raise ParameterError("alphas", "need at least two times, starting at alpha = 0")
    if method not in METHODS:
        raise ParameterError("method", f"must be one of {', '.join(METHODS)}, got {str(method)[:40]!r}")
    check.real("rtol", rtol, lo=1e-14, hi=1e-1)
    check.real("atol", atol, lo=1e-300, hi=1.0)
    for N in Ns_arr:             # every width before the first simulation, not after minutes of work
        check_memory("N", run_memory(params.p, params.p_star, int(N)), f"online SGD at N = {int(N)}")
    widths = {}
    for N in Ns_arr:
        sim = simulate(params, int(N), al, seeds=seeds, seed=seed, init=init, M0=M0, R0=R0, quiet=quiet)
        if sim.n_valid == 0:
            raise DivergenceError(f"all {len(sim.seeds)} online-SGD runs at N = {int(N)} diverged")
        widths[f"N{int(N)}"] = compare_width(sim, method=method, rtol=rtol, atol=atol,
                                             check_stability=check_stability)
    exps, errs = {}, {}
    if Ns_arr.size >= 2:
        for m in METRICS:
            st = [widths[f"N{int(N)}"].stats(m) for N in Ns_arr]
            cnt = [widths[f"N{int(N)}"].simulation.n_valid for N in Ns_arr]
            if all(s[0] > 0 for s in st):
                exps[m], errs[m] = fit_exponent(Ns_arr, [s[0] for s in st], [s[1] for s in st], cnt)
    return ODEComparison(params=params, init=init, Ns=Ns_arr, alphas=al, widths=widths, exponents=exps,
                         exponent_errors=errs, method=method, rtol=float(rtol),
                         M0=None if M0 is None else np.asarray(M0, dtype=float))


deviations = deprecated_alias("deviations", max_deviations)
