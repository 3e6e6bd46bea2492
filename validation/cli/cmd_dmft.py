"""``quadnet dmft`` (DMFT learning curves of GD at extensive width) and ``quadnet validate dmft`` (vs finite-d GD).

Examples::

    quadnet dmft --alpha 1 --kappa 1 --kappa-star 0.5 --lam 0.05 --noise 0.5 --eta 0.05 --steps 200 \\
        --d-eff 60 --samples 4 --json
    quadnet dmft ... --steps 400 --checkpoint run.ckpt.h5 --checkpoint-every 50   # resumable long run
    quadnet dmft ... --steps 400 --resume run.ckpt.h5      # continue it (keeps checkpointing into the same file)
    quadnet dmft ... --steps 800 --resume run.ckpt.h5      # extend a (finished) 400-step run to 800 steps

``--resume`` needs the same model/numerical options as the checkpoint except ``--steps``, which may be larger
(the causal scheme makes the extended run bitwise identical to an uninterrupted 800-step run).
    quadnet validate dmft --alpha 1 --kappa 1 --kappa-star 0.5 --lam 0.05 --noise 0.5 --steps 100 \\
        --d-eff 40 --d 40,60 --seeds 4 --sensing goe --out val.h5
    quadnet validate dmft ... --backend torch   # GD simulations with torch (optional; cuda if available, else cpu)
"""

from __future__ import annotations

import argparse

from validation.cli import common, options

DEFAULT_CHECKPOINT_EVERY = 25  # steps between checkpoints when --checkpoint/--resume is given without -every


def _add_model(p: argparse.ArgumentParser) -> None:
    options.add_options(p, options.EXTENSIVE_WIDTH)
    p.add_argument("--eta", type=float, default=0.05, help="GD step (default 0.05)")
    p.add_argument("--steps", type=int, default=200, help="GD steps T (t_max = T eta)")
    p.add_argument("--d-eff", default="40",
                   help="size of the effective matrix process; a list (40,60,90) runs each and extrapolates in 1/d_eff")
    p.add_argument("--samples", type=int, default=None,
                   help="population size Ns (>= 2; default 4, with --t-max the field's default: 16 complex, 4 real)")
    p.add_argument("--probes", type=int, default=1, help="Hutchinson probes per sample")
    p.add_argument("--sigma0", type=float, default=1.0, help="init scale, S(0) = sigma0^2 Wishart(1/kappa)")
    p.add_argument("--runs", type=int, default=1,
                   help="independent runs; >= 3 recommended (with 1 run the error bars are a within-run jackknife, "
                        "a lower bound)")
    p.add_argument("--no-stability-check", action="store_true",
                   help="allow eta beyond the (sufficient, conservative) explicit bound; divergence is still detected")
    p.add_argument("--ensemble", choices=("quantile", "wishart"), default="quantile",
                   help="S*, S(0): MP quantile spectra + Haar eigenvectors, or iid Wishart")


def _build(args):
    from dmft.dynamics import DMFTSettings
    from dmft.params import ExtensiveWidthParams

    params = ExtensiveWidthParams(alpha=args.alpha, kappa=args.kappa, kappa_star=args.kappa_star, lam=args.lam,
                                  noise=args.noise)
    d_effs = common.int_list("d-eff", str(args.d_eff))
    samples = 4 if args.samples is None else args.samples
    settings = DMFTSettings(eta=args.eta, steps=args.steps, d_eff=d_effs[0], samples=samples,
                            probes=args.probes, sigma0=args.sigma0, seed=args.seed, runs=args.runs,
                            ensemble=args.ensemble, checkpoint_every=_checkpoint_every(args),
                            check_stability=not args.no_stability_check)
    return params, settings, d_effs


def _checkpoint_every(args) -> int:
    """--checkpoint-every, defaulting to DEFAULT_CHECKPOINT_EVERY when a checkpoint file is in play."""
    every = getattr(args, "checkpoint_every", None)
    if every is None:
        return DEFAULT_CHECKPOINT_EVERY if (getattr(args, "checkpoint", None) or getattr(args, "resume", None)) else 0
    return every


