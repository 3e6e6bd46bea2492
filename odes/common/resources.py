"""Memory guard: refuse a computation whose arrays cannot fit in this machine's memory, before allocating them.

Each solver states the bytes of the arrays it allocates in a function of its sizes (e.g.
:meth:`dmft.dynamics.DMFTSettings.memory_bytes`) and calls :func:`require_memory` with the user's option that
drives the size; the limit is the physical memory ``SC_PAGE_SIZE * SC_PHYS_PAGES`` (``psutil`` when ``sysconf`` is
not available; no check when neither is).
"""

from __future__ import annotations

import os

from odes.common.errors import ParameterError


def physical_memory_bytes() -> int | None:
    """Total physical memory in bytes, or None if it cannot be determined."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - psutil optional
        return None


def _fmt(nbytes: float) -> str:
    if nbytes == float("inf"):
        return "more than 1e308 bytes"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes:.3g} bytes"


def require_memory(name: str, nbytes: float, what: str, *, limit: float | None = None) -> None:
    """Raise ParameterError(name) if ``nbytes`` (the estimate of ``what``) exceeds ``limit`` (default: physical
    memory). The message gives the estimate and the available memory."""
    avail = physical_memory_bytes() if limit is None else limit
    if avail is not None and nbytes > avail:
        raise ParameterError(name, f"too large: {what} needs an estimated {_fmt(nbytes)} of memory, more than the "
                                   f"{_fmt(avail)} available on this machine; reduce it")
