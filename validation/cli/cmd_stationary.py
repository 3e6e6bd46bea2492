"""``quadnet stationary``, ``quadnet threshold`` and ``quadnet validate stationary`` (extensive-width long-time
theory; see docs/stationary.md).

Examples::

    quadnet stationary --alpha 1 --kappa 1 --kappa-star 0.5 --lam 0.05 --noise 0.5 --json
    quadnet threshold --kappa inf --kappa-star 0.25 --json
    quadnet threshold --kappa 1 --kappa-star 0.25 --interpolation --noise 0.5 --json
    quadnet validate stationary --alpha 1 --kappa 1 --kappa-star 0.5 --lam 0.05 --noise 0.5 \\
        --d 30,50,70 --seeds 3 --out val.h5
"""

from __future__ import annotations

import argparse
import sys
import warnings

from validation.cli import common, options


def _params(args: argparse.Namespace):
    from dmft.params import ExtensiveWidthParams
    return ExtensiveWidthParams(alpha=args.alpha, kappa=args.kappa, kappa_star=args.kappa_star, lam=args.lam,
                                noise=args.noise)


def _warn(flags, text: str) -> None:
    if text:
        print(f"quadnet: warning: {text}", file=sys.stderr)


def _stationary(args: argparse.Namespace) -> int:
    from dmft.stationary import solve_stationary
    params = _params(args)
    if args.initial_sigma2 is not None:
        from odes.common import check

        check.positive("initial-sigma2", args.initial_sigma2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_stationary(params, quadrature_check=args.quadrature_check,
                               initial_guess=args.initial_sigma2)

    def table() -> None:
        summ = sol.legacy_json()
        if sol.quadrature_change is not None:
            summ["quadrature_change"] = sol.quadrature_change
        rows = [[k, v if isinstance(v, float) else str(v)] for k, v in summ.items() if k not in ("warning",)]
        common.print_table(["quantity", "value"], rows, floatfmt=".10g")

    common.finish(args, sol, table=table)
    _warn(sol.flags, sol.warning)
    return 0


def _threshold(args: argparse.Namespace) -> int:
    from dmft.thresholds import alpha_c, interpolation_threshold
    from odes.common.errors import ParameterError
    if args.noise is not None and not args.interpolation:
        raise ParameterError("noise", "is only used with --interpolation (alpha_c is the noiseless, Delta = 0, "
                                      "threshold)")
    noise = 0.0 if args.noise is None else args.noise
    ac = alpha_c(args.kappa, args.kappa_star)
    payload = ac.to_json()
    extras: dict = {}
    if args.interpolation:
        it = extras["interpolation"] = interpolation_threshold(args.kappa, args.kappa_star, noise)
    if args.lam is not None:
        if not args.interpolation:
            raise ParameterError("lam", "is only used with --interpolation (location of the double-descent peak "
                                        "at lam > 0)")
        from dmft.thresholds import double_descent_peak
        extras["double_descent_peak"] = double_descent_peak(args.kappa, args.kappa_star, args.lam, noise)
    for name, res in extras.items():  # nested under the --out group names; flat 0.1 keys kept for one release
        payload[name] = res.to_json()
        payload.update(res.legacy_json())
    if args.interpolation:
        payload.update({"unreliable_interp": it.unreliable, "warning_interp": it.note})

    def table() -> None:
        common.print_table(["quantity", "value"], [[k, v if isinstance(v, float) else str(v)]
                                                   for k, v in payload.items()
                                                   if k not in ("warning", "kind") and not isinstance(v, dict)],
                           floatfmt=".12g")

    common.finish(args, ac, payload=payload, table=table, extras=extras)
    _warn((), ac.note)
    if args.interpolation:
        _warn((), it.note)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from validation.compare_stationary import validate_stationary
    params = _params(args)
    ds = common.int_list("d", args.d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        val = validate_stationary(params, ds, seeds=args.seeds, sensing=args.sensing, seed0=args.seed,
                                  quiet=args.quiet or args.json)
    def table() -> None:
        header, rows = val.table()
        print(f"stationary theory vs ERM ({args.sensing} sensing, {args.seeds} seeds per d); mean, s.e.")
        common.print_table(header, rows, floatfmt=".5g")

    # "out"/"plot" always present (null when not written), as in quadnet 0.1
    common.finish(args, val, payload={**val.to_json(), "out": args.out, "plot": common.plot_path(args)},
                  table=table)
    n_bad = val.notes["not_converged"]
    if n_bad:
        print(f"quadnet: warning: {n_bad} of {val.test.size} ERM runs stopped before reaching their tolerance "
              "(kept in the statistics)", file=sys.stderr)
    return 0


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The extensive-width model options (``--alpha --kappa --kappa-star --lam --noise``), turned into an
    :class:`dmft.params.ExtensiveWidthParams` (validated there) by :func:`_params`. Meant to be shared by every
    extensive-width command (the table :data:`validation.cli.options.EXTENSIVE_WIDTH`)."""
    options.add_options(p, options.EXTENSIVE_WIDTH)


def register(sub: argparse._SubParsersAction, vsub: argparse._SubParsersAction) -> None:
    """``quadnet stationary``, ``quadnet threshold`` and ``quadnet validate stationary``."""
    model_args = add_model_args
    p = sub.add_parser("stationary", help="long-time (stationary) test/train error of the extensive-width model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model_args(p)
    p.add_argument("--quadrature-check", action="store_true", help="re-solve with half the quadrature step")
    p.add_argument("--initial-sigma2", type=float, default=None,
                   help="warm start: a guess of sigma^2, e.g. a neighbouring point's (used by sweep --continuation)")
    common.add_common(p, seed=False)
    common.set_handler(p, _stationary)

    p = sub.add_parser("threshold", help="perfect-recovery threshold alpha_c(kappa, kappa*) (+ interpolation)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kappa", type=common.float_or_inf, required=True,
                   help="student width / d (min(kappa, 1) >= min(kappa*, 1), or inf)")
    p.add_argument("--kappa-star", type=float, required=True, help="teacher width / d, > 0")
    p.add_argument("--interpolation", action="store_true", help="also the interpolation threshold (lam -> 0+)")
    p.add_argument("--noise", type=float, default=None,
                   help="label-noise variance Delta for --interpolation (default 0; alpha_c itself is noiseless)")
    p.add_argument("--lam", type=float, default=None,
                   help="with --interpolation and --noise > 0: also the double-descent peak alpha_peak at this lam > 0")
    common.add_common(p, seed=False)
    common.set_handler(p, _threshold)

    p = vsub.add_parser("stationary", help="stationary theory vs finite-d ERM (table + HDF5 + plot)",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model_args(p)
    p.add_argument("--d", default="30,50,70", help="sizes (default 30,50,70)")
    p.add_argument("--seeds", type=int, default=3,
                   help="instances per d, a count >= 2 (ERM seeds --seed, ..., --seed + n - 1; default 3)")
    p.add_argument("--sensing", choices=("wishart", "goe"), default="wishart", help="sensing ensemble")
    p.add_argument("--plot", default=None, help="PNG path (default: --out with .png)")
    common.add_common(p)
    p.set_defaults(seed=1000)
    p.set_defaults(plot_from_out=True)
    common.set_handler(p, _validate)
