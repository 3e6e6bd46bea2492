"""The population notebook runs end to end under QUADNET_FAST=1 and writes its figures."""

import runpy
from pathlib import Path

NB = Path(__file__).resolve().parents[1] / "notebooks" / "population_flows.py"


def test_population_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("QUADNET_FAST", "1")
    monkeypatch.setenv("QUADNET_FIGDIR", str(tmp_path))
    ns = runpy.run_path(str(NB), run_name="__main__")
    for name in ("population_regimes.png", "population_scaling.png", "population_long_time_tail.png",
                 "population_kappa_above_one.png", "population_deviation_exponent.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    # long-time tail at kappa* = 0.05 (docs/population.md): tau^2 ell -> (kappa - kappa*) kappa*/(32 kappa)
    # = 0.05 * 0.05 / 3.2 for (0.1, 0.05) (1.0018 at tau = 100); ell - ell(inf) ~ exp(-4 tau/kappa*) for (0.02, 0.05)
    assert abs(ns["tau_tail"][-1] ** 2 * ns["ell_t"][-1] / (0.05 * 0.05 / 3.2) - 1) < 5e-3
    assert abs(ns["rate_u"] - 4 / 0.05) < 0.1
    # kappa = 1.5 literal flow = kappa = 1 flow with s0 = 1/1.5 (exact), and the kappa = 1 limit within O(1/d)
    assert ns["map_err"] < 1e-9
    assert ns["d_w"] * ns["lim_err"] < 0.06
    # the deviation-exponent figure shows the fit it states: its CI brackets the estimate
    val = ns["val"]
    assert val.slope_ci[0] < val.slope < val.slope_ci[1]
