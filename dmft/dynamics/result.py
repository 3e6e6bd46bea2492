r"""Result object of the DMFT solver (HDF5 round trip through :mod:`odes.common.hdf5io`).

Arrays on the grid t_k = k eta, k = 0..T (T = settings.steps); two-time arrays are (T+1, T+1):

* ``C_S[k, l] = (1/d) E Tr[(S^k - S*)(S^l - S*)]`` (symmetric),
* ``R_S[k, j] = (1/p) E Tr_p dS^k/dG^j`` (strictly lower triangular; discrete, carries the step: ~ eta R_S(t,s)),
* ``B = (I - K)^{-1}``, ``K = R_S/(2 alpha)`` (unit lower triangular; strictly lower part = discrete R_e),
* ``C_e = B (2 C_S + Delta 1 1^T) B^T`` (symmetric PSD),
* ``train_error[k] = C_e[k, k]``, ``test_error[k] = 2 C_S[k, k]``; ``*_std`` are the standard errors of these
  (named ``*_se`` in :meth:`~DMFTResult.to_xarray` and in the JSON, by the result protocol's naming rule)
  estimates (jackknife over the Ns samples of a run; for ``runs > 1`` the run-to-run std / sqrt(runs)). The
  within-run jackknife misses the common-mode feedback of the shared kernels: measured (set B) run-to-run
  spread / jackknife ~1 at Ns = 4 (d_eff = 16-60) but 3-5 at Ns = 2 (d_eff = 90). With ``runs = 1`` the bars are a
  lower bound; use ``runs >= 3`` for quantitative comparisons,
* ``R_S_equal_time_exact[k] = -(2 eta/d) Tr(S^{k-1} P_{k-1})`` (what the solver uses for R_S[k, k-1]) and the
  Hutchinson estimate of the same quantity from the adjoint sweep with its standard error (diagnostic of the
  exact identity; index 0 is unused and 0).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dmft.dynamics.settings import DMFTSettings
from dmft.params import ExtensiveWidthParams
from odes.common.result import Result, coordinate, variable

#: ``long_name`` of the time coordinate of GD/DMFT curves (extensive width)
T_LONG_NAME = "time t = k eta (GD steps times step size)"
TRAIN_LONG_NAME = "train error: mean squared residual on the noisy training labels"
TEST_LONG_NAME = "test error (2/d) Tr(S - S*)^2 (excess population error)"


class _CurvesIO(Result):
    """Result protocol of the DMFT learning curves, shared by :class:`DMFTResult` and :class:`DMFTCurve`:
    coordinate ``t``; ``train_error``, ``test_error`` and their standard errors ``train_error_se``,
    ``test_error_se`` (the dataclass fields ``*_std``, which are standard errors)."""

    curve_coord: ClassVar[str | None] = "t"

    def curves(self) -> dict[str, np.ndarray]:
        """The curves under their dataclass names: t, train_error, test_error and their std (standard errors)."""
        return {name: getattr(self, name) for name in ("t", "train_error", "test_error", "train_error_std",
                                                        "test_error_std")}

    def _curve_variables(self) -> dict[str, tuple]:
        return {"train_error": variable("t", self.train_error, TRAIN_LONG_NAME),
                "train_error_se": variable("t", self.train_error_std, "standard error of train_error"),
                "test_error": variable("t", self.test_error, TEST_LONG_NAME),
                "test_error_se": variable("t", self.test_error_std, "standard error of test_error")}

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 keys: ``train_error_std``, ``test_error_std`` (now ``*_se``)."""
        return {"train_error_std": self.train_error_std, "test_error_std": self.test_error_std}

    def plot(self, ax: Any = None, *, label: str = "DMFT") -> Any:
        """Train (C0) and test (C3) error vs t, standard errors as bands, log scale; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for name, color in (("train", "C0"), ("test", "C3")):
            y = getattr(self, name + "_error")
            s = getattr(self, name + "_error_std")
            ax.plot(self.t, y, color=color, label=f"{label} {name}")
            ax.fill_between(self.t, np.maximum(y - s, 1e-300), y + s, color=color, alpha=0.25, lw=0)
        ax.set_yscale("log")
        ax.set_xlabel("t = k eta")
        ax.set_ylabel("error")
        ax.legend(fontsize=7)
        return ax


@dataclass(frozen=True, eq=False, repr=False)
class DMFTResult(_CurvesIO):
    """Train/test learning curves and two-time functions of the discrete-time DMFT of GD.

    Labelled data (:meth:`to_xarray`): coordinates ``t`` and ``t2`` (the second time of two-time functions, same
    values); curves ``train_error``, ``test_error``, ``*_se`` and the equal-time response diagnostics along ``t``;
    two-time arrays ``C_S``, ``R_S``, ``C_e``, ``B`` with dims ``(t, t2)``; scalar ``wall_time`` (s); the
    settings as attributes ``setting_<name>`` and ``settings_json``."""

    params: ExtensiveWidthParams
    settings: DMFTSettings
    t: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    train_error_std: np.ndarray
    test_error_std: np.ndarray
    C_S: np.ndarray
    R_S: np.ndarray
    C_e: np.ndarray
    B: np.ndarray
    R_S_equal_time_exact: np.ndarray
    R_S_equal_time_hutchinson: np.ndarray
    R_S_equal_time_hutchinson_se: np.ndarray
    wall_time: float = 0.0

    def to_xarray(self):
        two = ("t", "t2")
        variables = {
            **self._curve_variables(),
            "C_S": variable(two, self.C_S, "C_S(t, t2) = (1/d) E Tr[(S(t) - S*)(S(t2) - S*)]"),
            "R_S": variable(two, self.R_S, "discrete response R_S[k, j] = (1/p) E Tr_p dS^k/dG^j (carries the "
                            "step: ~ eta R_S(t, s); strictly lower triangular)"),
            "C_e": variable(two, self.C_e, "residual correlation C_e = B (2 C_S + Delta 1 1^T) B^T"),
            "B": variable(two, self.B, "B = (I - R_S/(2 alpha))^-1 (unit lower triangular)"),
            "R_S_equal_time_exact": variable("t", self.R_S_equal_time_exact, "R_S[k, k-1] = -(2 eta/d) "
                                             "Tr(S^{k-1} P_{k-1}) (exact identity; index 0 unused)"),
            "R_S_equal_time_hutchinson": variable("t", self.R_S_equal_time_hutchinson, "Hutchinson estimate of "
                                                  "R_S[k, k-1] from the adjoint sweep (diagnostic)"),
            "R_S_equal_time_hutchinson_se": variable("t", self.R_S_equal_time_hutchinson_se,
                                                     "standard error of R_S_equal_time_hutchinson"),
            "wall_time": variable((), self.wall_time, "wall-clock time of the solve", "s"),
        }
        coords = {"t": coordinate("t", self.t, T_LONG_NAME),
                  "t2": coordinate("t2", self.t, "second time t2 = l eta of two-time functions")}
        plain = dataclasses.asdict(self.settings)
        attrs = {"settings_json": json.dumps(plain), **{f"setting_{k}": (int(v) if isinstance(v, bool) else v)
                                                         for k, v in plain.items()}}
        return self.dataset(variables, coords, attrs)

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON (``t``, curves with ``*_se``, ``wall_time``) plus ``settings``; legacy 0.1 keys
        ``train_error_std``, ``test_error_std``, ``d_eff``, ``eta``, ``wall_time_s``."""
        out = super().to_json()
        out["settings"] = dataclasses.asdict(self.settings)
        return out

    def legacy_json(self) -> dict[str, Any]:
        return {**super().legacy_json(), "d_eff": self.settings.d_eff, "eta": self.settings.eta,
                "wall_time_s": self.wall_time}


