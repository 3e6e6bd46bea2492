"""Argument helpers shared by the ``quadnet`` subcommands (parsing lists/matrices, JSON output)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from odes.common.errors import DivergenceError, ParameterError


def add_common(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """``--json``, ``--out FILE.h5``, ``--quiet`` (no progress bar) and ``--seed``."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--out", metavar="FILE.h5", default=None,
                        help="also save the result (netCDF4-compatible HDF5); an existing file needs --overwrite")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing --out/--plot/--checkpoint files (never done otherwise)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    if seed:
        parser.add_argument("--seed", type=seed_type, default=0,
                            help=f"random seed, an integer in [0, {SEED_MAX}] (default 0)")


SEED_MAX = 2**32 - 1
"""Largest ``--seed``. Runs use seeds seed, seed+1, ... and record them as int64, so the bound is far
below 2**63; 2**32 - 1 is also the range of the legacy numpy seeding that users may compare with."""

MAX_JSON_CHARS = 1_000_000
"""Longest JSON/list option text accepted (a 1e6-character list is ~1e5 numbers, more than any grid)."""


def seed_type(text: str) -> int:
    """argparse type of ``--seed``: an integer in [0, SEED_MAX]; the error names --seed (one line)."""
    try:
        v = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {SEED_MAX}], got {_short(text)}") from None
    if not 0 <= v <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {SEED_MAX}], got {_short(text)}")
    return v


def _json(name: str, text: str, max_depth: int, example: str) -> Any:
    """``json.loads`` with the size and nesting depth capped *before* parsing (a deeply nested text would
    raise RecursionError inside the parser). Depth = the largest number of open brackets/braces."""
    if len(text) > MAX_JSON_CHARS:
        raise ParameterError(name, f"text too long ({len(text)} characters, at most {MAX_JSON_CHARS})")
    depth = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > max_depth:
                raise ParameterError(name, f"nested more than {max_depth} levels deep; expected {example}")
        elif ch in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise ParameterError(name, f"must be {example}, got {_short(text)}") from None


def _short(text: str) -> str:
    """repr of a user text, cut to 60 characters so that an error stays one short line."""
    t = " ".join(text.split())
    return repr(t if len(t) <= 60 else t[:57] + "...")


def set_handler(parser: argparse.ArgumentParser, handler: Callable[[argparse.Namespace], int | None]) -> None:
    parser.set_defaults(handler=handler)


def float_list(name: str, text: str) -> list[float]:
    """Parse ``"0,5,10"`` (or a JSON list) into floats; error names the option."""
    text = text.strip()
    if len(text) > MAX_JSON_CHARS:
        raise ParameterError(name, f"text too long ({len(text)} characters, at most {MAX_JSON_CHARS})")
    if text.startswith("["):
        vals = _json(name, text, 1, "a comma-separated list of numbers or a flat JSON list")
    else:
        vals = text.split(",")
        vals = [t for t in vals if t.strip()]
    try:
        vals = [float(v) for v in vals]
    except (ValueError, TypeError, OverflowError):
        raise ParameterError(name, f"must be a comma-separated list of numbers, got {_short(text)}") from None
    if not vals:
        raise ParameterError(name, "must contain at least one number")
    if not all(math.isfinite(v) for v in vals):
        raise ParameterError(name, "must contain only finite numbers")
    return vals


def int_list(name: str, text: str) -> list[int]:
    """Parse ``"500,1000,2000"`` into ints."""
    vals = float_list(name, text)
    if not all(float(v).is_integer() for v in vals):
        raise ParameterError(name, f"must be a comma-separated list of integers, got {_short(text)}")
    return [int(v) for v in vals]


def matrix(name: str, text: str) -> np.ndarray:
    """Parse a JSON matrix ``'[[0.2],[0.1]]'`` (or vector, read as a column) into a 2-D float array."""
    example = "a JSON matrix such as '[[0.2],[0.1]]'"
    obj = _json(name, text.strip(), 2, example)
    try:
        arr = np.array(obj, dtype=float)
    except (ValueError, TypeError, OverflowError):
        raise ParameterError(name, f"must be {example}, got {_short(text)}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ParameterError(name, f"must be a 2-D matrix, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(name, "must contain only finite numbers")
    return arr


def float_or_inf(text: str) -> float:
    """argparse type accepting ``inf``."""
    return float("inf") if text.strip().lower() in ("inf", "infinity", "+inf") else float(text)


def to_jsonable(obj: Any) -> Any:
    """numpy -> plain Python, recursively."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def emit_json(payload: dict[str, Any]) -> None:
    """Print one JSON object. Non-finite numbers are refused: a NaN curve is an error, never output.
    (Represent an intentionally infinite value, e.g. ``kappa = inf``, as the string ``"inf"``.)"""
    try:
        text = json.dumps(to_jsonable(payload), allow_nan=False)
    except ValueError:
        raise DivergenceError("result contains NaN or inf; refusing to print it") from None
    print(text)


def print_table(header: list[str], rows: list[list[Any]], *, floatfmt: str = ".6g") -> None:
    """A plain aligned text table on stdout."""
    cells = [[h for h in header]] + [[f"{v:{floatfmt}}" if isinstance(v, float) else str(v) for v in r]
                                     for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def plot_path(args: argparse.Namespace) -> str | None:
    """The PNG a command writes: ``--plot`` if given; else, for commands that draw by default
    (``plot_from_out=True``), ``--out`` with the suffix ``.png`` (``NAME.plot.png`` if ``--out`` ends in .png)."""
    from pathlib import Path

    if getattr(args, "plot", None):
        return args.plot
    out = getattr(args, "out", None)
    if not out or not getattr(args, "plot_from_out", False):
        return None
    p = Path(out)
    return str(p.with_suffix(".png")) if p.suffix.lower() != ".png" else str(p.with_name(p.stem + ".plot.png"))


def finish(args: argparse.Namespace, result: Any, *, payload: dict[str, Any] | None = None,
           table: Callable[[], None] | None = None, extras: dict[str, Any] | None = None,
           plot: Callable[[str], Any] | None = None) -> int:
    """The common ending of every command: print first (JSON ``payload``, default ``result.to_json()``, or the
    ``table`` printer), then save ``--out`` (with ``extras`` as named groups) and draw the plot (``plot(path)``,
    default ``result.plot`` saved to :func:`plot_path`). A failed save raises
    :class:`odes.common.hdf5io.OutputWriteError` (exit 4) after the result has been printed: it is never lost."""
    out, png = getattr(args, "out", None), plot_path(args)
    if getattr(args, "json", False):
        body = dict(payload if payload is not None else result.to_json())
        if out:
            body.setdefault("out", out)
        if png:
            body.setdefault("plot", png)
        emit_json(body)
    elif table is not None:
        table()
    else:
        print(result.summary())
    sys.stdout.flush()
    if out:
        from odes.common import hdf5io

        hdf5io.save(result, out, overwrite=getattr(args, "overwrite", False), extras=extras)
    if png:
        _write_plot(result, png, plot)
    if not getattr(args, "json", False) and (out or png):
        print("wrote " + " and ".join(x for x in (out, png) if x))
    return 0


def _write_plot(result: Any, png: str, plot: Callable[[str], Any] | None) -> None:
    from odes.common import hdf5io

    with hdf5io.atomic_path(png) as tmp:
        if plot is not None:
            plot(str(tmp))
        else:
            import matplotlib.pyplot as plt

            ax = result.plot()
            ax.figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
            plt.close(ax.figure)
