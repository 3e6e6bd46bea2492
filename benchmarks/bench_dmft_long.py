"""Long times: CPU cost of one gradient-flow curve on [0, t_max] -- implicit SDIRK2 DMFT vs explicit Heun DMFT vs one
GD simulation at d = 90 of the same duration.

Rows (CPU seconds = process time, one thread; set OMP_NUM_THREADS=1):

* **DMFT SDIRK2** (``FlowSettings(scheme="sdirk2")``, :mod:`dmft.dynamics.implicit_flow`): complex field,
  d_eff = 8, 32 samples (8 with responses), graded grid h_k = min(h, 0.05 x 1.15^k), h = max(0.5, t_max/40);
* **DMFT Heun** (the explicit scheme, steps below its stability bound, h = 0.05 after a graded start): only where it
  fits in the cap;
* **GD** Wishart sensing (the real model) at d = 90, eta = 0.05 (t_max/eta steps): one seed.

Each row gives the number of grid steps, the CPU time and the train/test errors at t_max with the run's standard
error (DMFT: jackknife over samples, which understates the run-to-run spread by up to 2x, docs/dmft.md), and the
relative deviation from the stationary theory (``dmft.stationary.solve_stationary``): on spec set B the curve is
stationary to < 0.1 % for t >= 40; on the noiseless set A (slow, power-law-like relaxation) only around t ~ 500.
A single finite-d run is not the d = infinity curve (GD Wishart at d = 90 carries a ~ +4 % finite-size bias, the
DMFT at d_eff = 8 a ~1 % one): this table is about reach and cost per curve, bench_dmft_accuracy about accuracy.
GD rows beyond the cap are estimated from the measured cost per step (marked "est."). Nothing here is asserted.
"""

from __future__ import annotations

import math
import os
import time

from dmft.dynamics.gradient_flow import FlowSettings, flow_grid, solve_flow
from dmft.params import ExtensiveWidthParams
from dmft.stationary import solve_stationary

SET_B = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)
SET_A = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.01, noise=0.0)


def _fmt(label: str, t_max: float, steps: str, cpu: str, train: tuple, test: tuple, ref) -> None:
    dev = f"{train[0] / ref.train_error - 1:+.1%} / {test[0] / ref.test_error - 1:+.1%}"
    print(f"{label:<28}{t_max:>8g}{steps:>8}{cpu:>10}  {train[0]:.4g}+-{train[1]:.2g}  {test[0]:.4g}+-{test[1]:.2g}"
          f"  {dev}")


def dmft_row(params, t_max: float, scheme: str, ref) -> None:
    if scheme == "sdirk2":
        steps = flow_grid(t_max, max(0.5, t_max / 40.0), 0.05, 1.15)
        st = FlowSettings(steps=tuple(steps), d_eff=8, samples=32, response_samples=8, field="complex",
                          ensemble="wishart", scheme="sdirk2", seed=1)
    else:
        steps = flow_grid(t_max, 0.05, 0.01, 1.15)
        st = FlowSettings(steps=tuple(steps), d_eff=8, samples=32, response_samples=16, field="complex",
                          ensemble="wishart", seed=1)
    c0 = time.process_time()
    r = solve_flow(params, st)
    cpu = time.process_time() - c0
    _fmt(f"DMFT {scheme} d_eff=8", t_max, str(len(steps)), f"{cpu:.1f}",
         (r.train_error[-1], r.train_error_se[-1]), (r.test_error[-1], r.test_error_se[-1]), ref)


def gd_row(params, t_max: float, cap: float, ref, d: int = 90) -> None:
    from validation.gd_simulator import simulate_gd

    eta = 0.05
    steps = int(round(t_max / eta))
    probe = min(steps, 100)
    c0 = time.process_time()
    simulate_gd(params, d, eta, probe, seed=1, sensing="wishart")
    per_step = (time.process_time() - c0) / probe
    if per_step * steps > cap:
        print(f"{'GD wishart d=' + str(d):<28}{t_max:>8g}{steps:>8}{per_step * steps:>9.0f}*  (est. from "
              f"{per_step * 1e3:.1f} ms/step; beyond the {cap:g} s cap)")
        return
    c0 = time.process_time()
    train, test = simulate_gd(params, d, eta, steps, seed=1, sensing="wishart")
    _fmt(f"GD wishart d={d}", t_max, str(steps), f"{time.process_time() - c0:.1f}", (train[-1], 0.0),
         (test[-1], 0.0), ref)


def main(quick: bool = False) -> None:
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    cap = 20.0 if quick else 300.0
    print(f"one curve on [0, t_max], CPU s (OMP_NUM_THREADS={threads}; set it to 1); GD cap {cap:g} s")
    print(f"{'method':<28}{'t_max':>8}{'steps':>8}{'CPU s':>10}  train(t_max)  test(t_max)  vs stationary "
          "train / test")
    cases = [(SET_B, "set B", (4.0,) if quick else (10.0, 60.0, 100.0))]
    if not quick:
        cases.append((SET_A, "set A (noiseless, slow)", (1000.0,)))
    for params, name, tmaxes in cases:
        ref = solve_stationary(params)
        print(f"-- {name}: stationary train {ref.train_error:.5g}, test {ref.test_error:.5g}")
        for t_max in tmaxes:
            dmft_row(params, t_max, "sdirk2", ref)
            if t_max <= 10.0:
                dmft_row(params, t_max, "heun", ref)
            else:
                print(f"{'DMFT heun d_eff=8':<28}{t_max:>8g}{math.ceil(t_max / 0.05):>8}{'-':>10}  (T^2-T^3 cost: "
                      "not run)")
            gd_row(params, t_max, cap, ref)


if __name__ == "__main__":
    main()
