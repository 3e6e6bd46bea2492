"""Benchmark: overlap-ODE integration vs finite-N online SGD, and the ODE cost vs the student width p.

Table 1: for a few (p, p*, gamma), one ODE integration (DOP853, rtol 1e-10, the same output grid) against one
online-SGD run at N = 2000 (protocol V warm start) over the same alpha range; ratio t_sim / t_ode and the cost
per SGD step. Table 2: one right-hand-side evaluation (median of repeats) and one integration (alpha in [0, 10],
rtol 1e-8) for p = 4 ... 256 at p* = 2, gamma = 0.1 (the RHS is O(p^3) matrix algebra).

Timings are wall-clock on the current machine (on a shared machine they are inflated by the load); nothing is
asserted. ``python -m benchmarks finite_width [--quick]``.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.timing import best_time


def ode_vs_simulation(quick: bool = False) -> list[list]:
    from odes.finite_width import FiniteWidthParams
    from odes.finite_width.integrate import initial_overlaps, integrate_overlaps
    from validation.online_sgd import random_orthonormal_M0, run_single

    N = 500 if quick else 2000
    alpha_max = 5.0 if quick else 20.0
    alphas = np.linspace(0.0, alpha_max, 21)
    cases = [(2, 1, 0.1), (4, 2, 0.15)] if quick else [(1, 1, 0.05), (2, 1, 0.1), (4, 2, 0.15), (8, 4, 0.1)]
    run_single(FiniteWidthParams(p=1, p_star=1, gamma=0.05), 50, [0.0, 0.1], 0, M0=[[0.3]])  # numba warm-up
    rows = []
    for p, ps, g in cases:
        P = FiniteWidthParams(p=p, p_star=ps, gamma=g)
        M0 = random_orthonormal_M0(p, ps, 0.3, seed=0)
        Q0, M0 = initial_overlaps(P, M0)
        t_ode = best_time(lambda P=P, Q0=Q0, M0=M0: integrate_overlaps(P, Q0, M0, alphas, rtol=1e-10, atol=1e-12),
                      repeat=2)
        t_sim = best_time(lambda P=P, M0=M0: run_single(P, N, alphas, 0, init="V", M0=M0))
        steps = alpha_max * N
        rows.append([f"({p},{ps})", g, N, alpha_max, t_ode, t_sim, t_sim / t_ode, 1e6 * t_sim / steps])
    return rows


def ode_cost_vs_p(quick: bool = False) -> list[list]:
    from odes.finite_width import FiniteWidthParams
    from odes.finite_width.integrate import initial_overlaps, integrate_overlaps
    from odes.finite_width.ode import rhs
    from validation.online_sgd import random_orthonormal_M0

    ps_, g = 2, 0.1
    widths = [4, 8, 16, 32, 64] if quick else [4, 8, 16, 32, 64, 128, 256]
    rows = []
    for p in widths:
        P = FiniteWidthParams(p=p, p_star=ps_, gamma=g)
        Q0, M0 = initial_overlaps(P, random_orthonormal_M0(p, ps_, 0.3, seed=0))
        reps = 50 if p <= 64 else 10
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            rhs(Q0, M0, P)
            ts.append(time.perf_counter() - t0)
        t_rhs = float(np.median(ts))
        t0 = time.perf_counter()
        tr = integrate_overlaps(P, Q0, M0, np.linspace(0.0, 10.0, 11), rtol=1e-8, atol=1e-10)
        t_int = time.perf_counter() - t0
        rows.append([p, ps_, 1e6 * t_rhs, t_int, int(tr.nfev), 1e6 * t_int / max(tr.nfev, 1)])
    return rows


def main(quick: bool = False) -> None:
    from validation.cli.common import print_table

    print("ODE integration vs one online-SGD run over the same alpha range (DOP853 rtol 1e-10; 21 output points)")
    print_table(["(p,p*)", "gamma", "N", "alpha_max", "t_ode [s]", "t_sim [s]", "t_sim/t_ode", "us/SGD step"],
                [[r[0], f"{r[1]:g}", r[2], f"{r[3]:g}", f"{r[4]:.3f}", f"{r[5]:.3f}", f"{r[6]:.1f}", f"{r[7]:.1f}"]
                 for r in ode_vs_simulation(quick)])
    print("\nODE cost vs p (p* = 2, gamma = 0.1; one RHS evaluation; one integration alpha in [0, 10], rtol 1e-8)")
    print_table(["p", "p*", "t_rhs [us]", "t_integration [s]", "nfev", "us per RHS in integration"],
                [[r[0], r[1], f"{r[2]:.1f}", f"{r[3]:.3f}", r[4], f"{r[5]:.1f}"] for r in ode_cost_vs_p(quick)])


if __name__ == "__main__":
    main()
