"""CLI: quadnet stationary / threshold / validate stationary (in-process and one subprocess run)."""

import json
import subprocess
import sys

import pytest

from validation.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_stationary_json(capsys):
    out = _json(capsys, ["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05",
                         "--noise", "0.5", "--json"])
    assert abs(out["test_error"] - 0.27367) < 1e-5 and abs(out["train_error"] - 0.30120) < 1e-5
    assert 0 < out["rank_fraction"] < 1 and out["flags"] == [] and out["reliable"] is True
    assert {"sigma2", "a", "D", "C_S", "threshold", "residual"} <= out.keys()


def test_stationary_out_writes_hdf5_and_table(capsys, tmp_path):
    from dmft.stationary import StationarySolution
    out = tmp_path / "s.h5"
    assert main(["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise",
                 "0.5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test_error" in text and "rank_fraction" in text
    back = StationarySolution.load(out)
    assert abs(back.test_error - 0.27367) < 1e-5 and back.params.noise == 0.5


def test_threshold_out_writes_hdf5(capsys, tmp_path):
    from dmft.thresholds import AlphaC
    from odes.common import hdf5io
    out = tmp_path / "t.h5"
    d = _json(capsys, ["threshold", "--kappa", "inf", "--kappa-star", "0.25", "--interpolation", "--noise", "0.5",
                       "--out", str(out), "--json"])
    assert d["out"] == str(out)
    back = AlphaC.load(out)
    # spec table value 0.293942 (6 digits); the file must hold exactly what the CLI printed
    assert abs(back.alpha_c - 0.293942) < 5e-7 and back.alpha_c == d["alpha_c"] and back.kappa == float("inf")
    it = hdf5io.load(out, group="/interpolation")
    assert abs(it.alpha_interp - 0.3012679547) < 1e-9


def test_stationary_flags_in_json(capsys):
    assert main(["stationary", "--alpha", "0.5", "--kappa", "0.25", "--kappa-star", "0.5", "--lam", "0.05",
                 "--noise", "0.1", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert "kappa_below_kappa_star" in out["flags"] and out["reliable"] is False and out["warning"]
    assert "warning" in cap.err


def test_threshold_json(capsys):
    out = _json(capsys, ["threshold", "--kappa", "inf", "--kappa-star", "0.25", "--json"])
    assert abs(out["alpha_c"] - 0.293942) < 1e-6 and out["kappa"] == "inf"
    out = _json(capsys, ["threshold", "--kappa", "0.3", "--kappa-star", "0.25", "--json"])
    assert out["unreliable"] is True and abs(out["alpha_c"] - 0.265150194529) < 1e-9
    out = _json(capsys, ["threshold", "--kappa", "1", "--kappa-star", "0.25", "--interpolation", "--noise", "0.5",
                         "--json"])
    assert abs(out["alpha_interp"] - 0.3012679547) < 1e-9


@pytest.mark.parametrize("argv,name", [
    (["stationary", "--alpha", "0", "--kappa", "1", "--kappa-star", "0.5"], "alpha"),
    (["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "-1"], "kappa_star"),
    (["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "-0.1"], "lam"),
    (["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--noise", "-1"], "noise"),
    (["stationary", "--alpha", "0.2", "--kappa", "1", "--kappa-star", "0.5", "--noise", "0.5"], "lam"),
    (["threshold", "--kappa", "0.1", "--kappa-star", "0.25"], "kappa"),
    (["threshold", "--kappa", "1", "--kappa-star", "0"], "kappa_star"),
    (["threshold", "--kappa", "nan", "--kappa-star", "0.5"], "kappa"),
    (["threshold", "--kappa", "1", "--kappa-star", "0.5", "--noise", "0.5"], "noise"),  # needs --interpolation
    (["threshold", "--kappa", "1", "--kappa-star", "0.5", "--interpolation", "--noise", "-1"], "noise"),
    (["validate", "stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--seeds", "1"], "seeds"),
    (["validate", "stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--d", "3,10"], "'d'"),
    (["validate", "stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--d", "10,10"], "'d'"),
])
def test_invalid_input_one_line_exit_2(capsys, argv, name):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quadnet: error:") and name in err[0]


def test_validate_stationary_goe_small(tmp_path, capsys):
    out = tmp_path / "v.h5"
    rc = main(["validate", "stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05",
               "--noise", "0.5", "--d", "10,14", "--seeds", "2", "--sensing", "goe", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "theory" in text and "1/d->0" in text
    assert out.exists() and out.with_suffix(".png").exists()
    from validation.compare_stationary import StationaryValidation
    v = StationaryValidation.load(out)
    assert v.test.shape == (2, 2)


def test_subprocess_threshold():
    r = subprocess.run([sys.executable, "-m", "validation", "threshold", "--kappa", "1", "--kappa-star", "0.5",
                        "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert abs(json.loads(r.stdout)["alpha_c"] - 0.422175) < 1e-6
    r = subprocess.run([sys.executable, "-m", "validation", "stationary", "--alpha", "-1", "--kappa", "1",
                        "--kappa-star", "0.5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_threshold_json_nested_results_and_legacy_keys(capsys):
    """The interpolation threshold and the double-descent peak are printed as their results (nested, under the
    --out group names), and the flat quadnet 0.1 keys still carry the same numbers (spec: alpha_interp =
    0.3012679547, C_S = 5.2050111516 for kappa >= 1, kappa* = 0.25, Delta = 0.5)."""
    out = _json(capsys, ["threshold", "--kappa", "1", "--kappa-star", "0.25", "--interpolation", "--noise", "0.5",
                         "--json"])
    it = out["interpolation"]
    assert abs(it["alpha_interp"] - 0.3012679547) < 1e-9 and abs(it["C_S"] - 5.2050111516) < 1e-9
    assert abs(it["test_error"] - 2 * 5.2050111516) < 2e-9
    assert (out["alpha_interp"], out["sigma2_interp"], out["C_S_interp"], out["test_error_interp"]) == \
        (it["alpha_interp"], it["sigma2"], it["C_S"], it["test_error"])
    out = _json(capsys, ["threshold", "--kappa", "1", "--kappa-star", "0.25", "--interpolation", "--noise", "1",
                         "--lam", "0.03", "--json"])
    peak = out["double_descent_peak"]
    assert peak["kind"] == "DoubleDescentPeak" and out["test_error_peak"] == peak["test_error"]
    assert out["alpha_peak"] == peak["alpha_peak"] and out["interpolation"]["alpha_interp"] == peak["alpha_interp"]


def test_stationary_json_protocol_and_legacy_keys(capsys):
    """`quadnet stationary --json` = StationarySolution.to_json(): params nested, 0.1 flat keys kept."""
    out = _json(capsys, ["stationary", "--alpha", "1", "--kappa", "inf", "--kappa-star", "0.5", "--lam", "0.05",
                         "--noise", "0.5", "--json"])
    assert out["kind"] == "StationarySolution" and out["params"]["kappa"] == "inf" and out["kappa"] == "inf"
    assert out["params"]["alpha"] == out["alpha"] == 1.0 and out["omega"] is None
    assert abs(out["atom"] + out["rank_fraction"] - 1.0) < 1e-12


# ---- issue 9 regressions ------------------------------------------------------------------------------------
def _one_line_error(capsys, argv, code):
    assert main(argv) == code
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert cap.out == "" and len(lines) == 1 and lines[0].startswith("quadnet: error:"), cap.err
    return lines[0]


def test_threshold_flat_curve_reports_no_peak(capsys):
    err = _one_line_error(capsys, ["threshold", "--kappa", "1", "--kappa-star", "0.25", "--interpolation",
                                   "--noise", "0.5", "--lam", "10", "--json"], 3)
    assert "no double-descent peak" in err


def test_threshold_full_rank_student_below_kappa_star(capsys):
    out = _json(capsys, ["threshold", "--kappa", "1.5", "--kappa-star", "2", "--json"])
    assert out["alpha_c"] == 0.5  # closed form for kappa* >= 1 (student of rank d spans every PSD matrix)


@pytest.mark.parametrize("argv,code,name", [
    (["--lam=1e-16", "--noise=0"], 2, "'lam'"), (["--lam=0", "--noise=1e-30"], 2, "'noise'"),
    (["--alpha=1e308"], 2, "'alpha'"), (["--alpha=1e-308"], 2, "'alpha'"), (["--kappa-star=1e308"], 2, "'kappa_star'"),
    (["--kappa-star=1e-308"], 2, "'kappa_star'"), (["--noise=1e308"], 2, "'noise'")])
def test_stationary_edge_values_one_line(capsys, argv, code, name):
    base = {"--alpha": "1", "--kappa": "1", "--kappa-star": "0.5", "--lam": "0.05", "--noise": "0.5"}
    for a in argv:
        k, v = a.split("=")
        base[k] = v
    err = _one_line_error(capsys, ["stationary", *[f"{k}={v}" for k, v in base.items()], "--json"], code)
    assert name in err


def test_validate_stationary_too_large_d_refused(capsys, tmp_path):
    err = _one_line_error(capsys, ["validate", "stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5",
                                   "--lam", "0.05", "--noise", "0.5", "--d", "100000", "--out",
                                   str(tmp_path / "v.h5")], 2)
    assert "'d'" in err and "memory" in err


def test_validate_stationary_edge_values(capsys, tmp_path):
    """--d 1e308 leaked OverflowError (traceback); --lam 1e308 (S = 0 everywhere) leaked 'zero-size array ...' and
    then a NaN extrapolation."""
    base = ["validate", "stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--noise", "0.5",
            "--seeds", "2", "--sensing", "goe", "--out", str(tmp_path / "v.h5")]
    err = _one_line_error(capsys, [*base, "--lam", "0.05", "--d", "1e308"], 2)
    assert "'d'" in err and "memory" in err
    out = _json(capsys, [*base, "--lam", "1e308", "--d", "6,8", "--json"])
    assert out["extrapolated"]["rank"] == [0.0, 0.0, 0.0]  # every instance has S = 0: nothing to extrapolate
