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


def heun_effective_forward(S0: Any, Sstar: Any, B: Any, Xi: Any, h: Any, lam: float, field_at: int | None = None,
                           field: Any = None) -> list:
    """Nonlinear Heun effective dynamics of the gradient-flow DMFT with fixed kernels B and noise Xi, written out
    independently of the solver (the finite-difference reference of the adjoint tests); returns all evaluation
    points s^i. Symmetric or Hermitian matrices: predictor S~ = P S P, corrector S' = Q^H S Q (Q^T for real).
    ``field`` is added to g at evaluation point ``field_at``."""
    import numpy as np

    eye = np.eye(S0.shape[0])
    s, g, Sk = [S0], [], S0
    for k in range(len(h)):
        for sub in (0, 1):
            i = 2 * k + sub
            gi = (s[i] - Sstar) + sum(B[i, m] * (s[m] - Sstar) for m in range(i)) + Xi[i]
            if field_at == i:
                gi = gi + field
            g.append(gi)
            if sub == 0:
                P = eye - h[k] * (gi + lam * eye)
                s.append(P @ Sk @ P)
            else:
                Q = eye - 0.5 * h[k] * (g[2 * k] + lam * eye + P @ (gi + lam * eye))
                Sk = np.conj(Q.T) @ Sk @ Q
                s.append(Sk)
    return s
