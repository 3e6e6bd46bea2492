r"""Accuracy-targeted front door: the d = infinity gradient-flow curve with an error bar that includes the bias.

:func:`solve_curve` runs the gradient-flow DMFT (:mod:`dmft.dynamics.gradient_flow`: explicit Heun, or for long times
the L-stable implicit SDIRK2 scheme of :mod:`dmft.dynamics.implicit_flow`, ``scheme``) at a ladder of d_eff
values (several independent runs each), extrapolates every time point linearly in 1/d_eff^q
(:func:`dmft.dynamics.extrapolate.fit_inverse_d`; q = 2 for the default complex-Hermitian effective process,
``field="complex"``, whose finite-d_eff bias is O(1/d_eff^2); q = 1 for the real one) and estimates the time-step
error from seed-paired runs on a partner grid (the same seeds as runs of the smallest d_eff; with the implicit scheme
also the same innovations and probe signs, ``noise_parent``):

    y(t)          = a(t)                               from y_d(t) = a(t) + b(t)/d_eff^q  (weights 1/se_d^2),
    se_stat(t)    = f_t se(a) max(1, sqrt(chi2/dof))  (Birge ratio: inflated when the 1/d_eff^q model misfits;
                                                       f_t = t_{0.975, nu}/z_{0.975}: Student-t factor of the
                                                       pooled run-to-run variance with nu = sum_d (runs_d - 1) dof),
    err_step(t)   = |mean (y_{2h}(t) - y_h(t))| / 3        (SDIRK2: the merged grid, steps 2h, cheap and unconditionally
                                                       stable; both schemes are 2nd order, y_h - y_GF ~= (y_2h - y_h)/3)
                  = (4/3) |mean (y_h(t) - y_{h/2}(t))|  (Heun, whose steps are capped by stability: the halved grid;
                                                       y_h - y_GF ~= (4/3)(y_h - y_{h/2})); mean over the seed pairs
                                                       (``step_pairs`` to start, more when their noise dominates),
    se_total(t)^2 = se_stat(t)^2 + err_step(t)^2       (reported as ``train_error_se`` / ``test_error_se``).

Stationary control variate (implicit scheme, default on where :func:`dmft.stationary.solve_stationary` has a
solution): every run is continued past t_max to T_inf (:func:`continuation_steps`) and z = y_run(T_inf) -
y_stationary, whose mean vanishes as d_eff -> infinity, corrects it by regression, per time, with one slope pooled
over the rungs (:func:`pool_rungs`); the intercept of the 1/d_eff^q fit is unchanged, its variance falls by
1 - rho^2 (rho: correlation of y(t) with y(T_inf) over the runs; measured on set B: test error 70-1000x less
variance for t >= 10, docs/dmft.md). The step-error pairs get the same correction.

Adaptive loop: start with ``runs`` runs per d_eff; while the largest relative total error over the curve, max_t
se_total/|y| (or its value at ``target_at``), exceeds ``target_error``: if the step part alone is above target/2 by
more than twice its own standard error over the seed pairs (so that Monte-Carlo noise in the difference does not
trigger it), halve the grid (and redo the ladder; at most ``max_halvings`` times); otherwise add runs (statistical
part ~ 1/sqrt(runs)) up to ``max_runs`` per d_eff, and, if the step part is above target/2 without being significant
(the pairs' noise), step pairs (at most doubling per round) until its standard error is about target/4. The result
says whether the target was reached (``reached``) and the accuracy achieved (``achieved_error``).
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
from dmft.dynamics.gradient_flow import FlowSettings, curve_variables, flow_grid, halved, merged, solve_flow
from dmft.dynamics.settings import step_bound
from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import DivergenceError, ParameterError
from odes.common.result import Result, coordinate, variable

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

NAMES = ("train_error", "test_error")


@dataclass(frozen=True, eq=False, repr=False)
class CurveResult(Result):
    """d = infinity gradient-flow curve (see module docstring). ``*_se``: total standard error (statistical with
    Birge inflation + time-step bias); ``*_stat_se``, ``*_step_error``: the two parts; ``chi2_dof_*``: chi^2/dof of
    the 1/d_eff fit per time; ``d_eff``, ``runs`` (per d_eff), ``steps`` (the grid h_k): what was used;
    ``stationary_cv``: "on" or why the stationary control variate was off, ``cv_beta_*`` its slopes per time;
    ``target_at``: the time at which the accuracy was judged (None: the max over the curve).

    Labelled data (:meth:`to_xarray`): curve coordinate ``t``; every curve above along ``t``; ``d_eff``/``runs``
    along ``rung`` (the d_eff ladder); the scalars ``target_error``, ``achieved_error``, ``reached``, ``wall_time``
    and ``target_at`` (if set); the attribute ``stationary_cv``."""

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
    stationary_cv: str = "off"
    cv_beta_train: np.ndarray | None = None
    cv_beta_test: np.ndarray | None = None
    target_at: float | None = None

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
        for name, beta in (("train", self.cv_beta_train), ("test", self.cv_beta_test)):
            if beta is not None:
                variables[f"cv_beta_{name}"] = variable("t", beta, f"slope of the stationary control variate ({name})")
        if self.target_at is not None:
            variables["target_at"] = variable((), self.target_at, "time at which the target accuracy was judged")
        coords = {"t": coordinate("t", self.t, "gradient-flow time t"),
                  "rung": coordinate("rung", np.arange(len(self.d_eff)), "index of the d_eff ladder rung")}
        return self.dataset(variables, coords, {"stationary_cv": self.stationary_cv})

    def diagnostics(self) -> dict:
        """Extrapolation and accuracy diagnostics (JSON-friendly)."""
        return {"d_eff": list(self.d_eff), "runs": list(self.runs), "n_steps": len(self.steps),
                "h_max": float(max(self.steps)), "h_min": float(min(self.steps)),
                "chi2_dof_train_max": float(np.max(self.chi2_dof_train)),
                "chi2_dof_test_max": float(np.max(self.chi2_dof_test)),
                "target_error": self.target_error, "achieved_error": self.achieved_error, "reached": self.reached,
                "step_error_rel_max": float(max(_rel(self.train_error_step_error, self.train_error).max(),
                                                _rel(self.test_error_step_error, self.test_error).max())),
                "wall_time_s": self.wall_time, "stationary_cv": self.stationary_cv, "target_at": self.target_at}


def _rel(e: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(e) / np.maximum(np.abs(y), 1e-300)


@dataclass(frozen=True)
class _Run:
    """One run of the ladder on the main grid: ``train_error``/``test_error`` (K + 1,) and, with the stationary
    control variate, each output's values at the last two continuation points (``late``: name -> (y(T_prev),
    y(T_inf)))."""

    train_error: np.ndarray
    test_error: np.ndarray
    late: dict | None = None


def pool_rungs(y: dict[int, np.ndarray], z: dict[int, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Per-d_eff means of one output and their standard errors, optionally with a run-level control variate.

    ``y[d]``: (R_d, T) values of the R_d runs at d_eff = d; ``z[d]``: (R_d,) a statistic of each run with known
    mean zero up to O(1/d_eff^q) (:func:`solve_curve`: y_run(T_inf) - y_stationary). Variance model: one run at
    d_eff has variance v(t) (d_min/d_eff)^2 (self-averaging: O(1/d_eff) relative fluctuations), so the runs of all
    rungs estimate v together with weights w_d = (d/d_min)^2. Without ``z``:
    mean_d = ybar_d, v = sum_d w_d sum_r (y - ybar_d)^2 / nu, nu = sum_d (R_d - 1). With ``z`` (regression
    estimator, one slope shared by the rungs, per time):

        beta = sum_d w_d sum_r (y - ybar_d)(z - zbar_d) / sum_d w_d sum_r (z - zbar_d)^2,
        mean_d = ybar_d - beta zbar_d,                     v = sum_d w_d sum_r (res)^2 / nu,  nu = sum_d (R_d - 1) - 1,
        se_d^2 = v (d_min/d)^2 / R_d + zbar_d^2 var(beta),  var(beta) = v / sum_d w_d sum_r (z - zbar_d)^2.

    If E z_d = c/d^q (the finite-d_eff bias of the late-time value), E mean_d = a + (b - beta c)/d^q: still linear
    in 1/d^q with the same intercept a, so the extrapolation is unchanged. Returns (means (n_d, T), se (n_d, T), nu,
    beta (T,) or None)."""
    ds = sorted(y)
    dmin = ds[0]
    w = {d: (d / dmin) ** 2 for d in ds}
    yc = {d: y[d] - y[d].mean(axis=0) for d in ds}
    nu = sum(len(y[d]) - 1 for d in ds)
    beta = None
    if z is None:
        means = [y[d].mean(axis=0) for d in ds]
        v = sum(w[d] * (yc[d] ** 2).sum(axis=0) for d in ds) / nu
        ses = [np.sqrt(v / w[d] / len(y[d])) for d in ds]
        return np.array(means), np.array(ses), nu, beta
    zc = {d: z[d] - z[d].mean() for d in ds}
    szz = sum(w[d] * float(zc[d] @ zc[d]) for d in ds)
    nu -= 1
    if szz <= 0.0 or nu < 1:
        raise ParameterError("runs", "the stationary control variate needs >= 2 runs per d_eff with distinct late "
                                     "values")
    beta = sum(w[d] * (zc[d] @ yc[d]) for d in ds) / szz
    v = sum(w[d] * ((yc[d] - np.outer(zc[d], beta)) ** 2).sum(axis=0) for d in ds) / nu
    means = [y[d].mean(axis=0) - beta * z[d].mean() for d in ds]
    ses = [np.sqrt(v / w[d] / len(y[d]) + z[d].mean() ** 2 * v / szz) for d in ds]
    return np.array(means), np.array(ses), nu, beta


