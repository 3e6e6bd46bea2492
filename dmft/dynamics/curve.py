r"""Accuracy-targeted front door: the d = infinity gradient-flow curve with an error bar that includes the bias.

:func:`solve_curve` runs the gradient-flow DMFT (:mod:`dmft.dynamics.gradient_flow`: explicit Heun, or for long times
the L-stable implicit SDIRK2 scheme of :mod:`dmft.dynamics.implicit_flow`, ``scheme``) at a ladder of d_eff
values (several independent runs each), extrapolates every time point linearly in 1/d_eff^q
(:func:`dmft.dynamics.extrapolate.fit_inverse_d`; q = 2 for the default complex-Hermitian effective process,
``field="complex"``, whose finite-d_eff bias is O(1/d_eff^2); q = 1 for the real one) and estimates the time-step
error from runs on the halved grid
(same seeds as runs of the smallest d_eff: common random numbers, so the difference is mostly step error):

    y(t)          = a(t)                               from y_d(t) = a(t) + b(t)/d_eff^q  (weights 1/se_d^2),
    se_stat(t)    = f_t se(a) max(1, sqrt(chi2/dof))  (Birge ratio: inflated when the 1/d_eff^q model misfits;
                                                       f_t = t_{0.975, nu}/z_{0.975}: Student-t factor of the
                                                       pooled run-to-run variance with nu = sum_d (runs_d - 1) dof),
    err_step(t)   = (4/3) |mean (y_h(t) - y_{h/2}(t))|  (Heun is 2nd order: y_h - y_GF ~= (4/3)(y_h - y_{h/2});
                                                       mean over ``step_pairs`` seed-paired runs at the smallest
                                                       d_eff; the pairing cancels most, not all, Monte-Carlo noise),
    se_total(t)^2 = se_stat(t)^2 + err_step(t)^2       (reported as ``train_error_se`` / ``test_error_se``).

Adaptive loop: start with ``runs`` runs per d_eff; while the largest relative total error over the curve,
max_t se_total/|y|, exceeds ``target_error``: if the step part alone is above target/2 by more than twice its
own standard error over the seed pairs (so that Monte-Carlo noise in the difference does not trigger it), halve
the grid (and redo the ladder; at most ``max_halvings`` times); otherwise add runs (statistical part
~ 1/sqrt(runs)) up to ``max_runs`` per d_eff. The result says whether the target was reached (``reached``) and
the accuracy achieved (``achieved_error``).
Per-d_eff standard errors come from the run-to-run spread (runs >= 2), not the within-run jackknife (which misses
the common-mode feedback of the kernels, docs/dmft.md), pooled over d_eff with the variance model
var_d = v(t) (d_min/d)^2 (relative fluctuations O(1/d_eff)), so that few runs per d_eff still give a usable
variance estimate.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy import stats

from dmft.dynamics.extrapolate import fit_inverse_d
from dmft.dynamics.gradient_flow import FlowResult, FlowSettings, curve_variables, flow_grid, halved, solve_flow
from dmft.dynamics.settings import step_bound
from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import ParameterError
from odes.common.result import Result, coordinate, variable

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

NAMES = ("train_error", "test_error")


@dataclass(frozen=True, eq=False, repr=False)
class CurveResult(Result):
    """d = infinity gradient-flow curve (see module docstring). ``*_se``: total standard error (statistical with
    Birge inflation + time-step bias); ``*_stat_se``, ``*_step_error``: the two parts; ``chi2_dof_*``: chi^2/dof of
    the 1/d_eff fit per time; ``d_eff``, ``runs`` (per d_eff), ``steps`` (the grid h_k): what was used.

    Labelled data (:meth:`to_xarray`): curve coordinate ``t``; every curve above along ``t``; ``d_eff``/``runs``
    along ``rung`` (the d_eff ladder); the scalars ``target_error``, ``achieved_error``, ``reached``, ``wall_time``."""

    curve_coord: ClassVar[str | None] = "t"

    params: ExtensiveWidthParams
    t: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    train_error_se: np.ndarray
    test_error_se: np.ndarray
    train_error_stat_se: np.ndarray
    test_error_stat_se: np.ndarray
    train_error_step_error: np.ndarray
    test_error_step_error: np.ndarray
    chi2_dof_train: np.ndarray
    chi2_dof_test: np.ndarray
    d_eff: tuple
    runs: tuple
    steps: tuple
    target_error: float
    achieved_error: float
    reached: bool
    wall_time: float

    def curves(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ("t", "train_error", "test_error", "train_error_se",
                                                        "test_error_se")}

    def to_xarray(self) -> xr.Dataset:
        variables = curve_variables(self)
        for name in NAMES:
            variables[f"{name}_stat_se"] = variable("t", getattr(self, f"{name}_stat_se"),
                                                    f"statistical part of {name}_se")
            variables[f"{name}_step_error"] = variable("t", getattr(self, f"{name}_step_error"),
                                                       f"time-step bias estimate of {name} (halved-grid difference)")
        variables["chi2_dof_train"] = variable("t", self.chi2_dof_train, "chi^2/dof of the 1/d_eff fit (train)")
        variables["chi2_dof_test"] = variable("t", self.chi2_dof_test, "chi^2/dof of the 1/d_eff fit (test)")
        variables["d_eff"] = variable("rung", np.asarray(self.d_eff), "d_eff of each rung of the ladder")
        variables["runs"] = variable("rung", np.asarray(self.runs), "runs at each d_eff")
        variables["target_error"] = variable((), self.target_error, "requested relative accuracy")
        variables["achieved_error"] = variable((), self.achieved_error, "achieved relative accuracy (max over t)")
        variables["reached"] = variable((), int(self.reached), "1 if the target accuracy was reached")
        variables["wall_time"] = variable((), self.wall_time, "wall-clock time", "s")
        coords = {"t": coordinate("t", self.t, "gradient-flow time t"),
                  "rung": coordinate("rung", np.arange(len(self.d_eff)), "index of the d_eff ladder rung")}
        return self.dataset(variables, coords)

    def diagnostics(self) -> dict:
        """Extrapolation and accuracy diagnostics (JSON-friendly)."""
        return {"d_eff": list(self.d_eff), "runs": list(self.runs), "n_steps": len(self.steps),
                "h_max": float(max(self.steps)), "h_min": float(min(self.steps)),
                "chi2_dof_train_max": float(np.max(self.chi2_dof_train)),
                "chi2_dof_test_max": float(np.max(self.chi2_dof_test)),
                "target_error": self.target_error, "achieved_error": self.achieved_error, "reached": self.reached,
                "step_error_rel_max": float(max(_rel(self.train_error_step_error, self.train_error).max(),
                                                _rel(self.test_error_step_error, self.test_error).max())),
                "wall_time_s": self.wall_time}


def _rel(e: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(e) / np.maximum(np.abs(y), 1e-300)


def _pool(results: dict[int, list[FlowResult]], name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-d_eff means of ``name`` and their standard errors from a pooled variance model: the run-to-run
    variance of one run at d_eff is v(t) (d_min/d_eff)^2 (self-averaging: O(1/d_eff) fluctuations), v estimated
    from all runs of all d_eff together, dof = sum_d (R_d - 1). Returns (means (n_d, T), se (n_d, T), dof)."""
    ds = sorted(results)
    dmin = ds[0]
    ss, dof, means, ses = 0.0, 0, [], []
    for d in ds:
        y = np.array([getattr(r, name) for r in results[d]])
        means.append(y.mean(axis=0))
        ss = ss + ((y - y.mean(axis=0)) ** 2).sum(axis=0) * (d / dmin) ** 2
        dof += len(y) - 1
    v = ss / dof
    for d in ds:
        ses.append(np.sqrt(v * (dmin / d) ** 2 / len(results[d])))
    return np.array(means), np.array(ses), dof


