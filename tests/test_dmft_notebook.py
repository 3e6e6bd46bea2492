"""The DMFT learning-curves notebook runs end to end under QUADNET_FAST=1 and writes its figures."""

import os
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("QUADNET_FAST", "1")
    monkeypatch.setenv("QUADNET_FIGDIR", str(tmp_path))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "notebooks" / "dmft_learning_curves.py"), run_name="__main__")
    assert (tmp_path / "dmft_vs_gd.png").exists()
    assert (tmp_path / "dmft_late_time.png").exists()
    assert (tmp_path / "dmft_escape_phase_sizes.png").exists()
    assert (tmp_path / "dmft_field_bias.png").exists()
    assert (tmp_path / "dmft_long_time.png").exists()
    assert os.environ["QUADNET_FAST"] == "1"