def continuation_steps(t_max: float, h_last: float, h_cap: float) -> list[float]:
    """Steps after the main grid for the stationary control variate: doubling from the last step, h_j = min(h_last
    2^j, h_cap), until t >= T_inf = max(:data:`CONTINUATION_T`, 20 t_max) (11 steps from h = 0.5 to T_inf = 1000 at
    h_cap = 250). The implicit scheme has no stability bound and its fixed points are the flow's stationary points
    for any step, but a step must keep I + gamma h A positive definite (A -> 0 only as the run converges): set B
    refused h = 1000 at t = 1300, accepted 400."""
    t_inf = max(CONTINUATION_T, 20.0 * t_max)
    out, t, hj = [], t_max, h_last
    while t < t_inf:
        hj = min(2.0 * hj, h_cap)
        out.append(hj)
        t += hj
    return out


#: default (d_eff ladder, samples per run) of each field (Heun scheme)
LADDERS = {"complex": ((8, 12, 16), 16), "real": ((12, 16, 24), 4)}
#: the same for the implicit SDIRK2 scheme, whose stage matrices are p x p (p = d^2 or d(d+1)/2): smaller d_eff,
#: more samples (each carries its responses)
LADDERS_SDIRK2 = {"complex": ((4, 6, 8), 32), "real": ((8, 12, 16), 8)}
#: candidate d_eff of the implicit scheme's ladder per field (see :func:`sdirk2_ladder`). Complex: from d_eff = 4 on;
#: set B, t = 60, 2 %: the ladder 4/6/8 reached train 1.75 % / test 0.11 % in 140 CPU s, 6/8/10 train 2.32 % / test
#: 0.11 % in 628 s (8x less variance per CPU second; the per-run spread grows only ~1/d_eff towards small d_eff while
#: the cost falls as ~d_eff^3, and the 1/d_eff^2 lever arm is longer). Real (bias O(1/d_eff)): from 6.
SDIRK2_CANDIDATES = {"complex": (4, 6, 8, 10, 12, 16), "real": (6, 8, 10, 12, 16)}


