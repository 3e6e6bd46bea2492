r"""Causal single-pass solver of the discrete-time DMFT of gradient descent at extensive width.

Equations (exact DMFT of GD with step eta on n = alpha d^2 samples, d -> infinity; t_k = k eta, k = 0..T):

Parameter side (population of Ns samples of a d x d effective process, d = d_eff):

    S^{k+1} = P_k S^k P_k,   P_k = I - eta (G^k + lam I),   D^k = S^k - S*,
    G^k = D^k + sum_{j<k} B(k,j) D^j + Xi^k,   Xi^k = (1/(2 sqrt alpha)) sum_{l<=k} L(k,l) Gamma^l,

with Gamma^l iid GOE (E Gamma_ij Gamma_kl = (d_ik d_jl + d_il d_jk)/d) and L the causal Cholesky factor of
C_e (so Cov(Xi^k_ij, Xi^l_ij) = C_e(k,l)/(4 alpha d) off the diagonal, i.e. vec_p Xi has covariance
C_e/(2 alpha d) per component). S* ~ MP(1/kappa*), S^0 = sigma0^2 MP(1/kappa) (``ensemble``).

Closure (averages over the population):

    C_S(k,l) = (1/d) E Tr(D^k D^l),       R_S(k,j) = (1/p) E Tr_p dS^k/dG^j  (j < k, p = d(d+1)/2),
    R_S(k,k-1) = -(2 eta/d) E Tr(S^{k-1} P_{k-1})                           (exact, used as is),
    K = R_S/(2 alpha),  B = (I - K)^{-1}  (unit lower triangular; B(k,j), j<k, is the discrete R_e),
    C_e = B (2 C_S + Delta 1 1^T) B^T,    train(k) = C_e(k,k),  test(k) = 2 C_S(k,k).

Scheme (one causal pass, no fixed-point iteration; row k of every object needs only times <= k):
at step k: (1) D^k and the C_S row (:func:`kernels.gram_row`); (2) R_S(k, j<k) by one backward adjoint sweep per
sample and probe (:func:`kernels.adjoint_sweep`, Hutchinson probe U with E<U, J U> = Tr_p J), R_S(k,k-1)
replaced by its exact value; (3) B(k,:k) = K(k,:k) B(:k,:k); (4) C_e row; (5) Cholesky row
L(k,:k) = L_{<k}^{-1} C_e(k,:k), L(k,k) = sqrt(C_e(k,k) + mu - |L(k,:k)|^2) (Cholesky of C_e + mu I,
mu = 1e-9 C_e(0,0): a negligible white-noise regularisation that keeps the factor well conditioned when C_e
becomes numerically low-rank at late times); (6) fresh GOE
innovations, memory and noise contractions (:func:`kernels.history_contract`), G^k, P_k, S^{k+1}.
The time discretisation is GD itself (explicit Euler of the W-flow = the PSD-preserving map S -> P S P), so
the solver has no discretisation error w.r.t. GD at the same eta; w.r.t. gradient flow the error is O(eta)
(see :func:`dmft.dynamics.extrapolate.solve_gradient_flow`). Stability needs eta (2 s_max h_max + lam) < 2
(:func:`dmft.dynamics.settings.check_step`); a run that nevertheless blows up raises DivergenceError.

Cost per run: O(T^2 nb d^3) (adjoint matmuls) + O(T^3 nb d^2 / 6) (adjoint memory sums) + O(T^2 Ns d^2)
(history contractions), nb = Ns * probes; memory O(T Ns d^2 + T^2 Ns).
Statistical error: the finite population gives O(1/d_eff) bias (~1.5/d_eff relative at stationarity) and
noise; the reported std are jackknife standard errors over samples (and over runs if ``runs > 1``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular

from dmft.dynamics import ensembles, kernels
from dmft.dynamics.checkpoint import load_checkpoint, save_checkpoint
from dmft.dynamics.result import DMFTResult
from dmft.dynamics.settings import DMFTSettings, check_step
from dmft.dynamics.state import SolverState
from dmft.params import ExtensiveWidthParams
from odes.common import hdf5io
from odes.common.errors import DivergenceError, ParameterError
from odes.common.progress import progress

NUGGET = 1e-9  # relative white-noise regularisation of the Cholesky factor of C_e
_BLOWUP = 1e8


def initial_state(params: ExtensiveWidthParams, settings: DMFTSettings,
                  seedseq: np.random.SeedSequence) -> SolverState:
    """Draw S*, S^0 (ensemble of ``settings``) and set up the random streams (init / noise / probes)."""
    ss_init, ss_noise, ss_probe = seedseq.spawn(3)
    rng = np.random.default_rng(ss_init)
    d, ns = settings.d_eff, settings.samples
    ratio0 = 0.0 if math.isinf(params.kappa) else 1.0 / params.kappa
    sstar = np.stack([ensembles.mp_matrix(rng, d, 1.0 / params.kappa_star, settings.ensemble) for _ in range(ns)])
    s0 = np.stack([settings.sigma0 ** 2 * ensembles.mp_matrix(rng, d, ratio0, settings.ensemble)
                   for _ in range(ns)])
    return SolverState.empty(sstar, s0, settings.steps, settings.probes, np.random.default_rng(ss_noise),
                             np.random.default_rng(ss_probe))


def cholesky_row(L: np.ndarray, row: np.ndarray, k: int, mu: float, *, time: float | None = None) -> None:
    """Row k of the causal Cholesky factor of C + mu I, given rows < k in ``L`` and ``row`` = C(k, :k+1).

    L(k,:k) = L_{<k}^{-1} C(k,:k), L(k,k) = sqrt(C(k,k) + mu - |L(k,:k)|^2). Since C is PSD, every Schur complement
    of C + mu I is >= mu, so sigma_min(L) >= sqrt(mu) and the solves stay well conditioned when C is numerically
    low-rank. A Schur complement below -1e-8 C(k,k) means C is not PSD to working precision: DivergenceError."""
    if k >= 1:
        L[k, :k] = solve_triangular(L[:k, :k], row[:k], lower=True, check_finite=False)
    rem = row[k] + mu - float(L[k, :k] @ L[k, :k])
    if rem < -1e-8 * abs(row[k]):
        raise DivergenceError(f"noise covariance numerically inconsistent at step {k} (Schur complement {rem:.3e})",
                              time=time)
    L[k, k] = math.sqrt(max(rem, mu))


def advance(state: SolverState, params: ExtensiveWidthParams, settings: DMFTSettings) -> None:
    """Process step k = state.k (rows k of C_S, R_S, B, C_e, L) and, if k < T, compute S^{k+1}. In place."""
    k, T, d = state.k, settings.steps, settings.d_eff
    ns, npr, eta = settings.samples, settings.probes, settings.eta
    alpha, delta = params.alpha, params.noise
    st = state
    # (1) D^k and C_S row
    for s in range(ns):
        st.Dh[s, k] = st.S[s] - st.Sstar[s]
        st.CSs[s, k, :k + 1] = kernels.gram_row(st.Dh[s], k)
    st.CS[k, :k + 1] = st.CSs[:, k, :k + 1].mean(axis=0)
    st.CS[:k + 1, k] = st.CS[k, :k + 1]
    # (2) R_S row by adjoint sweeps (+ exact equal-time value)
    if k >= 1:
        U = ensembles.probes(st.rng_probe, ns * npr, d)
        psi = np.empty((k, d, d))
        for s in range(ns):
            row = np.zeros(k)
            for q in range(npr):
                r = kernels.adjoint_sweep(k, st.Ph[s], st.SPh[s], st.B, U[s * npr + q], eta, settings.block, psi)
                st.RSeq_h[s * npr + q, k] = r[k - 1]
                row += r
            row /= npr
            exact = -(2.0 * eta / d) * np.trace(st.SPh[s, k - 1])
            st.RSeq_x[s, k] = exact
            row[k - 1] = exact
            st.RSs[s, k, :k] = row
        st.RS[k, :k] = st.RSs[:, k, :k].mean(axis=0)
        # (3) B row: B(k,:k) = K(k,:k) B(:k,:k)
        st.B[k, :k] = (st.RS[k, :k] / (2.0 * alpha)) @ st.B[:k, :k]
    # (4) C_e row
    Bk = st.B[:k + 1, :k + 1]
    M = 2.0 * st.CS[:k + 1, :k + 1] + delta
    row = Bk @ (M @ st.B[k, :k + 1])
    st.Ce[k, :k + 1] = row
    st.Ce[:k + 1, k] = row
    # (5) causal Cholesky row of C_e + mu I (mu = NUGGET C_e(0,0)): all Schur complements >= mu, so
    #     sigma_min(L) >= sqrt(mu) and the triangular solves stay well conditioned when C_e becomes
    #     numerically low-rank at late times (frozen noise). The sampled noise covariance is C_e + mu I.
    if not (np.isfinite(row).all() and np.isfinite(st.RS[k, :k]).all()):
        raise DivergenceError("DMFT kernels became non-finite", time=k * eta)
    cholesky_row(st.L, row, k, NUGGET * st.Ce[0, 0], time=k * eta)
    if k < T:
        forward_step(st, params, settings, k)
    st.k = k + 1


def forward_step(st: SolverState, params: ExtensiveWidthParams, settings: DMFTSettings, k: int) -> None:
    """Step (6) of the scheme at time k (rows k of B and L must be done): fresh GOE innovations Gamma^k,
    Xi^k = (1/(2 sqrt alpha)) sum_{l<=k} L(k,l) Gamma^l, G^k = D^k + sum_{j<k} B(k,j) D^j + Xi^k,
    P_k = I - eta(G^k + lam), S^{k+1} = P_k S^k P_k (stores P_k and S^k P_k for the adjoint sweeps).
    Raises DivergenceError if S^{k+1} is non-finite or exceeds 1e8 (1 + max|S*|)."""
    ns, d, eta = settings.samples, settings.d_eff, settings.eta
    alpha, lam = params.alpha, params.lam
    st.Gam[:, k] = ensembles.goe(st.rng_noise, ns, d)
    c_noise = st.L[k] / (2.0 * math.sqrt(alpha))
    eye = np.eye(d)
    for s in range(ns):
        mem, noise = kernels.history_contract(st.Dh[s], st.Gam[s], k, st.B[k], c_noise)
        G = st.Dh[s, k] + mem + noise
        P = eye - eta * (G + lam * eye)
        SP = st.S[s] @ P
        Snew = P @ SP
        Snew = 0.5 * (Snew + Snew.T)
        st.Ph[s, k] = P
        st.SPh[s, k] = SP
        st.S[s] = Snew
    scale = _BLOWUP * (1.0 + float(np.abs(st.Sstar).max()))
    if not np.isfinite(st.S).all() or float(np.abs(st.S).max()) > scale:
        raise DivergenceError(f"effective process diverged (|S| > {scale:.3g}); reduce eta", time=(k + 1) * eta)


def _jackknife_train(state: SolverState, alpha: float, delta: float, groups: int | None = None,
                     diag: np.ndarray | None = None) -> np.ndarray:
    """Delete-a-group jackknife standard error of train(k) = diag(B (2 C_S + Delta) B^T),
    B = (I - R_S/(2alpha))^{-1}: group g removes the forward samples s = g mod G from C_S and the response samples
    r = g mod G from R_S (the responses may come from fewer samples than the forward process). ``groups`` None:
    G = number of response samples, i.e. leave-one-sample-out when all samples carry responses. ``diag`` (Ns, N):
    per-sample same-time responses R_S(k,k) of an implicit scheme (B then has a non-unit diagonal)."""
    ns, nr = state.CSs.shape[0], state.RSs.shape[0]
    G = nr if groups is None else min(groups, nr)
    n = state.CS.shape[0]
    eye = np.eye(n)
    vals = []
    for g in range(G):
        cs = state.CSs[np.arange(ns) % G != g].mean(axis=0)
        cs = np.tril(cs) + np.tril(cs, -1).T
        rs = state.RSs[np.arange(nr) % G != g].mean(axis=0)
        if diag is not None:
            rs = rs + np.diag(diag[np.arange(ns) % G != g].mean(axis=0))
        b = solve_triangular(eye - rs / (2.0 * alpha), eye, lower=True, unit_diagonal=diag is None)
        vals.append(np.einsum("ka,ka->k", b @ (2.0 * cs + delta), b))
    vals = np.array(vals)
    return np.sqrt((G - 1) / G * ((vals - vals.mean(axis=0)) ** 2).sum(axis=0))


def _result(state: SolverState, params: ExtensiveWidthParams, settings: DMFTSettings, wall: float) -> DMFTResult:
    ns, npr = settings.samples, settings.probes
    test_s = 2.0 * np.einsum("skk->sk", state.CSs)
    test_std = test_s.std(axis=0, ddof=1) / math.sqrt(ns)
    train_std = _jackknife_train(state, params.alpha, params.noise)
    h = state.RSeq_h
    h_se = h.std(axis=0, ddof=1) / math.sqrt(ns * npr) if ns * npr > 1 else np.zeros(h.shape[1])
    return DMFTResult(params=params, settings=settings, t=settings.times, train_error=np.diag(state.Ce).copy(),
                      test_error=np.diag(state.CS) * 2.0, train_error_std=train_std, test_error_std=test_std,
                      C_S=state.CS.copy(), R_S=state.RS.copy(), C_e=state.Ce.copy(), B=state.B.copy(),
                      R_S_equal_time_exact=state.RSeq_x.mean(axis=0), R_S_equal_time_hutchinson=h.mean(axis=0),
                      R_S_equal_time_hutchinson_se=h_se, wall_time=float(wall))


def _solve_one(params, settings, seedseq, *, checkpoint=None, resume=None, quiet=False, callback=None, desc="DMFT"):
    t0 = time.perf_counter()
    if resume is not None:
        state = load_checkpoint(resume, params, settings)
        if state.steps < settings.steps:  # extend a finished/interrupted shorter run (causal: rows <= T0 unchanged)
            T0, done = state.steps, state.k > state.steps
            state = state.resized(settings.steps)
            if done:  # the last step of the shorter run stopped before S^{T0+1}: do it now
                forward_step(state, params, settings, T0)
    else:
        state = initial_state(params, settings, seedseq)
    T = settings.steps
    bar = progress(total=T + 1, initial=state.k, desc=desc, quiet=quiet)
    try:
        while state.k <= T:
            advance(state, params, settings)
            bar.update(1)
            done = state.k
            if (checkpoint is not None and settings.checkpoint_every > 0 and done <= T
                    and done % settings.checkpoint_every == 0):
                save_checkpoint(checkpoint, params, settings, state)
            if callback is not None:
                callback(done)
    finally:
        bar.close()
    if checkpoint is not None:  # final state (lets a finished run be extended to more steps later)
        save_checkpoint(checkpoint, params, settings, state)
    return _result(state, params, settings, time.perf_counter() - t0)


def solve(params: ExtensiveWidthParams, settings: DMFTSettings | None = None, *,
          checkpoint: str | Path | None = None, resume: str | Path | None = None, quiet: bool = False,
          callback: Callable[[int], None] | None = None) -> DMFTResult:
    """Solve the discrete-time DMFT of GD (see module docstring) and return a :class:`DMFTResult`.

    ``checkpoint``: path of an HDF5 checkpoint written every ``settings.checkpoint_every`` steps (0: never) and
    at the end; ``resume``: continue from such a checkpoint (same params/settings required, else ParameterError;
    ``settings.steps`` may exceed the checkpoint's, which extends the run). The continued run is bitwise identical
    to an uninterrupted one with ``settings.steps`` steps. ``callback(k)`` is called after each step (k = steps
    done). With ``settings.runs > 1`` the runs use independent seeds spawned from ``settings.seed`` and the
    result holds their mean; std = run-to-run std / sqrt(runs) (checkpointing is then not available).
    Raises ParameterError (eta beyond the stability bound, unless ``settings.check_stability`` is False; arrays
    that cannot fit in memory, :meth:`DMFTSettings.memory_bytes`), DivergenceError (a run that blows up)."""
    settings = DMFTSettings() if settings is None else settings
    if settings.check_stability:
        check_step(params, settings.eta)
    settings.check_memory()
    root = np.random.SeedSequence(settings.seed)
    if settings.runs == 1:
        if checkpoint is None and resume is None:
            return _solve_one(params, settings, root, quiet=quiet, callback=callback)
        with hdf5io.exclusive_lock(checkpoint or resume):
            return _solve_one(params, settings, root, checkpoint=checkpoint, resume=resume, quiet=quiet,
                              callback=callback)
    if checkpoint is not None or resume is not None:
        raise ParameterError("checkpoint", "checkpoint/resume is only available for runs = 1")
    res = [_solve_one(params, settings, ss, quiet=quiet, callback=callback, desc=f"DMFT run {i + 1}")
           for i, ss in enumerate(root.spawn(settings.runs))]
    return combine_runs(res, settings)


def combine_runs(results: list[DMFTResult], settings: DMFTSettings | None = None) -> DMFTResult:
    """Mean of independent runs (same params/grid); std = run-to-run std/sqrt(R) (R >= 2)."""
    r = len(results)
    if r < 2:
        raise ParameterError("runs", "combine_runs needs at least 2 results")
    mean = lambda name: np.mean([getattr(x, name) for x in results], axis=0)
    sem = lambda name: np.std([getattr(x, name) for x in results], axis=0, ddof=1) / math.sqrt(r)
    se_h = np.sqrt(np.sum([x.R_S_equal_time_hutchinson_se ** 2 for x in results], axis=0)) / r
    first = results[0]
    return DMFTResult(params=first.params, settings=settings or first.settings, t=first.t,
                      train_error=mean("train_error"), test_error=mean("test_error"),
                      train_error_std=sem("train_error"), test_error_std=sem("test_error"),
                      C_S=mean("C_S"), R_S=mean("R_S"), C_e=mean("C_e"), B=mean("B"),
                      R_S_equal_time_exact=mean("R_S_equal_time_exact"),
                      R_S_equal_time_hutchinson=mean("R_S_equal_time_hutchinson"),
                      R_S_equal_time_hutchinson_se=se_h, wall_time=float(sum(x.wall_time for x in results)))
