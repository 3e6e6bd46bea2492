r"""Solver settings of the discrete-time DMFT of gradient descent (validated once, frozen).

The model parameters (alpha, kappa, kappa*, lam, Delta) live in :class:`dmft.params.ExtensiveWidthParams`;
this object holds everything that belongs to the *numerical method* (and the init scale sigma0, which is a
property of the dynamics rather than of the ERM problem):

* ``eta`` -- GD step; t_k = k eta, k = 0..steps. Must satisfy the explicit stability bound
  eta (2 s_max h_max + lam) < 2 with s_max = (1 + 1/sqrt(kappa*))^2 (top MP edge of S*) and
  h_max = (1 + 1/sqrt(2 alpha))^2 (checked by :func:`check_step`, which needs the model parameters).
* ``steps`` -- number of GD steps T.
* ``d_eff`` -- size of the d_eff x d_eff effective matrix process (finite-d_eff bias ~ 1.5/d_eff).
* ``samples`` -- population size Ns (>= 2: the error bars are a jackknife over samples).
* ``probes`` -- Hutchinson probes per sample and target time (nb = samples * probes adjoint sweeps).
* ``sigma0`` -- init scale, S(0) = sigma0^2 Wishart(1/kappa) (kappa = inf: S(0) = sigma0^2 I); in (0, 1e4):
  S(0) must stay below the solver's divergence threshold 1e8 (|S| > 1e8 (1 + max|S*|) is reported as diverged).
* ``seed`` -- root seed (numpy SeedSequence; init, noise and probe streams are spawned from it).
* ``checkpoint_every`` -- write a checkpoint every k steps when a checkpoint path is given (0: only at the end).
* ``ensemble`` -- ``"quantile"``: S*, S(0) with exact Marchenko-Pastur quantile spectra (first two moments
  matched exactly) and Haar eigenvectors; ``"wishart"``: iid Wishart matrices W^T W/m (as in the real model).
* ``block`` -- block size of the blocked memory sum in the adjoint sweep (performance only).
* ``runs`` -- independent runs (seeds spawned from ``seed``); error bars then include run-to-run spread.
* ``check_stability`` -- reject eta beyond the explicit bound (default True). The bound is sufficient, not
  necessary (it uses the top MP edge of S* and the top of the sample-covariance spectrum): e.g. the spec's set C
  (alpha = 1.5, kappa* = 1/4, bound 0.0447) runs stably at eta = 0.05. With False, a run that blows up still
  raises DivergenceError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import ParameterError

ENSEMBLES = ("quantile", "wishart")
SIGMA0_MAX = 1e4  # sigma0^2 = 1e8: the solver's divergence threshold on |S| (solver._BLOWUP)


@dataclass(frozen=True)
class DMFTSettings:
    """Validated numerical settings of :func:`dmft.dynamics.solve` (see module docstring)."""

    eta: float = 0.05
    steps: int = 200
    d_eff: int = 40
    samples: int = 4
    probes: int = 1
    sigma0: float = 1.0
    seed: int = 0
    checkpoint_every: int = 0
    ensemble: str = "quantile"
    block: int = 24
    runs: int = 1
    check_stability: bool = True

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)
        s("eta", check.positive("eta", self.eta))
        s("steps", check.integer("steps", self.steps, lo=1))
        s("d_eff", check.integer("d_eff", self.d_eff, lo=2))
        s("samples", check.integer("samples", self.samples, lo=2))
        s("probes", check.integer("probes", self.probes, lo=1))
        s("sigma0", check.real("sigma0", self.sigma0, lo=0.0, hi=SIGMA0_MAX, lo_open=True, hi_open=True))
        s("seed", check.integer("seed", self.seed, lo=0))
        s("checkpoint_every", check.integer("checkpoint_every", self.checkpoint_every, lo=0))
        s("block", check.integer("block", self.block, lo=1))
        s("runs", check.integer("runs", self.runs, lo=1))
        if not isinstance(self.check_stability, (bool, np.bool_)):
            raise ParameterError("check_stability", f"must be True or False, got {self.check_stability!r}")
        s("check_stability", bool(self.check_stability))
        if self.ensemble not in ENSEMBLES:
            raise ParameterError("ensemble", f"must be one of {ENSEMBLES}, got {self.ensemble!r}")

    @property
    def times(self) -> np.ndarray:
        """Time grid t_k = k eta, k = 0..steps (shape (steps+1,))."""
        return self.eta * np.arange(self.steps + 1)

    def memory_bytes(self) -> tuple[float, float]:
        r"""Estimated bytes of the float64 arrays one run allocates, split as ``(d_eff part, steps part)``:

            d_eff part = 8 d^2 [Ns (2 + 2 (T+1) + 2 T) + T]
                          (S*, S; histories D, Gamma (T+1 each); P, SP (T each); adjoint scratch psi (T, d, d))
            steps part = 8 [(2 Ns + 15 + 4 (runs - 1)) (T+1)^2 + (Ns probes + Ns) (T+1)]
                          (per-sample C_S, R_S rows; C_S, R_S, B, C_e, L; result copies and jackknife
                          temporaries; Hutchinson / exact equal-time R_S; kept results of the other runs)

        with Ns = samples, d = d_eff, T = steps (see :class:`dmft.dynamics.state.SolverState`)."""
        ns, d, T = self.samples, self.d_eff, self.steps
        d_part = 8.0 * d * d * (ns * (2 + 2 * (T + 1) + 2 * T) + T)
        t_part = 8.0 * ((2 * ns + 15 + 4 * (self.runs - 1)) * (T + 1) ** 2 + (ns * self.probes + ns) * (T + 1))
        return d_part, t_part

    def check_memory(self) -> None:
        """ParameterError naming ``d_eff`` or ``steps`` (the larger part of :meth:`memory_bytes`) if one run
        cannot fit in this machine's memory (:func:`odes.common.resources.check_memory`)."""
        from odes.common.resources import check_memory
        d_part, t_part = self.memory_bytes()
        name = "d_eff" if d_part >= t_part else "steps"
        check_memory(name, d_part + t_part, f"the DMFT run (d_eff = {self.d_eff}, steps = {self.steps}, "
                                              f"samples = {self.samples})")

    def numerics_key(self) -> dict:
        """Fields that must agree between a checkpoint and the run that resumes it."""
        return {k: getattr(self, k) for k in ("eta", "steps", "d_eff", "samples", "probes", "sigma0", "seed",
                                              "ensemble", "block", "runs")}


