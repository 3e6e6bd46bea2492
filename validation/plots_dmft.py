"""Plots of DMFT learning curves and of the DMFT vs finite-d GD comparison (matplotlib, no numerics here)."""

from __future__ import annotations

from typing import Any

from odes.common.deprecation import deprecated_alias


def plot_learning_curves(dmft, gd: dict | None = None, *, ax=None, title: str = "", stationary=None):
    """Train/test error vs t: DMFT (lines with +-s.e. bands, :meth:`DMFTResult.plot`), GD seed means (markers
    with error bars), optional stationary (t = infinity) values as horizontal lines. Returns the matplotlib axes."""
    ax = dmft.plot(ax=ax)
    t = dmft.t
    for name, color in (("train", "C0"), ("test", "C3")):
        for i, (_key, sim) in enumerate(sorted((gd or {}).items(), key=lambda kv: kv[1].d)):
            stride = max(1, len(t) // 25)
            g = getattr(sim, name + "_mean")
            e = getattr(sim, name + "_sem")
            ax.errorbar(t[::stride], g[::stride], yerr=e[::stride], fmt="osd^v"[i % 5], ms=3, color=color,
                        alpha=0.5 + 0.5 * (i + 1) / (len(gd) + 1), label=f"GD d={sim.d} {name}", lw=0.8)
        if stationary is not None:
            ax.axhline(getattr(stationary, name + "_error"), color=color, ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("t = k eta")
    ax.set_ylabel("error")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    return ax


def plot_dmft_validation(val, ax=None, title: str | None = None):
    """DMFT vs GD (:class:`validation.compare_dmft.DMFTValidation`).

    Two panels: learning curves (DMFT vs GD at each d) and relative deviations GD/DMFT - 1 over t >= t_min.

    Returns the first axes (learning curves; ``ax.figure`` holds both). With ``ax`` given, only the learning curves
    are drawn into it. ``title`` defaults to the model parameters."""
    import matplotlib.pyplot as plt

    from validation.compare_dmft import relative_deviations

    if title is None:
        p = val.dmft.params
        title = f"alpha={p.alpha:g} lam={p.lam:g} Delta={p.noise:g}"
    if ax is not None:
        return plot_learning_curves(val.dmft, val.gd, ax=ax, title=title)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    plot_learning_curves(val.dmft, val.gd, ax=a1, title=title)
    for i, d in enumerate(val.ds):
        dv = relative_deviations(val.dmft, val.gd[f"d{d}"], val.t_min)
        a2.plot(dv["t"], dv["train"], color=f"C{i}", ls="--", label=f"train d={d}")
        a2.plot(dv["t"], dv["test"], color=f"C{i}", label=f"test d={d}")
    a2.axhline(0, color="k", lw=0.5)
    a2.set_xlabel("t")
    a2.set_ylabel("GD / DMFT - 1")
    a2.legend(fontsize=7)
    fig.tight_layout()
    return a1


def plot_dmft_comparison(cmp: Any, ax: Any = None, title: str | None = None) -> Any:
    """The headline figure (:class:`validation.compare_dmft.DMFTComparison`, ``quadnet demo``): train and test
    error vs t on log-log axes (t > 0). DMFT as lines with ± s.e. bands, GD seed means as points with error bars
    (about 12 per decade), the stationary (t = infinity) values as dashed horizontal lines. Returns the axes."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    f, g, st = cmp.flow, cmp.gd, cmp.stationary
    if title is None:
        p = cmp.params
        title = (f"alpha={p.alpha:g}, kappa={p.kappa_label}, kappa*={p.kappa_star:g}, lam={p.lam:g}, "
                 f"Delta={p.noise:g}, sigma0={f.settings.sigma0:g}")
    mask = f.t > 0
    tg = g.t
    pos = np.flatnonzero(tg > 0)
    pick = np.unique(np.round(np.geomspace(1, len(pos), min(len(pos), 30))).astype(int) - 1)
    k = pos[pick]
    for q, color in (("train", "C0"), ("test", "C3")):
        y, s = getattr(f, q + "_error")[mask], getattr(f, q + "_error_se")[mask]
        ax.plot(f.t[mask], y, color=color, lw=1.6, label=f"DMFT {q} (d = inf, gradient flow)")
        ax.fill_between(f.t[mask], y - s, y + s, color=color, alpha=0.25, lw=0)
        ax.errorbar(tg[k], getattr(g, q + "_mean")[k], yerr=getattr(g, q + "_sem")[k], fmt="o", ms=3.5,
                    mfc="white", color=color, lw=0.9, capsize=1.5,
                    label=f"GD {q}, d = {g.d} ({len(g.seeds)} seeds)")
        ax.axhline(getattr(st, q + "_error"), color=color, ls="--", lw=1,
                   label=f"stationary {q} (t = inf) {getattr(st, q + '_error'):.4f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: f"{y:g}" if f"{y:.0e}"[0] in "235" else ""))
    ax.tick_params(axis="y", which="both", labelsize=8)
    ax.set_xlabel("time t")
    ax.set_ylabel("error")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


plot_validation = deprecated_alias("plot_validation", plot_dmft_validation)
