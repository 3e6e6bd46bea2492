r"""Model (A) with orthonormal initialisation: exact finite-d mode reduction and the d -> infinity limit.

Conventions (pinned; they follow the authors' simulation code of paper A):

* S = W W^T, S* = U* U*^T / m* (U* orthonormal d x m*, Tr S* = 1), S(0) = s0 P0/m (U0 Haar, independent);
  default s0 = 1.
* L = 1/2 ||S - S*||_F^2 + 1/4 (Tr(S - S*))^2; gradient flow in time t; **tau = t/d**.
* m = kappa d, m* = kappa* d. Observables: **ell(tau) = lim d L(d tau)**,
  chi = Tr(S S*)/(||S||_F ||S*||_F), omega = Tr(P* S)/Tr S, phi = lim int_0^{d tau} Tr(S - S*) dt,
  lambda = phi' = lim d Tr(S - S*).

**Exact finite-d reduction** (principal angles). With Q = U0^T P* U0, eigenvalues s_i = cos^2 theta_i,
E(t) = e^{4t/m*}, F = 1 + (4 s0/m) int e^{-2Phi}, G = 1 + (4 s0/m) int e^{-2Phi} E:

  q_i = e^{-2Phi}(s0/m)(1 + (E - 1)s_i)/(F + (G - F)s_i)   (eigenvalues of W^T W),
  r_i^2 = e^{-2Phi}(s0/m) E s_i/(F + (G - F)s_i)           (squared teacher overlaps),
  L = 1/2 [sum q_i^2 - (2/m*) sum r_i^2 + 1/m*] + 1/4 (sum q_i - 1)^2,
  Phi' = sum q_i - 1,  F' = (4 s0/m)e^{-2Phi},  G' = (4 s0/m) e^{-2Phi} E.

These 3 scalar ODEs are integrated in tau (stiff: the trace relaxes at rate ~2d) with Radau (order 5).
The spectrum {s_i} is sampled without any d x m matrix: s are the generalized eigenvalues of
(A, A + B) with A = G1^T G1 ~ Wishart_m(m*), B ~ Wishart_m(d - m*) (Bartlett), which is the law of
cos^2 of the principal angles between independent Haar subspaces.

**Limit** (d -> infinity at fixed tau). The law of {s_i} (mass kappa) tends to the Wachter law

  nu(ds) = (kappa - kappa*)_+ delta_0 + (kappa + kappa* - 1)_+ delta_1
           + sqrt((s - r1)(r2 - s)) / (2 pi s (1 - s)) 1_[r1, r2] ds,
  r_{1,2} = (sqrt(kappa (1 - kappa*)) -+ sqrt(kappa* (1 - kappa)))^2.

With E = e^{4 tau/kappa*}, A0(J) = int s/(1 + (J-1)s) dnu = Theta'(J-1) + (kappa+kappa*-1)_+/J and
A2(J) = int s^2/(1 + (J-1)s)^2 dnu = -Theta''(J-1) + (kappa+kappa*-1)_+/J^2:

  dJ/dtau = 4(E - J)/C,  J(0) = 1,  C = kappa + (E - J) A0(J),
  phi = 1/2 [log(C/kappa) - 4 int_0^tau dg/C] + 1/2 log s0,
  B = kappa + 2(E - J)A0 + (E - J)^2 A2,
  ell = 1/2 [B/C^2 - 2 E A0/(kappa* C) + 1/kappa*],  chi = E A0/sqrt(kappa* B),  omega = E A0/C,
  lambda = 2 (E A0/(kappa* C) - B/C^2).

Theta'(x) = int s/(1 + x s) rho(s) ds (continuous part) in closed form: with c = (r1+r2)/2, h = (r2-r1)/2,
g1 = h^2/((1 - c) + sqrt((1 - r1)(1 - r2))),

  Theta'(x) = [g1 + h^2 x/(1 + c x + sqrt((1 + r1 x)(1 + r2 x)))] / (2 (1 + x)),   x > -1

(partial fractions of 1/((1-s)(1+xs)) and the Stieltjes transform of the semicircle-type density); Theta''
by complex step (exact to rounding; used as a check) and analytically in the scaled form J^2 A2 (see
:func:`j2a2`), which is what the solver uses. An independent Gauss-Legendre rule in theta (s = c + h cos theta) is
provided for checks. The ODE is integrated in v = log(E/J) = 4 tau/kappa* - u (u = log J),
dv/dtau = 4/kappa* - 4(1 - e^{-v})/C~, and everything is written through J A0(J), J^2 A2(J) as functions of u
(:func:`ja0_log`, :func:`j2a2_log`) and e^{-v}, so nothing overflows at any tau; DOP853, rtol 1e-11.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp

from odes.common import check
from odes.common.deprecation import renamed_keywords
from odes.common.errors import ConvergenceError, DivergenceError, ParameterError
from odes.common.numerics import time_grid
from odes.common.random_matrices import wishart  # noqa: F401  (re-exported: old import path)
from odes.common.resources import check_memory
from odes.common.result import Result, coordinate, variable
from odes.population.params import HighDimParams

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


# ----------------------------------------------------------------------------------------- spectral law
@dataclass(frozen=True)
class WachterLaw:
    """Wachter (free two-projection) law of cos^2 principal angles, total mass kappa."""

    kappa: float
    kappa_star: float
    r1: float
    r2: float
    atom0: float
    atom1: float

    @property
    def c(self) -> float:
        return 0.5 * (self.r1 + self.r2)

    @property
    def h(self) -> float:
        return 0.5 * (self.r2 - self.r1)

    def density(self, s: np.ndarray) -> np.ndarray:
        """Continuous part rho(s) = sqrt((s-r1)(r2-s)) / (2 pi s (1-s)) on [r1, r2]."""
        s = np.asarray(s, dtype=float)
        inside = (s > self.r1) & (s < self.r2)
        out = np.zeros_like(s)
        si = s[inside]
        out[inside] = np.sqrt((si - self.r1) * (self.r2 - si)) / (2 * np.pi * si * (1 - si))
        return out


def wachter_law(kappa: float, kappa_star: float) -> WachterLaw:
    """Edges r1, r2 and atoms of the Wachter law for (kappa, kappa*) in (0, 1]^2."""
    p = HighDimParams(kappa, kappa_star)
    k, ks = p.kappa, p.kappa_star
    a, b = np.sqrt(k * (1 - ks)), np.sqrt(ks * (1 - k))
    return WachterLaw(k, ks, float((a - b) ** 2), float((a + b) ** 2), max(k - ks, 0.0), max(k + ks - 1, 0.0))


def _numerator(x: ArrayLike, law: WachterLaw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N(x) = g1 + h^2 x/D, D = 1 + c x + sqrt(P), P = (1 + r1 x)(1 + r2 x), g1 = h^2/((1 - c) + sqrt((1-r1)(1-r2)));
    returns (N, D, sqrt(P)) -- shared by Theta', J A0 and J^2 A2 (x real >= -1 or complex)."""
    r1, r2, c, h = law.r1, law.r2, law.c, law.h
    g1 = h * h / ((1 - c) + np.sqrt((1 - r1) * (1 - r2)))
    sq = np.sqrt(1 + r1 * x) * np.sqrt(1 + r2 * x)
    D = 1 + c * x + sq
    return g1 + h * h * x / D, D, sq


