r"""Matrix Riccati core of the population gradient flows of quadratic networks, for S = W W^T (d x d).

Two flows (x ~ N(0, I_d), student f_W(x) = x^T S x, teacher x^T S^* x):

* **(A)** loss :math:`L = \tfrac12\|S-S^*\|_F^2 + \tfrac14(\operatorname{Tr}(S-S^*))^2`, gradient flow
  dW/dt = -(2(S-S*) + Tr(S-S*) I) W, i.e.

  .. math:: \dot S = 2(S^*S + SS^*) - 4S^2 - 2\operatorname{Tr}(S-S^*)\,S .

* **(B)** centred He2 student/teacher, risk :math:`R = \|S-S^*\|_F^2`, dW/dt = -4(S-S*)W, i.e.

  .. math:: \dot S = 4(S^*S + SS^*) - 8S^2 .

Riccati lemma (R): for :math:`\dot Y = AY + YA - c\,h(t)\,Y^2`, :math:`Y(0) = W_0W_0^\top`,

.. math:: Y(t) = e^{tA}W_0\Big[I_m + c\,W_0^\top\Big(\int_0^t h(u)e^{2uA}du\Big)W_0\Big]^{-1}W_0^\top e^{tA}.

* (B): A = 4S*, c = 8, h = 1, so :math:`S(t) = e^{4tS^*}W_0[I_m + W_0^\top\Phi_tW_0]^{-1}W_0^\top e^{4tS^*}`
  with :math:`\Phi_t = (e^{8tS^*}-I)/S^*` (= 8t on ker S*).
* (A): with :math:`\Phi(t) = \int_0^t\operatorname{Tr}(S-S^*)`, Y = e^{2Phi} S solves (R) with A = 2S*,
  c = 4, h = e^{-2Phi}:
  :math:`S(t) = e^{-2\Phi}e^{2tS^*}W_0[I_m + 4W_0^\top M(t) W_0]^{-1}W_0^\top e^{2tS^*}`,
  :math:`M(t) = \int_0^t e^{-2\Phi(u)}e^{4uS^*}du`. The only self-consistent unknown is the scalar
  :math:`\Phi` (:math:`\Phi' = \operatorname{Tr}S - \operatorname{Tr}S^*`). In the eigenbasis of S* (distinct
  eigenvalues mu_k) M is diagonal, so :func:`closed_form_uncentered` integrates the n_distinct + 1 scalar ODEs
  :math:`\Phi' = \operatorname{Tr}S(t;\Phi, M) - \operatorname{Tr}S^*`, :math:`M_k' = e^{-2\Phi}e^{4t\mu_k}` and
  evaluates S(t) by the formula above.

Numerics: :func:`integrate_matrix_flow` integrates all d^2 entries of S (right-hand side symmetrised) with
scipy's DOP853 (explicit Runge-Kutta of order 8, error estimator of order 5/3) or, for stiff problems, Radau
(implicit, order 5); ``rtol``/``atol`` are exposed. Convergence check: rerun with rtol/100 and compare
(:func:`convergence_check`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.integrate import solve_ivp

from odes.common import check
from odes.common.deprecation import deprecated_alias
from odes.common.errors import ConvergenceError, DivergenceError, ParameterError
from odes.common.numerics import time_grid, tolerance_check
from odes.common.result import Result, coordinate, variable

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

#: the two flows by name: "uncentered" is model (A) (activation z^2, loss with the trace term), "centered" is
#: model (B) (centred He2 features z^2 - 1); the paper letters "A"/"B" are accepted with a DeprecationWarning
MODELS = ("uncentered", "centered")
_OLD_MODEL_NAMES = {"A": "uncentered", "B": "centered"}


def model_name(model: str) -> str:
    """The model name of :data:`MODELS`; the deprecated letters 'A'/'B' are mapped (with a DeprecationWarning)."""
    if model in _OLD_MODEL_NAMES:
        new = _OLD_MODEL_NAMES[model]
        warnings.warn(f"model={model!r} is deprecated, use model={new!r}", DeprecationWarning, stacklevel=3)
        return new
    if model not in MODELS:
        raise ParameterError("model", f"must be one of {MODELS}, got {model!r}")
    return model


def rhs_uncentered(S: np.ndarray, S_star: np.ndarray) -> np.ndarray:
    """dS/dt of model (A): 2(S*S + SS*) - 4S^2 - 2 Tr(S - S*) S. Shapes (d, d)."""
    SS = S_star @ S
    return 2.0 * (SS + SS.T) - 4.0 * (S @ S) - 2.0 * np.trace(S - S_star) * S


def rhs_centered(S: np.ndarray, S_star: np.ndarray) -> np.ndarray:
    """dS/dt of model (B): 4(S*S + SS*) - 8S^2. Shapes (d, d)."""
    SS = S_star @ S
    return 4.0 * (SS + SS.T) - 8.0 * (S @ S)


def loss_uncentered(S: np.ndarray, S_star: np.ndarray) -> float:
    """Population loss of (A): 1/2 ||S - S*||_F^2 + 1/4 (Tr(S - S*))^2 (= 1/4 E[(f_W - f*)^2])."""
    D = S - S_star
    return float(0.5 * np.sum(D * D) + 0.25 * np.trace(D) ** 2)


def risk_centered(S: np.ndarray, S_star: np.ndarray) -> float:
    """Population risk of (B): ||S - S*||_F^2 (= 1/2 E[(f_W - f*)^2] with centred He2 features)."""
    D = S - S_star
    return float(np.sum(D * D))


rhs_a = deprecated_alias("rhs_a", rhs_uncentered)
rhs_b = deprecated_alias("rhs_b", rhs_centered)
loss_a = deprecated_alias("loss_a", loss_uncentered)
risk_b = deprecated_alias("risk_b", risk_centered)

_RHS = {"uncentered": rhs_uncentered, "centered": rhs_centered}
_LOSS = {"uncentered": loss_uncentered, "centered": risk_centered}


_LOSS_NAMES = {"uncentered": "population loss L = 1/2 ||S - S*||_F^2 + 1/4 (Tr(S - S*))^2 (= 1/4 E[(f_W - f*)^2], "
                             "test error)",
               "centered": "population risk R = ||S - S*||_F^2 (= 1/2 E[(f_W - f*)^2], test error)"}
_LOSS_NAMES.update({"A": _LOSS_NAMES["uncentered"], "B": _LOSS_NAMES["centered"]})  # results saved before 0.2


@dataclass(frozen=True, eq=False, repr=False)
class MatrixFlowResult(Result):
    """S(t) on a time grid. ``S`` has shape (n_t, d, d); ``loss`` (n_t,) is L (model A) or R (model B).

    Labelled data (:meth:`to_xarray`), a curve along the gradient-flow time ``t``: ``test_error`` (= ``loss``) and
    ``S`` (t, i, j); attributes ``model``, ``method``, ``rtol``, ``atol``."""

    curve_coord = "t"  # plain class attribute (not a dataclass field)

    model: str
    method: str
    t: np.ndarray
    S: np.ndarray
    loss: np.ndarray
    rtol: float
    atol: float

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset (see the class docstring)."""
        d = self.S.shape[1]
        return self.dataset(
            {"test_error": variable("t", self.loss, _LOSS_NAMES[self.model]),
             "S": variable(("t", "i", "j"), self.S, "S = W W^T (d x d)")},
            coords={"t": coordinate("t", self.t, "gradient-flow time t"),
                    "i": coordinate("i", np.arange(d), "input coordinate index"),
                    "j": coordinate("j", np.arange(d), "input coordinate index (second)")},
            attrs={"model": self.model, "method": self.method, "rtol": self.rtol, "atol": self.atol})


