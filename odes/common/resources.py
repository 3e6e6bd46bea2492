"""Resource checks done before a large allocation, so that a too-large request is refused with a
:class:`~odes.common.errors.ParameterError` naming the user's option instead of failing inside numpy (or being
killed by the operating system).
"""

from __future__ import annotations

import os

from odes.common.errors import ParameterError


def physical_memory() -> float:
    """Physical memory of this machine in bytes: os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    (inf where the platform does not report it)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE")) * float(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return float("inf")


def check_memory(option: str, n_bytes: float, what: str) -> None:
    """Raise ParameterError(option, ...) if the estimated ``n_bytes`` for ``what`` exceed the physical memory.

    ``what`` describes the allocation (and may state the valid range of ``option``); the message gives both sizes
    in GiB.
    """
    total = physical_memory()
    if not n_bytes <= total:
        raise ParameterError(option, f"{what} needs about {n_bytes / 2**30:.3g} GiB, more than the "
                                     f"{total / 2**30:.3g} GiB of physical memory of this machine")
