"""Learning-rate limits of the finite-width SGD ODEs (placeholder: filled in by the ODE work)."""

from __future__ import annotations


def check_learning_rate(params) -> None:  # noqa: ARG001 - replaced by the real check
    """Raise ParameterError if the learning rate is beyond the plateau / zero-loss stability limits."""
    return None
