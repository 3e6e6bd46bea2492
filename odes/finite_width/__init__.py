"""Finite-width one-pass SGD: exact N -> infinity overlap ODEs for (Q, M) (quadratic activation).

Modules: :mod:`.params` (model), :mod:`.moments` (Gaussian moments, eps_g), :mod:`.ode` (right-hand side),
:mod:`.integrate` (solver and trajectory result), :mod:`.plateau` (fixed point, escape rate, Jacobian, escape
time), :mod:`.invariants` (GF first integral, Procrustes limit, late-time power law), :mod:`.hessian` (Hessian
spectra of eps_g(U)), :mod:`.stability` (learning-rate limits). Equations: docs/finite_width.md.
"""

from odes.finite_width.integrate import OverlapTrajectory, initial_overlaps, initial_state, integrate_overlaps
from odes.finite_width.moments import generalization_error
from odes.finite_width.ode import rhs
from odes.finite_width.params import FiniteWidthParams

__all__ = ["FiniteWidthParams", "OverlapTrajectory", "generalization_error", "initial_overlaps",
           "initial_state", "integrate_overlaps", "rhs"]
