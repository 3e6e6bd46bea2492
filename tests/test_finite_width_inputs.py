"""Reliability of the finite-width entry points (issue 9): realizable initial states, one-line errors naming
the option, bounded work and memory. Each test reproduces a reported defect (it failed before the fix)."""

import json
import re

import numpy as np
import pytest

from odes.common import resources
from odes.common.errors import ConvergenceError, ParameterError
from odes.finite_width import FiniteWidthParams, initial_overlaps, integrate_overlaps
from odes.finite_width.integrate import state_memory
from odes.finite_width.moments import generalization_error
from validation.cli import main

BASE = ["--p", "2", "--pstar", "1", "--gamma", "0.1"]


def one_line_error(capsys, argv, code=2):
    """Run the CLI, expect exit ``code`` and exactly one stderr line ``quadnet: error: ...``; return it."""
    try:
        rc = main(argv)
    except SystemExit as exc:          # argparse-level errors exit through SystemExit
        rc = exc.code
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert rc == code, cap.err
    assert len(lines) == 1 and lines[0].startswith("quadnet: error:"), cap.err
    assert cap.out == ""
    return lines[0]


# ---------------------------------------------------------------------------------------- item 1: realizability
def test_unrealizable_initial_state_is_refused_by_the_cli(capsys):
    """The reported command printed negative eps_g. Q0 - M0 M0^T = [[-0.99, -1], [-1, -0.99]] has the
    eigenvalues -0.99 -+ 1, i.e. -1.99 and 0.01 (closed form)."""
    err = one_line_error(capsys, ["ode", *BASE, "--M0", "[[1],[1]]", "--Q0", "[[0.01,0],[0,0.01]]",
                                  "--alphas", "0,0.5,1,5", "--json"])
    assert "not realizable" in err and "Q0 - M0 T^-1 M0^T" in err and "-1.99" in err


def test_unrealizable_state_is_refused_by_integrate_overlaps():
    par = FiniteWidthParams(2, 1, gamma=0.1, T=[[2.0]])
    M0 = np.array([[2.0], [0.0]])
    Q0 = np.diag([1.5, 1.0])            # PSD itself, but Q0 - M0 M0^T / 2 = diag(-0.5, 1)
    with pytest.raises(ParameterError, match=r"not realizable.*-0\.5 < 0"):
        integrate_overlaps(par, Q0, M0, [0, 1])


def test_realizable_states_from_explicit_vectors_are_accepted_and_eps_g_stays_nonnegative():
    """Overlaps of actual vectors (one student in the teacher span: Q_perp singular, the boundary case) are
    accepted within the relative tolerance, and eps_g >= 0 along the trajectory; eps_g(0) equals the
    generalisation error computed from the same vectors' overlaps (closed form, spec Sec. 2)."""
    rng = np.random.default_rng(1)
    N, p, ps = 40, 3, 2
    Ws = rng.standard_normal((ps, N))
    W = rng.standard_normal((p, N))
    W[2] = 0.7 * Ws[0] - 0.2 * Ws[1]                       # in the teacher span: Q_perp has a zero eigenvalue
    T = Ws @ Ws.T / N
    Q0, M0 = W @ W.T / N, W @ Ws.T / N
    par = FiniteWidthParams(p, ps, gamma=0.05, T=T)
    tr = integrate_overlaps(par, Q0, M0, [0.0, 0.5, 1.0, 2.0, 5.0], check_stability=False)
    assert np.all(tr.eps_g >= 0.0)
    assert tr.eps_g[0] == pytest.approx(generalization_error(Q0, M0, par), rel=1e-12)
    big = 1e3 * W                                          # overlaps ~1e6: the tolerance must be relative
    Qb, Mb = big @ big.T / N, big @ Ws.T / N
    assert integrate_overlaps(par, Qb, Mb, [0.0], check_stability=False).eps_g[0] >= 0.0


def test_m0_only_error_does_not_blame_q0(capsys):
    """With only --M0 given, Q0 = I + M0 T^-1 M0^T is derived: an overflow used to be reported as 'Q0'."""
    err = one_line_error(capsys, ["ode", *BASE, "--M0", "[[1e200],[1]]", "--alphas", "0,1"])
    assert "'M0'" in err and "Q0'" not in err