def sdirk2_ladder(params: ExtensiveWidthParams, field: str) -> tuple[int, ...]:
    """Default d_eff ladder of the implicit scheme: the three smallest of :data:`SDIRK2_CANDIDATES` (of the field) at
    which the teacher and student widths kappa* d_eff and kappa d_eff are integers (a rounded width, e.g.
    kappa* = 1/4 at d_eff = 6, changes the rank of S* and biases that rung by ~25 %), else :data:`LADDERS_SDIRK2`."""
    def whole(x: float) -> bool:
        return math.isinf(x) or abs(x - round(x)) < 1e-9

    ok = [d for d in SDIRK2_CANDIDATES[field] if whole(params.kappa_star * d) and whole(params.kappa * d)]
    return tuple(ok[:3]) if len(ok) >= 3 else LADDERS_SDIRK2[field][0]


#: largest default SDIRK2 step (h = t_max/40 up to this)
SDIRK2_H_MAX = 100.0
#: "auto" picks the implicit scheme from this final time on (Heun's steps are capped by its explicit stability bound;
#: at t_max = 10 the implicit scheme with the stationary control variate gave train 2.4 % / test 0.7 % against Heun's
#: 3.0 % / 3.9 % for the same CPU time, benchmarks/bench_dmft_accuracy.py)
AUTO_IMPLICIT_T = 5.0
#: the stationary control variate's continuation ends at T_inf = max(this, 20 t_max)
CONTINUATION_T = 1000.0
#: largest continuation step, or T_inf/8 if larger (so that t_max = 500 continues on ~13 steps, not ~40); divided by
#: 4 once if a run refuses it, then the control variate is off
CONTINUATION_H_MAX = 250.0


