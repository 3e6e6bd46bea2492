"""The double-descent / thresholds notebook runs end to end (QUADNET_FAST=1) and writes its figures."""

import runpy
from pathlib import Path

import numpy as np

NB = Path(__file__).resolve().parents[1] / "notebooks" / "double_descent_thresholds.py"


def test_notebook_runs_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("QUADNET_FAST", "1")
    monkeypatch.setenv("QUADNET_FIGDIR", str(tmp_path))
    ns = runpy.run_path(str(NB), run_name="__main__")
    assert (tmp_path / "double_descent.png").stat().st_size > 0
    assert (tmp_path / "alpha_c.png").stat().st_size > 0
    # the notebook's cusp agrees with the spec's double-descent example
    assert abs(ns["ai"].alpha_interp - 0.3012679547) < 1e-9
    # theory curve peaks at the interpolation threshold (non-monotonic in alpha)
    c = ns["curves"][1e-4]
    i = int(abs(ns["alphas"] - ns["ai"].alpha_interp).argmin())
    assert c[i] > c[0] and c[i] > c[-1]
    # item 1 figure: the Delta -> 0+ extrapolation of the solver meets the closed forms of docs/stationary.md
    # ((0.5, 0.25): 0.3550303762; (0.8, 0.25), rank constraint inactive: r - r^2/2 + (1-r)^2/4 = 0.359375)
    assert (tmp_path / "alpha_interp_small_noise.png").stat().st_size > 0
    for k, ref in ((0.5, 0.3550303762), (0.8, 0.359375)):
        assert abs(ns["interp"][k]["fit"][0] - ref) < 1e-6
        assert np.all(np.diff(ns["interp"][k]["alpha"]) > 0)  # increases toward the limit as Delta decreases