def theta_prime(x: ArrayLike, law: WachterLaw) -> np.ndarray:
    """Theta'(x) = int s/(1 + x s) rho(s) ds over the continuous part = N(x)/(2(1 + x)) (closed form; x > -1,
    complex ok)."""
    return _numerator(x, law)[0] / (2 * (1 + x))


def theta_second(x: ArrayLike, law: WachterLaw) -> np.ndarray:
    """Theta''(x) by complex step: Im Theta'(x + i eps)/eps (no cancellation, exact to rounding).
    Used to check :func:`j2a2`; it underflows for x > ~1e150, where :func:`j2a2` stays exact."""
    x = np.asarray(x, dtype=float)
    eps = 1e-20 * np.maximum(1.0, np.abs(x))
    return np.imag(theta_prime(x + 1j * eps, law)) / eps


def ja0(J: ArrayLike, law: WachterLaw) -> np.ndarray:
    """J A0(J) = N(x)/2 + atom1 with x = J - 1, N = g1 + h^2 x/D, D = 1 + c x + sqrt((1 + r1 x)(1 + r2 x));
    bounded for all J >= 1 (no overflow)."""
    return 0.5 * _numerator(np.asarray(J, dtype=float) - 1.0, law)[0] + law.atom1


def j2a2(J: ArrayLike, law: WachterLaw) -> np.ndarray:
    """J^2 A2(J) = -J^2 Theta''(J - 1) + atom1, analytically:
    J^2 Theta'' = [J N' - N]/2 with N = g1 + h^2 x/D, J N' = J h^2 (1 + (1 + c x)/sqrt(P))/D^2,
    P = (1 + r1 x)(1 + r2 x) (the identity D - x D' = 1 + (1 + c x)/sqrt(P) avoids cancellation)."""
    x = np.asarray(J, dtype=float) - 1.0
    N, D, sq = _numerator(x, law)
    # grouped as h^2 [(1 + x)/D] [(1 + (1 + c x)/sqrt(P))/D]: each factor is bounded for all x >= 0 (no
    # overflow at the hard edge r1 = 0, where sqrt(P) ~ sqrt(r2 x) grows only like sqrt(x))
    JNp = law.h**2 * ((1 + x) / D) * ((1 + (1 + law.c * x) / sq) / D)
    return 0.5 * (N - JNp) + law.atom1


