"""Speed of the model-(A) solvers: the d -> infinity limit vs the exact finite-d mode reduction vs the
literal d x d matrix ODE (S form, DOP853) at d = 1000 (quick: d = 200), (kappa, kappa*) = (0.5, 0.25).

The matrix ODE costs O(d^3) per right-hand side and O(d gamma) steps; at d = 1000 it is run on a short
horizon gamma in [0, gamma_b] and its cost for the full gamma in [0, 3] is extrapolated linearly (the step
count is proportional to the horizon once the initial transient is over), marked 'extrap.'.
Timings are wall-clock of one run on a shared machine; ratios are what matters.
"""

from __future__ import annotations

import time

import numpy as np

from odes.population.highdim import finite_d_matrix, finite_d_modes, solve_limit
from odes.population.params import HighDimParams


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(quick: bool = False) -> None:
    p = HighDimParams(0.5, 0.25)
    g = np.linspace(0.0, 3.0, 61)
    d = 200 if quick else 1000
    gamma_b = 0.02 if quick else 0.004
    rows = []
    t_lim, lim = _timed(lambda: solve_limit(p, g))
    rows.append(("limit J-ODE (DOP853, rtol 1e-11), gamma in [0,3]", t_lim, "measured"))
    t_modes, _ = _timed(lambda: finite_d_modes(p, d, g, seed=0))
    rows.append((f"exact mode reduction d={d} (LSODA, rtol 1e-10), gamma in [0,3]", t_modes, "measured"))
    gb = np.linspace(0.0, gamma_b, 3)
    t_mat, _ = _timed(lambda: finite_d_matrix(p, d, gb, seed=0, rtol=1e-8, atol=1e-12))
    t_full = t_mat * 3.0 / gamma_b
    rows.append((f"d x d matrix ODE d={d} (DOP853, rtol 1e-8), gamma in [0,{gamma_b:g}]", t_mat, "measured"))
    rows.append((f"d x d matrix ODE d={d}, gamma in [0,3]", t_full, "extrap."))
    w = max(len(r[0]) for r in rows)
    print(f"{'solver':<{w}}  {'seconds':>10}  {'':>8}  {'x limit':>10}")
    for name, sec, kind in rows:
        print(f"{name:<{w}}  {sec:10.3g}  {kind:>8}  {sec / t_lim:10.3g}")


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
