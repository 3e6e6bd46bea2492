"""The plateau/escape notebook (jupytext percent) runs end to end under QUADNET_FAST=1 and writes its figures."""

from __future__ import annotations

import runpy
from pathlib import Path

import matplotlib.pyplot as plt

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "finite_width_plateau_escape.py"


def test_notebook_runs_and_saves_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("QUADNET_FAST", "1")
    monkeypatch.setenv("QUADNET_FIGDIR", str(tmp_path))
    ns = runpy.run_path(str(NOTEBOOK), run_name="__main__")
    plt.close("all")
    for name in ("finite_width_plateau_escape.png", "finite_width_escape_vs_p.png", "finite_width_escape_vs_lnN.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
    rows = ns["rows"]
    assert [r["p"] for r in rows] == [1, 2, 4, 8]
    # independent closed form: rho -> 4 gamma / p* in gradient flow, O(gamma^2) below it in SGD
    for r in rows:
        assert 0.8 * 0.4 < r["rho"] < 0.4
    # every run escaped, and the escape times are O(ln N / rho), not runaway
    for r in rows:
        assert all(3.0 < t < 30.0 for t in r["t_sim"])
    # escape time vs ln N from the ODE: slope = 1/(2 rho) with rho from the closed-form plateau (spec 6.3)
    assert [(e["p"], e["p_star"]) for e in ns["esc"]] == [(2, 1), (4, 2), (8, 4)]
    for e in ns["esc"]:
        assert abs(e["slope_fit"] / e["slope_th"] - 1) < 0.01