def _scaled_factors_log(u: ArrayLike, law: WachterLaw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, (1 + x)/D, (1 + (1 + c x)/sqrt(P))/D) of :func:`_numerator` / :func:`j2a2` as functions of
    u = log J = log(1 + x) >= 0, valid for any u (J = e^u itself may overflow). For u <= 1 the x-forms are used;
    for u > 1 they are rewritten with z = 1/x = e^{-u}/(1 - e^{-u}) in [0, 0.6):

        D = x D_z,  D_z = z + c + sqrt((z + r1)(z + r2)),  N = g1 + h^2/D_z,  (1 + x)/D = (1 + z)/D_z,
        (1 + (1 + c x)/sqrt(P))/D = [z + (z + c) z/sqrt((z + r1)(z + r2))]/D_z   (-> 0 as z -> 0, also at r1 = 0).
    """
    u = np.asarray(u, dtype=float)
    r1, r2, c, h = law.r1, law.r2, law.c, law.h
    g1 = h * h / ((1 - c) + np.sqrt((1 - r1) * (1 - r2)))
    small = u <= 1.0
    x = np.expm1(np.where(small, u, 0.0))
    N_s, D_s, sq_s = _numerator(x, law)
    f1_s = (1 + x) / D_s
    f2_s = (1 + (1 + c * x) / sq_s) / D_s
    ub = np.where(small, 2.0, u)
    z = np.exp(-ub) / -np.expm1(-ub)
    sqz = np.sqrt((z + r1) * (z + r2))
    Dz = z + c + sqz
    zq = np.where(z > 0, z / np.where(sqz > 0, sqz, 1.0), 0.0)      # z/sqrt((z+r1)(z+r2)), 0 at z = 0
    N_b = g1 + h * h / Dz
    f1_b = (1 + z) / Dz
    f2_b = (z + (z + c) * zq) / Dz
    return np.where(small, N_s, N_b), np.where(small, f1_s, f1_b), np.where(small, f2_s, f2_b)


def ja0_log(u: ArrayLike, law: WachterLaw) -> np.ndarray:
    """J A0(J) at J = e^u for any u >= 0 (no overflow; equals :func:`ja0`(e^u) where that is finite)."""
    return 0.5 * _scaled_factors_log(u, law)[0] + law.atom1


def j2a2_log(u: ArrayLike, law: WachterLaw) -> np.ndarray:
    """J^2 A2(J) at J = e^u for any u >= 0 (no overflow; equals :func:`j2a2`(e^u) where that is finite)."""
    N, f1, f2 = _scaled_factors_log(u, law)
    return 0.5 * (N - law.h**2 * f1 * f2) + law.atom1


def a0(J: ArrayLike, law: WachterLaw) -> np.ndarray:
    """A0(J) = int s/(1 + (J - 1)s) dnu(s) = Theta'(J - 1) + atom1/J."""
    return ja0(J, law) / np.asarray(J, dtype=float)


def a2(J: ArrayLike, law: WachterLaw) -> np.ndarray:
    """A2(J) = int s^2/(1 + (J - 1)s)^2 dnu(s) = -Theta''(J - 1) + atom1/J^2."""
    J = np.asarray(J, dtype=float)
    return j2a2(J, law) / J / J


@functools.lru_cache(maxsize=8)
def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def gauss_legendre_moment(f: Callable[[np.ndarray], np.ndarray], law: WachterLaw, n: int = 400) -> float:
    """int f(s) rho(s) ds over the continuous part by n-point Gauss-Legendre in theta, s = c + h cos theta
    (integrand f(s) h^2 sin^2 theta / (2 pi s (1 - s)), smooth away from hard edges). Independent check."""
    x, w = _leggauss(int(n))
    th = 0.5 * np.pi * (x + 1)
    w = 0.5 * np.pi * w
    s = law.c + law.h * np.cos(th)
    return float(np.sum(w * f(s) * law.h**2 * np.sin(th) ** 2 / (2 * np.pi * s * (1 - s))))


# ----------------------------------------------------------------------------------------- results
#: labels of the population family (docs/results.md): time ``tau`` = t/d
TAU_LONG_NAME = "tau = t/d (gradient-flow time over input dimension)"


