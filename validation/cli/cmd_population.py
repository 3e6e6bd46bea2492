"""``quadnet population``, ``quadnet scaling`` and ``quadnet validate population`` (population flows).

* ``quadnet population --kappa K --kappa-star KS --times 0,0.5,1,2,3 [--s0 S] --json`` -> the d -> infinity
  loss curve of model (A): {"tau": t/d, "test_error": ell = lim d L, "chi", "omega", "phi", "trace_excess",
  "regime", "long_time"} (and, for one release, the quadnet 0.1 keys "t", "loss", "lam").
* ``quadnet scaling --alpha-pl A --rank R --width M [--d D] [--seeds N] [--window LO,HI] [--eta-d C] --json``
  -> model (B) risk curve R(t) (exact closed form), learned directions J(t), samples n = t d/C for online SGD
  with eta = C/d, the fitted time exponent (95% CI over seeds) and its predictions, and the width floor.
* ``quadnet validate population --kappa K --kappa-star KS [--d 100,300,1000] [--seeds N | --ci-target 0.15
  --max-seeds 128] --out f.h5 [--plot f.png] [--method modes|matrix]`` -> table of max_tau |d L_d - ell| per d
  (and d x that), the d-exponent with its 95% CI over seeds and a verdict, HDF5, plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from validation.cli import common, options


def register(sub, vsub) -> None:
    p = sub.add_parser("population", help="model (A) high-d limit loss curve (tau = t/d, ell = lim d L)")
    options.add_options(p, options.POPULATION)
    p.add_argument("--times", default="0,0.5,1,2,3", help="tau = t/d values (comma separated, >= 0)")
    p.add_argument("--s0", type=float, default=1.0, help="initial scale S(0) = s0 P0/m (shifts phi only)")
    common.add_common(p, seed=False)
    common.set_handler(p, _population)

    s = sub.add_parser("scaling", help="model (B) power-law target: risk curve and scaling exponents")
    s.add_argument("--alpha-pl", type=float, required=True, help="teacher spectrum exponent alpha >= 0")
    s.add_argument("--rank", type=int, required=True, help="teacher rank r >= 1")
    s.add_argument("--width", type=int, required=True, help="student width m >= 1")
    s.add_argument("--d", type=int, default=None, help="input dimension (default rank^2, beta = 1/2)")
    s.add_argument("--seeds", type=int, default=1, help="number of init seeds for the exponent CI")
    s.add_argument("--window", default=None, help="fit window in learned directions J, 'lo,hi'")
    s.add_argument("--eta-d", type=float, default=0.01,
                   help="online SGD step times d, in (0, 0.2], for the sample axis n = t d/(eta d)")
    s.add_argument("--widths", default=None,
                   help="widths m < rank for a width scan (GF at t_end = 4 log d/(8 lambda_m) vs the floors)")
    # validity (measured, docs/population.md 3): the asymptotic time exponent (2a-1)/a needs J_hi << rank (the
    # finite-rank correction ~ (J/r)^(2a-1) is slow for a < 1) and large log d; the JSON carries
    # time_exponent.validity {flags, warning}. Too large rank/width is refused before allocating.
    common.add_common(s)
    common.set_handler(s, _scaling)

    v = vsub.add_parser("population", help="model (A): finite-d flow vs the d -> infinity limit")
    options.add_options(v, options.POPULATION)
    v.add_argument("--d", default="100,300,1000", help="dimensions (comma separated)")
    v.add_argument("--seeds", type=int, default=None,
                   help="seeds per d (default: adaptive, 8, 16, ... until the exponent's 95%% CI half-width "
                        "is <= --ci-target, at most --max-seeds)")
    v.add_argument("--ci-target", type=float, default=0.15, help="target 95%% CI half-width of the exponent")
    v.add_argument("--max-seeds", type=int, default=128, help="cap on the adaptive number of seeds")
    v.add_argument("--method", choices=["modes", "matrix"], default="modes",
                   help="exact principal-angle reduction (fast) or literal d x d matrix ODE")
    v.add_argument("--plot", default=None, help="figure path (default: --out with .png)")
    common.add_common(v, seed=True)
    v.set_defaults(plot_from_out=True)
    common.set_handler(v, _validate)


def _population(args: argparse.Namespace) -> int:
    from odes.population.highdim import long_time, solve_limit
    from odes.population.params import HighDimParams

    params = HighDimParams(args.kappa, args.kappa_star, args.s0)
    times = common.float_list("times", args.times)
    _check_out(args.out)
    res = solve_limit(params, times)
    lt = long_time(params)
    payload = None
    if args.json:
        payload = {**res.to_json(), "regime": params.regime, "long_time": lt,
                   "convention": f"tau = t_GF/d (the 0.1 key t is tau), test_error = ell = lim d L, s0 = {params.s0:g}"}

    def table() -> None:
        common.print_table(["tau", "ell", "chi", "omega", "phi", "lambda"],
                           [[float(a), float(b), float(c), float(d), float(e), float(f)] for a, b, c, d, e, f in
                            zip(res.tau, res.loss, res.chi, res.omega, res.phi, res.trace_excess)], floatfmt=".10g")
        print(f"regime {lt['regime']}: ell(inf) = {lt['loss_inf']:g}, chi(inf) = {lt['chi_inf']:g}, "
              f"rate {lt['rate']}")

    return common.finish(args, res, payload=payload, table=table)


def _check_out(path: str | None) -> None:
    """Fail before computing if the HDF5/plot path cannot be written (missing directory)."""
    from odes.common.errors import ParameterError

    if path is not None and not Path(path).resolve().parent.is_dir():
        raise ParameterError("out", f"directory of {path!r} does not exist")


def _scaling(args: argparse.Namespace) -> int:
    import numpy as np

    from odes.common import check
    from odes.common.errors import ParameterError
    from odes.population import powerlaw as pl
    from odes.population.params import PowerLawParams

    params = PowerLawParams(args.alpha_pl, args.rank, args.width, args.d)
    seeds = check.integer("seeds", args.seeds, lo=1)
    # the sample axis n = t d/(eta d) holds only where online SGD tracks GF (eta d << 1; it diverges at 0.3)
    eta_d = check.real("eta_d", args.eta_d, lo=1e-12, hi=0.2)  # n = t d/eta_d must stay finite
    _check_out(args.out)
    widths = None if args.widths is None else pl.check_widths(common.int_list("widths", args.widths), params.rank)
    note = None
    if args.window is not None:
        w = common.int_list("window", args.window)
        if len(w) != 2:
            raise ParameterError("window", "must be 'lo,hi'")
        window = (w[0], w[1])          # validated by time_exponent: an invalid window is an error
    elif params.alpha_pl <= 0.5:
        window, note = None, "alpha <= 1/2: no decaying power law in t, no time exponent fitted (pass --window)"
    else:
        err = pl.default_window_error(params)     # names rank, width or alpha_pl: no fit, the curve is still given
        window = None if err is not None else pl.default_window(params.rank, params.width)
        if err is not None:
            note = f"no time exponent fitted: {err}"
    times = pl.log_time_grid(params, per_decade=20)
    if params.width < params.rank:
        spectrum = pl.teacher_spectrum(params.alpha_pl, params.rank)
        t_end = 4.0 * np.log(float(params.d)) / (8.0 * spectrum[params.width - 1])
        times = np.unique(np.concatenate([times, np.geomspace(times[1], t_end, 40)]))
    # refuse before allocating: the fit keeps `seeds` curves on its window grid, the main curve one more
    pl.check_risk_curve_memory(params, times.size + 200, seeds=seeds + 1)
    fit = None
    if window is not None:
        fit, _ = pl.time_exponent(params, seeds=range(args.seed, args.seed + seeds), window=window,
                                  quiet=args.quiet)
    res = pl.risk_curve(params, times, seed=args.seed, quiet=args.quiet)
    floor = pl.width_floor(params.alpha_pl, params.rank, params.width)
    width_json = None
    if widths is not None:
        wfit, wdata = pl.width_scan(params.alpha_pl, params.rank, params.d, widths, seed=args.seed,
                                    quiet=args.quiet)
        width_json = {**wfit.to_json(), "widths": wdata["width"], "risk": wdata["risk"], "floor": wdata["floor"],
                      "t_end": wdata["t_end"]}
    payload = {**res.to_json(), "n_samples": res.t * params.d / eta_d,
               "eta_d": eta_d, "d": params.d, "note": note,
               "time_exponent": None if fit is None else {**fit.to_json(), "validity": fit.validity},
               "sample_exponent_prediction": (2 * params.alpha_pl - 1) / params.alpha_pl
               if params.alpha_pl > 0.5 else None,
               "width_floor": floor,
               "width_exponent_prediction": 2 * params.alpha_pl - 1 if params.alpha_pl > 0.5 else None,
               "width_exponent": width_json,
               "final_risk_over_floor": float(res.risk[-1] / floor) if floor > 0 else None}

    def table() -> None:
        print(f"alpha = {params.alpha_pl:g}, r = {params.rank}, m = {params.width}, d = {params.d}")
        if fit is not None:
            print(f"time exponent (J in {fit.window}): {fit.exponent:.4f}  95% CI [{fit.ci_low:.4f}, "
                  f"{fit.ci_high:.4f}]  predictions: {_fmt(fit.predictions)}")
            if fit.validity.get("warning"):
                print(f"warning: {fit.validity['warning']}")
        if note:
            print(note)
        print(f"width floor sum_(j>m) lambda_j^2 = {floor:.6g}; R(t_last) = {res.risk[-1]:.6g}")
        if width_json is not None:
            print(f"width exponent: {width_json['exponent']:.4f}  95% CI [{width_json['ci95'][0]:.4f}, "
                  f"{width_json['ci95'][1]:.4f}]  predictions: {_fmt(width_json['predictions'])}")

    return common.finish(args, res, payload=payload if args.json else None, table=table)


def _fmt(pred: dict) -> str:
    return ", ".join(f"{k}={'n/a' if v is None else format(v, '.4f')}" for k, v in pred.items())


def _validate(args: argparse.Namespace) -> int:
    import math

    from odes.population.params import HighDimParams
    from validation.compare_population import validate_population

    params = HighDimParams(args.kappa, args.kappa_star)
    dims = common.int_list("d", args.d)
    _check_out(args.out)
    _check_out(args.plot)
    v = validate_population(params, dims, args.seeds, method=args.method, seed0=args.seed, quiet=args.quiet,
                            ci_target=args.ci_target, max_seeds=args.max_seeds)
    multi = len(v.dims) > 1                             # no slope from a single d
    ci = [float(c) for c in v.slope_ci] if multi and math.isfinite(v.slope_se) else None
    payload = {**v.to_json(), "slope": v.slope if multi else None, "slope_se": v.slope_se if ci else None,
               "slope_ci95": ci, "seeds": v.n_seeds, "ci_target": v.ci_target, "verdict": v.verdict,
               "out": args.out, "plot": common.plot_path(args)} if args.json else None

    def table() -> None:
        header, rows = v.table()
        common.print_table(header, rows, floatfmt=".4g")
        if multi:
            ci_text = (f" +- {v.slope_se:.3f} (95% CI [{v.slope_ci[0]:.3f}, {v.slope_ci[1]:.3f}])"
                       if math.isfinite(v.slope_se) else "")
            print(f"fitted max_dev ~ d^(-p), p = {v.slope:.3f}{ci_text} from {v.n_seeds} seeds per d (expected 1): "
                  f"{v.verdict}")

    return common.finish(args, v, payload=payload, table=table)
