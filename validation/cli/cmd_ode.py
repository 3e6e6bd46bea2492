"""``quadnet ode``: integrate the finite-width overlap ODEs and print eps_g, Q, M on an alpha grid.

Example::

    quadnet ode --p 2 --pstar 1 --gamma 0.1 --M0 '[[0.2],[0.1]]' --alphas 0,5,10,20,50 --json

Defaults follow the default convention a = 1/p, b = 1/p*, T = I, Gamma = gamma I; ``--Q0`` defaults to
I + M0 T^{-1} M0^T (Q_perp(0) = I); ``--M0`` defaults to a random initialisation (rows ~ N(0, T/N), ``--N``,
``--seed``). ``--eta`` (plain per-unit rates) replaces ``--gamma``. JSON keys: kind, params, alpha,
test_error (= eps_g), nfev, Q, M, gradient_flow, solver, plateau (closed-form plateau or null), limits
(learning-rate limits), out; and, for one release, the quadnet 0.1 key eps_g.
Exit codes: 2 invalid input (one line naming the parameter), 3 divergent integration.
"""

from __future__ import annotations

import argparse

from validation.cli import common, options


def register(sub, vsub) -> None:  # noqa: ARG001 - vsub is used by the validation command module
    p = sub.add_parser("ode", help="integrate the finite-width overlap ODEs (Q, M, eps_g on an alpha grid)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    p.add_argument("--M0", default=None, help="initial M (JSON p x p*); default random init with --N, --seed")
    p.add_argument("--Q0", default=None, help="initial Q (JSON p x p); default I + M0 T^-1 M0^T")
    p.add_argument("--N", type=int, default=1000, help="input dimension for the random M0 (default 1000)")
    p.add_argument("--alphas", default="0,5,10,20,40", help="output times (default 0,5,10,20,40)")
    p.add_argument("--gradient-flow", action="store_true", help="drop the O(eta^2) (and noise) term")
    p.add_argument("--method", default="DOP853",
                   help="solve_ivp method (DOP853 default; RK45, RK23, Radau, BDF, LSODA). For alpha > 1e3 use "
                        "LSODA. Measured ((p, p*) = (2, 1), gamma = 0.1, rtol 1e-10) to alpha = 1e4: LSODA 0.16 s, "
                        "Radau 1.1 s, DOP853 2.8 s; to alpha = 1e6: LSODA 0.4 s, Radau 44 s, DOP853 beyond the "
                        "budget of 5e5 evaluations (docs/finite_width.md). Largest alpha: 1e9")
    p.add_argument("--rtol", type=float, default=1e-10, help="relative tolerance (default 1e-10)")
    p.add_argument("--atol", type=float, default=1e-12, help="absolute tolerance (default 1e-12)")
    common.add_common(p)
    common.set_handler(p, run)


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Model options shared by ``quadnet ode`` and ``quadnet validate ode`` (default convention a = 1/p,
    b = 1/p*, T = I, Gamma = gamma I); turned into a FiniteWidthParams by :func:`build_params`. The table is
    :data:`validation.cli.options.FINITE_WIDTH`."""
    options.add_options(p, options.FINITE_WIDTH)


def _vec(name: str, text: str | None):
    return None if text is None else common.float_list(name, text)


def _json_limit(x):
    """None / float, with an infinite limit written as the string "inf" (JSON has no inf)."""
    return "inf" if x is not None and x == float("inf") else x


def build_params(args):
    """FiniteWidthParams from parsed arguments (raises ParameterError)."""
    from odes.finite_width import FiniteWidthParams

    T = None if args.T is None else common.matrix("T", args.T)
    return FiniteWidthParams(p=args.p, p_star=args.pstar, gamma=args.gamma, eta=_vec("eta", args.eta),
                             a=_vec("a", args.a), b=_vec("b", args.b), noise=args.noise,
                             weight_decay=args.weight_decay, centered=args.centered, T=T)


def run(args) -> int:
    import numpy as np

    from odes.common.errors import ParameterError
    from odes.finite_width import initial_overlaps, integrate_overlaps
    from odes.finite_width.plateau import plateau
    from odes.finite_width.stability import learning_rate_limits

    params = build_params(args)
    alphas = common.float_list("alphas", args.alphas)
    M0 = None if args.M0 is None else common.matrix("M0", args.M0)
    if M0 is not None and M0.shape != (params.p, params.p_star):
        raise ParameterError("M0", f"must have shape (p, p*) = ({params.p}, {params.p_star}), got {M0.shape}")
    Q0, M0 = initial_overlaps(params, M0, N=args.N, seed=args.seed)
    if args.Q0 is not None:
        Q0 = common.matrix("Q0", args.Q0)
        if Q0.shape != (params.p, params.p):
            raise ParameterError("Q0", f"must have shape (p, p) = ({params.p}, {params.p}), got {Q0.shape}")
    traj = integrate_overlaps(params, Q0, M0, alphas, gradient_flow=args.gradient_flow, method=args.method,
                              rtol=args.rtol, atol=args.atol, quiet=args.quiet or args.json,
                              check_stability=not args.no_stability_check)
    payload = None
    if args.json:
        try:
            pl = plateau(params, gradient_flow=args.gradient_flow)
            pl_out = {"q": pl.q, "eps": pl.eps, "rho": pl.escape_rate}
        except ParameterError:
            pl_out = None
        lim = learning_rate_limits(params)
        payload = traj.to_json()
        payload["params"]["c0"] = params.c0          # quadnet 0.1 key, kept for one release
        payload.update({"plateau": pl_out, "out": args.out,
                        "limits": {"plateau": _json_limit(lim["plateau"]), "zero_loss": _json_limit(lim["zero_loss"]),
                                   "notes": lim["notes"]}})

    def table() -> None:
        kind = "gradient flow" if traj.gradient_flow else "SGD (with O(eta^2) term)"
        print(f"finite-width overlap ODE, p={params.p}, p*={params.p_star}, {kind}, {traj.method} "
              f"rtol={traj.rtol:g}")
        rows = [[float(a), float(e), float(np.trace(q)), float(np.linalg.norm(m))]
                for a, e, q, m in zip(traj.alpha, traj.eps_g, traj.Q, traj.M)]
        common.print_table(["alpha", "eps_g", "tr Q", "|M|_F"], rows, floatfmt=".10g")

    return common.finish(args, traj, payload=payload, table=table)