@dataclass(frozen=True, eq=False, repr=False)
class HighDimResult(Result):
    """Population-loss curve of model (A). :attr:`tau` = t/d; ``loss`` = d L (finite d) or ell (limit).

    ``d`` is None for the d -> infinity limit; ``chi``, ``omega``, ``phi`` as in the module doc and
    :attr:`trace_excess` lambda = d Tr(S - S*) (= dphi/dtau); for finite d phi = Phi(d tau); ``phi`` is None for
    ``method="matrix"``, whose integrator does not accumulate Phi: use :func:`finite_d_modes` for it).

    The stored fields keep their quadnet 0.1 names so that saved files load: field ``gamma`` is the time
    :attr:`tau` (not a learning rate) and field ``lam`` is :attr:`trace_excess` (not an l2 strength); read them
    through the properties.

    Labelled data (:meth:`to_xarray`), a curve along ``tau`` (= t/d): ``test_error`` (= ``loss``),
    ``chi``, ``omega``, ``phi`` (if computed) and ``trace_excess``."""

    curve_coord = "tau"  # plain class attribute (not a dataclass field)

    params: HighDimParams
    gamma: np.ndarray
    loss: np.ndarray
    chi: np.ndarray
    omega: np.ndarray
    phi: np.ndarray | None
    lam: np.ndarray
    d: int | None = None
    method: str = "limit"
    seed: int | None = None
    rtol: float = 1e-11

    @property
    def tau(self) -> np.ndarray:
        """Rescaled time tau = t/d of the grid (stored as field ``gamma``)."""
        return self.gamma

    @property
    def trace_excess(self) -> np.ndarray:
        """lambda = d Tr(S - S*) on the grid (stored as field ``lam``)."""
        return self.lam

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring); attributes ``method``, ``rtol`` and, at finite d, ``d`` and
        ``seed``."""
        limit = self.d is None
        loss_name = ("population loss ell = lim d L(d tau) (rescaled test error; L = 1/2 ||S - S*||_F^2 + "
                     "1/4 (Tr(S - S*))^2 = 1/4 E[(f_W - f*)^2])" if limit else
                     "rescaled population loss d L(d tau) at finite d (L = 1/2 ||S - S*||_F^2 + 1/4 (Tr(S - S*))^2)")
        var = {"test_error": variable("tau", self.loss, loss_name),
               "chi": variable("tau", self.chi, "cosine similarity chi = Tr(S S*)/(||S||_F ||S*||_F)"),
               "omega": variable("tau", self.omega, "teacher-subspace weight omega = Tr(P* S)/Tr S"),
               "trace_excess": variable("tau", self.trace_excess, "lambda = d Tr(S - S*) (rescaled trace excess, "
                                                         "= dphi/dtau)")}
        if self.phi is not None:
            var["phi"] = variable("tau", self.phi, "phi = int_0^{d tau} Tr(S - S*) dt")
        attrs = {"method": self.method, "rtol": self.rtol}
        if not limit:
            attrs["d"] = int(self.d)
        if self.seed is not None:
            attrs["seed"] = int(self.seed)
        return self.dataset(var, coords={"tau": coordinate("tau", self.tau, TAU_LONG_NAME)}, attrs=attrs)

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 keys of ``quadnet population``: ``t`` (now ``tau``), ``loss`` (``test_error``), ``lam``
        (``trace_excess``), ``phi`` (null when not computed)."""
        return {"t": self.tau, "loss": self.loss, "lam": self.trace_excess, "phi": self.phi}

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """``test_error``, ``chi`` and ``omega`` against ``tau`` (linear axes); returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        what = "ell" if self.d is None else f"d L (d = {self.d})"
        ax.plot(self.tau, self.loss, label=what, **kw)
        ax.plot(self.tau, self.chi, "--", label="chi", **kw)
        ax.plot(self.tau, self.omega, ":", label="omega", **kw)
        ax.set_xlabel(r"$\tau = t/d$")
        ax.legend(fontsize="small")
        return ax


def _tau_grid(taus: Sequence[float]) -> np.ndarray:
    return time_grid("times", taus, strictly_increasing=False)


def _observables(v, u, I, law: WachterLaw, p: HighDimParams):
    """ell, chi, omega, phi, lam from v = 4 tau/kappa* - u (E = J e^v), u = log J, I = int dtau/C.

    Written with w = e^{-v} so that nothing overflows: C~ = C w = kappa w + (1 - w) J A0,
    B~ = B w^2 = kappa w^2 + 2w(1 - w) J A0 + (1 - w)^2 J^2 A2, B/C^2 = B~/C~^2, E A0/C = J A0/C~."""
    JA0 = ja0_log(u, law)             # J A0(J), bounded, J = e^u never formed
    J2A2 = j2a2_log(u, law)           # J^2 A2(J), bounded
    w = np.exp(-v)
    Ct = p.kappa * w + (1.0 - w) * JA0
    Bt = p.kappa * w * w + 2.0 * w * (1.0 - w) * JA0 + (1.0 - w) ** 2 * J2A2
    ks = p.kappa_star
    BC2 = Bt / Ct**2
    EA0C = JA0 / Ct
    ell = 0.5 * (BC2 - 2.0 * EA0C / ks + 1.0 / ks)
    chi = JA0 / np.sqrt(ks * Bt)
    omega = EA0C
    phi = 0.5 * (np.log(Ct / p.kappa) + v - 4.0 * I) + 0.5 * np.log(p.s0)
    lam = 2.0 * (EA0C / ks - BC2)
    return _clip_rounding(ell, 0.0, None, ks), _clip_rounding(chi, 0.0, 1.0, 1.0), \
        _clip_rounding(omega, 0.0, 1.0, 1.0), phi, lam


def _clip_rounding(x: np.ndarray, lo: float | None, hi: float | None, scale: float) -> np.ndarray:
    """Clip values that leave their exact range [lo, hi] by rounding only (at most 64 eps / scale).

    ell is a difference of O(1/kappa*) terms, so its absolute accuracy is ~1e-15/kappa*; once ell itself is that
    small (e.g. kappa = kappa* at tau >~ 8 kappa*) the formula returns +-rounding, clipped here to 0. A violation
    larger than rounding is a bug and raises DivergenceError rather than being hidden."""
    tol = 64 * np.finfo(float).eps / scale
    x = np.asarray(x, dtype=float)
    if (lo is not None and np.any(x < lo - tol)) or (hi is not None and np.any(x > hi + tol)):
        raise DivergenceError(f"observable left its exact range [{lo}, {hi}] beyond rounding")
    return np.clip(x, lo, hi)


#: largest rescaled time tau = t/d of the limit solver: tau = 1e8 takes ~3 s (measured); beyond 1e9 the adaptive
#: integrator's work on the flat tail grows without bound (1e12 did not finish in 60 s)
MAX_TAU = 1e9


@renamed_keywords(gammas="taus")
def solve_limit(params: HighDimParams, taus: Sequence[float], *, rtol: float = 1e-11,
                atol: float = 1e-13) -> HighDimResult:
    """d -> infinity limit of model (A): integrate (u = log J, I = int dtau/C) with DOP853 and evaluate
    ell, chi, omega, phi, lambda (module doc). ell(0) = 1/2 (1/kappa - 2 + 1/kappa*) for s0 = 1.

    The ODE state is (v, I), v = 4 tau/kappa* - log J = log(E/J) (bounded: J tracks E), with
    dv/dtau = 4/kappa* - 4(1 - w)/C~, dI/dtau = w/C~, w = e^{-v}, C~ = C w = kappa w + (1 - w) J A0(J) and
    J A0, J^2 A2 evaluated from u = log J (:func:`ja0_log`, :func:`j2a2_log`): J = e^u and E are never formed,
    so any tau is computed (no overflow; v carries no cancellation at late tau).
    The error is controlled by ``rtol`` (DOP853, 8th order); shrink it to check convergence (rtol 1e-11 ->
    1e-13 changes ell by <= 5e-11 relative). ell is a difference of O(1/kappa*) terms, so its absolute accuracy
    is ~1e-15/kappa*: values below that (kappa = kappa* at late tau) are rounding and are clipped to 0;
    chi and omega are clipped to [0, 1] within rounding.
    """
    if not isinstance(params, HighDimParams):
        raise ParameterError("params", "must be a HighDimParams")
    g = _tau_grid(taus)
    law = wachter_law(params.kappa, params.kappa_star)
    ks = params.kappa_star

    def rhs(gam, y):
        v, _ = y
        u = max(4.0 * gam / ks - v, 0.0)
        w = np.exp(-v)
        Ct = params.kappa * w + (1.0 - w) * float(ja0_log(u, law))
        if not (np.isfinite(Ct) and Ct > 0):
            raise DivergenceError("limit J-ODE: C became non-positive or non-finite", time=gam)
        return [4.0 / ks - 4.0 * (1.0 - w) / Ct, w / Ct]

    gmax = float(g[-1])
    if gmax > MAX_TAU:
        raise ParameterError("times", f"must be <= {MAX_TAU:g} (tau = t/d), got {gmax:g}: the loss has reached its "
                                      "long-time limit to machine precision long before (see long_time), and the "
                                      "integration cost grows with log tau")
    if gmax > 0:
        # kappa < kappa*: v relaxes to a fixed point at rate 4/kappa* for all tau, which makes the explicit
        # DOP853 step-limited (~20 steps per unit tau at kappa* = 0.05); after the transient (tau > 20 kappa*,
        # e^{-80} relaxed) the tail is integrated by Radau (stiffly stable). Other regimes stay on DOP853.
        g_split = gmax if params.regime != "under" else min(gmax, 20.0 * ks)
        ts, ys = [], []
        y0 = [0.0, 0.0]
        for a, b, meth in ((0.0, g_split, "DOP853"), (g_split, gmax, "Radau")):
            if b <= a:
                continue
            te = np.unique(np.concatenate([g[(g >= a) & (g <= b)], [a, b]]))
            sol = solve_ivp(rhs, (a, b), y0, method=meth, t_eval=te, rtol=rtol, atol=atol)
            if not sol.success:
                raise ConvergenceError(f"limit J-ODE failed: {sol.message}")
            ts.append(sol.t)
            ys.append(sol.y)
            y0 = sol.y[:, -1]
        t_all, y_all = np.concatenate(ts), np.concatenate(ys, axis=1)
        v = np.interp(g, t_all, y_all[0])
        I = np.interp(g, t_all, y_all[1])
    else:
        v = np.zeros_like(g)
        I = np.zeros_like(g)
    u = np.maximum(4.0 * g / ks - v, 0.0)
    ell, chi, omega, phi, lam = _observables(v, u, I, law, params)
    out = (ell, chi, omega, phi, lam)
    if not all(np.all(np.isfinite(o)) for o in out):
        raise DivergenceError("limit observables are not finite")
    return HighDimResult(params=params, gamma=g, loss=ell, chi=chi, omega=omega, phi=phi, lam=lam,
                         d=None, method="limit", rtol=rtol)


def long_time(params: HighDimParams) -> dict:
    """Long-time values and the approach rate by regime (model A limit).

    ell(inf) = 1/2 (1/kappa - 1/kappa*)_+, chi(inf) = min(1, sqrt(kappa/kappa*)), omega(inf) = 1,
    trace excess lambda(inf) = 2 (1/kappa* - 1/kappa)_- (i.e. 2(1/kappa* - 1/kappa) if kappa < kappa* else 0), key
    ``trace_excess_inf`` (also under its deprecated name ``lam_inf`` for one release).
    Rates: kappa > kappa*: ell ~ (kappa - kappa*) kappa*/(32 kappa) tau^-2 and
    1 - chi ~ kappa*^3 (kappa - kappa*)/(32 kappa^2) tau^-2 (power law; the s = 0 modes decay like
    kappa*/(4 kappa tau)); kappa = kappa*: ell, 1 - chi ~ sqrt(tau) e^{-2 tau/kappa*};
    kappa < kappa*: ell - ell(inf) ~ e^{-4 tau/kappa*}. Strong recovery (chi -> 1) iff kappa >= kappa*.
    """
    k, ks = params.kappa, params.kappa_star
    reg = params.regime
    out = {
        "regime": reg,
        "loss_inf": 0.5 * max(1.0 / k - 1.0 / ks, 0.0) if reg != "critical" else 0.0,
        "chi_inf": min(1.0, float(np.sqrt(k / ks))),
        "omega_inf": 1.0,
        "trace_excess_inf": 2.0 * (1.0 / ks - 1.0 / k) if reg == "under" else 0.0,
        "strong_recovery": reg != "under",
    }
    out["lam_inf"] = out["trace_excess_inf"]  # deprecated key (quadnet 0.1), removed in the next release
    if reg == "over":
        out.update(rate="power law tau^-2", loss_prefactor=(k - ks) * ks / (32 * k),
                   one_minus_chi_prefactor=ks**3 * (k - ks) / (32 * k**2))
    elif reg == "critical":
        out.update(rate=f"sqrt(tau) exp(-2 tau/kappa*), decay rate {2 / ks:g}", decay_rate=2.0 / ks)
    else:
        out.update(rate=f"exp(-4 tau/kappa*), decay rate {4 / ks:g}", decay_rate=4.0 / ks)
    return out


# ----------------------------------------------------------------------------------------- finite d
def finite_d_memory(params: HighDimParams, d: int, n_times: int, method: str = "modes") -> float:
    r"""Bytes needed by one finite-d run at dimension d (m = kappa d, m* = kappa* d).

    * ``"modes"``: two Wishart draws (an m x m factor and product each, or a Gaussian block of m x min(m*,
      d - m*)) and the generalised eigenproblem (A, A + B) with its workspace: 8 (8 m^2 + m d).
    * ``"matrix"``: the d x d state S (or the d x m factor), ~20 solver vectors of it plus the stored
      trajectory, one per output time, and the literal instance (W0, S*): 8 d^2 (n_times + 24).
    """
    m = float(round(params.kappa * d))
    dd = float(d)
    if method == "modes":
        return 8.0 * (8.0 * m * m + m * dd)
    return 8.0 * dd * dd * (float(n_times) + 24.0)


def check_finite_d_memory(params: HighDimParams, d: int, n_times: int, method: str = "modes") -> None:
    """ParameterError('d', ...) if :func:`finite_d_memory` exceeds the machine's memory."""
    check_memory("d", finite_d_memory(params, d, n_times, method), f"the finite-d flow at d = {d} ({method})")


