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

import numpy as np

from odes.common import check, hdf5io
from odes.common.errors import DivergenceError, ParameterError
from odes.common.resources import check_memory
from odes.finite_width import FiniteWidthParams
from odes.finite_width.integrate import METHODS, integrate_overlaps
from validation.online_sgd import OnlineSGDResult, run_memory, simulate

METRICS = ("D_eps", "D_Q", "D_M", "D_inv")


@dataclass(frozen=True, eq=False)
class WidthComparison:
    """Theory vs simulation at one N. ``ode_Q`` (S, n, p, p), ``ode_M`` (S, n, p, p*), ``ode_eps_g`` (S, n):
    the ODE from each seed's exact initial state; ``D_eps``, ``D_Q``, ``D_M``, ``D_inv`` (S,) per-seed
    maximal deviations (zero-weighted, i.e. not used, for diverged seeds: see ``simulation.valid``);
    ``ode_time`` seconds spent integrating."""

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

    def stats(self, metric: str) -> tuple[float, float]:
        """(mean, std) of a deviation metric over the non-diverged seeds (std with ddof = 1; 0 for one seed)."""
        if metric not in METRICS:
            raise ParameterError("metric", f"must be one of {METRICS}, got {metric!r}")
        v = np.asarray(getattr(self, metric))[self.simulation.valid]
        if v.size == 0:
            raise DivergenceError(f"all runs at N = {self.N} diverged")
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@dataclass(frozen=True, eq=False)
class ODEComparison(hdf5io.Saveable):
    """Theory-vs-simulation study over widths ``Ns``. ``widths``: {"N<N>": WidthComparison}; ``exponents`` and
    ``exponent_errors``: {metric: fitted x of D ∝ N^x, its standard error} (NaN-free: absent when fewer than
    two widths). ``rtol``/``method``: ODE solver settings."""

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

    def summary(self) -> dict:
        """Plain-Python summary (JSON-ready): per-N mean/std of each metric and the fitted exponents."""
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

    def plot(self, path=None, **kw):
        """Figure: theory over simulation mean ± std, deviations vs N (see :mod:`validation.plots_ode`)."""
        from validation.plots_ode import plot_comparison

        return plot_comparison(self, path, **kw)



# ---------------------------------------------------------------------------------------------------------
def deviations(sim_Q: np.ndarray, sim_M: np.ndarray, sim_eps: np.ndarray, ode_Q: np.ndarray, ode_M: np.ndarray,
               ode_eps: np.ndarray) -> dict[str, np.ndarray]:
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
    y = np.log(m)
    n = np.maximum(np.asarray(counts, dtype=float), 1.0)
    sig = np.asarray(stds, dtype=float) / (m * np.sqrt(n))
    if np.any(sig <= 0):  # single seeds: unweighted fit
        sig = np.ones_like(y)
    w = 1.0 / sig**2
    xb = np.sum(w * x) / np.sum(w)
    yb = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - xb) ** 2)
    slope = float(np.sum(w * (x - xb) * (y - yb)) / sxx)
    err = float(np.sqrt(1.0 / sxx))
    dof = x.size - 2
    if dof > 0:
        chi2 = float(np.sum(w * (y - yb - slope * (x - xb)) ** 2))
        err *= max(1.0, float(np.sqrt(chi2 / dof)))
    return float(slope), float(err)


def _ode_for_seeds(params: FiniteWidthParams, sim: OnlineSGDResult, *, method: str, rtol: float, atol: float,
                   check_stability: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ODE curves (S, n, ...) from each seed's exact (Q(0), M(0)); equal initial states share a run."""
    S = len(sim.seeds)
    if sim.alpha[0] != 0.0:
        raise ParameterError("alphas", "the grid must start at alpha = 0 (the ODE starts from the recorded state)")
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
    d = deviations(sim.Q, sim.M, sim.eps_g, oQ, oM, oe)
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
