r"""Parameter objects of the population gradient flows (validated once at construction).

* :class:`HighDimParams` -- paper (A): quadratic network, population loss
  :math:`L = \tfrac12\|S-S^*\|_F^2 + \tfrac14(\operatorname{Tr}(S-S^*))^2`, orthonormal initialisation,
  students :math:`m=\kappa d`, teachers :math:`m^*=\kappa^* d`, :math:`S^* = U^*U^{*\top}/m^*`,
  :math:`S(0) = s_0 P_0/m`.
* :class:`PowerLawParams` -- paper (B): centred He2 student/teacher, risk :math:`R = \|S-S^*\|_F^2`,
  teacher weights :math:`\lambda_j = j^{-\alpha}/Z_r` (:math:`\sum_j\lambda_j^2 = 1`), rank r, width m,
  dimension d, init :math:`W_0` with i.i.d. :math:`N(0, \sigma_0^2/d)` entries (default :math:`\sigma_0^2=1/m`).
* :class:`OnlineSGDParams` -- one-pass SGD on model (B) (one fresh Gaussian sample per step, step ``eta``).

See ``docs/population.md`` for the equations and conventions.
"""

from __future__ import annotations

from dataclasses import dataclass

from odes.common import check
from odes.common.errors import ParameterError

KAPPA_MIN = 1e-4
"""Smallest width ratio kappa, kappa* accepted. Measured: the limit solver (:func:`solve_limit`) runs at
kappa = 1e-4 (kappa* = 0.5) and fails at kappa = 1e-6 (its J-ODE loses positivity at tau ~ 3e-5); a finite
instance needs kappa d >= 1 anyway, i.e. d >= 1e4 at the bound."""


@dataclass(frozen=True)
class HighDimParams:
    """Model (A) in the proportional limit (also used for its finite-d versions).

    Parameters
    ----------
    kappa : student width ratio m/d, in [KAPPA_MIN, 1] = [1e-4, 1] (orthonormal init needs m <= d). kappa > 1 is
        refused: the only Haar-invariant m > d analogue (orthonormal rows) has S(0) = (s0/m) I_d, which is the
        kappa = 1 flow with s0 -> s0/kappa (S(t) obeys a closed ODE), and ell(tau > 0) does not depend on s0 in
        the limit.
    kappa_star : teacher width ratio m*/d, in [1e-4, 1]. kappa_star > 1 is refused: a tight-frame teacher gives
        S* = I_d/m* = S*_(kappa*=1)/kappa_star, and S_c(t) = c S_1(c t) (c = 1/kappa_star, s0 -> kappa_star s0)
        solves the flow with teacher c S*_1, so d L_c(tau) = c^2 d L_1(c tau): no new limit.
    s0 : initial scale, S(0) = s0 P0/m (default 1, the authors' choice; Tr S(0) = Tr S* = 1). In the limit
        it only shifts phi by log(s0)/2 for tau > 0.
    """

    kappa: float
    kappa_star: float
    s0: float = 1.0

    def __post_init__(self) -> None:
        k = check.real("kappa", self.kappa, lo=KAPPA_MIN)
        ks = check.real("kappa_star", self.kappa_star, lo=KAPPA_MIN)
        if k > 1.0:
            raise ParameterError("kappa", f"must be in (0, 1], got {k:g}: m > d orthonormal student columns do "
                                          "not exist; the Haar generalisation (orthonormal rows) gives S(0) = "
                                          "(s0/m) I_d, exactly the kappa = 1 flow with s0 -> s0/kappa, whose "
                                          "limit ell(tau > 0) does not depend on s0: use kappa = 1")
        if ks > 1.0:
            raise ParameterError("kappa_star", f"must be in (0, 1], got {ks:g}: m* > d orthonormal teacher neurons "
                                               "do not exist; a tight frame gives the isotropic S* = I_d/m* = "
                                               "(kappa_star = 1 teacher)/kappa_star, so ell(tau) = "
                                               "ell_(kappa*=1)(tau/kappa_star)/kappa_star^2: use kappa_star = 1 "
                                               "and rescale")
        object.__setattr__(self, "kappa", k)
        object.__setattr__(self, "kappa_star", ks)
        object.__setattr__(self, "s0", check.real("s0", self.s0, lo=1e-300, hi=1e300))

    @property
    def regime(self) -> str:
        """'under' (kappa < kappa*), 'critical' (kappa = kappa*) or 'over' (kappa > kappa*)."""
        if abs(self.kappa - self.kappa_star) <= 1e-12:
            return "critical"
        return "under" if self.kappa < self.kappa_star else "over"

    def widths(self, d: int) -> tuple[int, int]:
        """(m, m*) = (round(kappa d), round(kappa* d)) at dimension d; both must be >= 1."""
        d = check.integer("d", d, lo=2)
        m, ms = int(round(self.kappa * d)), int(round(self.kappa_star * d))
        if m < 1 or ms < 1:
            raise ParameterError("d", f"too small for kappa={self.kappa:g}, kappa*={self.kappa_star:g} "
                                      f"(need kappa d >= 1 and kappa* d >= 1), got {d}")
        return m, ms


