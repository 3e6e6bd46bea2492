"""Exception types of quadnet.

* :class:`ParameterError` -- invalid user input; the message names the parameter and its valid range.
* :class:`DivergenceError` -- an integration or iteration blew up (non-finite or runaway state).
* :class:`ConvergenceError` -- a fixed-point iteration / root finder did not converge; carries the last
  residual.

All derive from :class:`QuadnetError` (itself a ``ValueError`` for ``ParameterError``), so the CLI can turn
any of them into one clear error line and a non-zero exit code.
"""

from __future__ import annotations


class QuadnetError(Exception):
    """Base class of all errors raised deliberately by quadnet."""


class ParameterError(QuadnetError, ValueError):
    """Invalid parameter value. ``name`` is the offending parameter."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(f"invalid parameter '{name}': {message}")


class DivergenceError(QuadnetError, ArithmeticError):
    """The numerical integration diverged (non-finite or exploding state)."""

    def __init__(self, message: str, *, time: float | None = None):
        self.time = time
        where = "" if time is None else f" (at time {time:.6g})"
        super().__init__(message + where)


class ConvergenceError(QuadnetError, RuntimeError):
    """An iterative solver stopped without meeting its tolerance; ``residual`` is the last residual."""

    def __init__(self, message: str, *, residual: float | None = None, iterations: int | None = None):
        self.residual = residual
        self.iterations = iterations
        extra = []
        if iterations is not None:
            extra.append(f"after {iterations} iterations")
        if residual is not None:
            extra.append(f"last residual {residual:.3e}")
        super().__init__(message + (" (" + ", ".join(extra) + ")" if extra else ""))
