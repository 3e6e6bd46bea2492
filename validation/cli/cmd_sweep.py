"""``quadnet sweep COMMAND ...`` (grids over any command, serial / local processes / a Dask cluster) and
``quadnet find COMMAND ...`` (root of a scalar output in one option). See docs/sweeps.md.

Any numeric option of ``stationary``, ``threshold``, ``dmft``, ``ode``, ``population``, ``scaling`` and the
``validate`` commands may be given as a list ``a,b,c``, a linear range ``START:STOP:NUM`` (both ends included) or
a log range ``log:START:STOP:NUM``; the sweep is the Cartesian product. Options whose value is a list by nature
(``--d``, ``--N``, ``--alphas``, ``--times``, ``--d-eff``, ``--eta`` of ``ode``, matrices) are passed through
unchanged to every point and are not axes. Each point runs the command with ``--json`` in a worker process.

Examples::

    quadnet sweep stationary --alpha 0.2:3:40 --kappa 1 --kappa-star 0.5 --lam 0.05 --noise 0.5 --out dd.h5
    quadnet sweep threshold --kappa 0.3:2:30 --kappa-star log:0.05:0.9:30 --workers 2 --out phase.h5
    quadnet sweep dmft --alpha 1,2 --lam 0.01,0.1 --kappa 1 --kappa-star 0.5 --eta 0.04 --steps 100 --out dmft.h5
    quadnet sweep stationary --alpha 0.2:3:40 --lam 0.01,0.1 --kappa 1 --kappa-star 0.5 --continuation alpha
    quadnet sweep stationary --alpha 1 --lam log:1e-3:1:20 --kappa 1 --kappa-star 0.5 --scheduler tcp://host:8786
    quadnet find stationary --vary lam --in 0.1:1 --quantity test_error --equals 0.5 --alpha 1 --kappa 1 \\
        --kappa-star 0.5 --noise 0.5
    quadnet find threshold --vary kappa-star --in 0.05:0.9 --quantity alpha_c --equals 0.3 --kappa 1
    quadnet find dmft --vary alpha --in 1:4 --quantity test_error@1.5 --equals 0.15 --kappa 1 --kappa-star 0.5 \\
        --lam 0.01 --eta 0.04 --steps 40 --xtol 1e-4
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from odes.common import check
from odes.common.errors import ParameterError
from validation.cli import OneLineParser, common

NOT_IN_SWEEP = ("--plot", "--checkpoint", "--checkpoint-every", "--resume", "--initial-sigma2")
FILE_OPTIONS = ("--out", "--plot")  # validate commands always write: pointed into a per-point temp dir
NUMERIC_TYPES = (float, int, common.float_or_inf)


class CommandInvalid(ValueError):
    """The command exited with code 2 (invalid input)."""


class CommandNumerical(ArithmeticError):
    """The command exited with code 3 (numerical failure)."""


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    from validation.cli import build_parser
    return build_parser()


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``quadnet ARGV`` in this process: (exit code, stdout, stderr). The parser is built once per process."""
    from validation.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv, parser=_parser())
        except SystemExit as exc:  # argparse errors
            rc = exc.code if isinstance(exc.code, int) else 2
    return int(rc), out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class CommandPoint:
    """``fn(**point)`` of a sweep over a quadnet command: runs ``quadnet COMMAND FIXED --OPT VALUE ... --json``
    in-process and returns its JSON; exit code 2 -> :class:`CommandInvalid`, 3 -> :class:`CommandNumerical`."""

    command: tuple[str, ...]
    fixed_argv: tuple[str, ...]
    options: tuple[tuple[str, str], ...]  # (axis name, option string)
    has_quiet: bool
    file_options: tuple[str, ...]

    @property
    def sweep_identity(self) -> str:
        return "quadnet " + " ".join(self.command + self.fixed_argv)

    def __call__(self, _warm: tuple[str, ...] = (), **point: Any) -> dict:
        opts = dict(self.options)
        argv = [*self.command, *self.fixed_argv]
        for name, v in point.items():
            argv += [opts[name], repr(float(v)) if isinstance(v, float) else str(v)]
        argv += [*_warm, "--json"] + (["--quiet"] if self.has_quiet else [])
        with tempfile.TemporaryDirectory(prefix="quadnet-sweep-") as tmp:
            for opt in self.file_options:
                argv += [opt, os.path.join(tmp, "point" + (".png" if opt == "--plot" else ".h5"))]
            rc, out, err = run_cli(argv)
        if rc == 0:
            res = json.loads(out.strip().splitlines()[-1])
            for k in ("out", "plot"):
                res.pop(k, None)
            return res
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        errs = [ln for ln in lines if "error:" in ln]
        msg = (errs or lines or [f"exit code {rc}"])[-1]
        msg = msg.split("error: ", 1)[-1] if "error: " in msg else msg
        if rc == 2:
            raise CommandInvalid(msg)
        if rc == 3:
            raise CommandNumerical(msg)
        raise RuntimeError(f"quadnet {' '.join(self.command)} exited with code {rc}: {msg}")


