"""Small helpers shared by several test modules."""

from __future__ import annotations

import math
from typing import Any


def all_finite(obj: Any) -> bool:
    """True if every number in a JSON-like structure is finite (None, strings and bools allowed)."""
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(all_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(all_finite(v) for v in obj)
    return obj is None or isinstance(obj, (int, str, bool))
