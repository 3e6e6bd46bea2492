r"""DMFT vs finite-d gradient descent: side-by-side curves and relative deviations.

Two comparisons live here:

* :func:`run_validation` -> :class:`DMFTValidation`: the discrete-time DMFT of GD (step eta) against GD at several d,
  with relative deviations (below);
* :func:`compare_dmft` -> :class:`DMFTComparison`: the headline of the library (``quadnet demo``): the gradient-flow
  DMFT curve (:func:`dmft.dynamics.gradient_flow.solve_flow`, numerical settings from :func:`demo_flow_settings`),
  its t = infinity limit (:func:`dmft.stationary.solve_stationary`) and finite-d GD (several seeds) side by side.

For a DMFT result (curves y(t) with standard errors s(t)) and GD simulations at dimensions d (seed means g_d(t),
standard errors of the mean s_d(t)), on the common grid t_k = k eta (same eta):

    dev_d(t) = g_d(t)/y(t) - 1,    se_d(t) = sqrt((s_d/g_d)^2 + (s/y)^2),

and the summary ``max_{t >= t_min} |dev_d(t)|`` (train and test separately), the number reported in the issue
note. :func:`run_validation` runs both sides and returns a :class:`DMFTValidation` (HDF5-savable).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dmft.dynamics import DMFTResult, DMFTSettings, solve
from dmft.dynamics.gradient_flow import FlowResult, FlowSettings, flow_settings, solve_flow
from dmft.params import ExtensiveWidthParams
from dmft.stationary import StationarySolution, solve_stationary
from odes.common import check
from odes.common.deprecation import deprecated_alias
from odes.common.errors import ParameterError
from odes.common.resources import check_memory
from odes.common.result import SUMMARY_MAX_CHARS, Result, _jsonable, coordinate, variable
from validation.gd_simulator import SENSING, GDSimulation, check_backend, check_gd_memory, simulate_gd_seeds

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


@dataclass(frozen=True, eq=False, repr=False)
class DMFTValidation(Result):
    """DMFT result, GD simulations (one per d) and the deviation summary (arrays indexed like ``ds``).

    Labelled data (:meth:`to_xarray`): coordinates ``t`` and ``d``; ``dmft_train_error``, ``dmft_test_error`` (t)
    with ``*_se``; the GD seed means ``gd_train_error``, ``gd_test_error`` (d, t) with ``*_se``; the relative
    deviations ``dev_train``, ``dev_test`` = GD/DMFT - 1 (d, t) on the whole grid with ``*_se`` (module
    docstring); the summaries ``max_dev_*``, ``mean_dev_*`` (d) over t >= ``t_min`` (scalar)."""

    curve_coord: ClassVar[str | None] = "t"

    dmft: DMFTResult
    gd: dict
    ds: np.ndarray
    t_min: float
    max_dev_train: np.ndarray
    max_dev_test: np.ndarray
    mean_dev_train: np.ndarray
    mean_dev_test: np.ndarray

    def table(self, times: list[float] | None = None) -> tuple[list[str], list[list]]:
        """Header and rows of the side-by-side table (t, DMFT train/test, GD train/test per d)."""
        t = self.dmft.t
        if times is None:
            times = [x for x in (0.0, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0) if x <= t[-1] + 1e-12]
        header = ["t", "dmft_train", "dmft_test"]
        for d in self.ds:
            header += [f"gd{d}_train", f"gd{d}_test"]
        rows = []
        for x in times:
            k = int(np.argmin(np.abs(t - x)))
            row = [float(t[k]), float(self.dmft.train_error[k]), float(self.dmft.test_error[k])]
            for d in self.ds:
                g = self.gd[f"d{d}"]
                row += [float(g.train_mean[k]), float(g.test_mean[k])]
            rows.append(row)
        return header, rows

    @property
    def params(self) -> ExtensiveWidthParams:
        """The model parameters (those of the DMFT run)."""
        return self.dmft.params

    def to_xarray(self):
        from dmft.dynamics.result import T_LONG_NAME, TEST_LONG_NAME, TRAIN_LONG_NAME

        sims = [self.gd[f"d{d}"] for d in self.ds]
        devs = [relative_deviations(self.dmft, g, float(self.dmft.t[0])) for g in sims]
        dt = ("d", "t")
        v = {"dmft_train_error": variable("t", self.dmft.train_error, "DMFT " + TRAIN_LONG_NAME),
             "dmft_train_error_se": variable("t", self.dmft.train_error_std, "standard error of dmft_train_error"),
             "dmft_test_error": variable("t", self.dmft.test_error, "DMFT " + TEST_LONG_NAME),
             "dmft_test_error_se": variable("t", self.dmft.test_error_std, "standard error of dmft_test_error")}
        for name, long in (("train", TRAIN_LONG_NAME), ("test", TEST_LONG_NAME)):
            v[f"gd_{name}_error"] = variable(dt, [getattr(g, name + "_mean") for g in sims],
                                             f"finite-d GD {long}, mean over seeds")
            v[f"gd_{name}_error_se"] = variable(dt, [getattr(g, name + "_sem") for g in sims],
                                                f"standard error of gd_{name}_error (sample std over seeds / "
                                                "sqrt(seeds))")
            v[f"dev_{name}"] = variable(dt, [dv[name] for dv in devs], f"relative deviation of the GD {name} "
                                        "error from the DMFT: gd/dmft - 1")
            v[f"dev_{name}_se"] = variable(dt, [dv[name + "_se"] for dv in devs],
                                           f"standard error of dev_{name}: sqrt((s_gd/gd)^2 + (s_dmft/dmft)^2)")
            v[f"max_dev_{name}"] = variable("d", getattr(self, f"max_dev_{name}"), f"max |dev_{name}| over t >= t_min")
            v[f"mean_dev_{name}"] = variable("d", getattr(self, f"mean_dev_{name}"),
                                             f"mean |dev_{name}| over t >= t_min")
        v["t_min"] = variable((), self.t_min, "start of the time window of the deviation summaries")
        coords = {"t": coordinate("t", self.dmft.t, T_LONG_NAME), "d": coordinate("d", self.ds, "GD dimension d")}
        return self.dataset(v, coords, {"gd_sensing": sims[0].sensing if sims else ""})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON (``t``, the DMFT curves) plus ``d``, ``max_dev_*``, ``mean_dev_*``, the GD seed means per
        d (``gd`` -> ``d<d>`` -> :meth:`GDSimulation.to_json`) and the DMFT result (``dmft``,
        :meth:`DMFTResult.to_json`); legacy 0.1 keys ``ds``, ``table_header``, ``table``."""
        out = super().to_json()
        out["d"] = np.asarray(self.ds).tolist()
        for name in ("max_dev_train", "max_dev_test", "mean_dev_train", "mean_dev_test"):
            out[name] = np.asarray(getattr(self, name)).tolist()
        out["gd"] = {f"d{d}": self.gd[f"d{d}"].to_json() for d in self.ds}
        out["dmft"] = self.dmft.to_json()
        return out

    def legacy_json(self) -> dict[str, Any]:
        header, rows = self.table()
        return {"ds": self.ds, "table_header": header, "table": rows}

    def plot(self, ax: Any = None, *, title: str | None = None) -> Any:
        """Learning curves (DMFT vs GD per d) and, in a second panel, the relative deviations GD/DMFT - 1.

        Returns the first axes (the learning curves; the figure is ``ax.figure``). With ``ax`` given only the
        learning-curve panel is drawn into it. See :func:`validation.plots_dmft.plot_dmft_validation`."""
        from validation.plots_dmft import plot_dmft_validation

        return plot_dmft_validation(self, ax=ax, title=title)


