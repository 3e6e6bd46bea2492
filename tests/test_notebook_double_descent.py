"""The double-descent / thresholds notebook runs end to end (QUADNET_FAST=1) and writes its figures."""

import runpy
from pathlib import Path

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
