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
import math
import sys
import warnings
from pathlib import Path

from validation.cli import common


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_stationary(params, quadrature_check=args.quadrature_check)
    if args.out:
        sol.save(args.out)
    summ = sol.summary()
    if sol.quadrature_change is not None:
        summ["quadrature_change"] = sol.quadrature_change
    if args.json:
        common.emit_json(summ)
    else:
        rows = [[k, v if isinstance(v, float) else str(v)] for k, v in summ.items() if k not in ("warning",)]
        common.print_table(["quantity", "value"], rows, floatfmt=".10g")
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
    kap = "inf" if math.isinf(ac.kappa) else ac.kappa
    out = {"kappa": kap, "kappa_star": ac.kappa_star, "alpha_c": ac.alpha_c, "s_star": ac.s_star,
           "dof": ac.dof, "unreliable": ac.unreliable, "warning": ac.note}
    if args.interpolation:
        it = interpolation_threshold(args.kappa, args.kappa_star, noise)
        out.update({"noise": noise, "alpha_interp": it.alpha_interp, "sigma2_interp": it.sigma2,
                    "C_S_interp": it.C_S, "test_error_interp": it.test_error, "unreliable_interp": it.unreliable,
                    "warning_interp": it.note})
    peak = None
    if args.lam is not None:
        if not args.interpolation:
            raise ParameterError("lam", "is only used with --interpolation (location of the double-descent peak "
                                        "at lam > 0)")
        from dmft.thresholds import double_descent_peak
        peak = double_descent_peak(args.kappa, args.kappa_star, args.lam, noise)
        out.update({"lam": args.lam, "alpha_peak": peak.alpha_peak, "test_error_peak": peak.test_error})
    if args.out:
        ac.save(args.out)
        if args.interpolation:
            it.save(args.out, group="/interpolation", mode="a")
        if peak is not None:
            peak.save(args.out, group="/double_descent_peak", mode="a")
        out["out"] = args.out
    if args.json:
        common.emit_json(out)
    else:
        common.print_table(["quantity", "value"], [[k, v if isinstance(v, float) else str(v)]
                                                   for k, v in out.items() if not k.startswith("warning")],
                           floatfmt=".12g")
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
    out = args.out or "validate_stationary.h5"
    val.save(out)
    png = args.plot or str(Path(out).with_suffix(".png"))
    val.plot(png)
    header, rows = val.table()
    if args.json:
        common.emit_json({"header": header, "rows": rows, "theory": val.theory, "extrapolated": val.extrapolated,
                          "flags": list(val.flags), "not_converged": val.notes["not_converged"], "out": out,
                          "plot": png})
    else:
        print(f"stationary theory vs ERM ({args.sensing} sensing, {args.seeds} seeds per d); mean, s.e.")
        common.print_table(header, rows, floatfmt=".5g")
        print(f"saved {out} and {png}")
    n_bad = val.notes["not_converged"]
    if n_bad:
        print(f"quadnet: warning: {n_bad} of {val.test.size} ERM runs stopped before reaching their tolerance "
              "(kept in the statistics)", file=sys.stderr)
    return 0


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The extensive-width model options (``--alpha --kappa --kappa-star --lam --noise``), turned into an
    :class:`dmft.params.ExtensiveWidthParams` (validated there) by :func:`_params`. Meant to be shared by every
    extensive-width command."""
    p.add_argument("--alpha", type=float, required=True, help="samples per d^2, alpha > 0")
    p.add_argument("--kappa", type=common.float_or_inf, required=True, help="student width / d (> 0, or inf)")
    p.add_argument("--kappa-star", type=float, required=True, help="teacher width / d, > 0")
    p.add_argument("--lam", type=float, default=0.0, help="l2 strength lam >= 0 (default 0)")
    p.add_argument("--noise", type=float, default=0.0, help="label-noise variance Delta >= 0 (default 0)")


def register(sub: argparse._SubParsersAction, vsub: argparse._SubParsersAction) -> None:
    """``quadnet stationary``, ``quadnet threshold`` and ``quadnet validate stationary``."""
    model_args = add_model_args
    p = sub.add_parser("stationary", help="long-time (stationary) test/train error of the extensive-width model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model_args(p)
    p.add_argument("--quadrature-check", action="store_true", help="re-solve with half the quadrature step")
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
    common.set_handler(p, _validate)
