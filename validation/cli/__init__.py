"""The ``quadnet`` command line (stable contract; other tools script against it).

Subcommands live in modules ``validation/cli/cmd_*.py``; each defines ``register(sub, vsub)`` where ``sub``
is the top-level subparser collection (``quadnet <cmd>``) and ``vsub`` the one of ``quadnet validate <cmd>``.
Handlers import their numerical modules lazily so that ``quadnet --help`` stays fast.

Exit codes: 0 success; 2 invalid input (one line ``quadnet: error: ...`` naming the parameter) or a file that
cannot be read/written; 3 numerical failure (divergence, non-convergence), also one line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from odes.common.errors import ConvergenceError, DivergenceError, QuadnetError
from odes.common.version import __version__


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are ONE line ``quadnet: error: argument --x: ...`` (exit 2), like the
    errors raised after parsing (no usage block; ``--help`` shows the usage). Sub-parsers inherit the class."""

    def error(self, message: str):  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(2, f"quadnet: error: {text if len(text) <= 300 else text[:297] + '...'}\n")


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
    """Fail before any computation if an output file (``--out``, ``--plot``, ``--checkpoint``) cannot be created."""
    import os
    from pathlib import Path

    from odes.common.errors import ParameterError

    for name in ("out", "plot", "checkpoint"):
        value = getattr(args, name, None)
        if not value:
            continue
        parent = Path(value).expanduser().resolve().parent
        if not parent.is_dir():
            raise ParameterError(name, f"directory {str(parent)!r} of --{name} {value!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise ParameterError(name, f"directory {str(parent)!r} of --{name} {value!r} is not writable")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_output_paths(args)
        return int(args.handler(args) or 0)
    except (DivergenceError, ConvergenceError) as exc:
        print(f"quadnet: error: {exc}", file=sys.stderr)
        return 3
    except (QuadnetError, ValueError) as exc:
        print(f"quadnet: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out in a missing directory or an unreadable --resume file
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        print(f"quadnet: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