def warm_stationary(outputs: dict) -> dict:
    """Continuation of ``stationary``: the previous point's sigma^2 as ``--initial-sigma2``."""
    s2 = outputs.get("sigma2")
    return {"_warm": ("--initial-sigma2", repr(float(s2)))} if isinstance(s2, (int, float)) and s2 > 0 else {}


WARM_STARTS = {("stationary",): warm_stationary}


# ------------------------------------------------------------------------------------------- parsing
def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def command_parser(tokens: list[str], what: str) -> tuple[tuple[str, ...], argparse.ArgumentParser, list[str]]:
    """(command tokens, its parser, remaining argv) for ``COMMAND ...`` or ``validate MODEL ...``."""
    from validation.cli import build_parser
    subs = _subparsers(build_parser())
    names = [n for n in subs if n not in ("sweep", "find", "demo")]
    if not tokens or tokens[0] not in names:
        got = tokens[0] if tokens else "nothing"
        raise ParameterError("command", f"quadnet {what} needs a command among {', '.join(names)}; got {got!r}")
    if tokens[0] == "validate":
        vsubs = _subparsers(subs["validate"])
        if len(tokens) < 2 or tokens[1] not in vsubs:
            raise ParameterError("command", f"quadnet {what} validate needs a model among {', '.join(vsubs)}")
        return tuple(tokens[:2]), vsubs[tokens[1]], tokens[2:]
    return (tokens[0],), subs[tokens[0]], tokens[1:]


