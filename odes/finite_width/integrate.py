r"""Integration of the finite-width overlap ODEs (:mod:`odes.finite_width.ode`) and the trajectory result.

The state y = [Q.ravel(), M.ravel()] (p^2 + p p* numbers) is integrated with ``scipy.integrate.solve_ivp``:

* ``method="DOP853"`` (default): explicit Runge-Kutta of order 8 with an embedded error estimate (orders 5 and 3);
  the local error per step is kept below ``atol + rtol |y|``. Right choice for every run in the spec (the ODE is
  at most mildly stiff; the stiffest rate is the trace mode of Q, about -4 tr(BT) gamma).
* Long horizons: near the zero-loss manifold the solution changes on the scale alpha (power-law decay) while the
  fastest relaxation rate stays O(gamma), so an explicit method is stability-limited to a bounded step: DOP853
  costs about 2.4 RHS evaluations per unit alpha ((2,1), gamma = 0.1: alpha = 1e4 takes 2.4e4 evaluations). For
  alpha > 1e3 use ``"LSODA"`` (1.2e3 evaluations up to alpha = 1e4, 1.6e3 up to 1e6; measured times in
  docs/finite_width.md). ``"Radau"`` is slower than LSODA at every horizon measured (1e3: 8x, 1e6: 100x).
* ``"RK45"`` (order 5(4)) or the stiff/implicit ``"Radau"`` (order 5), ``"BDF"`` (orders 1-5), ``"LSODA"``
  (switching). Implicit methods build a finite-difference Jacobian of size (p^2+pp*)^2: fine for p <= 16, costly
  beyond.

One solver call covers [0, max(alphas)]; the output times are read off the method's dense-output interpolant
(DOP853: order 7), so a fine output grid costs almost nothing extra.

Convergence check: integrate twice with tolerances differing by 100x (:func:`tolerance_check`) and compare.

Divergence: a non-finite right-hand side, a failed solver step, or a runaway state (max |Q_ij|, |M_ij| above
``blowup`` = 1e4 x the natural scale of the overlaps, see :func:`integrate_overlaps`) raise
:class:`~odes.common.errors.DivergenceError` with the time reached. NaN curves are never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.integrate import solve_ivp

from odes.common import check, numerics
from odes.common.deprecation import deprecated_alias
from odes.common.errors import ConvergenceError, DivergenceError, ParameterError
from odes.common.numerics import time_grid
from odes.common.progress import progress
from odes.common.resources import check_memory
from odes.common.result import Result, coordinate, variable
from odes.finite_width.moments import generalization_error_path
from odes.finite_width.ode import pack, rhs_vector, unpack
from odes.finite_width.params import MAX_MAGNITUDE, FiniteWidthParams

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

#: labels shared by every finite-width result (docs/results.md)
ALPHA_LONG_NAME = "alpha = SGD steps / N (one-pass SGD time)"
TEST_ERROR_LONG_NAME = "test error eps_g = 1/2 E[(f_W(x) - f*(x))^2] (noiseless labels)"

METHODS = ("DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
IMPLICIT = ("Radau", "BDF", "LSODA")

MAX_ALPHA = 1e9
"""Largest output time accepted (``alphas``). Beyond it even LSODA's steps (which grow about linearly with
alpha on the late power-law decay) would take millions of evaluations; alpha = 1e308 used to never end."""

MAX_NFEV = 500_000
"""Default budget of right-hand-side evaluations per integration (``max_nfev``): about a minute for
(p, p*) = (2, 1) (0.12 ms per evaluation measured). DOP853 needs ~2.4 evaluations per unit alpha on long
horizons (stability-limited), so it reaches alpha ~ 2e5 within the budget; LSODA reaches alpha = 1e6 in
1.6e3 evaluations, Radau in 2.2e5 (docs/finite_width.md)."""

REALIZABLE_TOL = 1e-8
"""Relative tolerance of the realizability check: eigenvalues of Q0 - M0 T^-1 M0^T down to
-REALIZABLE_TOL x max(1, max|Q0|, max|M0 T^-1 M0^T|) count as rounding of a PSD matrix."""


def state_memory(p: int, p_star: int, n_out: int, method: str = "DOP853") -> float:
    r"""Bytes needed to integrate the overlap ODEs: with n = p^2 + p p* state entries,
    8 [100 n + 8 n_out n] (solver stages, dense output and RHS temporaries: ~100 vectors; the output sol.y,
    its interpolants and the Q, M, eps copies: ~8 per output time) plus, for the implicit methods (Radau,
    BDF, LSODA), 8 x 4 n^2 (the finite-difference Jacobian and its LU factors, complex for Radau), plus 1 MiB
    of fixed overhead. Checked
    against tracemalloc peaks: 1.5-4x the peak for p = 8..48 (tests/test_finite_width_inputs.py)."""
    n = float(p) * float(p) + float(p) * float(p_star)
    need = 2.0**20 + 8.0 * (100.0 * n + 8.0 * float(n_out) * n)  # traced peaks: 40-130 n + ~4 n_out n (DOP853)
    if method in IMPLICIT:
        need += 8.0 * 4.0 * n * n
    return need


def check_realizable(Q0: np.ndarray, M0: np.ndarray, T: np.ndarray) -> np.ndarray:
    r"""Q_perp(0) = Q0 - M0 T^{-1} M0^T, checked positive semi-definite.

    Overlaps Q = W W^T/N, M = W W*^T/N of actual weight vectors satisfy Q - M T^{-1} M^T = Gram matrix of the
    components of the w_j orthogonal to the teacher span >= 0 (Schur complement of the joint Gram matrix
    [[Q, M], [M^T, T]] >= 0). A state violating it is no network: the ODE then yields negative eps_g.
    Tolerance: REALIZABLE_TOL relative to the scale of Q0 and M0 T^-1 M0^T. Raises ParameterError."""
    proj = M0 @ np.linalg.solve(T, M0.T)
    R = Q0 - proj
    R = 0.5 * (R + R.T)
    if R.size:
        lam = float(np.linalg.eigvalsh(R)[0])
        scale = max(1.0, float(np.max(np.abs(Q0))), float(np.max(np.abs(proj))))
        if lam < -REALIZABLE_TOL * scale:
            raise ParameterError("Q0, M0", f"the initial overlaps (Q0, M0) are not realizable: Q0 - M0 T^-1 M0^T "
                                           f"has eigenvalue {lam:.4g} < 0 (it is the Gram matrix of the student "
                                           "weights orthogonal to the teacher, so it must be PSD)")
    return R


@dataclass(frozen=True, eq=False, repr=False)
class OverlapTrajectory(Result):
    r"""Solution of the overlap ODEs on an alpha grid (a curve along ``alpha`` = steps/N).

    Fields: ``params`` (FiniteWidthParams), ``alpha`` (n,), ``Q`` (n, p, p), ``M`` (n, p, p*), ``eps_g`` (n,)
    (noiseless test error :math:`\varepsilon_g = \tfrac12 E[r_0^2]`, Sec. 2 formula), ``gradient_flow``
    (O(eta^2) term dropped), solver ``method``, ``rtol``, ``atol``, and ``nfev`` (number of right-hand-side
    evaluations).

    Labelled data (:meth:`to_xarray`): coordinate ``alpha``; ``test_error`` (alpha) = ``eps_g``; ``Q`` (alpha, i, i2),
    ``M`` (alpha, i, k) with index coordinates ``i``, ``i2`` (student units) and ``k`` (teacher units).
    """

    curve_coord = "alpha"  # plain class attribute (not a dataclass field)

    params: FiniteWidthParams
    alpha: np.ndarray
    Q: np.ndarray
    M: np.ndarray
    eps_g: np.ndarray
    gradient_flow: bool = False
    method: str = "DOP853"
    rtol: float = 1e-10
    atol: float = 1e-12
    nfev: int = 0

    @property
    def Q_perp(self) -> np.ndarray:
        """Q - M T^{-1} M^T along the trajectory (n, p, p): Gram matrix of the parts orthogonal to the teacher."""
        Tinv = np.linalg.inv(self.params.T)
        return self.Q - np.einsum("nik,kl,njl->nij", self.M, Tinv, self.M)

    def to_xarray(self) -> xr.Dataset:
        """Labelled dataset: ``test_error`` (alpha), ``Q`` (alpha, i, i2), ``M`` (alpha, i, k), ``nfev``."""
        p, ps = self.params.p, self.params.p_star
        return self.dataset(
            {"test_error": variable("alpha", self.eps_g, TEST_ERROR_LONG_NAME),
             "Q": variable(("alpha", "i", "i2"), self.Q, "student-student overlap Q_ij = w_i . w_j / N"),
             "M": variable(("alpha", "i", "k"), self.M, "student-teacher overlap M_ik = w_i . w*_k / N"),
             "nfev": variable((), self.nfev, "number of right-hand-side evaluations of the ODE solver")},
            coords={"alpha": coordinate("alpha", self.alpha, ALPHA_LONG_NAME),
                    "i": coordinate("i", np.arange(p), "student hidden unit index"),
                    "i2": coordinate("i2", np.arange(p), "student hidden unit index (second)"),
                    "k": coordinate("k", np.arange(ps), "teacher hidden unit index")},
            attrs={"gradient_flow": int(self.gradient_flow), "method": self.method, "rtol": self.rtol,
                   "atol": self.atol})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON plus the full overlaps ``Q`` (n, p, p), ``M`` (n, p, p*) and the solver settings."""
        out = super().to_json()
        out.update({"Q": self.Q.tolist(), "M": self.M.tolist(), "gradient_flow": bool(self.gradient_flow),
                    "solver": {"method": self.method, "rtol": self.rtol, "atol": self.atol, "nfev": self.nfev}})
        return out

    def legacy_json(self) -> dict[str, Any]:
        """quadnet 0.1 key: ``eps_g`` (now ``test_error``)."""
        return {"eps_g": self.eps_g}

    def at(self, alpha: float | np.ndarray) -> dict[str, Any]:
        """``test_error``, ``Q`` and ``M`` linearly interpolated at ``alpha`` (inside the grid; exact on grid
        points, error O(h^2 max|y''|) between them). ``Q``/``M`` get the shape of ``alpha`` + (p, p) / (p, p*)."""
        out = super().at(alpha)
        a = np.asarray(alpha, dtype=float)

        def interp(arr: np.ndarray) -> np.ndarray:
            flat = arr.reshape(arr.shape[0], -1)
            cols = [np.interp(a, self.alpha, flat[:, j]) for j in range(flat.shape[1])]
            return np.stack(cols, axis=-1).reshape(a.shape + arr.shape[1:])

        out["Q"], out["M"] = interp(self.Q), interp(self.M)
        return out

    def plot(self, ax: Any = None, *, label: str | None = None, logy: bool = True, **kw: Any) -> Any:
        """eps_g(alpha) on ``ax`` (created if None). Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(self.alpha, self.eps_g, label=label or ("GF ODE" if self.gradient_flow else "SGD ODE"), **kw)
        ax.set_xlabel(r"$\alpha$")
        ax.set_ylabel(r"$\varepsilon_g$")
        if logy:
            ax.set_yscale("log")
        return ax


def initial_overlaps(params: FiniteWidthParams, M0: np.ndarray | None = None, *, N: int | None = None,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""(Q0, M0) with Q_perp(0) = I, i.e. Q0 = I + M0 T^{-1} M0^T.

    ``M0=None``: the N -> infinity statistics of a random initialisation w_j ~ N(0, I_N): rows of M0 drawn from
    N(0, T/N) (entries ~ N(0, 1/N) for T = I), seeded by ``seed``; needs ``N``. (The O(N^{-1/2}) fluctuations
    of Q_perp around I are not drawn: Q_perp(0) = I exactly, as in the spec's protocol V.)
    """
    p, ps, T = params.p, params.p_star, params.T
    check_memory("p", state_memory(p, ps, 2), f"the {p} x {p} overlap matrices")
    if M0 is None:
        if N is None:
            raise ParameterError("N", "needed for a random initial M0 (entries ~ N(0, 1/N))")
        N = check.integer("N", N, lo=1, hi=2**53)
        seed = check.integer("seed", seed, lo=0)
        L = np.linalg.cholesky(T)
        M0 = np.random.default_rng(seed).standard_normal((p, ps)) @ L.T / np.sqrt(float(N))
    else:
        M0 = check.array("M0", M0, shape=(p, ps), bound=MAX_MAGNITUDE)
    proj = M0 @ np.linalg.solve(T, M0.T)
    if np.max(np.abs(proj)) > MAX_MAGNITUDE:
        raise ParameterError("M0", f"too large: the entries of M0 T^-1 M0^T (part of Q0) must be <= "
                                   f"{MAX_MAGNITUDE:g}, got {np.max(np.abs(proj)):.3g}")
    Q0 = np.eye(p) + proj
    return 0.5 * (Q0 + Q0.T), M0


