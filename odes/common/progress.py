"""Progress bars (tqdm), off when ``quiet=True``, when ``CI`` is set, or when ``QUADNET_QUIET=1``."""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.auto import tqdm


def progress_enabled(quiet: bool = False) -> bool:
    """Whether progress bars should be shown."""
    if quiet:
        return False
    return not (os.environ.get("CI") or os.environ.get("QUADNET_QUIET") == "1")


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             quiet: bool = False, **kwargs) -> tqdm:
    """A tqdm bar (with ETA) that is disabled in quiet mode/CI. Use as an iterable or with ``update``."""
    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(quiet), leave=False,
                dynamic_ncols=True, **kwargs)