@dataclass(frozen=True)
class PowerLawParams:
    """Model (B) with a power-law teacher spectrum.

    Parameters
    ----------
    alpha_pl : power-law exponent alpha >= 0 of lambda_j = j^(-alpha)/Z_r.
    rank : teacher rank r >= 1.
    width : student width m >= 1 (m <= d).
    d : input dimension, d >= r (default: r**2, i.e. beta = 1/2).
    sigma0_sq : init variance scale, W0 entries N(0, sigma0_sq/d) (default 1/m, so Tr S0 ~ 1).
    """

    alpha_pl: float
    rank: int
    width: int
    d: int | None = None
    sigma0_sq: float | None = None

    def __post_init__(self) -> None:
        s = lambda k, v: object.__setattr__(self, k, v)
        s("alpha_pl", check.real("alpha_pl", self.alpha_pl, lo=0.0))
        r = check.integer("rank", self.rank, lo=1)
        m = check.integer("width", self.width, lo=1)
        s("rank", r)
        s("width", m)
        d = r * r if self.d is None else check.integer("d", self.d, lo=1)
        if d < r:
            raise ParameterError("d", f"must be >= rank={r}, got {d}")
        if d < m:
            raise ParameterError("d", f"must be >= width={m}, got {d}")
        s("d", d)
        s("sigma0_sq", 1.0 / m if self.sigma0_sq is None else check.positive("sigma0_sq", self.sigma0_sq))

    @property
    def beta(self) -> float:
        """log r / log d (r = d^beta)."""
        import math
        return math.log(self.rank) / math.log(self.d) if self.d > 1 else 0.0


@dataclass(frozen=True)
class OnlineSGDParams:
    """Online (one-pass) SGD on model (B): W <- W - eta (f_W(x) - y)(2 x x^T W - 2 W), x ~ N(0, I_d) fresh.

    Parameters
    ----------
    model : the :class:`PowerLawParams` (d, r, m, alpha, init scale).
    eta_d : the step size times d, eta*d in (0, 0.2] (SGD tracks gradient flow when eta d << 1; at
        eta d = 0.3 it diverges in the reference runs).
    t_max : final gradient-flow time t = eta * n_samples (> 0).
    n_records : number of recorded times (>= 2).
    """

    model: PowerLawParams
    eta_d: float
    t_max: float
    n_records: int = 200

    def __post_init__(self) -> None:
        if not isinstance(self.model, PowerLawParams):
            raise ParameterError("model", "must be a PowerLawParams")
        object.__setattr__(self, "eta_d", check.real("eta_d", self.eta_d, lo=0.0, hi=0.2, lo_open=True))
        object.__setattr__(self, "t_max", check.positive("t_max", self.t_max))
        object.__setattr__(self, "n_records", check.integer("n_records", self.n_records, lo=2))

    @property
    def eta(self) -> float:
        return self.eta_d / self.model.d

    @property
    def n_steps(self) -> int:
        return int(round(self.t_max / self.eta))