@dataclass(frozen=True, eq=False, repr=False)
class DMFTCurve(_CurvesIO):
    """A derived learning curve (1/d_eff extrapolation or eta -> 0 Richardson extrapolation).

    ``method``: "d_eff_extrapolation" (fit y = a + b/d_eff per time, weighted by 1/std^2; the curve is a) or
    "richardson" (GF = 2 GD(eta/2) - GD(eta) on the common grid). ``inputs``: the d_eff values or step sizes.

    Labelled data: coordinate ``t``, curves ``train_error``, ``test_error``, ``*_se``; ``inputs`` along the
    dimension ``input``; attribute ``method``. :meth:`to_json` adds ``method`` and ``inputs``."""

    params: ExtensiveWidthParams
    method: str
    inputs: np.ndarray
    t: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    train_error_std: np.ndarray
    test_error_std: np.ndarray

    def to_xarray(self):
        what = "d_eff of the extrapolated runs" if self.method == "d_eff_extrapolation" else "step sizes eta"
        variables = {**self._curve_variables(), "inputs": variable("input", self.inputs, f"inputs: {what}")}
        return self.dataset(variables, {"t": coordinate("t", self.t, T_LONG_NAME)}, {"method": self.method})

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "method": self.method, "inputs": np.asarray(self.inputs).tolist()}


__all__ = ["DMFTCurve", "DMFTResult", "DMFTSettings"]