def principal_cos2(d: int, m: int, m_star: int, rng: np.random.Generator) -> np.ndarray:
    """cos^2 of the principal angles between an m-dim Haar subspace and a fixed m*-dim one in R^d
    (length m; zeros when m > m*, ones when m + m* > d). Generalized eigenvalues of (A, A + B),
    A = G1^T G1 ~ Wishart_m(m*), B ~ Wishart_m(d - m*)."""
    A = wishart(rng, m, m_star)
    B = wishart(rng, m, d - m_star)
    s = np.clip(sla.eigh(A, A + B, eigvals_only=True), 0.0, 1.0)
    return _exact_atoms(s, d, m, m_star)


def _exact_atoms(s: np.ndarray, d: int, m: int, m_star: int) -> np.ndarray:
    """Set the structurally exact atoms: the m - m* smallest cos^2 to 0 (m > m*) and the m + m* - d largest
    to 1 (m + m* > d). Rounding noise ~1e-17 there would otherwise be amplified by E = e^{4t/m*}."""
    s = np.sort(np.clip(np.asarray(s, dtype=float), 0.0, 1.0))
    if m > m_star:
        s[: m - m_star] = 0.0
    if m + m_star > d:
        s[s.size - (m + m_star - d):] = 1.0
    return s


def _mode_state(y, s, m, m_star, s0, E):
    phi, F, G = y
    den = F + (G - F) * s
    pre = np.exp(-2 * phi) * (s0 / m)
    q = pre * (1 + (E - 1) * s) / den
    r2 = pre * E * s / den
    return q, r2


