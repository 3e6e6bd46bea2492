"""Run every ``benchmarks/bench_*.py`` (``main(quick)``) and print their tables.

Usage: ``python -m benchmarks [--quick] [name ...]`` (names without the ``bench_`` prefix select a subset).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("names", nargs="*", help="subset, e.g. finite_width dmft")
    args = parser.parse_args()
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        if args.names and info.name[len("bench_"):] not in args.names:
            continue
        print(f"\n=== {info.name} ===")
        importlib.import_module(f"benchmarks.{info.name}").main(quick=args.quick)


if __name__ == "__main__":
    main()
