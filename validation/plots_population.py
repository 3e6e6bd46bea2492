"""Figures for the population flows (matplotlib; numerics live in ``odes.population``; the backend is never changed).

:func:`plot_population_validation` draws on given axes and returns them (the CLI writes the file);
:func:`plot_regimes` and :func:`plot_scaling` (notebook figures) write a PNG and return its path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from odes.common.deprecation import deprecated_alias


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    """tight_layout, write ``path`` (110 dpi), close the figure."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def plot_population_validation(v: Any, ax: Any = None) -> Any:
    """Finite-d vs limit (:class:`validation.compare_population.PopulationValidation`).

    Curves panel: limit ell(tau) with the seed-averaged finite-d values (every third point). With ``ax=None``
    a new figure, with a second panel d x max deviation (± standard error) vs d when there are >= 2 dimensions.
    Returns the curves axes (the figure is ``ax.figure``)."""
    plt = _plt()
    if ax is None:
        two = len(v.dims) >= 2
        fig, axes = plt.subplots(1, 2 if two else 1, figsize=(10 if two else 5.5, 4), squeeze=False)
        ax = axes[0, 0]
        if two:
            b = axes[0, 1]
            b.errorbar(v.dims, v.scaled_dev, yerr=np.asarray(v.dims) * v.max_dev_se, fmt="o-")
            b.set_xscale("log")
            b.set_xlabel("d")
            b.set_ylabel("d · max_τ |d L_d − ℓ|  (± s.e.)")
            b.set_ylim(bottom=0)
        fig.tight_layout()
    ax.semilogy(v.tau, v.limit_loss, "k-", label="d → ∞")
    for i, d in enumerate(v.dims):
        ax.semilogy(v.tau[::3], v.loss[i].mean(axis=0)[::3], "o", ms=3, label=f"d = {int(d)}")
    ax.set_xlabel("τ = t/d")
    ax.set_ylabel("d·L")
    ax.set_title(f"κ = {v.params.kappa:g}, κ* = {v.params.kappa_star:g}")
    ax.legend()
    return ax


def plot_regimes(curves: Sequence, finite: Sequence | None, path: str | Path) -> Path:
    """Loss curves ell(tau) of several (kappa, kappa*) with optional finite-d results (same order)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, c in enumerate(curves):
        line, = ax.semilogy(c.tau, c.loss, "-", label=f"κ={c.params.kappa:g}, κ*={c.params.kappa_star:g} "
                                                        f"({c.params.regime})")
        if finite is not None and finite[k] is not None:
            f = finite[k]
            ax.semilogy(f.tau, f.loss, "o", ms=3, color=line.get_color(), alpha=0.7)
    ax.set_xlabel("τ = t/d")
    ax.set_ylabel("ℓ(τ) = lim d·L")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_scaling(results, fits, path: str | Path, width_data: dict | None = None) -> Path:
    """Log-log risk vs time with the fitted power law in its window; optional width floors panel."""
    plt = _plt()
    n = 2 if width_data is not None else 1
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
    ax = axes[0, 0]
    for res, fit in zip(results, fits):
        sel = res.t > 0
        line, = ax.loglog(res.t[sel], res.risk[sel], "-", label=f"α = {res.params.alpha_pl:g}")
        w = (res.learned >= fit.window[0]) & (res.learned <= fit.window[1]) & sel
        if np.any(w):
            tw = res.t[w]
            c = np.exp(np.mean(np.log(res.risk[w]) + fit.exponent * np.log(tw)))
            ax.loglog(tw, c * tw ** (-fit.exponent), "--", color="k", lw=1)
            ax.text(tw[-1], c * tw[-1] ** (-fit.exponent), f" {fit.exponent:.3f}", fontsize=8)
    ax.set_xlabel("t (= η · samples)")
    ax.set_ylabel("R(t)")
    ax.legend(fontsize=8)
    if width_data is not None:
        b = axes[0, 1]
        b.loglog(width_data["width"], width_data["floor"], "k-", label=r"$\sum_{j>m}\lambda_j^2$")
        b.loglog(width_data["width"], width_data["risk"], "o", label="GF at t_end")
        b.set_xlabel("width m")
        b.set_ylabel("R")
        b.legend(fontsize=8)
    return _save(fig, path)


plot_validation = deprecated_alias("plot_validation", plot_population_validation)