def _run_dmft(args) -> int:
    import dataclasses

    from dmft.dynamics import extrapolate_d_eff, solve, solve_gradient_flow
    from odes.common.errors import ParameterError

    if args.t_max is not None:
        return _run_curve(args)
    if args.field is not None:
        raise ParameterError("field", "applies to the accuracy-targeted curve: use it with --gradient-flow --t-max T "
                                      "(the fixed-eta GD solver is real-symmetric)")
    if args.scheme is not None:
        raise ParameterError("scheme", "applies to the accuracy-targeted curve: use it with --gradient-flow --t-max T "
                                       "(the fixed-eta mode is gradient descent itself)")
    for opt, given in (("target-at", args.target_at is not None), ("no-stationary-cv", args.no_stationary_cv)):
        if given:
            raise ParameterError(opt, "applies to the accuracy-targeted curve: use it with --gradient-flow --t-max T")
    params, settings, d_effs = _build(args)
    quiet = args.quiet or args.json
    if args.checkpoint_every is not None and not args.checkpoint and not args.resume:
        raise ParameterError("checkpoint-every", "needs --checkpoint FILE (or --resume FILE)")
    if (len(d_effs) > 1 or args.gradient_flow) and (args.checkpoint or args.resume):
        raise ParameterError("checkpoint", "checkpoint/resume needs a single --d-eff and no --gradient-flow")
    extra = {}
    if args.gradient_flow:
        if len(d_effs) > 1:
            raise ParameterError("gradient-flow", "use a single --d-eff with --gradient-flow")
        res, coarse, fine = solve_gradient_flow(params, settings, quiet=quiet)
        extra = {f"gd_eta_{coarse.settings.eta:g}": coarse, f"gd_eta_{fine.settings.eta:g}": fine}
    elif len(d_effs) > 1:
        runs = {d: solve(params, dataclasses.replace(settings, d_eff=d), quiet=quiet) for d in d_effs}
        res = extrapolate_d_eff(list(runs.values()))
        extra = {f"d_eff_{d}": r for d, r in runs.items()}
    else:
        ckpt = args.checkpoint or args.resume  # --resume alone keeps checkpointing into the resumed file
        try:
            res = solve(params, settings, checkpoint=ckpt, resume=args.resume, quiet=quiet)
        except KeyboardInterrupt:
            if ckpt is None:
                raise
            import sys

            print(f"quadnet: interrupted; continue from the last checkpoint with --resume {ckpt}", file=sys.stderr)
            return 130
    payload = res.to_json()
    if extra:  # the runs behind an extrapolation (also saved as groups of --out)
        payload["inputs_curves"] = {name: r.to_json() for name, r in extra.items()}

    def table() -> None:
        stride = max(1, settings.steps // 20)
        rows = [[float(res.t[k]), float(res.train_error[k]), float(res.train_error_std[k]),
                 float(res.test_error[k]), float(res.test_error_std[k])] for k in range(0, settings.steps + 1, stride)]
        common.print_table(["t", "train", "train_std", "test", "test_std"], rows)

    return common.finish(args, res, payload=payload, table=table, extras=extra)


def _run_curve(args) -> int:
    """``--gradient-flow --t-max T --target-error E``: :func:`dmft.dynamics.solve_curve`."""
    from dmft.dynamics.curve import solve_curve
    from dmft.params import ExtensiveWidthParams
    from odes.common.errors import ParameterError

    if not args.gradient_flow:
        raise ParameterError("t-max", "needs --gradient-flow (the fixed-eta GD mode uses --steps)")
    if args.checkpoint or args.resume:
        raise ParameterError("checkpoint", "checkpoint/resume is not available with --t-max")
    from odes.common import check

    check.positive("t-max", args.t_max)
    check.real("target-error", args.target_error, lo=0.0, lo_open=True, hi=1.0)
    check.integer("max-runs", args.max_runs, lo=2)
    if args.target_at is not None:
        check.real("target-at", args.target_at, lo=0.0, hi=args.t_max)
    params = ExtensiveWidthParams(alpha=args.alpha, kappa=args.kappa, kappa_star=args.kappa_star, lam=args.lam,
                                  noise=args.noise)
    d_effs = common.int_list("d-eff", str(args.d_eff)) if args.d_eff is not None else []
    kw = {"d_eff": tuple(d_effs)} if len(d_effs) > 1 else {}
    res = solve_curve(params, args.t_max, args.target_error, samples=args.samples, max_runs=args.max_runs,
                      field=args.field or "complex", scheme=args.scheme or "auto",
                      sigma0=args.sigma0, seed=args.seed, max_wall=args.max_wall, quiet=args.quiet or args.json,
                      target_at=args.target_at, stationary_cv=False if args.no_stationary_cv else None, **kw)
    payload = {**res.to_json(), "diagnostics": res.diagnostics()} if args.json else None

    def table() -> None:
        stride = max(1, (len(res.t) - 1) // 20)
        rows = [[float(res.t[k]), float(res.train_error[k]), float(res.train_error_se[k]), float(res.test_error[k]),
                 float(res.test_error_se[k])] for k in range(0, len(res.t), stride)]
        common.print_table(["t", "train", "train_se", "test", "test_se"], rows)
        print({k: v for k, v in res.diagnostics().items()})

    return common.finish(args, res, payload=payload, table=table)
    return 0


def _run_validate(args) -> int:
    from validation.compare_dmft import run_validation

    params, settings, d_effs = _build(args)
    if len(d_effs) > 1:
        from odes.common.errors import ParameterError

        raise ParameterError("d-eff", "validate dmft takes a single --d-eff")
    ds = common.int_list("d", args.d)
    val = run_validation(params, settings, ds, args.seeds, sensing=args.sensing, t_min=args.t_min,
                         quiet=args.quiet or args.json, backend=args.backend)
    def table() -> None:
        h, rows = val.table()
        common.print_table(h, rows)
        print()
        common.print_table(["d", "max|dev| train", "max|dev| test", "mean|dev| train", "mean|dev| test"],
                           [[int(d), float(a), float(b), float(c), float(e)] for d, a, b, c, e in
                            zip(val.ds, val.max_dev_train, val.max_dev_test, val.mean_dev_train,
                                val.mean_dev_test)])

    return common.finish(args, val, table=table)  # plot: DMFTValidation.plot (curves + deviations)


def register(sub, vsub) -> None:
    p = sub.add_parser("dmft", help="DMFT learning curves of GD at extensive width (n = alpha d^2)")
    _add_model(p)
    common.add_common(p)
    p.add_argument("--checkpoint", metavar="FILE.ckpt.h5", default=None, help="write resumable checkpoints here")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help=f"checkpoint interval in steps (default {DEFAULT_CHECKPOINT_EVERY} when --checkpoint or "
                        "--resume is given; 0: only at the end)")
    p.add_argument("--resume", metavar="FILE.ckpt.h5", default=None,
                   help="continue from this checkpoint (same options; --steps may be larger to extend the run); "
                        "checkpoints keep being written to --checkpoint, or to this file")
    p.add_argument("--gradient-flow", action="store_true",
                   help="eta -> 0 by Richardson over (eta, T) and (eta/2, 2T); with --t-max: the accuracy-targeted "
                        "d = infinity gradient-flow curve (Heun DMFT, 1/d_eff ladder, error bars with bias)")
    p.add_argument("--t-max", type=float, default=None,
                   help="with --gradient-flow: final time of the accuracy-targeted curve (dmft.dynamics.solve_curve)")
    p.add_argument("--target-error", type=float, default=0.02,
                   help="with --t-max: relative accuracy (one s.e., bias included) of train/test at every t "
                        "(default 0.02)")
    p.add_argument("--max-runs", type=int, default=16, help="with --t-max: most runs per d_eff (default 16)")
    p.add_argument("--scheme", choices=("auto", "heun", "sdirk2"), default=None,
                   help="with --t-max: time integrator of the gradient-flow DMFT: explicit Heun, L-stable implicit "
                        "SDIRK2 (large steps at late times: t = 100-1000 on ~100 steps), or auto (default: SDIRK2 "
                        "for t-max >= 5)")
    p.add_argument("--field", choices=("complex", "real"), default=None,
                   help="with --t-max: effective process over complex-Hermitian matrices (default; finite-d_eff "
                        "bias O(1/d_eff^2), ladder 8,12,16) or real symmetric ones (bias O(1/d_eff), ladder 12,16,24)")
    p.add_argument("--max-wall", type=float, default=None,
                   help="with --t-max: stop adding runs after this many seconds (result then marked not reached)")
    p.add_argument("--target-at", type=float, default=None,
                   help="with --t-max: judge --target-error at this time only (default: the max over the curve)")
    p.add_argument("--no-stationary-cv", action="store_true",
                   help="with --t-max and the SDIRK2 scheme: do not use the stationary theory as a control variate "
                        "(default: each run is continued to T_inf >> t-max and its late value minus the stationary "
                        "value corrects it; off by itself where the stationary theory has no solution)")
    common.set_handler(p, _run_dmft)

    v = vsub.add_parser("dmft", help="DMFT vs finite-d gradient descent (table, HDF5, plot)")
    _add_model(v)
    common.add_common(v)
    v.add_argument("--d", default="40,60", help="comma-separated GD dimensions")
    v.add_argument("--seeds", type=int, default=4, help="GD runs per d (a count: GD seeds 1000, ..., 1000 + n - 1)")
    v.add_argument("--sensing", choices=("goe", "wishart"), default="goe", help="GD sensing ensemble")
    v.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                   help="array backend of the GD simulations: numpy (default) or torch (optional, not a dependency; "
                        "float64, cuda if available else cpu; same instances as numpy for the same seeds)")
    v.add_argument("--t-min", type=float, default=0.25, help="deviations are summarised over t >= t_min")
    v.add_argument("--plot", metavar="FILE.png", default=None,
                   help="save the comparison figure (default: --out with .png)")
    v.set_defaults(plot_from_out=True)
    common.set_handler(v, _run_validate)
