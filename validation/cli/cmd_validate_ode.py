"""``quadnet validate ode``: overlap ODEs vs finite-N online SGD for a list of widths N.

Example::

    quadnet validate ode --p 2 --pstar 1 --gamma 0.1 --M0 '[[0.2],[0.1]]' --alphas 0,5,10,20 \\
        --N 500,1000,2000 --seeds 4 --out results.h5

prints eps_g(alpha) of the ODE vs online SGD at the largest N (mean ± std over runs), the deviation table (max
over alpha of |sim - ODE| for eps_g, Q, M and rotation invariants, mean ± std over seeds, per N) and the fitted
exponents of deviation vs N, and writes ``results.h5`` (an :class:`validation.compare_ode.ODEComparison`) and a PNG
(``--plot``, default: ``--out`` with suffix .png).
``--init V`` (default): warm start with Q_perp(0) = I (``--Q0`` sets Q(0), hence Q_perp(0) = Q0 - M0 T^-1 M0^T);
without ``--M0`` the warm start is 0.3 x a random matrix with orthonormal columns (seeded by ``--seed``).
``--init R``: random initialisation (plateau + escape; deviations do NOT shrink with N, see docs/online_sgd.md).
"""

from __future__ import annotations

import argparse

import numpy as np

from validation.cli import common, options
from validation.cli.cmd_ode import build_params


def warm_start_from_args(args: argparse.Namespace, params) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(M0, R0 = Q_perp(0)) for protocol V from ``--M0``/``--Q0``; (None, None) for protocol R."""
    from odes.common import check
    from odes.common.errors import ParameterError
    from odes.finite_width.integrate import check_realizable
    from odes.finite_width.params import MAX_MAGNITUDE
    from validation.online_sgd import random_orthonormal_M0

    p, ps = params.p, params.p_star
    if args.init == "R":
        if args.M0 is not None or args.Q0 is not None:
            raise ParameterError("M0", "--M0/--Q0 are for the warm start (--init V), not the random init")
        return None, None
    if args.M0 is None:
        M0 = random_orthonormal_M0(p, ps, 0.3, seed=args.seed)
    else:
        M0 = check.array("M0", common.matrix("M0", args.M0), shape=(p, ps), bound=MAX_MAGNITUDE)
    if args.Q0 is None:
        return M0, None
    Q0 = check.symmetric_psd("Q0", common.matrix("Q0", args.Q0), p, bound=MAX_MAGNITUDE)
    return M0, check_realizable(Q0, M0, params.T)     # the same check as integrate_overlaps


def _handler(args: argparse.Namespace) -> int:
    from odes.common.errors import ParameterError

    params = build_params(args)  # validated exactly as ``quadnet ode`` does
    alphas = common.float_list("alphas", args.alphas)
    Ns = common.int_list("N", args.N)
    if not 1 <= args.seeds <= 10**6:
        raise ParameterError("seeds", f"must be an integer in [1, 1e6], got {args.seeds}")
    if any(n < params.p + params.p_star for n in Ns):
        raise ParameterError("N", f"every N must be >= p + p* = {params.p + params.p_star}")
    M0, R0 = warm_start_from_args(args, params)
    from validation.compare_ode import compare_ode  # numerics (numba) only after the input is validated

    res = compare_ode(params, Ns, alphas, seeds=args.seeds, seed=args.seed, init=args.init, M0=M0, R0=R0,
                      rtol=args.rtol, atol=args.rtol * 1e-2, quiet=args.quiet or args.json,
                      check_stability=not args.no_stability_check)
    return report(args, res)


def report(args: argparse.Namespace, res, *, title: str | None = None) -> int:
    """The output of ``validate ode``: eps_g(alpha) of the ODE vs the simulation at the largest N, the deviation
    table (or ``res.to_json()``, with the keys of
    quadnet 0.1 kept for one release), then ``--out`` and the PNG (:func:`common.finish`)."""

    def table() -> None:
        big = res.width(res.Ns[-1])
        sim = big.simulation
        ode = big.ode_eps_g[sim.valid].mean(axis=0)
        m, s = sim.mean("eps_g"), sim.std("eps_g")
        print(f"generalisation error eps_g(alpha): ODE vs online SGD at N = {int(res.Ns[-1])} "
              f"(mean ± std over {sim.n_valid} runs)")
        common.print_table(["alpha", "ODE", "SGD", "(SGD-ODE)/std"],
                           [[f"{a:g}", f"{o:.5f}", f"{mm:.5f} ± {ss:.5f}",
                             f"{(mm - o) / ss:+.2f}" if ss > 1e-12 else "-"]
                            for a, o, mm, ss in zip(sim.alpha, ode, m, s)])
        print("\nmax deviation over alpha (mean ± std over runs) per N:")
        header, rows = res.table()
        cells = []
        for r in rows:
            cells.append([r[i] for i in (0, 1, 2)] + [f"{r[3 + k]:.4g} ± {r[7 + k]:.2g}" for k in range(4)]
                         + [f"{r[11]:.3g}", f"{r[12]:.3g}"])
        common.print_table(["N", "runs", "diverged", "D_eps", "D_Q", "D_M", "D_inv", "t_sim [s]", "t_ode [s]"],
                           cells)
        if res.exponents:
            print("fitted exponent x of D ~ N^x (expect about -1/2 for a warm start):  "
                  + ",  ".join(f"{m}: {res.exponents[m]:+.2f} ± {res.exponent_errors[m]:.2f}"
                               for m in res.exponents))
        if res.init == "R":
            print("note: protocol R (random init): the escape time fluctuates by O(1) at every N, so these "
                  "deviations are not expected to shrink with N.")

    def draw(path: str) -> None:
        import matplotlib.pyplot as plt

        ax = res.plot(title=title)
        ax.figure.savefig(path, format="png", dpi=120)
        plt.close(ax.figure)

    payload = None
    if args.json:
        payload = {**res.to_json(), "out": args.out, "plot": common.plot_path(args)}
    return common.finish(args, res, payload=payload, table=table, plot=draw)


def register(sub, vsub) -> None:
    p = vsub.add_parser("ode", help="finite-width overlap ODEs vs online SGD at several N",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_options(p, options.FINITE_WIDTH)
    p.add_argument("--init", choices=("V", "R"), default="V", help="V: warm start (default), R: random init")
    p.add_argument("--M0", default=None, help="warm-start overlap M(0), JSON p x p* matrix")
    p.add_argument("--Q0", default=None, help="warm-start Q(0) (default I + M0 T^-1 M0^T, i.e. Q_perp(0) = I)")
    p.add_argument("--alphas", default="0,1,2,3,5,7.5,10,12.5,15,20", help="output times, starting at 0")
    p.add_argument("--N", default="500,1000,2000", help="input dimensions (comma-separated)")
    p.add_argument("--seeds", type=int, default=4, help="runs per N (default 4)")
    p.add_argument("--rtol", type=float, default=1e-10, help="ODE relative tolerance (DOP853)")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="PNG path (default: --out with .png)")
    common.add_common(p)
    p.set_defaults(plot_from_out=True)
    common.set_handler(p, _handler)
