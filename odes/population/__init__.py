"""Population gradient flows of quadratic networks (matrix Riccati dynamics).

* :mod:`odes.population.riccati` -- d x d matrix ODEs of models (A) and (B), integrators and closed forms.
* :mod:`odes.population.highdim` -- model (A) with orthonormal init: exact finite-d mode reduction and the
  d -> infinity limit (Wachter law, J-ODE), long-time behaviour by regime.
* :mod:`odes.population.powerlaw` -- model (B) with a power-law He2 teacher: overflow-free closed forms,
  restart stepping, scaling-law fits and predictions.
* :mod:`odes.population.params` -- the parameter dataclasses.

Equations and conventions: ``docs/population.md``.
"""

from odes.population.params import HighDimParams, OnlineSGDParams, PowerLawParams

__all__ = ["HighDimParams", "OnlineSGDParams", "PowerLawParams"]