def _check_alphas(alphas) -> np.ndarray:
    al = time_grid("alphas", alphas)
    if al[-1] > MAX_ALPHA:
        raise ParameterError("alphas", f"the largest time must be <= {MAX_ALPHA:g}, got {al[-1]:g}")
    return al


def integrate_overlaps(params: FiniteWidthParams, Q0: np.ndarray, M0: np.ndarray, alphas: np.ndarray | list[float], *,
                       gradient_flow: bool = False, method: str = "DOP853", rtol: float = 1e-10,
                       atol: float = 1e-12, quiet: bool = True, blowup: float = 1e4,
                       max_step: float = np.inf, max_nfev: int = MAX_NFEV,
                       check_stability: bool = True) -> OverlapTrajectory:
    r"""Integrate dQ/dalpha, dM/dalpha (module :mod:`odes.finite_width.ode`) from alpha = 0 and return them at
    ``alphas`` (strictly increasing, >= 0).

    Q0 (p, p) symmetric PSD, M0 (p, p*). ``gradient_flow`` drops the O(eta^2) and noise term (time stays alpha;
    for Gamma = gamma I, GF depends on t = gamma alpha only). ``method``/``rtol``/``atol`` go to solve_ivp
    (see module docstring for orders). ``blowup``: a state entry larger than blowup x max(1, max|y0|,
    max|T| max|b| / min|a|) counts as divergence (converging runs stay at that scale). ``quiet=False`` shows a
    progress bar (fraction of [0, max(alphas)] done).

    Checked once here, for every entry point: Q0 symmetric PSD, and the state realizable,
    Q0 - M0 T^{-1} M0^T PSD (:func:`check_realizable`); max(alphas) <= MAX_ALPHA; the memory of the state
    (:func:`state_memory`); with ``check_stability`` (default) the SGD learning-rate limits
    (:func:`odes.finite_width.stability.check_learning_rate`, same ParameterError('gamma', ...) as before;
    ``False`` = CLI ``--no-stability-check``). Gradient flow is not checked: without the O(eta^2) term gamma
    only rescales time, so the limits do not apply.
    ``max_nfev``: budget of right-hand-side evaluations; exceeding it raises ConvergenceError naming the
    largest alpha reached (use LSODA for long horizons, see the module docstring).
    Raises ParameterError (bad input), DivergenceError (non-finite / runaway / failed integration) or
    ConvergenceError (work budget exhausted).
    """
    if not isinstance(params, FiniteWidthParams):
        raise ParameterError("params", "must be a FiniteWidthParams")
    p, ps = params.p, params.p_star
    if method not in METHODS:
        raise ParameterError("method", f"must be one of {', '.join(METHODS)}, got {str(method)[:40]!r}")
    al = _check_alphas(alphas)
    check_memory("p", state_memory(p, ps, len(al), method),
                 f"integrating the {p} x {p} + {p} x {ps} overlap ODEs ({method}, {len(al)} output times)")
    Q0 = check.symmetric_psd("Q0", Q0, p, tol=1e-8, bound=MAX_MAGNITUDE)
    M0 = check.array("M0", M0, shape=(p, ps), bound=MAX_MAGNITUDE)
    check_realizable(Q0, M0, params.T)
    rtol = check.real("rtol", rtol, lo=1e-14, hi=1e-1)
    atol = check.real("atol", atol, lo=1e-300, hi=1.0)
    blowup = check.positive("blowup", blowup)
    max_nfev = check.integer("max_nfev", max_nfev, lo=1)
    if check_stability and not gradient_flow:
        from odes.finite_width.stability import check_learning_rate

        check_learning_rate(params)

    y0 = pack(Q0, M0)
    # natural scale of the overlaps: the initial state and the zero-loss scale t b / a (e.g. Q_inf = (b/a) t P)
    scale = max(1.0, float(np.max(np.abs(y0))),
                float(np.max(np.abs(params.T)) * np.max(np.abs(params.b)) / np.min(np.abs(params.a))))
    limit = blowup * scale

    class _NonFinite(Exception):
        pass

    class _Budget(Exception):
        pass

    calls = [0]

    def f(_t, y):
        calls[0] += 1
        if calls[0] > max_nfev:
            raise _Budget(_t)
        dy = rhs_vector(y, params, gradient_flow=gradient_flow)
        if not np.all(np.isfinite(dy)):
            raise _NonFinite(_t)
        return dy

    def runaway(_t, y):
        return limit - np.max(np.abs(y))

    runaway.terminal = True
    runaway.direction = -1

    t_end = float(al[-1])
    bar = progress(total=100, desc="ODE", quiet=quiet)
    shown = [0]

    def f_bar(t, y):
        k = int(100 * t / t_end) if t_end > 0 else 100
        if k > shown[0]:
            bar.update(min(k, 100) - shown[0])
            shown[0] = min(k, 100)
        return f(t, y)

    # explicit methods are stability-limited: weight decay alone gives the exact relaxation rate 2 kappa eta_j
    # of Q (term -kappa (HQ + QH)), and DOP853 needs >= 2 evaluations per unit of rate x time; refuse at once
    # what cannot finish within the budget instead of spending it (weight_decay = 1e8 used to run for minutes)
    stiff = 2.0 * params.weight_decay * float(np.max(params.eta)) * t_end
    if method not in IMPLICIT and stiff > max_nfev:
        raise ConvergenceError(
            f"overlap ODE: weight decay makes the problem stiff (rate x max(alphas) = {stiff:.3g}); {method} would "
            f"need more than the budget of {max_nfev} right-hand-side evaluations: lower the largest --alphas "
            "value or use --method LSODA")

    if t_end == 0.0:
        ys, nfev = [y0], 0
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                sol = solve_ivp(f_bar, (0.0, t_end), y0, method=method, t_eval=al, rtol=rtol, atol=atol,
                                events=runaway, max_step=max_step)
            except _NonFinite as exc:
                raise DivergenceError("overlap ODE right-hand side became non-finite",
                                      time=float(exc.args[0])) from None
            except _Budget as exc:
                raise ConvergenceError(
                    f"overlap ODE: work budget of {max_nfev} right-hand-side evaluations used up at alpha = "
                    f"{float(exc.args[0]):.4g} of max(alphas) = {t_end:.4g} ({method}); lower the largest "
                    "--alphas value or use --method LSODA for long horizons") from None
            finally:
                bar.close()
        nfev = int(sol.nfev)
        if sol.status == 1:
            raise DivergenceError(f"overlap ODE ran away (|state| > {limit:.3g}); learning rate too large?",
                                  time=float(sol.t_events[0][0]))
        if sol.status != 0 or sol.y.shape[1] != len(al) or not np.all(np.isfinite(sol.y)):
            raise DivergenceError(f"overlap ODE integration failed: {sol.message}", time=float(sol.t[-1]))
        ys = sol.y.T
    Y = np.array(ys)
    n = len(al)
    Q = Y[:, : p * p].reshape(n, p, p)
    Q = 0.5 * (Q + np.swapaxes(Q, 1, 2))
    M = Y[:, p * p:].reshape(n, p, ps)
    eps = generalization_error_path(Q, M, params)
    if not np.all(np.isfinite(eps)):  # pragma: no cover - guarded above
        raise DivergenceError("non-finite generalisation error")
    # eps_g is the mean of a square: negative values beyond rounding mean the state left the realizable set
    floor = -1e-9 * max(1.0, float(np.max(np.abs(eps))))
    if np.min(eps) < floor:  # pragma: no cover - excluded by check_realizable (PSD is preserved by the flow)
        k = int(np.argmin(eps))
        raise DivergenceError(f"negative generalisation error {eps[k]:.3g} (state no longer realizable)",
                              time=float(al[k]))
    return OverlapTrajectory(params=params, alpha=al, Q=Q, M=M, eps_g=eps, gradient_flow=bool(gradient_flow),
                             method=method, rtol=rtol, atol=atol, nfev=nfev)


def tolerance_check(params: FiniteWidthParams, Q0: np.ndarray, M0: np.ndarray, alphas: np.ndarray | list[float], *,
                    gradient_flow: bool = False, method: str = "DOP853", rtol: float = 1e-8,
                    check_stability: bool = True) -> float:
    """Convergence check: max |eps_g(rtol) - eps_g(rtol/100)| over the grid (an estimate of the error at rtol)."""
    kw = dict(gradient_flow=gradient_flow, method=method, check_stability=check_stability)
    return numerics.tolerance_check(
        lambda r: integrate_overlaps(params, Q0, M0, alphas, rtol=r, atol=r * 1e-2, **kw).eps_g, rtol)


initial_state = deprecated_alias("initial_state", initial_overlaps)

__all__ = ["MAX_ALPHA", "MAX_NFEV", "OverlapTrajectory", "check_realizable", "initial_overlaps", "initial_state",
           "integrate_overlaps", "state_memory", "tolerance_check", "unpack"]
