"""Deprecated names kept for one release (issue 10: names that mean one thing).

* :func:`deprecated_alias` -- an old function name that calls the new function and emits a ``DeprecationWarning``;
* :func:`renamed_keywords` -- a decorator accepting the old keyword of a renamed argument (with a
  ``DeprecationWarning``); giving both the old and the new keyword is a :class:`ParameterError`.

Every rename is listed in CHANGELOG.md ("Structure (issue 10)")."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from odes.common.errors import ParameterError


def deprecated_alias(old: str, new: Callable) -> Callable:
    """A function named ``old`` that warns (DeprecationWarning) and returns ``new(*args, **kwargs)``."""

    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old} is deprecated, use {new.__name__}", DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated alias of :func:`{new.__module__}.{new.__name__}`."
    return alias


def renamed_keywords(**old_to_new: str) -> Callable[[Callable], Callable]:
    """Decorator: ``@renamed_keywords(gammas="taus")`` lets callers still pass ``gammas=`` (DeprecationWarning),
    forwarded as ``taus=``."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise ParameterError(old, f"is the deprecated name of {new}: give {new} only")
                    warnings.warn(f"{func.__qualname__}({old}=...) is deprecated, use {new}=", DeprecationWarning,
                                  stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate


__all__ = ["deprecated_alias", "renamed_keywords"]
