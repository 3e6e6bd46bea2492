"""Speed of the model-(A) solvers: the d -> infinity limit vs the exact finite-d mode reduction vs the
literal d x d matrix ODE (S form, DOP853) at d = 1000 (quick: d = 200), (kappa, kappa*) = (0.5, 0.25).

The matrix ODE costs O(d^3) per right-hand side and its explicit steps are limited by the trace relaxation
(rate ~2 in t = d tau), so the full tau in [0, 3] at d = 1000 (t up to 3000) would take ~20 min. It is run
on the short horizon tau in [0, 4/d] (t in [0, 4]) and extrapolated with the full/short cost ratio MEASURED
at d = 200 (both horizons run there), times 1000/200 for the longer t range:
T_full(1000) ~ T_short(1000) * [T_full(200)/T_short(200)] * 5. (A plain linear extrapolation in tau
overestimates ~3-6x because the step size grows once the transient is over.) Marked 'extrap.'.
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
    rows = []
    t_lim, lim = _timed(lambda: solve_limit(p, g))
    rows.append(("limit J-ODE (DOP853, rtol 1e-11), tau in [0,3]", t_lim, "measured"))
    t_modes, _ = _timed(lambda: finite_d_modes(p, d, g, seed=0))
    rows.append((f"exact mode reduction d={d} (LSODA, rtol 1e-10), tau in [0,3]", t_modes, "measured"))

    def matrix(dd: int, gmax: float) -> float:
        return _timed(lambda: finite_d_matrix(p, dd, np.linspace(0.0, gmax, 3), seed=0, rtol=1e-8,
                                              atol=1e-12))[0]

    s200, f200 = matrix(200, 4.0 / 200), matrix(200, 3.0)
    rows.append(("d x d matrix ODE d=200 (DOP853, rtol 1e-8), tau in [0,3]", f200, "measured"))
    if not quick:
        s_d = matrix(d, 4.0 / d)
        rows.append((f"d x d matrix ODE d={d}, tau in [0,{4.0 / d:g}]", s_d, "measured"))
        rows.append((f"d x d matrix ODE d={d}, tau in [0,3]", s_d * (f200 / s200) * (d / 200), "extrap."))
    w = max(len(r[0]) for r in rows)
    print(f"{'solver':<{w}}  {'seconds':>10}  {'':>8}  {'x limit':>10}")
    for name, sec, kind in rows:
        print(f"{name:<{w}}  {sec:10.3g}  {kind:>8}  {sec / t_lim:10.3g}")


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
