"""Resource guards: refuse a computation whose arrays cannot fit in memory *before* allocating them.

:func:`check_memory` compares an estimate of the bytes a computation needs (each caller states its formula
next to the call) with the physical memory of the machine,
``os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')``, and raises
:class:`~odes.common.errors.ParameterError` naming the option that sets the size. A refused size would
otherwise end in ``MemoryError``/``ArrayMemoryError`` (or in swapping) after minutes of work.
"""

from __future__ import annotations

import math
import os

from odes.common.errors import ParameterError


def available_memory() -> float:
    """Physical memory in bytes (SC_PAGE_SIZE x SC_PHYS_PAGES; psutil where sysconf does not report it; inf where
    neither does)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE")) * float(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        pass
    try:  # pragma: no cover - optional
        import psutil

        return float(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001
        return math.inf


def _fmt_bytes(n: float) -> str:
    if not math.isfinite(n):
        return "inf B"
    for unit, k in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{n:.0f} B"


def check_memory(option: str, n_bytes: float, what: str, *, limit: float | None = None) -> None:
    """Raise ParameterError(option, ...) if ``n_bytes`` (the caller's estimate for ``what``) exceeds ``limit``
    (default: the physical memory), or is not a finite number (a size so large that its estimate overflows)."""
    avail = available_memory() if limit is None else float(limit)
    try:
        n = float(n_bytes)
    except OverflowError:  # a Python int beyond the float range
        n = math.inf
    if not math.isfinite(n) or n > avail:
        raise ParameterError(option, f"too large: {what} would need about {_fmt_bytes(n)} of memory, more than the "
                                     f"{_fmt_bytes(avail)} of this machine")


physical_memory = available_memory  # name used by odes.population.powerlaw

__all__ = ["available_memory", "check_memory", "physical_memory"]


def single_threaded_blas():
    """Context manager: BLAS (every OpenBLAS/MKL loaded by numpy, scipy or numba) limited to one thread.

    For solvers whose linear algebra is many small products (the DMFT's d_eff x d_eff matrices, d_eff ~ 8-60):
    a multithreaded BLAS spends more time waking its threads than computing (measured: one gradient-flow DMFT run
    of the demo, 35 s with the 2-thread default vs 9.7 s single-threaded on a 2-core machine). Parallelism belongs to
    independent runs (processes, ``quadnet sweep --workers``). Uses threadpoolctl (a dependency)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")