def _check_inputs(W0: np.ndarray, S_star: np.ndarray, times: Sequence[float], model: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    W0 = check.array("W0", W0)
    if W0.ndim != 2:
        raise ParameterError("W0", f"must be a d x m matrix, got shape {W0.shape}")
    d = W0.shape[0]
    S_star = check.symmetric_psd("S_star", S_star, d)
    return W0, S_star, time_grid("times", times)


def integrate_matrix_flow(W0: np.ndarray, S_star: np.ndarray, times: Sequence[float], *, model: str = "uncentered",
                          method: str = "DOP853", rtol: float = 1e-11, atol: float = 1e-14, form: str = "S"
                          ) -> MatrixFlowResult:
    """Integrate the gradient flow of ``model`` ('uncentered' = (A) or 'centered' = (B)) from S(0) = W0 W0^T.

    ``form='S'``: the d x d matrix ODE for S (all d^2 entries, right-hand side symmetrised).
    ``form='W'``: the same flow for the factor W (d x m): dW/dt = -(2(S - S*) + Tr(S - S*) I) W (A) or
    -4(S - S*) W (B), S = W W^T. Equivalent in exact arithmetic; the S form is unstable to rounding when the
    PSD rank-m manifold is repelling (model A with m < m*: rank-increasing directions inside the teacher
    space grow at rate 4/m*, and a negative eigenvalue then blows up through -4S^2), so use 'W' there.
    ``method``: 'DOP853' (explicit, order 8) or 'Radau' (implicit order 5, for stiff runs: the trace term
    of (A) relaxes at rate ~2 Tr S). Raises DivergenceError on non-finite states, ConvergenceError if the
    solver fails.
    """
    model = model_name(model)
    W0, S_star, t = _check_inputs(W0, S_star, times, model)
    if method not in ("DOP853", "Radau", "LSODA", "BDF", "RK45"):
        raise ParameterError("method", f"must be 'DOP853' or 'Radau' (or LSODA/BDF/RK45), got {method!r}")
    if form not in ("S", "W"):
        raise ParameterError("form", f"must be 'S' or 'W', got {form!r}")
    d, m = W0.shape
    f = _RHS[model]
    tr_star = float(np.trace(S_star))

    if form == "S":
        def rhs(_t, y):
            S = y.reshape(d, d)
            S = 0.5 * (S + S.T)
            dS = f(S, S_star)
            if not np.all(np.isfinite(dS)):
                raise DivergenceError(f"matrix flow ({model}) produced non-finite values", time=_t)
            return dS.ravel()
        y0 = (W0 @ W0.T).ravel()
    else:
        def rhs(_t, y):
            W = y.reshape(d, m)
            G = W.T @ W
            SW = W @ G
            if model == "uncentered":
                dW = -(2.0 * (SW - S_star @ W) + (np.trace(G) - tr_star) * W)
            else:
                dW = -4.0 * (SW - S_star @ W)
            if not np.all(np.isfinite(dW)):
                raise DivergenceError(f"weight flow ({model}) produced non-finite values", time=_t)
            return dW.ravel()
        y0 = W0.ravel()

    sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method=method, t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:
        hint = " (the S form is unstable when m < m*; try form='W')" if form == "S" else ""
        raise ConvergenceError(f"matrix flow ({model}, {method}) failed: {sol.message}{hint}")
    if form == "S":
        S = sol.y.T.reshape(len(t), d, d)
    else:
        Wt = sol.y.T.reshape(len(t), d, m)
        S = Wt @ np.swapaxes(Wt, 1, 2)
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    loss = np.array([_LOSS[model](Sk, S_star) for Sk in S])
    return MatrixFlowResult(model=model, method=f"{method}/{form}", t=t, S=S, loss=loss, rtol=rtol, atol=atol)


def _distinct(mu: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``mu`` (up to tol) and the index map mu[i] = vals[idx[i]]."""
    order = np.argsort(mu)
    vals: list[float] = []
    idx = np.empty(mu.size, dtype=int)
    for i in order:
        if not vals or abs(mu[i] - vals[-1]) > tol * max(1.0, abs(mu[i])):
            vals.append(float(mu[i]))
        idx[i] = len(vals) - 1
    return np.array(vals), idx


def closed_form_uncentered(W0: np.ndarray, S_star: np.ndarray, times: Sequence[float], *, rtol: float = 1e-12,
                  atol: float = 1e-15) -> MatrixFlowResult:
    """Closed form of flow (A) through Phi(t) = int_0^t Tr(S - S*) (Riccati lemma R; see module doc).

    S(t) = e^{-2 Phi} e^{2tS*} W0 [I + 4 W0^T M(t) W0]^{-1} W0^T e^{2tS*}, M(t) = int_0^t e^{-2Phi} e^{4uS*} du.
    The scalars (Phi, M_k for each distinct eigenvalue mu_k of S*) are integrated with DOP853; S(t) is then
    evaluated by the formula. Valid for moderate t*||S*|| (no rescaling against overflow of e^{4tS*}).
    """
    W0, S_star, t = _check_inputs(W0, S_star, times, "uncentered")
    m = W0.shape[1]
    mu_all, V = np.linalg.eigh(S_star)
    vals, idx = _distinct(mu_all)
    Wt = V.T @ W0  # (d, m) in the S* eigenbasis
    tr_star = float(np.sum(mu_all))
    # Gram blocks per distinct eigenvalue: Wt_k^T Wt_k, summed over eigenvectors with that eigenvalue
    blocks = np.zeros((vals.size, m, m))
    for i in range(mu_all.size):
        blocks[idx[i]] += np.outer(Wt[i], Wt[i])

    def trace_s(tt: float, phi: float, M: np.ndarray) -> float:
        K = np.eye(m) + 4.0 * np.einsum("k,kab->ab", M, blocks)
        B = np.einsum("k,kab->ab", np.exp(4.0 * tt * vals), blocks)  # W0^T e^{4tS*} W0
        return float(np.exp(-2.0 * phi) * np.trace(np.linalg.solve(K, B)))

    def rhs(tt, y):
        phi, M = y[0], y[1:]
        dM = np.exp(-2.0 * phi + 4.0 * tt * vals)
        out = np.concatenate(([trace_s(tt, phi, M) - tr_star], dM))
        if not np.all(np.isfinite(out)):
            raise DivergenceError("closed form (A): non-finite Phi or M", time=tt)
        return out

    sol = solve_ivp(rhs, (0.0, float(t[-1])), np.zeros(1 + vals.size), method="DOP853", t_eval=t,
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise ConvergenceError(f"closed form (A): scalar integration failed: {sol.message}")
    S = np.empty((t.size, W0.shape[0], W0.shape[0]))
    for n, tt in enumerate(t):
        phi, M = sol.y[0, n], sol.y[1:, n]
        K = np.eye(m) + 4.0 * np.einsum("k,kab->ab", M, blocks)
        X = V @ (np.exp(2.0 * tt * mu_all)[:, None] * Wt)  # e^{2tS*} W0
        S[n] = np.exp(-2.0 * phi) * X @ np.linalg.solve(K, X.T)
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    loss = np.array([loss_uncentered(Sk, S_star) for Sk in S])
    return MatrixFlowResult(model="uncentered", method="closed_form", t=t, S=S, loss=loss, rtol=rtol, atol=atol)


def phi_matrix_b(S_star: np.ndarray, t: float) -> np.ndarray:
    """Phi_t = (e^{8tS*} - I)/S* (functional calculus; = 8t on ker S*). Shape (d, d)."""
    mu, V = np.linalg.eigh(S_star)
    x = 8.0 * t * mu
    f = np.where(np.abs(mu) > 1e-300, np.expm1(x) / np.where(mu == 0, 1.0, mu), 8.0 * t)
    return (V * f) @ V.T


def closed_form_centered(W0: np.ndarray, S_star: np.ndarray, times: Sequence[float]) -> MatrixFlowResult:
    """Closed form of flow (B): S(t) = e^{4tS*} W0 [I_m + W0^T Phi_t W0]^{-1} W0^T e^{4tS*} (Riccati lemma R).

    Direct evaluation (no rescaling); raises DivergenceError if e^{8t||S*||} overflows -- use
    :func:`odes.population.powerlaw.teacher_block_curve` or :class:`~odes.population.powerlaw.RestartPropagator`
    for long times.
    """
    W0, S_star, t = _check_inputs(W0, S_star, times, "centered")
    m = W0.shape[1]
    mu, V = np.linalg.eigh(S_star)
    S = np.empty((t.size, W0.shape[0], W0.shape[0]))
    with np.errstate(over="ignore", invalid="ignore"):
        for n, tt in enumerate(t):
            K = np.eye(m) + W0.T @ phi_matrix_b(S_star, tt) @ W0
            X = V @ (np.exp(4.0 * tt * mu)[:, None] * (V.T @ W0))
            if not (np.all(np.isfinite(K)) and np.all(np.isfinite(X))):
                raise DivergenceError("closed form (B) overflowed; use powerlaw.teacher_block_curve", time=tt)
            S[n] = X @ np.linalg.solve(0.5 * (K + K.T), X.T)
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    loss = np.array([risk_centered(Sk, S_star) for Sk in S])
    return MatrixFlowResult(model="centered", method="closed_form", t=t, S=S, loss=loss, rtol=0.0, atol=0.0)


def convergence_check(W0: np.ndarray, S_star: np.ndarray, times: Sequence[float], *, model: str = "uncentered",
                      method: str = "DOP853", rtol: float = 1e-9) -> float:
    """Max |loss(rtol) - loss(rtol/100)| over the grid: an a-posteriori error estimate of the integration."""
    return tolerance_check(
        lambda r: integrate_matrix_flow(W0, S_star, times, model=model, method=method, rtol=r, atol=r * 1e-3).loss,
        rtol)


closed_form_a = deprecated_alias("closed_form_a", closed_form_uncentered)
closed_form_b = deprecated_alias("closed_form_b", closed_form_centered)
