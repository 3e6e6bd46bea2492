r"""Adjoint sweep of the Heun (2nd-order) gradient-flow scheme of :mod:`dmft.dynamics.gradient_flow`.

The scheme has two evaluation points per step k (step h_k): i = 2k (main point, s^{2k} = S^k at t_k) and
i = 2k+1 (predictor, at t_{k+1}). With A_k = g^{2k} + lam, P_k = I - h_k A_k, At_k = g^{2k+1} + lam,
Pt_k = I - h_k At_k and Q_k = I - (h_k/2)(A_k + P_k At_k) (Heun on the W-flow dW/dt = -W(G + lam)):

    s^{2k+1} = P_k S^k P_k,        s^{2k+2} = S^{k+1} = Q_k^T S^k Q_k,
    g^i = (s^i - S*) + sum_{m<i} B(i,m) (s^m - S*) + Xi^i.

Reverse mode for a target i* and a symmetric probe U (lambda_i: adjoint of s^i, gamma_i: adjoint of g^i,
lambda_{i*} = U, sym(X) = (X + X^T)/2, sums over m restricted to m < i*):

    X         = S^k Q_k lambda_{2k+2}
    gamma_b   = -(h_k/2) (P_k X + X^T P_k)                                   (b = 2k+1)
    lambda_b  = gamma_b + sum_{m>b} B(m,b) gamma_m
    gamma_a   = -h_k (S^k P_k lambda_b + lambda_b P_k S^k) - (h_k/2)(X Pt_k + Pt_k X^T)     (a = 2k)
    lambda_a  = P_k lambda_b P_k + Q_k lambda_{2k+2} Q_k^T + gamma_a + sum_{m>a} B(m,a) gamma_m

(for a predictor target i* = 2K+1: gamma_{2K} = -h_K (S^K P_K U + U P_K S^K), lambda_{2K} = P_K U P_K + gamma_{2K}).
Then <U, (ds^{i*}/dg^j) U> = <gamma_j, U> and r[j] = <gamma_j, U>/p estimates R_S(i*, j) (p = d(d+1)/2).
Complex-Hermitian field (beta = 2, ``FlowSettings(field="complex")``): the same kernel on complex arrays, with every
transpose a conjugate transpose (s^{2k+2} = Q_k^H S^k Q_k, adjoint Lambda -> Q_k Lambda Q_k^H, sym(X) = (X + X^H)/2)
and r[j] = Re <gamma_j, U>/p with p = d^2 (``p`` is passed in); numba compiles one specialisation per dtype.
Cost per sweep: O(i* d^3) (about 12 d x d products per step) + O(i*^2 d^2) (memory sums).
:func:`heun_adjoint_reference` is the plain-numpy twin (same equations, used by the tests).
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: below this size the d x d products are plain loops (a BLAS call costs more than the arithmetic)
SMALL = 12


@nb.njit(cache=True)
def _mm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b for square d x d blocks: loops for d <= SMALL, BLAS otherwise."""
    d = a.shape[0]
    if d > SMALL:
        np.dot(a, b, out)
        return
    for i in range(d):
        for j in range(d):
            out[i, j] = 0.0
        for k in range(d):
            aik = a[i, k]
            for j in range(d):
                out[i, j] += aik * b[k, j]


