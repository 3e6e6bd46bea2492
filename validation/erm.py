r"""Finite-d empirical risk minimisation for the extensive-width model (checks of :mod:`dmft.stationary`).

Data (conventions of :mod:`dmft.params`; the instance is :func:`validation.extensive_instance.draw_instance`,
shared with the GD simulator): ``x_mu ~ N(0, I_d)``, ``n = max(1, round(alpha d^2))``, teacher
``S* = W*^T W*/m*`` (``m* = round(kappa* d)``, iid N(0, 1) entries), labels ``y = Tr(S* Z) + sqrt(Delta) xi``.

Sensing ensembles:

* ``"wishart"`` (the real model): ``Z = (x x^T - I)/sqrt(d)``, never formed: ``Tr(S Z_mu) = (x^T S x - Tr S)/sqrt d``
  and ``sum_mu r_mu Z_mu = (X^T diag(r) X - (sum r) I)/sqrt d`` (cost O(n d^2), memory O(n d));
* ``"goe"`` (the Gaussian-equivalent model): ``vec_p(Z_mu)`` iid ``N(0, (2/d) I_p)`` with
  ``vec_p(A) = (A_ii; sqrt2 A_ij, i<j)``, ``p = d(d+1)/2``, stored as an ``n x p`` design (use d <= 70).

Both have ``E Tr(AZ) Tr(BZ) = (2/d) Tr(AB)``.

Solvers:

* :func:`solve_convex` (kappa >= 1): FISTA with adaptive (gradient) restart on
  ``F(S) = (d/(4n)) sum_mu (y_mu - Tr S Z_mu)^2 + lam Tr S`` over ``S >= 0``; the prox is
  ``U max(Lambda - t lam, 0) U^T`` (PSD projection + trace penalty), step ``t = 1/L`` with L the top eigenvalue
  of the Hessian ``V -> (d/(2n)) sum Tr(V Z) Z`` (power iteration, +5 %). Stops when the fixed-point residual
  ``||S_{k+1} - V_k||_F / (t ||S_{k+1}||_F + eps)`` (relative norm of the gradient mapping, which vanishes
  exactly at the KKT point) is below ``tol``. Convergence: F(S_k) - F* = O(1/k^2) (Nesterov), linear when the
  data term is strongly convex (alpha > 1/2: more samples than the d(d+1)/2 unknowns) or restricted-strongly convex
  around a low-rank minimiser, which the adaptive restart exploits.
* :func:`solve_gd_rank` (kappa < 1): gradient descent ``W <- W (I - eta (G + lam I))`` (adaptive stable eta),
  ``G = (d/(2n)) sum_mu (yhat_mu - y_mu) Z_mu``, on ``W`` of shape ``(m, d)``, ``m = round(kappa d)``, from small
  init ``W0 = sigma0 N(0, 1)``; stops when ``||G + lam||`` restricted to the row space,
  ``||W (G + lam)||_F / ||W||_F``, is below ``tol`` (first-order stationarity) or at ``max_steps``.

Errors: ``test = (2/d) Tr (S - S*)^2`` (exact for Gaussian inputs), ``train = mean (y - yhat)^2``,
``rank fraction = #{eig(S) > rank_tol * max(eig)}/d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import ConvergenceError, DivergenceError, ParameterError
from odes.common.random_matrices import probes, unvec_p, vec_p  # vec_p/unvec_p re-exported (old import path)
from validation.extensive_instance import SENSINGS, draw_instance  # noqa: F401  (SENSINGS: old name)

__all__ = ["ERMInstance", "ERMResult", "make_instance", "solve_convex", "solve_gd_rank", "solve_erm",
           "erm_memory_bytes", "check_erm_memory"]

@dataclass(frozen=True)
class ERMInstance:
    """One finite-d data set. ``X`` (n, d) for Wishart sensing; ``A`` (n, p) design for GOE sensing."""

    d: int
    n: int
    sensing: str
    S_star: np.ndarray
    y: np.ndarray
    X: np.ndarray | None = None
    A: np.ndarray | None = None

    # ---- linear operators ------------------------------------------------------------------------------
    def predict(self, S: np.ndarray) -> np.ndarray:
        """``yhat_mu = Tr(S Z_mu)``, shape (n,)."""
        if self.sensing == "wishart":
            XS = self.X @ S
            return (np.einsum("ij,ij->i", XS, self.X) - np.trace(S)) / math.sqrt(self.d)
        return self.A @ vec_p(S)

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        """``sum_mu r_mu Z_mu`` (d, d)."""
        if self.sensing == "wishart":
            M = (self.X.T * r) @ self.X
            M[np.diag_indices(self.d)] -= r.sum()
            return M / math.sqrt(self.d)
        return unvec_p(self.A.T @ r, self.d)

    def grad_matrix(self, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``G = (d/(2n)) sum (yhat - y) Z`` and the residual ``yhat - y``."""
        r = self.predict(S) - self.y
        return (self.d / (2.0 * self.n)) * self.adjoint(r), r

    def hessian_norm(self, iters: int = 30, seed: int = 0) -> float:
        """Top eigenvalue of ``V -> (d/(2n)) sum Tr(V Z) Z`` by power iteration."""
        rng = np.random.default_rng(seed)
        V = probes(rng, 1, self.d)[0]
        top = 0.0
        for _ in range(iters):
            V /= np.linalg.norm(V)
            HV = (self.d / (2.0 * self.n)) * self.adjoint(self.predict(V))
            top = float(np.sum(HV * V))
            V = HV
        return top

    def test_error(self, S: np.ndarray) -> float:
        D = S - self.S_star
        return 2.0 / self.d * float(np.sum(D * D))

    def train_error(self, S: np.ndarray) -> float:
        return float(np.mean((self.y - self.predict(S)) ** 2))


