r"""Thresholds of the extensive-width model: perfect recovery alpha_c(kappa, kappa*) and interpolation.

**Perfect recovery** (Delta = 0, lam -> 0+). With r = kappa*, the standard semicircle ``sc`` on [-2, 2] and its
truncated moments (b in [-2, 2])

    m0(b) = int_b^2 sc   = 1/2 - b sqrt(4 - b^2)/(4 pi) - arcsin(b/2)/pi
    m1(b) = int_b^2 u sc = (4 - b^2)^(3/2) / (6 pi)
    m2(b) = int_b^2 u^2 sc = 1/2 - sqrt(4 - b^2)(b^3 - 2b)/(8 pi) - arcsin(b/2)/pi

let omega solve m0(omega) = (min(kappa, 1) - r)/(1 - r) (omega = -2 for kappa >= 1) and

    M(s) = 2r - r^2 + r(1 - r) s^2 + (1 - r)^2 [m2(b) - 2 s m1(b) + s^2 m0(b)],   b = max(s, omega),
    alpha_c = (1/2) min_{s in [0, 2]} M(s).

M'(s) = 2(1 - r) phi(s), phi(s) = r s - (1 - r)(m1(b) - s m0(b)) is increasing (phi' = r + (1 - r) m0(b) > 0)
with phi(0) <= 0 < phi(2) = 2r, so the minimiser is the unique root of phi in [0, 2] (Brent, xtol 1e-15).
Special cases: kappa = kappa* gives r - r^2/2; r >= 1 gives 1/2. Only the effective ranks matter: a student
with kappa >= 1 spans every PSD matrix, so the threshold is defined iff min(kappa, 1) >= min(kappa*, 1) (e.g.
kappa = 1.5, kappa* = 2 gives 1/2); otherwise (no recovery possible) ParameterError.
For kappa slightly above kappa* the formula exceeds the parameter count kappa - kappa^2/2 (fitting without
recovery, impossible): the result is then flagged ``unreliable``.

**Interpolation threshold** (lam -> 0+, Delta >= 0): the alpha at which the calibration a of the stationary
equations (:mod:`dmft.stationary`) reaches 0 with threshold theta = lam/a -> 0, i.e. D = 2 alpha. With theta = 0
the two remaining equations reduce to one in sigma^2 (``resid2 = int rho_Y (f - y)^2``):

    2 sigma^2 (1 - D(sigma^2)) = Delta + 2 resid2(sigma^2),   alpha_interp = D/2,   C_S = resid2 + sigma^2 (2D - 1).

Solved by a geometric scan in sigma^2 from Delta/2 (where the residual is negative) and Brent in log sigma^2.
As Delta -> 0+ it tends (for kappa >= 1) to the PSD-feasibility threshold ``alpha_feas = r - r^2/2 + (1-r)^2/4``
(:func:`alpha_feasibility`; for kappa* <= kappa < 1 :func:`alpha_interp_noiseless`, returned for Delta = 0;
approach ~ Delta^(1/3)), NOT to alpha_c: between alpha_c and alpha_feas noiseless data are
recovered exactly, but slightly noisy data are still interpolated by a PSD matrix.
There is no lam argument: for lam > 0 the calibration a never reaches 0 (a -> 0 would make theta = lam/a infinite,
D -> 0 and a -> 1), so only a smooth double-descent peak of the test error remains, near alpha_interp.

**Double-descent peak at lam > 0** (:func:`double_descent_peak`): the location alpha_peak(kappa, kappa*, lam, Delta)
of the maximum over alpha of the stationary test error 2 C_S (bounded Brent search on the stationary solver). It is
the lam > 0 continuation of the interpolation threshold: alpha_peak -> alpha_interp and the peak height tends to the
cusp value 2 C_S(alpha_interp) as lam -> 0+.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from dmft.params import check_kappa, check_kappa_star, check_noise, dof_line
from odes.common import check
from odes.common.errors import ConvergenceError, ParameterError, QuadnetError
from odes.common.numerics import scan_sign_change
from odes.common.result import Result, variable

__all__ = ["m0", "m1", "m2", "M_function", "alpha_c", "alpha_c_grid", "AlphaC", "InterpolationThreshold",
           "interpolation_threshold", "interpolation_threshold_grid", "alpha_feasibility", "alpha_interp_noiseless",
           "DoubleDescentPeak", "double_descent_peak", "ThresholdGrid", "NoPeakError", "can_recover"]


def m0(b: float | np.ndarray) -> np.ndarray:
    """m0(b) = int_b^2 sc(u) du = 1/2 - b sqrt(4 - b^2)/(4 pi) - arcsin(b/2)/pi (b clipped to [-2, 2]; vectorised)."""
    b = np.asarray(b, dtype=float)
    return 0.5 - b * np.sqrt(np.clip(4 - b * b, 0, None)) / (4 * np.pi) - np.arcsin(np.clip(b / 2, -1, 1)) / np.pi


def m1(b: float | np.ndarray) -> np.ndarray:
    """m1(b) = int_b^2 u sc(u) du = (4 - b^2)^(3/2) / (6 pi) (vectorised)."""
    b = np.asarray(b, dtype=float)
    return np.clip(4 - b * b, 0, None) ** 1.5 / (6 * np.pi)


def m2(b: float | np.ndarray) -> np.ndarray:
    """m2(b) = int_b^2 u^2 sc(u) du = 1/2 - sqrt(4 - b^2)(b^3 - 2b)/(8 pi) - arcsin(b/2)/pi (vectorised)."""
    b = np.asarray(b, dtype=float)
    return (0.5 - np.sqrt(np.clip(4 - b * b, 0, None)) * (b ** 3 - 2 * b) / (8 * np.pi)
            - np.arcsin(np.clip(b / 2, -1, 1)) / np.pi)


def can_recover(kappa: float, kappa_star: float) -> bool:
    """Whether the student can represent the teacher: ``min(kappa, 1) >= min(kappa*, 1)`` (rank kappa d vs
    kappa* d, both capped at d: kappa >= 1 spans every PSD matrix)."""
    return min(kappa, 1.0) >= min(kappa_star, 1.0)


def _validate(kappa: float, kappa_star: float) -> tuple[float, float]:
    kappa = check_kappa(kappa)
    kappa_star = check_kappa_star(kappa_star)
    if not can_recover(kappa, kappa_star):
        raise ParameterError("kappa", f"must satisfy min(kappa, 1) >= min(kappa_star, 1) = {min(kappa_star, 1.0):g} "
                                      f"for a recovery threshold (no recovery when the student's rank is below the "
                                      f"teacher's), got {kappa:g}")
    return kappa, kappa_star


def _omega(kappa: float, r: float) -> float:
    if kappa >= 1.0:
        return -2.0
    target = (kappa - r) / (1.0 - r)
    if target <= 0.0:
        return 2.0
    return brentq(lambda b: float(m0(b)) - target, -2.0, 2.0, xtol=1e-15, rtol=1e-15, maxiter=200)


def M_function(s: float | np.ndarray, kappa: float, kappa_star: float) -> np.ndarray:
    """M(s) of the module docstring (vectorised over s)."""
    kappa, r = _validate(kappa, kappa_star)
    r = min(r, 1.0)  # a full-rank teacher (kappa* >= 1) is r = 1: M = 1, alpha_c = 1/2
    w = _omega(kappa, r)
    s = np.asarray(s, dtype=float)
    b = np.maximum(s, w)
    return 2 * r - r * r + r * (1 - r) * s * s + (1 - r) ** 2 * (m2(b) - 2 * s * m1(b) + s * s * m0(b))


def _inputs(obj: Any, *names: str) -> dict[str, tuple]:
    """Scalar variables for the inputs of a threshold (these results have no parameter object)."""
    text = {"kappa": "student width ratio kappa = m/d (inf: unconstrained)", "kappa_star": "teacher width ratio "
            "kappa* = m*/d", "noise": "label-noise variance Delta", "lam": "l2 strength lam"}
    return {n: variable((), getattr(obj, n), "input: " + text[n]) for n in names}


@dataclass(frozen=True, repr=False)
class AlphaC(Result):
    """alpha_c with its minimiser ``s_star``, ``omega``, the parameter-count line ``dof = kappa - kappa^2/2`` and
    ``unreliable`` (alpha_c > dof: fitting without recovery predicted, impossible).

    A point result: :meth:`to_xarray` holds the inputs ``kappa``, ``kappa_star`` and the scalars ``alpha_c``,
    ``s_star``, ``omega``, ``dof``, ``unreliable``; :meth:`to_json` adds ``warning`` (:attr:`note`)."""

    kappa: float
    kappa_star: float
    alpha_c: float
    s_star: float
    omega: float
    dof: float
    unreliable: bool

    @property
    def note(self) -> str:
        if not self.unreliable:
            return ""
        return (f"alpha_c = {self.alpha_c:.6g} exceeds the parameter count kappa - kappa^2/2 = {self.dof:.6g}: "
                "the formula predicts fitting without recovery (impossible); unreliable for kappa slightly above "
                "kappa*")

    def to_xarray(self):
        return self.dataset({
            **_inputs(self, "kappa", "kappa_star"),
            "alpha_c": variable((), self.alpha_c, "perfect-recovery threshold alpha_c = (1/2) min_s M(s) "
                                "(samples n/d^2, Delta = 0, lam -> 0+)"),
            "s_star": variable((), self.s_star, "minimiser s* of M(s) on [0, 2]"),
            "omega": variable((), self.omega, "edge omega of the truncated semicircle, m0(omega) = "
                              "(min(kappa, 1) - kappa*)/(1 - kappa*) (-2 for kappa >= 1)"),
            "dof": variable((), self.dof, "parameter count per d^2 of the student, kappa - kappa^2/2 (1/2 for "
                            "kappa >= 1)"),
            "unreliable": variable((), self.unreliable, "alpha_c > dof: fitting without recovery predicted"),
        }, attrs={"warning": self.note})

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "warning": self.note}

    def plot(self, ax: Any = None) -> Any:
        """M(s)/2 on [0, 2] with its minimum (s*, alpha_c) and the parameter-count line; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        s = np.linspace(0.0, 2.0, 201)
        ax.plot(s, 0.5 * M_function(s, self.kappa, self.kappa_star), label="M(s)/2")
        ax.plot([self.s_star], [self.alpha_c], "k*", label=f"alpha_c = {self.alpha_c:.6g}")
        ax.axhline(self.dof, color="gray", lw=1, ls=":", label="kappa - kappa^2/2")
        ax.set_xlabel("s")
        ax.set_ylabel("alpha")
        ax.set_title(f"kappa={self.kappa:g} kappa*={self.kappa_star:g}", fontsize=8)
        ax.legend(fontsize="small")
        return ax


