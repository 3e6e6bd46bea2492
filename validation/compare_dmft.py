r"""DMFT vs finite-d gradient descent: side-by-side curves and relative deviations.

For a DMFT result (curves y(t) with standard errors s(t)) and GD simulations at dimensions d (seed means g_d(t),
standard errors of the mean s_d(t)), on the common grid t_k = k eta (same eta):

    dev_d(t) = g_d(t)/y(t) - 1,    se_d(t) = sqrt((s_d/g_d)^2 + (s/y)^2),

and the summary ``max_{t >= t_min} |dev_d(t)|`` (train and test separately), the number reported in the issue
note. :func:`run_validation` runs both sides and returns a :class:`DMFTValidation` (HDF5-savable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dmft.dynamics import DMFTResult, DMFTSettings, solve
from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.deprecation import deprecated_alias
from odes.common.errors import ParameterError
from odes.common.result import Result, coordinate, variable
from validation.gd_simulator import SENSING, GDSimulation, check_backend, check_gd_memory, simulate_gd_seeds


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
