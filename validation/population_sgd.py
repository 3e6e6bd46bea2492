r"""Online (one-pass) SGD on model (B) at moderate d, compared with the population gradient flow.

Per step (one fresh x ~ N(0, I_d), teacher directions = the first r coordinates):

  f_W(x) = sum_i (<w_i, x>^2 - ||w_i||^2),  y = sum_{j<=r} lambda_j (x_j^2 - 1),
  W <- W - eta (f_W(x) - y)(2 x x^T W - 2 W),

whose expectation is W <- W - eta * 4(S - S*)W, i.e. an Euler step of the gradient flow with t = eta * n.
SGD tracks GF when eta d << 1 (the per-step noise has variance ~ eta^2 d). The risk is evaluated exactly
from W: R = ||W_V W_V^T - Lambda||^2 + 2 Tr(W_V N W_V^T) + Tr(N^2), N = W_perp^T W_perp.

:func:`compare_sgd_gf` runs SGD and GF from the same W0 and reports the ratios t_SGD(eps)/t_GF(eps) of the
times to first reach R = eps (log R linearly interpolated between recorded times).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from odes.common.errors import DivergenceError, ParameterError
from odes.common.progress import progress
from odes.common.result import Result, coordinate, mean_and_se, variable
from odes.population.params import OnlineSGDParams
from odes.population.powerlaw import (
    RISK_LONG_NAME,
    blocks_from_w0,
    risk_from_blocks,
    teacher_block_curve,
    teacher_spectrum,
)

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


@numba.njit(cache=True)
def _sgd_steps(W, spectrum, eta, n_steps, rng):  # pragma: no cover - compiled
    """n_steps of online SGD in place on W (d x m), inputs from the numpy Generator ``rng``; returns False
    if the state became non-finite."""
    d, m = W.shape
    r = spectrum.shape[0]
    x = np.empty(d)
    h = np.empty(m)
    for _ in range(n_steps):
        for k in range(d):
            x[k] = rng.standard_normal()
        y = 0.0
        for j in range(r):
            y += spectrum[j] * (x[j] * x[j] - 1.0)
        for i in range(m):
            h[i] = 0.0
        nn = 0.0
        for k in range(d):
            xk = x[k]
            for i in range(m):
                w = W[k, i]
                h[i] += w * xk
                nn += w * w
        f = -nn
        for i in range(m):
            f += h[i] * h[i]
        g = 2.0 * eta * (f - y)
        if not np.isfinite(g) or abs(g) > 1e6:
            return False
        for k in range(d):
            for i in range(m):
                W[k, i] -= g * (x[k] * h[i] - W[k, i])
    return True


@dataclass(frozen=True, eq=False, repr=False)
class SGDComparison(Result):
    """SGD vs GF from the same W0. ``t`` record times (GF time t = eta n), ``risk_sgd`` (n_seeds, n_t),
    ``risk_gf`` (n_t,); ``eps`` thresholds and ``ratio`` t_SGD(eps)/t_GF(eps) (n_seeds, n_eps).

    Labelled data (:meth:`to_xarray`): coordinates ``t`` (the curve coordinate), ``seed`` (the SGD noise seeds),
    ``eps`` (risk thresholds). ``test_error_gf`` (t); ``test_error_sgd`` (t), the mean over seeds, with
    ``test_error_sgd_se`` (sample std / sqrt(seeds); NaN for one seed) and ``test_error_sgd_per_seed`` (seed, t);
    ``t_gf`` (eps), ``t_sgd_per_seed`` and ``ratio_per_seed`` (seed, eps), ``ratio`` (eps) with ``ratio_se``.
    Thresholds never reached are NaN (``null`` in JSON)."""

    curve_coord = "t"  # plain class attribute (not a dataclass field)

    params: OnlineSGDParams
    t: np.ndarray
    risk_sgd: np.ndarray
    risk_gf: np.ndarray
    eps: np.ndarray
    t_gf: np.ndarray
    t_sgd: np.ndarray
    ratio: np.ndarray
    seeds: tuple
    init_seed: int = 0

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring); attribute ``init_seed``."""
        r_m, r_se = mean_and_se(self.risk_sgd)
        q_m, q_se = mean_and_se(self.ratio)
        var = {
            "test_error_gf": variable("t", self.risk_gf, "gradient flow: " + RISK_LONG_NAME),
            "test_error_sgd": variable("t", r_m, "online SGD: " + RISK_LONG_NAME + ", mean over seeds"),
            "test_error_sgd_se": variable("t", r_se, "standard error of test_error_sgd (std / sqrt(seeds))"),
            "test_error_sgd_per_seed": variable(("seed", "t"), self.risk_sgd, "online SGD risk, per seed"),
            "t_gf": variable("eps", self.t_gf, "gradient-flow time to first reach R = eps (NaN: never)"),
            "t_sgd_per_seed": variable(("seed", "eps"), self.t_sgd, "SGD time (eta n) to first reach R = eps"),
            "ratio_per_seed": variable(("seed", "eps"), self.ratio, "t_SGD(eps)/t_GF(eps), per seed"),
            "ratio": variable("eps", q_m, "t_SGD(eps)/t_GF(eps), mean over seeds"),
            "ratio_se": variable("eps", q_se, "standard error of ratio (std / sqrt(seeds))"),
        }
        return self.dataset(var, coords={
            "t": coordinate("t", self.t, "gradient-flow time t = eta x samples"),
            "seed": coordinate("seed", np.asarray(self.seeds, dtype=np.int64), "SGD noise seed"),
            "eps": coordinate("eps", self.eps, "risk threshold eps")}, attrs={"init_seed": int(self.init_seed)})