@nb.njit(cache=True)
def _mm_h(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b^H (conjugate transpose; the plain transpose for real arrays)."""
    d = a.shape[0]
    if d > SMALL:
        np.dot(a, np.ascontiguousarray(np.conj(b).T), out)
        return
    for i in range(d):
        for j in range(d):
            acc = 0.0 * out[i, j]
            for k in range(d):
                acc += a[i, k] * np.conj(b[j, k])
            out[i, j] = acc


@nb.njit(cache=True)
def _axpy_memory(out: np.ndarray, B: np.ndarray, gam: np.ndarray, j: int, target: int) -> None:
    """out += sum_{j<m<target} B(m, j) gam[m] (in place, no temporaries)."""
    d = out.shape[0]
    for m in range(j + 1, target):
        c = B[m, j]
        if c != 0.0:
            g = gam[m]
            for a in range(d):
                for b in range(d):
                    out[a, b] += c * g[a, b]


@nb.njit(cache=True)
def heun_adjoint(target: int, S: np.ndarray, P: np.ndarray, Q: np.ndarray, Pt: np.ndarray, h: np.ndarray,
                 B: np.ndarray, U: np.ndarray, gam: np.ndarray, block: int = 8, p: float = 0.0) -> np.ndarray:
    """r[j] = <gamma_j, U>/p for j < target (see module docstring). S, P, Q, Pt: (>= K+1, d, d) per-step
    histories (S^k, P_k, Q_k, Pt_k); h: steps; B: (N, N) memory kernel; gam: C-contiguous work buffer
    (>= target, d, d). The memory sums are blocked over ``block`` steps (2 block evaluation points): the part with
    m beyond the block is one GEMM B[hi:target, lo:hi]^T @ gam[hi:target] on entering the block, the in-block part
    a short loop. Real (symmetric) or complex (Hermitian) arrays; p: real dimension of the matrix space
    (0: d(d+1)/2, the symmetric case)."""
    d = U.shape[0]
    if p == 0.0:
        p = d * (d + 1) / 2.0
    r = np.zeros(target)
    if target == 0:
        return r
    lam_c = U.copy()
    t1 = np.empty((d, d), U.dtype)
    t2 = np.empty((d, d), U.dtype)
    X = np.empty((d, d), U.dtype)
    lam_b = np.empty((d, d), U.dtype)
    dd = d * d
    g2 = gam.reshape(gam.shape[0], dd)
    far = np.zeros((2 * block, dd), U.dtype)
    hi = target  # evaluation indices >= hi are final and covered by ``far``; the block is [lo, hi)
    lo = target
    if target % 2 == 1:
        K = (target - 1) // 2
        hk = h[K]
        _mm(S[K], P[K], t1)
        _mm(t1, U, t2)  # S P U
        ga = gam[2 * K]
        for a in range(d):
            for b in range(d):
                ga[a, b] = -hk * (t2[a, b] + np.conj(t2[b, a]))
        _mm(P[K], U, t1)
        _mm(t1, P[K], t2)
        for a in range(d):
            for b in range(d):
                lam_c[a, b] = t2[a, b] + ga[a, b]
        kstart = K - 1
    else:
        kstart = target // 2 - 1
    if target % 2 == 1:
        hi = target - 1  # gamma_{target-1} already computed; it enters the memory of j < target-1 below
        lo = hi
    for k in range(kstart, -1, -1):
        hk = h[k]
        ib, ia = 2 * k + 1, 2 * k
        if ia < lo:  # enter a new block [lo, hi) of evaluation indices
            hi = lo
            lo = max(0, hi - 2 * block)
            nbk = hi - lo
            if target > hi:
                coef = np.ascontiguousarray(B[hi:target, lo:hi].T).astype(U.dtype)
                np.dot(coef, g2[hi:target], far[:nbk])
            else:
                far[:nbk] = 0.0
        _mm(S[k], Q[k], t1)
        _mm(t1, lam_c, X)  # X = S Q lam_c
        _mm(P[k], X, t1)  # P X
        gb = gam[ib]
        for a in range(d):
            for b in range(d):
                gb[a, b] = -0.5 * hk * (t1[a, b] + np.conj(t1[b, a]))
        fb = far[ib - lo]
        for a in range(d):
            for b in range(d):
                lam_b[a, b] = gb[a, b] + fb[a * d + b]
        _axpy_memory(lam_b, B, gam, ib, hi)
        ga = gam[ia]
        _mm(X, Pt[k], t1)  # X Pt
        _mm(S[k], P[k], t2)
        _mm(t2, lam_b, X)  # reuse X: S P lam_b
        for a in range(d):
            for b in range(d):
                ga[a, b] = -hk * (X[a, b] + np.conj(X[b, a])) - 0.5 * hk * (t1[a, b] + np.conj(t1[b, a]))
        # lam_a = P lam_b P + Q lam_c Q^T + gamma_a + memory
        _mm(P[k], lam_b, t1)
        _mm(t1, P[k], t2)
        _mm(Q[k], lam_c, t1)
        _mm_h(t1, Q[k], X)
        for a in range(d):
            for b in range(d):
                lam_c[a, b] = t2[a, b] + X[a, b] + ga[a, b] + far[ia - lo, a * d + b]
        _axpy_memory(lam_c, B, gam, ia, hi)
    for j in range(target):
        acc = 0.0
        g = gam[j]
        for a in range(d):
            for b in range(d):
                acc += (np.conj(g[a, b]) * U[a, b]).real
        r[j] = acc / p
    return r


def heun_adjoint_reference(target: int, S: np.ndarray, P: np.ndarray, Q: np.ndarray, Pt: np.ndarray,
                           h: np.ndarray, B: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Plain-numpy twin of :func:`heun_adjoint` (no preallocated buffers, tensordot memory sums)."""
    d = U.shape[0]
    p = d * (d + 1) / 2.0
    gam = np.zeros((max(target, 1), d, d))

    def mem(j: int) -> np.ndarray:
        return np.tensordot(B[j + 1:target, j], gam[j + 1:target], axes=(0, 0)) if target > j + 1 else 0.0

    lam_c = U.copy()
    if target % 2 == 1:
        K = (target - 1) // 2
        m_ = S[K] @ P[K] @ U
        gam[2 * K] = -h[K] * (m_ + m_.T)
        lam_c = P[K] @ U @ P[K] + gam[2 * K]
        kstart = K - 1
    else:
        kstart = target // 2 - 1
    for k in range(kstart, -1, -1):
        hk = h[k]
        X = S[k] @ Q[k] @ lam_c
        gam[2 * k + 1] = -0.5 * hk * (P[k] @ X + X.T @ P[k])
        lam_b = gam[2 * k + 1] + mem(2 * k + 1)
        Y = S[k] @ P[k] @ lam_b
        gam[2 * k] = -hk * (Y + Y.T) - 0.5 * hk * (X @ Pt[k] + Pt[k] @ X.T)
        lam_c = P[k] @ lam_b @ P[k] + Q[k] @ lam_c @ Q[k].T + gam[2 * k] + mem(2 * k)
    return np.array([np.sum(gam[j] * U) / p for j in range(target)])
