"""validation.sweep (grids, Dask, resume, netCDF store, root finding) and ``quadnet sweep`` / ``quadnet find``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from odes.common.errors import ConvergenceError, ParameterError
from validation.cli import main
from validation.cli.cmd_sweep import CommandPoint
from validation.cli.common import float_or_inf
from validation.sweep import find_root, parse_axis, sweep


# ------------------------------------------------------------------------------------------- range parsing
def test_parse_axis_forms():
    assert parse_axis("alpha", "0:1:5") == [0.0, 0.25, 0.5, 0.75, 1.0]
    got = parse_axis("lam", "log:1e-3:1:4")
    assert np.allclose(got, [1e-3, 1e-2, 1e-1, 1.0], rtol=1e-14, atol=0)
    assert parse_axis("kappa", "0.3,1,inf", kind=float_or_inf) == [0.3, 1.0, math.inf]
    assert parse_axis("steps", "100:400:4", kind=int) == [100, 200, 300, 400]
    assert parse_axis("steps", "log:10:1000:3", kind=int) == [10, 100, 1000]
    assert parse_axis("alpha", "2:2:1") == [2.0]


@pytest.mark.parametrize("text", ["1:2", "log:0:1:3", "a,b", "1:2:0", "1,1", "1:2:x", "log:1:2", "0:1:nan"])
def test_parse_axis_bad_input_names_option(text):
    with pytest.raises(ParameterError) as exc:
        parse_axis("kappa-star", text)
    assert "'kappa-star'" in str(exc.value)


def test_parse_axis_integer_option_refuses_fractions():
    with pytest.raises(ParameterError, match="'steps'"):
        parse_axis("steps", "1:2:3", kind=int)


def test_cli_bad_range_is_one_line_exit_2(capsys):
    rc = main(["sweep", "threshold", "--kappa", "1", "--kappa-star", "0.1:0.5", "--workers", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("quadnet: error:") and "'kappa-star'" in err[0]


# ------------------------------------------------------------------------------------------- helpers
class Counting:
    """A deterministic front door with a call counter; raises KeyboardInterrupt at call ``kill_at`` (a killed
    sweep), ParameterError for x < 0, ConvergenceError for x == 2, TypeError for x == 3."""

    sweep_identity = "tests.Counting"

    def __init__(self, kill_at: int | None = None):
        self.calls = 0
        self.kill_at = kill_at

    def __call__(self, x: float, y: float, scale: float = 1.0) -> dict:
        self.calls += 1
        if self.kill_at is not None and self.calls == self.kill_at:
            raise KeyboardInterrupt
        if x < 0:
            raise ParameterError("x", "must be >= 0")
        if x == 2:
            raise ConvergenceError("did not converge", residual=0.5)
        if x == 3:
            raise TypeError("a bug")
        return {"s": scale * (x + y), "flag": x > y, "t": [0.0, 1.0, 2.0], "curve": [x, x + y, x + 2 * y]}


def test_failing_points_status_and_message():
    ds = sweep(Counting(), {"x": [-1.0, 1.0, 2.0, 3.0], "y": [0.5, 2.0]}, progress=False)
    st = ds["status"].values
    assert list(st[:, 0]) == ["invalid", "ok", "numerical failure", "error"]
    assert "'x'" in ds["message"].values[0, 0] and "last residual 5.000e-01" in ds["message"].values[2, 0]
    assert "TypeError: a bug" in ds["message"].values[3, 1]
    assert ds["s"].sel(x=1.0, y=2.0).item() == 3.0 and np.isnan(ds["s"].sel(x=2.0, y=2.0).item())
    assert ds["curve"].dims == ("x", "y", "t") and list(ds["t"].values) == [0.0, 1.0, 2.0]
    assert ds["curve"].sel(x=1.0, y=2.0).values.tolist() == [1.0, 3.0, 5.0]


# ------------------------------------------------------------------------------------------- Dask
def test_local_cluster_same_dataset_as_serial():
    from dask.distributed import Client, LocalCluster
    fn = CommandPoint(command=("threshold",), fixed_argv=(), options=(("kappa", "--kappa"),
                                                                      ("kappa_star", "--kappa-star")),
                      has_quiet=True, file_options=())
    grid = {"kappa": [0.3, 1.0, math.inf], "kappa_star": [0.1, 0.5]}
    serial = sweep(fn, grid, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        dist = sweep(fn, grid, client=client, progress=False)
        by_address = sweep(fn, grid, client=cluster.scheduler_address, progress=False)  # --scheduler ADDRESS
    xr.testing.assert_identical(serial, dist)
    xr.testing.assert_identical(serial, by_address)
    # spec table values (kappa* = 0.1: 0.157571815048 at kappa = 0.3; kappa* = 0.5, kappa >= 1: 0.422175)
    assert abs(serial["alpha_c"].sel(kappa=0.3, kappa_star=0.1).item() - 0.157571815048) < 1e-9
    assert abs(serial["alpha_c"].sel(kappa=1.0, kappa_star=0.5).item() - 0.422175) < 5e-7
    assert serial["status"].sel(kappa=0.3, kappa_star=0.5).item() == "invalid"  # kappa < kappa*


# ------------------------------------------------------------------------------------------- store / resume
def test_resume_after_killed_sweep(tmp_path):
    out = tmp_path / "grid.h5"
    grid = {"x": [0.0, 1.0, 4.0], "y": [0.5, 1.5]}
    killed = Counting(kill_at=4)
    with pytest.raises(KeyboardInterrupt):
        sweep(killed, grid, store=out, progress=False, fixed={"scale": 2.0})
    assert not out.exists()
    assert len(list((tmp_path / "grid.h5.parts").glob("*.json"))) == 3 + 1  # 3 points + meta.json
    again = Counting()
    stats: dict = {}
    ds = sweep(again, grid, store=out, progress=False, fixed={"scale": 2.0}, stats=stats)
    assert again.calls == 3 and stats == {"evaluated": 3, "reused": 3}
    assert ds["s"].sel(x=4.0, y=1.5).item() == 2.0 * 5.5
    back = xr.open_dataset(out, engine="h5netcdf")
    assert dict(back.sizes) == {"x": 3, "y": 2, "t": 3}
    assert back["s"].dims == ("x", "y") and back["curve"].dims == ("x", "y", "t")
    assert list(back["status"].values.ravel()) == ["ok"] * 6
    back.close()
    # the final file is not overwritten without overwrite=True; overwrite reuses every part
    with pytest.raises(ParameterError, match="exists"):
        sweep(Counting(), grid, store=out, progress=False, fixed={"scale": 2.0})
    third = Counting()
    sweep(third, grid, store=out, progress=False, fixed={"scale": 2.0}, overwrite=True)
    assert third.calls == 0
    # a store made with other fixed options is refused with a clear message
    out.unlink()
    with pytest.raises(ParameterError, match="different fixed options"):
        sweep(Counting(), grid, store=out, progress=False, fixed={"scale": 3.0})


def test_cli_sweep_writes_netcdf_and_resumes(tmp_path, capsys):
    out = str(tmp_path / "th.h5")
    argv = ["sweep", "threshold", "--kappa", "1,inf", "--kappa-star", "0.25:0.5:2", "--workers", "1", "--out", out,
            "--json"]
    assert main(argv) == 0
    summ = json.loads(capsys.readouterr().out)
    assert summ["evaluated"] == 4 and summ["ok"] == 4 and summ["dims"] == {"kappa": 2, "kappa_star": 2}
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["alpha_c"].dims == ("kappa", "kappa_star")
    assert abs(ds["alpha_c"].sel(kappa=1.0, kappa_star=0.5).item() - 0.422175) < 5e-7  # spec table
    ds.close()
    assert main(argv + ["--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] == 4


# ------------------------------------------------------------------------------------------- root finding
def test_find_root_closed_form_and_uncertainty():
    res = find_root(lambda x: {"q": x ** 3, "q_se": 0.3}, "x", (0.0, 5.0), "q", 8.0)
    assert abs(res.root - 2.0) < 1e-9
    # delta method: se(root) = se(q) / |dq/dx| = 0.3 / (3 x^2) at x = 2 (secant slope: loose tolerance)
    assert res.uncertainty_from == "q_se" and abs(res.root_se - 0.3 / 12.0) < 1e-3


def test_find_root_bracket_failure_explained():
    with pytest.raises(ParameterError) as exc:
        find_root(lambda x: {"q": x * x}, "x", (1.0, 2.0), "q", 10.0)
    msg = str(exc.value)
    assert "q(x=1) = 1" in msg and "q(x=2) = 4" in msg and "both below 10" in msg
    with pytest.raises(ParameterError, match=r"sign change lies in \[1.33333, 1.44444\]"):
        find_root(lambda x: {"q": (x - 1.5) ** 2}, "x", (1.0, 2.0), "q", 0.01)


def test_cli_find_alpha_c_inverts_spec_value(capsys):
    # spec: alpha_c(kappa = 0.7, kappa* = 0.5) = 0.422174811433 -> the kappa* with that alpha_c is 0.5
    rc = main(["find", "threshold", "--vary", "kappa-star", "--in", "0.2:0.65", "--quantity", "alpha_c",
               "--equals", "0.422174811433", "--kappa", "0.7", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and abs(res["root"] - 0.5) < 1e-8


def test_cli_find_bracket_failure_one_line(capsys):
    rc = main(["find", "threshold", "--vary", "kappa-star", "--in", "0.2:0.3", "--quantity", "alpha_c",
               "--equals", "0.45", "--kappa", "1", "--scan", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "'in'" in err[0] and "same sign" in err[0]


# ------------------------------------------------------------------------------------------- continuation
def test_stationary_warm_start_same_solution():
    from dmft.params import ExtensiveWidthParams
    from dmft.stationary import solve_stationary
    prm = ExtensiveWidthParams(1.2, 1.0, 0.5, 0.05, 0.5)
    cold = solve_stationary(prm)
    warm = solve_stationary(prm, initial_guess=1.3 * cold.sigma2)
    assert abs(warm.sigma2 / cold.sigma2 - 1) < 1e-11 and abs(warm.test_error / cold.test_error - 1) < 1e-11
    with pytest.raises(ParameterError, match="initial_guess"):
        solve_stationary(prm, initial_guess=-1.0)


def test_cli_continuation_matches_cold_sweep(tmp_path, capsys):
    base = ["sweep", "stationary", "--alpha", "0.8:1.2:3", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05",
            "--noise", "0.5", "--workers", "1", "--json"]
    assert main(base + ["--out", str(tmp_path / "cold.h5")]) == 0
    assert main(base + ["--out", str(tmp_path / "warm.h5"), "--continuation", "alpha"]) == 0
    capsys.readouterr()
    cold = xr.open_dataset(tmp_path / "cold.h5", engine="h5netcdf")
    warm = xr.open_dataset(tmp_path / "warm.h5", engine="h5netcdf")
    assert np.allclose(warm["test_error"], cold["test_error"], rtol=1e-11, atol=0)
    assert (warm["iterations"].values[1:] < cold["iterations"].values[1:]).all()  # warm-started points
    cold.close()
    warm.close()
    rc = main(["sweep", "threshold", "--kappa", "1,2", "--kappa-star", "0.5", "--continuation", "kappa"])
    assert rc == 2 and "'continuation'" in capsys.readouterr().err


def test_sweep_file_is_sealed_and_verified(tmp_path):
    """The final sweep file carries the SHA-256 of odes.common.hdf5io: open_sweep refuses an edited file."""
    import h5py

    from odes.common import hdf5io
    from validation.sweep import open_sweep

    out = tmp_path / "s.h5"
    sweep(lambda x: {"y": x * x}, {"x": [1.0, 2.0, 3.0]}, store=out, progress=False)
    ds = open_sweep(out)
    assert ds["y"].values.tolist() == [1.0, 4.0, 9.0]
    with h5py.File(out, "a") as f:
        f["y"][1] = 5.0
    with pytest.raises(hdf5io.CorruptFileError, match="s.h5"):
        open_sweep(out)


@pytest.mark.parametrize("argv", [
    ["sweep", "stationary", "--alpha", "0.5,1", "--kappa", "1", "--kappa-star", "0.5", "--workers", "nan"],
    ["find", "threshold", "--vary", "kappa-star", "--in", "0.05:0.9", "--quantity", "alpha_c", "--equals", "0.3",
     "--kappa", "1", "--xtol", "nan"],
    ["find", "threshold", "--vary", "kappa-star", "--in", "0.05:0.9", "--quantity", "alpha_c", "--equals", "0.3",
     "--kappa", "1", "--scan", "-1"],
])
def test_sweep_and_find_options_fail_in_one_line(capsys, argv):
    """The sweep/find options had their own parser: a bad value printed a multi-line usage block."""
    from validation.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("quadnet: error:")
