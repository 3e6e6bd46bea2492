r"""Parameters of the extensive-width model (spec: DMFT dynamics Sec. 1; stationary theory Sec. 1).

Student width m = kappa d, teacher width m* = kappa* d, n = alpha d^2 samples, l2 strength lam, label-noise
variance Delta. Inputs x ~ N(0, I_d); sensing matrix Z(x) = (x x^T - I)/sqrt(d); teacher S* = W*^T W*/m*
(W* iid N(0,1), Marchenko-Pastur spectrum of ratio 1/kappa*, mean eigenvalue 1); student S = W^T W/m,
yhat = Tr(S Z); labels y = Tr(S* Z) + sqrt(Delta) xi. Loss

    L(W) = kappa/(8 alpha) sum_mu (y_mu - yhat_mu)^2 + (lam/2) ||W||_F^2 ,

test error (excess) eps_test = (2/d) Tr(S - S*)^2, train error = MSE on the noisy training labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from odes.common import check

# Supported ranges (the spectral solver's support edges, cubic roots and quadrature stay finite and accurate
# there; outside them the free convolution overflows, e.g. MP ratio 1/kappa* = 1e308, or alpha d^2 / 1/alpha
# leaves double range). kappa may also be inf (unconstrained rank).
ALPHA_RANGE = (1e-6, 1e6)
KAPPA_MIN = 1e-4
KAPPA_STAR_RANGE = (1e-4, 1e4)
NOISE_MAX = 1e8


def check_kappa(value: object, name: str = "kappa") -> float:
    """kappa in [1e-4, inf] (inf allowed)."""
    return check.real(name, value, lo=KAPPA_MIN, allow_inf=True)


def check_kappa_star(value: object, name: str = "kappa_star") -> float:
    """kappa* in [1e-4, 1e4]."""
    return check.real(name, value, lo=KAPPA_STAR_RANGE[0], hi=KAPPA_STAR_RANGE[1])


def check_noise(value: object, name: str = "noise") -> float:
    """Delta in [0, 1e8]."""
    return check.real(name, value, lo=0.0, hi=NOISE_MAX)


@dataclass(frozen=True)
class ExtensiveWidthParams:
    """Validated (alpha, kappa, kappa*, lam, Delta). ``kappa = inf`` means an unconstrained-rank student.

    Supported ranges: alpha in [1e-6, 1e6], kappa in [1e-4, inf], kappa* in [1e-4, 1e4], lam >= 0,
    Delta in [0, 1e8] (module constants); outside them ParameterError."""

    alpha: float
    kappa: float
    kappa_star: float
    lam: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)
        s("alpha", check.real("alpha", self.alpha, lo=ALPHA_RANGE[0], hi=ALPHA_RANGE[1]))
        s("kappa", check_kappa(self.kappa))
        s("kappa_star", check_kappa_star(self.kappa_star))
        s("lam", check.nonnegative("lam", self.lam))
        s("noise", check_noise(self.noise))

    @property
    def kappa_label(self) -> str:
        return "inf" if math.isinf(self.kappa) else f"{self.kappa:g}"


def dof_line(kappa: float) -> float:
    """Parameter count per d^2 of a rank-kappa d symmetric PSD matrix: ``kappa - kappa^2/2`` (1/2 for kappa >= 1)."""
    k = min(kappa, 1.0)
    return k - 0.5 * k * k