def step_bound(alpha: float, kappa_star: float, lam: float = 0.0) -> float:
    r"""Largest stable GD step of the explicit scheme on the l2-regularised risk:

        eta_max = 2 / (2 s_max h_max + lam),   s_max = (1 + 1/sqrt(kappa*))^2,  h_max = (1 + 1/sqrt(2 alpha))^2.

    GD on L(W) = data(W) + (lam/2)||W||^2 is explicit Euler on the W-flow; it is stable iff eta times the top
    curvature is < 2. The Hessian of L is H_data + lam I: the data term contributes at most 2 s_max h_max (spec
    Sec. 3.1: top eigenvalue s_max of S times the top h_max of the sample covariance of the sensing operator, the
    lam = 0 bound eta 2 s_max h_max < 2) and the regulariser exactly lam. ``lam = 0`` gives 1/(s_max h_max)."""
    s_max = (1.0 + 1.0 / math.sqrt(kappa_star)) ** 2
    h_max = (1.0 + 1.0 / math.sqrt(2.0 * alpha)) ** 2
    return 2.0 / (2.0 * s_max * h_max + lam)


def check_step(params: ExtensiveWidthParams, eta: float) -> None:
    """Raise ParameterError('eta') if eta violates the explicit stability bound eta (2 s_max h_max + lam) < 2."""
    bound = step_bound(params.alpha, params.kappa_star, params.lam)
    if not eta < bound:
        raise ParameterError(
            "eta", f"step eta = {eta:g} violates the explicit stability bound eta (2 s_max h_max + lam) < 2, i.e. "
                   f"eta < {bound:.6g} (s_max = (1+1/sqrt(kappa*))^2, h_max = (1+1/sqrt(2 alpha))^2, "
                   f"lam = {params.lam:g})")
