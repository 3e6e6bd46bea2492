"""Small example instances of every result type, built by really running the solvers at tiny sizes.

Each ``cases_<family>()`` returns a list of results; the parametrized protocol test runs over all of them (round
trip, coordinates, summary length, plot, JSON finiteness). Keep every case fast (well under 2 s once numba's
cache is warm) and keep imports local to each function.
"""

from __future__ import annotations


def cases_odes() -> list:
    """Finite-width ODE / online SGD and population families: OverlapTrajectory, OnlineSGDResult, WidthComparison,
    ODEComparison, HighDimResult (limit, modes, matrix), MatrixFlowResult (ODE, closed form), PowerLawResult,
    ExponentFit (time, width), PopulationValidation, SGDComparison."""
    import numpy as np

    from odes.finite_width import FiniteWidthParams, initial_overlaps, integrate_overlaps
    from odes.population import powerlaw as pl
    from odes.population.highdim import finite_d_matrix, finite_d_modes, solve_limit
    from odes.population.params import HighDimParams, OnlineSGDParams, PowerLawParams
    from odes.population.riccati import closed_form_centered, integrate_matrix_flow
    from validation.compare_ode import compare_ode
    from validation.compare_population import validate_population
    from validation.online_sgd import simulate
    from validation.population_sgd import compare_sgd_gf

    fw = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    M0 = np.array([[0.2], [0.1]])
    Q0, M0 = initial_overlaps(fw, M0)
    traj = integrate_overlaps(fw, Q0, M0, [0.0, 0.5, 1.0, 2.0])
    sim = simulate(fw, 20, [0.0, 0.5, 1.0], seeds=2, M0=M0, quiet=True)
    cmp = compare_ode(fw, [20, 40], [0.0, 0.5, 1.0], seeds=2, M0=M0, rtol=1e-8, atol=1e-10, quiet=True)

    hd = HighDimParams(0.5, 0.25)
    taus = [0.0, 0.25, 0.5, 1.0]
    limit = solve_limit(hd, taus)
    modes = finite_d_modes(hd, 16, taus, seed=1)
    matrix = finite_d_matrix(hd, 8, taus, seed=1)
    W0 = 0.5 * np.eye(4)[:, :2]
    S_star = np.diag([0.5, 0.3, 0.0, 0.0])
    flow_a = integrate_matrix_flow(W0, S_star, [0.0, 0.5, 1.0], model="uncentered")
    flow_b = closed_form_centered(W0, S_star, [0.0, 0.5, 1.0])

    plp = PowerLawParams(1.0, 12, 12, 144)
    time_fit, curves = pl.time_exponent(plp, seeds=(0, 1), window=(2, 6))
    width_fit, _ = pl.width_scan(1.0, 12, 144, [2, 4, 6, 8])
    validation = validate_population(hd, [8, 16], 2, taus=np.linspace(0.0, 1.0, 7))
    sgd = compare_sgd_gf(OnlineSGDParams(PowerLawParams(1.0, 3, 3, 12), eta_d=0.02, t_max=0.5, n_records=6),
                         seeds=(0, 1), eps=(0.5, 0.2))
    return [traj, sim, cmp.width(20), cmp, limit, modes, matrix, flow_a, flow_b, curves[0], time_fit, width_fit,
            validation, sgd]





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


def cases_gradient_flow() -> list:
    """Gradient-flow DMFT (second-order scheme), the accuracy-targeted d = infinity curve and the headline comparison
    of ``quadnet demo`` (DMFT + stationary limit + GD), at tiny sizes."""
    import math

    from dmft.dynamics.curve import solve_curve
    from dmft.dynamics.gradient_flow import FlowSettings, flow_grid, solve_flow
    from dmft.params import ExtensiveWidthParams

    small = ExtensiveWidthParams(alpha=4.0, kappa=math.inf, kappa_star=4.0, lam=0.05, noise=0.5)
    flow = solve_flow(small, FlowSettings(steps=tuple(flow_grid(0.4, 0.1)), d_eff=6, samples=2, seed=1))
    curve = solve_curve(small, 0.4, 0.05, d_eff=(6, 8, 12), runs=2, max_runs=2, seed=1, max_halvings=0)
    from validation.compare_dmft import compare_dmft, demo_flow_settings

    noisy = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)
    demo = compare_dmft(noisy, 0.4, demo_flow_settings(0.4, d_eff=6, samples=2, runs=2), d=8, seeds=2)
    return [flow, curve, demo]