#: default (d_eff ladder, samples per run) of each field (Heun scheme)
LADDERS = {"complex": ((8, 12, 16), 16), "real": ((12, 16, 24), 4)}
#: the same for the implicit SDIRK2 scheme, whose stage matrices are p x p (p = d^2 or d(d+1)/2): smaller d_eff,
#: more samples, responses from 8 of them
LADDERS_SDIRK2 = {"complex": ((6, 8, 10), 32), "real": ((8, 12, 16), 8)}
SDIRK2_RESPONSE_SAMPLES = 8
#: candidate d_eff of the implicit scheme's ladder (see :func:`sdirk2_ladder`)
SDIRK2_CANDIDATES = (6, 8, 10, 12, 16)


def sdirk2_ladder(params: ExtensiveWidthParams, field: str) -> tuple[int, ...]:
    """Default d_eff ladder of the implicit scheme: the three smallest of :data:`SDIRK2_CANDIDATES` at which the
    teacher and student widths kappa* d_eff and kappa d_eff are integers (a rounded width, e.g. kappa* = 1/4 at
    d_eff = 6, changes the rank of S* and biases that rung by ~25 %), else :data:`LADDERS_SDIRK2`."""
    def whole(x: float) -> bool:
        return math.isinf(x) or abs(x - round(x)) < 1e-9

    ok = [d for d in SDIRK2_CANDIDATES if whole(params.kappa_star * d) and whole(params.kappa * d)]
    return tuple(ok[:3]) if len(ok) >= 3 else LADDERS_SDIRK2[field][0]