def alpha_c(kappa: float, kappa_star: float) -> AlphaC:
    """Perfect-recovery threshold alpha_c(kappa, kappa*) (``kappa = inf`` allowed); see module docstring."""
    kappa, r = _validate(kappa, kappa_star)
    dof = dof_line(kappa)
    if r >= 1.0:
        return AlphaC(kappa, r, 0.5, 0.0, -2.0, dof, False)
    w = _omega(kappa, r)

    def phi(s: float) -> float:
        b = max(s, w)
        return r * s - (1 - r) * (float(m1(b)) - s * float(m0(b)))

    if phi(0.0) >= 0.0:
        s = 0.0
    else:
        s = brentq(phi, 0.0, 2.0, xtol=1e-15, rtol=1e-15, maxiter=200)
    b = max(s, w)
    val = 0.5 * (2 * r - r * r + r * (1 - r) * s * s
                 + (1 - r) ** 2 * (float(m2(b)) - 2 * s * float(m1(b)) + s * s * float(m0(b))))
    return AlphaC(kappa, r, float(val), float(s), float(w), dof, bool(kappa < 1.0 and val > dof + 1e-12))


@dataclass(frozen=True, eq=False)
class ThresholdGrid:
    """A threshold on a broadcast parameter grid: ``values`` (NaN where not available), per-point ``unreliable``
    flags (the scalar result's ``unreliable``) and ``reason`` (object array of str): why a value is NaN (the
    error message of the scalar function) or why it is unreliable (its note); ``""`` for a reliable value.

    Behaves like the ``values`` array for indexing, ``shape`` and ``np.asarray`` (backward compatible with the
    plain-array return of earlier versions)."""

    values: np.ndarray
    unreliable: np.ndarray
    reason: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)

    def __getitem__(self, idx):
        return self.values[idx]

    def __len__(self) -> int:
        return len(self.values)

    @property
    def ok(self) -> np.ndarray:
        """Finite and reliable points."""
        return np.isfinite(self.values) & ~self.unreliable


