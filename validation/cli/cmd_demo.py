"""``quadnet demo``: the headline of the library in about a minute.

Extensive-width quadratic network (student width m = kappa d, teacher m* = kappa* d, n = alpha d^2 samples) in
the spec's parameter set B: alpha = 1, kappa = 1, kappa* = 0.5, lam = 0.05, Delta = 0.5, sigma0 = 1. It computes

* the d = infinity train and test curves of gradient flow from the DMFT (second-order Heun scheme, t <= 10),
* their t = infinity limit from the stationary theory (spectral soft-thresholding of S* + sigma GOE),
* finite-d gradient descent on the real model (Wishart sensing Z = (x x^T - I)/sqrt d, d = 70, eta = 0.05,
  4 seeds),

and prints them side by side (value ± standard error; DMFT: run-to-run, GD: over seeds), the stationary row
t = inf and the wall times. ``--out demo.h5`` also writes the result (a
:class:`validation.compare_dmft.DMFTComparison`) and the figure ``demo.png``; ``--json`` prints its JSON.

GD at finite d with the real sensing sits a little above the d = infinity curves (O(1/d) corrections, a few %
at d = 70); the DMFT runs its effective process over complex Hermitian matrices, whose finite-size bias is
O(1/d_eff^2) (about 1-2 % at the demo's d_eff = 8), and carries its Monte-Carlo error (docs/dmft.md).

The former demo (finite-width overlap ODEs vs online SGD, (p, p*) = (2, 1), gamma = 0.1, warm start, N = 250,
500, 1000, alpha <= 20; same tables and figure) is::

    quadnet validate ode --p 2 --pstar 1 --gamma 0.1 --M0 '[[0.2],[0.1]]' --N 250,500,1000 --seeds 4 --rtol 1e-9 \\
        --alphas 0,1,2,3,4,5,6,8,10,12.5,15,17.5,20 --out ode.h5
"""

from __future__ import annotations

import argparse

from validation.cli import common

FORMER_DEMO = ("quadnet validate ode --p 2 --pstar 1 --gamma 0.1 --M0 '[[0.2],[0.1]]' --N 250,500,1000 --seeds 4 "
               "--rtol 1e-9 --alphas 0,1,2,3,4,5,6,8,10,12.5,15,17.5,20 --out ode.h5")
DEMO_D = 70
DEMO_SEEDS = 4
DEMO_T_MAX = 10.0
DEMO_ETA = 0.05
MAX_T_MAX = 20.0  # the demo is a demo: the DMFT's cost grows as t_max^2


def _handler(args: argparse.Namespace) -> int:
    from odes.common import check

    check.integer("seeds", args.seeds, lo=1, hi=1000)
    check.real("t_max", args.t_max, lo=0.0, lo_open=True, hi=MAX_T_MAX)  # also refuses nan
    for name, value, lo, hi in (("d_eff", args.d_eff, 2, 400), ("samples", args.samples, 2, 1000),
                                ("runs", args.runs, 1, 1000)):
        if value is not None:
            check.integer(name, value, lo=lo, hi=hi)
    from dmft.params import ExtensiveWidthParams
    from validation.compare_dmft import DEMO_PARAMS, compare_dmft, demo_flow_settings, format_row

    params = ExtensiveWidthParams(**DEMO_PARAMS)
    flow_kw = {k: v for k, v in (("d_eff", args.d_eff), ("samples", args.samples), ("runs", args.runs))
               if v is not None}
    flow = demo_flow_settings(args.t_max, seed=args.seed, **flow_kw)
    if not args.json:
        p = params
        print(f"quadnet demo: extensive-width quadratic network, alpha = {p.alpha:g} (n = alpha d^2), "
              f"kappa = {p.kappa_label}, kappa* = {p.kappa_star:g}, lam = {p.lam:g}, Delta = {p.noise:g}, "
              f"sigma0 = {flow.sigma0:g}; gradient flow t <= {args.t_max:g}\n"
              f"  DMFT (d = inf): Heun, {len(flow.steps)} steps, d_eff = {flow.d_eff}, {flow.samples} samples x "
              f"{flow.runs} runs;  GD: d = {args.d}, {args.seeds} seeds, eta = {DEMO_ETA:g}, Wishart sensing",
              flush=True)
    res = compare_dmft(params, args.t_max, flow, d=args.d, seeds=args.seeds, eta=DEMO_ETA, sensing="wishart",
                       seed0=args.seed, quiet=args.quiet or args.json)

    def table() -> None:
        _, rows = res.table()
        print()
        common.print_table(["t", "DMFT train", "GD train", "DMFT test", "GD test"], [format_row(r) for r in rows])
        print("± : statistical standard errors. Not included: the DMFT's finite-d_eff bias (about 1 % at d_eff = 8 on "
              "this set) and GD's finite-d bias (+O(1/d); docs/dmft.md).")
        print(f"\nwall time: DMFT {res.wall_time_dmft:.1f} s, stationary theory {res.wall_time_stationary:.2f} s, "
              f"GD {res.wall_time_gd:.1f} s ({res.wall_time_gd / len(res.gd.seeds):.1f} s per run)")

    return common.finish(args, res, table=table)


def register(sub, vsub) -> None:
    p = sub.add_parser("demo", help="the headline in ~1 min: DMFT train/test curves, their t = inf limit and "
                                    "finite-d GD (old ODE demo: quadnet validate ode)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_common(p)
    p.add_argument("--seeds", type=int, default=DEMO_SEEDS, help=f"GD runs (default {DEMO_SEEDS})")
    # smaller runs (tests, quick looks); the defaults are the demo
    p.add_argument("--t-max", type=float, default=DEMO_T_MAX, help=argparse.SUPPRESS)
    p.add_argument("--d", type=int, default=DEMO_D, help=argparse.SUPPRESS)
    p.add_argument("--d-eff", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--samples", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--runs", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(out=None, plot_from_out=True)
    common.set_handler(p, _handler)
