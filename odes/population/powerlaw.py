r"""Model (B) with a power-law teacher: matrix Riccati flow in the teacher eigenbasis, scaling laws.

Conventions (pinned): x ~ N(0, I_d); teacher f*(x) = sum_{j<=r} lambda_j He2(<theta_j, x>) = x^T S* x - Tr S*,
lambda_j = j^{-alpha}/Z_r with Z_r^2 = sum_{j<=r} j^{-2 alpha} (so sum lambda_j^2 = 1, E f*^2 = 2); centred He2
student f_W(x) = x^T S x - Tr S, S = W W^T, W in R^{d x m}; risk R = 1/2 E(f_W - f*)^2 = ||S - S*||_F^2;
gradient flow dW/dt = -4(S - S*)W, i.e. dS/dt = 4(S*S + SS*) - 8S^2; online SGD time t = eta * n_samples;
init W0 i.i.d. N(0, sigma0^2/d), sigma0^2 = 1/m.

Eigenbasis form (V = span theta, Lambda = diag(lambda), perp = complement): only W_V (r x m) and the m x m
Gram N = W_perp^T W_perp enter,

  dW_V/dt = 4 Lambda W_V - 4 W_V Q,  dN/dt = -4(N Q + Q N),  Q = W_V^T W_V + N,
  R = ||W_V W_V^T - Lambda||_F^2 + 2 Tr(W_V N W_V^T) + Tr(N^2).

Hence the init needs only G_V = W0[V] (r x m Gaussian) and N0 = G_perp^T G_perp, a Wishart_m(d - r) matrix
with scale sigma0^2/d, sampled directly (Bartlett), so d = 3.6e5 costs nothing extra.

Three independent exact solvers:

* :func:`teacher_block_curve` (m >= r), the overflow-free closed form at any t: with M = I + 8tN0,
  H_t = G_V M^{-1} G_V^T, D = (e^{8t Lambda} - 1)/Lambda,

    S_VV(t) = [e^{-4t Lambda} H_t^{-1} e^{-4t Lambda} + Lambda^{-1}(I - e^{-8t Lambda})]^{-1},
    X = S_VV e^{-4t Lambda} H_t^{-1} G_V M^{-1}  (so S_Vperp = X G_perp^T),  ||S_Vperp||^2 = Tr(X N0 X^T),
    K^{-1} = M^{-1} - M^{-1} G_V^T (D^{-1} + H_t)^{-1} G_V M^{-1},  ||S_perpperp||^2 = Tr((K^{-1} N0)^2),

  (Woodbury on S(t) = e^{4tS*} W0 [I + W0^T Phi_t W0]^{-1} W0^T e^{4tS*}, K = M + G_V^T D G_V).
* :class:`RestartPropagator` (any m): exact restart stepping; over a step Delta the closed form gives
  W_V <- e^{4 Delta Lambda} W_V C^{-T}, N <- C^{-1} N C^{-T}, K = C C^T = I + W_V^T D_Delta W_V + 8 Delta N,
  with Delta limited so that 8 Delta lambda_1 <= ``max_exponent`` (no overflow; exact up to rounding).
* :func:`integrate_gram_ode`: DOP853 (order 8) on (W_V, N), tolerances exposed.

Scaling predictions (alpha > 1/2, Z = zeta(2 alpha)^{1/2}, l_d ~ log d): R(t) ~ [(2a-1)Z^2]^{-1}
(8t/(Z l_d))^{-(2a-1)/a} (time exponent (2 alpha - 1)/alpha); width floor R(inf) = sum_{j>m} lambda_j^2
(exponent 2 alpha - 1); online SGD with eta = c/d: R(n) = R_GF(c n/d). Escape times:
t_j = log(lambda_j d (1 + 8 t_j sigma0^2)/(sigma0^2 (m - j + 1)))/(8 lambda_j), for the resolvable prefix
lambda_j d/(sigma0^2 (m - j + 1)) >= 2 (inf beyond). Validity (measured, docs/population.md): the fitted time
exponent approaches (2a-1)/a only for J_hi << r (finite-rank correction ~ (J/r)^{2a-1}, slow for a -> 1/2) and
large log d; :func:`time_exponent_validity` flags the fit. Memory is checked before allocating
(:func:`check_risk_curve_memory`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla
from scipy import stats
from scipy.integrate import solve_ivp

from odes.common import check, resources
from odes.common.deprecation import deprecated_alias, renamed_keywords
from odes.common.errors import ConvergenceError, DivergenceError, ParameterError
from odes.common.numerics import fit_power_law, time_grid
from odes.common.progress import progress
from odes.common.result import Result, coordinate, variable
from odes.population.highdim import wishart
from odes.population.params import PowerLawParams

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


# ----------------------------------------------------------------------------------------- spectrum
#: smallest admissible teacher weight lambda_r ~ r^{-alpha}: below it 1/lambda_j and the escape times
#: ~ 1/(8 lambda_j) leave the float range (the closed form divides by lambda).
LAMBDA_MIN = 1e-300


def max_alpha(r: int) -> float:
    """Largest alpha_pl with r^{-alpha} >= LAMBDA_MIN (inf for r = 1)."""
    return float("inf") if r <= 1 else float(-np.log(LAMBDA_MIN) / np.log(r))


def teacher_spectrum(alpha: float, r: int) -> np.ndarray:
    """Teacher eigenvalues lambda_j = j^{-alpha}/Z_r, j = 1..r, normalised so that sum lambda_j^2 = 1. Shape (r,).

    ParameterError('alpha_pl') if r^{-alpha} < 1e-300 (alpha > 690.8/ln r): the smallest weights would underflow."""
    alpha = check.real("alpha_pl", alpha, lo=0.0)
    r = check.integer("rank", r, lo=1)
    if alpha > max_alpha(r):
        raise ParameterError("alpha_pl", f"must be in [0, {max_alpha(r):.6g}] for rank = {r} (r^-alpha below "
                                         f"{LAMBDA_MIN:g} underflows), got {alpha:g}")
    spectrum = np.arange(1, r + 1, dtype=float) ** (-alpha)
    return spectrum / np.sqrt(np.sum(spectrum**2))


def width_floor(alpha: float, r: int, m: int) -> float:
    """Rank-m floor lim_{t->inf} R = sum_{j>m} lambda_j^2 (best rank-m approximation; 0 if m >= r)."""
    spectrum = teacher_spectrum(alpha, r)
    m = check.integer("width", m, lo=1)
    return float(np.sum(spectrum[m:] ** 2))


def sample_init(params: PowerLawParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(G_V, N0): teacher block r x m of W0 (i.i.d. N(0, sigma0^2/d)) and the complement Gram
    N0 = G_perp^T G_perp ~ (sigma0^2/d) Wishart_m(d - r), without forming the (d - r) x m matrix."""
    r, m, d = params.rank, params.width, params.d
    scale = params.sigma0_sq / d
    G_V = np.sqrt(scale) * rng.standard_normal((r, m))
    N0 = wishart(rng, m, d - r, scale) if d > r else np.zeros((m, m))
    return G_V, N0