def _grid(fun, *arrays) -> ThresholdGrid:
    """Evaluate ``fun(*scalars) -> (value, unreliable, note)`` on broadcast grids; a QuadnetError at a point gives
    NaN with its message as the reason (never silently)."""
    from odes.common.errors import QuadnetError

    b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in arrays))
    out = np.full(b[0].shape, np.nan)
    bad = np.zeros(b[0].shape, dtype=bool)
    why = np.full(b[0].shape, "", dtype=object)
    for idx in np.ndindex(out.shape):
        try:
            out[idx], bad[idx], why[idx] = fun(*(float(x[idx]) for x in b))
        except QuadnetError as exc:
            why[idx] = str(exc)
    return ThresholdGrid(out, bad, why)


def alpha_c_grid(kappa: float | np.ndarray, kappa_star: float | np.ndarray) -> ThresholdGrid:
    """alpha_c on broadcast grids of kappa and kappa* (:class:`ThresholdGrid`): NaN with its reason where
    undefined (min(kappa, 1) < min(kappa*, 1)), ``unreliable`` where :class:`AlphaC` says so."""
    def one(k: float, ks: float) -> tuple[float, bool, str]:
        a = alpha_c(k, ks)
        return a.alpha_c, a.unreliable, a.note

    return _grid(one, kappa, kappa_star)


# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class InterpolationThreshold(Result):
    """alpha_interp and the stationary quantities there (lam -> 0+, a -> 0, theta -> 0).

    A point result: :meth:`to_xarray` holds the inputs ``kappa``, ``kappa_star``, ``noise`` and the scalars
    ``alpha_interp``, ``sigma2``, ``C_S``, ``D``, ``test_error`` (= 2 C_S, the height of the double-descent cusp)."""

    kappa: float
    kappa_star: float
    noise: float
    alpha_interp: float
    sigma2: float
    C_S: float
    D: float

    @property
    def test_error(self) -> float:
        """Test error 2 C_S at the threshold (the double-descent cusp)."""
        return 2.0 * self.C_S

    @property
    def unreliable(self) -> bool:
        """kappa < 1 and (kappa < kappa* or alpha_interp above the parameter count kappa - kappa^2/2): the
        rank-constrained prediction is not validated there (the stationary solver flags the same cases)."""
        return bool(self.kappa < 1.0 and (self.kappa < self.kappa_star or self.alpha_interp > dof_line(self.kappa)))

    @property
    def note(self) -> str:
        if not self.unreliable:
            return ""
        if self.kappa < self.kappa_star:
            return "kappa < kappa*: the rank-constrained prediction is not validated; unreliable"
        return (f"alpha_interp = {self.alpha_interp:.6g} exceeds the parameter count kappa - kappa^2/2 = "
                f"{dof_line(self.kappa):.6g}: interpolation beyond the parameter count predicted; unreliable")

    def to_xarray(self):
        return self.dataset({
            **_inputs(self, "kappa", "kappa_star", "noise"),
            "alpha_interp": variable((), self.alpha_interp, "interpolation threshold alpha_interp = D/2 "
                                     "(samples n/d^2, lam -> 0+)"),
            "sigma2": variable((), self.sigma2, "sigma^2 of the stationary equations at alpha_interp"),
            "C_S": variable((), self.C_S, "C_S = lim (1/d) E Tr(S - S*)^2 at alpha_interp"),
            "D": variable((), self.D, "normalised divergence D = 2 alpha_interp"),
            "test_error": variable((), self.test_error, "test error 2 C_S at alpha_interp (the double-descent "
                                   "cusp; excess population error (2/d) Tr(S - S*)^2)"),
        })

    def legacy_json(self) -> dict[str, Any]:
        """Keys of ``quadnet threshold --interpolation --json`` in quadnet 0.1 (top level of its JSON)."""
        return {"noise": self.noise, "alpha_interp": self.alpha_interp, "sigma2_interp": self.sigma2,
                "C_S_interp": self.C_S, "test_error_interp": self.test_error}

    def plot(self, ax: Any = None) -> Any:
        """The cusp (alpha_interp, test_error) and the vertical line alpha = alpha_interp; returns the axes."""
        return _plot_point(ax, self.alpha_interp, self.test_error, "cusp (lam -> 0+)", self.alpha_interp)


