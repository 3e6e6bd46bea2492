"""The ``quadnet`` command line (stable contract; other tools script against it).

Subcommands live in modules ``validation/cli/cmd_*.py``; each defines ``register(sub, vsub)`` where ``sub``
is the top-level subparser collection (``quadnet <cmd>``) and ``vsub`` the one of ``quadnet validate <cmd>``.
Handlers import their numerical modules lazily so that ``quadnet --help`` stays fast.

Exit codes (each failure prints exactly one line ``quadnet: error: ...`` on stderr, never a traceback):

* 0 success;
* 2 invalid input: a parameter out of range (the line names it and the valid range), an output file that exists
  without ``--overwrite``, an input file (``--resume``) that is damaged, of the wrong kind or in use;
* 3 numerical failure (divergence, non-convergence; the line gives the last residual);
* 4 the result was computed and printed, but writing ``--out``/``--plot`` failed (e.g. a full disk; any previous
  file at that path is unchanged);
* 130 interrupted (Ctrl-C);
* 1 an internal error (a bug; ``QUADNET_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from odes.common.errors import ConvergenceError, DivergenceError, QuadnetError
from odes.common.version import __version__


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are ONE line ``quadnet: error: argument --x: ...`` (exit 2), like the
    errors raised after parsing (no usage block; ``--help`` shows the usage). Sub-parsers inherit the class."""

    def error(self, message: str):  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(2, f"quadnet: error: {text if len(text) <= 300 else text[:297] + '...'}\n")


_Parser = OneLineParser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quadnet",
        description="Exact learning curves of two-layer networks with quadratic activation.",
    )
    parser.add_argument("--version", action="version", version=f"quadnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    validate = sub.add_parser("validate", help="theory vs finite-size simulation (table, HDF5, plot)")
    vsub = validate.add_subparsers(dest="model", metavar="MODEL")
    vsub.required = True
    pkg = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub, vsub)
    return parser


def _check_output_paths(args: argparse.Namespace) -> None:
    """Fail before any computation if an output file cannot be created or would destroy a file the user has.

    ``--out``/``--plot`` (and the plot named after ``--out``) must be in writable directories and must not exist
    unless ``--overwrite`` is given; no two of ``--out``, ``--plot``, ``--checkpoint``, ``--resume`` may be the same
    file; an existing ``--checkpoint`` is continued with ``--resume``, replaced only with ``--overwrite``."""
    import os
    from pathlib import Path

    from odes.common.errors import ParameterError
    from validation.cli.common import plot_path

    overwrite = bool(getattr(args, "overwrite", False))
    files: dict[str, Path] = {}
    for name in ("out", "plot", "checkpoint", "resume"):
        value = plot_path(args) if name == "plot" else getattr(args, name, None)
        if not value:
            continue
        path = Path(value).expanduser().resolve()
        for other, seen in files.items():
            if seen == path and {name, other} != {"checkpoint", "resume"}:
                raise ParameterError(name, f"--{name} {value!r} is the same file as --{other}; give another name")
        files[name] = path
        if name == "resume":
            continue
        parent = path.parent
        if not parent.is_dir():
            raise ParameterError(name, f"directory {str(parent)!r} of --{name} {value!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise ParameterError(name, f"directory {str(parent)!r} of --{name} {value!r} is not writable")
        if path.is_dir():
            raise ParameterError(name, f"--{name} {value!r} is a directory")
        resumed = name == "checkpoint" and getattr(args, "resume", None)
        if path.exists() and not overwrite and not resumed:
            hint = " (continue it with --resume)" if name == "checkpoint" else ""
            raise ParameterError(name, f"file {value!r} exists{hint}; add --overwrite to replace it")


def main(argv: Sequence[str] | None = None, *, parser: argparse.ArgumentParser | None = None) -> int:
    """Run ``quadnet ARGV``; return its exit code (see the module docstring). Never lets a traceback through.

    ``parser`` reuses a :func:`build_parser` result (``quadnet sweep`` runs many points in one process)."""
    import os

    from odes.common.hdf5io import FileFormatError, OutputExistsError, OutputWriteError

    parser = parser or build_parser()
    args = parser.parse_args(argv)
    try:
        _check_output_paths(args)
        return int(args.handler(args) or 0)
    except (DivergenceError, ConvergenceError) as exc:
        return _fail(exc, 3)
    except OutputWriteError as exc:  # the result was printed before the save was attempted
        return _fail(exc, 4)
    except (QuadnetError, ValueError, OutputExistsError, FileFormatError) as exc:
        return _fail(exc, 2)
    except KeyboardInterrupt:
        return _fail("interrupted (Ctrl-C); nothing was saved", 130)
    except OSError as exc:  # e.g. an unreadable --resume file
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        return _fail(f"cannot access{where}: {exc.strerror or exc}", 2)
    except (MemoryError, RecursionError, OverflowError) as exc:
        return _fail(f"input too large to compute ({type(exc).__name__}: {exc or 'out of memory'}); reduce the sizes",
                     2)
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("QUADNET_DEBUG"):
            raise
        return _fail(f"internal error ({type(exc).__name__}: {exc}); rerun with QUADNET_DEBUG=1 for the traceback "
                     "and please report it", 1)


def _fail(exc: BaseException | str, code: int) -> int:
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"quadnet: error: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