@renamed_keywords(gammas="taus")
def finite_d_modes(params: HighDimParams, d: int, taus: Sequence[float], *, seed: int = 0,
                   cos2: np.ndarray | None = None, method: str = "LSODA", rtol: float = 1e-10,
                   atol: float = 1e-13) -> HighDimResult:
    """Exact finite-d flow of model (A) through the principal-angle reduction (module doc), d L(d tau).

    ``cos2``: the spectrum {s_i} (length m); sampled with ``seed`` if None. The three scalar ODEs
    (Phi, F, G) are integrated in t = d tau, where the fastest rate is the trace relaxation ~2 Tr S ~ 2
    (so an explicit method needs O(d tau) steps, stiff for d tau >> 1): 'LSODA' (default; automatic
    Adams/BDF switching with the analytic 3 x 3 Jacobian), 'Radau' (implicit, order 5) or 'DOP853'
    (explicit, order 8; slow but the most accurate). rtol/atol exposed; at rtol = 1e-10 the three methods
    agree to ~2e-10 in d L.
    """
    g = _tau_grid(taus)
    m, ms = params.widths(d)
    check_finite_d_memory(params, d, g.size, "modes")
    if method not in ("DOP853", "Radau", "LSODA"):
        raise ParameterError("method", f"must be 'DOP853', 'Radau' or 'LSODA', got {method!r}")
    if cos2 is None:
        s = principal_cos2(d, m, ms, np.random.default_rng(seed))
    else:
        s = _exact_atoms(check.array("cos2", cos2, shape=(m,)), d, m, ms)
    s0 = params.s0
    if 4.0 * d * g[-1] / ms > 700:
        raise DivergenceError("tau too large: E = e^{4t/m*} overflows")

    def rhs(t, y):
        E = np.exp(4 * t / ms)
        q, _ = _mode_state(y, s, m, ms, s0, E)
        w = (4 * s0 / m) * np.exp(-2 * y[0])
        return [np.sum(q) - 1.0, w, w * E]

    def jac(t, y):
        E = np.exp(4 * t / ms)
        q, _ = _mode_state(y, s, m, ms, s0, E)
        den = y[1] + (y[2] - y[1]) * s
        w = (4 * s0 / m) * np.exp(-2 * y[0])
        return np.array([[-2.0 * np.sum(q), -np.sum(q * (1 - s) / den), -np.sum(q * s / den)],
                         [-2.0 * w, 0.0, 0.0], [-2.0 * w * E, 0.0, 0.0]])

    tt = d * g
    if tt[-1] > 0:
        sol = solve_ivp(rhs, (0.0, float(tt[-1])), [0.0, 1.0, 1.0], method=method, t_eval=np.unique(tt),
                        rtol=rtol, atol=atol, **({} if method == "DOP853" else {"jac": jac}))
        if not sol.success:
            raise ConvergenceError(f"finite-d mode reduction failed: {sol.message}")
        Y = np.stack([np.interp(tt, sol.t, yy) for yy in sol.y])
    else:
        Y = np.tile(np.array([[0.0], [1.0], [1.0]]), (1, g.size))
    loss, chi, omega, lam = (np.empty(g.size) for _ in range(4))
    for k in range(g.size):
        E = np.exp(4 * d * g[k] / ms)
        q, r2 = _mode_state(Y[:, k], s, m, ms, s0, E)
        trs, q2, R2 = q.sum(), np.sum(q * q), r2.sum()
        L = 0.5 * (q2 - 2 * R2 / ms + 1.0 / ms) + 0.25 * (trs - 1) ** 2
        loss[k] = d * L
        chi[k] = (R2 / ms) / (np.sqrt(q2) / np.sqrt(ms))
        omega[k] = R2 / trs
        lam[k] = d * (trs - 1.0)
    if not np.all(np.isfinite(loss)):
        raise DivergenceError("finite-d loss is not finite")
    # d L is a difference of O(d/m*) terms: clip values outside the exact range only within rounding
    loss = _clip_rounding(loss, 0.0, None, ms / d)
    chi, omega = _clip_rounding(chi, 0.0, 1.0, 1.0), _clip_rounding(omega, 0.0, 1.0, 1.0)
    return HighDimResult(params=params, gamma=g, loss=loss, chi=chi, omega=omega, phi=Y[0].copy(), lam=lam,
                         d=int(d), method="modes", seed=seed, rtol=rtol)