def sweepable(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Option string -> action of the numeric scalar options (the possible axes)."""
    out = {}
    for a in parser._actions:
        if a.type in NUMERIC_TYPES and a.nargs is None and a.option_strings:
            for s in a.option_strings:
                if s.startswith("--") and s not in NOT_IN_SWEEP:
                    out[s] = a
    return out


def axis_name(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def split_options(parser: argparse.ArgumentParser, argv: list[str], *, allow_axes: bool
                  ) -> tuple[list[tuple[str, str]], dict[str, tuple[str, argparse.Action]]]:
    """Command argv -> (fixed (option, value-or-None) pairs, axes {option: (text, action)})."""
    by_opt = {s: a for a in parser._actions for s in a.option_strings}
    num = sweepable(parser)
    fixed: list[tuple[str, str | None]] = []
    axes: dict[str, tuple[str, argparse.Action]] = {}
    i = 0
    while i < len(argv):
        tok = argv[i]
        opt, val = (tok.split("=", 1) + [None])[:2] if tok.startswith("--") else (tok, None)
        if opt in NOT_IN_SWEEP or opt in ("--json", "--quiet", "--out", "--help", "-h"):
            raise ParameterError(opt.lstrip("-"), "is not supported as a per-point option here")
        act = by_opt.get(opt)
        if act is None:
            raise ParameterError(opt.lstrip("-"), "is not an option of this command (see its --help)")
        takes = act.nargs != 0 and not isinstance(act, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        if takes and val is None:
            if i + 1 >= len(argv):
                raise ParameterError(opt.lstrip("-"), "needs a value")
            val = argv[i + 1]
            i += 1
        i += 1
        if opt in num and val is not None and _is_axis(val):
            if not allow_axes:
                raise ParameterError(opt.lstrip("-"), f"takes one value here, got {val!r}")
            if opt in axes:
                raise ParameterError(opt.lstrip("-"), "given twice")
            axes[opt] = (val, act)
        else:
            fixed.append((opt, val))
    return fixed, axes


def _is_axis(text: str) -> bool:
    from validation.sweep import is_axis
    return is_axis(text)


def _kind(act: argparse.Action):
    return int if act.type is int else act.type


def _make_point(cmd, cparser, fixed, options) -> CommandPoint:
    opts = {s for a in cparser._actions for s in a.option_strings}
    flat = tuple(t for o, v in sorted(fixed, key=lambda p: p[0]) for t in ((o,) if v is None else (o, v)))
    files = tuple(o for o in FILE_OPTIONS if o in opts) if cmd[0] == "validate" else ()
    return CommandPoint(command=cmd, fixed_argv=flat, options=tuple(options), has_quiet="--quiet" in opts,
                        file_options=files)


def _dry_parse(point: CommandPoint, values: dict) -> None:
    """Parse the first point's argv with the real parser now (usage errors before any work)."""
    from validation.cli import build_parser
    opts = dict(point.options)
    argv = [*point.command, *point.fixed_argv]
    for name, v in values.items():
        argv += [opts[name], repr(float(v)) if isinstance(v, float) else str(v)]
    build_parser().parse_args(argv + ["--json"])


def _help(what: str, cmd_tokens: list[str]) -> int:
    print(__doc__ + (_SWEEP_OPTS_TEXT if what == "sweep" else _FIND_OPTS_TEXT))
    try:
        cmd, cparser, _ = command_parser(cmd_tokens, what)
    except ParameterError:
        return 0
    nums = sorted({a.option_strings[-1] for a in sweepable(cparser).values()})
    skip = {*nums, "--help", "--json", "--quiet", "--out", *NOT_IN_SWEEP}
    others = sorted({a.option_strings[-1] for a in cparser._actions if a.option_strings
                     and a.option_strings[-1] not in skip})
    print(f"quadnet {' '.join(cmd)}: sweepable options: {' '.join(nums)}")
    print(f"passed unchanged to every point: {' '.join(others)}")
    return 0


# ------------------------------------------------------------------------------------------- sweep
def _sweep_options() -> argparse.ArgumentParser:
    p = OneLineParser(prog="quadnet sweep", add_help=False, allow_abbrev=False)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--continuation", default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("-h", "--help", action="store_true")
    return p


def _run_sweep(args: argparse.Namespace) -> int:
    from validation.sweep import parse_axis, sweep
    sopts, rest = _sweep_options().parse_known_args(args.target)
    if sopts.help or not rest:
        return _help("sweep", rest)
    cmd, cparser, cargv = command_parser(rest, "sweep")
    fixed, axes = split_options(cparser, cargv, allow_axes=True)
    if not axes:
        raise ParameterError("sweep", "no option was given a list (a,b,c) or a range (START:STOP:NUM, "
                                      "log:START:STOP:NUM); nothing to sweep")
    grid = {axis_name(o): parse_axis(o.lstrip("-"), text, kind=_kind(act)) for o, (text, act) in axes.items()}
    point = _make_point(cmd, cparser, fixed, [(axis_name(o), o) for o in axes])
    _dry_parse(point, {k: v[0] for k, v in grid.items()})
    if sopts.workers is not None and sopts.workers < 1:
        raise ParameterError("workers", f"must be >= 1, got {sopts.workers}")
    if sopts.batch is not None and sopts.batch < 1:
        raise ParameterError("batch", f"must be >= 1, got {sopts.batch}")
    along, warm = None, None
    if sopts.continuation is not None:
        along = axis_name(sopts.continuation)
        if along not in grid:
            raise ParameterError("continuation", f"must be a swept option ({', '.join(grid)}), got "
                                                 f"{sopts.continuation!r}")
        warm = WARM_STARTS.get(cmd)
        if warm is None:
            raise ParameterError("continuation", f"quadnet {' '.join(cmd)} has no warm start (only: "
                                                 f"{', '.join(' '.join(c) for c in WARM_STARTS)})")
    if sopts.out:
        from validation.cli import _check_output_paths
        _check_output_paths(argparse.Namespace(out=sopts.out, overwrite=sopts.overwrite))
    workers = sopts.workers if sopts.workers is not None else (os.cpu_count() or 1)
    stats: dict = {}
    try:
        ds = sweep(point, grid, workers=None if sopts.scheduler else workers, client=sopts.scheduler,
                   store=sopts.out, overwrite=sopts.overwrite, progress=not (sopts.quiet or sopts.json),
                   along=along, warm_start=warm, batch=sopts.batch, store_name="out", stats=stats)
    except KeyboardInterrupt:
        where = (f"; the finished points are kept in {sopts.out}.parts/: rerun the same command to resume"
                 if sopts.out else " (no --out: nothing kept)")
        print(f"quadnet: interrupted{where}", file=sys.stderr)
        return 130
    status = ds["status"].values.ravel().tolist()
    counts = {s: status.count(s) for s in ("ok", "invalid", "numerical failure", "error")}
    scalars = [k for k, v in ds.data_vars.items() if v.dims == tuple(grid) and v.dtype.kind in "fiub"]
    if sopts.json:
        common.emit_json({"command": " ".join(cmd), "points": len(status), "ok": counts["ok"],
                          "invalid": counts["invalid"], "numerical_failure": counts["numerical failure"],
                          "error": counts["error"], "evaluated": stats["evaluated"], "reused": stats["reused"],
                          "dims": {k: int(v) for k, v in ds.sizes.items()}, "variables": list(ds.data_vars),
                          "out": sopts.out})
    else:
        echoed = {axis_name(o) for o, _ in fixed}
        show = [k for k in scalars if k not in echoed][:5]
        flat = ds.stack(point=list(grid))
        rows = []
        for i in range(flat.sizes["point"]):
            pt = flat.isel(point=i)
            rows.append([*(_cell(pt[d].item()) for d in grid), str(pt["status"].item()),
                         *(_cell(pt[k].item()) for k in show)])
        common.print_table([*grid, "status", *show], rows)
        if sopts.out:
            print(f"saved {sopts.out} ({len(ds.data_vars)} variables; xarray.open_dataset(..., engine='h5netcdf'))")
    bad = len(status) - counts["ok"]
    if bad:
        print(f"quadnet: warning: {bad} of {len(status)} points failed ({counts['invalid']} invalid, "
              f"{counts['numerical failure']} numerical failure, {counts['error']} error); see the status and "
              "message variables", file=sys.stderr)
    return 0


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return v
    return v if isinstance(v, (int, str)) else str(v)


# ------------------------------------------------------------------------------------------- find
def _find_options() -> argparse.ArgumentParser:
    p = OneLineParser(prog="quadnet find", add_help=False, allow_abbrev=False)
    p.add_argument("--vary", default=None)
    p.add_argument("--in", dest="bracket", default=None)
    p.add_argument("--quantity", default=None)
    p.add_argument("--equals", default=None)
    p.add_argument("--xtol", type=float, default=1e-10)
    p.add_argument("--scan", type=int, default=8)
    p.add_argument("--json", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    return p


def _run_find(args: argparse.Namespace) -> int:
    from validation.sweep import find_root
    fopts, rest = _find_options().parse_known_args(args.target)
    if fopts.help or not rest:
        return _help("find", rest)
    cmd, cparser, cargv = command_parser(rest, "find")
    for name in ("vary", "bracket", "quantity", "equals"):
        if getattr(fopts, name) is None:
            raise ParameterError("in" if name == "bracket" else name, "is required by quadnet find")
    opt = "--" + fopts.vary.lstrip("-").replace("_", "-")
    num = sweepable(cparser)
    if opt not in num:
        raise ParameterError("vary", f"{fopts.vary!r} is not a numeric option of quadnet {' '.join(cmd)} "
                                     f"(numeric: {', '.join(sorted(o.lstrip('-') for o in num))})")
    try:
        lo, hi = (float(t) for t in fopts.bracket.split(":"))
    except ValueError:
        raise ParameterError("in", f"must be LO:HI, got {fopts.bracket!r}") from None
    try:
        value = float(fopts.equals)
    except ValueError:
        raise ParameterError("equals", f"must be a number, got {fopts.equals!r}") from None
    if not math.isfinite(value):
        raise ParameterError("equals", "must be finite")
    if num[opt].type is int:
        raise ParameterError("vary", f"{fopts.vary!r} is an integer option; root-finding needs a real one")
    fixed, _ = split_options(cparser, cargv, allow_axes=False)
    if any(o in num[opt].option_strings for o, _ in fixed):
        raise ParameterError("vary", f"{opt} is varied; do not also give it a value")
    point = _make_point(cmd, cparser, fixed, [(axis_name(opt), opt)])
    _dry_parse(point, {axis_name(opt): lo})
    check.positive("xtol", fopts.xtol)
    check.integer("scan", fopts.scan, lo=0, hi=10**4)
    res = find_root(point, axis_name(opt), (lo, hi), fopts.quantity, value, xtol=fopts.xtol, scan=fopts.scan,
                    warm_start=WARM_STARTS.get(cmd), names={"bracket": "in", "quantity": "quantity", "vary": "vary"})
    out = res.to_json()
    out["vary"] = opt.lstrip("-")
    if fopts.json:
        common.emit_json(out)
    else:
        rows = [[k, v if isinstance(v, float) else str(v)] for k, v in out.items()]
        common.print_table(["quantity", "value"], rows, floatfmt=".12g")
    return 0


def register(sub: argparse._SubParsersAction, vsub: argparse._SubParsersAction) -> None:  # noqa: ARG001
    """``quadnet sweep`` and ``quadnet find``."""
    p = sub.add_parser("sweep", help="grid over any command's numeric options (lists a,b,c or ranges "
                                     "START:STOP:NUM, log:START:STOP:NUM); serial, local processes or Dask",
                       description=__doc__ + _SWEEP_OPTS_TEXT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs=argparse.REMAINDER, help="COMMAND [options]")
    common.set_handler(p, _run_sweep)
    f = sub.add_parser("find", help="root of a scalar output in one option: Q(x) = VALUE (Brent, bracket checked)",
                       description=__doc__ + _FIND_OPTS_TEXT, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("target", nargs=argparse.REMAINDER, help="COMMAND --vary NAME --in LO:HI --quantity Q "
                                                            "--equals VALUE [options]")
    common.set_handler(f, _run_find)


_SWEEP_OPTS_TEXT = """
sweep options (anywhere after COMMAND):
  --workers N          local worker processes (default: the machine's cores; 1 = serial in this process)
  --scheduler ADDRESS  an existing Dask scheduler, e.g. tcp://127.0.0.1:8786 (instead of --workers)
  --out FILE.h5        netCDF4 result (xarray.open_dataset(FILE, engine="h5netcdf")); finished points are kept in
                       FILE.h5.parts/ as they arrive, and rerunning the same command skips them
  --overwrite          replace an existing FILE.h5
  --continuation AXIS  run each line along AXIS in order with warm starts (stationary)
  --batch N            points per Dask task (default 1)
  --quiet              no progress bar
  --json               print a JSON summary instead of the table
"""

_FIND_OPTS_TEXT = """
find options (anywhere after COMMAND):
  --vary NAME          the numeric option to solve for
  --in LO:HI           the bracket (checked: Q - VALUE must change sign)
  --quantity Q         a scalar output of COMMAND --json, or Q@T for a curve output at time T
  --equals VALUE       the target value
  --xtol X             tolerance on the root (default 1e-10)
  --scan N             interior points tried when the bracket fails (default 8)
  --json               print a JSON object
"""