def relative_deviations(dmft: DMFTResult, gd: GDSimulation, t_min: float = 0.25) -> dict:
    """Relative deviations of the GD seed means from the DMFT curves for t >= t_min (see module docstring)."""
    if gd.t.shape != dmft.t.shape or not np.allclose(gd.t, dmft.t):
        raise ParameterError("eta", "DMFT and GD must share the time grid (same eta and steps)")
    mask = dmft.t >= t_min - 1e-12
    if not mask.any():
        raise ParameterError("t_min", f"must be <= the last time {dmft.t[-1]:g}, got {t_min:g}")
    out = {}
    for name, g, gs in (("train", gd.train_mean, gd.train_sem), ("test", gd.test_mean, gd.test_sem)):
        y = getattr(dmft, name + "_error")
        s = getattr(dmft, name + "_error_std")
        dev = g / y - 1.0
        se = np.sqrt((gs / g) ** 2 + (s / y) ** 2)
        out[name] = dev[mask]
        out[name + "_se"] = se[mask]
        out["max_" + name] = float(np.max(np.abs(dev[mask])))
        out["mean_" + name] = float(np.mean(np.abs(dev[mask])))
    out["t"] = dmft.t[mask]
    return out


def run_validation(params: ExtensiveWidthParams, settings: DMFTSettings, ds: list[int],
                   seeds: int | Sequence[int], *, seed0: int = 1000, sensing: str = "goe", t_min: float = 0.25,
                   quiet: bool = True, dmft: DMFTResult | None = None, backend: str = "numpy",
                   device: str | None = None) -> DMFTValidation:
    """Solve the DMFT (unless ``dmft`` is given) and simulate GD at each d with ``seeds``: a count n (GD seeds
    ``seed0, ..., seed0 + n - 1``, default base 1000) or the explicit list (:func:`odes.common.check.seed_list`).

    ``backend``/``device`` select the GD simulator's array backend (numpy, or optional torch; see
    :func:`validation.gd_simulator.simulate_gd`); the DMFT side always runs in numpy. Sizes that cannot fit in
    memory (DMFT and every GD run) are refused before anything runs."""
    seed_ids = check.seed_list("seeds", seeds, seed0)
    t_min = check.real("t_min", t_min)
    if t_min > settings.eta * settings.steps:
        raise ParameterError("t_min", f"must be <= t_max = eta * steps = {settings.eta * settings.steps:g}, "
                                      f"got {t_min:g}")
    ds = [check.integer("d", d, lo=2) for d in ds]
    if sensing not in SENSING:
        raise ParameterError("sensing", f"must be one of {SENSING}, got {sensing!r}")
    check_backend(backend, device)  # fail before the (long) DMFT solve
    for d in ds:
        check_gd_memory(params, d, sensing)
    if dmft is None:
        settings.check_memory()
    res = dmft if dmft is not None else solve(params, settings, quiet=quiet)
    gd = {}
    mx_tr, mx_te, mn_tr, mn_te = [], [], [], []
    for d in ds:
        sim = simulate_gd_seeds(params, d, settings.eta, settings.steps, seed_ids,
                                sigma0=settings.sigma0, sensing=sensing, quiet=quiet, backend=backend,
                                device=device)
        gd[f"d{d}"] = sim
        dv = relative_deviations(res, sim, t_min)
        mx_tr.append(dv["max_train"])
        mx_te.append(dv["max_test"])
        mn_tr.append(dv["mean_train"])
        mn_te.append(dv["mean_test"])
    return DMFTValidation(dmft=res, gd=gd, ds=np.asarray(ds, dtype=int), t_min=float(t_min),
                          max_dev_train=np.array(mx_tr), max_dev_test=np.array(mx_te),
                          mean_dev_train=np.array(mn_tr), mean_dev_test=np.array(mn_te))


