r"""Two-time DMFT of gradient descent at extensive width (m = kappa d, n = alpha d^2).

Gradient flow (2nd order, Heun, graded grid): :func:`solve_flow`; accuracy-targeted d = infinity curve with
bias-inclusive error bars: :func:`solve_curve` (:mod:`dmft.dynamics.curve`).
Front door of GD: :func:`solve` (causal single-pass solver of the discrete-time DMFT of GD with step eta) returning a
:class:`DMFTResult` (train/test curves with error bars, C_S, R_S, C_e, B; HDF5 save/load). Settings in
:class:`DMFTSettings`; extrapolations (1/d_eff, eta -> 0) in :mod:`dmft.dynamics.extrapolate`; checkpoints in
:mod:`dmft.dynamics.checkpoint`. Equations and scheme: ``docs/dmft.md`` and :mod:`dmft.dynamics.solver`.
"""

from dmft.dynamics.curve import CurveResult, solve_curve
from dmft.dynamics.extrapolate import extrapolate_d_eff, richardson, solve_gradient_flow
from dmft.dynamics.gradient_flow import FlowResult, FlowSettings, flow_settings, solve_flow
from dmft.dynamics.result import DMFTCurve, DMFTResult
from dmft.dynamics.settings import DMFTSettings, check_step, step_bound
from dmft.dynamics.solver import combine_runs, solve

__all__ = ["CurveResult", "DMFTCurve", "DMFTResult", "DMFTSettings", "FlowResult", "FlowSettings", "check_step",
           "combine_runs", "extrapolate_d_eff", "flow_settings", "richardson", "solve", "solve_curve", "solve_flow",
           "solve_gradient_flow", "step_bound"]