def orthonormal_instance(params: HighDimParams, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(W0, S*) of a literal finite-d instance: W0 = sqrt(s0/m) U0 (Haar), S* = P_{e_1..e_m*}/m*."""
    m, ms = params.widths(d)
    rng = np.random.default_rng(seed)
    U0, _ = np.linalg.qr(rng.standard_normal((d, m)))
    S_star = np.zeros((d, d))
    S_star[np.arange(ms), np.arange(ms)] = 1.0 / ms
    return np.sqrt(params.s0 / m) * U0, S_star


def instance_cos2(params: HighDimParams, d: int, seed: int = 0) -> np.ndarray:
    """cos^2 principal angles of the literal instance :func:`orthonormal_instance` (same seed)."""
    m, ms = params.widths(d)
    W0, _ = orthonormal_instance(params, d, seed)
    U0 = W0 / np.sqrt(params.s0 / m)
    return _exact_atoms(np.linalg.eigvalsh(U0[:ms].T @ U0[:ms]), d, m, ms)


@renamed_keywords(gammas="taus")
def finite_d_matrix(params: HighDimParams, d: int, taus: Sequence[float], *, seed: int = 0,
                    rtol: float = 1e-10, atol: float = 1e-14, method: str = "DOP853", form: str = "auto"
                    ) -> HighDimResult:
    """The literal matrix ODE of model (A) (:func:`odes.population.riccati.integrate_matrix_flow`) from a
    Haar orthonormal instance; returns d L(d tau) and the same observables. ``form``: 'S' (d x d ODE, cost
    O(d^3) per RHS), 'W' (d x m factor) or 'auto' ('S' if m >= m*, else 'W': the S form is unstable to
    rounding for m < m*)."""
    from odes.population.riccati import integrate_matrix_flow

    g = _tau_grid(taus)
    m, ms = params.widths(d)
    check_finite_d_memory(params, d, g.size, "matrix")
    W0, S_star = orthonormal_instance(params, d, seed)
    if form == "auto":
        form = "S" if m >= ms else "W"
    res = integrate_matrix_flow(W0, S_star, d * g, model="uncentered", method=method, rtol=rtol, atol=atol, form=form)
    P = S_star * ms
    trS = np.trace(res.S, axis1=1, axis2=2)
    SSs = np.einsum("kij,ji->k", res.S, S_star)
    nS = np.sqrt(np.sum(res.S**2, axis=(1, 2)))
    chi = SSs / (nS / np.sqrt(ms))
    omega = np.einsum("kij,ji->k", res.S, P) / trS
    return HighDimResult(params=params, gamma=g, loss=d * res.loss, chi=chi, omega=omega,
                         phi=None, lam=d * (trS - 1.0), d=int(d), method="matrix",
                         seed=seed, rtol=rtol)
