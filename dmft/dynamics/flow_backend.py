r"""Batched (samples x probes) adjoint sweep of the Heun gradient-flow DMFT, numpy or torch.

Same equations as :func:`dmft.dynamics.flow_kernels.heun_adjoint` (see there), for a batch of nb independent
(sample, probe) pairs at once: every d x d product becomes one batched matmul over (nb, d, d) stacks and the
memory sums sum_{m>j} B(m,j) gamma_m one einsum over the batch. Backends:

* ``"numpy"``: ``np.matmul`` on stacks (the reference of the torch path, and a no-numba fallback);
* ``"torch"`` (optional, never required: torch is not a dependency and is imported only when asked for): float64
  tensors on ``device`` (default ``"cuda"`` if available, else ``"cpu"``). Without torch: ParameterError naming
  ``backend``. The results agree with numpy to rounding (tested to 1e-12 on CPU where torch is installed).
"""

from __future__ import annotations

import numpy as np

from odes.common.errors import ParameterError

BACKENDS = ("numba", "numpy", "torch")


class _Numpy:
    name = "numpy"

    def asarray(self, a):
        return np.asarray(a, dtype=float)

    def tonumpy(self, a):
        return np.asarray(a)

    def T(self, a):
        return np.swapaxes(a, -1, -2)

    def zeros(self, shape):
        return np.zeros(shape)

    def einsum(self, sub, *ops):
        return np.einsum(sub, *ops)


class _Torch:
    name = "torch"

    def __init__(self, device: str | None):
        try:
            import torch
        except ImportError:  # pragma: no cover - depends on the environment
            raise ParameterError("backend", "backend 'torch' needs torch (pip install torch); use backend='numba' "
                                            "or 'numpy'") from None
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def asarray(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a), dtype=self.torch.float64, device=self.device)

    def tonumpy(self, a):
        return a.detach().cpu().numpy()

    def T(self, a):
        return a.transpose(-1, -2)

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def einsum(self, sub, *ops):
        return self.torch.einsum(sub, *ops)


def get_ops(backend: str, device: str | None = None):
    """Array namespace of ``backend`` ("numpy" or "torch")."""
    if backend == "numpy":
        return _Numpy()
    if backend == "torch":
        return _Torch(device)
    raise ParameterError("backend", f"must be 'numpy' or 'torch' for the batched sweep, got {backend!r}")


def heun_adjoint_batched(target: int, S, P, Q, Pt, h: np.ndarray, B: np.ndarray, U, ops) -> np.ndarray:
    """r[b, j] = <gamma_j^(b), U^(b)>/p for j < target and every batch member b (numpy array (nb, target)).

    S, P, Q, Pt: (nb, >= K+1, d, d) histories (arrays of ``ops``); U: (nb, d, d); h: steps; B: (N, N) numpy."""
    nb, d = U.shape[0], U.shape[-1]
    p = d * (d + 1) / 2.0
    if target == 0:
        return np.zeros((nb, 0))
    T = ops.T
    gam = ops.zeros((nb, target, d, d))
    Bt = ops.asarray(B[:target, :target])

    def memory(j: int):
        if target > j + 1:
            return ops.einsum("m,bmij->bij", Bt[j + 1:target, j], gam[:, j + 1:target])
        return 0.0

    lam_c = U
    if target % 2 == 1:
        K = (target - 1) // 2
        m_ = S[:, K] @ P[:, K] @ U
        gam[:, 2 * K] = -float(h[K]) * (m_ + T(m_))
        lam_c = P[:, K] @ U @ P[:, K] + gam[:, 2 * K]
        kstart = K - 1
    else:
        kstart = target // 2 - 1
    for k in range(kstart, -1, -1):
        hk = float(h[k])
        Sk, Pk, Qk, Ptk = S[:, k], P[:, k], Q[:, k], Pt[:, k]
        X = Sk @ Qk @ lam_c
        PX = Pk @ X
        gam[:, 2 * k + 1] = -0.5 * hk * (PX + T(PX))
        lam_b = gam[:, 2 * k + 1] + memory(2 * k + 1)
        Y = Sk @ Pk @ lam_b
        XP = X @ Ptk
        gam[:, 2 * k] = -hk * (Y + T(Y)) - 0.5 * hk * (XP + T(XP))
        lam_c = Pk @ lam_b @ Pk + Qk @ lam_c @ T(Qk) + gam[:, 2 * k] + memory(2 * k)
    r = ops.einsum("bjxy,bxy->bj", gam, U) / p
    return ops.tonumpy(r)
