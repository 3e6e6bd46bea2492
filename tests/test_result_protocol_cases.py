"""Small example instances of every result type, built by really running the solvers at tiny sizes, for the
parametrized protocol test (round trip, coordinates, summary length, plot, JSON finiteness)."""


def cases_extensive() -> list:
    """Extensive-width family: stationary theory, thresholds, DMFT, finite-d GD and the two validations.

    Each instance takes well under 2 s to build (a single core)."""
    import warnings

    from dmft.dynamics import DMFTSettings, extrapolate_d_eff, solve
    from dmft.params import ExtensiveWidthParams
    from dmft.stationary import solve_stationary
    from dmft.thresholds import alpha_c, double_descent_peak, interpolation_threshold
    from validation.compare_dmft import run_validation
    from validation.compare_stationary import recovery_curve, validate_stationary
    from validation.gd_simulator import simulate_gd_seeds

    noisy = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)
    settings = DMFTSettings(eta=0.05, steps=6, d_eff=6, samples=2)
    dmft6 = solve(noisy, settings, quiet=True)
    dmft9 = solve(noisy, DMFTSettings(eta=0.05, steps=6, d_eff=9, samples=2), quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rank-constrained case carries a flag (tested elsewhere)
        rank_constrained = solve_stationary(ExtensiveWidthParams(0.5, 0.5, 0.25, 0.05, 0.1), n_grid=40)
    return [
        solve_stationary(noisy, n_grid=40),
        rank_constrained,
        solve_stationary(ExtensiveWidthParams(0.6, float("inf"), 0.25, 0.0, 0.0), n_grid=40),  # exact, a = None
        alpha_c(float("inf"), 0.25),
        alpha_c(0.3, 0.25),  # unreliable, with a warning
        interpolation_threshold(1.0, 0.25, 0.5),
        double_descent_peak(1.0, 0.25, 0.03, 1.0, xatol=1e-2),  # 6 stationary solves
        dmft6,
        extrapolate_d_eff([dmft6, dmft9]),
        simulate_gd_seeds(noisy, 8, 0.05, 6, [0, 1]),
        run_validation(noisy, settings, [8, 10], 2, sensing="wishart", dmft=dmft6),
        validate_stationary(noisy, (8, 10), seeds=2, sensing="goe", bins=8),
        recovery_curve(1.0, 0.5, [0.3, 0.6], d=6, seeds=2, max_iter=200),
    ]
