"""Result protocol of the finite-width and population families: renamed keys carry the oracle values, standard
errors follow the naming rule, ``at`` interpolates, plots return axes without touching the backend."""

import json

import matplotlib
import numpy as np
import pytest

from odes.finite_width import FiniteWidthParams, initial_overlaps, integrate_overlaps
from validation.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_ode_test_error_is_the_oracle_and_legacy_key_kept(capsys):
    d = _json(capsys, ["ode", "--p", "2", "--pstar", "1", "--gamma", "0.1", "--M0", "[[0.2],[0.1]]",
                       "--alphas", "0,5,10,20,50", "--json"])
    ref = [1.4759375000, 0.8667883971, 0.2508747307, 0.0188534186, 0.0009907669]        # spec oracle O2
    assert np.max(np.abs(np.array(d["test_error"]) - ref)) < 1e-7
    assert d["eps_g"] == d["test_error"] and d["kind"] == "OverlapTrajectory"
    assert d["params"]["c0"] == 0.0 and d["params"]["p"] == 2                             # z^2: c0 = 0


def test_cli_population_renamed_keys(capsys):
    d = _json(capsys, ["population", "--kappa", "0.5", "--kappa-star", "0.25", "--times", "0,1,3", "--json"])
    assert d["tau"] == d["t"] == [0.0, 1.0, 3.0]
    assert d["test_error"][1] == pytest.approx(5.1261921939e-3, abs=1e-12)               # oracle O2
    # ell(0) = 1/2 (1/kappa - 2 + 1/kappa*) for s0 = 1 (closed form)
    assert d["test_error"][0] == pytest.approx(0.5 * (2 - 2 + 4), abs=1e-12)
    assert d["loss"] == d["test_error"] and d["lam"] == d["trace_excess"]


def test_overlap_trajectory_at_interpolates_within_the_linear_bound():
    P = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    Q0, M0 = initial_overlaps(P, np.array([[0.2], [0.1]]))
    h = 0.5
    grid = np.arange(0.0, 2.0 + h / 2, h)
    traj = integrate_overlaps(P, Q0, M0, grid)
    on = traj.at(1.0)
    assert on["test_error"] == traj.eps_g[2] and np.array_equal(on["M"], traj.M[2])     # exact on grid points
    x = 0.75
    exact = integrate_overlaps(P, Q0, M0, [0.0, x])
    fine = integrate_overlaps(P, Q0, M0, np.linspace(0.0, 2.0, 201))
    d2 = np.max(np.abs(np.diff(fine.eps_g, 2))) / (fine.alpha[1] - fine.alpha[0]) ** 2     # max |eps_g''|
    assert abs(traj.at(x)["test_error"] - exact.eps_g[-1]) <= 1.05 * h**2 / 8 * d2
    assert traj.at(x)["Q"].shape == (2, 2)
    with pytest.raises(Exception, match="alpha"):
        traj.at(2.5)


def test_online_sgd_se_is_std_over_sqrt_runs_and_nan_for_one_run():
    from validation.online_sgd import simulate

    P = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    sim = simulate(P, 30, [0.0, 0.5, 1.0], seeds=3, M0=[[0.2], [0.1]], quiet=True)
    ds = sim.to_xarray()
    e = sim.eps_g
    np.testing.assert_allclose(ds["test_error"].values, e.sum(axis=0) / 3, rtol=1e-14)
    sd = np.sqrt(((e - e.mean(axis=0)) ** 2).sum(axis=0) / 2)
    np.testing.assert_allclose(ds["test_error_se"].values, sd / np.sqrt(3), rtol=1e-12, atol=1e-18)
    one = simulate(P, 30, [0.0, 0.5], seeds=1, M0=[[0.2], [0.1]], quiet=True)
    assert np.all(np.isnan(one.to_xarray()["test_error_se"].values))
    assert one.to_json()["test_error_se"] == [None, None]
    json.dumps(one.to_json(), allow_nan=False)


def test_plots_return_axes_and_keep_the_backend():
    import matplotlib.pyplot as plt

    from validation.compare_ode import compare_ode

    P = FiniteWidthParams(p=2, p_star=1, gamma=0.1)
    res = compare_ode(P, [40], [0.0, 0.5, 1.0], seeds=2, M0=[[0.2], [0.1]], rtol=1e-8, atol=1e-10, quiet=True)
    before = matplotlib.get_backend()
    ax = res.plot()
    assert matplotlib.get_backend() == before
    assert len(ax.figure.axes) == 1 and ax.lines        # one width: no empty deviations panel
    _, given = plt.subplots()
    assert res.width(40).plot(given) is given and given.lines
    plt.close("all")
