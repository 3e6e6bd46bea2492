"""DMFT solver benchmarks: numba kernels vs their numpy twins, and solver wall time vs T.

Kernels (one trajectory): ``adjoint_sweep`` (hot loop: 3 d x d matmuls per source time + blocked memory sums),
``history_contract`` (memory + noise contractions of a forward step), ``gram_row`` (C_S row). References:
``kernels_reference`` (the plain Python/numpy loop twins used by the tests) and, for the two memory-bound
contractions, a vectorised numpy expression (tensordot/einsum), which is the honest baseline.
For the adjoint sweep the reference is the straightforward numpy loop (3 BLAS matmuls per source time + an
unblocked tensordot memory sum): it is itself BLAS-bound for d >~ 20, so the table also gives the *matmul floor*,
the time of the 3k d x d matmuls alone (called from numba, no memory sum): no implementation that keeps these three
products can beat the reference by more than ``ref / floor``. The remaining gap numba - floor is the O(k^2 d^2)
memory sum (blocked GEMM) and the element-wise loops.
Solver: T = 200, 400, 800 at d_eff = 40, Ns = 2 (quick: T = 50, 100, 200 at d_eff = 12). Timings on a shared
machine are noisy; speed is never asserted in tests.
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np

from benchmarks.timing import best_time as _best
from dmft.dynamics import DMFTSettings, ensembles, kernels, solve
from dmft.dynamics import kernels_reference as ref
from dmft.params import ExtensiveWidthParams


@nb.njit(cache=True)
def _matmul_floor(k: int, P: np.ndarray, SP: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Only the 3 d x d products per source time of the adjoint sweep (S P Lam, P Lam, (P Lam) P): lower bound."""
    d = U.shape[0]
    tmp = np.empty((d, d))
    tmp2 = np.empty((d, d))
    lam = U.copy()
    for l in range(k - 1, -1, -1):
        np.dot(SP[l], lam, tmp)
        np.dot(P[l], lam, tmp)
        np.dot(tmp, P[l], tmp2)
        lam[:, :] = tmp2
    return lam


def _kernel_rows(d: int, k: int, repeat: int) -> list[list]:
    rng = np.random.default_rng(0)
    T = k + 1
    S = rng.standard_normal((T, d, d))
    S = np.einsum("tab,tcb->tac", S, S) / d
    P = np.eye(d) - 0.05 * ensembles.goe(rng, T, d)
    SP = np.einsum("tab,tbc->tac", S, P)
    B = np.tril(0.01 * rng.standard_normal((T + 1, T + 1)), -1) + np.eye(T + 1)
    U = ensembles.probes(rng, 1, d)[0]
    psi = np.empty((k, d, d))
    D = rng.standard_normal((T, d, d))
    G = rng.standard_normal((T, d, d))
    b, c = rng.standard_normal(T), rng.standard_normal(T)
    kernels.adjoint_sweep(3, P, SP, B, U, 0.05, 24, psi)  # compile / load cache
    kernels.history_contract(D, G, 3, b, c)
    kernels.gram_row(D, 3)
    _matmul_floor(3, P, SP, U)
    kk = k - 1
    rows = []
    t_nb = _best(lambda: kernels.adjoint_sweep(k, P, SP, B, U, 0.05, 24, psi), repeat)
    t_ref = _best(lambda: ref.adjoint_sweep(k, P, SP, B, U, 0.05), repeat)
    t_floor = _best(lambda: _matmul_floor(k, P, SP, U), repeat)
    rows.append(["adjoint_sweep", d, k, t_nb, t_ref, "-", t_ref / t_nb, "-", t_floor, t_ref / t_floor])
    t_nb = _best(lambda: kernels.history_contract(D, G, kk, b, c), 5 * repeat)
    t_ref = _best(lambda: ref.history_contract(D, G, kk, b, c), 5 * repeat)
    t_vec = _best(lambda: (np.tensordot(b[:kk], D[:kk], 1), np.tensordot(c[:kk + 1], G[:kk + 1], 1)), 5 * repeat)
    rows.append(["history_contract", d, kk, t_nb, t_ref, t_vec, t_ref / t_nb, t_vec / t_nb, "-", "-"])
    t_nb = _best(lambda: kernels.gram_row(D, kk), 5 * repeat)
    t_ref = _best(lambda: ref.gram_row(D, kk), 5 * repeat)
    t_vec = _best(lambda: D[:kk + 1].reshape(kk + 1, -1) @ D[kk].ravel() / d, 5 * repeat)
    rows.append(["gram_row", d, kk, t_nb, t_ref, t_vec, t_ref / t_nb, t_vec / t_nb, "-", "-"])
    return rows


def main(quick: bool = False) -> None:
    from validation.cli.common import print_table

    sizes = [(12, 50)] if quick else [(20, 200), (40, 200), (60, 200)]
    rows = []
    for d, k in sizes:
        rows += _kernel_rows(d, k, 2 if quick else 3)
    print("numba kernels vs numpy (best-of wall time, s; 1 thread)")
    print_table(["kernel", "d", "k", "numba", "numpy loop ref", "numpy vectorised", "speedup vs loop",
                 "speedup vs vec", "matmul floor", "ref / floor"], rows, floatfmt=".3g")
    params = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)
    d_eff, ns = (12, 2) if quick else (40, 2)
    Ts = (50, 100, 200) if quick else (200, 400, 800)
    srows = []
    for T in Ts:
        t0 = time.perf_counter()
        r = solve(params, DMFTSettings(eta=0.05, steps=T, d_eff=d_eff, samples=ns, seed=0), quiet=True)
        srows.append([T, d_eff, ns, time.perf_counter() - t0, float(r.test_error[-1])])
    print("\nDMFT solver wall time (set B, eta = 0.05, probes = 1)")
    print_table(["T", "d_eff", "Ns", "seconds", "test(T)"], srows, floatfmt=".4g")


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
