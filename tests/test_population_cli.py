"""CLI: quadnet population / scaling / validate population (JSON, HDF5, plot, errors -> exit 2)."""

import json
import subprocess
import sys

import pytest

from odes.common import hdf5io
from validation.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_population_json(capsys):
    out = _json(capsys, ["population", "--kappa", "0.5", "--kappa-star", "0.25", "--times", "0,1,3", "--json"])
    assert out["t"] == [0.0, 1.0, 3.0]
    assert out["loss"][0] == pytest.approx(2.0)
    assert out["loss"][1] == pytest.approx(5.1261921939e-3, abs=1e-12)     # oracle O2
    assert out["chi"][2] == pytest.approx(0.9999379094, abs=1e-9)
    assert out["regime"] == "over" and out["long_time"]["chi_inf"] == 1.0
    for k in ("omega", "phi", "lam"):
        assert len(out[k]) == 3


def test_population_table_and_hdf5(capsys, tmp_path):
    f = tmp_path / "p.h5"
    assert main(["population", "--kappa", "0.25", "--kappa-star", "0.5", "--times", "0.5", "--out", str(f)]) == 0
    assert "1.066889937" in capsys.readouterr().out                      # oracle O4
    assert hdf5io.load(f).loss[0] == pytest.approx(1.0668899372, abs=1e-9)


@pytest.mark.parametrize("argv,name", [
    (["population", "--kappa", "0", "--kappa-star", "0.5"], "kappa"),
    (["population", "--kappa", "0.5", "--kappa-star", "1.5"], "kappa_star"),
    (["population", "--kappa", "0.5", "--kappa-star", "-0.1"], "kappa_star"),
    (["population", "--kappa", "0.5", "--kappa-star", "0.5", "--times", "0,-1"], "times"),
    (["population", "--kappa", "0.5", "--kappa-star", "0.5", "--times", "a,b"], "times"),
    (["scaling", "--alpha-pl", "-1", "--rank", "10", "--width", "10"], "alpha_pl"),
    (["scaling", "--alpha-pl", "1", "--rank", "10", "--width", "0"], "width"),
    (["scaling", "--alpha-pl", "1", "--rank", "0", "--width", "3"], "rank"),
    (["scaling", "--alpha-pl", "1", "--rank", "10", "--width", "10", "--d", "5"], "d"),
    (["validate", "population", "--kappa", "2", "--kappa-star", "0.5", "--d", "100"], "kappa"),
    (["validate", "population", "--kappa", "0.5", "--kappa-star", "0.5", "--d", "100,100"], "d"),
    (["validate", "population", "--kappa", "0.5", "--kappa-star", "0.5", "--d", "3"], "d"),
    (["validate", "population", "--kappa", "0.5", "--kappa-star", "0.5", "--seeds", "0"], "seeds"),
    (["validate", "population", "--kappa", "0.5", "--kappa-star", "0.5", "--out", "/nonexistent-dir/v.h5"], "out"),
    (["population", "--kappa", "0.5", "--kappa-star", "0.5", "--s0", "nan"], "s0"),
    (["population", "--kappa", "nan", "--kappa-star", "0.5"], "kappa"),
    (["scaling", "--alpha-pl", "1", "--rank", "20", "--width", "20", "--window", "5,3"], "window"),
    (["scaling", "--alpha-pl", "1", "--rank", "20", "--width", "20", "--window", "2,20"], "window"),
    (["scaling", "--alpha-pl", "1", "--rank", "20", "--width", "20", "--widths", "4,8"], "widths"),
    (["scaling", "--alpha-pl", "1", "--rank", "20", "--width", "20", "--eta-d", "0.5"], "eta_d"),
    (["scaling", "--alpha-pl", "1", "--rank", "20", "--width", "20", "--seeds", "0"], "seeds"),
    (["scaling", "--alpha-pl", "1", "--rank", "20", "--width", "20", "--out", "/nonexistent-dir/s.h5"], "out"),
    (["scaling", "--alpha-pl", "500", "--rank", "20", "--width", "20"], "alpha_pl"),
    (["scaling", "--alpha-pl", "3", "--rank", "20", "--width", "20", "--window", "2,9"], "window"),
])
def test_invalid_inputs_exit_2(capsys, argv, name):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quadnet: error:") and f"'{name}'" in err[0]


def test_scaling_json(capsys, tmp_path):
    f = tmp_path / "s.h5"
    out = _json(capsys, ["scaling", "--alpha-pl", "1.5", "--rank", "60", "--width", "60", "--seeds", "2", "--json",
                         "--quiet", "--out", str(f)])
    saved = hdf5io.load(f)
    assert saved.params.rank == 60 and saved.risk.tolist() == out["risk"] and saved.t.tolist() == out["t"]
    te = out["time_exponent"]
    assert te["window_J"] == [2, 6]
    assert te["ci95"][0] <= te["exponent"] <= te["ci95"][1] and len(te["per_seed"]) == 2
    assert te["predictions"]["asymptotic"] == pytest.approx(4 / 3)
    assert out["width_floor"] == 0.0 and out["d"] == 3600
    assert len(out["t"]) == len(out["risk"]) == len(out["n_samples"])
    assert out["risk"][-1] < 1e-3 * out["risk"][0]


