"""Stationary theory benchmarks: time per alpha_c root, per interpolation-threshold root, per stationary solve,
and per finite-d ERM instance (FISTA, Wishart sensing). Timings on a shared machine are noisy (x2);
speed is never asserted in tests."""

from __future__ import annotations

import math
import time

from benchmarks.timing import best_time
from dmft.params import ExtensiveWidthParams
from dmft.stationary import solve_stationary
from dmft.thresholds import alpha_c, interpolation_threshold
from validation.cli.common import print_table


def main(quick: bool = False) -> None:
    rep = 2 if quick else 5
    rows = []
    for k, ks in ((0.3, 0.25), (1.0, 0.5), (math.inf, 0.1)):
        t = best_time(lambda k=k, ks=ks: alpha_c(k, ks), 20 * rep)
        rows.append([f"alpha_c root (kappa={k:g}, kappa*={ks:g})", f"{1e3 * t:.3f} ms"])
    t = best_time(lambda: interpolation_threshold(1.0, 0.25, 0.5), rep)
    rows.append(["alpha_interp root (kappa>=1, kappa*=0.25, Delta=0.5)", f"{1e3 * t:.1f} ms"])
    cases = [("set B (1, 1, 0.5, 0.05, 0.5)", ExtensiveWidthParams(1.0, 1.0, 0.5, 0.05, 0.5)),
             ("set A (1, 1, 0.5, 0.01, 0)", ExtensiveWidthParams(1.0, 1.0, 0.5, 0.01, 0.0)),
             ("kappa<1 (0.4, 0.3, 0.25, 0.05, 0.1)", ExtensiveWidthParams(0.4, 0.3, 0.25, 0.05, 0.1)),
             ("near alpha_c, lam=1e-5 (0.44, 1, 0.5, 1e-5, 0)", ExtensiveWidthParams(0.44, 1.0, 0.5, 1e-5, 0.0))]
    for name, prm in (cases[:2] if quick else cases):
        sol = solve_stationary(prm)
        t = best_time(lambda prm=prm: solve_stationary(prm), 1 if quick else 3)
        rows.append([f"stationary solve {name}", f"{1e3 * t:.0f} ms ({sol.iterations} evaluations)"])
    from validation.erm import make_instance, solve_convex
    for d in ((20,) if quick else (30, 50, 70)):
        prm = ExtensiveWidthParams(1.0, 1.0, 0.5, 0.05, 0.5)
        inst = make_instance(prm, d, 0, "wishart")
        t0 = time.perf_counter()
        r = solve_convex(inst, prm.lam)
        rows.append([f"ERM FISTA set B, Wishart d={d}", f"{time.perf_counter() - t0:.2f} s ({r.iterations} its)"])
    print_table(["task", "time (best of repeats)"], rows)


if __name__ == "__main__":
    main()
