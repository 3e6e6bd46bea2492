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
initialisation, so alpha_esc = (1/(2 rho)) ln N - (1/rho) ln s_max(sqrt(N) M0) + C(p, p*, gamma): the slope
d alpha_esc / d ln N is 1/(2 rho) with rho = max_k rho_k. The constant C is obtained here by one reference ODE
run (:func:`predicted_escape_time`).
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


def ode_escape_time(params: FiniteWidthParams, Q0: np.ndarray, M0: np.ndarray, *, level: float = 0.5,
                    alpha_max: float = 1e4, gradient_flow: bool = False,
                    rtol: float = 1e-10) -> float:
    """First alpha at which eps_g falls below ``level`` x eps_pl (ODE from (Q0, M0); DOP853 with an event)."""
    p, ps = params.p, params.p_star
    target = level * plateau(params, gradient_flow=gradient_flow).eps

    def ev(_t, y):
        Q, M = unpack(y, p, ps)
        return generalization_error(0.5 * (Q + Q.T), M, params) - target

    ev.terminal = True
    ev.direction = -1
    sol = solve_ivp(lambda _t, y: rhs_vector(y, params, gradient_flow=gradient_flow), (0.0, alpha_max),
                    pack(Q0, M0), method="DOP853", rtol=rtol, atol=rtol * 1e-2, events=ev)
    if not np.all(np.isfinite(sol.y[:, -1])):
        raise DivergenceError("escape run diverged", time=float(sol.t[-1]))
    if len(sol.t_events[0]) == 0:
        raise DivergenceError(f"no escape before alpha = {alpha_max:g}", time=float(sol.t[-1]))
    return float(sol.t_events[0][0])


def predicted_escape_time(params: FiniteWidthParams, N: float | np.ndarray, *, s_max: float = 1.0,
                          level: float = 0.5, gradient_flow: bool = False,
                          N_ref: float = 1e8) -> np.ndarray:
    r"""alpha_esc(N) = (1/(2 rho)) ln(N/N_ref) - (1/rho) ln s_max + alpha_ref (spec 6.3), for an initial overlap
    M0 = s_max e1 f1^T / sqrt(N) (largest singular value s_max / sqrt(N)) and Q_perp(0) = I.

    alpha_ref is the ODE escape time (``level``, see :func:`ode_escape_time`) at N_ref with s_max = 1, taken along
    the top singular pair of BT; the formula is asymptotic in N (corrections O(1/sqrt N)).
    """
    N = np.atleast_1d(np.asarray(N, float))
    if np.any(N <= 0):
        raise ParameterError("N", "must be > 0")
    s_max = check.positive("s_max", s_max)
    p, ps = params.p, params.p_star
    BT = params.b[:, None] * params.T
    w, V = np.linalg.eig(BT.T)                          # left eigenvector of BT for mu_max: M = e1 v^T grows
    v = V[:, int(np.argmax(w.real))].real
    M0 = np.zeros((p, ps))
    M0[0] = v / np.linalg.norm(v) / np.sqrt(N_ref)
    Q0 = np.eye(p) + M0 @ np.linalg.solve(params.T, M0.T)
    a_ref = ode_escape_time(params, Q0, M0, level=level, gradient_flow=gradient_flow)
    rho = plateau(params, gradient_flow=gradient_flow).escape_rate
    out = a_ref + np.log(N / N_ref) / (2.0 * rho) - np.log(s_max) / rho
    return out


def escape_rate_from_jacobian(params: FiniteWidthParams, *, gradient_flow: bool = False, h: float = 1e-6) -> float:
    """rho from the numerical Jacobian: the largest eigenvalue of :func:`jacobian` at the closed-form plateau
    (an independent check of :attr:`Plateau.escape_rate`)."""
    pl = plateau(params, gradient_flow=gradient_flow)
    return float(jacobian_eigenvalues(params, *pl.state(params), gradient_flow=gradient_flow, h=h)[0])
