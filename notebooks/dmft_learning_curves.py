# %% [markdown]
# # DMFT learning curves of gradient descent at extensive width
#
# Two-layer network with quadratic activation, student width $m=\kappa d$, teacher width $m^*=\kappa^* d$,
# $n=\alpha d^2$ samples. Full-batch GD with step $\eta$ on
# $L(W)=\frac{\kappa}{8\alpha}\sum_\mu(y_\mu-\hat y_\mu)^2+\frac{\lambda}{2}\|W\|_F^2$ is exactly
# $S_{k+1}=P_kS_kP_k$, $P_k=I-\eta(G_k+\lambda)$. The discrete-time DMFT (``dmft.dynamics.solve``) gives the
# $d\to\infty$ train/test curves; we compare them with finite-$d$ GD using GOE sensing matrices (the Gaussian
# model the DMFT is derived for), for a noiseless set A and a noisy set B, and check that the late-time DMFT
# approaches the stationary (ERM) theory ``dmft.stationary.solve_stationary``.
#
# Set ``QUADNET_FAST=1`` for a quick (small, noisy) run.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dmft.dynamics import DMFTSettings, solve
from dmft.params import ExtensiveWidthParams
from dmft.stationary import solve_stationary
from validation.compare_dmft import relative_deviations
from validation.gd_simulator import simulate_gd_seeds
from validation.plots_dmft import plot_learning_curves

FAST = os.environ.get("QUADNET_FAST") == "1"
FIGDIR = Path(os.environ.get("QUADNET_FIGDIR", "notebooks/figures"))
FIGDIR.mkdir(parents=True, exist_ok=True)

ETA = 0.05
if FAST:
    STEPS, D_EFF, SAMPLES, RUNS, GD_D, GD_SEEDS = 40, 14, 2, 1, [20], 2
else:
    STEPS, D_EFF, SAMPLES, RUNS, GD_D, GD_SEEDS = 200, 60, 4, 3, [40, 60], 6

SETS = {
    "A (noiseless)": ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.01, noise=0.0),
    "B (noisy)": ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5),
}

# %% [markdown]
# ## DMFT vs finite-d GD (GOE sensing)

# %%
settings = DMFTSettings(eta=ETA, steps=STEPS, d_eff=D_EFF, samples=SAMPLES, runs=RUNS, seed=1)
dmft, gd = {}, {}
for name, params in SETS.items():
    dmft[name] = solve(params, settings, quiet=True)
    gd[name] = {f"d{d}": simulate_gd_seeds(params, d, ETA, STEPS, range(GD_SEEDS), sensing="goe") for d in GD_D}

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, name in zip(axes, SETS):
    plot_learning_curves(dmft[name], gd[name], ax=ax, title=f"set {name}, d_eff={D_EFF}")
fig.tight_layout()
fig.savefig(FIGDIR / "dmft_vs_gd.png", dpi=110)

for name in SETS:
    for _key, sim in gd[name].items():
        dv = relative_deviations(dmft[name], sim)
        print(f"set {name:14s} GD d={sim.d:3d}: max|GD/DMFT-1| train {dv['max_train']:.3f}  test {dv['max_test']:.3f}")

# %% [markdown]
# ## Late-time DMFT vs the stationary theory (set B)
# The static solution (spectral soft-thresholding + PSD projection of teacher + semicircle) is the
# $t\to\infty$ limit of the DMFT. Finite $d_\mathrm{eff}$ biases the DMFT by about $+1.5/d_\mathrm{eff}$.

# %%
stat = solve_stationary(SETS["B (noisy)"])
stat_test, stat_train = stat.test_error, stat.train_error

rB = dmft["B (noisy)"]
fig, ax = plt.subplots(figsize=(6, 4))
for yname, ref, c in (("test", stat_test, "C3"), ("train", stat_train, "C0")):
    y = getattr(rB, yname + "_error")
    s = getattr(rB, yname + "_error_std")
    ax.plot(rB.t, y / ref - 1, color=c, label=f"DMFT {yname} / stationary - 1")
    ax.fill_between(rB.t, (y - s) / ref - 1, (y + s) / ref - 1, color=c, alpha=0.25, lw=0)
ax.axhline(0, color="k", lw=0.5)
ax.axhline(1.5 / D_EFF, color="gray", ls=":", label="expected d_eff bias 1.5/d_eff")
ax.set_ylim(-0.2, 1.0)
ax.set_xlabel("t")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGDIR / "dmft_late_time.png", dpi=110)
print(f"t = {rB.t[-1]:g}: DMFT test {rB.test_error[-1]:.4f} +- {rB.test_error_std[-1]:.4f}  (stationary {stat_test:.5f}),"
      f" train {rB.train_error[-1]:.4f} +- {rB.train_error_std[-1]:.4f} (stationary {stat_train:.5f})")
