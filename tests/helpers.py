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


def hide_torch(monkeypatch: Any) -> None:
    """Make ``import torch`` raise ImportError for the rest of the test, whether or not torch is installed or
    already imported (its modules are removed from ``sys.modules`` and a meta-path finder refuses them; pytest's
    monkeypatch restores both)."""
    import sys

    class _NoTorch:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch hidden by the test")

    for name in [k for k in sys.modules if k == "torch" or k.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoTorch(), *sys.meta_path])