def blocks_from_w0(W0: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(G_V, N0) of an explicit W0 (d x m) whose first r rows are the teacher directions."""
    W0 = np.asarray(W0, dtype=float)
    return W0[:r].copy(), W0[r:].T @ W0[r:]


@renamed_keywords(lam="spectrum")
def risk_from_blocks(W_V: np.ndarray, N: np.ndarray, spectrum: np.ndarray) -> float:
    """R = ||W_V W_V^T - Lambda||^2 + 2 Tr(W_V N W_V^T) + Tr(N^2)."""
    S_VV = W_V @ W_V.T
    D = S_VV - np.diag(spectrum)
    return float(np.sum(D * D) + 2.0 * np.sum((W_V @ N) * W_V) + np.sum(N * N))


@renamed_keywords(lam="spectrum")
def learned_directions(diag: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    """J(t): length of the prefix j = 1..J with S_jj > lambda_j/2. ``diag`` shape (n_t, r) -> (n_t,) ints."""
    ok = np.asarray(diag) > 0.5 * spectrum
    notok = ~ok
    first_bad = np.where(notok.any(axis=1), notok.argmax(axis=1), ok.shape[1])
    return first_bad.astype(int)


# ----------------------------------------------------------------------------------------- results
RISK_LONG_NAME = "population risk R = ||S - S*||_F^2 = 1/2 E[(f_W - f*)^2] (test error)"


@dataclass(frozen=True, eq=False, repr=False)
class PowerLawResult(Result):
    """Risk curve of model (B). ``t`` (n_t,), ``risk`` (n_t,), ``learned`` J(t) (n_t,), ``diag`` S_jj (n_t, r).

    Labelled data (:meth:`to_xarray`), a curve along the gradient-flow time ``t``: ``test_error`` (= ``risk``),
    ``learned_directions`` (= ``learned``), ``S_diag`` (t, j) (= ``diag``, j = 1..r the teacher directions)."""

    curve_coord = "t"  # plain class attribute (not a dataclass field)

    params: PowerLawParams
    t: np.ndarray
    risk: np.ndarray
    learned: np.ndarray
    diag: np.ndarray
    method: str
    seed: int | None = None

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring); attributes ``method`` and ``seed``."""
        attrs: dict[str, Any] = {"method": self.method}
        if self.seed is not None:
            attrs["seed"] = int(self.seed)
        return self.dataset(
            {"test_error": variable("t", self.risk, RISK_LONG_NAME),
             "learned_directions": variable("t", self.learned, "J(t): number of learned teacher directions (longest "
                                                               "prefix j = 1..J with S_jj > lambda_j/2)"),
             "S_diag": variable(("t", "j"), self.diag, "S_jj: diagonal of S in the teacher eigenbasis")},
            coords={"t": coordinate("t", self.t, "gradient-flow time t (= eta x online-SGD samples)"),
                    "j": coordinate("j", np.arange(1, self.diag.shape[1] + 1), "teacher direction index j")},
            attrs=attrs)

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 keys of ``quadnet scaling``: ``risk`` (now ``test_error``), ``learned``
        (``learned_directions``)."""
        return {"risk": self.risk, "learned": self.learned}

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """R(t) on log-log axes (t > 0); returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        sel = (self.t > 0) & (self.risk > 0)
        ax.loglog(self.t[sel], self.risk[sel], label=f"alpha = {self.params.alpha_pl:g}", **kw)
        ax.set_xlabel("t (= eta x samples)")
        ax.set_ylabel("R(t)")
        ax.legend(fontsize="small")
        return ax

    def samples(self, eta: float) -> np.ndarray:
        """Online-SGD sample counts n = t/eta at which SGD with step eta (eta d << 1) has risk ~ R(t)."""
        return self.t / check.positive("eta", eta)


def _times(times: Sequence[float]) -> np.ndarray:
    return time_grid("times", times)


@renamed_keywords(lam="spectrum")
def teacher_block_curve(G_V: np.ndarray, N0: np.ndarray, spectrum: np.ndarray, times: Sequence[float], *,
                        quiet: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Overflow-free closed form (module doc) for m >= r: returns (risk (n_t,), diag S_VV (n_t, r)).
    Cost O(r m^2 + m^3) per time."""
    t = _times(times)
    r, m = G_V.shape
    if m < r:
        raise ParameterError("width", f"teacher-block formula needs width >= rank ({m} < {r}); "
                                      "use RestartPropagator")
    nu, U = np.linalg.eigh(0.5 * (N0 + N0.T))
    nu = np.clip(nu, 0.0, None)
    Bv = G_V @ U
    risk = np.empty(t.size)
    diag = np.empty((t.size, r))
    for k, tt in enumerate(progress(t, desc="teacher block", quiet=quiet)):
        if tt == 0.0:
            S_VV = G_V @ G_V.T
            Dd = S_VV - np.diag(spectrum)
            risk[k] = np.sum(Dd * Dd) + 2.0 * np.sum((G_V @ N0) * G_V) + np.sum(N0 * N0)
            diag[k] = np.diag(S_VV)
            continue
        dm = 1.0 / (1.0 + 8.0 * tt * nu)                       # M^{-1} in the U basis
        H = (Bv * dm) @ Bv.T
        cH = sla.cho_factor(H, lower=True)
        e = np.exp(-4.0 * tt * spectrum)
        Linv_e = sla.solve_triangular(cH[0], np.diag(e), lower=True)   # L^{-1} e^{-4t Lambda}
        A = Linv_e.T @ Linv_e + np.diag(-np.expm1(-8.0 * tt * spectrum) / spectrum)
        cA = sla.cho_factor(A, lower=True)
        S_VV = sla.cho_solve(cA, np.eye(r))
        S_VV = 0.5 * (S_VV + S_VV.T)
        # Y = S_VV e H^{-1} Bv ;  ||S_Vperp||^2 = sum_ik Y_ik^2 nu_k dm_k^2
        Y = (S_VV * e) @ sla.cho_solve(cH, Bv)
        vperp = np.sum(Y**2 * (nu * dm**2))
        # K^{-1} in the U basis: Dm - Dm Bv^T (D^{-1} + H)^{-1} Bv Dm
        with np.errstate(over="ignore"):
            Dinv = spectrum / np.expm1(8.0 * tt * spectrum)  # -> 0 when e^{8 t lambda} overflows (exact limit)
        cP = sla.cho_factor(H + np.diag(Dinv), lower=True)
        BD = Bv * dm
        Kinv = np.diag(dm) - BD.T @ sla.cho_solve(cP, BD)
        KN = Kinv * nu
        pp = np.sum(KN * KN.T)
        Dd = S_VV - np.diag(spectrum)
        risk[k] = np.sum(Dd * Dd) + 2.0 * vperp + pp
        diag[k] = np.diag(S_VV)
    if not np.all(np.isfinite(risk)):
        raise DivergenceError("teacher-block closed form produced non-finite risk")
    return risk, diag


class RestartPropagator:
    """Exact restart stepping of model (B) in factored form (W_V r x m, N m x m); see module doc.

    Each step of length Delta <= max_exponent/(8 lambda_1) applies the closed form of the Riccati lemma, so
    the only error is rounding (the conditioning of K is at most ~e^{max_exponent})."""

    @renamed_keywords(lam="spectrum")
    def __init__(self, G_V: np.ndarray, N0: np.ndarray, spectrum: np.ndarray, *, max_exponent: float = 8.0):
        self.W_V = np.array(G_V, dtype=float)
        self.N = 0.5 * (np.asarray(N0, dtype=float) + np.asarray(N0, dtype=float).T)
        self.spectrum = np.asarray(spectrum, dtype=float)
        self.t = 0.0
        self.max_exponent = check.positive("max_exponent", max_exponent)
        self.dt_max = self.max_exponent / (8.0 * max(float(np.max(self.spectrum)), 1e-300))

    def _step(self, dt: float) -> None:
        spectrum, W_V, N = self.spectrum, self.W_V, self.N
        m = N.shape[0]
        Dd = np.expm1(8.0 * dt * spectrum) / spectrum
        K = np.eye(m) + (W_V.T * Dd) @ W_V + 8.0 * dt * N
        C = np.linalg.cholesky(0.5 * (K + K.T))
        # W_V <- e^{4 dt Lambda} W_V C^{-T};  N <- C^{-1} N C^{-T}
        Wn = sla.solve_triangular(C, W_V.T, lower=True).T
        self.W_V = np.exp(4.0 * dt * spectrum)[:, None] * Wn
        Z = sla.solve_triangular(C, N, lower=True)
        Nn = sla.solve_triangular(C, Z.T, lower=True)
        self.N = 0.5 * (Nn + Nn.T)
        self.t += dt
        if not (np.all(np.isfinite(self.W_V)) and np.all(np.isfinite(self.N))):
            raise DivergenceError("restart propagation produced non-finite values", time=self.t)

    def advance_to(self, t: float) -> None:
        while self.t < t:
            self._step(min(self.dt_max, t - self.t))

    def risk(self) -> float:
        return risk_from_blocks(self.W_V, self.N, self.spectrum)

    @property
    def lam(self) -> np.ndarray:
        """Deprecated name of :attr:`spectrum` (the teacher eigenvalues lambda_j)."""
        warnings.warn("RestartPropagator.lam is deprecated, use RestartPropagator.spectrum", DeprecationWarning,
                      stacklevel=2)
        return self.spectrum

    def diag(self) -> np.ndarray:
        return np.sum(self.W_V**2, axis=1)


@renamed_keywords(lam="spectrum")
def restart_curve(G_V: np.ndarray, N0: np.ndarray, spectrum: np.ndarray, times: Sequence[float], *,
                  max_exponent: float = 8.0, quiet: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(risk, diag S_VV) on ``times`` by :class:`RestartPropagator` (any width)."""
    t = _times(times)
    P = RestartPropagator(G_V, N0, spectrum, max_exponent=max_exponent)
    risk = np.empty(t.size)
    diag = np.empty((t.size, len(spectrum)))
    for k, tt in enumerate(progress(t, desc="restart", quiet=quiet)):
        P.advance_to(float(tt))
        risk[k], diag[k] = P.risk(), P.diag()
    return risk, diag


@renamed_keywords(lam="spectrum")
def integrate_gram_ode(G_V: np.ndarray, N0: np.ndarray, spectrum: np.ndarray, times: Sequence[float], *,
                       rtol: float = 1e-11, atol: float = 1e-14, method: str = "DOP853"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """DOP853 integration of dW_V/dt = 4 Lambda W_V - 4 W_V Q, dN/dt = -4(NQ + QN), Q = W_V^T W_V + N.
    Returns (risk, diag S_VV)."""
    t = _times(times)
    r, m = G_V.shape

    def rhs(_t, y):
        W_V = y[: r * m].reshape(r, m)
        N = y[r * m:].reshape(m, m)
        Q = W_V.T @ W_V + N
        dW = 4.0 * spectrum[:, None] * W_V - 4.0 * W_V @ Q
        NQ = N @ Q
        return np.concatenate([dW.ravel(), (-4.0 * (NQ + NQ.T)).ravel()])

    y0 = np.concatenate([np.asarray(G_V, float).ravel(), np.asarray(N0, float).ravel()])
    sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method=method, t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:
        raise ConvergenceError(f"Gram ODE failed: {sol.message}")
    risk = np.empty(t.size)
    diag = np.empty((t.size, r))
    for k in range(t.size):
        W_V = sol.y[: r * m, k].reshape(r, m)
        N = sol.y[r * m:, k].reshape(m, m)
        risk[k], diag[k] = risk_from_blocks(W_V, N, spectrum), np.sum(W_V**2, axis=1)
    return risk, diag


def _memory(r: int, m: int, n_t: int, seeds: int, method: str) -> float:
    """Peak float64 bytes of one risk curve (work arrays of the method + the stored (n_t, r) outputs per seed):
    teacher block ~ 10 r^2 + 6 r m + 8 m^2 (the r x r factorizations, the r x m blocks and m x m matrices),
    restart ~ 3 r^2 + 4 r m + 8 m^2, ode ~ (n_t + 16)(r m + m^2) (solve_ivp keeps every output and 13 stages)."""
    work = {"teacher_block": 10.0 * r * r + 6.0 * r * m + 8.0 * m * m,
            "restart": 3.0 * r * r + 4.0 * r * m + 8.0 * m * m,      # risk_from_blocks forms W_V W_V^T
            "ode": (n_t + 16.0) * (r * m + m * m)}[method]
    return 8.0 * (work + 2.0 * n_t * r * seeds)


def check_risk_curve_memory(params: PowerLawParams, n_times: int, *, seeds: int = 1, method: str = "auto",
                            option: str | None = None) -> float:
    """Estimate the memory of :func:`risk_curve` (``seeds`` curves of ``n_times`` points kept) and, if it exceeds
    the physical memory, raise ParameterError (:func:`odes.common.resources.check_memory`) naming ``option``
    (default: rank or width, whichever alone can be lowered to fit, the larger first) with its valid range at the
    other fixed. Returns the estimate in bytes."""
    r, m = params.rank, params.width
    meth0 = ("teacher_block" if m >= r else "restart") if method == "auto" else method
    need = _memory(r, m, n_times, seeds, meth0)
    total = resources.physical_memory()
    if need <= total:
        return need

    def fits(rr: int, mm: int) -> bool:
        meth = meth0 if method != "auto" else ("teacher_block" if mm >= rr else "restart")
        return _memory(rr, mm, n_times, seeds, meth) <= total

    def largest(ok, hi: int) -> int:                 # largest v in [0, hi) with ok(v) (0 if none)
        lo = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo

    limits = {"rank": largest(lambda v: fits(v, m), r), "width": largest(lambda v: fits(r, v), m)}
    if option is None:
        order = ["rank", "width"] if r >= m else ["width", "rank"]
        usable = [o for o in order if limits[o] >= 1]
        option = usable[0] if usable else order[0]
    if option in limits and limits[option] >= 1:
        rng = f"{option} <= {limits[option]} at " + (f"width = {m}" if option == "rank" else f"rank = {r}")
    else:
        rng = f"rank, width <= {largest(lambda v: fits(v, v), max(r, m))} (both)"
    resources.check_memory(option, need, limit=total,
                           what=f"the exact risk curve at rank = {r}, width = {m} ({meth0}, {n_times} times, "
                                f"{seeds} seed(s); valid range {rng})")
    return need


def risk_curve(params: PowerLawParams, times: Sequence[float], *, seed: int = 0, method: str = "auto",
               quiet: bool = True) -> PowerLawResult:
    """Gradient-flow risk R(t) of model (B) from a random init (``seed``).

    method: 'teacher_block' (m >= r; any t independently), 'restart' (any m), 'ode' (DOP853 Gram ODE; small
    sizes), or 'auto' (teacher_block if m >= r else restart)."""
    if not isinstance(params, PowerLawParams):
        raise ParameterError("params", "must be a PowerLawParams")
    if method == "auto":
        method = "teacher_block" if params.width >= params.rank else "restart"
    fns = {"teacher_block": teacher_block_curve, "restart": restart_curve, "ode": integrate_gram_ode}
    if method not in fns:
        raise ParameterError("method", f"must be one of auto, {', '.join(fns)}; got {method!r}")
    spectrum = teacher_spectrum(params.alpha_pl, params.rank)
    t = _times(times)
    check_risk_curve_memory(params, t.size, method=method)
    G_V, N0 = sample_init(params, np.random.default_rng(seed))
    kw = {"quiet": quiet} if method != "ode" else {}
    risk, diag = fns[method](G_V, N0, spectrum, t, **kw)
    return PowerLawResult(params=params, t=t, risk=risk, learned=learned_directions(diag, spectrum), diag=diag,
                          method=method, seed=seed)


# ----------------------------------------------------------------------------------------- fits
@dataclass(frozen=True, repr=False)
class ExponentFit(Result):
    """A fitted exponent x of y ∝ z^{-x} with its 95% confidence interval.

    ``values``: per-seed fitted exponents; the CI is mean ± t_{n-1, 0.975} sd/sqrt(n) over seeds when n >= 2,
    else the regression CI (slope ± t_{k-2, 0.975} stderr over the k points of the window).

    Labelled data (:meth:`to_xarray`, a point result): ``exponent`` with ``exponent_se`` (its standard error: sd/sqrt(n)
    over seeds for n >= 2, else the regression standard error, i.e. the one the CI is built from), ``ci_low``,
    ``ci_high``, ``exponent_per_seed`` (seed), ``regression_stderr``, ``window_low``/``window_high`` and the
    predictions ``prediction_<name>`` (NaN where a prediction does not apply)."""

    name: str
    exponent: float
    ci_low: float
    ci_high: float
    values: tuple = ()
    stderr: float = 0.0
    window: tuple = ()
    predictions: dict = field(default_factory=dict)
    validity: dict = field(default_factory=dict)

    def contains(self, x: float) -> bool:
        return self.ci_low <= x <= self.ci_high

    @property
    def exponent_se(self) -> float:
        """Standard error of ``exponent``: sd(values)/sqrt(n) for n >= 2 seeds, else the regression stderr."""
        v = np.asarray(self.values, dtype=float)
        return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size >= 2 else float(self.stderr)

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring); attribute ``fit`` = ``name``."""
        what = f"fitted {self.name} exponent x of y ∝ z^-x"
        var = {"exponent": variable((), self.exponent, what + " (mean over seeds)"),
               "exponent_se": variable((), self.exponent_se, "standard error of exponent"),
               "ci_low": variable((), self.ci_low, "lower end of the 95% confidence interval of exponent"),
               "ci_high": variable((), self.ci_high, "upper end of the 95% confidence interval of exponent"),
               "exponent_per_seed": variable("seed", np.asarray(self.values, dtype=float), what + ", per seed"),
               "regression_stderr": variable((), self.stderr, "least-squares standard error of the slope "
                                                              "(mean over seeds)")}
        if len(self.window) == 2:
            var["window_low"] = variable((), self.window[0], "lower end of the fit window")
            var["window_high"] = variable((), self.window[1], "upper end of the fit window")
        for k, v in self.predictions.items():
            var[f"prediction_{k}"] = variable((), np.nan if v is None else float(v),
                                              f"predicted exponent ({k}); NaN: does not apply")
        return self.dataset(var, coords={"seed": coordinate("seed", np.arange(len(self.values)),
                                                            "index of the per-seed estimate")},
                            attrs={"fit": self.name})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON (the scalars) plus ``exponent_per_seed``."""
        return {**super().to_json(), "exponent_per_seed": [float(v) for v in self.values]}

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 keys of the ``time_exponent``/``width_exponent`` JSON objects of ``quadnet scaling``."""
        return {"ci95": [self.ci_low, self.ci_high], "per_seed": list(self.values), "window_J": list(self.window),
                "predictions": dict(self.predictions)}

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """Per-seed estimates (points), the fitted exponent with its 95% CI (line and band) and the predictions
        (dotted lines); returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.axhspan(self.ci_low, self.ci_high, color="C0", alpha=0.2, lw=0, label="95% CI")
        ax.axhline(self.exponent, color="C0", label=f"{self.name} exponent {self.exponent:.4g}", **kw)
        ax.plot(np.arange(len(self.values)), self.values, "o", color="C0", label="per seed")
        for i, (k, v) in enumerate(self.predictions.items()):
            if v is not None:
                ax.axhline(v, ls=":", color=f"C{i + 1}", label=f"prediction {k}: {v:.4g}")
        ax.set_xlabel("seed index")
        ax.set_ylabel("exponent x")
        ax.legend(fontsize="small")
        return ax


def loglog_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of log y vs log x and its standard error."""
    x = np.asarray(x, float)
    if x.size < 3:
        raise ParameterError("window", f"needs >= 3 points in the fit window, got {x.size}")
    fit = fit_power_law(x, y)
    return fit.slope, fit.slope_se


def _ci(values: Sequence[float], stderr: float, npts: int) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    if v.size >= 2:
        half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    else:
        half = stats.t.ppf(0.975, max(npts - 2, 1)) * stderr
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def default_window(r: int, m: int | None = None) -> tuple[int, int]:
    """Fit window in learned directions J for rank r and width m (default m = r): with k = min(r, m),
    (max(2, k//60), max(lo + 3, k//10)), e.g. (10, 60) at r = m = 600. It must lie in J <= min(r - 1, m)
    (:func:`time_exponent` checks; for k < 6 there is no valid default window)."""
    k = r if m is None else min(r, m)
    lo = max(2, k // 60)
    return lo, max(lo + 3, k // 10)


def fit_time_exponent(result: PowerLawResult, window: tuple[int, int]) -> tuple[float, float, int]:
    """Fit R ∝ t^{-x} over the times with window[0] <= J(t) <= window[1]; returns (x, stderr, n_points)."""
    sel = (result.learned >= window[0]) & (result.learned <= window[1]) & (result.t > 0)
    slope, se = loglog_slope(result.t[sel], result.risk[sel])
    return -slope, se, int(sel.sum())


def resolvable_directions(params: PowerLawParams) -> int:
    """K = length of the prefix j = 1..min(r, m) with lambda_j d / (sigma0^2 (m - j + 1)) >= 2, i.e. with the
    initial Gram-Schmidt residual h_j ~ sigma0^2 (m - j + 1)/d of direction j at most lambda_j/2: these
    directions start unlearned (S_jj < lambda_j/2) and escape at t_j. Beyond K the teacher weight is at or below
    the init scale, J(t) (S_jj > lambda_j/2) is not an escape count and the escape-time formula does not apply.
    E.g. alpha = 3, r = m = 20, d = 400: K = 6."""
    spectrum = teacher_spectrum(params.alpha_pl, params.rank)
    m, d, s2 = params.width, params.d, params.sigma0_sq
    k = min(params.rank, m)
    j = np.arange(1, k + 1)
    ok = spectrum[:k] * float(d) / (s2 * (m - j + 1)) >= 2.0
    return int(k if ok.all() else np.argmin(ok))


def escape_times(params: PowerLawParams, n_iter: int = 60) -> np.ndarray:
    """Escape-time formula t_j = log(lambda_j d (1 + 8 t_j sigma0^2)/(sigma0^2 (m - j + 1)))/(8 lambda_j),
    j = 1..min(r, m), solved by fixed-point iteration (a contraction: d t/d t_j ~ 1/(8 lambda_j t_j) < 1).
    Directions beyond :func:`resolvable_directions` get t_j = inf (they start at the init scale: no escape)."""
    spectrum = teacher_spectrum(params.alpha_pl, params.rank)
    m, d, s2 = params.width, float(params.d), params.sigma0_sq
    j = np.arange(1, min(params.rank, m) + 1)
    spectrum = spectrum[: j.size]
    t = np.log(np.maximum(spectrum * d / (s2 * (m - j + 1)), 1.0 + 1e-12)) / (8 * spectrum)
    for _ in range(n_iter):
        t = np.log(np.maximum(spectrum * d * (1 + 8 * t * s2) / (s2 * (m - j + 1)), 1.0 + 1e-12)) / (8 * spectrum)
    t[resolvable_directions(params):] = np.inf
    return t


def time_exponent_predictions(params: PowerLawParams, window: tuple[int, int], *, per_decade: int = 1000) -> dict:
    """Predictions for the time exponent x (R ∝ t^{-x}) over the J-window. None where a prediction does not apply.

    All three are computed from formulas only (teacher spectrum and escape-time formula), never from a simulated
    risk curve, so they are independent of the fitted data:

    * 'asymptotic': (2 alpha - 1)/alpha (r, log d -> infinity; only for alpha > 1/2, else None: there is no
      decaying power law for alpha <= 1/2);
    * 'finite_r': (local exponent of sum_{j>J} lambda_j^2 vs J over the window)/alpha, i.e. the truncation at r
      with J(t) ∝ t^{1/alpha} (None for alpha = 0);
    * 'escape_time': the log-log slope of the effective-dynamics curve R_esc(t) = sum_{j: t_j > t} lambda_j^2,
      with t_j from :func:`escape_times` (finite r AND finite log d), least squares uniform in log t over the
      times at which #{j: t_j <= t} lies in the window. R_esc is a staircase, so it is evaluated on its own grid
      of ``per_decade`` log-spaced points per decade (1000: the slope is converged to ~1e-3; at 40 points per
      decade it moves by up to 8e-3), not on the data grid.
    """
    a = params.alpha_pl
    spectrum = teacher_spectrum(a, params.rank)
    tail = np.cumsum((spectrum**2)[::-1])[::-1]            # tail[J] = sum_{j > J} lambda_j^2 (0-based: j >= J+1)
    tail = np.append(tail, 0.0)
    J = np.arange(window[0], window[1] + 1)
    xr, _ = loglog_slope(J, tail[J])
    tj = np.sort(escape_times(params))
    hi = min(window[1], tj.size)
    t0, t1 = 0.5 * tj[window[0] - 1], 2.0 * tj[hi - 1]
    esc = None
    if not np.isfinite(t1):
        return {"asymptotic": (2 * a - 1) / a if a > 0.5 else None, "finite_r": -xr / a if a > 0 else None,
                "escape_time": None}
    if t1 > t0 > 0:
        tg = np.geomspace(t0, t1, max(int(per_decade * np.log10(t1 / t0)), 50))
        Jt = np.searchsorted(tj, tg, side="right")
        sel = (Jt >= window[0]) & (Jt <= window[1]) & (tail[Jt] > 0)
        if sel.sum() >= 3:
            esc = -loglog_slope(tg[sel], tail[Jt[sel]])[0]
    return {"asymptotic": (2 * a - 1) / a if a > 0.5 else None, "finite_r": -xr / a if a > 0 else None,
            "escape_time": esc}


def time_exponent_validity(params: PowerLawParams, window: tuple[int, int], predictions: dict) -> dict:
    """Where the asymptotic time exponent (2 alpha - 1)/alpha can be expected (formulas only, no fitted data).

    Returns {'expected_shift': escape_time/asymptotic - 1, 'finite_rank_shift': finite_r/asymptotic - 1,
    'log_d_shift': escape_time/finite_r - 1, 'truncation': (J_hi/r)^{2 alpha - 1}, 'flags': [...],
    'warning': str or None}. The tail sum_{J<j<=r} lambda_j^2 ∝ J^{1-2 alpha}(1 - (J/r)^{2 alpha - 1}) has local
    slope (1 - 2 alpha)/(1 - (J/r)^{2 alpha - 1}), so the finite-rank correction decays only like
    (J/r)^{2 alpha - 1}: slowly for alpha near 1/2, and not at all as r grows with the default window (J_hi ~ r/10;
    finite_r -> 0.854 for alpha = 0.75, 0.732 for 0.6, 1.052 for 1). Flags: 'no_power_law' (alpha <= 1/2),
    'finite_rank' (|finite_rank_shift| > 0.1: truncation at r and/or J not >> 1), 'finite_log_d'
    (|log_d_shift| > 0.05), 'alpha_below_1' (1/2 < alpha < 1: fits measured 3-9 % above 'escape_time' at
    log d = 10-12, shrinking with log d; 1.4 % at log d = 60 for alpha = 0.75). ``warning`` is set when
    |expected_shift| > 0.1, alpha < 1 or alpha <= 1/2."""
    a = params.alpha_pl
    asym, fr, esc = predictions.get("asymptotic"), predictions.get("finite_r"), predictions.get("escape_time")
    out: dict = {"expected_shift": None, "finite_rank_shift": None, "log_d_shift": None, "truncation": None,
                 "flags": [], "warning": None}
    reasons = []
    if asym is None:
        out["flags"].append("no_power_law")
        reasons.append("alpha <= 1/2: no decaying power law (sum_j lambda_j^2 diverges as r -> infinity)")
    else:
        out["truncation"] = float((window[1] / params.rank) ** (2 * a - 1))
        if fr is not None:
            out["finite_rank_shift"] = float(fr / asym - 1)
            if abs(fr / asym - 1) > 0.1:
                out["flags"].append("finite_rank")
                reasons.append(f"the exact tail sum over J in {list(window)} (rank {params.rank}, J not >> 1) "
                               f"shifts it by {100 * (fr / asym - 1):+.0f} % (truncation correction "
                               f"(J/r)^(2 alpha - 1) = {out['truncation']:.2f} at the window top; needs J_hi << r)")
        if esc is not None:
            out["expected_shift"] = float(esc / asym - 1)
        if fr is not None and esc is not None:
            out["log_d_shift"] = float(esc / fr - 1)
            if abs(esc / fr - 1) > 0.05:
                out["flags"].append("finite_log_d")
                reasons.append(f"finite log d = {np.log(float(params.d)):.3g} shifts it by "
                               f"{100 * (esc / fr - 1):+.0f} % (vanishes like 1/log d)")
        if a < 1:
            out["flags"].append("alpha_below_1")
            reasons.append("for 1/2 < alpha < 1 fits lie a further 3-9 % above 'escape_time' at log d ~ 10-12 "
                           "(sharp-emergence error, shrinking with log d)")
    big = out["expected_shift"] is not None and abs(out["expected_shift"]) > 0.1
    if asym is None or a < 1 or big:
        shift = "" if out["expected_shift"] is None else f" (expected {100 * out['expected_shift']:+.0f} %)"
        out["warning"] = (f"the asymptotic time exponent (2 alpha - 1)/alpha is not expected at this size{shift}: "
                          + "; ".join(reasons) + ". Compare the fit with 'escape_time' (finite r and log d).")
    return out


def log_time_grid(params: PowerLawParams, per_decade: int = 40) -> np.ndarray:
    """Log-spaced times from 1/(8 lambda_1) to 2 T_full, T_full = max escape time (plus t = 0)."""
    tj = escape_times(params)
    tj = tj[np.isfinite(tj)]
    spectrum = teacher_spectrum(params.alpha_pl, params.rank)
    t0 = 0.1 / (8 * spectrum[0])
    # t_j ~ 0 when the init is already at the target scale (d ~ m); no finite t_j when K = 0
    t1 = max(2.0 * float(tj.max()) if tj.size else 0.0, 100.0 * t0)
    n = max(int(per_decade * np.log10(t1 / t0)), 10)
    return np.concatenate([[0.0], np.geomspace(t0, t1, n)])


def window_time_grid(params: PowerLawParams, window: tuple[int, int], per_decade: int = 40) -> np.ndarray:
    """Log-spaced times covering the J-window: from t_{lo}/2 to 2 t_{hi} (escape-time formula; the window must
    lie within :func:`resolvable_directions`)."""
    tj = np.sort(escape_times(params))
    t0, t1 = 0.5 * tj[window[0] - 1], 2.0 * tj[min(window[1], tj.size) - 1]
    return np.geomspace(t0, t1, max(int(per_decade * np.log10(t1 / t0)), 10))


def window_limit(params: PowerLawParams) -> int:
    """Largest J a fit window may reach: min(rank - 1, width, K), K = :func:`resolvable_directions`."""
    return min(params.rank - 1, params.width, resolvable_directions(params))


def default_window_error(params: PowerLawParams) -> ParameterError | None:
    """None if :func:`default_window` fits in :func:`window_limit`, else the ParameterError naming the parameter
    that makes it too small (rank, width, or alpha_pl when too few directions lie above the init scale) with
    its valid range (at the other parameters fixed)."""
    r, m = params.rank, params.width
    lo, hi = default_window(r, m)
    K = resolvable_directions(params)
    if hi <= min(r - 1, m, K):
        return None
    if r - 1 < hi and r - 1 <= m:
        return ParameterError("rank", f"rank = {r} is too small for a default fit window (J in [{lo}, {hi}] "
                                      f"needs rank >= {hi + 1}); pass a window within [1, {window_limit(params)}]")
    if m < hi:
        return ParameterError("width", f"width = {m} is too small for a default fit window (J in [{lo}, {hi}] "
                                       f"needs width >= {hi}); pass a window within [1, {window_limit(params)}]")
    a_lo, a_hi = 0.0, params.alpha_pl               # K(alpha) >= hi at a_lo (if anywhere), < hi at a_hi
    ok0 = resolvable_directions(PowerLawParams(0.0, r, m, params.d, params.sigma0_sq)) >= hi
    for _ in range(60):
        mid = 0.5 * (a_lo + a_hi)
        if resolvable_directions(PowerLawParams(mid, r, m, params.d, params.sigma0_sq)) >= hi:
            a_lo = mid
        else:
            a_hi = mid
    rng = f"valid range here alpha_pl <= {a_lo:.4g}" if ok0 else "no alpha_pl works at this d"
    return ParameterError("alpha_pl", f"alpha_pl = {params.alpha_pl:g} leaves only K = {K} teacher directions "
                                      f"above the init scale (lambda_j d/(sigma0^2 (m - j + 1)) >= 2) at d = "
                                      f"{params.d}, fewer than the default fit window J in [{lo}, {hi}] needs; "
                                      f"{rng} (or raise d, or pass a window within [1, {window_limit(params)}])")


def time_exponent(params: PowerLawParams, *, seeds: Sequence[int] = (0,), window: tuple[int, int] | None = None,
                  times: np.ndarray | None = None, quiet: bool = True) -> tuple[ExponentFit, list[PowerLawResult]]:
    """Fitted time exponent x (R ∝ t^{-x}) over J(t) in ``window`` for each seed, CI, and predictions.

    ``window=None``: :func:`default_window`; if it does not fit, the ParameterError of
    :func:`default_window_error` (naming rank, width or alpha_pl, not the window the caller never gave). A given
    window must satisfy 1 <= lo < hi <= :func:`window_limit`."""
    if window is None:
        err = default_window_error(params)
        if err is not None:
            raise err
        window = default_window(params.rank, params.width)
    else:
        window = tuple(int(w) for w in window)
    lim = window_limit(params)
    if not (len(window) == 2 and 1 <= window[0] < window[1] <= lim):
        raise ParameterError("window", f"must satisfy 1 <= lo < hi <= min(rank - 1, width, K) = {lim} (K = "
                                       f"{resolvable_directions(params)} teacher directions above the init "
                                       f"scale), got {window}")
    t = window_time_grid(params, window) if times is None else _times(times)
    results, vals, ses, npts = [], [], [], 0
    for s in seeds:
        res = risk_curve(params, t, seed=int(s), quiet=quiet)
        x, se, npts = fit_time_exponent(res, window)
        results.append(res)
        vals.append(x)
        ses.append(se)
    mean, lo, hi = _ci(vals, ses[0], npts)
    pred = time_exponent_predictions(params, window)
    fit = ExponentFit(name="time", exponent=mean, ci_low=lo, ci_high=hi, values=tuple(vals),
                      stderr=float(np.mean(ses)), window=window, predictions=pred,
                      validity=time_exponent_validity(params, window, pred))
    return fit, results


def check_widths(widths: Sequence[int], rank: int) -> list[int]:
    """At least 3 distinct increasing widths 1 <= m < rank (a width exponent needs >= 3 points)."""
    ws = [check.integer("widths", m, lo=1, hi=rank - 1) for m in widths]
    if len(ws) < 3 or any(b <= a for a, b in zip(ws, ws[1:])):
        raise ParameterError("widths", f"need >= 3 strictly increasing widths below rank={rank}, got {ws}")
    return ws


def width_scan(alpha: float, rank: int, d: int, widths: Sequence[int], *, seed: int = 0, t_factor: float = 4.0,
               quiet: bool = True) -> tuple[ExponentFit, dict]:
    """GF risk at t_end = t_factor log d/(8 lambda_m) for each width m < r (restart stepping), the floors
    sum_{j>m} lambda_j^2, and the fitted width exponent (R ∝ m^{-x}) with its regression CI.
    Predictions: 'asymptotic' 2 alpha - 1 (alpha > 1/2, else None), 'finite_r' = the log-log slope of the floors
    sum_{j>m} lambda_j^2 themselves (a formula, independent of the flow). The CI is the regression CI over the
    widths of this single init (its residuals are systematic curvature, so it is wide and conservative); the
    sharp check is R(t_end)/floor - 1 (GF reaches the floor)."""
    spectrum = teacher_spectrum(alpha, rank)
    widths = check_widths(widths, rank)
    check_risk_curve_memory(PowerLawParams(alpha, rank, max(widths), d), 1, method="restart", option="widths")
    risks, floors, tends = [], [], []
    for m in progress(widths, desc="width scan", quiet=quiet):
        p = PowerLawParams(alpha, rank, m, d)
        t_end = t_factor * np.log(d) / (8.0 * spectrum[m - 1])
        G_V, N0 = sample_init(p, np.random.default_rng(seed))
        P = RestartPropagator(G_V, N0, spectrum)
        P.advance_to(t_end)
        risks.append(P.risk())
        floors.append(width_floor(alpha, rank, m))
        tends.append(t_end)
    slope, se = loglog_slope(widths, risks)
    fslope, _ = loglog_slope(widths, floors)
    mean, lo, hi = _ci([-slope], se, len(widths))
    fit = ExponentFit(name="width", exponent=mean, ci_low=lo, ci_high=hi, values=(-slope,), stderr=se,
                      window=(min(widths), max(widths)),
                      predictions={"asymptotic": 2 * alpha - 1 if alpha > 0.5 else None, "finite_r": -fslope})
    return fit, {"width": np.array(widths), "risk": np.array(risks), "floor": np.array(floors),
                 "t_end": np.array(tends)}


teacher_weights = deprecated_alias("teacher_weights", teacher_spectrum)