def erm_memory_bytes(n: float, d: int, sensing: str) -> float:
    r"""Estimated bytes of the float64 arrays of one ERM instance and its solver (p = d(d+1)/2):

        wishart: 8 (3 n d + 4 n + 10 d^2)   (X; the X S and X^T diag(r) temporaries; y, noise, residuals;
                                              S, V, G, eigenvectors ... d x d)
        goe:     8 (2 n p + 4 n + 10 d^2)   (design A, twice while it is drawn and scaled; same vectors/matrices)
    """
    d = float(d)
    if sensing == "wishart":
        return 8.0 * (3.0 * n * d + 4.0 * n + 10.0 * d * d)
    return 8.0 * (2.0 * n * (d * (d + 1) / 2.0) + 4.0 * n + 10.0 * d * d)


def check_erm_memory(params: ExtensiveWidthParams, d: int, sensing: str) -> None:
    """ParameterError('d') if an ERM instance at dimension d cannot fit in memory (:func:`erm_memory_bytes`)."""
    from odes.common.resources import check_memory
    n = max(1.0, params.alpha * float(d) * float(d))
    check_memory("d", erm_memory_bytes(n, d, sensing),
                   f"the ERM at d = {float(d):.6g} (n = alpha d^2 = {n:.4g} samples, {sensing} sensing)")


def make_instance(params: ExtensiveWidthParams, d: int, seed: int, sensing: str = "wishart") -> ERMInstance:
    """Draw teacher, inputs and noisy labels: the shared instance :func:`validation.extensive_instance.draw_instance`
    (stream ``SeedSequence([seed, d])``, ``n = max(1, round(alpha d^2))``), the same as the GD simulator's."""
    d = check.integer("d", d, lo=2)
    if sensing not in SENSINGS:
        raise ParameterError("sensing", f"must be one of {SENSINGS}, got {sensing!r}")
    check_erm_memory(params, d, sensing)
    shared = draw_instance(params, d, seed, sensing)
    d, n, S_star = shared.d, shared.n, shared.S_star
    if sensing == "wishart":
        inst = ERMInstance(d, n, sensing, S_star, np.zeros(n), X=shared.X)
    else:
        inst = ERMInstance(d, n, sensing, S_star, np.zeros(n), A=shared.goe_design())
    y = inst.predict(S_star) + shared.noise
    return ERMInstance(d, n, sensing, S_star, y, X=inst.X, A=inst.A)


@dataclass(frozen=True)
class ERMResult:
    """Minimiser summary: ``eigenvalues`` of S (ascending), errors, iterations, final residual."""

    d: int
    test_error: float
    train_error: float
    rank_fraction: float
    eigenvalues: np.ndarray
    iterations: int
    residual: float
    converged: bool
    method: str
    S: np.ndarray | None = None  # the minimiser itself (only with keep_matrix=True)


def _summarise(inst: ERMInstance, S: np.ndarray, it: int, res: float, conv: bool, method: str,
               rank_tol: float, keep: bool = False) -> ERMResult:
    ev = np.linalg.eigvalsh(S)
    top = max(float(ev[-1]), 1e-300)
    return ERMResult(inst.d, inst.test_error(S), inst.train_error(S), float(np.mean(ev > rank_tol * top)), ev,
                     it, float(res), bool(conv), method, S.copy() if keep else None)


