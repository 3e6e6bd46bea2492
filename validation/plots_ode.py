"""Plots of theory-vs-simulation comparisons (matplotlib, Agg backend; no numerics here).

:func:`plot_comparison` draws, for an :class:`validation.compare_ode.ODEComparison`:

* left: eps_g(alpha): simulation mean ± std over seeds (markers with error bars, one colour per N) and the ODE
  (lines; the mean over seeds of the ODE started from each seed's exact initial state, which for protocol V is
  one curve);
* right: the deviation metrics (mean ± std over seeds) against N on log-log axes, with the fitted power laws
  and an N^{-1/2} reference line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_eps_curves(comparison, ax, *, logy: bool = True) -> None:
    """Simulation mean ± std and ODE curves of eps_g(alpha) for every N of ``comparison``."""
    colors = _colors(len(comparison.Ns))
    drawn: list[np.ndarray] = []
    for col, N in zip(colors, comparison.Ns):
        w = comparison.width(N)
        sim = w.simulation
        ode = w.ode_eps_g[sim.valid].mean(axis=0)
        if not any(d.shape == ode.shape and np.allclose(d, ode, rtol=1e-8, atol=1e-12) for d in drawn):
            same = comparison.init == "V" and len(comparison.Ns) > 1
            ax.plot(sim.alpha, ode, "-", color="k" if same else col, lw=1.2,
                    label="ODE" if same else f"ODE (N={int(N)} initial states)")
            drawn.append(ode)
        ax.errorbar(sim.alpha, sim.mean("eps_g"), yerr=sim.std("eps_g"), fmt="o", ms=3, color=col, capsize=2,
                    alpha=0.8, label=f"SGD N={int(N)} ({sim.n_valid} runs)")
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$\varepsilon_g$")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7)


def plot_deviations(comparison, ax, *, metrics=("D_eps", "D_Q", "D_M")) -> None:
    """Deviation metrics vs N (log-log) with fitted power laws and an N^{-1/2} guide."""
    Ns = np.asarray(comparison.Ns, dtype=float)
    for m, mk in zip(metrics, "osd^"):
        st = np.array([comparison.width(N).stats(m) for N in comparison.Ns])
        x = comparison.exponents.get(m)
        lab = m if x is None else f"{m}: x = {x:.2f} ± {comparison.exponent_errors[m]:.2f}"
        line = ax.errorbar(Ns, st[:, 0], yerr=st[:, 1], fmt=mk, capsize=2, label=lab)
        if x is not None and np.all(st[:, 0] > 0):
            c = np.exp(np.mean(np.log(st[:, 0]) - x * np.log(Ns)))
            ax.plot(Ns, c * Ns**x, "-", color=line[0].get_color(), lw=0.8)
    if Ns.size:
        st0 = comparison.width(comparison.Ns[0]).stats(metrics[0])[0]
        ax.plot(Ns, st0 * (Ns / Ns[0]) ** -0.5, "k:", lw=1, label=r"$\propto N^{-1/2}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(Ns)
    ax.set_xticklabels([str(int(n)) for n in Ns])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("N")
    ax.set_ylabel("max deviation (mean ± std over seeds)")
    ax.legend(fontsize=7)


def plot_comparison(comparison, path: str | Path | None = None, *, title: str | None = None):
    """Two-panel figure (curves, deviations vs N); saved as PNG to ``path`` if given. Returns the figure."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    plot_eps_curves(comparison, ax1)
    plot_deviations(comparison, ax2)
    pr = comparison.params
    g = "" if pr.gamma is None else f", $\\gamma$={pr.gamma:g}"
    fig.suptitle(title or f"ODE vs online SGD: (p, p*) = ({pr.p}, {pr.p_star}){g}, protocol {comparison.init}",
                 fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=120)
        plt.close(fig)
    return fig


def _colors(n: int):
    plt = _pyplot()
    cmap = plt.get_cmap("viridis")
    return [cmap(0.15 + 0.7 * i / max(1, n - 1)) for i in range(n)]
