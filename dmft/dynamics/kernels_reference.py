r"""Plain-numpy twins of :mod:`dmft.dynamics.kernels` (same equations, no blocking, no numba).

Used only by the tests (kernel == reference to 1e-12) and by ``benchmarks/bench_dmft.py``. The adjoint twin is
the straightforward Python loop over l with numpy matmuls and a full (unblocked) memory sum
sum_{i=l+1}^{k-1} B(i,l) Psi^i via ``np.tensordot``; see the kernels module for the equations.
"""

from __future__ import annotations

import numpy as np


def adjoint_sweep(k: int, P: np.ndarray, SP: np.ndarray, B: np.ndarray, U: np.ndarray, eta: float,
                  block: int = 0, psi: np.ndarray | None = None) -> np.ndarray:
    """Reference R_S(k, l) Hutchinson estimates r[l] = <Psi^l, U>/p, l < k (``block``/``psi`` ignored)."""
    d = U.shape[0]
    p = d * (d + 1) / 2.0
    psi_all = np.zeros((k, d, d))
    r = np.zeros(k)
    lam = U.copy()
    for l in range(k - 1, -1, -1):
        m = SP[l] @ lam
        psi_all[l] = -eta * (m + m.T)
        r[l] = np.sum(psi_all[l] * U) / p
        mem = np.tensordot(B[l + 1:k, l], psi_all[l + 1:k], axes=(0, 0)) if k > l + 1 else 0.0
        lam = P[l] @ lam @ P[l] + psi_all[l] + mem
    return r


def history_contract(D: np.ndarray, G: np.ndarray, k: int, bcoef: np.ndarray, ccoef: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Reference (mem, noise) of :func:`dmft.dynamics.kernels.history_contract` (Python loop over j)."""
    d = D.shape[1]
    mem = np.zeros((d, d))
    noise = np.zeros((d, d))
    for j in range(k + 1):
        if j < k:
            mem += bcoef[j] * D[j]
        noise += ccoef[j] * G[j]
    return mem, noise


def gram_row(D: np.ndarray, k: int) -> np.ndarray:
    """Reference C_S row cs[l] = Tr(D^k D^l)/d, l <= k (Python loop over l)."""
    d = D.shape[1]
    return np.array([np.sum(D[k] * D[j]) / d for j in range(k + 1)])
