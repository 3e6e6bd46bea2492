r"""Finite-N one-pass (online) SGD simulator of the finite-width quadratic network.

Model (the same as :mod:`odes.finite_width`, spec Sec. 1). At every step a fresh input
:math:`x\sim\mathcal N(0, I_N)` (and label noise :math:`\zeta\sim\mathcal N(0,1)`) is drawn;

.. math::
    \lambda_j = w_j\cdot x/\sqrt N,\quad \nu_k = w^*_k\cdot x/\sqrt N,\quad
    r = \sum_j a_j\lambda_j^2 - \sum_k b_k\nu_k^2 - c_0 - \sqrt\Delta\,\zeta,\qquad
    c_0 = c(\mathrm{tr}A - \mathrm{tr}B),

(activation :math:`z^2 - c`; an explicit ``params.offset`` replaces :math:`c_0`, exactly as in the ODE), and

.. math::
    w_j \leftarrow (1-\eta_j\kappa/N)\,w_j - \frac{\eta_j}{\sqrt N}\,2a_j\lambda_j r\,x
    \qquad (j = 1..p,\ \text{all } \lambda_j \text{ taken before the update}).

Time is :math:`\alpha` = steps/N. The order parameters :math:`Q = WW^\top/N` (p x p) and :math:`M = WW^{*\top}/N`
(p x p*) are computed *exactly* from the weights at the requested grid points (rounded to whole steps:
``alpha = round(alpha_requested N)/N``), and the generalisation error follows exactly from them through the
closed form :func:`odes.finite_width.generalization_error` (no test set; exact at any N because the covariance
of :math:`\lambda` is exactly Q).

Cost: O((2p + p*) N) flops per step (p + p* dot products and p axpy updates) plus N Gaussian draws (numpy's
ziggurat, drawn in chunks of about 2^19 numbers); the step loop is a numba kernel (``cache=True``).
There is no discretisation error: this *is* the algorithm, simulated exactly in double precision.

Initialisations (``init``):

* ``"V"`` (warm start, protocol V of the spec): :math:`W = L_R\Xi + M_0 T^{-1} W^*`, with :math:`\Xi` (p x N) =
  orthonormal rows x :math:`\sqrt N`, orthogonal to the teacher span, and :math:`L_R L_R^\top = R_0` (default
  :math:`R_0 = I`). Then exactly :math:`M(0) = M_0`, :math:`Q(0) = R_0 + M_0T^{-1}M_0^\top`, i.e.
  :math:`Q_\perp(0) = Q - MT^{-1}M^\top = R_0` (for T = I this is :math:`w_j = \xi_j + \sum_k (M_0)_{jk} w^*_k`).
* ``"R"`` (random init, protocol R): :math:`w_j\sim\mathcal N(0, I_N)` iid, so :math:`Q(0) = I + O(N^{-1/2})`,
  :math:`M(0) = O(N^{-1/2})`; the run goes through the plateau and escapes.

The teacher is :math:`W^* = L_T O` with O (p* x N) orthonormal rows x :math:`\sqrt N` and :math:`L_TL_T^\top = T`,
so :math:`W^*W^{*\top}/N = T` exactly (to rounding).

Divergence: a run whose residual exceeds ``r_max`` (or becomes non-finite), or whose Q exceeds ``q_max``, is
stopped and flagged (``diverged``, ``alpha_diverged``); its remaining grid points keep the last finite recorded
state, and it is excluded from every statistic (:meth:`OnlineSGDResult.mean`, ``std``). Nothing is NaN.

Reproducibility: run ``s`` uses ``numpy.random.SeedSequence(s)`` spawned into three streams (initial weights,
inputs, label noise), so a run does not depend on the chunking or on the other seeds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from odes.common import check
from odes.common.errors import DivergenceError, ParameterError
from odes.common.numerics import time_grid
from odes.common.progress import progress
from odes.common.random_matrices import haar_frame
from odes.common.resources import check_memory
from odes.common.result import Result, coordinate, mean_and_se, variable
from odes.finite_width import FiniteWidthParams
from odes.finite_width.integrate import ALPHA_LONG_NAME, TEST_ERROR_LONG_NAME
from odes.finite_width.moments import generalization_error

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

INITS = ("V", "R")
MAX_STEPS = 1e11  # largest number of SGD steps of one run (max(alphas) x N)
_CHUNK_NUMBERS = 2**19  # Gaussian numbers drawn per chunk (4 MiB)
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}  # reassociation for SIMD dots; keeps NaN/inf semantics


# ---------------------------------------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FASTMATH)
def _sgd_steps(W, Ws, X, zeta, a, b, eta, c0, sqrt_noise, kappa, r_max):  # pragma: no cover - jitted
    """Apply ``X.shape[0]`` SGD steps to W (p x N) in place, inputs X (n x N), label noise zeta (n,).

    ``c0``: constant of the residual r = sum_j a_j lam_j^2 - sum_k b_k nu_k^2 - c0 - sqrt(Delta) zeta
    (= c (tr A - tr B) for the activation z^2 - c, or the explicit offset of the parameters).
    Returns the number of steps completed; ``< n`` means the residual at that step was non-finite or
    exceeded ``r_max`` (blow-up; W is left as before that step)."""
    n, N = X.shape
    p = W.shape[0]
    ps = Ws.shape[0]
    inv_sqrt_n = 1.0 / np.sqrt(N)
    lam = np.empty(p)
    decay = np.empty(p)
    for j in range(p):
        decay[j] = 1.0 - eta[j] * kappa / N
    for t in range(n):
        r = -sqrt_noise * zeta[t] - c0
        for j in range(p):
            s = 0.0
            for i in range(N):
                s += W[j, i] * X[t, i]
            lam[j] = s * inv_sqrt_n
            r += a[j] * lam[j] * lam[j]
        for k in range(ps):
            s = 0.0
            for i in range(N):
                s += Ws[k, i] * X[t, i]
            nu = s * inv_sqrt_n
            r -= b[k] * nu * nu
        if not (abs(r) <= r_max):
            return t
        for j in range(p):
            g = eta[j] * inv_sqrt_n * 2.0 * a[j] * lam[j] * r
            d = decay[j]
            for i in range(N):
                W[j, i] = d * W[j, i] - g * X[t, i]
    return n


@numba.njit(cache=True, fastmath=_FASTMATH)
def _one_step_increments(W, Ws, X, zeta, a, b, eta, c0, sqrt_noise, kappa):  # pragma: no cover - jitted
    """For each sample t: apply ONE step of :func:`_sgd_steps` to a copy of the frozen W and return the
    increments N*(Q' - Q) (n, p, p) and N*(M' - M) (n, p, p*), computed from the updated weights."""
    n, N = X.shape
    p = W.shape[0]
    ps = Ws.shape[0]
    dQ = np.empty((n, p, p))
    dM = np.empty((n, p, ps))
    Q = W @ W.T / N
    M = W @ Ws.T / N
    Wc = np.empty_like(W)
    for t in range(n):
        Wc[:, :] = W
        _sgd_steps(Wc, Ws, X[t:t + 1], zeta[t:t + 1], a, b, eta, c0, sqrt_noise, kappa, np.inf)
        for j in range(p):
            for l in range(p):
                s = 0.0
                for i in range(N):
                    s += Wc[j, i] * Wc[l, i]
                dQ[t, j, l] = s - N * Q[j, l]
            for k in range(ps):
                s = 0.0
                for i in range(N):
                    s += Wc[j, i] * Ws[k, i]
                dM[t, j, k] = s - N * M[j, k]
    return dQ, dM


# ---------------------------------------------------------------------------------------------------------
# initial conditions
# ---------------------------------------------------------------------------------------------------------
def _orthonormal_rows(n_rows: int, N: int, rng: np.random.Generator) -> np.ndarray:
    """(n_rows, N) matrix with orthonormal rows times sqrt(N) (Haar-random frame)."""
    return np.ascontiguousarray(haar_frame(rng, N, n_rows).T) * np.sqrt(N)


def initial_weights(params: FiniteWidthParams, N: int, rng: np.random.Generator, *, init: str = "V",
                    M0: np.ndarray | None = None, R0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Student W (p x N) and teacher W* (p* x N) for protocol ``init`` (see the module docstring).

    Protocol V: :math:`W^* = L_T O`, :math:`W = L_R \Xi + M_0 T^{-1} W^*` with [O; Xi] a Haar-random
    orthonormal (p* + p) x N frame times sqrt(N); exactly M(0) = M0 and Q_perp(0) = R0 (default I).
    Protocol R: same teacher, W iid N(0, 1) entries."""
    p, ps = params.p, params.p_star
    if init not in INITS:
        raise ParameterError("init", f"must be one of {INITS}, got {init!r}")
    if N < p + ps:
        raise ParameterError("N", f"must be >= p + p* = {p + ps}, got {N}")
    frame = _orthonormal_rows(ps + p, N, rng)
    L_T = np.linalg.cholesky(params.T)
    Ws = np.ascontiguousarray(L_T @ frame[:ps])
    if init == "R":
        W = rng.standard_normal((p, N))
        return np.ascontiguousarray(W), Ws
    M0 = np.zeros((p, ps)) if M0 is None else M0
    R0 = np.eye(p) if R0 is None else R0
    L_R = np.linalg.cholesky(R0) if np.all(np.linalg.eigvalsh(R0) > 0) else _psd_sqrt(R0)
    W = L_R @ frame[ps:] + M0 @ np.linalg.solve(params.T, Ws)
    return np.ascontiguousarray(W), Ws


