r"""L-stable implicit (SDIRK2) DMFT of gradient flow: steps that grow without a stability bound once the dynamics
slows, so t = 100 takes ~60 steps and t = 1000 ~80 (the explicit Heun scheme needs h < ~0.06: 2000 and 20000).

Scheme. Alexander's two-stage, stiffly accurate, L-stable SDIRK method of order 2 (gamma = 1 - 1/sqrt 2) applied to
the W-flow dW/dt = f(W) = -W A(W), A = G + lam, with steps h_k on a (graded) grid:

    stage 1:  W1 = W^k + gamma h f(W1)                     =>  W1 = W^k R1,        R1 = (I + gamma h A1)^{-1}
    stage 2:  W2 = W^k + (1-gamma) h f(W1) + gamma h f(W2) =>  W^{k+1} = W2 = W^k M1 R2,
              M1 = I - ((1-gamma)/gamma)(I - R1),               R2 = (I + gamma h A2)^{-1},

with A1, A2 the gradients at the stage points themselves (implicit). In S = W^T W/m variables, exactly, PSD- and
rank-preserving:  s^{2k+1} = R1 S^k R1,   S^{k+1} = s^{2k+2} = R2 (M1 S^k M1) R2.
The stage points i = 2k+1 (time t_k + gamma h_k) and i = 2k+2 (t_{k+1}) are the gradient evaluations; i = 0 is the
initial point, where no gradient is evaluated. The fixed points of every stage are exactly the stationary points of
the flow (W A = 0), so the t -> infinity limit does not depend on the steps; L-stability damps the stiff modes
(rates up to 2 s_max h_max ~ 30) for any step, so the step is limited by accuracy only: the error is O(h^2)
(measured slope 1.93 against the Heun scheme at h = 0.0125, tests/test_dmft_implicit_flow.py).

DMFT of an implicit method. Because the gradient at stage i is evaluated at s^i itself, the discrete DMFT has
same-time responses: K(i,i) = R_S(i,i)/(2 alpha) != 0, B = (I - K)^{-1} has the diagonal B(i,i) = 1/(1 - K(i,i)),

    g^i = sum_{m <= i} B(i,m) D^m + Xi^i,     D^m = s^m - S*,     Cov(Xi) from C_e = B (2 C_S + Delta 1 1^T) B^T

(the cavity derivation of the explicit case with the sums over j <= i instead of j < i: the cavity field of sample
mu is h^i = omega^i + sum_{j <= i} K(i,j) e^j). Each stage is then a per-sample implicit matrix equation

    s = R S_in R,   R = (I + c A)^{-1},   A = b (s - S*) + C + lam,   c = gamma h,   b = B(i,i),
    C = sum_{m<i} B(i,m) D^m + Xi^i,

and row i of the two-time objects (C_S, R_S, B, C_e, L) depends on s^i through C_S(i, .) and R_S(i, .). Row i and
s^i are solved together by a fixed-point iteration, each pass: rows of B, C_S, C_e, L and the forcing C from the
current (s^i, K row); one Newton step on s^i (Jacobian I + b N, below); the exact same-time responses; the
off-diagonal K row from the forward tangents (an affine i x i system, solved exactly for the current stage
matrices). The passes stop when the K row changes by < ``tol`` and the stage residual is < ``tol`` (relative);
5-8 passes per stage at tol = 1e-8; non-convergence in ``maxit`` passes is a DivergenceError with the last change.

Responses. In the real coordinates of the p-dimensional space of symmetric (p = d(d+1)/2) or Hermitian (p = d^2)
matrices, the tangent of a stage is  ds = L^{-1} F dS_in - L^{-1} N dC,  N(X) = c (R X s + s X R),  L = I + b N,
F(X) = R X R  (p x p matrices built on an orthonormal basis, :func:`field_basis`; cheap at the small d_eff the
complex field allows). Hence the same-time response is exact per sample,  R_S(i,i) = -(1/p) Tr L^{-1} N,  and
R_S(i, j<i) = u_j.J(i,j) u_j / p comes from forward tangents: per response sample, the probe u_j of source j
(|u_j|^2 = p, E u_j u_j^T = I, so E u.J u = Tr J) is injected at j, propagated with the same maps and the memory
sum_{m<i} B(i,m) ds^m, and read out at every later i with the same u_j. ``probe_kind="eigen"`` (default): u_j is
drawn once stage j has converged, Rademacher in the eigenbasis of s^j + R^j (:func:`stage_probes`; no probe noise
where the stage maps commute, as they do at a stationary point); "spherical": one fixed spherical probe u for all j.
Stage 2 adds the input tangent dY = dM1 S M1 + M1 S dM1 + M1 dS M1, dM1 = -(1-gamma) h R1 dA1 R1,
dA1 = b1 ds^{2k+1} + dC^{2k+1}.
Checked against central differences of an independent W-form replay of the tableau (tests).

Cost per run (N = 2K + 1 points, Ns samples, n_R response samples, P passes per stage):
O(N P Ns p^3) (stage matrices and their inverses) + O(N^2 P n_R p^2 + N^3 P n_R p) (tangent sums);
memory O(n_R N^2 p) for the tangents. Measured (set B, d_eff = 8 complex, Ns = 32, n_R = 8, one thread): t = 10 on
31 steps 6 s, t = 100 on 62 steps 14 s (one GD run at d = 90 of that duration: 19 s), benchmarks/bench_dmft_long.py.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from dmft.dynamics import control_variates, ensembles
from dmft.dynamics.solver import NUGGET, _jackknife_train, cholesky_row
from dmft.params import ExtensiveWidthParams
from odes.common.errors import DivergenceError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from dmft.dynamics.gradient_flow import FlowResult, FlowSettings

GAMMA = 1.0 - 1.0 / math.sqrt(2.0)


def field_basis(d: int, field: str) -> np.ndarray:
    """Orthonormal basis (p, d, d) of the real vector space of symmetric (real) or Hermitian (complex) d x d
    matrices, <A, B> = Re Tr(A^H B): E_aa; (E_ab + E_ba)/sqrt 2; (complex) i (E_ab - E_ba)/sqrt 2, a < b."""
    cplx = field == "complex"
    out = []
    for a in range(d):
        e = np.zeros((d, d), complex if cplx else float)
        e[a, a] = 1.0
        out.append(e)
    r2 = 1.0 / math.sqrt(2.0)
    for a in range(d):
        for b in range(a + 1, d):
            e = np.zeros((d, d), complex if cplx else float)
            e[a, b] = e[b, a] = r2
            out.append(e)
            if cplx:
                e = np.zeros((d, d), complex)
                e[a, b], e[b, a] = 1j * r2, -1j * r2
                out.append(e)
    return np.array(out)


class _Field:
    """vec / unvec / operator matrices in the orthonormal basis of :func:`field_basis`."""

    def __init__(self, d: int, field: str):
        self.E = field_basis(d, field)
        self.p = p = self.E.shape[0]
        self.d = d
        self.cplx = field == "complex"
        ec = np.conj(self.E).reshape(p, d * d)
        # vec(X) = Re <conj E_q, X>: a real product with X viewed as interleaved (re, im) pairs
        if self.cplx:
            W = np.empty((2 * d * d, p))
            W[0::2] = ec.real.T
            W[1::2] = -ec.imag.T
        else:
            W = ec.real.T.copy()
        self.W = W
        self.Ecols = np.ascontiguousarray(self.E.transpose(1, 0, 2)).reshape(d, p * d)  # [a, (q, b)] = E_q[a, b]

    def vec(self, X: np.ndarray) -> np.ndarray:
        """(..., d, d) -> (..., p): coordinates <E_q, X> = Re Tr(E_q^H X)."""
        X = np.ascontiguousarray(X)
        flat = X.view(np.float64) if self.cplx else X
        return flat.reshape(*X.shape[:-2], -1) @ self.W

    def unvec(self, x: np.ndarray) -> np.ndarray:
        """(..., p) -> (..., d, d)."""
        return np.tensordot(x, self.E, axes=(-1, 0))

    def sandwich(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Per-sample matrix [q, r] = <E_q, X E_r Y + Y^H E_r X^H> (X, Y: (ns, d, d)) of the Hermitian-preserving map
        Z -> X Z Y + Y^H Z X^H; both terms have the same coordinates on a Hermitian basis, so it is 2 vec(X E_r Y).
        Two batched BLAS products: X [E_1 .. E_p] (d x pd), then the (pd x d) stack times Y."""
        ns, d, p = X.shape[0], self.d, self.p
        XE = (X @ self.Ecols).reshape(ns, d, p, d).transpose(0, 2, 1, 3).reshape(ns, p * d, d)
        XEY = (XE @ Y).reshape(ns, p, d, d)
        return 2.0 * np.swapaxes(self.vec(XEY), -1, -2)


