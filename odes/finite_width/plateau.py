r"""The M = 0 plateau: fixed point, linearisation (closed form and numerical Jacobian), escape time.

Assumes A = aI and Gamma = gamma I (so eta_j = eta = gamma / a); B, T arbitrary. Notation: u = a q,
tau = tr(BT) + c0, tau2 = tr((BT)^2), mu_k the eigenvalues of BT, kappa the weight decay, Delta the label noise.

**Fixed point (spec 6.1).** Q = q I, M = 0 with u the smallest root of

.. math:: F(u) = \tau - \frac{\kappa}{2a} - (p+2)u + \gamma X(u), \qquad
          X(u) = (p+2)(p+4)u^2 - 2\tau(p+2)u + \tau^2 + 2\tau_2 + \Delta

(gradient flow: drop gamma X, u = (tau - kappa/2a)/(p+2)). Then e0 = p u - tau and
eps_pl = e0^2/2 + p u^2 + tau2 (GF, kappa = 0: eps_pl = tau^2/(p+2) + tau2).

**Escape rates (spec 6.2).** The M block decouples, dM/dalpha = [-2gamma((p+2)u - tau) - kappa eta] M + 4 gamma M BT:

.. math:: \rho_k = 4\gamma\mu_k - 2\gamma((p+2)u - \tau) - \kappa\eta \qquad (\text{multiplicity } p \text{ each}),

which in SGD (kappa = 0) equals 4 gamma mu_k - 2 gamma^2 X(u), and 4 gamma mu_k in gradient flow (p-independent).

**Q block** (derived by perturbing Q = qI + delta in dQ/dalpha; stable):

* traceless symmetric (multiplicity p(p+1)/2 - 1):
  -4 gamma (e0 + 4u) + 4 gamma^2 (2 eps + 8 e0 u + 24 u^2 + Delta) - 2 kappa eta
* trace (delta = I):
  -4 gamma (p u + e0 + 4u) + 4 gamma^2 (2 p u (e0 + 2u) + 2 eps + 4 p u^2 + 8 e0 u + 24 u^2 + Delta) - 2 kappa eta

(GF: -8 gamma tau/(p+2) and -4 gamma tau.) Drop every gamma^2 term for gradient flow.

**Escape time (spec 6.3).** M(alpha) ~ e^{rho alpha} M0 on the plateau, with M0 = O(N^{-1/2}) from a random
initialisation, so alpha_esc = (1/(2 rho)) ln N - (1/rho) ln s_1 + C(p, p*, gamma; s_2/s_1, ..., s_k/s_1) with
s_1 >= ... >= s_k the singular values of sqrt(N) M0: the slope d alpha_esc / d ln N is 1/(2 rho) with
rho = max_k rho_k. For p* > 1 (B = bI, T = tI) each singular pair of M0 (one teacher direction) escapes at its
own time ln(sqrt(N)/s_i)/rho + O(1), so C depends on the ratios s_i/s_1; it is obtained by one reference ODE run
with those ratios (:func:`predicted_escape_time`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.integrate import solve_ivp

from odes.common import check
from odes.common.errors import DivergenceError, ParameterError
from odes.finite_width.moments import generalization_error
from odes.finite_width.ode import pack, rhs, rhs_vector, unpack

if TYPE_CHECKING:
    from odes.finite_width.params import FiniteWidthParams


def isotropic_rate(params: FiniteWidthParams) -> tuple[float, float]:
    """(a, gamma) when A = aI and Gamma = gamma I, else ParameterError."""
    a, g = params.a, params.eta * params.a
    if not (np.allclose(a, a[0], rtol=1e-12, atol=0) and np.allclose(g, g[0], rtol=1e-12, atol=0)):
        raise ParameterError("a", "this closed form needs equal second-layer weights a_j and Gamma = gamma I")
    return float(a[0]), float(g[0])


@dataclass(frozen=True)
class Plateau:
    """M = 0 fixed point Q = q I and its linearisation (closed form). ``rho``: escape rates per eigenvalue mu
    of BT (each multiplicity p); ``rate_traceless`` / ``rate_trace``: the stable Q-block rates."""

    q: float
    u: float
    e0: float
    eps: float
    mu: np.ndarray
    rho: np.ndarray
    rate_traceless: float
    rate_trace: float
    gradient_flow: bool

    @property
    def escape_rate(self) -> float:
        """rho = max_k rho_k."""
        return float(np.max(self.rho))

    def state(self, params) -> tuple[np.ndarray, np.ndarray]:
        """(Q, M) = (q I, 0)."""
        return self.q * np.eye(params.p), np.zeros((params.p, params.p_star))


def _bt_invariants(params) -> tuple[float, float, np.ndarray]:
    BT = params.b[:, None] * params.T
    tau = float(np.trace(BT)) + params.c0
    tau2 = float(np.sum(BT * BT.T))
    mu = np.sort(np.linalg.eigvals(BT).real)[::-1]
    return tau, tau2, mu


def plateau(params: FiniteWidthParams, *, gradient_flow: bool = False) -> Plateau:
    """Closed-form plateau fixed point and rates (module docstring). Raises ParameterError if no plateau."""
    a, g = isotropic_rate(params)
    p, D, kappa = params.p, params.noise, params.weight_decay
    eta = g / a
    tau, tau2, mu = _bt_invariants(params)
    taup = tau - kappa / (2.0 * a)
    if gradient_flow:
        u = taup / (p + 2)
        D = 0.0
        g2 = 0.0
    else:
        A2 = g * (p + 2) * (p + 4)
        B1 = -(p + 2) * (1.0 + 2.0 * g * tau)
        C0 = taup + g * (tau**2 + 2.0 * tau2 + D)
        disc = B1 * B1 - 4.0 * A2 * C0
        if disc < 0:
            raise ParameterError("gamma", f"no plateau fixed point for gamma = {g:.6g} (discriminant {disc:.3g} < 0)")
        u = (-B1 - np.sqrt(disc)) / (2.0 * A2)    # smallest root (A2 > 0)
        g2 = g * g
    q = u / a
    e0 = p * u - tau
    eps = 0.5 * e0**2 + p * u**2 + tau2
    rho = 4.0 * g * mu - 2.0 * g * ((p + 2) * u - tau) - kappa * eta
    r_tl = -4.0 * g * (e0 + 4.0 * u) + 4.0 * g2 * (2.0 * eps + 8.0 * e0 * u + 24.0 * u * u + D) - 2.0 * kappa * eta
    r_tr = (-4.0 * g * (p * u + e0 + 4.0 * u)
            + 4.0 * g2 * (2.0 * p * u * (e0 + 2.0 * u) + 2.0 * eps + 4.0 * p * u * u + 8.0 * e0 * u + 24.0 * u * u + D)
            - 2.0 * kappa * eta)
    return Plateau(q=float(q), u=float(u), e0=float(e0), eps=float(eps), mu=mu, rho=rho,
                   rate_traceless=float(r_tl), rate_trace=float(r_tr), gradient_flow=bool(gradient_flow))


# ---- numerical Jacobian ------------------------------------------------------------------------------------
def _sym_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(p)


def jacobian(params: FiniteWidthParams, Q: np.ndarray, M: np.ndarray, *, gradient_flow: bool = False,
             h: float = 1e-6) -> np.ndarray:
    r"""Central-difference Jacobian of the RHS in the coordinates (Q_jl for j <= l, M_jk); error O(h^2).

    Size (p(p+1)/2 + p p*)^2. Perturbing Q_jl moves Q_lj with it, so the chart is the symmetric matrices.
    """
    p, ps = params.p, params.p_star
    iu, ju = _sym_index(p)
    nq = len(iu)

    def f(x):
        Qx = np.zeros((p, p))
        Qx[iu, ju] = x[:nq]
        Qx[ju, iu] = x[:nq]
        dQ, dM = rhs(Qx, x[nq:].reshape(p, ps), params, gradient_flow=gradient_flow)
        return np.concatenate([dQ[iu, ju], dM.ravel()])

    x0 = np.concatenate([np.asarray(Q, float)[iu, ju], np.asarray(M, float).ravel()])
    J = np.empty((len(x0), len(x0)))
    for i in range(len(x0)):
        e = np.zeros_like(x0)
        e[i] = h
        J[:, i] = (f(x0 + e) - f(x0 - e)) / (2.0 * h)
    return J


def jacobian_eigenvalues(params: FiniteWidthParams, Q: np.ndarray, M: np.ndarray, *, gradient_flow: bool = False,
                         h: float = 1e-6) -> np.ndarray:
    """Eigenvalues (real parts, sorted descending) of :func:`jacobian`."""
    ev = np.linalg.eigvals(jacobian(params, Q, M, gradient_flow=gradient_flow, h=h))
    return np.sort(ev.real)[::-1]


def relax_to_plateau(params: FiniteWidthParams, *, gradient_flow: bool = False, alpha: float = 400.0) -> np.ndarray:
    """Q reached by integrating from (Q, M) = (I, 0) (M stays exactly 0): a numerical plateau, for checks."""
    p, ps = params.p, params.p_star
    y0 = pack(np.eye(p), np.zeros((p, ps)))
    sol = solve_ivp(lambda _t, y: rhs_vector(y, params, gradient_flow=gradient_flow), (0.0, alpha), y0,
                    method="DOP853", rtol=1e-12, atol=1e-14)
    if sol.status != 0 or not np.all(np.isfinite(sol.y[:, -1])):
        raise DivergenceError("plateau relaxation failed", time=float(sol.t[-1]))
    return unpack(sol.y[:, -1], p, ps)[0]


# ---- escape time ---------------------------------------------------------------------------------------------
def escape_time_slope(params: FiniteWidthParams, *, gradient_flow: bool = False) -> float:
    """d alpha_esc / d ln N = 1 / (2 rho) (spec 6.3)."""
    rho = plateau(params, gradient_flow=gradient_flow).escape_rate
    if rho <= 0:
        raise ParameterError("gamma", f"the plateau is stable (rho = {rho:.3g} <= 0): no escape")
    return 1.0 / (2.0 * rho)


def _check_level(level: float) -> float:
    return check.real("level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def ode_escape_time(params: FiniteWidthParams, Q0: np.ndarray, M0: np.ndarray, *, level: float = 0.5,
                    alpha_max: float = 1e4, gradient_flow: bool = False,
                    rtol: float = 1e-10) -> float:
    """First alpha at which eps_g falls below ``level`` x eps_pl (ODE from (Q0, M0); DOP853 with an event).

    ``level`` in (0, 1). If eps_g stays above the level up to ``alpha_max`` -- the run settles on a fixed point
    or saddle above it (a rank-deficient M0, p < p*, label noise or weight decay), or escapes too slowly -- a
    ParameterError naming ``level`` gives the lowest ratio eps_g / eps_pl reached (levels above it are reachable
    in that run); a non-finite state raises DivergenceError.
    """
    level = _check_level(level)
    alpha_max = check.positive("alpha_max", alpha_max)
    p, ps = params.p, params.p_star
    eps_pl = plateau(params, gradient_flow=gradient_flow).eps
    target = level * eps_pl

    def eps_of(y):
        Q, M = unpack(y, p, ps)
        return generalization_error(0.5 * (Q + Q.T), M, params)

    def ev(_t, y):
        return eps_of(y) - target

    ev.terminal = True
    ev.direction = -1
    sol = solve_ivp(lambda _t, y: rhs_vector(y, params, gradient_flow=gradient_flow), (0.0, alpha_max),
                    pack(Q0, M0), method="DOP853", rtol=rtol, atol=rtol * 1e-2, events=ev)
    if not np.all(np.isfinite(sol.y[:, -1])):
        raise DivergenceError("escape run diverged", time=float(sol.t[-1]))
    if len(sol.t_events[0]) == 0:
        if sol.status != 0:
            raise DivergenceError(f"escape run failed: {sol.message}", time=float(sol.t[-1]))
        reached = min(eps_of(y) for y in sol.y.T) / eps_pl
        raise ParameterError("level", f"eps_g never falls below {level:g} x eps_pl before alpha_max = "
                                      f"{alpha_max:g}: the lowest value reached is {reached:.4g} x eps_pl (the "
                                      f"run settles above the level: a zero singular value of M0, p < p*, label "
                                      f"noise or weight decay, or a slower escape than alpha_max allows); valid "
                                      f"range here ({reached:.4g}, 1)")
    return float(sol.t_events[0][0])


def _isotropic_teacher(params: FiniteWidthParams) -> bool:
    """B = bI and T = tI (then the plateau dynamics is equivariant under rotations of the teacher space)."""
    b, T = params.b, params.T
    return bool(np.allclose(b, b[0], rtol=1e-12, atol=0)
                and np.allclose(T, T[0, 0] * np.eye(T.shape[0]), rtol=1e-12, atol=1e-14 * abs(T[0, 0])))


def predicted_escape_time(params: FiniteWidthParams, N: float | np.ndarray, *,
                          s: float | np.ndarray | None = None, s_max: float | None = None,
                          level: float = 0.5, gradient_flow: bool = False, N_ref: float = 1e8,
                          alpha_max: float = 1e4) -> np.ndarray:
    r"""Escape time alpha_esc(N) (eps_g crossing ``level`` x eps_pl) from a start M0 whose scaled singular values
    s_1 >= ... >= s_k (k = min(p, p*)) are those of sqrt(N) M0, with Q_perp(0) = I (spec 6.3, all directions):

    .. math:: \alpha_{esc}(N) = \frac{\ln(N/N_{ref})}{2\rho} - \frac{\ln s_1}{\rho}
              + \alpha_{ref}(s_2/s_1, \dots, s_k/s_1),

    where alpha_ref is the ODE crossing time (:func:`ode_escape_time`) from M_ref = diag(s/s_1)/sqrt(N_ref),
    Q_ref = I + M_ref T^{-1} M_ref^T. Reason: on the plateau (Q = qI + O(|M|^2), and during the relaxation of Q
    from I, where Q stays a multiple of I) dM/dalpha = K M + 4 gamma M BT with K a multiple of I, so with B = bI,
    T = tI one has M(alpha) = phi(alpha) M0 with a scalar phi ~ e^{rho alpha}: every teacher direction (singular
    pair of M0) escapes at its own time ln(sqrt(N)/s_i)/rho + O(1), and the level crossing depends on M0 only
    through phi(alpha) s_i / sqrt(N) (the singular vectors drop out by rotation invariance of the ODE). Rescaling
    all s_i/sqrt(N) by a common factor shifts the curve in alpha by -ln(factor)/rho, which is the formula.
    Neglected: the O(s_1^2/N) quadratic terms of the ODE before the escape (shift O(s_1^2/(rho N)) in alpha).
    Not included (not in the ODE): the O(N^{-1/2}) fluctuations of Q_perp(0) and the SGD noise collected on the
    plateau, which make finite-N SGD escape times O(1)-random (spec 6.3).

    ``s``: all k singular values of sqrt(N) M0 (a float when k = 1); ``s_max`` is the same for k = 1 (old name;
    default 1). For k > 1 only all singular values determine the escape (a rank-1 start learns one direction and
    stalls), and the closed form needs B = bI and T = tI (equal rates; ParameterError otherwise). A level below
    what the reference run reaches (zero s_i, p < p*, noise) raises ParameterError('level').
    """
    N = np.atleast_1d(np.asarray(N, float))
    if N.size == 0 or not np.all(np.isfinite(N)) or np.any(N <= 0):
        raise ParameterError("N", "must be finite and > 0")
    level = _check_level(level)
    N_ref = check.positive("N_ref", N_ref)
    p, ps = params.p, params.p_star
    k = min(p, ps)
    if s is None and s_max is None:
        if k > 1:
            raise ParameterError("s", f"give all min(p, p*) = {k} singular values of sqrt(N) M0: each teacher "
                                      "direction escapes at its own time")
        s = 1.0
    elif s is None:
        if k > 1:
            raise ParameterError("s_max", f"with min(p, p*) = {k} > 1 the escape depends on every singular value "
                                          "of sqrt(N) M0, not only the largest; pass s=(s_1, ..., s_k) instead")
        s = s_max
    elif s_max is not None:
        raise ParameterError("s_max", "give either s or s_max, not both")
    sv = check.array("s", np.atleast_1d(np.asarray(s, float)), shape=(None,))
    if sv.size != k or np.any(sv < 0) or not np.any(sv > 0):
        raise ParameterError("s" if s_max is None else "s_max",
                             f"must be the {k} singular values (>= 0, largest > 0) of sqrt(N) M0, got {sv}")
    sv = np.sort(sv)[::-1]
    if ps > 1 and not _isotropic_teacher(params):
        raise ParameterError("b", "the multi-direction escape time needs equal teacher weights b_k and T = tI "
                                  "(equal escape rates); integrate the ODE (ode_escape_time) instead")
    rho = plateau(params, gradient_flow=gradient_flow).escape_rate
    if rho <= 0:
        raise ParameterError("gamma", f"the plateau is stable (rho = {rho:.3g} <= 0): no escape")
    M0 = np.zeros((p, ps))
    M0[np.arange(k), np.arange(k)] = sv / sv[0] / np.sqrt(N_ref)
    Q0 = np.eye(p) + M0 @ np.linalg.solve(params.T, M0.T)
    a_ref = ode_escape_time(params, Q0, M0, level=level, gradient_flow=gradient_flow, alpha_max=alpha_max)
    return a_ref + np.log(N / N_ref) / (2.0 * rho) - np.log(sv[0]) / rho


def escape_rate_from_jacobian(params: FiniteWidthParams, *, gradient_flow: bool = False, h: float = 1e-6) -> float:
    """rho from the numerical Jacobian: the largest eigenvalue of :func:`jacobian` at the closed-form plateau
    (an independent check of :attr:`Plateau.escape_rate`)."""
    pl = plateau(params, gradient_flow=gradient_flow)
    return float(jacobian_eigenvalues(params, *pl.state(params), gradient_flow=gradient_flow, h=h)[0])