def _psd_sqrt(R: np.ndarray) -> np.ndarray:
    ev, U = np.linalg.eigh(R)
    return U * np.sqrt(np.clip(ev, 0.0, None))[None, :]


def overlaps(W: np.ndarray, Ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact Q = W W^T / N (p x p, symmetrised) and M = W W*^T / N (p x p*)."""
    N = W.shape[1]
    Q = W @ W.T / N
    return 0.5 * (Q + Q.T), W @ Ws.T / N


# ---------------------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class OnlineSGDResult(Result):
    """Online-SGD runs at one N for several seeds (a curve along ``alpha`` = steps/N).

    Fields: ``alpha`` (n,) grid actually recorded (steps/N); ``Q`` (S, n, p, p), ``M`` (S, n, p, p*),
    ``eps_g`` (S, n) exact generalisation error of each recorded state (noiseless test labels);
    ``seeds`` (S,); ``diverged`` (S,) bool and ``alpha_diverged`` (S,) (inf when the run did not blow up);
    ``init`` ("V" or "R"); ``M0``, ``R0`` the requested warm start (None for protocol R);
    ``wall_time`` seconds for all runs.

    Labelled data (:meth:`to_xarray`): coordinates ``seed``, ``alpha``; ``test_error`` (alpha), the mean over the
    non-diverged seeds, and ``test_error_se`` its standard error (sample std (ddof 1) / sqrt(number of runs); NaN
    for a single run); per seed ``test_error_per_seed`` (seed, alpha), ``Q_per_seed`` (seed, alpha, i, i2),
    ``M_per_seed`` (seed, alpha, i, k), ``diverged`` and ``alpha_diverged`` (seed)."""

    curve_coord = "alpha"  # plain class attribute (not a dataclass field)

    params: FiniteWidthParams
    N: int
    init: str
    seeds: np.ndarray
    alpha: np.ndarray
    Q: np.ndarray
    M: np.ndarray
    eps_g: np.ndarray
    diverged: np.ndarray
    alpha_diverged: np.ndarray
    M0: np.ndarray | None = None
    R0: np.ndarray | None = None
    wall_time: float = 0.0

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring); the mean curves use the non-diverged seeds only."""
        p, ps = self.params.p, self.params.p_star
        mean, se = mean_and_se(self.eps_g[self.valid]) if self.n_valid else (np.full(len(self.alpha), np.nan),) * 2
        var = {
            "test_error": variable("alpha", mean, "mean over non-diverged runs of " + TEST_ERROR_LONG_NAME),
            "test_error_se": variable("alpha", se, "standard error of the mean test_error (sample std / sqrt(runs))"),
            "test_error_per_seed": variable(("seed", "alpha"), self.eps_g, TEST_ERROR_LONG_NAME + ", per run"),
            "Q_per_seed": variable(("seed", "alpha", "i", "i2"), self.Q,
                                   "student-student overlap Q_ij = w_i . w_j / N, per run"),
            "M_per_seed": variable(("seed", "alpha", "i", "k"), self.M,
                                   "student-teacher overlap M_ik = w_i . w*_k / N, per run"),
            "diverged": variable("seed", np.asarray(self.diverged, dtype=np.int8), "1 if the run blew up"),
            "alpha_diverged": variable("seed", self.alpha_diverged, "alpha at which the run blew up (inf: never)"),
            "N": variable((), self.N, "input dimension N"),
            "runs": variable((), self.n_valid, "number of non-diverged runs"),
            "wall_time": variable((), self.wall_time, "wall-clock time of all runs", "s"),
        }
        if self.M0 is not None:
            var["M0"] = variable(("i", "k"), self.M0, "requested warm start M(0) (protocol V)")
        if self.R0 is not None:
            var["R0"] = variable(("i", "i2"), self.R0, "requested Q_perp(0) = Q - M T^-1 M^T (protocol V)")
        return self.dataset(var, coords={
            "seed": coordinate("seed", np.asarray(self.seeds, dtype=np.int64), "random seed of the run"),
            "alpha": coordinate("alpha", self.alpha, ALPHA_LONG_NAME + ", recorded = round(alpha N)/N"),
            "i": coordinate("i", np.arange(p), "student hidden unit index"),
            "i2": coordinate("i2", np.arange(p), "student hidden unit index (second)"),
            "k": coordinate("k", np.arange(ps), "teacher hidden unit index")}, attrs={"init": self.init})

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask (S,) of runs that did not diverge."""
        return ~np.asarray(self.diverged, dtype=bool)

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(self.valid))

    def _field(self, name: str) -> np.ndarray:
        if name not in ("Q", "M", "eps_g"):
            raise ParameterError("name", f"must be 'Q', 'M' or 'eps_g', got {name!r}")
        if self.n_valid == 0:
            raise DivergenceError(f"all {len(self.seeds)} online-SGD runs at N = {self.N} diverged")
        return np.asarray(getattr(self, name))[self.valid]

    def mean(self, name: str = "eps_g") -> np.ndarray:
        """Mean over the non-diverged seeds of ``Q``, ``M`` or ``eps_g``."""
        return self._field(name).mean(axis=0)

    def std(self, name: str = "eps_g") -> np.ndarray:
        """Sample standard deviation (ddof = 1; 0 for a single run) over the non-diverged seeds."""
        x = self._field(name)
        return x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1:])



# ---------------------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------------------
def run_memory(p: int, p_star: int, N: int) -> float:
    r"""Bytes of one online-SGD run at width N: the Haar frame (an N x (p+p*) Gaussian matrix, its QR factor
    and the scaled transposed copy), W (p x N), W* (p* x N) and temporaries, about 6 N (p + p*) floats, plus
    the input chunk of max(2^19, N) floats: 8 [6 N (p + p*) + max(2^19, N)]."""
    return 8.0 * (6.0 * float(N) * (p + p_star) + max(float(_CHUNK_NUMBERS), float(N)))


def _alpha_steps(alphas: Sequence[float] | np.ndarray, N: int) -> np.ndarray:
    al = time_grid("alphas", alphas)
    n_steps = float(al[-1]) * float(N)          # Python floats: inf on overflow, no warning
    if n_steps > MAX_STEPS:
        raise ParameterError("alphas", f"max(alphas) x N = {n_steps:.3g} SGD steps is more than the "
                                       f"{MAX_STEPS:.0e} allowed (each step costs O((2p + p*) N) flops)")
    steps = np.rint(al * N).astype(np.int64)
    if np.any(np.diff(steps) <= 0):
        raise ParameterError("alphas", f"must be strictly increasing, and at least 1/N = {1 / N:.3g} apart")
    return steps


def run_single(params: FiniteWidthParams, N: int, alphas: Sequence[float] | np.ndarray, seed: int, *,
               init: str = "V", M0: np.ndarray | None = None, R0: np.ndarray | None = None,
               r_max: float = 1e6, q_max: float = 1e6, return_weights: bool = False):
    """One online-SGD run. Returns ``(Q (n,p,p), M (n,p,p*), alpha_diverged)`` (inf if no blow-up), plus
    the final ``(W, W*)`` if ``return_weights``. After a blow-up the remaining rows repeat the last finite
    recorded state."""
    steps = _alpha_steps(alphas, N)
    ss_init, ss_x, ss_z = np.random.SeedSequence(int(seed)).spawn(3)
    rng_init, rng_x, rng_z = (np.random.default_rng(s) for s in (ss_init, ss_x, ss_z))
    W, Ws = initial_weights(params, N, rng_init, init=init, M0=M0, R0=R0)
    p, ps = params.p, params.p_star
    n = len(steps)
    Qs = np.empty((n, p, p))
    Ms = np.empty((n, p, ps))
    a, b, eta = (np.ascontiguousarray(v, dtype=float) for v in (params.a, params.b, params.eta))
    c0, sqrt_noise, kappa = float(params.c0), float(np.sqrt(params.noise)), float(params.weight_decay)
    chunk = max(1, _CHUNK_NUMBERS // N)
    done = 0
    alpha_div = np.inf
    for idx, target in enumerate(steps):
        while done < target and np.isinf(alpha_div):
            m = int(min(chunk, target - done))
            X = rng_x.standard_normal((m, N))
            z = rng_z.standard_normal(m) if sqrt_noise > 0 else np.zeros(m)
            k = _sgd_steps(W, Ws, X, z, a, b, eta, c0, sqrt_noise, kappa, r_max)
            done += k
            if k < m:
                alpha_div = done / N
        Q, M = overlaps(W, Ws)
        if np.isfinite(alpha_div) or not (np.all(np.isfinite(Q)) and np.max(np.abs(Q)) <= q_max):
            if np.isinf(alpha_div):
                alpha_div = done / N
            if idx == 0:
                raise DivergenceError("online SGD: the initial state is already beyond the blow-up bound")
            Qs[idx:] = Qs[idx - 1]
            Ms[idx:] = Ms[idx - 1]
            break
        Qs[idx], Ms[idx] = Q, M
    out = (Qs, Ms, float(alpha_div))
    return (*out, (W, Ws)) if return_weights else out


def simulate(params: FiniteWidthParams, N: int, alphas: Sequence[float] | np.ndarray, *,
             seeds: int | Sequence[int] = 4, seed: int = 0, init: str = "V", M0: np.ndarray | None = None,
             R0: np.ndarray | None = None, r_max: float = 1e6, q_max: float = 1e6,
             quiet: bool = False) -> OnlineSGDResult:
    r"""Run online SGD at width N for several seeds and record Q, M, eps_g on the grid ``alphas``.

    ``seeds``: a count (runs use seeds ``seed, seed+1, ...``) or an explicit list. ``init``: ``"V"`` (warm
    start with ``M0`` (p x p*, required) and ``R0`` = Q_perp(0), default I) or ``"R"`` (random init).
    ``r_max``/``q_max``: blow-up bounds on |residual| and max|Q| (see the module docstring).
    A diverged run is flagged and a ``RuntimeWarning`` is issued; it never produces NaN."""
    N = check.integer("N", N, lo=1)
    if init not in INITS:
        raise ParameterError("init", f"must be one of {INITS}, got {init!r}")
    if isinstance(seeds, (int, np.integer)):
        seed = check.integer("seed", seed, lo=0, hi=2**62)
        n_seeds = check.integer("seeds", seeds, lo=1, hi=10**6)
        seed_list = list(range(seed, seed + n_seeds))
    else:
        seed_list = [check.integer("seeds", s, lo=0, hi=2**63 - 1) for s in seeds]
    if not seed_list:
        raise ParameterError("seeds", "need at least one seed")
    p, ps = params.p, params.p_star
    check_memory("N", run_memory(p, ps, N), f"online SGD at N = {N} (weights, teacher and input chunk)")
    if init == "V":
        if M0 is None:
            raise ParameterError("M0", "protocol V needs the initial overlap M0 (p x p*)")
        M0 = check.array("M0", M0, shape=(p, ps))
        R0 = np.eye(p) if R0 is None else check.symmetric_psd("R0", R0, p)
    else:
        if M0 is not None or R0 is not None:
            raise ParameterError("M0", "M0/R0 set the warm start of protocol V; protocol R (random init) ignores "
                                       "them, so do not pass them with init='R'")
    r_max = check.positive("r_max", r_max)
    q_max = check.positive("q_max", q_max)
    steps = _alpha_steps(alphas, N)
    alpha = steps / N
    t0 = time.perf_counter()
    Qs, Ms, eps, adiv = [], [], [], []
    for s in progress(seed_list, desc=f"online SGD N={N}", quiet=quiet):
        Q, M, a_div = run_single(params, N, alpha, s, init=init, M0=M0, R0=R0, r_max=r_max, q_max=q_max)
        if np.isfinite(a_div):
            warnings.warn(f"online SGD run (seed {s}, N = {N}) blew up at alpha = {a_div:.4g}; it is flagged "
                          "and excluded from the statistics", RuntimeWarning, stacklevel=2)
        Qs.append(Q)
        Ms.append(M)
        eps.append([generalization_error(q, m, params) for q, m in zip(Q, M)])
        adiv.append(a_div)
    adiv_arr = np.asarray(adiv, dtype=float)
    return OnlineSGDResult(params=params, N=N, init=init, seeds=np.asarray(seed_list, dtype=np.int64),
                           alpha=alpha, Q=np.asarray(Qs), M=np.asarray(Ms), eps_g=np.asarray(eps, dtype=float),
                           diverged=np.isfinite(adiv_arr), alpha_diverged=adiv_arr, M0=M0, R0=R0,
                           wall_time=time.perf_counter() - t0)


def one_step_increments(params: FiniteWidthParams, W: np.ndarray, Ws: np.ndarray, n_samples: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Diagnostic for the drift test: ``n_samples`` independent single SGD steps from the frozen (W, W*),
    each with a fresh input; returns N*(Q' - Q) (n, p, p) and N*(M' - M) (n, p, p*). Their mean estimates
    the ODE right-hand side (dQ/dalpha, dM/dalpha) up to O(1/N)."""
    N = W.shape[1]
    X = rng.standard_normal((n_samples, N))
    z = rng.standard_normal(n_samples)
    a, b, eta = (np.ascontiguousarray(v, dtype=float) for v in (params.a, params.b, params.eta))
    return _one_step_increments(np.ascontiguousarray(W, dtype=float), np.ascontiguousarray(Ws, dtype=float),
                                X, z, a, b, eta, float(params.c0), float(np.sqrt(params.noise)),
                                float(params.weight_decay))


def random_orthonormal_M0(p: int, p_star: int, scale: float = 0.3, seed: int = 0) -> np.ndarray:
    """Protocol-V default warm start: scale x (p x p* matrix with orthonormal columns, Haar), so all singular
    values equal ``scale`` (needs p >= p*; for p < p* the rows are orthonormal instead)."""
    n, k = max(p, p_star), min(p, p_star)
    F = _orthonormal_rows(k, n, np.random.default_rng(seed)) / np.sqrt(n)   # (k, n), orthonormal rows
    return scale * (F.T if p >= p_star else F)
