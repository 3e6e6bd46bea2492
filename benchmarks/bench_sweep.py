"""Sweep benchmarks (``quadnet sweep`` route: each point runs the CLI command in a worker): a 30 x 30 alpha_c
phase diagram and a 40-point stationary double-descent curve, serial vs ``--workers 2`` (a LocalCluster started
by the sweep, start-up included) vs an already running LocalCluster (2 processes); and the warm-start continuation
speed-up along alpha (serial). Wall-clock on a shared machine: ratios are indicative (x2 noise)."""

from __future__ import annotations

import math
import time

import numpy as np

from validation.cli.cmd_sweep import CommandPoint, warm_stationary
from validation.cli.common import print_table
from validation.sweep import sweep


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(quick: bool = False) -> None:
    import xarray as xr
    from dask.distributed import Client, LocalCluster

    n_pd, n_dd = (8, 12) if quick else (30, 40)
    threshold = CommandPoint(command=("threshold",), fixed_argv=(), options=(("kappa", "--kappa"),
                                                                             ("kappa_star", "--kappa-star")),
                             has_quiet=True, file_options=())
    pd_grid = {"kappa": np.linspace(0.3, 2.0, n_pd).tolist(), "kappa_star": np.linspace(0.05, 0.9, n_pd).tolist()}
    stationary = CommandPoint(command=("stationary",), fixed_argv=("--kappa", "1", "--kappa-star", "0.5", "--lam",
                                                                   "0.01", "--noise", "0.5"),
                              options=(("alpha", "--alpha"),), has_quiet=True, file_options=())
    dd_grid = {"alpha": np.linspace(0.2, 3.0, n_dd).tolist()}
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        client.run(lambda: __import__("validation.cli.cmd_sweep"))  # warm imports in the workers
        for name, fn, grid, batch in ((f"alpha_c phase diagram {n_pd}x{n_pd}", threshold, pd_grid, n_pd),
                                      (f"stationary double descent, {n_dd} points", stationary, dd_grid, None)):
            t_ser, ds_ser = _timed(lambda fn=fn, grid=grid: sweep(fn, grid, progress=False))
            t_w2, ds_w2 = _timed(lambda fn=fn, grid=grid, b=batch: sweep(fn, grid, workers=2, batch=b,
                                                                         progress=False))
            t_cl, ds_cl = _timed(lambda fn=fn, grid=grid, b=batch: sweep(fn, grid, client=client, batch=b,
                                                                         progress=False))
            xr.testing.assert_identical(ds_ser, ds_w2)
            xr.testing.assert_identical(ds_ser, ds_cl)
            n_ok = int((ds_ser["status"] == "ok").sum())
            rows.append([name, f"{t_ser:.1f} s", f"{t_w2:.1f} s (x{t_ser / t_w2:.2f})",
                         f"{t_cl:.1f} s (x{t_ser / t_cl:.2f})", f"{n_ok} ok"])
    print_table(["sweep", "serial", "--workers 2", "running LocalCluster (2)", "points"], rows)
    t_cold, cold = _timed(lambda: sweep(stationary, dd_grid, progress=False))
    t_warm, warm = _timed(lambda: sweep(stationary, dd_grid, progress=False, along="alpha",
                                        warm_start=warm_stationary))
    dev = float(np.max(np.abs(warm["test_error"].values / cold["test_error"].values - 1.0)))
    it_c, it_w = int(cold["iterations"].sum()), int(warm["iterations"].sum())
    print_table(["continuation (stationary, serial)", "cold", "warm start", "speed-up", "max rel. diff"],
                [[f"{n_dd} points along alpha", f"{t_cold:.1f} s ({it_c} evaluations)",
                  f"{t_warm:.1f} s ({it_w} evaluations)", f"x{t_cold / t_warm:.2f} (evaluations x{it_c / it_w:.2f})",
                  f"{dev:.1e}" if math.isfinite(dev) else "nan"]])


if __name__ == "__main__":
    main()