def alpha_feasibility(kappa_star: float) -> float:
    r"""``r - r^2/2 + (1 - r)^2/4`` (r = min(kappa*, 1)): statistical dimension / d^2 of the tangent cone of the PSD
    cone at a rank-r d matrix (``r d - r^2 d^2/2`` free directions plus the PSD cone of the (1 - r) d null space,
    half of its ``(1 - r)^2 d^2/2`` dimensions). Above it the affine set {S: Tr S Z_mu = y_mu} meets the PSD cone
    only at S* (noiseless); it is the Delta -> 0+ limit of the interpolation threshold for kappa >= 1, which
    is therefore larger than alpha_c for kappa* < 1."""
    r = min(check.positive("kappa_star", kappa_star), 1.0)
    return r - 0.5 * r * r + 0.25 * (1.0 - r) ** 2


def alpha_interp_noiseless(kappa: float, kappa_star: float) -> float:
    r"""Delta -> 0+ limit of the interpolation threshold for kappa >= kappa* (r = kappa*, q = (kappa - r)/(1 - r)):

        alpha_interp(Delta = 0) = r - r^2/2 + (1 - r)^2/2 * m2(max(omega, 0)),   m0(omega) = q,

    the statistical dimension / d^2 of the tangent cone at S* of the (non-convex) set {S >= 0, rank S <= kappa d}.
    In the eigenbasis of S* a tangent direction is [[A, B], [B^T, C]] with A (r d x r d, symmetric) and B free
    (``r d^2 - r^2 d^2/2`` dimensions) and C >= 0 of rank <= (kappa - r) d on the (1 - r) d null space. Projecting a
    standard Gaussian onto {C >= 0, rank <= q m} (m = (1 - r) d) keeps its top q m eigenvalues where positive;
    those are sqrt(m/2) u with u semicircle on [-2, 2], whence (m^2/2) int_{max(omega, 0)}^2 u^2 sc(u) du. The form
    changes at kappa = (1 + kappa*)/2 (omega = 0, q = 1/2): above it the rank constraint is inactive and the value is
    :func:`alpha_feasibility` r - r^2/2 + (1 - r)^2/4; kappa = kappa* gives r - r^2/2 = alpha_c(kappa*, kappa*).
    Checked against the Delta -> 0 extrapolation ``a + b Delta^(1/3)`` of the Delta > 0 solver (tests).
    kappa < kappa* (teacher not representable) has no closed form: ``interpolation_threshold`` solves its
    equations at Delta = 0 directly there."""
    kappa, r = _validate(kappa, kappa_star)
    if r >= 1.0 or kappa >= 1.0:
        return alpha_feasibility(r)
    w = _omega(kappa, r)
    return float(r - 0.5 * r * r + 0.5 * (1.0 - r) ** 2 * float(m2(max(w, 0.0))))


_S2_FLOOR_NOISELESS = 1e-8


def interpolation_threshold(kappa: float, kappa_star: float, noise: float, *, h: float = 0.05,
                            xtol: float = 1e-14) -> InterpolationThreshold:
    """Interpolation threshold alpha_interp(kappa, kappa*, Delta) at lam -> 0+ (module docstring)."""
    from dmft.spectra import FreeConvolution
    kappa = check_kappa(kappa)
    kappa_star = check_kappa_star(kappa_star)
    noise = check_noise(noise)
    if noise == 0.0 and kappa >= kappa_star:
        af = alpha_interp_noiseless(kappa, kappa_star)
        return InterpolationThreshold(kappa, kappa_star, 0.0, af, 0.0, 0.0, 2.0 * af)

    memo: dict[float, tuple] = {}

    def res(logs: float) -> float:
        s2 = math.exp(logs)
        fc = FreeConvolution(kappa_star, s2, h=h)
        omega = fc.quantile_upper(kappa) if kappa < 1.0 else None
        ti = fc.threshold_integrals(0.0, omega)
        memo[logs] = (s2, ti)
        return (2.0 * s2 * (1.0 - ti["D"]) - noise - 2.0 * ti["resid2"]) / s2

    from dmft.stationary import SIGMA2_MIN

    # Delta = 0 only reaches here for kappa < kappa* (misspecified: resid2 > 0 stays finite, the root has
    # sigma^2 > 0 and the residual ~ -2 resid2/sigma^2 is negative at small sigma^2)
    lo = max(math.log(noise / 2.0), math.log(SIGMA2_MIN)) if noise > 0.0 else math.log(_S2_FLOOR_NOISELESS)
    if res(lo) >= 0.0:
        if 0.0 < noise / 2.0 < SIGMA2_MIN:
            raise ParameterError("noise", f"noise = {noise:g} puts the interpolation threshold's sigma^2 below "
                                          f"{SIGMA2_MIN:g}, the resolution of the spectral quadrature; use noise = 0 "
                                          f"(closed form for kappa >= kappa*) or noise >= {2 * SIGMA2_MIN:g}")
        raise ConvergenceError(f"interpolation threshold: residual not negative at sigma^2 = {math.exp(lo):.3g}",
                               residual=res(lo))
    found, lo, hi = scan_sign_change(res, lo, -1.0, math.log(4.0), 40)
    if not found:
        raise ConvergenceError(f"interpolation threshold: no sign change up to sigma^2 = {math.exp(hi):.3g}",
                               residual=res(hi))
    try:
        logs = brentq(res, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200)
    except (ValueError, ArithmeticError, RuntimeError) as exc:
        if isinstance(exc, QuadnetError):
            raise
        raise ConvergenceError(f"interpolation threshold (kappa = {kappa:g}, kappa* = {kappa_star:g}, noise = "
                               f"{noise:g}) failed: {type(exc).__name__}: {exc}") from None
    if logs not in memo:
        res(logs)
    s2, ti = memo[logs]
    D = ti["D"]
    return InterpolationThreshold(kappa, kappa_star, noise, 0.5 * D, s2, ti["resid2"] + s2 * (2 * D - 1), D)


