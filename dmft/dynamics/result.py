r"""Result object of the DMFT solver (HDF5 round trip through :mod:`odes.common.hdf5io`).

Arrays on the grid t_k = k eta, k = 0..T (T = settings.steps); two-time arrays are (T+1, T+1):

* ``C_S[k, l] = (1/d) E Tr[(S^k - S*)(S^l - S*)]`` (symmetric),
* ``R_S[k, j] = (1/p) E Tr_p dS^k/dG^j`` (strictly lower triangular; discrete, carries the step: ~ eta R_S(t,s)),
* ``B = (I - K)^{-1}``, ``K = R_S/(2 alpha)`` (unit lower triangular; strictly lower part = discrete R_e),
* ``C_e = B (2 C_S + Delta 1 1^T) B^T`` (symmetric PSD),
* ``train_error[k] = C_e[k, k]``, ``test_error[k] = 2 C_S[k, k]``; ``*_std`` are the standard errors of these
  estimates (jackknife over the Ns samples of a run; for ``runs > 1`` the run-to-run std / sqrt(runs)). The
  within-run jackknife misses the common-mode feedback of the shared kernels: measured (set B) run-to-run
  spread / jackknife ~1 at Ns = 4 (d_eff = 16-60) but 3-5 at Ns = 2 (d_eff = 90). With ``runs = 1`` the bars are a
  lower bound; use ``runs >= 3`` for quantitative comparisons,
* ``R_S_equal_time_exact[k] = -(2 eta/d) Tr(S^{k-1} P_{k-1})`` (what the solver uses for R_S[k, k-1]) and the
  Hutchinson estimate of the same quantity from the adjoint sweep with its standard error (diagnostic of the
  exact identity; index 0 is unused and 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmft.dynamics.settings import DMFTSettings
from dmft.params import ExtensiveWidthParams
from odes.common import hdf5io


class _CurvesIO(hdf5io.Saveable):
    """HDF5 round trip (params, settings, library version included) and the JSON-facing curves, shared by
    :class:`DMFTResult` and :class:`DMFTCurve`."""

    def curves(self) -> dict[str, np.ndarray]:
        """The JSON-facing curves: t, train_error, test_error and their std."""
        return {name: getattr(self, name) for name in ("t", "train_error", "test_error", "train_error_std",
                                                        "test_error_std")}


@dataclass(frozen=True, eq=False)
class DMFTResult(_CurvesIO):
    """Train/test learning curves and two-time functions of the discrete-time DMFT of GD."""

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


@dataclass(frozen=True, eq=False)
class DMFTCurve(_CurvesIO):
    """A derived learning curve (1/d_eff extrapolation or eta -> 0 Richardson extrapolation).

    ``method``: "d_eff_extrapolation" (fit y = a + b/d_eff per time, weighted by 1/std^2; the curve is a) or
    "richardson" (GF = 2 GD(eta/2) - GD(eta) on the common grid). ``inputs``: the d_eff values or step sizes."""

    params: ExtensiveWidthParams
    method: str
    inputs: np.ndarray
    t: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    train_error_std: np.ndarray
    test_error_std: np.ndarray


__all__ = ["DMFTCurve", "DMFTResult", "DMFTSettings"]