def _stationary_values(params: ExtensiveWidthParams) -> dict[str, float] | None:
    """Train/test error of the stationary theory (:func:`dmft.stationary.solve_stationary`), or None where it has no
    solution or does not converge (the control variate is then off)."""
    from dmft.stationary import solve_stationary
    from odes.common.errors import QuadnetError

    try:
        sol = solve_stationary(params)
    except QuadnetError:
        return None
    vals = {name: float(getattr(sol, name)) for name in NAMES}
    return vals if all(math.isfinite(v) for v in vals.values()) else None


def _continued(base: FlowSettings, t_max: float, h_cap: float) -> FlowSettings:
    """``base`` followed by :func:`continuation_steps`."""
    return dataclasses.replace(base, steps=base.steps + tuple(continuation_steps(t_max, base.steps[-1], h_cap)),
                               check_stability=False)


def _one_run(params: ExtensiveWidthParams, st: FlowSettings, ss: np.random.SeedSequence, n_main: int,
             quiet: bool) -> _Run:
    """Run ``st`` with the seed ``ss``; keep the main grid (first ``n_main`` points) and, if ``st`` extends beyond it
    (continuation), the last two points."""
    r = solve_flow(params, st, quiet=quiet, seedseq=np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key))
    late = None
    if len(r.t) > n_main:
        late = {name: (float(getattr(r, name)[-2]), float(getattr(r, name)[-1])) for name in NAMES}
    return _Run(train_error=r.train_error[:n_main], test_error=r.test_error[:n_main], late=late)


