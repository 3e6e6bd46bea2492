"""Plots of theory-vs-simulation comparisons (matplotlib; no numerics here, no change of the backend).

:func:`plot_comparison` draws, for an :class:`validation.compare_ode.ODEComparison`:

* the curves panel: eps_g(alpha), the simulation mean ± its standard error over seeds (markers on a shaded band,
  one colour per N) and the ODE (lines; the mean over seeds of the ODE started from each seed's exact initial
  state, which for protocol V is one curve);
* the deviations panel (only with >= 2 widths): the deviation metrics (mean ± standard error over seeds) against
  N on log-log axes, with the fitted power laws and an N^{-1/2} reference line.

Every function draws on given axes (or a new figure) and returns the axes; writing files is the caller's job.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _curves(ax: Any, sim: Any, ode: np.ndarray | None, color: Any, ode_label: str | None) -> None:
    """SGD mean ± standard error of one width (markers on a band) and, if given, an ODE line."""
    ok = sim.valid
    m = sim.mean("eps_g")
    se = sim.std("eps_g") / np.sqrt(max(int(np.count_nonzero(ok)), 1))
    if ode is not None:
        ax.plot(sim.alpha, ode, "-", color=color if ode_label != "ODE" else "k", lw=1.2, label=ode_label)
    ax.plot(sim.alpha, m, "o", ms=3, color=color, label=f"SGD N={int(sim.N)} ({sim.n_valid} runs, ± s.e.)")
    ax.fill_between(sim.alpha, m - se, m + se, color=color, alpha=0.25, lw=0)


def plot_eps_curves(comparison: Any, ax: Any, *, logy: bool = True) -> Any:
    """Simulation mean ± standard error and ODE curves of eps_g(alpha) for every N of ``comparison``."""
    colors = _colors(len(comparison.Ns))
    drawn: list[np.ndarray] = []
    for col, N in zip(colors, comparison.Ns):
        w = comparison.width(N)
        sim = w.simulation
        ode = w.ode_eps_g[sim.valid].mean(axis=0)
        label = None
        if not any(d.shape == ode.shape and np.allclose(d, ode, rtol=1e-8, atol=1e-12) for d in drawn):
            same = comparison.init == "V" and len(comparison.Ns) > 1
            label = "ODE" if same else f"ODE (N={int(N)} initial states)"
            drawn.append(ode)
        _curves(ax, sim, ode if label else None, col, label)
    return _label_eps_axes(ax, logy)


def _label_eps_axes(ax: Any, logy: bool) -> Any:
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$\varepsilon_g$")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    return ax


def plot_width(width: Any, ax: Any = None, *, logy: bool = True) -> Any:
    """One :class:`~validation.compare_ode.WidthComparison`: SGD mean ± standard error and the ODE curve."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    sim = width.simulation
    _curves(ax, sim, width.ode_eps_g[sim.valid].mean(axis=0), "C0", "ODE")
    return _label_eps_axes(ax, logy)


def plot_deviations(comparison: Any, ax: Any, *, metrics: tuple[str, ...] = ("D_eps", "D_Q", "D_M")) -> Any:
    """Deviation metrics (mean ± standard error over seeds) vs N (log-log) with fitted power laws and an
    N^{-1/2} guide."""
    from matplotlib.ticker import NullFormatter

    Ns = np.asarray(comparison.Ns, dtype=float)
    runs = np.array([max(comparison.width(N).simulation.n_valid, 1) for N in comparison.Ns], dtype=float)
    for m, mk in zip(metrics, "osd^"):
        st = np.array([comparison.width(N).stats(m) for N in comparison.Ns])
        x = comparison.exponents.get(m)
        lab = m if x is None else f"{m}: x = {x:.2f} ± {comparison.exponent_errors[m]:.2f}"
        line = ax.errorbar(Ns, st[:, 0], yerr=st[:, 1] / np.sqrt(runs), fmt=mk, capsize=2, label=lab)
        if x is not None and np.all(st[:, 0] > 0):
            c = np.exp(np.mean(np.log(st[:, 0]) - x * np.log(Ns)))
            ax.plot(Ns, c * Ns**x, "-", color=line[0].get_color(), lw=0.8)
    if Ns.size:
        st0 = comparison.width(comparison.Ns[0]).stats(metrics[0])[0]
        ax.plot(Ns, st0 * (Ns / Ns[0]) ** -0.5, "k:", lw=1, label=r"$\propto N^{-1/2}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(Ns)
    ax.set_xticklabels([str(int(n)) for n in Ns])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("N")
    ax.set_ylabel("max deviation (mean ± s.e. over seeds)")
    ax.legend(fontsize=7)
    return ax


def plot_comparison(comparison: Any, ax: Any = None, *, title: str | None = None) -> Any:
    """Curves panel on ``ax``; with ``ax=None`` a new figure with the curves panel and, when there are >= 2
    widths, the deviations panel to its right. Returns the curves axes (the figure is ``ax.figure``)."""
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        two = len(comparison.Ns) >= 2
        fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10 if two else 5.5, 4), squeeze=False)
        ax = axes[0, 0]
        if two:
            plot_deviations(comparison, axes[0, 1])
    plot_eps_curves(comparison, ax)
    if fig is not None:
        pr = comparison.params
        g = "" if pr.gamma is None else f", $\\gamma$={pr.gamma:g}"
        fig.suptitle(title or f"ODE vs online SGD: (p, p*) = ({pr.p}, {pr.p_star}){g}, protocol {comparison.init}",
                     fontsize=10)
        fig.tight_layout()
    elif title:
        ax.set_title(title, fontsize=10)
    return ax


def _colors(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(0.15 + 0.7 * i / max(1, n - 1)) for i in range(n)]
