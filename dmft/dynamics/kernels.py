r"""numba kernels of the DMFT solver's hot loops (``cache=True``; plain-numpy twins in ``kernels_reference``).

Conventions: one trajectory (sample) of the d x d effective process; histories are C-contiguous arrays
indexed by time first. ``B`` is the (T+1) x (T+1) lower-triangular matrix B = (I - K)^{-1}, whose strictly lower
part is the discrete memory kernel R_e(i, l) (it carries the step eta).

1. :func:`adjoint_sweep` -- hot loop #1/#2 of the spec (Sec. 3.3). For a target time k and a probe U, the
   backward recursion (l = k-1 .. 0)

       Psi^l = -eta (S^l P_l Lam^{l+1} + Lam^{l+1} P_l S^l)                     (= Q_l^*(Lam^{l+1}))
       r[l]  = <Psi^l, U>/p,   p = d(d+1)/2                                   (estimates R_S(k, l))
       Lam^l = P_l Lam^{l+1} P_l + Psi^l + sum_{i=l+1}^{k-1} B(i, l) Psi^i,    Lam^k = U

   is the adjoint of the tangent dynamics V^{l+1} = P_l V^l P_l + Q_l(V^l + sum_{i<l} B(l,i) V^i),
   Q_l(X) = -eta (X S^l P_l + P_l S^l X), so r[l] = <U, J(k,l) U>/p exactly, J(k,l) = dS^k/dG^l (the field
   added to G_eff at step l). The memory sum is blocked: for the block [lo, hi) the part i >= hi is one GEMM
   B[hi:k, lo:hi]^T @ Psi[hi:k] done on entering the block, the in-block part a short loop; both act on the
   packed upper triangles of the symmetric Psi (p = d(d+1)/2 numbers each).
   Cost O(k d^3) (3 matmuls per l, 6 k d^3 flops) + O(k^2 d^2) (memory sum, ~k^2 p flops).
2. :func:`history_contract` -- the memory and noise history contractions of one forward step:
   mem = sum_{j<k} b_j D^j, noise = sum_{l<=k} c_l Gamma^l. O(k d^2), memory-bound (BLAS gemv on the
   flattened histories; a fused hand-written loop was measured 1-1.6x slower than gemv).
3. :func:`gram_row` -- one sample's row of C_S: cs[l] = <D^k, D^l>/d (l <= k). O(k d^2), one gemv (the
   hand-written loop was 4-5x slower). It cannot be fused with 2.: the coefficients b, c of step k need the
   C_S row of step k first.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def adjoint_sweep(k: int, P: np.ndarray, SP: np.ndarray, B: np.ndarray, U: np.ndarray, eta: float,
                  block: int, psi: np.ndarray) -> np.ndarray:
    """R_S(k, l) estimates r[l] = <Psi^l, U>/p for l = 0..k-1 (shape (k,)).

    P, SP: (>= k, d, d) histories of P_l and S^l P_l; B: (T+1, T+1); U: (d, d) symmetric probe.
    ``psi``: C-contiguous work buffer with >= k p entries (e.g. np.empty((k, d, d))); on return its first k p
    entries hold the packed upper triangles of Psi^0..Psi^{k-1}. Psi is symmetric, so the memory sums run on
    packed upper triangles (p = d(d+1)/2 instead of d^2 entries: half the flops of the O(k^2 d^2) part); the
    three d x d products per l are BLAS calls into preallocated buffers."""
    d = U.shape[0]
    p = d * (d + 1) // 2
    r = np.zeros(k)
    lam = U.copy()
    tmp = np.empty((d, d))
    tmp2 = np.empty((d, d))
    far = np.empty((block, p))
    acc_p = np.empty(p)
    pk = psi.reshape(psi.size)[:k * p].reshape(k, p)  # packed Psi^l (row-major upper triangle)
    uw = np.empty(p)  # <Psi, U> = sum_packed w * Psi_ab U_ab, w = 1 (a = b), 2 (a < b)
    idx = 0
    for a in range(d):
        uw[idx] = U[a, a]
        idx += 1
        for b in range(a + 1, d):
            uw[idx] = 2.0 * U[a, b]
            idx += 1
    hi = k
    while hi > 0:
        lo = max(0, hi - block)
        nbk = hi - lo
        if k > hi:  # far part of the memory sum for the whole block: one GEMM
            coef = np.ascontiguousarray(B[hi:k, lo:hi].T)
            np.dot(coef, pk[hi:k], far[:nbk])
        else:
            far[:nbk] = 0.0
        for l in range(hi - 1, lo - 1, -1):
            np.dot(SP[l], lam, tmp)  # S P Lam
            ps = pk[l]
            acc = 0.0
            idx = 0
            for a in range(d):
                for b in range(a, d):
                    v = -eta * (tmp[a, b] + tmp[b, a])
                    ps[idx] = v
                    acc += v * uw[idx]
                    idx += 1
            r[l] = acc / p
            if l == 0:
                break
            np.dot(P[l], lam, tmp)
            np.dot(tmp, P[l], tmp2)  # P Lam P
            fl = far[l - lo]
            for j in range(p):
                acc_p[j] = ps[j] + fl[j]
            for i in range(l + 1, hi):  # in-block part of the memory sum
                c = B[i, l]
                if c != 0.0:
                    pi = pk[i]
                    for j in range(p):
                        acc_p[j] += c * pi[j]
            idx = 0
            for a in range(d):
                lam[a, a] = tmp2[a, a] + acc_p[idx]
                idx += 1
                for b in range(a + 1, d):
                    v = acc_p[idx]
                    idx += 1
                    lam[a, b] = tmp2[a, b] + v
                    lam[b, a] = tmp2[b, a] + v
        hi = lo
    return r


@nb.njit(cache=True)
def history_contract(D: np.ndarray, G: np.ndarray, k: int, bcoef: np.ndarray, ccoef: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(mem, noise): mem = sum_{j<k} bcoef[j] D[j], noise = sum_{l<=k} ccoef[l] G[l] (two BLAS gemv on the
    flattened histories). D, G: C-contiguous (>= k+1, d, d); bcoef (>= k,), ccoef (>= k+1,)."""
    d = D.shape[1]
    dd = d * d
    D2 = D.reshape(D.shape[0], dd)
    G2 = G.reshape(G.shape[0], dd)
    if k > 0:
        mem = np.dot(np.ascontiguousarray(bcoef[:k]), D2[:k]).reshape(d, d)
    else:
        mem = np.zeros((d, d))
    noise = np.dot(np.ascontiguousarray(ccoef[:k + 1]), G2[:k + 1]).reshape(d, d)
    return mem, noise


@nb.njit(cache=True)
def gram_row(D: np.ndarray, k: int) -> np.ndarray:
    """cs[l] = <D^k, D^l>/d = (1/d) Tr(D^k D^l) for l = 0..k (one sample's row of C_S; one BLAS gemv).
    D: C-contiguous (>= k+1, d, d)."""
    d = D.shape[1]
    dd = d * d
    D2 = D.reshape(D.shape[0], dd)
    return np.dot(D2[:k + 1], np.ascontiguousarray(D2[k])) / d
