r"""One finite-size instance of the extensive-width model, shared by ERM (:mod:`validation.erm`) and finite-d GD
(:mod:`validation.gd_simulator`): the same ``(params, d, seed, sensing)`` gives the same teacher, labels and
sensing in both.

Conventions of :mod:`dmft.params`. Counting rule: ``n = max(1, round(alpha d^2))`` samples, teacher width
``m* = max(1, round(kappa* d))``, student width ``m = max(1, round(kappa d))`` (Python's ``round``: half to even).

Random stream: ``rng = default_rng(SeedSequence([seed, d]))`` (so instances at different d are independent)
draws, in this order,

1. the teacher ``W*`` (m*, d) iid N(0, 1): ``S* = W*^T W*/m*`` (:func:`odes.common.random_matrices.mp_wishart`);
2. the label noise ``xi`` (n,) iid N(0, 1): ``y_mu = Tr(S* Z_mu) + sqrt(Delta) xi_mu``;
3. the sensing: ``"wishart"`` (the real model) inputs ``X`` (n, d) iid N(0, 1), ``Z_mu = (x x^T - I)/sqrt(d)``;
   ``"goe"`` (the Gaussian-equivalent model) the n x p design ``A``, ``A_mu = vec_p(Z_mu)`` iid N(0, 2/d)
   (``vec_p`` of :mod:`odes.common.random_matrices`, ``p = d(d+1)/2``), drawn in blocks of :data:`CHUNK_ROWS`
   rows; the generator state before the first block is kept, so the blocks can be regenerated identically
   (:meth:`ExtensiveInstance.goe_blocks`) instead of stored.

Both ensembles have ``E Tr(AZ) Tr(BZ) = (2/d) Tr(AB)``. The GD student's initial weights come from the independent
stream :func:`student_rng` ``= default_rng(SeedSequence([seed, d, 1]))``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import ParameterError
from odes.common.random_matrices import mp_wishart

__all__ = ["SENSINGS", "CHUNK_ROWS", "ExtensiveInstance", "draw_instance", "sample_count", "width",
           "student_rng"]

SENSINGS = ("wishart", "goe")
CHUNK_ROWS = 4096


def sample_count(alpha: float, d: int) -> int:
    """``n = max(1, round(alpha d^2))``."""
    return max(1, int(round(alpha * d * d)))


def width(kappa: float, d: int) -> int:
    """``m = max(1, round(kappa d))`` (student or teacher width)."""
    return max(1, int(round(kappa * d)))


def student_rng(seed: int, d: int) -> np.random.Generator:
    """The independent stream of the GD student's initial weights: ``default_rng(SeedSequence([seed, d, 1]))``."""
    return np.random.default_rng(np.random.SeedSequence([seed, d, 1]))


@dataclass(frozen=True)
class ExtensiveInstance:
    """Teacher ``S_star``, label noise ``noise = sqrt(Delta) xi`` and the sensing (``X`` for Wishart sensing; the
    GOE design through :meth:`goe_blocks` / :meth:`goe_design`). See the module docstring for the rule."""

    params: ExtensiveWidthParams
    d: int
    n: int
    seed: int
    sensing: str
    S_star: np.ndarray
    noise: np.ndarray
    X: np.ndarray | None = None
    goe_state: dict[str, Any] | None = None

    @property
    def p(self) -> int:
        return self.d * (self.d + 1) // 2

    @property
    def n_blocks(self) -> int:
        return -(-self.n // CHUNK_ROWS)

    def goe_blocks(self) -> Iterator[np.ndarray]:
        """The rows of the GOE design, CHUNK_ROWS at a time (regenerated from the saved state; identical on
        every call): block c is ``sqrt(2/d) standard_normal((rows_c, p))``."""
        if self.goe_state is None:
            raise ParameterError("sensing", f"the instance has {self.sensing!r} sensing, not 'goe'")
        bg = np.random.PCG64()
        bg.state = self.goe_state
        rng = np.random.Generator(bg)
        scale = math.sqrt(2.0 / self.d)
        for c in range(self.n_blocks):
            rows = min(CHUNK_ROWS, self.n - c * CHUNK_ROWS)
            yield scale * rng.standard_normal((rows, self.p))

    def goe_design(self) -> np.ndarray:
        """The whole n x p GOE design (``n p 8`` bytes)."""
        return np.concatenate(list(self.goe_blocks()))


def draw_instance(params: ExtensiveWidthParams, d: int, seed: int, sensing: str = "wishart") -> ExtensiveInstance:
    """Draw teacher, label noise and sensing with the stream and counting rule of the module docstring."""
    if not isinstance(params, ExtensiveWidthParams):
        raise ParameterError("params", "must be an ExtensiveWidthParams")
    d = check.integer("d", d, lo=2)
    seed = check.integer("seed", seed, lo=0)
    if sensing not in SENSINGS:
        raise ParameterError("sensing", f"must be one of {SENSINGS}, got {sensing!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, d]))
    n = sample_count(params.alpha, d)
    S_star = mp_wishart(rng, d, width(params.kappa_star, d))
    noise = math.sqrt(params.noise) * rng.standard_normal(n)
    if sensing == "wishart":
        return ExtensiveInstance(params, d, n, seed, sensing, S_star, noise, X=rng.standard_normal((n, d)))
    return ExtensiveInstance(params, d, n, seed, sensing, S_star, noise, goe_state=rng.bit_generator.state)