def test_scaling_small_alpha_has_no_power_law_prediction(capsys):
    """alpha <= 1/2: no decaying power law (spec 3.3), so no default time fit and no asymptotic predictions."""
    out = _json(capsys, ["scaling", "--alpha-pl", "0", "--rank", "20", "--width", "20", "--json", "--quiet"])
    assert out["time_exponent"] is None and "alpha <= 1/2" in out["note"]
    assert out["width_exponent_prediction"] is None and out["sample_exponent_prediction"] is None
    assert out["risk"][-1] < 1e-3 * out["risk"][0]


def test_scaling_width_below_rank(capsys):
    out = _json(capsys, ["scaling", "--alpha-pl", "1", "--rank", "50", "--width", "20", "--json", "--quiet",
                         "--widths", "3,6,12"])
    we = out["width_exponent"]
    assert we["ci95"][0] <= we["predictions"]["finite_r"] <= we["ci95"][1]
    assert all(1.0 <= r / f < 1.02 for r, f in zip(we["risk"], we["floor"]))
    assert out["width_floor"] == pytest.approx(sum((j ** -1.0) ** 2 for j in range(21, 51)) /
                                               sum((j ** -1.0) ** 2 for j in range(1, 51)))
    assert 1.0 <= out["final_risk_over_floor"] < 1.02


def test_validate_population_writes_table_h5_plot(capsys, tmp_path):
    f = tmp_path / "v.h5"
    assert main(["validate", "population", "--kappa", "0.5", "--kappa-star", "0.25", "--d", "100,200",
                 "--seeds", "2", "--out", str(f), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "d*max" in text and "100" in text
    v = hdf5io.load(f)
    assert list(v.dims) == [100, 200] and v.loss.shape == (2, 2, 61)
    assert (tmp_path / "v.png").exists()
    out = _json(capsys, ["validate", "population", "--kappa", "0.5", "--kappa-star", "0.25", "--d", "60",
                         "--seeds", "1", "--json", "--quiet"])
    assert out["slope"] is None and out["rows"][0][0] == 60          # one d: no slope (not NaN)


def test_subprocess_entry_point():
    r = subprocess.run([sys.executable, "-m", "validation", "population", "--kappa", "0.5", "--kappa-star", "0.5",
                        "--times", "1", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["loss"][0] == pytest.approx(3.0518309682e-2, abs=1e-11)   # oracle O3
    r = subprocess.run([sys.executable, "-m", "validation", "population", "--kappa", "-1", "--kappa-star", "0.5"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "kappa" in r.stderr


def test_scaling_steep_spectrum_fits_without_blaming_window(capsys):
    """Issue 9 par. 5.3: alpha = 3, r = m = 20 used to fail with an error on 'window', which the user never gave
    (directions below the init scale got t_j ~ 0 and emptied the fit window). Now it fits on J in [2, 5]; alpha = 5
    (2 resolvable directions) gives the curve with a note naming alpha_pl and its valid range."""
    out = _json(capsys, ["scaling", "--alpha-pl", "3", "--rank", "20", "--width", "20", "--json", "--quiet"])
    assert out["time_exponent"]["window_J"] == [2, 5] and out["note"] is None
    out = _json(capsys, ["scaling", "--alpha-pl", "5", "--rank", "20", "--width", "20", "--json", "--quiet"])
    assert out["time_exponent"] is None and "'alpha_pl'" in out["note"] and "alpha_pl <= " in out["note"]
    assert all(b <= a + 1e-12 for a, b in zip(out["risk"], out["risk"][1:]))


def test_scaling_alpha_pl_range_message(capsys):
    """alpha_pl >= 500 gave 'cannot convert float NaN to integer'; now exit 2 with the valid range."""
    assert main(["scaling", "--alpha-pl", "500", "--rank", "20", "--width", "20"]) == 2
    err = capsys.readouterr().err
    assert "'alpha_pl'" in err and "[0, 230.587]" in err and "NaN" not in err


def test_scaling_refuses_too_much_memory(capsys, monkeypatch):
    """--rank 100000 --width 100000 needs >= 10 r^2 float64 (~745 GiB): refused before allocating, naming an
    option the user gave and a valid range (machine memory pretended 16 GiB so the test is machine-independent)."""
    import time

    from odes.common import resources

    monkeypatch.setattr(resources, "physical_memory", lambda: 16.0 * 2**30)
    t0 = time.perf_counter()
    assert main(["scaling", "--alpha-pl", "1", "--rank", "100000", "--width", "100000"]) == 2
    assert time.perf_counter() - t0 < 10.0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("'width'" in err[0] or "'rank'" in err[0]) and "valid range" in err[0]
    assert main(["scaling", "--alpha-pl", "1", "--rank", "100000", "--width", "10"]) == 2
    assert "'rank'" in capsys.readouterr().err


def test_scaling_alpha_below_one_carries_validity_warning(capsys):
    """Issue 9 par. 5.2: alpha = 0.75 fits far above (2a-1)/a at reachable rank (finite-rank tail, finite log d):
    the JSON says so instead of presenting 0.667 as the expected value."""
    out = _json(capsys, ["scaling", "--alpha-pl", "0.75", "--rank", "100", "--width", "100", "--json", "--quiet"])
    v = out["time_exponent"]["validity"]
    assert {"finite_rank", "alpha_below_1"} <= set(v["flags"]) and "not expected" in v["warning"]
    assert out["time_exponent"]["exponent"] > 1.2 * 2 / 3
