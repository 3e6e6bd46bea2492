"""Plots of the stationary theory (kept apart from the numerics; matplotlib imported lazily)."""

from __future__ import annotations

from odes.common.deprecation import deprecated_alias


def _plt():
    import matplotlib.pyplot as plt
    return plt


def plot_spectrum(sol, ax=None):
    """Density of the non-zero eigenvalues of S_inf (and the atom at 0 in the legend)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(sol.grid, sol.density, label=f"theory (atom at 0: {sol.atom:.3f})")
    ax.set_xlabel("eigenvalue of $S_\\infty$")
    ax.set_ylabel("density")
    p = sol.params
    ax.set_title(f"alpha={p.alpha:g} kappa={p.kappa_label} kappa*={p.kappa_star:g} lam={p.lam:g} Delta={p.noise:g}",
                 fontsize=8)
    ax.legend(fontsize=8)
    return ax


def plot_stationary_validation(val, ax=None):
    """Stationary theory vs ERM (:class:`validation.compare_stationary.StationaryValidation`).

    Three panels: test/train vs 1/d with extrapolation and theory; spectrum histogram vs theory.

    Returns the first axes (test error; ``ax.figure`` holds all three). With ``ax`` given, only the test-error
    panel is drawn into it."""
    import numpy as np
    plt = _plt()
    if ax is None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    else:
        fig, axes = ax.figure, [ax]
    inv = 1.0 / val.ds
    xs = np.linspace(0.0, inv.max() * 1.05, 20)
    for ax, name, key in zip(axes[:2], ("test", "train"), ("test_error", "train_error")):
        arr = getattr(val, name)
        m = arr.mean(axis=1)
        se = arr.std(axis=1, ddof=1) / np.sqrt(arr.shape[1]) if arr.shape[1] > 1 else 0 * m
        ax.errorbar(inv, m, se, fmt="o", label=f"ERM ({val.sensing})")
        q0, s0, c = val.extrapolated[name]
        ax.plot(xs, q0 + c * xs, "--", label=f"1/d fit: {q0:.4f}±{s0:.4f}")
        ax.axhline(val.theory[key], color="k", lw=1, label=f"theory {val.theory[key]:.4f}")
        ax.set_xlabel("1/d")
        ax.set_ylabel(name + " error")
        ax.legend(fontsize=7)
    if len(axes) == 1:
        return axes[0]
    ax = axes[2]
    e = val.bin_edges
    ax.stairs(val.hist_erm, e, label=f"ERM d={int(val.ds[-1])}")
    ax.stairs(val.hist_theory, e, label="theory")
    ax.set_xlabel("eigenvalue of S")
    ax.set_ylabel("fraction per bin")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return axes[0]


plot_validation = deprecated_alias("plot_validation", plot_stationary_validation)
