r"""Batched (samples x probes) adjoint sweep of the Heun gradient-flow DMFT, numpy or torch.

Same equations as :func:`dmft.dynamics.flow_kernels.heun_adjoint` (see there), for a batch of nb independent
(sample, probe) pairs at once: every d x d product becomes one batched matmul over (nb, d, d) stacks and the
memory sums sum_{m>j} B(m,j) gamma_m one einsum over the batch. Backends:

* ``"numpy"``: ``np.matmul`` on stacks (the reference of the torch path, and a no-numba fallback);
* ``field="complex"``: the Hermitian (beta = 2) effective process of :mod:`dmft.dynamics.gradient_flow`: complex
  arrays, every transpose a conjugate transpose (X^T -> X^H), <A, B> = Re Tr(A^H B) and p = d^2 (the equations are
  otherwise identical: the adjoint of S -> Q^H S Q is Lambda -> Q Lambda Q^H);
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

    def __init__(self, field: str = "real"):
        self.field = field
        self.dtype = complex if field == "complex" else float

    def asarray(self, a):
        return np.asarray(a, dtype=self.dtype)

    def tonumpy(self, a):
        return np.asarray(a)

    def T(self, a):
        t = np.swapaxes(a, -1, -2)
        return np.conj(t) if self.field == "complex" else t

    def zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)

    def real(self, a):
        return a.real if self.field == "complex" else a

    def conj(self, a):
        return a.conj() if self.field == "complex" else a

    def einsum(self, sub, *ops):
        return np.einsum(sub, *ops)


class _Torch:
    name = "torch"

    def __init__(self, device: str | None, field: str = "real"):
        self.field = field
        try:
            import torch
        except ImportError:  # pragma: no cover - depends on the environment
            raise ParameterError("backend", "backend 'torch' needs torch (pip install torch); use backend='numba' "
                                            "or 'numpy'") from None
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.complex128 if field == "complex" else torch.float64

    def asarray(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a), dtype=self.dtype, device=self.device)

    def tonumpy(self, a):
        return a.detach().cpu().numpy()

    def T(self, a):
        t = a.transpose(-1, -2)
        return t.conj() if self.field == "complex" else t

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def real(self, a):
        return a.real if self.field == "complex" else a

    def conj(self, a):
        return a.conj() if self.field == "complex" else a

    def einsum(self, sub, *ops):
        return self.torch.einsum(sub, *ops)


def get_ops(backend: str, device: str | None = None, field: str = "real"):
    """Array namespace of ``backend`` ("numpy" or "torch") for the ``field`` ("real" or "complex")."""
    if backend == "numpy":
        return _Numpy(field)
    if backend == "torch":
        return _Torch(device, field)
    raise ParameterError("backend", f"must be 'numpy' or 'torch' for the batched sweep, got {backend!r}")


def heun_adjoint_batched(target: int, S, P, Q, Pt, h: np.ndarray, B: np.ndarray, U, ops,
                         block: int = 16) -> np.ndarray:
    """r[b, j] = <gamma_j^(b), U^(b)>/p for j < target and every batch member b (numpy array (nb, target)).

    S, P, Q, Pt: (nb, >= K+1, d, d) histories (arrays of ``ops``); U: (nb, d, d); h: steps; B: (N, N) numpy.
    The memory sums sum_{m>j} B(m,j) gamma_m are blocked as in the numba kernel: on entering a block [lo, hi) of
    ``2 block`` evaluation indices, the part with m >= hi is one GEMM B[hi:target, lo:hi]^T @ gamma[hi:target]
    (gamma stored m-major, flattened over batch and matrix), the in-block part a short sum."""
    nb, d = U.shape[0], U.shape[-1]
    p = float(d * d) if getattr(ops, "field", "real") == "complex" else d * (d + 1) / 2.0
    if target == 0:
        return np.zeros((nb, 0))
    T = ops.T
    gam = ops.zeros((target, nb, d, d))
    g2 = gam.reshape(target, nb * d * d)
    Bt = ops.asarray(B[:target, :target])
    span = 2 * block
    blk = {"lo": target, "hi": target, "far": None}

    def memory(j: int):
        if j < blk["lo"]:  # enter the next block [lo, hi)
            hi = blk["lo"]
            lo = max(0, hi - span)
            blk.update(lo=lo, hi=hi)
            blk["far"] = Bt[hi:target, lo:hi].T @ g2[hi:target] if target > hi else None
        lo, hi, far = blk["lo"], blk["hi"], blk["far"]
        out = far[j - lo].reshape(nb, d, d) if far is not None else 0.0
        if hi > j + 1:
            out = out + ops.einsum("m,mbij->bij", Bt[j + 1:hi, j], gam[j + 1:hi])
        return out

    lam_c = U
    if target % 2 == 1:
        K = (target - 1) // 2
        m_ = S[:, K] @ P[:, K] @ U
        gam[2 * K] = -float(h[K]) * (m_ + T(m_))
        lam_c = P[:, K] @ U @ P[:, K] + gam[2 * K]
        kstart = K - 1
        blk.update(lo=target - 1, hi=target - 1)
    else:
        kstart = target // 2 - 1
    for k in range(kstart, -1, -1):
        hk = float(h[k])
        Sk, Pk, Qk, Ptk = S[:, k], P[:, k], Q[:, k], Pt[:, k]
        X = Sk @ Qk @ lam_c
        PX = Pk @ X
        gam[2 * k + 1] = -0.5 * hk * (PX + T(PX))
        lam_b = gam[2 * k + 1] + memory(2 * k + 1)
        Y = Sk @ Pk @ lam_b
        XP = X @ Ptk
        gam[2 * k] = -hk * (Y + T(Y)) - 0.5 * hk * (XP + T(XP))
        lam_c = Pk @ lam_b @ Pk + Qk @ lam_c @ T(Qk) + gam[2 * k] + memory(2 * k)
    r = ops.real(ops.einsum("jbxy,bxy->bj", ops.conj(gam), U)) / p  # <gamma_j, U> = Re sum conj(gamma) U
    return ops.tonumpy(r)
