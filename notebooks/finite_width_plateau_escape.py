# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Plateau and escape of one-pass SGD: theory vs simulation for p = 1, 2, 4, 8 (p* = 1)
#
# A student $\hat y = \sum_{j=1}^p a_j \lambda_j^2$ learns a teacher $y = \sum_{k=1}^{p^*} b_k\nu_k^2$ by one-pass
# SGD, with $\lambda_j = w_j\cdot x/\sqrt N$, $\nu_k = w^*_k\cdot x/\sqrt N$, $x\sim\mathcal N(0, I_N)$ fresh at every
# step and time $\alpha$ = steps/N. Default convention: $a_j = 1/p$, $b_k = 1/p^*$, teacher Gram $T = I$ and
# per-unit rate $\eta_j = p\gamma$, so the **effective learning rate** $\Gamma = \mathrm{diag}(\eta_j a_j) = \gamma I$
# does not depend on p.
#
# From a random initialisation $w_j\sim\mathcal N(0, I_N)$ the overlaps start at $Q \approx I$,
# $M = O(N^{-1/2})$: the dynamics first relaxes to the **plateau** $M = 0$, $Q = q_{pl} I$ (a saddle of the loss)
# and then escapes along the teacher directions, $M(\alpha) \approx e^{\rho\alpha} M(0)$, with rate
#
# $$\rho = 4\gamma\mu_{max} - 2\gamma^2 X(u), \qquad X(u) = (p+2)(p+4)u^2 - 2\tau(p+2)u + \tau^2 + 2\tau_2 + \Delta,$$
#
# ($u = a q_{pl}$, $\tau = \mathrm{tr}(BT)$, $\mu$ the eigenvalues of $BT$), i.e. $\rho = 4\gamma/p^*$ in gradient flow,
# **independent of p**; p enters only through the $O(\gamma^2)$ correction. The escape time is
#
# $$\alpha_{esc} \approx \frac{1}{2\rho}\ln N - \frac1\rho \ln s_{max}(\sqrt N M_0) + C(p, p^*, \gamma),$$
#
# so over-parameterisation (larger p) changes the escape time only through the **prefactor**: the largest
# singular value $s_{max}$ of $\sqrt N M_0$ grows like $\sqrt p + \sqrt{p^*}$ (and C depends weakly on p).
#
# Below: finite-N online SGD (`validation.online_sgd`, protocol R) against the $N\to\infty$ overlap ODEs
# integrated from each run's exact initial state (`validation.compare_ode`), the plateau values, and the
# escape time vs p. Caveat (documented in `docs/online_sgd.md`): with a random init the SGD noise collected on
# the plateau is as large as $M_0$, so individual escape times scatter by O(1) around the ODE's at every N.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from odes.finite_width import FiniteWidthParams
from odes.finite_width.integrate import initial_overlaps
from odes.finite_width.plateau import ode_escape_time, plateau, predicted_escape_time
from validation.compare_ode import compare_ode

FAST = os.environ.get("QUADNET_FAST") == "1"
FIGDIR = Path(os.environ.get("QUADNET_FIGDIR", Path("notebooks") / "figures"))
FIGDIR.mkdir(parents=True, exist_ok=True)

P_STAR = 1
GAMMA = 0.1
PS = [1, 2, 4, 8]
N = 500 if FAST else 1000
SEEDS = 3 if FAST else 8
ALPHA_MAX = 30.0 if FAST else 40.0
alphas = np.arange(0.0, ALPHA_MAX + 1e-9, 0.5)
print(f"p* = {P_STAR}, gamma = {GAMMA}, N = {N}, {SEEDS} seeds per p, alpha <= {ALPHA_MAX}")

# %% [markdown]
# ## Plateau theory (closed form)

# %%
params = {p: FiniteWidthParams(p=p, p_star=P_STAR, gamma=GAMMA) for p in PS}
pl = {p: plateau(params[p]) for p in PS}
pl_gf = {p: plateau(params[p], gradient_flow=True) for p in PS}
print(" p    q_pl     eps_pl    rho (SGD)   rho (GF)")
for p in PS:
    print(f"{p:2d}  {pl[p].q:.5f}  {pl[p].eps:.5f}   {pl[p].escape_rate:.5f}    {pl_gf[p].escape_rate:.5f}")

# %% [markdown]
# ## Simulations (protocol R) and the ODE from each run's initial state

# %%
runs = {}
for p in PS:
    runs[p] = compare_ode(params[p], [N], alphas, seeds=SEEDS, seed=0, init="R", rtol=1e-8, atol=1e-10,
                          quiet=True).width(N)
    sim = runs[p].simulation
    print(f"p = {p}: {sim.n_valid}/{len(sim.seeds)} runs ok, t_sim = {sim.wall_time:.1f} s, "
          f"t_ode = {runs[p].ode_time:.1f} s")