deviations = deprecated_alias("deviations", relative_deviations)


# ---------------------------------------------------------------------------------------------------------
# The headline comparison: gradient-flow DMFT, its stationary limit and finite-d GD (``quadnet demo``)

#: spec set B (dmft_dynamics.md Sec. 4.1): noisy, converges by t ~ 7; the ``quadnet demo`` parameters
DEMO_PARAMS = {"alpha": 1.0, "kappa": 1.0, "kappa_star": 0.5, "lam": 0.05, "noise": 0.5}

#: every numerical choice of the demo's DMFT (grid and population), see :func:`demo_flow_settings`
DEMO_FLOW = {"h": 0.05, "h0": 0.01, "growth": 1.1, "d_eff": 8, "samples": 32, "response_samples": 16, "runs": 4,
             "field": "complex", "ensemble": "wishart"}

#: times of the printed table (those <= t_max, plus t_max)
DEMO_TABLE_TIMES = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


def demo_flow_settings(t_max: float = 10.0, **kw: Any) -> FlowSettings:
    r"""The DMFT settings of :func:`compare_dmft` / ``quadnet demo``: **the one place of every DMFT numerical choice
    of the demo** (:data:`DEMO_FLOW`; keywords override them, any other keyword goes to
    :class:`dmft.dynamics.gradient_flow.FlowSettings`).

    Grid (:func:`dmft.dynamics.gradient_flow.flow_grid`): Heun steps h_k = min(h, h0 growth^k) on [0, t_max],
    small in the fast initial transient, h = 0.05 below the explicit stability bound 1/(s_max h_max) = 0.0589 of
    set B; Heun's error is O(h^2). Population: ``runs`` independent runs of ``samples`` d_eff x d_eff samples;
    the curves are the run mean and the standard errors the run-to-run std / sqrt(runs) (the jackknife of a single
    run understates the spread, spec Sec. 8). Effective process over complex Hermitian matrices (``field="complex"``,
    complex-Wishart teacher and initialisation): its finite-d_eff bias is O(1/d_eff^2), measured within ~1-2 % of
    d = infinity already at d_eff = 8 (docs/dmft.md), where the real-symmetric process is ~+15 % off. The responses
    come from 16 of the 32 samples of a run (``response_samples``: the test error's precision is set by the forward
    samples, which are cheap)."""
    opts = {**DEMO_FLOW, **kw}
    if opts.get("response_samples") is not None:
        opts["response_samples"] = min(opts["response_samples"], opts["samples"])
    h, h0, growth = opts.pop("h"), opts.pop("h0"), opts.pop("growth")
    return flow_settings(t_max, h, h0=h0, growth=growth, **opts)