#: largest default SDIRK2 step (h = t_max/40 up to this)
SDIRK2_H_MAX = 100.0
#: "auto" picks the implicit scheme beyond this final time (Heun's steps are capped by its explicit stability bound)
AUTO_IMPLICIT_T = 10.0


def solve_curve(params: ExtensiveWidthParams, t_max: float, target_error: float = 0.02, *,
                d_eff: tuple[int, ...] | None = None, samples: int | None = None, runs: int = 3,
                max_runs: int = 16, field: str = "complex", scheme: str = "auto",
                h: float | None = None, h0: float | None = None, growth: float = 1.15, sigma0: float = 1.0,
                seed: int = 0, max_wall: float | None = None, max_halvings: int = 2, step_pairs: int = 3,
                quiet: bool = True) -> CurveResult:
    """The d = infinity gradient-flow train/test curve on [0, t_max] to relative accuracy ``target_error`` (one
    standard error, bias included; module docstring). ``h``: largest step (default min(0.1, 0.8 x explicit
    stability bound)); ``h0``: first step (default h/5, graded grid growing by ``growth``); the grid is halved at most
    ``max_halvings`` times (the step-error estimate carries Monte-Carlo noise of its own). ``max_wall``: stop
    adding runs after this many seconds (the result then has ``reached`` False). ``field``: "complex" (default;
    the Hermitian beta = 2 effective process with complex-Wishart teacher/init, finite-d_eff bias O(1/d_eff^2),
    extrapolated in 1/d_eff^2 on the ladder (8, 12, 16) with 16 samples per run) or "real" (beta = 1, bias
    O(1/d_eff), extrapolated in 1/d_eff on (12, 16, 24) with 4 samples). ``scheme``: "heun" (explicit, steps below
    the stability bound), "sdirk2" (L-stable implicit, :mod:`dmft.dynamics.implicit_flow`: steps growing without
    bound, default h = max(0.5, min(t_max/40, 100)), h0 = 0.05, 32 samples complex / 8 real, ladder
    :func:`sdirk2_ladder`, (6, 8, 10) where the widths allow) or "auto" (sdirk2 for t_max > 10). Raises
    ParameterError."""
    t_max = check.positive("t_max", t_max)
    if field not in LADDERS:
        raise ParameterError("field", f"must be one of {tuple(LADDERS)}, got {field!r}")
    if scheme not in ("auto", "heun", "sdirk2"):
        raise ParameterError("scheme", f"must be one of ('auto', 'heun', 'sdirk2'), got {scheme!r}")
    if scheme == "auto":
        scheme = "sdirk2" if t_max > AUTO_IMPLICIT_T else "heun"
    ladders = LADDERS_SDIRK2 if scheme == "sdirk2" else LADDERS
    if d_eff is None:
        d_eff = sdirk2_ladder(params, field) if scheme == "sdirk2" else ladders[field][0]
    samples = ladders[field][1] if samples is None else check.integer("samples", samples, lo=2)
    response_samples = min(samples, SDIRK2_RESPONSE_SAMPLES) if scheme == "sdirk2" else None
    power = 2.0 if field == "complex" else 1.0
    ensemble = "wishart" if field == "complex" else "quantile"
    target_error = check.real("target_error", target_error, lo=0.0, lo_open=True, hi=1.0)
    ds = tuple(sorted({check.integer("d_eff", d, lo=4) for d in d_eff}))
    if len(ds) < 2:
        raise ParameterError("d_eff", "valid range: at least two distinct values >= 4 (1/d_eff extrapolation)")
    runs = check.integer("runs", runs, lo=2)
    step_pairs = min(check.integer("step_pairs", step_pairs, lo=1), runs)  # pairs reuse the first runs
    max_runs = check.integer("max_runs", max_runs, lo=2)
    runs = min(runs, max_runs)
    if scheme == "sdirk2":
        h = max(0.5, min(t_max / 40.0, SDIRK2_H_MAX)) if h is None else check.positive("h", h)
        h0 = 0.05 if h0 is None else check.positive("h0", h0)
    else:
        bound = step_bound(params.alpha, params.kappa_star)
        h = min(0.1, 0.8 * bound) if h is None else check.positive("h", h)
        if h >= bound:
            raise ParameterError("h", f"valid range: h < {bound:.6g} (explicit stability bound)")
        h0 = h / 5.0 if h0 is None else check.positive("h0", h0)
    t_start = time.perf_counter()
    root = np.random.SeedSequence(seed)
    halvings = 0
    while True:
        base = FlowSettings(steps=tuple(flow_grid(t_max, h, min(h0, h), growth)), d_eff=ds[0], samples=samples,
                            sigma0=sigma0, seed=0, field=field, ensemble=ensemble, scheme=scheme,
                            response_samples=response_samples)
        seeds = {d: [] for d in ds}
        results: dict[int, list[FlowResult]] = {d: [] for d in ds}
        n_target = runs
        step_part = None
        while True:
            while any(len(results[d]) < n_target for d in ds):  # round robin over the ladder
                if max_wall is not None and min(len(r) for r in results.values()) >= 2 and \
                        time.perf_counter() - t_start > max_wall:
                    break
                for d in ds:
                    if len(results[d]) >= n_target:
                        continue
                    ss = root.spawn(1)[0]
                    seeds[d].append(ss)
                    st = dataclasses.replace(base, d_eff=d)
                    results[d].append(solve_flow(params, st, quiet=quiet, seedseq=np.random.SeedSequence(
                        ss.entropy, spawn_key=ss.spawn_key)))
            if step_part is None:  # time-step error: halved grid, same seeds as the first smallest-d_eff runs
                diffs = {name: [] for name in NAMES}
                for s0, coarse in list(zip(seeds[ds[0]], results[ds[0]]))[:step_pairs]:
                    fine = solve_flow(params, halved(dataclasses.replace(base, d_eff=ds[0])), quiet=quiet,
                                      seedseq=np.random.SeedSequence(s0.entropy, spawn_key=s0.spawn_key))
                    for name in NAMES:
                        diffs[name].append(getattr(coarse, name) - getattr(fine, name)[::2])
                step_part = {name: (4.0 / 3.0) * np.abs(np.mean(diffs[name], axis=0)) for name in NAMES}
                # the part of it that is significant against its own Monte-Carlo noise (decides halving)
                step_sig = {name: np.maximum(0.0, step_part[name] - (4.0 / 3.0) * 2.0 * (
                    np.std(diffs[name], axis=0, ddof=1) / math.sqrt(len(diffs[name]))
                    if len(diffs[name]) > 1 else 0.0)) for name in NAMES}
            fit = {}
            for name in NAMES:
                y, s, dof_runs = _pool(results, name)
                a, se, chi2 = fit_inverse_d(np.array(ds, dtype=float), y, s, power)
                dof = len(ds) - 2
                chi2_dof = chi2 / dof if dof > 0 else np.zeros_like(chi2)
                # Student-t inflation for a variance estimated with dof_runs degrees of freedom
                tfac = float(stats.t.ppf(0.975, dof_runs) / stats.norm.ppf(0.975))
                stat = tfac * se * np.maximum(1.0, np.sqrt(chi2_dof))
                fit[name] = (a, stat, chi2_dof, np.sqrt(stat ** 2 + step_part[name] ** 2))
            rel_tot = max(_rel(fit[n][3], fit[n][0]).max() for n in NAMES)
            rel_step = max(_rel(step_part[n], fit[n][0]).max() for n in NAMES)
            rel_step_sig = max(_rel(step_sig[n], fit[n][0]).max() for n in NAMES)
            rel_stat = max(_rel(fit[n][1], fit[n][0]).max() for n in NAMES)
            out_of_time = max_wall is not None and time.perf_counter() - t_start > max_wall
            halve = rel_step_sig > target_error / 2 and halvings < max_halvings
            if rel_tot <= target_error or halve or n_target >= max_runs or out_of_time:
                break
            want = target_error ** 2 - rel_step ** 2
            factor = (rel_stat ** 2 / max(want, 1e-300))
            n_target = min(max_runs, max(n_target + 1, math.ceil(n_target * factor)))
        if halve and not out_of_time:
            h, h0 = h / 2.0, h0 / 2.0
            halvings += 1
            continue
        break
    return CurveResult(params=params, t=base.times, **{name: fit[name][0] for name in NAMES},
                       **{name + "_se": fit[name][3] for name in NAMES},
                       **{name + "_stat_se": fit[name][1] for name in NAMES},
                       **{name + "_step_error": step_part[name] for name in NAMES},
                       chi2_dof_train=fit["train_error"][2], chi2_dof_test=fit["test_error"][2], d_eff=ds,
                       runs=tuple(len(results[d]) for d in ds), steps=base.steps, target_error=target_error,
                       achieved_error=float(rel_tot), reached=bool(rel_tot <= target_error),
                       wall_time=time.perf_counter() - t_start)