def time_to_reach(t: np.ndarray, risk: np.ndarray, eps: float) -> float:
    """First time at which the curve reaches R = eps (log R linear in t between records); nan if never."""
    below = np.nonzero(risk <= eps)[0]
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return float(t[0])
    l0, l1 = np.log(risk[k - 1]), np.log(risk[k])
    return float(t[k - 1] + (np.log(eps) - l0) / (l1 - l0) * (t[k] - t[k - 1]))


def run_sgd(params: OnlineSGDParams, W0: np.ndarray, record_times: np.ndarray, *, seed: int = 0,
            quiet: bool = True) -> np.ndarray:
    """Online SGD from W0 (d x m); exact risk at ``record_times`` (GF time units). Raises DivergenceError."""
    p = params.model
    spectrum = teacher_spectrum(p.alpha_pl, p.rank)
    eta = params.eta
    W = np.array(W0, dtype=float, order="C")
    steps = np.round(np.asarray(record_times) / eta).astype(np.int64)
    risk = np.empty(steps.size)
    done = 0
    rng = np.random.default_rng(seed)
    for k, n in enumerate(progress(steps, desc=f"SGD seed {seed}", quiet=quiet)):
        if n > done:
            ok = _sgd_steps(W, spectrum, eta, int(n - done), rng)
            if not ok:
                raise DivergenceError(f"online SGD diverged (eta d = {params.eta_d:g})", time=float(n * eta))
            done = int(n)
        G_V, N = blocks_from_w0(W, p.rank)
        risk[k] = risk_from_blocks(G_V, N, spectrum)
    return risk


def compare_sgd_gf(params: OnlineSGDParams, *, seeds: Sequence[int] = (0, 1), init_seed: int = 0,
                   eps: Sequence[float] = (0.5, 0.1, 0.01), quiet: bool = True) -> SGDComparison:
    """SGD (several noise seeds) and GF (teacher-block closed form) from the same Gaussian W0 (``init_seed``;
    entries N(0, sigma0^2/d)); ratios of the times to reach each eps."""
    p = params.model
    if p.width < p.rank:
        raise ParameterError("width", "compare_sgd_gf uses the teacher-block closed form: needs width >= rank")
    eps = np.asarray([float(e) for e in eps])
    if np.any(eps <= 0) or np.any(eps >= 2):
        raise ParameterError("eps", "thresholds must be in (0, 2)")
    spectrum = teacher_spectrum(p.alpha_pl, p.rank)
    rng = np.random.default_rng(init_seed)
    W0 = np.sqrt(p.sigma0_sq / p.d) * rng.standard_normal((p.d, p.width))
    t = np.linspace(0.0, params.t_max, params.n_records)
    G_V, N0 = blocks_from_w0(W0, p.rank)
    risk_gf, _ = teacher_block_curve(G_V, N0, spectrum, t)
    risk_sgd = np.stack([run_sgd(params, W0, t, seed=s, quiet=quiet) for s in seeds])
    t_gf = np.array([time_to_reach(t, risk_gf, e) for e in eps])
    t_sgd = np.array([[time_to_reach(t, rs, e) for e in eps] for rs in risk_sgd])
    return SGDComparison(params=params, t=t, risk_sgd=risk_sgd, risk_gf=risk_gf, eps=eps, t_gf=t_gf,
                         t_sgd=t_sgd, ratio=t_sgd / t_gf, seeds=tuple(int(s) for s in seeds), init_seed=init_seed)