def interpolation_threshold_grid(kappa: float | np.ndarray, kappa_star: float | np.ndarray,
                                 noise: float | np.ndarray, **kw) -> ThresholdGrid:
    """alpha_interp on broadcast grids (:class:`ThresholdGrid`): NaN with the reason where it is not available
    (invalid point or solver failure), ``unreliable`` where :attr:`InterpolationThreshold.unreliable`."""
    def one(k: float, ks: float, dn: float) -> tuple[float, bool, str]:
        it = interpolation_threshold(k, ks, dn, **kw)
        return it.alpha_interp, it.unreliable, it.note

    return _grid(one, kappa, kappa_star, noise)


# ----------------------------------------------------------------------------------------------------------
def _plot_point(ax: Any, x: float, y: float, label: str, alpha_interp: float) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    ax.axvline(alpha_interp, color="gray", lw=1, ls=":", label=f"alpha_interp = {alpha_interp:.6g}")
    ax.plot([x], [y], "k*", label=label)
    ax.set_xlabel("alpha = n/d^2")
    ax.set_ylabel("test error")
    ax.legend(fontsize="small")
    return ax


PEAK_RTOL = 1e-6  # a peak must rise above both bracket ends by more than this (relative): 1000 x the solver tol


class NoPeakError(ConvergenceError):
    """The stationary test error has no interior maximum over alpha in the bracket (flat or monotone curve)."""


@dataclass(frozen=True, repr=False)
class DoubleDescentPeak(Result):
    """Maximum over alpha of the stationary test error at fixed (kappa, kappa*, lam > 0, Delta > 0).

    ``test_error`` is the peak height (max over alpha of 2 C_S), at ``alpha_peak``. A point result:
    :meth:`to_xarray` holds the inputs ``kappa``, ``kappa_star``, ``lam``, ``noise`` and the scalars ``alpha_peak``,
    ``test_error``, ``alpha_interp``, ``evaluations``."""

    kappa: float
    kappa_star: float
    lam: float
    noise: float
    alpha_peak: float
    test_error: float
    alpha_interp: float
    evaluations: int

    def to_xarray(self):
        return self.dataset({
            **_inputs(self, "kappa", "kappa_star", "lam", "noise"),
            "alpha_peak": variable((), self.alpha_peak, "location alpha_peak = argmax_alpha of the stationary test "
                                   "error (samples n/d^2)"),
            "test_error": variable((), self.test_error, "peak height: stationary test error 2 C_S at alpha_peak "
                                   "(excess population error)"),
            "alpha_interp": variable((), self.alpha_interp, "interpolation threshold (lam -> 0+) near which the "
                                     "peak sits"),
            "evaluations": variable((), self.evaluations, "stationary solves of the bounded Brent search"),
        })

    def legacy_json(self) -> dict[str, Any]:
        """Keys of ``quadnet threshold --interpolation --lam --json`` in quadnet 0.1 (top level of its JSON)."""
        return {"lam": self.lam, "alpha_peak": self.alpha_peak, "test_error_peak": self.test_error}

    def plot(self, ax: Any = None) -> Any:
        """The peak (alpha_peak, test_error) and the line alpha = alpha_interp; returns the axes."""
        return _plot_point(ax, self.alpha_peak, self.test_error, f"peak at lam = {self.lam:g}", self.alpha_interp)


