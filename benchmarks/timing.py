"""Timing helper shared by the ``bench_*`` modules (wall clock, best of several repeats)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeat: int = 1) -> float:
    """Smallest wall-clock time in seconds of ``repeat`` calls of ``fn()`` (the least disturbed by load)."""
    best = math.inf
    for _ in range(max(1, int(repeat))):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
