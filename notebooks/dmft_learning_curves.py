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

# %% [markdown]
# ## Escape phase at small initialisation, kappa < 1: DMFT vs GD against size (issue 12, item 5a)
# Parameters $(\alpha,\kappa,\kappa^*,\lambda,\Delta,\sigma_0)=(1.5,0.5,0.25,0.01,0.1,0.1)$, GD step 0.04, GOE
# sensing. Test error at two times of the escape phase against 1/size: DMFT at $d_\mathrm{eff}=24\ldots192$
# (48 runs each, 16 at 192) and GD at $d=40\ldots160$ (24 seeds each), with the weighted fits $a+b/d$. The data
# are the committed summary of ``python3 -m benchmarks.escape_phase_validation`` (no computation here); the two
# $d\to\infty$ limits agree within 1.7 combined standard errors (docs/dmft.md).

# %%
import numpy as np

from benchmarks.escape_phase_validation import load_summary
from odes.common.numerics import fit_inverse_size

gd_esc, dm_esc = load_summary(Path("benchmarks/data/escape_phase_summary.npz"))
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (k, t) in zip(axes, ((2, 1.52), (3, 2.0))):
    for lab, data, c in (("DMFT (d_eff)", dm_esc, "C3"), ("GD, GOE sensing (d)", gd_esc, "C0")):
        sizes = np.array(sorted(data), dtype=float)
        y = np.array([data[int(s)]["test"][:, k].mean() for s in sizes])
        se = np.array([data[int(s)]["test"][:, k].std(ddof=1) / np.sqrt(len(data[int(s)]["test"])) for s in sizes])
        x = 1.0 / sizes
        fit = fit_inverse_size(sizes, y, se, se_floor=0.0, scale_by_chi2=False)  # weighted a + b/d
        ax.errorbar(x, y, se, fmt="o", color=c, ms=4, capsize=2, label=lab)
        xx = np.linspace(0.0, x.max(), 50)
        ax.plot(xx, fit.intercept + fit.slope * xx, color=c, lw=1, ls="--")
    ax.set_xlabel("1 / size")
    ax.set_ylabel(f"test error at t = {t:g}")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGDIR / "dmft_escape_phase_sizes.png", dpi=110)

# %% [markdown]
# ## Real vs complex-Hermitian effective process: the finite-d_eff bias
# The gradient-flow DMFT (``dmft.dynamics.gradient_flow.solve_flow``) can run its effective process over real
# symmetric matrices (GOE noise: finite-$d_\mathrm{eff}$ bias $O(1/d_\mathrm{eff})$) or complex Hermitian ones
# (``field="complex"``, GUE noise: bias $O(1/d_\mathrm{eff}^2)$, same $d=\infty$ limit). Set B, test error at
# t = 2 against $d_\mathrm{eff}$, with the oracle value 0.352 (gradient flow, spec O3, $\pm2.5\%$).

# %%
from dmft.dynamics.gradient_flow import flow_settings, solve_flow

SIZES = [6, 8] if FAST else [8, 12, 16, 24]
fig, ax = plt.subplots(figsize=(6, 4))
for field, ens, c in (("real", "quantile", "C0"), ("complex", "wishart", "C3")):
    ys, ss = [], []
    for d in SIZES:
        ns = max(4, (64 * 64) // d ** 2) if not FAST else 4  # about equal Ns d_eff^2: equal noise per size
        r = solve_flow(SETS["B (noisy)"], flow_settings(2.0, 0.05, h0=0.01, growth=1.15, d_eff=d, samples=ns,
                                                        runs=2 if FAST else 6, field=field, ensemble=ens, seed=5))
        ys.append(r.test_error[-1])
        ss.append(r.test_error_se[-1])
    ax.errorbar(1.0 / np.array(SIZES), ys, ss, fmt="o-", color=c, capsize=2, label=f"{field} field")
    print(f"{field:8s} field: test(t=2) at d_eff {SIZES}: " + ", ".join(f"{y:.4f}+-{s:.4f}" for y, s in zip(ys, ss)))
ax.axhline(0.352, color="k", lw=0.8, ls="--", label="oracle O3 (gradient flow)")
ax.set_xlabel("1 / d_eff")
ax.set_ylabel("test error at t = 2 (set B)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGDIR / "dmft_field_bias.png", dpi=110)

# %% [markdown]
# ## Long times: the implicit (SDIRK2) scheme follows a slow relaxation to the stationary theory
# The explicit schemes need steps below ~0.06 (stiff modes), so t = 1000 would take 20000 steps. The L-stable
# implicit scheme (``FlowSettings(scheme="sdirk2")``, ``dmft.dynamics.implicit_flow``) lets the steps grow with the
# time scale of the dynamics. Noiseless spec set A $(1, 1, 0.5, 0.01, 0)$ relaxes slowly (its test error at t = 20
# is still 6.6x the static value); here it is followed to t = 1000 on ~60 steps, in log time, against the stationary
# theory.

# %%
from dmft.dynamics.gradient_flow import FlowSettings, flow_grid

SET_A = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.01, noise=0.0)
T_LONG = 50.0 if FAST else 1000.0
statA = solve_stationary(SET_A)
rA = solve_flow(SET_A, FlowSettings(steps=tuple(flow_grid(T_LONG, T_LONG / 20, 0.05, 1.15)), d_eff=6 if FAST else 8,
                                    samples=16 if FAST else 32, response_samples=8, runs=2 if FAST else 3,
                                    field="complex", scheme="sdirk2", seed=2))
fig, ax = plt.subplots(figsize=(6, 4))
for yname, ref, c in (("test", statA.test_error, "C3"), ("train", statA.train_error, "C0")):
    y, s = getattr(rA, yname + "_error"), getattr(rA, yname + "_error_se")
    ax.loglog(rA.t[1:], y[1:], "o-", ms=3, color=c, label=f"DMFT {yname} ({len(rA.t) - 1} steps)")
    ax.fill_between(rA.t[1:], (y - s)[1:], (y + s)[1:], color=c, alpha=0.25, lw=0)
    ax.axhline(ref, color=c, ls="--", lw=0.8, label=f"stationary {yname} {ref:.3g}")
ax.set_xlabel("t")
ax.set_ylabel("error (set A, noiseless)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGDIR / "dmft_long_time.png", dpi=110)
print(f"set A, t = {rA.t[-1]:g} on {len(rA.t) - 1} steps: test {rA.test_error[-1]:.4g} +- {rA.test_error_se[-1]:.2g} "
      f"(stationary {statA.test_error:.4g}), train {rA.train_error[-1]:.4g} (stationary {statA.train_error:.4g})")
