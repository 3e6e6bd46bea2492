"""Parameter checks used by every parameter object (``__post_init__``), validated once at construction.

Each function returns the value converted to the right type (``float``, ``int`` or ``ndarray``) and
raises :class:`~odes.common.errors.ParameterError` naming the parameter and its valid range otherwise.
NaN and infinities are rejected everywhere unless ``allow_inf=True``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from odes.common.errors import ParameterError


def real(name: str, value: object, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, hi_open: bool = False, allow_inf: bool = False) -> float:
    """A real scalar in the interval [lo, hi] (open ends with ``lo_open``/``hi_open``)."""
    if isinstance(value, bool):
        raise ParameterError(name, f"must be a real number, got {value!r}")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be a real number, got {value!r}") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ParameterError(name, f"must be a finite real number, got {x}")
    rng = _interval(lo, hi, lo_open, hi_open)
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise ParameterError(name, f"must be in {rng}, got {x:g}")
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise ParameterError(name, f"must be in {rng}, got {x:g}")
    return x


def positive(name: str, value: object, *, allow_inf: bool = False) -> float:
    """A real number > 0."""
    return real(name, value, lo=0.0, lo_open=True, allow_inf=allow_inf)


def nonnegative(name: str, value: object) -> float:
    """A real number >= 0."""
    return real(name, value, lo=0.0)


def integer(name: str, value: object, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ParameterError(name, f"must be an integer, got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ParameterError(name, f"must be an integer in {_interval(lo, hi, False, False)}, got {v}")
    return v


def array(name: str, value: object, *, shape: Sequence[int | None] | None = None,
          lo: float | None = None, lo_open: bool = False, bound: float | None = None) -> np.ndarray:
    """A finite float array, optionally of a given shape (``None`` entries are free), bounded below
    (``lo``) and in magnitude (``bound``: every |entry| <= bound)."""
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be an array of real numbers, got {value!r}") from None
    if shape is not None:
        ok = a.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, a.shape))
        if not ok:
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ParameterError(name, f"must have shape {want}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(name, "must contain only finite numbers (found NaN or inf)")
    if lo is not None:
        bad = a <= lo if lo_open else a < lo
        if np.any(bad):
            op = ">" if lo_open else ">="
            raise ParameterError(name, f"all entries must be {op} {lo:g}, got min {a.min():g}")
    if bound is not None and a.size and np.max(np.abs(a)) > bound:
        raise ParameterError(name, f"all entries must be in [-{bound:g}, {bound:g}], got {np.max(np.abs(a)):g}")
    return a


def seed_list(name: str, seeds: object, base: int = 0, *, base_name: str = "seed0") -> list[int]:
    """The library-wide meaning of a ``seeds`` parameter: an int n is a COUNT (seeds ``base, ..., base + n - 1``,
    n >= 1); a sequence is the explicit list of seeds (non-empty, integers >= 0)."""
    base = integer(base_name, base, lo=0)
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        n = integer(name, seeds, lo=1)
        return list(range(base, base + n))
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ParameterError(name, f"must be a count (int >= 1) or a sequence of seeds, got {seeds!r}")
    out = [integer(name, s, lo=0) for s in seeds]  # type: ignore[union-attr]
    if not out:
        raise ParameterError(name, "must contain at least one seed")
    return out


def symmetric_psd(name: str, value: object, n: int, *, definite: bool = False, tol: float = 1e-10,
                  bound: float | None = None) -> np.ndarray:
    """An n x n symmetric positive semi-definite (or definite) matrix (entries bounded by ``bound``)."""
    a = array(name, value, shape=(n, n), bound=bound)
    scale = max(1.0, float(np.max(np.abs(a)))) if a.size else 1.0
    if not np.allclose(a, a.T, atol=tol * scale, rtol=0.0):
        raise ParameterError(name, "must be a symmetric matrix")
    a = 0.5 * (a + a.T)
    if n:
        ev = np.linalg.eigvalsh(a)
        if definite and ev[0] <= tol * scale:
            raise ParameterError(name, f"must be positive definite, smallest eigenvalue {ev[0]:.3g}")
        if ev[0] < -tol * scale:
            raise ParameterError(name, f"must be positive semi-definite, smallest eigenvalue {ev[0]:.3g}")
    return a


def _interval(lo, hi, lo_open, hi_open) -> str:
    left = "(" if (lo is None or lo_open) else "["
    right = ")" if (hi is None or hi_open) else "]"
    return f"{left}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}{right}"