def stage_probes(fld: _Field, X: np.ndarray, eps: np.ndarray) -> np.ndarray:
    r"""Rademacher Hutchinson probes in the pair basis of the eigenvectors of X (one per sample, X: (n, d, d)
    Hermitian; eps: (n, p) independent signs +-1): with X = O diag(x) O^H and the orthonormal basis E_q of
    :func:`field_basis`,

        U = O (sum_q eps_q E_q) O^H   =>   |u|^2 = p,  E[u u^T] = I,  E <U, J U> = Tr_p J,

    and u^T J u - Tr_p J = sum_{q != q'} eps_q eps_q' J~_{qq'} involves only the off-diagonal part of J in the basis
    O E_q O^H. :func:`solve_one` takes X = s + R at each stage (s the stage point, R = (I + c A)^{-1}): every stage
    map (X -> R X R, N, L^{-1}) is diagonal in the pair basis of a matrix that commutes with s and A, and at a
    stationary point A commutes with s (A = 0 on the range of s), so the responses of a settled run carry no probe
    noise at all; X = s + R also splits the null space of s (where only A acts) by the eigenvalues of R. Returns
    (n, p) probe coordinates."""
    _, O = np.linalg.eigh(X)
    return fld.vec(O @ fld.unvec(eps) @ np.conj(np.swapaxes(O, -1, -2)))


