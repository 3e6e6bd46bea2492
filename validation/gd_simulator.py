r"""Finite-d full-batch gradient descent on the empirical risk of the extensive-width model.

Same conventions as the DMFT (``dmft.dynamics``): x ~ N(0, I_d), Z(x) = (x x^T - I)/sqrt(d), teacher
S* = W*^T W*/m* (W* m* x d iid N(0,1), m* = round(kappa* d)), student S = W^T W/m (W0 iid N(0, sigma0^2),
m = round(kappa d); kappa = inf: S^0 = sigma0^2 I), n = round(alpha d^2) samples, labels
y_mu = Tr(S* Z_mu) + sqrt(Delta) xi_mu. GD on L(W) = kappa/(8 alpha) sum_mu (y_mu - yhat_mu)^2 + (lam/2)||W||^2
with step eta is exactly

    S^{k+1} = P_k S^k P_k,  P_k = I - eta (G_k + lam I),  G_k = (d/(2n)) sum_mu e_mu Z_mu,  e_mu = yhat_mu - y_mu,

(W never needs to be stored). Recorded on t_k = k eta, k = 0..steps: train(k) = (1/n) sum_mu e_mu(S^k)^2 (noisy
labels) and the exact excess test error test(k) = (2/d) Tr(S^k - S*)^2.

Sensing ensembles:

* ``"wishart"`` (the real model): yhat_mu = (x_mu^T S x_mu - Tr S)/sqrt(d) and
  sum_mu e_mu Z_mu = (X^T diag(e) X - (sum e) I)/sqrt(d); cost O(n d^2) per step, memory O(n d); n x p matrices
  are never formed.
* ``"goe"`` (the Gaussian-equivalent model the DMFT is derived for): Z_mu iid GOE (off-diagonal variance 1/d,
  diagonal 2/d), i.e. in vec_p coordinates (vec_p(A) = (A_ii; sqrt2 A_ij, i<j), <vec A, vec B> = Tr AB) an
  n x p Gaussian matrix A with iid N(0, 2/d) entries: yhat = A s, vec_p(G) = (d/2n) A^T e. Cost O(n p) per step.
  A is stored if n p 8 bytes <= ``goe_memory`` (default 1.5 GB; d = 90, alpha = 1: 265 MB); otherwise it is
  regenerated at every step in chunks of rows from the saved generator state (identical matrices at every step;
  the cost is then dominated by the Gaussian generator, ~n p draws per step).

The instance (teacher, label noise, inputs / GOE design, sample count ``n = max(1, round(alpha d^2))``) is
:func:`validation.extensive_instance.draw_instance`, the same as the ERM's for the same ``(d, seed, sensing)``; the
student's initial weights come from the independent stream :func:`validation.extensive_instance.student_rng`.

Backends (``backend=``): ``"numpy"`` (default) or ``"torch"`` (optional, never required: torch is not a
dependency and is imported only when asked for; ``device`` defaults to ``"cuda"`` if available, else ``"cpu"``).
All random numbers are drawn with numpy exactly as for the numpy backend (same seed -> same instance: teacher,
init, noise, sensing vectors / GOE matrices), moved to the device as float64 tensors, and the GD loop (residual,
gradient, S <- P S P, errors, divergence check) runs there; curves come back as numpy arrays. One loop serves both
backends through a small array-namespace shim (:class:`_NumpyOps`, :class:`_TorchOps`); the numpy path is the
original code. torch agrees with numpy to rounding (1e-10 relative is tested on CPU); GPU runs are untested here.
A regenerated (not stored) GOE matrix is drawn on the host and copied to the device at every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dmft.params import ExtensiveWidthParams
from odes.common import check
from odes.common.errors import DivergenceError, ParameterError
from odes.common.progress import progress
from odes.common.random_matrices import vec_p_index
from odes.common.result import Result, coordinate, variable
from validation.extensive_instance import (
    CHUNK_ROWS,
    SENSINGS,
    ExtensiveInstance,
    draw_instance,
    student_rng,
    width,
)

SENSING = SENSINGS
BACKENDS = ("numpy", "torch")
_CHUNK_ROWS = CHUNK_ROWS


class _NumpyOps:
    """The handful of array operations the GD loop needs, on numpy arrays (identity transfers)."""

    name = "numpy"

    def asarray(self, a):
        return a

    def asindex(self, a):
        return a

    def eye(self, d: int):
        return np.eye(d)

    def zeros(self, shape):
        return np.zeros(shape)

    def empty(self, shape):
        return np.empty(shape)

    def einsum(self, spec: str, *ops):
        return np.einsum(spec, *ops)

    def trace(self, a):
        return np.trace(a)

    def to_numpy(self, a) -> np.ndarray:
        return a


class _TorchOps(_NumpyOps):
    """Same operations on float64 torch tensors on ``device`` (torch imported lazily)."""

    name = "torch"

    def __init__(self, device: str | None):
        try:
            import torch
        except ImportError:
            raise ParameterError("backend", "'torch' requested but torch is not installed; pip install torch, "
                                            "or use backend='numpy'") from None
        self.torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
            torch.zeros(1, dtype=torch.float64, device=self.device)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise ParameterError("device", f"must be a torch device available here (cpu, cuda, cuda:0, ...), got "
                                           f"{device!r}: {exc}") from None
        self.kw = {"dtype": torch.float64, "device": self.device}

    def asarray(self, a):
        return self.torch.as_tensor(a, **self.kw)

    def asindex(self, a):
        return self.torch.as_tensor(a, device=self.device)

    def eye(self, d: int):
        return self.torch.eye(d, **self.kw)

    def zeros(self, shape):
        return self.torch.zeros(shape, **self.kw)

    def empty(self, shape):
        return self.torch.empty(shape, **self.kw)

    def einsum(self, spec: str, *ops):
        return self.torch.einsum(spec, *ops)

    def trace(self, a):
        return self.torch.trace(a)

    def to_numpy(self, a) -> np.ndarray:
        return a.cpu().numpy()


def check_backend(backend: str, device: str | None = None) -> None:
    """Raise ParameterError unless ``backend``/``device`` are usable here (e.g. torch installed); cheap."""
    _array_ops(backend, device)


def _array_ops(backend: str, device: str | None) -> _NumpyOps:
    if backend not in BACKENDS:
        raise ParameterError("backend", f"must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        if device is not None:
            raise ParameterError("device", f"is only used with backend='torch', got device={device!r}")
        return _NumpyOps()
    return _TorchOps(device)


@dataclass(frozen=True, eq=False, repr=False)
class GDSimulation(Result):
    """Learning curves of finite-d GD, one row per seed: ``train_error``, ``test_error`` (seeds, steps+1).

    Labelled data (:meth:`to_xarray`): coordinates ``t`` (= k eta) and ``seed``; the seed means ``train_error``,
    ``test_error`` (t) with their standard errors ``*_se`` (sample std over the S seeds / sqrt(S); 0 for one
    seed), the per-seed curves ``train_error_per_seed``, ``test_error_per_seed`` (seed, t); scalars ``d``,
    ``eta``, ``sigma0``, ``wall_time``; attributes ``sensing``, ``backend``."""

    curve_coord: ClassVar[str | None] = "t"

    params: ExtensiveWidthParams
    d: int
    eta: float
    steps: int
    sigma0: float
    sensing: str
    seeds: np.ndarray
    t: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    wall_time: float = 0.0
    backend: str = "numpy"

    @property
    def train_mean(self) -> np.ndarray:
        return self.train_error.mean(axis=0)

    @property
    def test_mean(self) -> np.ndarray:
        return self.test_error.mean(axis=0)

    @property
    def train_sem(self) -> np.ndarray:
        """Standard error of the seed mean (0 for a single seed)."""
        n = self.train_error.shape[0]
        return self.train_error.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(self.t.shape)

    @property
    def test_sem(self) -> np.ndarray:
        n = self.test_error.shape[0]
        return self.test_error.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(self.t.shape)

    def to_xarray(self):
        from dmft.dynamics.result import T_LONG_NAME, TEST_LONG_NAME, TRAIN_LONG_NAME

        n = len(self.seeds)
        se = f"standard error of the mean over the {n} seeds (sample std / sqrt({n}); 0 for one seed)"
        ts = ("seed", "t")
        variables = {
            "train_error": variable("t", self.train_mean, TRAIN_LONG_NAME + ", mean over seeds"),
            "train_error_se": variable("t", self.train_sem, se),
            "test_error": variable("t", self.test_mean, TEST_LONG_NAME + ", mean over seeds"),
            "test_error_se": variable("t", self.test_sem, se),
            "train_error_per_seed": variable(ts, self.train_error, TRAIN_LONG_NAME + ", per seed"),
            "test_error_per_seed": variable(ts, self.test_error, TEST_LONG_NAME + ", per seed"),
            "d": variable((), self.d, "dimension d"),
            "eta": variable((), self.eta, "GD step size eta"),
            "sigma0": variable((), self.sigma0, "init scale sigma0"),
            "wall_time": variable((), self.wall_time, "wall-clock time of all runs", "s"),
        }
        coords = {"t": coordinate("t", self.t, T_LONG_NAME),
                  "seed": coordinate("seed", np.asarray(self.seeds), "random seed of the run")}
        return self.dataset(variables, coords, {"sensing": self.sensing, "backend": self.backend})

    def to_json(self) -> dict[str, Any]:
        """Protocol JSON (seed means and ``*_se`` along ``t``) plus ``seeds``, ``sensing``, ``backend``."""
        return {**super().to_json(), "seeds": np.asarray(self.seeds).tolist(), "sensing": self.sensing,
                "backend": self.backend}


class _GOESensing:
    """n GOE sensing matrices in vec_p coordinates, stored or regenerated per step (see module docstring)."""

    def __init__(self, instance: ExtensiveInstance, memory: float, ops: _NumpyOps | None = None):
        self.ops = ops if ops is not None else _NumpyOps()
        self.instance = instance
        self.n, self.d, self.p = instance.n, instance.d, instance.p
        self.stored = None
        if self.n * self.p * 8 <= memory:
            self.stored = self.ops.asarray(instance.goe_design())

    def chunks(self):
        if self.stored is not None:
            for lo in range(0, self.n, _CHUNK_ROWS):
                yield lo, self.stored[lo:lo + _CHUNK_ROWS]
            return
        for c, block in enumerate(self.instance.goe_blocks()):
            yield c * _CHUNK_ROWS, self.ops.asarray(block)

    def forward_adjoint(self, s, y):
        """(A s - y, A^T (A s - y)) in one pass over the chunks (y None: only A s, and zeros); arrays of ``ops``."""
        e = self.ops.empty(self.n)
        g = self.ops.zeros(self.p)
        for lo, a in self.chunks():
            ec = a @ s
            if y is not None:
                ec -= y[lo:lo + a.shape[0]]
                g += a.T @ ec
            e[lo:lo + a.shape[0]] = ec
        return e, g


def gd_memory_bytes(n: float, d: int, sensing: str, goe_memory: float = 1.5e9, m: float = 0.0) -> float:
    r"""Estimated bytes of the float64 arrays of one GD run (n samples, dimension d, p = d(d+1)/2, student
    init W0 of m x d, m = round(kappa d), 0 for kappa = inf):

        wishart: 8 (3 n d + 3 n + 6 d^2 + m d)          (X; X S and e X temporaries; y, xi, e; d x d matrices; W0)
        goe:     8 (2 n p + 3 n + 6 d^2 + 2 p + m d)    (design A stored if 8 n p <= goe_memory, peak twice while
                                                          it is assembled; else two chunks of 4096 rows)
    """
    d = float(d)
    p = d * (d + 1.0) / 2.0
    if sensing == "wishart":
        return 8.0 * (3.0 * n * d + 3.0 * n + 6.0 * d * d + m * d)
    design = 2.0 * n * p if 8.0 * n * p <= goe_memory else 2.0 * min(n, _CHUNK_ROWS) * p
    return 8.0 * (design + 3.0 * n + 6.0 * d * d + 2.0 * p + m * d)


def check_gd_memory(params: ExtensiveWidthParams, d: int, sensing: str, goe_memory: float = 1.5e9) -> None:
    """ParameterError('d', or 'kappa' when the student's W0 dominates) if a GD run at dimension d cannot fit in
    memory (:func:`gd_memory_bytes`)."""
    from odes.common.resources import check_memory
    df = float(d)
    n = params.alpha * df * df
    m = 0.0 if math.isinf(params.kappa) else params.kappa * df
    total = gd_memory_bytes(n, d, sensing, goe_memory, m)
    name = "kappa" if 8.0 * m * df >= 0.5 * total else "d"
    check_memory(name, total, f"finite-d GD at d = {df:.6g} (n = alpha d^2 = {n:.4g} samples, {sensing} sensing, "
                                f"student width m = kappa d = {m:.4g})")


def simulate_gd(params: ExtensiveWidthParams, d: int, eta: float, steps: int, *, sigma0: float = 1.0,
                seed: int = 0, sensing: str = "wishart", goe_memory: float = 1.5e9, quiet: bool = True,
                backend: str = "numpy", device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One GD run at dimension d; returns numpy (train, test), each of shape (steps+1,). See module docstring.

    ``backend``: "numpy" (default) or "torch" (optional; float64 on ``device``, default cuda if available else
    cpu); the instance drawn for a seed does not depend on the backend."""
    d = check.integer("d", d, lo=2)
    eta = check.positive("eta", eta)
    steps = check.integer("steps", steps, lo=1)
    sigma0 = check.positive("sigma0", sigma0)
    if sensing not in SENSING:
        raise ParameterError("sensing", f"must be one of {SENSING}, got {sensing!r}")
    seed = check.integer("seed", seed, lo=0)
    goe_memory = check.nonnegative("goe_memory", goe_memory)
    check_gd_memory(params, d, sensing, goe_memory)
    xp = _array_ops(backend, device)
    inst = draw_instance(params, d, seed, sensing)
    n = inst.n
    if math.isinf(params.kappa):
        S = sigma0 ** 2 * np.eye(d)
    else:
        m = width(params.kappa, d)
        w0 = sigma0 * student_rng(seed, d).standard_normal((m, d))
        S = w0.T @ w0 / m
    train = np.empty(steps + 1)
    test = np.empty(steps + 1)
    sstar, S, noise = xp.asarray(inst.S_star), xp.asarray(S), xp.asarray(inst.noise)
    eye = xp.eye(d)
    bar = progress(total=steps + 1, desc=f"GD d={d}", quiet=quiet)
    if sensing == "wishart":
        X = xp.asarray(inst.X)
        rd = math.sqrt(d)
        y = (xp.einsum("na,na->n", X @ sstar, X) - xp.trace(sstar)) / rd + noise

        def residual_and_grad(S):
            e = (xp.einsum("na,na->n", X @ S, X) - xp.trace(S)) / rd - y
            G = (X.T @ (e[:, None] * X) - e.sum() * eye) * (d / (2.0 * n) / rd)
            return e, G
    else:
        iu, ju, w = vec_p_index(d)
        iu, ju, w = xp.asindex(iu), xp.asindex(ju), xp.asarray(w)
        A = _GOESensing(inst, goe_memory, xp)
        y = A.forward_adjoint(w * sstar[iu, ju], None)[0] + noise

        def residual_and_grad(S):
            e, g = A.forward_adjoint(w * S[iu, ju], y)
            g *= d / (2.0 * n)
            G = xp.zeros((d, d))
            G[iu, ju] = g / w
            G[ju, iu] = g / w
            return e, G
    for k in range(steps + 1):
        e, G = residual_and_grad(S)
        train[k] = float(e @ e) / n
        dS = S - sstar
        test[k] = 2.0 / d * float((dS * dS).sum())
        bar.update(1)
        if not (math.isfinite(train[k]) and math.isfinite(test[k])) or test[k] > 1e12:
            bar.close()
            raise DivergenceError(f"finite-d GD diverged (d={d}, eta={eta:g}, backend={xp.name})", time=k * eta)
        if k == steps:
            break
        P = eye - eta * (G + params.lam * eye)
        S = P @ S @ P
        S = 0.5 * (S + S.T)
    bar.close()
    return train, test


def simulate_gd_seeds(params: ExtensiveWidthParams, d: int, eta: float, steps: int, seeds: int | Sequence[int], *,
                      seed0: int = 0, sigma0: float = 1.0, sensing: str = "wishart", goe_memory: float = 1.5e9,
                      quiet: bool = True, backend: str = "numpy", device: str | None = None) -> GDSimulation:
    """Several independent GD runs at dimension d, collected in a :class:`GDSimulation` (``backend``,
    ``device``: see :func:`simulate_gd`).

    ``seeds``: a count n (runs with seeds ``seed0, ..., seed0 + n - 1``) or an explicit sequence of seeds
    (:func:`odes.common.check.seed_list`, the convention of every ``seeds`` parameter of the library)."""
    import time

    seeds = np.asarray(check.seed_list("seeds", seeds, seed0), dtype=int)
    t0 = time.perf_counter()
    rows = [simulate_gd(params, d, eta, steps, sigma0=sigma0, seed=int(s), sensing=sensing,
                        goe_memory=goe_memory, quiet=quiet, backend=backend, device=device) for s in seeds]
    return GDSimulation(params=params, d=int(d), eta=float(eta), steps=int(steps), sigma0=float(sigma0),
                        sensing=sensing, seeds=seeds, t=eta * np.arange(steps + 1),
                        train_error=np.array([r[0] for r in rows]), test_error=np.array([r[1] for r in rows]),
                        wall_time=time.perf_counter() - t0, backend=backend)