@dataclass(frozen=True, eq=False, repr=False)
class DMFTComparison(Result):
    """Gradient-flow DMFT (``flow``), its stationary limit (``stationary``) and finite-d GD (``gd``, several
    seeds) for one parameter set, plus the times of the side-by-side table and the wall-clock times.

    Labelled data (:meth:`to_xarray`): curve coordinate ``t`` (the DMFT's Heun grid) with ``dmft_train_error``,
    ``dmft_test_error`` and their ``*_se``; coordinate ``t_gd`` (= k eta) with the GD seed means
    ``gd_train_error``, ``gd_test_error``, their ``*_se`` (sample std over seeds / sqrt(seeds)) and, with coordinate
    ``seed``, ``gd_*_error_per_seed``; coordinate ``t_table`` with the table ``table_dmft_*``, ``table_gd_*`` (both
    linearly interpolated, exact on grid points) and their ``*_se``; scalars ``stationary_train_error``,
    ``stationary_test_error`` (t = infinity), ``d``, ``eta``, ``d_eff``, ``wall_time_dmft``, ``wall_time_gd``,
    ``wall_time_stationary``; attributes ``sensing`` and the DMFT's ``dmft_settings_json``."""

    curve_coord: ClassVar[str | None] = "t"

    params: ExtensiveWidthParams
    flow: FlowResult
    stationary: StationarySolution
    gd: GDSimulation
    table_times: np.ndarray
    wall_time_dmft: float = 0.0
    wall_time_gd: float = 0.0
    wall_time_stationary: float = 0.0

    def table(self) -> tuple[list[str], list[list[float]]]:
        """Header and rows (t, DMFT train, se, GD train, se, DMFT test, se, GD test, se) at ``table_times``,
        then the row t = inf with the stationary values (NaN standard errors and GD)."""
        ds = self.to_xarray()
        names = [f"table_{src}_{q}_error{se}" for q in ("train", "test") for src in ("dmft", "gd")
                 for se in ("", "_se")]
        header = ["t", *[n[len("table_"):] for n in names]]
        rows = [[float(t), *(float(ds[n].values[i]) for n in names)] for i, t in enumerate(self.table_times)]
        nan = float("nan")
        rows.append([math.inf, self.stationary.train_error, nan, nan, nan, self.stationary.test_error, nan, nan,
                     nan])
        return header, rows

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring)."""
        from dmft.dynamics.result import TEST_LONG_NAME, TRAIN_LONG_NAME

        f, g, tt = self.flow, self.gd, np.asarray(self.table_times, dtype=float)
        n = len(g.seeds)
        se_gd = f"standard error of the mean over the {n} GD seeds (sample std / sqrt({n}))"
        se_dmft = ("standard error of the DMFT curve (run-to-run std / sqrt(runs); jackknife over samples for "
                   "one run)")
        v: dict[str, tuple] = {}
        for q, long in (("train", TRAIN_LONG_NAME), ("test", TEST_LONG_NAME)):
            y, ys = getattr(f, q + "_error"), getattr(f, q + "_error_se")
            m, ms = getattr(g, q + "_mean"), getattr(g, q + "_sem")
            v[f"dmft_{q}_error"] = variable("t", y, "gradient-flow DMFT (d = infinity) " + long)
            v[f"dmft_{q}_error_se"] = variable("t", ys, se_dmft)
            v[f"gd_{q}_error"] = variable("t_gd", m, f"finite-d GD (d = {g.d}, {g.sensing} sensing) {long}, "
                                                     "mean over seeds")
            v[f"gd_{q}_error_se"] = variable("t_gd", ms, se_gd)
            v[f"gd_{q}_error_per_seed"] = variable(("seed", "t_gd"), getattr(g, q + "_error"),
                                                   f"finite-d GD {long}, per seed")
            v[f"table_dmft_{q}_error"] = variable("t_table", np.interp(tt, f.t, y), "DMFT " + long + " at t_table")
            v[f"table_dmft_{q}_error_se"] = variable("t_table", np.interp(tt, f.t, ys), se_dmft + " at t_table")
            v[f"table_gd_{q}_error"] = variable("t_table", np.interp(tt, g.t, m), "GD " + long + " at t_table")
            v[f"table_gd_{q}_error_se"] = variable("t_table", np.interp(tt, g.t, ms), se_gd + " at t_table")
            v[f"stationary_{q}_error"] = variable((), getattr(self.stationary, q + "_error"),
                                                  f"stationary (t = infinity) theory: {long}")
        v["d"] = variable((), g.d, "GD dimension d")
        v["eta"] = variable((), g.eta, "GD step size eta")
        v["d_eff"] = variable((), f.settings.d_eff, "size of the DMFT's matrix samples d_eff")
        v["wall_time_dmft"] = variable((), self.wall_time_dmft, "wall-clock time of the DMFT", "s")
        v["wall_time_gd"] = variable((), self.wall_time_gd, "wall-clock time of all GD runs", "s")
        v["wall_time_stationary"] = variable((), self.wall_time_stationary,
                                             "wall-clock time of the stationary solve", "s")
        coords = {"t": coordinate("t", f.t, "gradient-flow time t (DMFT Heun grid)"),
                  "t_gd": coordinate("t_gd", g.t, "GD time t = k eta"),
                  "seed": coordinate("seed", np.asarray(g.seeds, dtype=np.int64), "random seed of the GD run"),
                  "t_table": coordinate("t_table", tt, "times of the side-by-side table")}
        plain = dataclasses.asdict(f.settings)
        return self.dataset(v, coords, {"sensing": g.sensing, "dmft_settings_json": json.dumps(plain, default=str)})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON (``t`` and the DMFT curves, the scalars) plus ``t_gd`` with the GD curves, ``t_table``
        with the table values, ``seeds``, ``sensing``, ``table_header`` and ``table`` (:meth:`table`; the last row
        is t = inf, the string ``"inf"``, with the stationary values and ``None`` elsewhere)."""
        ds = self.to_xarray()
        header, rows = self.table()
        return {**super().to_json(), **self.json_along(ds, "t_gd"), **self.json_along(ds, "t_table"),
                "seeds": np.asarray(self.gd.seeds).tolist(), "sensing": self.gd.sensing,
                "table_header": header, "table": _jsonable(rows)}

    def summary(self) -> str:
        """Parameters, the side-by-side table (value ± standard error) and the wall-clock times."""
        header, rows = self.table()
        p = self.params
        lines = [f"{type(self).__name__}: alpha={p.alpha:g} kappa={p.kappa_label} kappa*={p.kappa_star:g} "
                 f"lam={p.lam:g} Delta={p.noise:g} sigma0={self.flow.settings.sigma0:g}; GD d={self.gd.d} "
                 f"({len(self.gd.seeds)} seeds, eta={self.gd.eta:g}, {self.gd.sensing})",
                 "  " + "  ".join(f"{c:>17}" for c in ("t", "DMFT train", "GD train", "DMFT test", "GD test"))]
        for r in rows:
            lines.append("  " + "  ".join(f"{c:>17}" for c in format_row(r)))
        lines.append(f"  wall time: DMFT {self.wall_time_dmft:.1f} s, stationary {self.wall_time_stationary:.2f} s, "
                     f"GD {self.wall_time_gd:.1f} s")
        text = "\n".join(lines)
        return text if len(text) < SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 4] + " ..."

    def plot(self, ax: Any = None, *, title: str | None = None) -> Any:
        """Train and test error vs t: DMFT lines with ± s.e. bands, GD seed means with error bars, the stationary
        values as dashed horizontal lines (:func:`validation.plots_dmft.plot_dmft_comparison`). Returns the axes."""
        from validation.plots_dmft import plot_dmft_comparison

        return plot_dmft_comparison(self, ax=ax, title=title)


