r"""Second-order (Heun) DMFT of gradient flow on a non-uniform time grid.

The gradient flow dW/dt = -W (G + lam), S = W^T W/m, is integrated by Heun's method (explicit trapezoidal rule)
on the W-flow, with steps h_k on a grid 0 = t_0 < t_1 < ... < t_K = t_max:

    W~ = W^k P_k,   P_k = I - h_k (G(t_k, S^k) + lam),                              (predictor, at t_{k+1})
    W^{k+1} = W^k Q_k,   Q_k = I - (h_k/2) [ (G(t_k, S^k) + lam) + P_k (G(t_{k+1}, S~) + lam) ],

i.e. in S variables (exactly, PSD- and rank-preserving): S~ = P_k S^k P_k, S^{k+1} = Q_k^T S^k Q_k. This is an
algorithm with two gradient evaluations per step (a first-order method in the GFOM sense), so its d = infinity
limit is again a discrete DMFT, with two-time objects indexed by the evaluation points i = 0..2K (i = 2k: main
point S^k at t_k; i = 2k+1: predictor S~ at t_{k+1}):

    g^i = D^i + sum_{m<i} B(i,m) D^m + Xi^i,   D^i = s^i - S*,   Xi^i = (1/(2 sqrt alpha)) sum_{l<=i} L(i,l) Gamma^l,
    C_S(i,l) = (1/d) E Tr(D^i D^l),   R_S(i,j) = (1/p) E Tr_p ds^i/dg^j,   K = R_S/(2 alpha),   B = (I - K)^{-1},
    C_e = B (2 C_S + Delta 1 1^T) B^T (+ mu I in the noise),    train(t_k) = C_e(2k,2k),   test(t_k) = 2 C_S(2k,2k),

(the sample side is the same linear Volterra structure as for GD, spec Sec. 2.3, because only the parameter-side
map changed). R_S(i, j<i) comes from the adjoint sweep of :mod:`dmft.dynamics.flow_kernels` with a Hutchinson
probe; the two nearest entries are replaced by their exact expectations

    R_S(2k+1, 2k) = -(2 h_k/d) Tr(S^k P_k),      R_S(2k+2, 2k+1) = -(h_k/d) Tr(P_k S^k Q_k).

The memory integral int_0^t R_e(t,s) D(s) ds is thus the quadrature sum_m B(i,m) D^m that the DMFT of Heun's
method generates itself (B(i,m) ~ h-weighted R_e), consistent with the step. Heun's method is second order for a
random ODE driven by a smooth (here: smooth in t, covariance C_e) forcing, so the curves converge to those of gradient
flow as O(h^2) (the Euler/GD solver :mod:`dmft.dynamics.solver` is O(h)); the empirical order is measured in the
tests. Stability: explicit, same real-axis bound as GD (h < ~ 2/(2 s_max h_max), :func:`settings.step_bound`), so the
steps can grow from a small first step (fast initial transient) up to that bound but not beyond it
(:func:`flow_grid`; graded grid h_k = min(h, h_0 g^k)).

Cost: N = 2K+1 evaluation points, O(N^2 Ns probes d^3) (adjoints) + O(N^3 Ns probes d^2) (memory sums).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from dmft.dynamics import control_variates, ensembles
from dmft.dynamics.flow_backend import BACKENDS, get_ops, heun_adjoint_batched
from dmft.dynamics.flow_kernels import heun_adjoint
from dmft.dynamics.settings import ENSEMBLES, step_bound
from dmft.dynamics.solver import NUGGET, _jackknife_train, cholesky_row
from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import DivergenceError, ParameterError
from odes.common.progress import progress
from odes.common.resources import check_memory, single_threaded_blas
from odes.common.result import Result, coordinate, variable

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

_BLOWUP = 1e8


#: time integrators of :func:`solve_flow`: explicit Heun (this module) or the L-stable implicit SDIRK2
#: (:mod:`dmft.dynamics.implicit_flow`)
SCHEMES = ("heun", "sdirk2")
#: Hutchinson probes of the implicit scheme (:mod:`dmft.dynamics.implicit_flow`), default first
PROBE_KINDS = ("eigen", "spherical")

#: largest number of steps of a gradient-flow grid: the (2K+1)^2 two-time arrays take ~0.4 GB each at K = 5000
MAX_GRID_STEPS = 5000


def flow_grid(t_max: float, h: float, h0: float | None = None, growth: float = 1.1) -> np.ndarray:
    """Step sizes h_k of a grid on [0, t_max]: uniform (h0 None: K = ceil(t_max/h) equal steps) or graded,
    h_k = min(h, h0 growth^k), the last step shortened so that sum h_k = t_max exactly."""
    t_max = check.positive("t_max", t_max)
    h = check.positive("h", h)
    if t_max / h > MAX_GRID_STEPS:
        raise ParameterError("t_max", f"t_max / h = {t_max / h:.3g} steps exceeds {MAX_GRID_STEPS} (the two-time "
                                      "arrays grow as steps^2): use t_max <= "
                                      f"{MAX_GRID_STEPS * h:.4g} at h = {h:g}")
    if h0 is None:
        K = max(1, math.ceil(t_max / h - 1e-9))
        return np.full(K, t_max / K)
    h0 = check.positive("h0", h0)
    growth = check.real("growth", growth, lo=1.0)
    steps, t, g = [], 0.0, h0
    while t < t_max * (1 - 1e-12):
        hk = min(h, g, t_max - t)
        steps.append(hk)
        t += hk
        g = min(g * growth, h)  # no overflow: the ramp stops at h
        if len(steps) > MAX_GRID_STEPS:
            raise ParameterError("t_max", f"t_max = {t_max:g} needs a graded grid whose number of steps exceeds "
                                          f"{MAX_GRID_STEPS} (h0 = {h0:g}, growth = {growth:g}, h = {h:g}): use a "
                                          "larger h")
    return np.array(steps)


@dataclass(frozen=True)
class FlowSettings:
    """Numerical settings of :func:`solve_flow`. ``steps`` (h_k) from :func:`flow_grid`; ``d_eff``, ``samples``,
    ``probes``, ``sigma0``, ``seed``, ``ensemble``, ``runs`` as in :class:`dmft.dynamics.DMFTSettings`;
    ``check_stability``: reject max h_k beyond the explicit bound :func:`step_bound`. ``fixed_probes`` (default):
    each sample keeps one Hutchinson probe U for all target times (still E<U, J U> = Tr_p J for every entry; the
    probe noise becomes smooth in t instead of jumping from one step to the next, and runs on different grids with
    the same seed share it: common random numbers for step-size differences); False: a fresh probe per target.
    ``backend``: "numba" (default; one compiled sweep per sample and probe), "numpy" or "torch" (all samples x
    probes in one batched sweep, :mod:`dmft.dynamics.flow_backend`; torch optional, on ``device``). ``scheme``:
    "heun" (explicit, this module) or "sdirk2" (L-stable implicit, :mod:`dmft.dynamics.implicit_flow`).
    ``control_variates`` (default True): the test error is the regression control-variate estimate on each sample's
    noise statistics (:mod:`dmft.dynamics.control_variates`; ~5x less variance at late times). ``probe_kind``
    (implicit scheme): "eigen" (default) -- a fresh Rademacher probe per source time in the eigenbasis of that stage
    (:func:`dmft.dynamics.implicit_flow.stage_probes`; no probe noise once the run settles), or "spherical" -- one
    spherical probe per response sample for all source times; the Heun scheme has "spherical" only.
    ``noise_parent`` (implicit scheme): the evaluation times of another grid (e.g. :func:`halved`'s parent) whose run
    with the same seed should share this run's innovations and probe signs at the nearest points (common random
    numbers for the step-error estimate; :class:`dmft.dynamics.implicit_flow._Draws`)."""

    steps: tuple
    d_eff: int = 40
    samples: int = 4
    probes: int = 1
    sigma0: float = 1.0
    seed: int = 0
    ensemble: str = "quantile"
    runs: int = 1
    check_stability: bool = True
    fixed_probes: bool = True
    backend: str = "numba"
    device: str | None = None
    field: str = "real"
    response_samples: int | None = None
    scheme: str = "heun"
    control_variates: bool = True
    probe_kind: str | None = None
    noise_parent: tuple | None = None

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)
        steps = check.array("steps", self.steps, shape=(None,))
        if steps.size == 0 or not (np.isfinite(steps).all() and (steps > 0).all()):
            raise ParameterError("steps", "valid range: a non-empty sequence of positive finite step sizes")
        s("steps", tuple(float(x) for x in steps))
        s("d_eff", check.integer("d_eff", self.d_eff, lo=2))
        s("samples", check.integer("samples", self.samples, lo=2))
        s("probes", check.integer("probes", self.probes, lo=1))
        s("sigma0", check.positive("sigma0", self.sigma0))
        s("seed", check.integer("seed", self.seed, lo=0))
        s("runs", check.integer("runs", self.runs, lo=1))
        if self.ensemble not in ENSEMBLES:
            raise ParameterError("ensemble", f"must be one of {ENSEMBLES}, got {self.ensemble!r}")
        if self.backend not in BACKENDS:
            raise ParameterError("backend", f"must be one of {BACKENDS}, got {self.backend!r}")
        if self.response_samples is not None:
            s("response_samples", check.integer("response_samples", self.response_samples, lo=2, hi=self.samples))
        if self.field not in ensembles.FIELDS:
            raise ParameterError("field", f"must be one of {ensembles.FIELDS}, got {self.field!r}")
        if not isinstance(self.control_variates, (bool, np.bool_)):
            raise ParameterError("control_variates", f"must be True or False, got {self.control_variates!r}")
        s("control_variates", bool(self.control_variates))
        if self.scheme not in SCHEMES:
            raise ParameterError("scheme", f"must be one of {SCHEMES}, got {self.scheme!r}")
        if self.scheme == "sdirk2":
            if self.probes != 1:
                raise ParameterError("probes", "valid range: 1 with scheme='sdirk2' (one fixed probe per response "
                                               "sample; use more response samples instead)")
            if not self.fixed_probes:
                raise ParameterError("fixed_probes", "valid range: True with scheme='sdirk2' (forward tangents "
                                                     "carry one probe for all target times)")
            if self.backend not in ("numba", "numpy"):
                raise ParameterError("backend", "valid range: 'numpy' (or the default) with scheme='sdirk2'")
        kinds = PROBE_KINDS if self.scheme == "sdirk2" else ("spherical",)
        kind = kinds[0] if self.probe_kind is None else self.probe_kind
        if kind not in kinds:
            raise ParameterError("probe_kind", f"must be one of {kinds} with scheme={self.scheme!r}, got {kind!r}")
        s("probe_kind", kind)
        if self.noise_parent is not None:
            if self.scheme != "sdirk2":
                raise ParameterError("noise_parent", "valid only with scheme='sdirk2'")
            par = check.array("noise_parent", self.noise_parent, shape=(None,))
            if par.size == 0 or not np.isfinite(par).all() or (np.diff(par) <= 0).any():
                raise ParameterError("noise_parent", "valid range: increasing finite evaluation times")
            s("noise_parent", tuple(float(x) for x in par))

    def memory_bytes(self) -> tuple[float, float]:
        r"""Bytes of the arrays one :func:`solve_flow` run allocates, as ``(d_eff part, grid part)``: with K steps,
        N = 2K + 1 evaluation points, Ns samples, d = d_eff, b = 8 (real) or 16 (complex) bytes per entry,

            d_eff part = b Ns d^2 (2 N + 4 (K + 1))      (histories D, Gamma; S^k, P_k, Q_k, P~_k)
            grid part  = 8 (2 Ns + 7) N^2                (per-sample C_S, R_S rows; C_S, R_S, B, C_e, L; copies)."""
        K = len(self.steps)
        N = 2 * K + 1
        b = 16.0 if self.field == "complex" else 8.0
        grid = 8.0 * (2 * self.samples + 7) * N * N
        if self.scheme == "sdirk2":  # forward tangents V (n_R, N, p, N) and the stage matrices (Ns, p, p)
            p = ensembles.real_dimension(self.d_eff, self.field)
            nr = self.response_samples or self.samples
            return b * self.samples * self.d_eff ** 2 * 3 * N + 8.0 * 6 * self.samples * p * p, \
                grid + 8.0 * nr * p * N * (N + 2)
        return b * self.samples * self.d_eff ** 2 * (2 * N + 4 * (K + 1)), grid

    @property
    def times(self) -> np.ndarray:
        """Main grid t_k, k = 0..K."""
        return np.concatenate([[0.0], np.cumsum(self.steps)])

    @property
    def eval_times(self) -> np.ndarray:
        """Times of the evaluation points i = 0..2K (i = 2k: t_k; i = 2k+1: t_{k+1} for Heun's predictor,
        t_k + gamma h_k for the first SDIRK2 stage)."""
        t = self.times
        out = np.empty(2 * len(self.steps) + 1)
        out[0::2] = t
        out[1::2] = t[1:] if self.scheme == "heun" else t[:-1] + (1.0 - 1.0 / math.sqrt(2.0)) * np.array(self.steps)
        return out


@dataclass(frozen=True, eq=False, repr=False)
class FlowResult(Result):
    """Gradient-flow DMFT curves on the main grid (``t``, ``train_error``, ``test_error`` and their standard errors
    ``*_se``: for runs = 1 the within-run error -- jackknife over samples (train), control-variate regression
    residual or std/sqrt(Ns) (test) -- which misses the common-mode noise of the kernels (up to ~3x); run-to-run
    std/sqrt(runs) for runs > 1) and the two-time objects on
    the evaluation points (``eval_t``; ``C_S``, ``R_S``, ``C_e``, ``B``; None when runs > 1).

    Labelled data (:meth:`to_xarray`): curve coordinate ``t`` with ``train_error``, ``test_error``, ``*_se``;
    coordinates ``s``, ``s2`` (the 2K+1 evaluation times) of the two-time arrays when present; settings as
    attributes ``setting_<name>``."""

    curve_coord: ClassVar[str | None] = "t"

    params: ExtensiveWidthParams
    settings: FlowSettings
    t: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    train_error_se: np.ndarray
    test_error_se: np.ndarray
    eval_t: np.ndarray
    C_S: np.ndarray | None = None
    R_S: np.ndarray | None = None
    C_e: np.ndarray | None = None
    B: np.ndarray | None = None
    wall_time: float = 0.0

    def curves(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ("t", "train_error", "test_error", "train_error_se",
                                                        "test_error_se")}

    def to_xarray(self) -> xr.Dataset:
        variables = curve_variables(self)
        coords = {"t": coordinate("t", self.t, "gradient-flow time t")}
        two = {name: getattr(self, name) for name in ("C_S", "R_S", "C_e", "B") if getattr(self, name) is not None}
        if two:
            coords["s"] = coordinate("s", self.eval_t, "evaluation time of the two-time functions (Heun stages)")
            coords["s2"] = coordinate("s2", self.eval_t, "second evaluation time of the two-time functions")
            variables.update({k: variable(("s", "s2"), v, f"two-time function {k}(s, s2) of the gradient-flow DMFT")
                              for k, v in two.items()})
        variables["wall_time"] = variable((), self.wall_time, "wall-clock time of the solve", "s")
        plain = dataclasses.asdict(self.settings)
        attrs = {f"setting_{k}": (int(v) if isinstance(v, bool) else v) for k, v in plain.items()
                 if isinstance(v, (bool, int, float, str))}
        return self.dataset(variables, coords, {"settings_json": json.dumps(plain, default=str), **attrs})


def curve_variables(res: Any) -> dict[str, tuple]:
    """``train_error``, ``test_error`` and their ``*_se`` along ``t`` (labels of :mod:`dmft.dynamics.result`)."""
    from dmft.dynamics.result import TEST_LONG_NAME, TRAIN_LONG_NAME

    return {"train_error": variable("t", res.train_error, TRAIN_LONG_NAME),
            "train_error_se": variable("t", res.train_error_se, "standard error of train_error"),
            "test_error": variable("t", res.test_error, TEST_LONG_NAME),
            "test_error_se": variable("t", res.test_error_se, "standard error of test_error")}


@dataclass
class _State:
    Sstar: np.ndarray
    Dh: np.ndarray
    Gam: np.ndarray
    Sk: np.ndarray
    Ph: np.ndarray
    Qh: np.ndarray
    Pth: np.ndarray
    CSs: np.ndarray
    RSs: np.ndarray
    CS: np.ndarray
    RS: np.ndarray
    B: np.ndarray
    Ce: np.ndarray
    L: np.ndarray


def _init(params: ExtensiveWidthParams, st: FlowSettings, seedseq: np.random.SeedSequence):
    ss_init, ss_noise, ss_probe = seedseq.spawn(3)
    rng = np.random.default_rng(ss_init)
    d, ns, K = st.d_eff, st.samples, len(st.steps)
    N = 2 * K + 1
    ratio0 = 0.0 if math.isinf(params.kappa) else 1.0 / params.kappa
    f = st.field
    sstar = np.stack([ensembles.mp_matrix(rng, d, 1.0 / params.kappa_star, st.ensemble, f) for _ in range(ns)])
    s0 = np.stack([st.sigma0 ** 2 * ensembles.mp_matrix(rng, d, ratio0, st.ensemble, f) for _ in range(ns)])
    dt = complex if f == "complex" else float
    z = lambda shape: np.zeros(shape, dtype=dt)  # noqa: E731
    state = _State(Sstar=sstar, Dh=z((ns, N, d, d)), Gam=z((ns, N, d, d)), Sk=z((ns, K + 1, d, d)),
                   Ph=z((ns, K + 1, d, d)), Qh=z((ns, K + 1, d, d)), Pth=z((ns, K + 1, d, d)),
                   CSs=np.zeros((ns, N, N)), RSs=np.zeros((st.response_samples or ns, N, N)),
                   CS=np.zeros((N, N)), RS=np.zeros((N, N)), B=np.eye(N), Ce=np.zeros((N, N)), L=np.zeros((N, N)))
    state.Sk[:, 0] = s0
    return state, np.random.default_rng(ss_noise), np.random.default_rng(ss_probe)


def _solve_one(params: ExtensiveWidthParams, st: FlowSettings, seedseq: np.random.SeedSequence,
               quiet: bool = True) -> FlowResult:
    t0 = time.perf_counter()
    state, rng_noise, rng_probe = _init(params, st, seedseq)
    h = np.array(st.steps)
    K = h.size
    N = 2 * K + 1
    d, ns, npr = st.d_eff, st.samples, st.probes
    alpha, delta, lam = params.alpha, params.noise, params.lam
    cplx = st.field == "complex"
    eye = np.eye(d)
    gam_buf = np.empty((N, d, d), dtype=complex if cplx else float)
    p_real = float(ensembles.real_dimension(d, st.field))
    H = (lambda a: np.conj(np.swapaxes(a, -1, -2))) if cplx else (lambda a: np.swapaxes(a, -1, -2))  # noqa: E731
    c0 = 1.0 / (2.0 * math.sqrt(alpha))
    scale = _BLOWUP * (1.0 + float(np.abs(state.Sstar).max()))
    tev = st.eval_times
    nr = st.response_samples or ns  # the adjoint sweeps run on samples 0..nr-1
    U_fixed = ensembles.field_probes(rng_probe, nr * npr, d, st.field) if st.fixed_probes else None
    batched = st.backend != "numba"
    if batched:
        ops = get_ops(st.backend, st.device, st.field)
        idx = np.repeat(np.arange(nr), npr)
        bS, bP, bQ, bPt = (ops.zeros((nr * npr, K + 1, d, d)) for _ in range(4))
        bU = ops.asarray(U_fixed) if st.fixed_probes else None
    Xi_main = np.zeros((K + 1, ns, d, d), dtype=complex if cplx else float)  # noise at the main points (CVs)
    bar = progress(total=N, desc="DMFT (Heun)", quiet=quiet)
    try:
        for i in range(N):
            k = i // 2
            # s^i from the previous gradients (all samples at once: (ns, d, d) stacks)
            if i == 0:
                si = state.Sk[:, 0]
            elif i % 2 == 1:
                si = state.Ph[:, k] @ state.Sk[:, k] @ state.Ph[:, k]
            else:
                Q = state.Qh[:, k - 1]
                si = H(Q) @ state.Sk[:, k - 1] @ Q
                si = 0.5 * (si + H(si))
                state.Sk[:, k] = si
            state.Dh[:, i] = si - state.Sstar
            # C_S row per sample: (1/d) Re Tr(D^i D^l) = (1/d) Re sum_ab D^l_ab conj(D^i_ab), l <= i (Hermitian D;
            # conjugating the one new row, not the history)
            flat = state.Dh[:, :i + 1].reshape(ns, i + 1, d * d)
            state.CSs[:, i, :i + 1] = np.real(flat @ np.conj(flat[:, i, :, None]))[..., 0] / d
            if batched and i % 2 == 0:
                bS[:, k] = ops.asarray(state.Sk[idx, k])
            if not np.isfinite(state.Dh[:, i]).all() or float(np.abs(state.Dh[:, i]).max()) > scale:
                raise DivergenceError(f"effective process diverged (|S| > {scale:.3g}); reduce the step",
                                      time=float(tev[i]))
            state.CS[i, :i + 1] = state.CSs[:, i, :i + 1].mean(axis=0)
            state.CS[:i + 1, i] = state.CS[i, :i + 1]
            if i >= 1:
                U = U_fixed if st.fixed_probes else ensembles.field_probes(rng_probe, nr * npr, d, st.field)
                if batched:
                    rows = heun_adjoint_batched(i, bS, bP, bQ, bPt, h, state.B,
                                                bU if st.fixed_probes else ops.asarray(U), ops)
                    rows = rows.reshape(nr, npr, i).mean(axis=1)
                if not batched:
                    rows = np.zeros((nr, i))
                    for s in range(nr):
                        for q in range(npr):
                            rows[s] += heun_adjoint(i, state.Sk[s], state.Ph[s], state.Qh[s], state.Pth[s], h,
                                                    state.B, U[s * npr + q], gam_buf, 8, p_real)
                    rows /= npr
                kk = (i - 1) // 2
                if i % 2 == 1:  # exact R_S(2k+1, 2k) = -(2 h/d) Re Tr(S P), every sample
                    exact = -(2.0 * h[kk] / d) * np.real(np.einsum("sab,sba->s", state.Sk[:, kk], state.Ph[:, kk]))
                else:  # exact R_S(2k+2, 2k+1) = -(h/d) Re Tr(P S Q)
                    exact = -(h[kk] / d) * np.real(np.einsum("sab,sba->s", state.Ph[:, kk] @ state.Sk[:, kk],
                                                             state.Qh[:, kk]))
                rows[:, i - 1] = exact[:nr]
                state.RSs[:, i, :i] = rows
                state.RS[i, :i] = state.RSs[:, i, :i].mean(axis=0)
                state.RS[i, i - 1] = exact.mean()
                state.B[i, :i] = (state.RS[i, :i] / (2.0 * alpha)) @ state.B[:i, :i]
            Bi = state.B[:i + 1, :i + 1]
            row = Bi @ ((2.0 * state.CS[:i + 1, :i + 1] + delta) @ state.B[i, :i + 1])
            if not (np.isfinite(row).all() and np.isfinite(state.RS[i, :i]).all()):
                raise DivergenceError("DMFT kernels became non-finite", time=float(tev[i]))
            state.Ce[i, :i + 1] = row
            state.Ce[:i + 1, i] = row
            cholesky_row(state.L, row, i, NUGGET * state.Ce[0, 0], time=float(tev[i]))
            if i < N - 1:
                state.Gam[:, i] = ensembles.innovations(rng_noise, ns, d, st.field)
                cn = state.L[i] * c0
                dd = d * d
                mem = (state.B[i, :i] @ state.Dh[:, :i].reshape(ns, i, dd)).reshape(ns, d, d) if i else 0.0
                noise = (cn[:i + 1] @ state.Gam[:, :i + 1].reshape(ns, i + 1, dd)).reshape(ns, d, d)
                A = state.Dh[:, i] + mem + noise + lam * eye
                if i % 2 == 0:
                    Xi_main[k] = noise
                    state.Ph[:, k] = eye - h[k] * A
                else:
                    P = state.Ph[:, k]
                    state.Pth[:, k] = eye - h[k] * A
                    A0 = (eye - P) / h[k]
                    state.Qh[:, k] = eye - 0.5 * h[k] * (A0 + P @ A)
                if batched:
                    if i % 2 == 0:
                        bP[:, k] = ops.asarray(state.Ph[idx, k])
                    else:
                        bQ[:, k] = ops.asarray(state.Qh[idx, k])
                        bPt[:, k] = ops.asarray(state.Pth[idx, k])
            bar.update(1)
    finally:
        bar.close()
    main = np.arange(0, N, 2)
    test_s = 2.0 * np.einsum("sii->si", state.CSs)[:, main]
    if st.control_variates:  # the final point's innovation is drawn only for its noise statistics
        state.Gam[:, N - 1] = ensembles.innovations(rng_noise, ns, d, st.field)
        Xi_main[K] = c0 * (state.L[N - 1] @ state.Gam.reshape(ns, N, d * d)).reshape(ns, d, d)
        test, test_se = control_variates.test_error_cv(test_s, Xi_main, state.Sstar, state.L[main], c0, st.field)
    else:
        test, test_se = 2.0 * np.diag(state.CS)[main], test_s.std(axis=0, ddof=1) / math.sqrt(ns)
    train_se = _jackknife_train(state, alpha, delta, groups=None if nr == ns else 16)[main]
    return FlowResult(params=params, settings=st, t=st.times, train_error=np.diag(state.Ce)[main].copy(),
                      test_error=test, train_error_se=train_se, test_error_se=test_se,
                      eval_t=tev, C_S=state.CS, R_S=state.RS, C_e=state.Ce, B=state.B,
                      wall_time=time.perf_counter() - t0)


def solve_flow(params: ExtensiveWidthParams, settings: FlowSettings, *, quiet: bool = True,
               seedseq: np.random.SeedSequence | None = None) -> FlowResult:
    """Heun DMFT of gradient flow (module docstring). ``seedseq`` overrides ``settings.seed`` as the root of the
    random streams (used by :func:`dmft.dynamics.curve.solve_curve`). ``settings.runs > 1``: independent seeds
    spawned from the root, curves = mean, standard errors = run-to-run std/sqrt(runs). Raises ParameterError (a step
    beyond the explicit stability bound, when ``check_stability``), DivergenceError (a run that blows up)."""
    if settings.check_stability and settings.scheme == "heun":
        bound = step_bound(params.alpha, params.kappa_star)
        if max(settings.steps) >= bound:
            raise ParameterError("h", f"valid range: steps < {bound:.6g} (explicit stability bound "
                                      "1/(s_max h_max), s_max = (1+1/sqrt(kappa*))^2, h_max = (1+1/sqrt(2 alpha))^2)")
    d_part, t_part = settings.memory_bytes()
    check_memory("d_eff" if d_part >= t_part else "steps", d_part + t_part,
                 f"the gradient-flow DMFT run (d_eff = {settings.d_eff}, samples = {settings.samples}, "
                 f"{len(settings.steps)} steps, scheme {settings.scheme})")
    root = np.random.SeedSequence(settings.seed) if seedseq is None else seedseq
    if settings.scheme == "sdirk2":
        from dmft.dynamics.implicit_flow import solve_one as one
    else:
        one = _solve_one
    with single_threaded_blas():  # d_eff x d_eff products: threads cost more than they give
        if settings.runs == 1:
            return one(params, settings, root, quiet=quiet)
        res = [one(params, settings, ss, quiet=quiet) for ss in root.spawn(settings.runs)]
    R = len(res)
    out = {}
    for name in ("train_error", "test_error"):
        y = np.array([getattr(r, name) for r in res])
        out[name] = y.mean(axis=0)
        out[name + "_se"] = y.std(axis=0, ddof=1) / math.sqrt(R)
    return FlowResult(params=params, settings=settings, t=res[0].t, eval_t=res[0].eval_t,
                      wall_time=sum(r.wall_time for r in res), **out)


def flow_settings(t_max: float, h: float, *, h0: float | None = None, growth: float = 1.1,
                  **kw) -> FlowSettings:
    """:class:`FlowSettings` on :func:`flow_grid` (t_max, h, h0, growth); other keywords passed through."""
    return FlowSettings(steps=tuple(flow_grid(t_max, h, h0, growth)), **kw)


def halved(settings: FlowSettings) -> FlowSettings:
    """The same grid with every step split in two (for the time-step error estimate h -> h/2)."""
    return dataclasses.replace(settings, steps=tuple(np.repeat(np.array(settings.steps) / 2.0, 2)))


def merged(settings: FlowSettings) -> FlowSettings:
    """The grid with consecutive steps merged in pairs (h_0 + h_1, h_2 + h_3, ...; an odd last step kept): its
    points are the even-numbered points of ``settings`` and the last one (the step-error partner h -> 2h)."""
    h = np.array(settings.steps)
    k = h.size // 2
    steps = h[:2 * k].reshape(k, 2).sum(axis=1)
    return dataclasses.replace(settings, steps=tuple(np.concatenate([steps, h[2 * k:]])))
