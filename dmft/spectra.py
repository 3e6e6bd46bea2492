r"""Spectral measures of the extensive-width theory: Marchenko-Pastur, semicircle and their free convolution.

Conventions (the teacher ``S* = W*^T W*/m*``, ``W*`` of shape ``(kappa* d, d)`` with iid N(0, 1) entries):

* ``MP(r)``, ``r = 1/kappa*`` (the Marchenko-Pastur ratio, :attr:`FreeConvolution.mp_ratio`): mean eigenvalue 1,
  continuous part ``rho(x) = sqrt((x_+ - x)(x - x_-)) / (2 pi r x)`` on ``x_pm = (1 pm sqrt(r))^2`` and, for
  ``kappa* < 1``, an atom of mass ``1 - kappa*`` at 0. Free cumulants ``k_n = r^(n-1)``.
* ``SC(s2)``: semicircle of variance ``s2`` (radius ``2 sqrt(s2)``), the spectrum of ``sigma M`` with ``M`` a GOE
  matrix normalised to radius 2 (off-diagonal variance 1/d). Free cumulants ``k_2 = s2``, others 0.
* ``rho_Y = MP(r) [+] SC(s2)``, the limiting spectrum of ``Y = S* + sigma M``. Its Stieltjes transform
  ``G(z) = int rho(x)/(z - x) dx`` solves the cubic subordination equation (``G = G_MP(z - s2 G)``)

      -r s2 G^3 + (r z + s2) G^2 - (z - 1 + r) G + 1 = 0 ,

  ``rho(x) = -Im G(x + i0)/pi``. For ``s2 > 0`` the measure has no atom (the MP atom is smoothed).

Support edges are the critical values of the inverse function
``z(G) = [r s2 G^3 - s2 G^2 - (1 - r) G - 1] / (G (r G - 1))`` (roots of a quartic in G), which is
well conditioned even when a component is very narrow (small ``s2`` around the smoothed atom).

Integrals against ``rho`` use a tanh-sinh (double-exponential) rule on each support interval, split at the
user's cut points (kinks of the integrand). The rule converges exponentially for integrands that are analytic
inside each piece, including the square-root edges of the density; the node distances to the piece ends are
computed without cancellation (needed for the corner of the divided-difference double integral).
``quadrature_check`` halves the step and reports the change.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from odes.common import check
from odes.common.errors import ConvergenceError, ParameterError
from odes.common.random_matrices import goe, mp_density, mp_edges, mp_wishart, semicircle_density

__all__ = [
    "FreeConvolution", "mp_density", "mp_edges", "semicircle_density", "free_cumulant_moments",
    "Quadrature", "sample_y_eigenvalues",
]


# ----------------------------------------------------------------------------------------------------------
# closed forms
def free_cumulant_moments(kappa_star: float, s2: float, order: int = 4) -> np.ndarray:
    r"""Moments ``m_1..m_order`` (order <= 4) of ``MP(1/kappa*) [+] SC(s2)`` from the free cumulants
    ``k_1 = 1, k_2 = r + s2, k_n = r^(n-1)`` via the non-crossing moment-cumulant formula:
    ``m1 = k1, m2 = k2 + k1^2, m3 = k3 + 3k1k2 + k1^3, m4 = k4 + 4k1k3 + 2k2^2 + 6k1^2k2 + k1^4``."""
    order = check.integer("order", order, lo=1, hi=4)
    g = 1.0 / check.positive("kappa_star", kappa_star)
    s2 = check.nonnegative("sigma2", s2)
    k1, k2, k3, k4 = 1.0, g + s2, g ** 2, g ** 3
    m = [k1, k2 + k1 ** 2, k3 + 3 * k1 * k2 + k1 ** 3, k4 + 4 * k1 * k3 + 2 * k2 ** 2 + 6 * k1 ** 2 * k2 + k1 ** 4]
    return np.array(m[:order])


def sample_y_eigenvalues(d: int, kappa_star: float, s2: float, rng: np.random.Generator) -> np.ndarray:
    """Eigenvalues of one sample ``Y = S* + sqrt(s2) M`` (``S* = W*^T W*/m*``, ``m* = round(kappa* d)``,
    M GOE with off-diagonal variance 1/d, diagonal variance 2/d). Used by the tests and the validation."""
    d = check.integer("d", d, lo=1)
    kappa_star = check.positive("kappa_star", kappa_star)
    s2 = check.nonnegative("sigma2", s2)
    m_star = max(1, int(round(kappa_star * d)))
    s_star = mp_wishart(rng, d, m_star)
    return np.linalg.eigvalsh(s_star + np.sqrt(s2) * goe(rng, 1, d)[0])


# ----------------------------------------------------------------------------------------------------------
# quadrature
@dataclass(frozen=True)
class Quadrature:
    """Nodes of the tanh-sinh rule on the pieces of the support.

    ``x`` nodes, ``w`` weights times the density (``sum(w * g(x)) ~ int rho g``), ``piece`` index of the piece
    of each node, ``dlo``/``dhi`` distances of each node to its piece's lower / upper end (exact, no
    cancellation), ``pieces`` the list of ``(lo, hi)``."""

    x: np.ndarray
    w: np.ndarray
    piece: np.ndarray
    dlo: np.ndarray
    dhi: np.ndarray
    pieces: tuple[tuple[float, float], ...]

    def select(self, mask: np.ndarray) -> Quadrature:
        return Quadrature(self.x[mask], self.w[mask], self.piece[mask], self.dlo[mask], self.dhi[mask],
                          self.pieces)


@functools.lru_cache(maxsize=16)
def _tanh_sinh(h: float, tmax: float = 3.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference rule on (-1, 1): returns (weights, 1 + u, 1 - u) with the distances computed stably."""
    k = np.arange(-int(np.ceil(tmax / h)), int(np.ceil(tmax / h)) + 1)
    t = k * h
    s = 0.5 * np.pi * np.sinh(t)
    w = h * 0.5 * np.pi * np.cosh(t) / np.cosh(s) ** 2
    e = np.exp(-2.0 * np.abs(s))  # stable: 1 - tanh|s| = 2e/(1+e)
    small = 2.0 * e / (1.0 + e)
    big = 2.0 - small
    one_plus = np.where(s < 0, small, big)
    one_minus = np.where(s < 0, big, small)
    keep = (w > 1e-300) & (one_plus > 0) & (one_minus > 0)
    return w[keep], one_plus[keep], one_minus[keep]


# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeConvolution:
    r"""The measure ``MP(1/kappa*) [+] SC(s2)`` (``s2 = 0``: plain MP, with its atom).

    Methods: :meth:`stieltjes` (vectorised over complex z, Im z >= 0), :meth:`density`, :attr:`support`
    (list of intervals), :meth:`quadrature`, :meth:`integrate`, :meth:`double_integral`,
    :meth:`divided_difference_integral`.
    """

    kappa_star: float
    s2: float
    h: float = 0.05  # tanh-sinh step (error ~ exp(-c/h)); quadrature_check() halves it
    support: tuple[tuple[float, float], ...] = field(init=False, repr=False)
    soft_cuts: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kappa_star", check.positive("kappa_star", self.kappa_star))
        object.__setattr__(self, "s2", check.nonnegative("sigma2", self.s2))
        object.__setattr__(self, "h", check.positive("h", self.h))
        support, soft = self._compute_support()
        object.__setattr__(self, "support", support)
        object.__setattr__(self, "soft_cuts", soft)

    # -- basic objects --------------------------------------------------------------------------------------
    @property
    def mp_ratio(self) -> float:
        """Marchenko-Pastur ratio r = 1/kappa* of the teacher spectrum MP(r)."""
        return 1.0 / self.kappa_star

    @property
    def gamma(self) -> float:
        """Deprecated name of :attr:`mp_ratio`."""
        warnings.warn("FreeConvolution.gamma is deprecated, use FreeConvolution.mp_ratio", DeprecationWarning,
                      stacklevel=2)
        return self.mp_ratio

    @property
    def atom(self) -> float:
        """Mass at 0 (only for ``s2 = 0`` and ``kappa* < 1``)."""
        return max(1.0 - self.kappa_star, 0.0) if self.s2 == 0.0 else 0.0

    def _coeffs(self, z: np.ndarray) -> np.ndarray:
        """Cubic coefficients (highest first), shape (..., 4)."""
        g, s2 = self.mp_ratio, self.s2
        z = np.asarray(z, dtype=complex)
        c3 = np.full(z.shape, -g * s2, dtype=complex)
        return np.stack([c3, g * z + s2, -(z - 1.0 + g), np.ones_like(z)], axis=-1)

    def _cubic_roots(self, z: np.ndarray) -> np.ndarray:
        """All three roots of the cubic at each z, shape (..., 3): vectorised Cardano formula (the cube root
        taken on the larger of the two quadratic roots for stability) followed by 2 Newton polishes, which
        restore full accuracy for simple roots (near-double roots only occur at the support edges)."""
        c = self._coeffs(z)
        c = c / c[..., :1]
        b, cc, dd = c[..., 1], c[..., 2], c[..., 3]
        p = cc - b * b / 3.0
        q = 2.0 * b ** 3 / 27.0 - b * cc / 3.0 + dd
        sq = np.sqrt(q * q / 4.0 + p ** 3 / 27.0)
        w1, w2 = -q / 2.0 + sq, -q / 2.0 - sq
        w = np.where(np.abs(w1) >= np.abs(w2), w1, w2)
        u = w ** (1.0 / 3.0)
        omega = np.exp(2j * np.pi / 3.0)
        uk = u[..., None] * np.array([1.0, omega, omega * omega])
        safe = np.abs(uk) > 0
        t = np.where(safe, uk - p[..., None] / (3.0 * np.where(safe, uk, 1.0)), 0.0)
        r = t - b[..., None] / 3.0
        # keep the largest root (accurate) and get the other two by deflation (Vieta, no cancellation):
        # r2 r3 = -d/r1, r2 + r3 = (c - r2 r3)/r1; stable quadratic formula
        j = np.argmax(np.abs(r), axis=-1)
        r1 = np.take_along_axis(r, j[..., None], axis=-1)[..., 0]
        ok1 = np.abs(r1) > 0
        r1s = np.where(ok1, r1, 1.0)
        prod = -dd / r1s
        ssum = (cc - prod) / r1s
        disc = np.sqrt(ssum * ssum - 4.0 * prod)
        qa = np.where(np.abs(ssum + disc) >= np.abs(ssum - disc), ssum + disc, ssum - disc) / 2.0
        oka = np.abs(qa) > 0
        qb = np.where(oka, prod / np.where(oka, qa, 1.0), ssum - qa)
        r = np.where(ok1[..., None], np.stack([r1, qa, qb], axis=-1), r)
        for _ in range(2):
            pv = ((r + c[..., 1:2]) * r + c[..., 2:3]) * r + c[..., 3:4]
            dp = (3.0 * r + 2.0 * c[..., 1:2]) * r + c[..., 2:3]
            ok = np.abs(dp) > 1e-300
            r = np.where(ok, r - pv / np.where(ok, dp, 1.0), r)
        return r

    def stieltjes(self, z: np.ndarray | complex) -> np.ndarray:
        r"""``G(z) = int rho(x)/(z - x) dx`` for Im z >= 0 (real z means z + i0).

        Root choice: the physical root has ``Im G <= 0`` and, since ``G(z) = G_MP(w)`` with the subordination
        point ``w = z - s2 G``, it must also be the physical MP root at ``w``. Among the roots with
        ``Im G <= 0`` we take the one that minimises ``|G - G_MP(w(G))|`` where ``G_MP`` is the MP Stieltjes
        transform with the branch ``Im G_MP <= 0``, ``G_MP ~ 1/w``; ties on the real axis (outside the
        support: all roots real) are resolved by the same criterion, which picks the root continuous with
        ``G ~ 1/z`` at infinity."""
        z = np.asarray(z, dtype=complex)
        if self.s2 == 0.0:
            return self._g_mp(z)
        shape = z.shape
        zf = z.reshape(-1)
        # shift real points infinitesimally into the upper half-plane for the branch decision
        r = self._cubic_roots(zf)
        w = zf[:, None] - self.s2 * r
        gmp = self._g_mp(w + 1e-300j)
        cost = np.abs(r - gmp) / (1.0 + np.abs(r))
        cost = cost + np.where(r.imag > 1e-9 * (1.0 + np.abs(r)), 1e3, 0.0)
        idx = np.argmin(cost, axis=1)
        out = r[np.arange(r.shape[0]), idx]
        return out.reshape(shape)

    def _g_mp(self, w: np.ndarray) -> np.ndarray:
        """Marchenko-Pastur Stieltjes transform, root of r w G^2 - (w - 1 + r) G + 1 = 0 with the
        branch G ~ 1/w (Im G <= 0 for Im w >= 0)."""
        g = self.mp_ratio
        w = np.asarray(w, dtype=complex)
        b = w - 1.0 + g
        lo, hi = mp_edges(self.kappa_star)
        # sqrt((w - lo)(w - hi)) with the branch ~ w at infinity and the cut on [lo, hi]
        sq = np.sqrt(w - lo) * np.sqrt(w - hi)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            r1 = (b + sq) / (2.0 * g * w)
            r2 = (b - sq) / (2.0 * g * w)
            # the physical root behaves like 1/w at infinity (the other one like 1/r)
            pick = np.where(np.abs(r2 * w - 1.0) <= np.abs(r1 * w - 1.0), r2, r1)
        return pick

    def density(self, x: np.ndarray) -> np.ndarray:
        """``rho(x) = -Im G(x + i0)/pi`` (continuous part), zero outside :attr:`support`."""
        x = np.asarray(x, dtype=float)
        if self.s2 == 0.0:
            return mp_density(x, self.kappa_star)
        out = np.zeros_like(x)
        inside = np.zeros(x.shape, dtype=bool)
        for lo, hi in self.support:
            inside |= (x > lo) & (x < hi)
        if np.any(inside):
            r = self._cubic_roots(x[inside].astype(complex))
            out[inside] = np.clip(-r.imag.min(axis=1), 0.0, None) / np.pi
        return out

    def _compute_support(self) -> tuple[tuple[tuple[float, float], ...], tuple[float, ...]]:
        """Support intervals and 'soft cuts': real parts of the complex critical values (branch points of the
        continued density close to the real axis, e.g. where two components are about to merge); splitting the
        quadrature there restores the fast convergence of the tanh-sinh rule."""
        if self.s2 == 0.0:
            return (mp_edges(self.kappa_star),), ()
        g, s2 = self.mp_ratio, self.s2
        num = np.polynomial.Polynomial([-1.0, -(1.0 - g), -s2, g * s2])  # r s2 G^3 - s2 G^2 - (1-g) G - 1
        den = np.polynomial.Polynomial([0.0, -1.0, g])  # r G^2 - G
        crit = num.deriv() * den - num * den.deriv()
        roots = crit.roots()
        cand = []
        soft = []
        for r in roots:
            if abs(r.imag) > 1e-7 * (1.0 + abs(r)) and r.imag > 0:
                xc = num(r) / den(r)
                soft.append(float(xc.real))
            if abs(r.imag) <= 1e-7 * (1.0 + abs(r)):
                gr = r.real
                for _ in range(3):  # Newton polish on the quartic
                    dv = crit.deriv()(gr)
                    if dv != 0.0:
                        gr -= crit(gr) / dv
                if gr != 0.0 and den(gr) != 0.0:
                    cand.append(num(gr) / den(gr))
        if len(cand) < 2:
            raise ConvergenceError(f"free convolution: could not locate the support edges (s2={s2:g})")
        cand = np.sort(np.array(cand))
        intervals: list[list[float]] = []
        for a, b in zip(cand[:-1], cand[1:]):
            if b - a <= 1e-14 * (1.0 + abs(a)):
                continue
            mid = np.array([0.5 * (a + b)], dtype=complex)
            rr = self._cubic_roots(mid)[0]
            j = int(np.argmin(rr.imag))
            if -rr[j].imag > 1e-8 * abs(rr[j]):
                if intervals and abs(intervals[-1][1] - a) <= 1e-14 * (1.0 + abs(a)):
                    intervals[-1][1] = float(b)
                else:
                    intervals.append([float(a), float(b)])
        if not intervals:
            raise ConvergenceError(f"free convolution: empty support found (s2={s2:g})")
        sup = tuple((a, b) for a, b in intervals)
        soft = tuple(sorted(c for c in soft if any(a < c < b for a, b in sup)))
        return sup, soft

    @property
    def edges(self) -> tuple[float, float]:
        """Lowest and highest edge of the support (of the continuous part)."""
        return self.support[0][0], self.support[-1][1]

    # -- quadrature -----------------------------------------------------------------------------------------
    def quadrature(self, cuts: Sequence[float] = (), h: float | None = None) -> Quadrature:
        """tanh-sinh nodes on every support interval, split at the ``cuts`` that fall inside it. The weights
        include the density (continuous part only; see :attr:`atom`)."""
        h = self.h if h is None else h
        wr, one_plus, one_minus = _tanh_sinh(h)
        pieces: list[tuple[float, float]] = []
        allcuts = sorted(set(cuts) | set(self.soft_cuts))
        for lo, hi in self.support:
            pts = [lo] + [c for c in allcuts if lo < c < hi] + [hi]
            pieces.extend(zip(pts[:-1], pts[1:]))
        xs, ws, ps, dl, dh = [], [], [], [], []
        for k, (lo, hi) in enumerate(pieces):
            half = 0.5 * (hi - lo)
            dlo = half * one_plus
            dhi = half * one_minus
            x = np.where(dlo < dhi, lo + dlo, hi - dhi)
            xs.append(x)
            ws.append(wr * half * self.density(x))
            ps.append(np.full(x.shape, k))
            dl.append(dlo)
            dh.append(dhi)
        return Quadrature(np.concatenate(xs), np.concatenate(ws), np.concatenate(ps), np.concatenate(dl),
                          np.concatenate(dh), tuple(pieces))

    def integrate(self, g: Callable[[np.ndarray], np.ndarray], cuts: Sequence[float] = (),
                  h: float | None = None) -> float:
        """``int rho(x) g(x) dx`` (+ ``atom * g(0)`` when ``s2 = 0``); ``cuts``: kinks of g."""
        q = self.quadrature(cuts, h)
        val = float(np.sum(q.w * g(q.x)))
        if self.atom:
            val += self.atom * float(g(np.zeros(1))[0])
        return val

    def double_integral(self, g2: Callable[[np.ndarray, np.ndarray], np.ndarray], cuts: Sequence[float] = (),
                        h: float | None = None) -> float:
        """``int int rho(x) rho(y) g2(x, y) dx dy`` by the tensor rule (continuous part; g2 bounded)."""
        if self.atom:
            raise ParameterError("sigma2", "double_integral needs sigma2 > 0 (a measure without atom)")
        q = self.quadrature(cuts, h)
        return float(q.w @ g2(q.x[:, None], q.x[None, :]) @ q.w)

    def divided_difference_integral(self, f: Callable[[np.ndarray], np.ndarray],
                                    fprime: Callable[[np.ndarray], np.ndarray], cuts: Sequence[float] = (),
                                    h: float | None = None) -> float:
        r"""``int int rho(x) rho(y) [f(x) - f(y)]/(x - y)`` (= ``f'(x)`` on the diagonal). Generic version
        (tensor rule, pieces split at ``cuts``; the nodes of different pieces never coincide). For the
        soft-threshold functions of the stationary equations use :meth:`threshold_integrals`."""
        q = self.quadrature(cuts, h)
        x, y = q.x[:, None], q.x[None, :]
        dx = x - y
        same = np.abs(dx) <= 1e-12 * (1.0 + np.abs(x))
        fx, fy = f(q.x)[:, None], f(q.x)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            dd = np.where(same, fprime(q.x)[:, None] + 0.0 * y, (fx - fy) / np.where(same, 1.0, dx))
        return float(q.w @ dd @ q.w)

    def threshold_integrals(self, theta: float, cut: float | None = None, h: float | None = None) -> dict:
        r"""Integrals of the rank-limited soft threshold ``f(y) = (y - theta) 1{y > c}``, ``c = max(cut, theta)``
        (``cut = None``: ``c = theta``, plain soft thresholding / PSD projection).

        Returns ``P = int_{y>c} rho`` (rank fraction), ``f2 = int rho f^2``, ``yf = int rho y f``,
        ``resid2 = int rho (f - y)^2``, ``m2 = int rho y^2`` and the divergence

            D = int int rho(x) rho(y) [f(x) - f(y)]/(x - y) dx dy
              = P^2 + 2 int_{x>c} int_{y<c} rho(x) rho(y) (x - theta)/(x - y)

        (f is linear with slope 1 above c and zero below). The cross term uses the node distances
        ``u = x - c``, ``v = c - y`` so that ``(x - theta)/(x - y) = (c - theta + u)/(u + v)`` is exact at the
        corner ``x = y = c``."""
        if self.atom:
            raise ParameterError("sigma2", "threshold_integrals needs sigma2 > 0 (the measure must have no atom)")
        c = theta if cut is None else max(float(cut), theta)
        q = self.quadrature([c], h)
        # distance to c of every node (exact for nodes of pieces that end/start at c)
        piece_lo = np.array([p[0] for p in q.pieces])[q.piece]
        piece_hi = np.array([p[1] for p in q.pieces])[q.piece]
        above = piece_lo >= c
        u = np.where(piece_lo == c, q.dlo, q.x - c)  # for nodes above
        v = np.where(piece_hi == c, q.dhi, c - q.x)  # for nodes below
        fval = np.where(above, (c - theta) + u, 0.0)
        wa, wb = q.w[above], q.w[~above]
        P = float(wa.sum())
        f2 = float(np.sum(q.w * fval ** 2))
        yf = float(np.sum(q.w * q.x * fval))
        resid2 = float(np.sum(q.w * np.where(above, theta, q.x) ** 2))
        m2 = float(np.sum(q.w * q.x ** 2))
        if wa.size and wb.size:
            ua, vb = u[above][:, None], v[~above][None, :]
            cross = float(wa @ (((c - theta) + ua) / (ua + vb)) @ wb)
        else:
            cross = 0.0
        D = P * P + 2.0 * cross
        return {"P": P, "f2": f2, "yf": yf, "resid2": resid2, "m2": m2, "D": D, "c": c,
                "mass": float(q.w.sum())}

    def quantile_upper(self, mass: float) -> float:
        """``omega`` with ``int_{y > omega} rho = mass`` (bisection on the tanh-sinh CDF; mass in (0, 1))."""
        from scipy.optimize import brentq
        lo, hi = self.edges
        if mass >= 1.0:
            return lo
        if mass <= 0.0:
            return hi

        def tail(c: float) -> float:
            q = self.quadrature([c])
            plo = np.array([p[0] for p in q.pieces])[q.piece]
            return float(q.w[plo >= c].sum()) - mass

        return brentq(tail, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=200)