def format_row(row: Sequence[float]) -> list[str]:
    """Cells ``t | DMFT train ± se | GD train ± se | DMFT test ± se | GD test ± se`` of a :meth:`DMFTComparison.table`
    row; the t = inf row reads ``t = inf (stationary theory)`` with the stationary values (5 decimals)."""
    t, vals = row[0], row[1:]
    if math.isinf(t):
        return ["t = inf (stationary theory)", f"{vals[0]:.5f}", "", f"{vals[4]:.5f}", ""]

    def cell(x: float, se: float) -> str:
        return f"{x:.4f}" if not math.isfinite(se) else f"{x:.4f} ± {se:.4f}"

    return [f"{t:g}", *(cell(vals[k], vals[k + 1]) for k in (0, 2, 4, 6))]


def compare_dmft(params: ExtensiveWidthParams, t_max: float = 10.0, flow: FlowSettings | None = None, *,
                 d: int = 70, seeds: int | Sequence[int] = 4, eta: float = 0.05, sensing: str = "wishart",
                 seed0: int = 0, table_times: Sequence[float] | None = None, keep_two_time: bool = False,
                 quiet: bool = True, backend: str = "numpy", device: str | None = None) -> DMFTComparison:
    r"""The d = infinity gradient-flow learning curves, their t = infinity limit, and finite-d GD beside them.

    * DMFT: :func:`dmft.dynamics.gradient_flow.solve_flow` with ``flow`` (default :func:`demo_flow_settings`
      (t_max)); its grid must end at ``t_max``. Two-time arrays are dropped unless ``keep_two_time``.
    * Stationary limit: :func:`dmft.stationary.solve_stationary` (train/test at t = infinity: spectral
      soft-thresholding of S* + sigma GOE, spec Sec. 2.4).
    * GD: :func:`validation.gd_simulator.simulate_gd_seeds` at dimension ``d``, step ``eta`` (t_max/eta steps; GD
      is explicit Euler of the same flow, O(eta) from it), ``sensing`` (default the real model, Wishart
      Z = (x x^T - I)/sqrt d, whose O(1/d) corrections are larger than GOE's, spec Sec. 4.3), ``seeds`` (a count
      from ``seed0``, or a list), initial scale sigma0 of the DMFT settings.

    ``table_times``: times of :meth:`DMFTComparison.table` (default :data:`DEMO_TABLE_TIMES` up to t_max, plus
    t_max). Everything is validated before the first solve (ParameterError naming the argument)."""
    import time

    t_max = check.positive("t_max", t_max)
    flow = demo_flow_settings(t_max) if flow is None else flow
    if not isinstance(flow, FlowSettings):
        raise ParameterError("flow", f"must be a FlowSettings (e.g. demo_flow_settings(t_max)), got {flow!r}")
    if abs(flow.times[-1] - t_max) > 1e-9 * t_max:
        raise ParameterError("flow", f"its grid ends at t = {flow.times[-1]:g}, must end at t_max = {t_max:g}")
    d = check.integer("d", d, lo=2)
    eta = check.positive("eta", eta)
    steps = int(round(t_max / eta))
    if steps < 1 or abs(steps * eta - t_max) > 1e-9 * t_max:
        raise ParameterError("eta", f"t_max / eta must be a whole number of GD steps, got {t_max:g} / {eta:g}")
    if sensing not in SENSING:
        raise ParameterError("sensing", f"must be one of {SENSING}, got {sensing!r}")
    seed_ids = check.seed_list("seeds", seeds, seed0)
    if table_times is None:
        table_times = [x for x in DEMO_TABLE_TIMES if x < t_max * (1 - 1e-12)] + [t_max]
    tt = check.array("table_times", table_times, shape=(None,), lo=0.0)
    if tt.size == 0 or tt.max() > t_max:
        raise ParameterError("table_times", f"valid range: a non-empty list of times in [0, {t_max:g}]")
    check_backend(backend, device)
    check_gd_memory(params, d, sensing)
    d_part, t_part = flow.memory_bytes()
    check_memory("d_eff" if d_part >= t_part else "t_max", d_part + t_part,
                 f"the DMFT run (d_eff = {flow.d_eff}, samples = {flow.samples}, {len(flow.steps)} steps)")
    t0 = time.perf_counter()
    stationary = solve_stationary(params)
    t1 = time.perf_counter()
    res = solve_flow(params, flow, quiet=quiet)
    t2 = time.perf_counter()
    if not keep_two_time:
        res = dataclasses.replace(res, C_S=None, R_S=None, C_e=None, B=None)
    gd = simulate_gd_seeds(params, d, eta, steps, seed_ids, sigma0=flow.sigma0, sensing=sensing, quiet=quiet,
                           backend=backend, device=device)
    t3 = time.perf_counter()
    return DMFTComparison(params=params, flow=res, stationary=stationary, gd=gd, table_times=tt,
                          wall_time_dmft=t2 - t1, wall_time_gd=t3 - t2, wall_time_stationary=t1 - t0)
