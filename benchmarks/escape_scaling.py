"""Random-start escape time vs N (docs/finite_width.md, "Random-start escape"): ODE and online SGD.

Usage: ``python -m benchmarks.escape_scaling [--quick]`` (full: ~10 min on 2 shared cores, the SGD at N = 4000
dominates). For (p, p*, gamma) = (2, 1, 0.1), (4, 2, 0.15), (8, 4, 0.2):

* ODE from random starts M0 = G/sqrt(N), Q_perp(0) = I (``initial_overlaps``), N = 1e3 ... 1e6, 8 seeds with common
  G across N: mean escape time and successive slopes d alpha_esc / d ln N vs 1/(2 rho);
* online SGD (protocol R, ``validation.online_sgd.simulate``) at N = 500 ... 4000, 4 seeds: escape time
  (eps_g < eps_pl/2, linear interpolation on a 0.25 grid) and the ODE escape time from each run's exact
  (Q(0), M(0)); pooled OLS slopes vs ln N with standard errors.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from scipy import stats

from odes.finite_width.integrate import initial_overlaps
from odes.finite_width.params import FiniteWidthParams
from odes.finite_width.plateau import ode_escape_time, plateau
from validation.online_sgd import simulate

CONFIGS = [(2, 1, 0.1, 34.0), (4, 2, 0.15, 40.0), (8, 4, 0.2, 50.0)]


def _crossing(alpha: np.ndarray, eps: np.ndarray, target: float) -> float:
    below = np.nonzero(eps < target)[0]
    below = below[below > 0]
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    return float(alpha[k - 1] + (target - eps[k - 1]) / (eps[k] - eps[k - 1]) * (alpha[k] - alpha[k - 1]))


def _slope(x: np.ndarray, y: np.ndarray) -> str:
    r = stats.linregress(x, y)
    return f"{r.slope:.2f} +- {r.stderr:.2f}"


def main(quick: bool = False) -> None:
    ode_N = (1e3, 1e4) if quick else (1e3, 1e4, 1e5, 1e6)
    sgd_N = (500, 1000) if quick else (500, 1000, 2000, 4000)
    seeds = 2 if quick else 4
    for p, ps, g, amax in CONFIGS:
        prm = FiniteWidthParams(p, ps, gamma=g)
        pl = plateau(prm)
        pred = 1.0 / (2.0 * pl.escape_rate)
        A = np.array([[ode_escape_time(prm, *initial_overlaps(prm, N=int(N), seed=s)) for s in range(8)]
                      for N in ode_N])
        succ = np.diff(A.mean(axis=1)) / np.diff(np.log(ode_N))
        print(f"(p, p*, gamma) = ({p}, {ps}, {g}): rho = {pl.escape_rate:.5f}, 1/(2 rho) = {pred:.4f}")
        print(f"  ODE, N = {ode_N}: mean alpha_esc {np.round(A.mean(axis=1), 3)}, "
              f"successive slopes {np.round(succ, 4)}")
        al = np.arange(0.0, amax + 1e-9, 0.25)
        xs, ys, yo = [], [], []
        for N in sgd_N:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = simulate(prm, N, al, seeds=seeds, seed=0, init="R", quiet=True)
            for s in range(seeds):
                if r.diverged[s]:
                    continue
                xs.append(np.log(N))
                ys.append(_crossing(r.alpha, r.eps_g[s], 0.5 * pl.eps))
                Q0 = r.Q[s, 0]
                yo.append(ode_escape_time(prm, 0.5 * (Q0 + Q0.T), r.M[s, 0], alpha_max=400.0))
            print(f"  SGD N = {N}: alpha_esc {np.round(ys[-seeds:], 2)}, "
                  f"ODE from the same start {np.round(yo[-seeds:], 2)}")
        x, y, z = np.array(xs), np.array(ys), np.array(yo)
        print(f"  slopes vs ln N: SGD {_slope(x, y)}, ODE {_slope(x, z)}, SGD - ODE {_slope(x, y - z)}; "
              f"mean shift SGD - ODE {np.mean(y - z):.2f} +- {np.std(y - z, ddof=1) / np.sqrt(y.size):.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m benchmarks.escape_scaling")
    ap.add_argument("--quick", action="store_true")
    main(quick=ap.parse_args().quick)
