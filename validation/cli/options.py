"""Declarative option tables of the CLI, one per model family: each entry is ``(flag, add_argument keywords)``.

Every command of a family registers its model options from the same table with :func:`add_options`, so the
commands of one family cannot drift apart and no command module imports another's options.
"""

from __future__ import annotations

import argparse
from typing import Any

from validation.cli import common

Option = tuple[str, dict[str, Any]]

#: finite-width model (``quadnet ode``, ``quadnet validate ode``): a FiniteWidthParams (default convention a = 1/p,
#: b = 1/p*, T = I, Gamma = gamma I), built by :func:`validation.cli.cmd_ode.build_params`
FINITE_WIDTH: list[Option] = [
    ("--p", {"type": int, "required": True, "help": "student width p >= 1"}),
    ("--pstar", {"type": int, "required": True, "help": "teacher width p* >= 1"}),
    ("--gamma", {"type": float, "default": None, "help": "effective learning rate (Gamma = gamma I)"}),
    ("--eta", {"default": None, "help": "plain per-unit learning rates eta_j (list of p numbers)"}),
    ("--a", {"default": None, "help": "second-layer weights a_j (list of p; default 1/p)"}),
    ("--b", {"default": None, "help": "teacher second-layer weights b_k (list of p*; default 1/p*)"}),
    ("--T", {"default": None, "help": "teacher Gram matrix (JSON p* x p*; default I)"}),
    ("--noise", {"type": float, "default": 0.0, "help": "label-noise variance Delta (default 0)"}),
    ("--weight-decay", {"type": float, "default": 0.0, "help": "weight decay kappa (default 0)"}),
    ("--centered", {"action": "store_true", "help": "activation z^2 - 1 instead of z^2"}),
    ("--no-stability-check", {"action": "store_true",
                              "help": "do not reject learning rates beyond the plateau / zero-loss limits"}),
]

#: extensive-width model (``stationary``, ``validate stationary``, ``dmft``, ``validate dmft``): an
#: ExtensiveWidthParams (validated there)
EXTENSIVE_WIDTH: list[Option] = [
    ("--alpha", {"type": float, "required": True, "help": "samples per d^2, alpha > 0"}),
    ("--kappa", {"type": common.float_or_inf, "required": True, "help": "student width / d (> 0, or inf)"}),
    ("--kappa-star", {"type": float, "required": True, "help": "teacher width / d, > 0"}),
    ("--lam", {"type": float, "default": 0.0, "help": "l2 strength lam >= 0 (default 0)"}),
    ("--noise", {"type": float, "default": 0.0, "help": "label-noise variance Delta >= 0 (default 0)"}),
]

#: population model (A) (``population``, ``validate population``): a HighDimParams
POPULATION: list[Option] = [
    ("--kappa", {"type": float, "required": True, "help": "student width ratio m/d in (0, 1]"}),
    ("--kappa-star", {"type": float, "required": True, "help": "teacher width ratio m*/d in (0, 1]"}),
]


def add_options(parser: argparse.ArgumentParser, table: list[Option]) -> None:
    """``parser.add_argument(flag, **keywords)`` for every entry of ``table``."""
    for flag, kw in table:
        parser.add_argument(flag, **kw)
