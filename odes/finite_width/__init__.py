"""Finite-width one-pass SGD: exact N -> infinity overlap ODEs for (Q, M) (quadratic activation)."""

from odes.finite_width.moments import generalization_error
from odes.finite_width.params import FiniteWidthParams

__all__ = ["FiniteWidthParams", "generalization_error"]