def solve_curve(params: ExtensiveWidthParams, t_max: float, target_error: float = 0.02, *,
                d_eff: tuple[int, ...] | None = None, samples: int | None = None, runs: int = 3,
                max_runs: int = 16, field: str = "complex", scheme: str = "auto",
                h: float | None = None, h0: float | None = None, growth: float = 1.15, sigma0: float = 1.0,
                seed: int = 0, max_wall: float | None = None, max_halvings: int = 2, step_pairs: int = 3,
                stationary_cv: bool | None = None, target_at: float | None = None,
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
    :func:`sdirk2_ladder`, (4, 6, 8) complex where the widths allow) or "auto" (sdirk2 for t_max >= 5).
    ``stationary_cv`` (sdirk2 only; default: on when the stationary theory has a solution): continue every run to
    T_inf >> t_max and use y_run(T_inf) - y_stationary as a run-level control variate (module docstring).
    ``target_at``: judge the accuracy at this time only (the grid point nearest to it) instead of the max over the
    curve. Raises ParameterError."""
    t_max = check.positive("t_max", t_max)
    if field not in LADDERS:
        raise ParameterError("field", f"must be one of {tuple(LADDERS)}, got {field!r}")
    if scheme not in ("auto", "heun", "sdirk2"):
        raise ParameterError("scheme", f"must be one of ('auto', 'heun', 'sdirk2'), got {scheme!r}")
    if scheme == "auto":
        scheme = "sdirk2" if t_max >= AUTO_IMPLICIT_T else "heun"
    if target_at is not None:
        target_at = check.real("target_at", target_at, lo=0.0, hi=t_max)
    if stationary_cv and scheme != "sdirk2":
        raise ParameterError("stationary_cv", "valid only with scheme 'sdirk2' (the continuation to T_inf needs the "
                                              "implicit scheme's unbounded steps)")
    ladders = LADDERS_SDIRK2 if scheme == "sdirk2" else LADDERS
    if d_eff is None:
        d_eff = sdirk2_ladder(params, field) if scheme == "sdirk2" else ladders[field][0]
    samples = ladders[field][1] if samples is None else check.integer("samples", samples, lo=2)
    response_samples = None  # responses from every sample
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
    stat = None
    cv_note = "off"
    if scheme == "sdirk2" and stationary_cv is not False:
        stat = _stationary_values(params)
        cv_note = "on" if stat is not None else "off: the stationary theory has no solution for these parameters"
        if stat is None and stationary_cv:
            raise ParameterError("stationary_cv", "the stationary theory has no solution for these parameters")
    t_start = time.perf_counter()
    root = np.random.SeedSequence(seed)
    halvings = 0
    while True:
        main_steps = tuple(flow_grid(t_max, h, min(h0, h), growth))
        base = FlowSettings(steps=main_steps, d_eff=ds[0], samples=samples, sigma0=sigma0, seed=0, field=field,
                            ensemble=ensemble, scheme=scheme, response_samples=response_samples)
        n_main = len(main_steps) + 1
        sel = np.arange(n_main) if target_at is None else np.array([int(np.argmin(np.abs(base.times - target_at)))])
        h_cap = h_cap0 = max(CONTINUATION_H_MAX, max(CONTINUATION_T, 20.0 * t_max) / 8.0)

        cont = base if stat is None else _continued(base, t_max, h_cap)
        seeds = {d: [] for d in ds}
        results: dict[int, list[_Run]] = {d: [] for d in ds}
        n_target, n_pairs = runs, step_pairs
        pairs: list[tuple[_Run, _Run]] = []
        while True:
            want_runs = {d: n_target for d in ds}
            want_runs[ds[0]] = max(n_target, n_pairs)  # each step pair reuses a run of the smallest d_eff
            while any(len(results[d]) < want_runs[d] for d in ds):  # round robin over the ladder
                if max_wall is not None and min(len(r) for r in results.values()) >= 2 and \
                        time.perf_counter() - t_start > max_wall:
                    break
                for d in ds:
                    if len(results[d]) >= want_runs[d]:
                        continue
                    ss = root.spawn(1)[0]
                    seeds[d].append(ss)
                    while True:
                        try:
                            results[d].append(_one_run(params, dataclasses.replace(cont, d_eff=d), ss, n_main, quiet))
                            break
                        except DivergenceError:
                            if stat is None:
                                raise
                            # a continuation step the implicit stage refuses: smaller steps once, then no control
                            # variate (the main grid alone)
                            if h_cap == h_cap0:
                                h_cap /= 4.0
                                cont = _continued(base, t_max, h_cap)
                            else:
                                stat, cont = None, base
                                cv_note = "off: the continuation to T_inf diverged"
            # time-step error: the halved grid with the seeds (and, implicit scheme, the innovations and probe signs:
            # ``noise_parent``) of the first smallest-d_eff runs
            while len(pairs) < min(n_pairs, len(results[ds[0]])):
                s0, coarse = seeds[ds[0]][len(pairs)], results[ds[0]][len(pairs)]
                pairs.append((coarse, _partner_run(params, base, cont if coarse.late is not None else base, ds[0],
                                                   t_max, h_cap, s0, coarse, quiet)))
            cv_on = stat is not None and all(r.late is not None for rs in results.values() for r in rs)
            if cv_on and not _converged(results, stat, target_error):
                stat, cont, cv_on = None, base, False
                cv_note = "off: the runs had not converged at T_inf"
            fit, step_part, step_sig, step_se = {}, {}, {}, {}
            for name in NAMES:
                yd = {d: np.array([getattr(r, name) for r in results[d]]) for d in ds}
                zd = {d: np.array([r.late[name][1] - stat[name] for r in results[d]]) for d in ds} if cv_on else None
                y, s, dof_runs, beta = pool_rungs(yd, zd)
                step_part[name], step_sig[name], step_se[name] = _step_error(pairs, name, beta, STEP_FACTOR[scheme])
                a, se, chi2 = fit_inverse_d(np.array(ds, dtype=float), y, s, power)
                dof = len(ds) - 2
                chi2_dof = chi2 / dof if dof > 0 else np.zeros_like(chi2)
                # Student-t inflation for a variance estimated with dof_runs degrees of freedom
                tfac = float(stats.t.ppf(0.975, dof_runs) / stats.norm.ppf(0.975))
                stat_se = tfac * se * np.maximum(1.0, np.sqrt(chi2_dof))
                fit[name] = (a, stat_se, chi2_dof, np.sqrt(stat_se ** 2 + step_part[name] ** 2), beta)
            rel_tot = max(_rel(fit[n][3], fit[n][0])[sel].max() for n in NAMES)
            rel_step = max(_rel(step_part[n], fit[n][0])[sel].max() for n in NAMES)
            rel_step_sig = max(_rel(step_sig[n], fit[n][0])[sel].max() for n in NAMES)
            rel_step_se = max(_rel(step_se[n], fit[n][0])[sel].max() for n in NAMES)
            rel_stat = max(_rel(fit[n][1], fit[n][0])[sel].max() for n in NAMES)
            out_of_time = max_wall is not None and time.perf_counter() - t_start > max_wall
            halve = rel_step_sig > target_error / 2 and halvings < max_halvings
            if rel_tot <= target_error or halve or out_of_time:
                break
            grown = False
            if rel_step > target_error / 2 and n_pairs < max_runs:
                # the step part is mostly the pairs' Monte-Carlo noise (else it would be significant and halve the
                # grid): more pairs, until its standard error is about target/4
                grow = math.ceil(n_pairs * (rel_step_se / (target_error / 4)) ** 2)
                n_pairs = min(max_runs, 2 * n_pairs, max(n_pairs + 1, grow))
                grown = True
            want = target_error ** 2 - min(rel_step, target_error / 2) ** 2
            if rel_stat ** 2 > want and n_target < max_runs:
                factor = rel_stat ** 2 / want
                n_target = min(max_runs, max(n_target + 1, math.ceil(n_target * factor)))
                grown = True
            if not grown:
                break
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
                       wall_time=time.perf_counter() - t_start, stationary_cv=cv_note,
                       cv_beta_train=fit["train_error"][4], cv_beta_test=fit["test_error"][4],
                       target_at=target_at)


def on_main_grid(t_main: np.ndarray, y_main: np.ndarray, t_grid: np.ndarray, y_grid: np.ndarray) -> np.ndarray:
    """A partner run's values ``y_grid`` (on ``t_grid``, whose points are points of ``t_main``) carried to the main
    grid through the difference: y_main + interp(delta), delta = y_grid - y_main at the common points, linear in t
    between them. Interpolating the small, smooth difference, not the curve, adds no O(h^2) interpolation error of
    the curve itself to the step-error estimate."""
    idx = np.searchsorted(t_main, t_grid)
    idx = np.clip(idx, 0, t_main.size - 1)
    close = np.isclose(t_main[idx], t_grid, rtol=1e-12, atol=1e-12)
    if not close.all():
        raise ValueError("the partner grid's points must be points of the main grid")
    return y_main + np.interp(t_main, t_grid, y_grid - y_main[idx])


def _partner_run(params: ExtensiveWidthParams, base: FlowSettings, parent: FlowSettings, d: int, t_max: float,
                 h_cap: float, ss: np.random.SeedSequence, main_run: _Run, quiet: bool) -> _Run:
    """The step-error partner of ``main_run`` (the run of ``parent`` at d_eff = d with seed ``ss``), as a ``_Run``
    on the main grid of ``base``: implicit scheme, the merged grid (steps 2h, :func:`merged`; its points are every
    second point of the main grid, the difference is interpolated in between, :func:`on_main_grid`), sharing the
    parent run's random draws (``noise_parent``); Heun (steps capped by stability), the halved grid. Continued like
    the parent if the parent was; if that continuation diverges, the partner's main grid alone (the pair then has no
    control variate)."""
    implicit = base.scheme == "sdirk2"
    main = dataclasses.replace(base, d_eff=d)
    grid = merged(main) if implicit else halved(main)
    t_main, t_grid = main.times, grid.times

    def run(st: FlowSettings, par: FlowSettings) -> _Run:
        if implicit:
            st = dataclasses.replace(st, noise_parent=tuple(par.eval_times))
        r = _one_run(params, st, ss, len(t_grid), quiet)
        sub = slice(None) if implicit else slice(None, None, 2)  # the halved grid's even points are the main grid
        on_main = {name: on_main_grid(t_main, getattr(main_run, name), t_grid[sub], getattr(r, name)[sub])
                   for name in NAMES}
        return _Run(late=r.late, **on_main)

    if parent is not base:
        try:
            return run(_continued(grid, t_max, h_cap), dataclasses.replace(parent, d_eff=d))
        except DivergenceError:
            pass
    return run(grid, main)


#: the step-error estimate from a run on the grid h and its partner (same seed): err = FACTOR x (y_partner - y_h);
#: both schemes are 2nd order: y_h - y_GF ~= (4/3)(y_h - y_{h/2}) = (y_{2h} - y_h)/3
STEP_FACTOR = {"sdirk2": 1.0 / 3.0, "heun": -4.0 / 3.0}


def _step_error(pairs: list[tuple[_Run, _Run]], name: str, beta: np.ndarray | None, factor: float = 1.0 / 3.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time-step error of ``name`` from seed-paired runs (the run on the grid h, its partner on the merged grid 2h
    or the halved grid h/2, on the main grid: :func:`_partner_run`): err = |mean_pairs delta|,
    delta = ``factor`` (y_partner - y_h) (:data:`STEP_FACTOR`: 1/3 for 2h, -4/3 for h/2), minus
    ``factor`` beta (z_partner - z_h) with the control variate (both late values have the same mean: the implicit
    scheme's fixed points do not depend on the step, so the correction is unbiased and removes the part of the
    Monte-Carlo noise of the pair that the late value explains). Also returns the part of err above twice its own
    standard error over the pairs (the significant part, which decides a halving) and that standard error
    sd(delta)/sqrt(pairs) (which decides whether to add pairs)."""
    if any(c.late is None or f.late is None for c, f in pairs):
        beta = None
    delta = []
    for main, partner in pairs:
        dl = getattr(partner, name) - getattr(main, name)
        if beta is not None:
            dl = dl - beta * (partner.late[name][1] - main.late[name][1])
        delta.append(factor * dl)
    delta = np.array(delta)
    err = np.abs(delta.mean(axis=0))
    se = delta.std(axis=0, ddof=1) / math.sqrt(len(delta)) if len(delta) > 1 else np.zeros_like(err)
    return err, np.maximum(0.0, err - 2.0 * se), se


def _converged(results: dict[int, list[_Run]], stat: dict[str, float], target_error: float) -> bool:
    """Whether the runs have settled at T_inf: for each output, the mean change over the last continuation step
    (T_inf/2 -> T_inf) is below target_error/10 of the stationary value or within 3 of its standard errors."""
    for name in NAMES:
        diff = np.array([r.late[name][1] - r.late[name][0] for rs in results.values() for r in rs])
        se = diff.std(ddof=1) / math.sqrt(diff.size) if diff.size > 1 else 0.0
        if abs(diff.mean()) > max(0.1 * target_error * abs(stat[name]), 3.0 * se):
            return False
    return True