# %%
def crossing_time(alpha: np.ndarray, eps: np.ndarray, level: float) -> float:
    """First alpha where eps falls below ``level`` (log-linear interpolation on the grid; inf if never)."""
    below = np.nonzero(eps < level)[0]
    below = below[below > 0]
    if below.size == 0:
        return np.inf
    i = below[0]
    y0, y1 = np.log(eps[i - 1]), np.log(eps[i])
    return float(alpha[i - 1] + (alpha[i] - alpha[i - 1]) * (y0 - np.log(level)) / (y0 - y1))


rows = []
for p in PS:
    w, sim = runs[p], runs[p].simulation
    level = 0.5 * pl[p].eps
    ok = sim.valid
    t_sim = np.array([crossing_time(sim.alpha, e, level) for e in sim.eps_g[ok]])
    t_ode = np.array([crossing_time(sim.alpha, e, level) for e in w.ode_eps_g[ok]])
    s_max = np.array([np.linalg.svd(np.sqrt(N) * m0, compute_uv=False)[0] for m0 in sim.M[ok, 0]])
    pred = predicted_escape_time(params[p], N, s_max=1.0, level=0.5)[0] - np.log(s_max) / pl[p].escape_rate
    # plateau check: the flattest point of the mean ODE curve before the escape, where sim and ODE are compared
    ode_mean = w.ode_eps_g[ok].mean(axis=0)
    before = sim.alpha < 0.9 * np.min(t_ode)
    i_pl = int(np.argmin(np.where(before[1:], np.abs(np.diff(ode_mean)), np.inf)))
    rows.append(dict(p=p, rho=pl[p].escape_rate, s_max=s_max.mean(), t_sim=t_sim, t_ode=t_ode, pred=pred,
                     eps_pl=pl[p].eps, alpha_pl=sim.alpha[i_pl], eps_pl_ode=ode_mean[i_pl],
                     eps_pl_sim=sim.mean("eps_g")[i_pl]))

print(" p    rho     <s_max>  alpha_esc SGD      ODE (same init)   prediction (6.3)")
for r in rows:
    print(f"{r['p']:2d}  {r['rho']:.4f}  {r['s_max']:.2f}    {r['t_sim'].mean():6.2f} ± {r['t_sim'].std(ddof=1):4.2f}"
          f"   {r['t_ode'].mean():6.2f} ± {r['t_ode'].std(ddof=1):4.2f}    {r['pred'].mean():6.2f}")

# %% [markdown]
# ## Figures: learning curves with the plateau, and escape time vs p

# %%
fig, axes = plt.subplots(1, len(PS), figsize=(3.2 * len(PS), 3.2), sharey=True)
for ax, p in zip(axes, PS):
    w, sim = runs[p], runs[p].simulation
    for s in np.nonzero(sim.valid)[0]:
        ax.plot(sim.alpha, sim.eps_g[s], color="C0", lw=0.8, alpha=0.6, label="SGD" if s == 0 else None)
        ax.plot(sim.alpha, w.ode_eps_g[s], "--", color="C3", lw=0.8, alpha=0.8, label="ODE" if s == 0 else None)
    ax.axhline(pl[p].eps, color="k", lw=0.6, ls=":", label=r"$\varepsilon_{pl}$")
    ax.set_yscale("log")
    ax.set_title(f"p = {p}, p* = {P_STAR}", fontsize=9)
    ax.set_xlabel(r"$\alpha$")
axes[0].set_ylabel(r"$\varepsilon_g$")
axes[0].legend(fontsize=7)
fig.suptitle(f"plateau and escape, online SGD (N = {N}) vs ODE from the same initial state, $\\gamma$ = {GAMMA}",
             fontsize=9)
fig.tight_layout()
fig.savefig(FIGDIR / "finite_width_plateau_escape.png", dpi=110)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
pp = np.array(PS)
for key, lab, mk in (("t_sim", "SGD", "o"), ("t_ode", "ODE (same init)", "s"), ("pred", "prediction 6.3", "^")):
    m = np.array([r[key].mean() for r in rows])
    e = np.array([r[key].std(ddof=1) / np.sqrt(len(r[key])) for r in rows])
    ax1.errorbar(pp, m, yerr=e, fmt=mk + "-", capsize=2, label=lab)
ax1.set_xscale("log", base=2)
ax1.set_xlabel("student width p")
ax1.set_ylabel(r"escape time $\alpha_{esc}$ ($\varepsilon_g = \varepsilon_{pl}/2$)")
ax1.legend(fontsize=8)
ax2.plot(pp, [r["rho"] for r in rows], "o-", label=r"$\rho$ (SGD, closed form)")
ax2.plot(pp, [pl_gf[p].escape_rate for p in PS], "k--", label=r"$\rho = 4\gamma/p^*$ (gradient flow)")
ax2.set_xscale("log", base=2)
ax2.set_ylim(0, 1.3 * 4 * GAMMA / P_STAR)
ax2.set_xlabel("student width p")
ax2.set_ylabel(r"escape rate $\rho$")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGDIR / "finite_width_escape_vs_p.png", dpi=110)

