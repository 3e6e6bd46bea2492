r"""Parameters of the finite-width model (one-pass SGD, student width p, teacher width p*).

Model (spec: finite-width ODEs, Sec. 1). Inputs :math:`x\sim\mathcal N(0,I_N)`, fresh at every step; time
:math:`\alpha` = steps/N. Pre-activations :math:`\lambda_j = w_j\cdot x/\sqrt N`, :math:`\nu_k = w^*_k\cdot x/\sqrt N`;
activation :math:`\sigma(z) = z^2 - c` (``centered=True``: c = 1). Teacher
:math:`y = \sum_k b_k\sigma(\nu_k) + \sqrt\Delta\,\zeta`; student :math:`\hat y = \sum_j a_j \sigma(\lambda_j)` with
**fixed** second-layer weights. Loss :math:`\tfrac12(\hat y-y)^2`; SGD with per-unit rates :math:`\eta_j` and
weight decay :math:`\kappa`:

.. math:: w_j \leftarrow (1-\eta_j\kappa/N)\,w_j - (\eta_j/\sqrt N)\,2a_j\lambda_j r\,x, \qquad r=\hat y-y.

Order parameters :math:`Q=WW^\top/N` (p x p), :math:`M = WW^{*\top}/N` (p x p*), :math:`T = W^*W^{*\top}/N`
(constant). Matrices :math:`A=\mathrm{diag}(a)`, :math:`B=\mathrm{diag}(b)`, :math:`H=\mathrm{diag}(\eta)`,
effective rate :math:`\Gamma = HA`, offset :math:`c_0 = c(\mathrm{tr}A-\mathrm{tr}B)`.

**Default convention**: a = 1/p, b = 1/p*, T = I, :math:`\eta_j = \gamma/a_j = p\gamma` so that
:math:`\Gamma=\gamma I` (the escape rate is then p-independent). Give ``gamma`` (default convention for the
rates) *or* an explicit per-unit ``eta``.

The learning-rate limits (:mod:`odes.finite_width.stability`) are a property of the *solver* run, not of the
model: :func:`odes.finite_width.integrate.integrate_overlaps` checks them (``check_stability=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from odes.common import check
from odes.common.errors import ParameterError
from odes.common.resources import check_memory

MAX_MAGNITUDE = 1e8
"""Largest |value| accepted for a, b, eta, gamma, T, noise, weight decay and offset. The right-hand side and
eps_g are polynomials of degree <= 8 in these and in the overlaps, so 1e8 keeps every intermediate far below
the float range (1e308); beyond it an input such as b = 1e308 overflowed in the stability analysis."""


@dataclass(frozen=True, eq=False)
class FiniteWidthParams:
    """Validated parameters of the finite-width model; arrays are normalised at construction.

    Parameters
    ----------
    p, p_star : student and teacher widths (integers >= 1).
    gamma : effective learning rate, Gamma = gamma I (sets eta_j = gamma / a_j). Exclusive with ``eta``
        unless consistent with it.
    eta : per-unit learning rates eta_j (shape (p,), > 0).
    a, b : second-layer weights, shapes (p,), (p*,); defaults 1/p and 1/p*.
    noise : label-noise variance Delta >= 0.
    weight_decay : kappa >= 0 (the decay is eta_j kappa / N per step).
    centered : activation z^2 - 1 instead of z^2 (matters only through c0).
    T : teacher Gram matrix W* W*^T / N, p* x p* symmetric positive definite; default I.
    offset : explicit constant c0 of the residual r0 = lambda^T A lambda - nu^T B nu - c0 (a label offset).
        Default None: c0 = c (tr A - tr B) from the activation. Only needed for non-standard set-ups (the
        spec's single-RHS oracle R1 uses c0 = 0.1 with tr A = tr B).
    """

    p: int
    p_star: int
    gamma: float | None = None
    eta: np.ndarray | None = None
    a: np.ndarray | None = None
    b: np.ndarray | None = None
    noise: float = 0.0
    weight_decay: float = 0.0
    centered: bool = False
    T: np.ndarray | None = None
    offset: float | None = None
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)
        big = MAX_MAGNITUDE
        p = check.integer("p", self.p, lo=1)
        ps = check.integer("p_star", self.p_star, lo=1)
        # the teacher Gram matrix and its products in the stability analysis: about 4 p* x p* float arrays
        check_memory("p_star", 4 * 8.0 * ps * ps, f"the {ps} x {ps} teacher matrices")
        # per-unit vectors only here; the p x p state is checked by the solver (integrate.state_memory)
        check_memory("p", 8 * 8.0 * p, "the per-unit weight vectors")
        s("p", p)
        s("p_star", ps)
        a = np.full(p, 1.0 / p) if self.a is None else check.array("a", self.a, shape=(p,), bound=big)
        b = np.full(ps, 1.0 / ps) if self.b is None else check.array("b", self.b, shape=(ps,), bound=big)
        if np.any(a == 0):
            raise ParameterError("a", "second-layer weights must be non-zero")
        s("a", a)
        s("b", b)
        if self.eta is None:
            if self.gamma is None:
                raise ParameterError("gamma", "give the effective learning rate gamma > 0 or per-unit eta")
            g = check.real("gamma", self.gamma, lo=0.0, lo_open=True, hi=big)
            eta = g / a
            if np.any(eta <= 0):
                raise ParameterError("a", "with the gamma convention (eta_j = gamma/a_j) all a_j must be > 0")
            s("gamma", g)
            s("eta", eta)
        else:
            eta = check.array("eta", self.eta, shape=(p,), lo=0.0, lo_open=True, bound=big)
            s("eta", eta)
            if self.gamma is not None:
                g = check.real("gamma", self.gamma, lo=0.0, lo_open=True, hi=big)
                if not np.allclose(eta * a, g, rtol=1e-12, atol=0):
                    raise ParameterError("gamma", "inconsistent with eta (need eta_j a_j = gamma); give one")
                s("gamma", g)
            elif np.allclose(eta * a, eta[0] * a[0], rtol=1e-12, atol=0):
                s("gamma", float(eta[0] * a[0]))
        if np.any(~np.isfinite(eta)) or np.max(eta) > big:
            raise ParameterError("gamma" if self.gamma is not None else "eta",
                                 f"the per-unit rates eta_j = gamma/a_j must be <= {big:g}, got {np.max(eta):g}")
        s("noise", check.real("noise", self.noise, lo=0.0, hi=big))
        s("weight_decay", check.real("weight_decay", self.weight_decay, lo=0.0, hi=big))
        s("centered", bool(self.centered))
        T = np.eye(ps) if self.T is None else check.symmetric_psd("T", self.T, ps, definite=True, bound=big)
        s("T", T)
        if self.offset is not None:
            s("offset", check.real("offset", self.offset, lo=-big, hi=big))

    # ---- derived matrices ------------------------------------------------------------------------------
    @property
    def A(self) -> np.ndarray:
        """diag(a), p x p."""
        return np.diag(self.a)

    @property
    def B(self) -> np.ndarray:
        """diag(b), p* x p*."""
        return np.diag(self.b)

    @property
    def H(self) -> np.ndarray:
        """diag(eta), p x p."""
        return np.diag(self.eta)

    @property
    def Gamma(self) -> np.ndarray:
        """Effective learning rate diag(eta_j a_j), p x p."""
        return np.diag(self.eta * self.a)

    @property
    def c(self) -> float:
        """Activation offset: sigma(z) = z^2 - c."""
        return 1.0 if self.centered else 0.0

    @property
    def c0(self) -> float:
        """c0 = c (tr A - tr B), or the explicit ``offset`` when given."""
        if self.offset is not None:
            return self.offset
        return self.c * (float(self.a.sum()) - float(self.b.sum()))

    @property
    def isotropic_rate(self) -> bool:
        """True when Gamma = gamma I (the default convention)."""
        return self.gamma is not None

    def replace(self, **changes) -> FiniteWidthParams:
        """A copy with some fields changed (validated again)."""
        kw = {k: getattr(self, k) for k in ("p", "p_star", "gamma", "eta", "a", "b", "noise",
                                              "weight_decay", "centered", "T", "offset")}
        if "gamma" in changes and "eta" not in changes:
            kw["eta"] = None
        if "eta" in changes and "gamma" not in changes:
            kw["gamma"] = None
        if "a" in changes and "eta" not in changes and kw.get("gamma") is not None:
            kw["eta"] = None
        kw.update(changes)
        return FiniteWidthParams(**kw)