# ---------------------------------------------------------------------------------------- item 2: parsers/ranges
def test_teacher_weight_zero_runs(capsys):
    """--b 0 raised ZeroDivisionError in the zero-loss limit; b t <= 0 has no zero-loss point."""
    assert main(["ode", *BASE, "--b", "0", "--M0", "[[0.2],[0.1]]", "--alphas", "0,1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["limits"]["zero_loss"] is None and any("b t <= 0" in n for n in d["limits"]["notes"])


@pytest.mark.parametrize("opt,text", [("--M0", "[" * 100000 + "]" * 100000), ("--alphas", "[" * 50000),
                                      ("--T", "[" * 3000)])
def test_deeply_nested_json_is_refused(capsys, opt, text):
    err = one_line_error(capsys, ["ode", *BASE, opt, text])
    assert f"'{opt[2:]}'" in err and len(err) < 300


@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5", "x"])
def test_bad_seed_names_the_option(capsys, seed):
    err = one_line_error(capsys, ["ode", *BASE, "--seed", seed])
    assert "--seed" in err and "integer" in err


def test_argparse_errors_are_one_line(capsys):
    err = one_line_error(capsys, ["ode", "--p", "nan", "--pstar", "1", "--gamma", "0.1"])
    assert "--p" in err


@pytest.mark.parametrize("opt,value,name", [("--b", "1e308", "'b'"), ("--noise", "1e308", "'noise'"),
                                            ("--weight-decay", "1e308", "'weight_decay'"),
                                            ("--gamma", "1e308", "'gamma'"), ("--T", "[[1e308]]", "'T'"),
                                            ("--N", str(10**30), "'N'"), ("--Q0", "[[1e308,0],[0,1]]", "'Q0'")])
def test_out_of_range_values_name_the_option(capsys, opt, value, name):
    """These overflowed (OverflowError traceback, 'math domain error', or a divergence at time 3e-323)."""
    err = one_line_error(capsys, ["ode", *BASE, opt, value, "--alphas", "0,1"])
    assert name in err


# ---------------------------------------------------------------------------------------- item 3: bounded work
def test_huge_alpha_is_refused_quickly(capsys):
    """--alphas 0,1e308 never ended."""
    err = one_line_error(capsys, ["ode", *BASE, "--M0", "[[0.2],[0.1]]", "--alphas", "0,1e308"])
    assert "'alphas'" in err and "1e+09" in err


def test_work_budget_raises_naming_alphas():
    par = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    with pytest.raises(ConvergenceError, match=r"--alphas.*LSODA"):
        integrate_overlaps(par, Q0, M0, [0.0, 1e4], max_nfev=2000)     # DOP853 needs ~2.4e4 evaluations
    # LSODA reaches alpha = 1e6 within the default budget (measured ~1.6e3 evaluations)
    tr = integrate_overlaps(par, Q0, M0, [0.0, 1e6], method="LSODA", rtol=1e-8, atol=1e-10)
    assert tr.nfev < 2000 and 0.0 <= tr.eps_g[-1] < 1e-6


def test_stiff_weight_decay_is_refused_at_once_for_explicit_methods():
    """--weight-decay 1e8 ran DOP853 for minutes (relaxation rate 2 kappa eta = 4e7 per unit alpha); LSODA
    handles it: Q decays to ~0, so eps_g -> (tr BT)^2 / 2 + tr((BT)^2) = 1/2 + 1 = 1.5 (p* = 1, b = 1,
    closed form of eps_g at Q = M = 0)."""
    par = FiniteWidthParams(2, 1, gamma=0.1, weight_decay=1e8)
    Q0, M0 = initial_overlaps(par, [[0.2], [0.1]])
    with pytest.raises(ConvergenceError, match=r"stiff.*--alphas.*LSODA"):
        integrate_overlaps(par, Q0, M0, [0.0, 10.0], check_stability=False)
    tr = integrate_overlaps(par, Q0, M0, [0.0, 10.0], method="LSODA", check_stability=False)
    assert tr.eps_g[-1] == pytest.approx(1.5, abs=1e-9)


# ---------------------------------------------------------------------------------------- item 4: memory
def test_check_memory_compares_with_physical_memory(monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 2.0**30)
    resources.check_memory("x", 2.0**29, "a half")
    with pytest.raises(ParameterError, match=r"'x'.*2 GiB.*1 GiB"):
        resources.check_memory("x", 2.0**31, "a test array")
    with pytest.raises(ParameterError, match="'x'"):
        resources.check_memory("x", 10**400, "an overflowing estimate")


@pytest.mark.parametrize("argv,name", [
    (["ode", "--p", "100000", "--pstar", "1", "--gamma", "0.1", "--alphas", "0,1"], "'p'"),
    (["ode", "--p", "2", "--pstar", "100000", "--gamma", "0.1", "--alphas", "0,1"], "'p_star'"),
    (["validate", "ode", *BASE, "--N", "1e12", "--alphas", "0,1", "--seeds", "1"], "'N'"),
])
def test_sizes_beyond_memory_are_refused(capsys, monkeypatch, argv, name):
    monkeypatch.setattr(resources, "available_memory", lambda: 16.0 * 2**30)
    err = one_line_error(capsys, argv)
    assert name in err and "memory" in err and "16 GiB" in err


def test_state_memory_bounds_the_measured_peak():
    """The stated formula is an upper bound of the traced peak allocation (tracemalloc sees numpy buffers),
    and not a wild one (within 30x), for p = 24, p* = 4."""
    import tracemalloc

    par = FiniteWidthParams(24, 4, gamma=0.05)
    Q0, M0 = initial_overlaps(par, N=1000, seed=0)
    al = np.linspace(0.0, 1.0, 11)
    tracemalloc.start()
    integrate_overlaps(par, Q0, M0, al, rtol=1e-6, atol=1e-8)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    est = state_memory(24, 4, al.size, "DOP853")
    assert peak <= est <= 30 * peak, (peak, est)


# ---------------------------------------------------------------------------------------- issue 10: stability
def test_stability_is_checked_by_the_solver_not_the_model():
    """FiniteWidthParams no longer runs the stability analysis; integrate_overlaps raises the same error
    (the zero-loss limit 1/6 for (1, 1), spec 6.4), check_stability=False lifts it, gradient flow is exempt."""
    par = FiniteWidthParams(1, 1, gamma=0.17)
    with pytest.raises(ParameterError, match=r"'gamma'.*zero-loss.*0\.166667.*--no-stability-check"):
        integrate_overlaps(par, [[1.01]], [[0.1]], [0, 1])
    assert integrate_overlaps(par, [[1.01]], [[0.1]], [0, 1], check_stability=False).eps_g.size == 2
    assert integrate_overlaps(par.replace(gamma=1.0), [[1.01]], [[0.1]], [0, 1], gradient_flow=True).nfev > 0
    assert not hasattr(par, "check_stability")


def test_cli_unstable_rate_message_unchanged(capsys):
    err = one_line_error(capsys, ["ode", "--p", "2", "--pstar", "1", "--gamma", "0.2", "--M0", "[[0.2],[0.1]]"])
    assert re.search(r"'gamma'.*zero-loss stability.*0\.166667", err)


# ---------------------------------------------------------------------------------------- validate ode / population
@pytest.mark.parametrize("argv,name", [
    (["validate", "ode", *BASE, "--N", "1e308", "--alphas", "0,1", "--seeds", "1"], "'N'"),
    (["validate", "ode", *BASE, "--N", "100", "--alphas", "0,1e308", "--seeds", "1"], "'alphas'"),
    (["validate", "ode", *BASE, "--N", "100", "--alphas", "0,1", "--seeds", str(10**20)], "'seeds'"),
    (["validate", "population", "--kappa", "0.5", "--kappa-star", "0.5", "--d", "20", "--seeds", str(10**20)],
     "'seeds'"),
])
def test_validate_commands_refuse_huge_values(capsys, argv, name):
    """OverflowError tracebacks (N, alphas: int64 conversion) or a message naming the wrong parameter."""
    assert name in one_line_error(capsys, argv)


def test_validate_population_refuses_d_beyond_memory(capsys, monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 16.0 * 2**30)
    err = one_line_error(capsys, ["validate", "population", "--kappa", "0.5", "--kappa-star", "0.5",
                                  "--d", "200,100000", "--seeds", "1"])
    assert "'d'" in err and "d = 100000" in err and "16 GiB" in err


def test_finite_d_memory_bounds_the_measured_peak():
    """The stated formula for the mode reduction bounds the traced peak (within 30x) at d = 600."""
    import tracemalloc

    from odes.population.highdim import finite_d_memory, finite_d_modes
    from odes.population.params import HighDimParams

    par = HighDimParams(0.5, 0.25)
    g = np.linspace(0.0, 1.0, 11)
    tracemalloc.start()
    finite_d_modes(par, 600, g, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    est = finite_d_memory(par, 600, g.size, "modes")
    assert peak <= est <= 30 * peak, (peak, est)


@pytest.mark.parametrize("argv,name", [
    (["population", "--kappa", "1e-6", "--kappa-star", "0.5"], "'kappa'"),       # was exit 3, 'J-ODE' failure
    (["population", "--kappa", "0.5", "--kappa-star", "0.5", "--times", "0,1e400"], "'times'"),  # inf time
])
def test_population_limits_name_the_option(capsys, argv, name):
    """kappa = 1e-6 failed inside the limit solver (exit 3, no option named); a time beyond 175 kappa*
    (e^(4 gamma/kappa*) > e^700 overflows) was reported as a divergence of 'gamma', an option that does not
    exist (the user gave --times)."""
    assert name in one_line_error(capsys, argv)