def solve_convex(inst: ERMInstance, lam: float, *, tol: float = 1e-7, max_iter: int = 20000,
                 rank_tol: float = 1e-6, S0: np.ndarray | None = None, raise_on_fail: bool = True,
                 keep_matrix: bool = False) -> ERMResult:
    """FISTA with adaptive restart for the PSD + trace-penalised least squares (module docstring)."""
    lam = check.nonnegative("lam", lam)
    L = 1.05 * inst.hessian_norm()
    t = 1.0 / L
    d = inst.d
    S = np.zeros((d, d)) if S0 is None else S0.copy()
    V = S.copy()
    mom = 1.0
    res = math.inf
    for it in range(1, max_iter + 1):
        G, _ = inst.grad_matrix(V)
        ev, U = np.linalg.eigh(V - t * G)
        ev = np.maximum(ev - t * lam, 0.0)
        S_new = (U * ev) @ U.T
        step = S_new - V
        res = float(np.linalg.norm(step) / (t * (np.linalg.norm(S_new) + 1e-12)))
        if not math.isfinite(res):
            raise DivergenceError("FISTA produced a non-finite iterate", time=float(it))
        if res < tol:
            S = S_new
            return _summarise(inst, S, it, res, True, "fista", rank_tol, keep_matrix)
        # adaptive restart (O'Donoghue & Candes): momentum against the gradient-mapping direction
        if np.sum(step * (S_new - S)) > 0:
            mom = 1.0
        mom_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * mom * mom))
        V = S_new + ((mom - 1.0) / mom_new) * (S_new - S)
        S, mom = S_new, mom_new
    if raise_on_fail:
        raise ConvergenceError("FISTA did not reach tol", residual=res, iterations=max_iter)
    return _summarise(inst, S, max_iter, res, False, "fista", rank_tol, keep_matrix)


def solve_gd_rank(inst: ERMInstance, kappa: float, lam: float, *, eta: float | None = None, sigma0: float = 1e-3,
                  tol: float = 1e-6, max_steps: int = 40000, seed: int = 0, rank_tol: float = 1e-6,
                  raise_on_fail: bool = False, safety: float = 0.5) -> ERMResult:
    """Gradient descent on W (m = round(kappa d)) from small init; exact ``S <- P S P`` in W form.

    Step: fixed ``eta`` if given, else adaptive ``eta_k = safety / (L_H ||S_k||_2 + lam)`` with ``L_H`` the top
    Hessian eigenvalue of the sensing operator (explicit-Euler stability needs ``eta 2 s_max h_max < 2``)."""
    lam = check.nonnegative("lam", lam)
    d = inst.d
    m = max(1, int(round(kappa * d)))
    rng = np.random.default_rng(seed + 7919)
    W = sigma0 * rng.standard_normal((m, d))
    LH = inst.hessian_norm() if eta is None else 0.0
    v = rng.standard_normal(d)
    res = math.inf
    for it in range(1, max_steps + 1):
        S = W.T @ W / m
        G, _ = inst.grad_matrix(S)
        step = W @ G + lam * W
        nw = np.linalg.norm(W)
        res = float(np.linalg.norm(step) / max(nw, 1e-300))
        if not math.isfinite(res) or nw > 1e8:
            raise DivergenceError("gradient descent diverged (step too large?)", time=float(it))
        if res < tol and it > 10:
            return _summarise(inst, S, it, res, True, "gd_rank", rank_tol)
        if eta is None:
            for _ in range(2):  # warm-started power iteration for ||S||_2
                v = S @ v
                v /= max(np.linalg.norm(v), 1e-300)
            s_top = max(float(v @ S @ v), 1e-12)
            h = safety / (LH * s_top + lam)
        else:
            h = eta
        W = W - h * step
    S = W.T @ W / m
    if raise_on_fail:
        raise ConvergenceError("gradient descent did not reach tol", residual=res, iterations=max_steps)
    return _summarise(inst, S, max_steps, res, False, "gd_rank", rank_tol)


def solve_erm(params: ExtensiveWidthParams, d: int, seed: int, sensing: str = "wishart", **kw) -> ERMResult:
    """Draw an instance and minimise: FISTA (kappa >= 1) or GD on W (kappa < 1)."""
    inst = make_instance(params, d, seed, sensing)
    if params.kappa >= 1.0:
        return solve_convex(inst, params.lam, **kw)
    return solve_gd_rank(inst, params.kappa, params.lam, seed=seed, **kw)