def _signs(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    return rng.choice((-1.0, 1.0), size=(n, p))


def match_points(parent: np.ndarray, child: np.ndarray) -> np.ndarray:
    """For each point of the sorted ``parent`` times the index of a distinct ``child`` point, increasing, each as
    near in time as the order allows (greedy; child = a refinement of parent, e.g. the halved grid). The first
    points are matched to each other."""
    out = np.empty(parent.size, dtype=int)
    j = 0
    for i, t in enumerate(parent):
        lo = j
        hi = child.size - (parent.size - i)  # leave a child point for every later parent point
        if hi < lo:
            raise ParameterError("noise_parent", "has more evaluation points than this grid")
        k = lo + int(np.argmin(np.abs(child[lo:hi + 1] - t)))
        out[i] = k
        j = k + 1
    return out


class _Draws:
    """The random draws of a run, per evaluation point: GUE/GOE innovations and (eigen probes) the probe signs.
    Without a parent grid they are drawn point by point from the noise / probe streams (the historical order). With
    ``noise_parent`` (the evaluation times of another grid run with the same seed) the pair shares its randomness
    (common random numbers for the step-error estimate): the parent run's draws are reproduced from the same streams
    and matched by :func:`match_points` -- on a finer grid each parent draw goes to the nearest point and the other
    points get draws from a separate stream; on a coarser grid each point takes the draw of the nearest parent
    point. Either way each run alone has independent draws at every point (the same law)."""

    def __init__(self, st, seedseq, rng_noise, rng_probe, ns, nr, d, p, N, tev):
        self.st, self.ns, self.nr, self.d, self.p = st, ns, nr, d, p
        self.rng_noise, self.rng_probe = rng_noise, rng_probe
        self.eigen = st.probe_kind == "eigen"
        self.gam = self.eps = None
        if st.noise_parent is None:
            return
        parent = np.asarray(st.noise_parent, dtype=float)
        gp = [ensembles.innovations(rng_noise, ns, d, st.field) for _ in parent]
        ep = [None] + [_signs(rng_probe, nr, p) for _ in parent[1:]] if self.eigen else None
        self.gam, self.eps = [None] * N, [None] * N
        if parent.size > N:  # coarser than the parent: point i takes the draws of parent point idx[i]
            for i, k in enumerate(match_points(tev, parent)):
                self.gam[i] = gp[k]
                self.eps[i] = ep[k] if self.eigen else None
            return
        for k, i in enumerate(match_points(parent, tev)):
            self.gam[i] = gp[k]
            self.eps[i] = ep[k] if self.eigen else None
        extra = np.random.default_rng(np.random.SeedSequence(seedseq.entropy,
                                                             spawn_key=tuple(seedseq.spawn_key) + (7919,)))
        for i in range(N):
            if self.gam[i] is None:
                self.gam[i] = ensembles.innovations(extra, ns, d, st.field)
            if self.eigen and i and self.eps[i] is None:
                self.eps[i] = _signs(extra, nr, p)

    def innovation(self, i: int) -> np.ndarray:
        if self.gam is not None:
            return self.gam[i]
        return ensembles.innovations(self.rng_noise, self.ns, self.d, self.st.field)

    def signs(self, i: int) -> np.ndarray:
        if self.eps is not None:
            return self.eps[i]
        return _signs(self.rng_probe, self.nr, self.p)


def _herm(a: np.ndarray) -> np.ndarray:
    return 0.5 * (a + np.conj(np.swapaxes(a, -1, -2)))


def _cs_row(Dpast: np.ndarray, Di: np.ndarray, d: int) -> np.ndarray:
    """Per-sample C_S(i, l <= i) = (1/d) Re Tr(D^i D^l): Dpast (i, ns, d, d), Di (ns, d, d) -> (ns, i + 1)."""
    i, ns = Dpast.shape[0], Di.shape[0]
    di = np.conj(Di.reshape(ns, d * d))
    out = np.empty((ns, i + 1))
    if i:
        out[:, :i] = np.real(np.einsum("lsa,sa->sl", Dpast.reshape(i, ns, d * d), di))
    out[:, i] = np.real(np.einsum("sa,sa->s", Di.reshape(ns, d * d), di))
    return out / d


def newton_step(fld: _Field, S_in: np.ndarray, Sstar: np.ndarray, C: np.ndarray, b: float, c: float, lam: float,
                s: np.ndarray) -> tuple:
    """One Newton step, for every sample, on the stage equation F(s) = s - R S_in R = 0,
    R = (I + c (b (s - S*) + C + lam))^{-1}; its Jacobian is I + b N with N(X) = c (R X T + T X R), T = R S_in R (at
    the solution T = s, and the same matrices give the stage tangent). Returns (s_new, R, T, N, (I + b N)^{-1},
    relative residual max|F| / (1 + max|s|)) -- R, T, N evaluated at the input s."""
    eye = np.eye(S_in.shape[-1])
    R = _herm(np.linalg.inv(eye + c * (b * (s - Sstar) + C + lam * eye)))
    T = _herm(R @ S_in @ R)
    F = s - T
    res = float(np.abs(F).max()) / (1.0 + float(np.abs(s).max()))
    Nm = c * fld.sandwich(R, T)
    Jinv = np.linalg.inv(np.eye(fld.p) + b * Nm)
    s_new = _herm(s - fld.unvec((Jinv @ fld.vec(F)[..., None])[..., 0]))
    return s_new, R, T, Nm, Jinv, res


def stage_solve(fld: _Field, S_in: np.ndarray, Sstar: np.ndarray, C: np.ndarray, b: float, c: float, lam: float,
                s0: np.ndarray, *, tol: float = 1e-12, maxit: int = 50, time_: float | None = None) -> tuple:
    """Solve the stage equation of :func:`newton_step` (C, b fixed) for every sample by Newton's method; returns
    (s, R). DivergenceError with the last residual if it does not converge in ``maxit`` steps."""
    s, res = s0.copy(), np.inf
    for _ in range(maxit):
        s_new, R, T, _, _, res = newton_step(fld, S_in, Sstar, C, b, c, lam, s)
        if res <= tol:
            return T, R
        s = s_new
        if not np.isfinite(s).all():
            break
    raise DivergenceError(f"implicit stage did not converge (Newton residual {res:.3e}); reduce the step",
                          time=time_)


class _Rows:
    """Per-sample rows for the jackknife of :func:`dmft.dynamics.solver._jackknife_train`."""

    def __init__(self, CSs, RSs, CS):
        self.CSs, self.RSs, self.CS = CSs, RSs, CS


def solve_one(params: ExtensiveWidthParams, st: FlowSettings, seedseq: np.random.SeedSequence, *,
              quiet: bool = True, tol: float = 1e-8, maxit: int = 60, trace: list | None = None,
              keep: dict | None = None) -> FlowResult:
    """One SDIRK2 DMFT run (module docstring) with the numerical settings ``st`` (a
    :class:`dmft.dynamics.gradient_flow.FlowSettings` with ``scheme="sdirk2"``); returns a ``FlowResult`` on the
    main grid t_k (two-time objects on the evaluation points, stage times in ``eval_t``). ``tol``: convergence of
    the per-stage self-consistency (K row, absolute) and of the stage equation (relative residual); ``trace``: if a
    list, (stage, iterations) are appended; ``keep``: if a dict, the internals (S*, S(0), innovations, Cholesky
    factor, probe u and per-source probes U, stage points, per-sample responses) are stored in it (for the tests).
    DivergenceError if a stage does not converge in ``maxit`` iterations (the message gives the last change) or
    the process blows up."""
    from dmft.dynamics.gradient_flow import FlowResult
    from odes.common.progress import progress

    t0 = time.perf_counter()
    h = np.asarray(st.steps, dtype=float)
    K = h.size
    N = 2 * K + 1
    d, ns = st.d_eff, st.samples
    nr = st.response_samples or ns
    alpha, delta, lam = params.alpha, params.noise, params.lam
    fld = _Field(d, st.field)
    p = fld.p
    ss_init, ss_noise, ss_probe = seedseq.spawn(3)  # the same streams as the Heun solver: same S*, S(0)
    rng = np.random.default_rng(ss_init)
    ratio0 = 0.0 if math.isinf(params.kappa) else 1.0 / params.kappa
    Sstar = np.stack([ensembles.mp_matrix(rng, d, 1.0 / params.kappa_star, st.ensemble, st.field)
                      for _ in range(ns)])
    S0 = np.stack([st.sigma0 ** 2 * ensembles.mp_matrix(rng, d, ratio0, st.ensemble, st.field) for _ in range(ns)])
    rng_noise = np.random.default_rng(ss_noise)
    rng_probe = np.random.default_rng(ss_probe)
    u = ensembles.spherical(rng_probe.standard_normal((nr, p)))  # E u u^T = I
    eigen = st.probe_kind == "eigen"
    tev = st.eval_times
    draws = _Draws(st, seedseq, rng_noise, rng_probe, ns, nr, d, fld.p, N, tev)
    U = np.zeros((nr, p, N))  # the probe of each source column j (spherical: u for all j)
    U[:, :, :] = u[:, :, None]
    dt = complex if st.field == "complex" else float
    eye = np.eye(d)
    c0 = 1.0 / (2.0 * math.sqrt(alpha))
    # histories with the time index first (contiguous prefixes [:i] for the memory and noise sums)
    s_hist = np.zeros((N, ns, d, d), dt)
    D = np.zeros((N, ns, d, d), dt)
    Gam = np.zeros((N, ns, d, d), dt)
    s_hist[0] = S0
    D[0] = S0 - Sstar
    Gam[0] = draws.innovation(0)
    CSs = np.zeros((ns, N, N))
    RSs = np.zeros((nr, N, N))
    RSx = np.zeros((ns, N))
    CS, RS, B, Ce, L = (np.zeros((N, N)) for _ in range(5))
    B[0, 0] = 1.0
    CSs[:, 0, :1] = _cs_row(D[:0], D[0], d)
    CS[0, 0] = CSs[:, 0, 0].mean()
    Ce[0, 0] = 2.0 * CS[0, 0] + delta
    cholesky_row(L, Ce[0], 0, NUGGET * Ce[0, 0])
    # G[m] = sum_{m' <= m} B(m, m') ds^{m'}: tangent of the gradient's non-noise part at m, per source (last axis)
    G = np.zeros((N, nr * p, N))
    V_main = np.zeros((nr, p, N))  # tangent of the current main point S^k
    dA1 = np.zeros((nr, p, N))
    R1 = M1 = None
    S_prev = [None, None]  # stage inputs of the last stage of each type (for the first guesses)
    scale = 1e8 * (1.0 + float(np.abs(Sstar).max()))
    Xi_main = np.zeros((K + 1, ns, d, d), dt)  # each sample's noise at the main points (control variates)
    Xi_main[0] = c0 * L[0, 0] * Gam[0]
    bar = progress(total=N - 1, desc="DMFT (SDIRK2)", quiet=quiet)
    try:
        for i in range(1, N):
            k = (i - 1) // 2
            c = GAMMA * h[k]
            stage1 = i % 2 == 1
            Sk = s_hist[2 * k]
            S_in = Sk if stage1 else _herm(M1 @ Sk @ M1)
            Gam[i] = draws.innovation(i)
            if stage1:
                dSin = V_main[:, :, :i + 1]
            else:  # dY = Ys dS^k + Ya dA1, fixed during the iteration
                Ys = 0.5 * fld.sandwich(M1[:nr], M1[:nr])
                Ya = -(1.0 - GAMMA) * h[k] * fld.sandwich(R1[:nr], R1[:nr] @ (Sk[:nr] @ M1[:nr]))
                dSin = Ys @ V_main[:, :, :i + 1] + Ya @ dA1[:, :, :i + 1]
            # first guesses from the previous stage of the same type (i - 2): its increment over its input, its row
            # shifted by one step (exact for a stationary kernel on a uniform grid)
            if i > 2:
                s_i = _herm(S_in + (s_hist[i - 2] - S_prev[i % 2]) * (h[k] / h[k - 1]))
                Koff = np.zeros(i)
                Koff[2:] = RS[i - 2, :i - 2] / (2.0 * alpha)
                kd = RS[i - 2, i - 2] / (2.0 * alpha)
            else:
                s_i = S_in.copy()
                Koff = RS[i - 1, :i] / (2.0 * alpha)
                kd = RS[i - 1, i - 1] / (2.0 * alpha) if i > 1 else 0.0
            S_prev[i % 2] = S_in
            Gi = G[:i]
            change = res = np.inf
            for it in range(maxit):
                n_iter = it + 1
                # rows i of B, C_S, C_e, L and the stage forcing from the current (s^i, K(i,i), K(i,:i))
                b = 1.0 / (1.0 - kd)
                B[i, :i] = b * (Koff @ B[:i, :i])
                B[i, i] = b
                csrow = _cs_row(D[:i], s_i - Sstar, d)
                CS[i, :i + 1] = csrow.mean(axis=0)
                CS[:i + 1, i] = CS[i, :i + 1]
                row = B[:i + 1, :i + 1] @ ((2.0 * CS[:i + 1, :i + 1] + delta) @ B[i, :i + 1])
                Ce[i, :i + 1] = row
                Ce[:i + 1, i] = row
                cholesky_row(L, row, i, NUGGET * Ce[0, 0], time=float(tev[i]))
                mem = np.tensordot(B[i, :i], D[:i], axes=(0, 0))
                noise = c0 * np.tensordot(L[i, :i + 1], Gam[:i + 1], axes=(0, 0))
                s_new, R, T, Nm, Jinv, res = newton_step(fld, S_in, Sstar, _herm(mem + noise), b, c, lam, s_i)
                E = Jinv @ Nm
                RSx[:, i] = -np.trace(E, axis1=1, axis2=2) / p
                kd_new = RSx[:, i].mean() / (2.0 * alpha)
                # the off-diagonal row from the forward tangents, exact for these stage matrices:
                # R_S(i,j) = mean_r [a_r . dSin_r[:, j] - b w_r . sum_m K(i,m) G_r[m][:, j]] / p,
                # a_r = F_r^T u_r, w_r = E_r^T u_r  =>  (I + b M) K(i,:i) = k0
                Fm = Jinv[:nr] @ (0.5 * fld.sandwich(R[:nr], R[:nr]))
                a_ = np.swapaxes(Fm, 1, 2) @ U[:, :, :i]
                w_ = (np.swapaxes(E[:nr], 1, 2) @ U[:, :, :i]).reshape(nr * p, i)
                k0 = np.einsum("rqj,rqj->j", a_, dSin[:, :, :i]) / (nr * p * 2.0 * alpha)
                Mm = np.einsum("xj,mxj->jm", w_, Gi[:, :, :i]) / (nr * p * 2.0 * alpha)
                K_new = np.linalg.solve(np.eye(i) + b * Mm, k0)
                change = max(float(np.abs(K_new - Koff).max()), abs(kd_new - kd))
                if not (np.isfinite(s_new).all() and np.isfinite(K_new).all()):
                    raise DivergenceError(f"implicit stage {i} diverged; reduce the step", time=float(tev[i]))
                if change < tol and res < tol:
                    Koff, kd, s_i = K_new, kd_new, s_new
                    break
                s_i, kd, Koff = s_new, kd_new, K_new
            else:
                raise DivergenceError(f"implicit stage {i} and its DMFT row did not converge in {maxit} iterations "
                                      f"(last change of the K row {change:.3e}, stage residual {res:.3e}); reduce "
                                      "the step", time=float(tev[i]))
            # the stage must be the continuation of the flow (W -> W R with R = (I + gamma h A)^{-1} positive
            # definite, as for h -> 0); a step so large that I + gamma h A is indefinite can land on another fixed
            # point of the stage map (e.g. the spurious stationary point W = 0)
            lam_min = float(np.linalg.eigvalsh(R).min())
            if lam_min <= 0.0:
                raise DivergenceError(f"implicit stage {i}: the step {h[k]:g} is too large (I + gamma h A is not "
                                      f"positive definite; smallest eigenvalue of its inverse {lam_min:.3e}); "
                                      "reduce the step", time=float(tev[i]))
            if trace is not None:
                trace.append((i, n_iter))
            # commit row i: C_S from the converged s^i, then B, C_e and the Cholesky row from it and the converged K
            # row, so that the stored two-time objects are consistent with each other to rounding (s^i itself
            # solved the stage with the previous pass's row, a difference below ``tol``)
            s_hist[i] = s_i
            D[i] = s_i - Sstar
            CSs[:, i, :i + 1] = _cs_row(D[:i], D[i], d)
            CS[i, :i + 1] = CSs[:, i, :i + 1].mean(axis=0)
            CS[:i + 1, i] = CS[i, :i + 1]
            b = 1.0 / (1.0 - kd)
            B[i, :i] = b * (Koff @ B[:i, :i])
            B[i, i] = b
            row = B[:i + 1, :i + 1] @ ((2.0 * CS[:i + 1, :i + 1] + delta) @ B[i, :i + 1])
            Ce[i, :i + 1] = row
            Ce[:i + 1, i] = row
            cholesky_row(L, row, i, NUGGET * Ce[0, 0], time=float(tev[i]))
            dC = b * (Koff @ G[:i].reshape(i, -1)).reshape(nr, p, N)[:, :, :i + 1]
            if eigen:
                U[:, :, i] = stage_probes(fld, s_i[:nr] + R[:nr], draws.signs(i))
            dC[:, :, i] += U[:, :, i]
            Vi = Fm @ dSin - E[:nr] @ dC
            RSs[:, i, :i] = np.einsum("rpj,rpj->rj", U[:, :, :i], Vi[:, :, :i]) / p
            RS[i, :i] = Koff * 2.0 * alpha
            RS[i, i] = kd * 2.0 * alpha
            Gnew = b * Vi + dC
            Gnew[:, :, i] -= U[:, :, i]
            G[i].reshape(nr, p, N)[:, :, :i + 1] = Gnew
            if stage1:
                R1 = R
                M1 = _herm(eye - ((1.0 - GAMMA) / GAMMA) * (eye - R))
                dA1[:] = 0.0
                dA1[:, :, :i + 1] = b * Vi + dC
            else:
                V_main[:] = 0.0
                V_main[:, :, :i + 1] = Vi
                Xi_main[i // 2] = c0 * np.tensordot(L[i, :i + 1], Gam[:i + 1], axes=(0, 0))
            if not np.isfinite(s_i).all() or float(np.abs(s_i).max()) > scale:
                raise DivergenceError(f"effective process diverged (|S| > {scale:.3g}); reduce the step",
                                      time=float(tev[i]))
            bar.update(1)
    finally:
        bar.close()
    if keep is not None:
        keep.update(Sstar=Sstar, S0=S0, Gam=Gam, L=L, u=u, U=U, s=s_hist, RSs=RSs, RSx=RSx)
    main = np.arange(0, N, 2)
    test_s = 2.0 * np.einsum("sii->si", CSs)[:, main]
    if st.control_variates:
        test, test_se = control_variates.test_error_cv(test_s, Xi_main, Sstar, L[main], c0, st.field)
    else:
        test, test_se = 2.0 * np.diag(CS)[main], test_s.std(axis=0, ddof=1) / math.sqrt(ns)
    train_se = _jackknife_train(_Rows(CSs, RSs, CS), alpha, delta, groups=None if nr == ns else 16, diag=RSx)[main]
    return FlowResult(params=params, settings=st, t=st.times, train_error=np.diag(Ce)[main].copy(),
                      test_error=test, train_error_se=train_se, test_error_se=test_se,
                      eval_t=tev, C_S=CS, R_S=RS, C_e=Ce, B=B, wall_time=time.perf_counter() - t0)
