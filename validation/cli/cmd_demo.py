"""``quadnet demo``: the newcomer's one-minute tour.

Runs online SGD for a quadratic two-layer student (p = 2) learning a teacher (p* = 1) at effective learning
rate gamma = 0.1 from a warm start (protocol V: M(0) = (0.2, 0.1)^T, Q_perp(0) = I), at N = 250, 500, 1000 with
4 seeds each up to alpha = 20, integrates the exact N -> infinity overlap ODEs from the same initial states,
prints theory vs simulation for eps_g and the deviation table (deviations shrink like N^{-1/2}); with
``--out demo.h5`` it also writes ``demo.h5`` and ``demo.png``. ``--json``: the ``validate ode`` JSON.
"""

from __future__ import annotations

import argparse

import numpy as np

from validation.cli import common

DEMO_NS = (250, 500, 1000)
DEMO_ALPHAS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.5, 15.0, 17.5, 20.0)
DEMO_M0 = ((0.2,), (0.1,))


def _handler(args: argparse.Namespace) -> int:
    from odes.finite_width import FiniteWidthParams
    from validation.cli.cmd_validate_ode import report
    from validation.compare_ode import compare_ode

    params = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    if not args.json:
        print("quadnet demo: student p = 2, teacher p* = 1, gamma = 0.1, warm start M0 = (0.2, 0.1)^T, "
              f"N = {', '.join(map(str, DEMO_NS))}, {args.seeds} seeds each, alpha <= 20")
    res = compare_ode(params, DEMO_NS, DEMO_ALPHAS, seeds=args.seeds, seed=args.seed, init="V",
                      M0=np.array(DEMO_M0), rtol=1e-9, atol=1e-11, quiet=args.quiet or args.json)
    if not args.json:
        big = res.width(DEMO_NS[-1])
        sim = big.simulation
        ode = big.ode_eps_g[sim.valid].mean(axis=0)
        print(f"\ngeneralisation error eps_g(alpha): ODE vs online SGD at N = {DEMO_NS[-1]} "
              f"(mean ± std over {sim.n_valid} runs)")
        m, s = sim.mean("eps_g"), sim.std("eps_g")
        common.print_table(["alpha", "ODE", "SGD", "(SGD-ODE)/std"],
                           [[f"{a:g}", f"{o:.5f}", f"{mm:.5f} ± {ss:.5f}",
                             f"{(mm - o) / ss:+.2f}" if ss > 1e-12 else "-"]
                            for a, o, mm, ss in zip(sim.alpha, ode, m, s)])
        print("\nmax deviation over alpha (mean ± std over runs) per N:")
    return report(args, res, title="quadnet demo: ODE vs online SGD, (p, p*) = (2, 1), $\\gamma$ = 0.1")


def register(sub, vsub) -> None:
    p = sub.add_parser("demo", help="quick tour: ODE vs online SGD at (p, p*) = (2, 1) (< 1 min)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(p)
    p.add_argument("--seeds", type=int, default=4, help="runs per N (default 4)")
    p.set_defaults(out=None, plot_from_out=True)
    common.set_handler(p, _handler)