def double_descent_peak(kappa: float, kappa_star: float, lam: float, noise: float, *,
                        bracket: tuple[float, float] | None = None, xatol: float = 1e-4) -> DoubleDescentPeak:
    """alpha_peak = argmax_alpha test_error(alpha; kappa, kappa*, lam, Delta) of the stationary solution.

    Bounded Brent search (``scipy.optimize.minimize_scalar``, absolute tolerance ``xatol`` in alpha) over
    ``bracket``, by default ``(alpha_interp/2, 2 alpha_interp)`` with alpha_interp the lam -> 0+ interpolation
    threshold, which the peak approaches as lam -> 0+.

    No-peak criterion: a peak is reported only if the maximiser x is interior (farther than ``10 xatol`` from
    both ends) AND a strict local maximum: its height exceeds the test error at ``x -+ max(10 xatol, 0.01 x)``
    (clipped to the bracket) by more than ``PEAK_RTOL`` = 1e-6 relative
    (1000 x the stationary solver's tolerance ``tol = 1e-9``, so solver noise on a flat curve cannot fake a
    peak). Otherwise :class:`NoPeakError` (a ConvergenceError, CLI exit 3), e.g. lam so large that the student
    stays at S = 0 and the test error is the null value ``2 (1 + 1/kappa*)`` for every alpha, or a monotone
    curve.
    """
    from scipy.optimize import minimize_scalar

    from dmft.params import ExtensiveWidthParams
    from dmft.stationary import solve_stationary

    lam = check.positive("lam", lam)
    noise = check.positive("noise", noise)
    xatol = check.positive("xatol", xatol)
    kappa, kappa_star, noise = check_kappa(kappa), check_kappa_star(kappa_star), check_noise(noise)
    ai = interpolation_threshold(kappa, kappa_star, noise).alpha_interp
    lo, hi = (0.5 * ai, 2.0 * ai) if bracket is None else (float(bracket[0]), float(bracket[1]))
    if not 0.0 < lo < hi:
        raise ParameterError("bracket", f"must satisfy 0 < lo < hi, got ({lo:g}, {hi:g})")
    count = [0]

    def neg_test(alpha: float) -> float:
        count[0] += 1
        prm = ExtensiveWidthParams(alpha=alpha, kappa=kappa, kappa_star=kappa_star, lam=lam, noise=noise)
        try:
            return -solve_stationary(prm, n_grid=2).test_error
        except ConvergenceError as exc:
            raise ConvergenceError(f"double-descent peak at lam = {lam:g}: the stationary solver failed at alpha = "
                                   f"{alpha:.6g} ({exc}); a larger lam smooths the peak",
                                   residual=exc.residual) from None

    res = minimize_scalar(neg_test, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    where = f"kappa = {kappa:g}, kappa* = {kappa_star:g}, lam = {lam:g}, noise = {noise:g}"
    if min(res.x - lo, hi - res.x) < 10 * xatol:
        raise NoPeakError(f"no double-descent peak ({where}): the maximum of the test error over alpha in "
                          f"({lo:g}, {hi:g}) is at the edge of the bracket (no interior local maximum found)",
                          residual=float(min(res.x - lo, hi - res.x)))
    step = max(10.0 * xatol, 0.01 * res.x)
    peak = float(-res.fun)
    rise = peak - max(-neg_test(max(lo, res.x - step)), -neg_test(min(hi, res.x + step)))
    if not rise > PEAK_RTOL * max(abs(peak), 1e-300):
        null = 2.0 * (1.0 + 1.0 / kappa_star)
        raise NoPeakError(f"no double-descent peak ({where}): the test error is flat around the maximiser "
                          f"alpha = {res.x:.6g} in ({lo:g}, {hi:g}) (it exceeds its values at alpha -+ {step:.3g} by "
                          f"{rise:.3g}, not more than the relative tolerance {PEAK_RTOL:g} x {peak:.6g}; null-model "
                          f"value 2(1 + 1/kappa*) = {null:g})", residual=float(rise))
    return DoubleDescentPeak(float(kappa), float(kappa_star), lam, noise, float(res.x), float(-res.fun), ai,
                             count[0])
