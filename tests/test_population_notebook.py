"""The population notebook runs end to end under QUADNET_FAST=1 and writes its figures."""

import runpy
from pathlib import Path

NB = Path(__file__).resolve().parents[1] / "notebooks" / "population_flows.py"


def test_population_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("QUADNET_FAST", "1")
    monkeypatch.setenv("QUADNET_FIGDIR", str(tmp_path))
    runpy.run_path(str(NB), run_name="__main__")
    assert (tmp_path / "population_regimes.png").stat().st_size > 1000
    assert (tmp_path / "population_scaling.png").stat().st_size > 1000
