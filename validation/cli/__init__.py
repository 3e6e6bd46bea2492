"""The ``quadnet`` command line (stable contract; other tools script against it).

Subcommands live in modules ``validation/cli/cmd_*.py``; each defines ``register(sub, vsub)`` where ``sub``
is the top-level subparser collection (``quadnet <cmd>``) and ``vsub`` the one of ``quadnet validate <cmd>``.
Handlers import their numerical modules lazily so that ``quadnet --help`` stays fast.

Exit codes: 0 success; 2 invalid input (one line ``quadnet: error: ...`` naming the parameter);
3 numerical failure (divergence, non-convergence), also one line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from odes.common.errors import ConvergenceError, DivergenceError, QuadnetError
from odes.common.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (DivergenceError, ConvergenceError) as exc:
        print(f"quadnet: error: {exc}", file=sys.stderr)
        return 3
    except (QuadnetError, ValueError) as exc:
        print(f"quadnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