# %% [markdown]
# ## Reading the results
#
# * The simulated plateau value matches the closed-form $\varepsilon_{pl}$ and every run follows the ODE started
#   from its own initial state through the plateau; the escape itself is shifted by O(1) random amounts (the
#   plateau noise, same order as $M_0$), which does not average out with N.
# * The escape rate $\rho$ is flat in p (it equals $4\gamma/p^*$ up to $O(\gamma^2)$ corrections), so the
#   escape time drops only **modestly** with p, mostly through $\ln s_{max}(\sqrt N M_0)$: over-parameterisation
#   changes the prefactor, not the exponential rate. (With a plain learning rate $\eta$ and $a_j = 1/p$ instead,
#   $\Gamma = \eta/p$ and the escape would slow down $\propto p$.)

# %%
t_first, t_last = rows[0]["t_sim"].mean(), rows[-1]["t_sim"].mean()
print(f"mean SGD escape time p = {PS[0]}: {t_first:.2f}, p = {PS[-1]}: {t_last:.2f} "
      f"(ratio {t_last / t_first:.2f}); rho varies by {np.ptp([r['rho'] for r in rows]) / rows[0]['rho']:.1%}")
for r in rows:
    print(f"p = {r['p']}: at the flattest point alpha = {r['alpha_pl']:.1f}: eps SGD (mean) {r['eps_pl_sim']:.4f}, "
          f"ODE {r['eps_pl_ode']:.4f}; closed-form plateau {r['eps_pl']:.4f}")


# %% [markdown]
# ## Escape time vs $\ln N$ (ODE from random starts) for $p^* = 1, 2, 4$
# Spec 6.3: $\alpha_{esc} \approx \ln N/(2\rho) + O(1)$. The ODE is started from random initial overlaps
# $M_0 = G/\sqrt N$, $Q_\perp(0) = I$ (`initial_overlaps`, the same G for every N of a seed) and the escape time is
# the crossing of $\varepsilon_{pl}/2$ (`ode_escape_time`); the line has the closed-form slope $1/(2\rho)$ with
# $\rho$ from `plateau` (intercept fitted). Configurations $(p, p^*, \gamma)$ of `benchmarks/escape_scaling.py`.

# %%
ESC_CONFIGS = [(2, 1, 0.1), (4, 2, 0.15), (8, 4, 0.2)]
N_esc = np.array([1e3, 1e4, 1e5] if FAST else [1e3, 1e4, 1e5, 1e6])
seeds_esc = 3 if FAST else 8
esc = []
for p, ps, g in ESC_CONFIGS:
    prm = FiniteWidthParams(p, ps, gamma=g)
    slope_th = 1.0 / (2.0 * plateau(prm).escape_rate)
    A = np.array([[ode_escape_time(prm, *initial_overlaps(prm, N=int(n), seed=s)) for s in range(seeds_esc)]
                  for n in N_esc])
    slope_fit = float(np.polyfit(np.repeat(np.log(N_esc), seeds_esc), A.ravel(), 1)[0])
    esc.append(dict(p=p, p_star=ps, gamma=g, times=A, slope_th=slope_th, slope_fit=slope_fit))
    print(f"(p, p*, gamma) = ({p}, {ps}, {g}): 1/(2 rho) = {slope_th:.4f}, fitted slope {slope_fit:.4f}; "
          f"mean alpha_esc at N = {N_esc.astype(int)}: {np.round(A.mean(axis=1), 2)}")

fig, ax = plt.subplots(figsize=(6.5, 4.2))
lnN = np.log(N_esc)
for j, e in enumerate(esc):
    c = f"C{j}"
    ax.plot(np.repeat(lnN, seeds_esc), e["times"].ravel(), ".", color=c, alpha=0.4)
    ax.plot(lnN, e["times"].mean(axis=1), "o", color=c,
            label=f"p={e['p']}, p*={e['p_star']}, gamma={e['gamma']}: fit slope {e['slope_fit']:.3f}")
    b0 = np.mean(e["times"]) - e["slope_th"] * np.mean(lnN)
    xx = np.linspace(lnN[0] - 0.3, lnN[-1] + 0.3, 10)
    ax.plot(xx, b0 + e["slope_th"] * xx, "-", color=c, lw=1, label=f"slope 1/(2 rho) = {e['slope_th']:.3f}")
ax.set_xlabel("ln N")
ax.set_ylabel(r"ODE escape time $\alpha_{esc}$ ($\varepsilon_g = \varepsilon_{pl}/2$)")
ax.set_title(f"escape time vs ln N, ODE from random starts ({seeds_esc} seeds, dots; circles: mean)", fontsize=8)
ax.legend(fontsize=6)
fig.tight_layout()
fig.savefig(FIGDIR / "finite_width_escape_vs_lnN.png", dpi=110)
