r"""DMFT vs finite-d GD in the kappa < 1 small-initialisation escape phase (docs/dmft.md, issue 12 item 5(a)).

Usage::

    python -m benchmarks.escape_phase_validation [--quick] [--cache DIR] [--summary OUT.npz]
    python -m benchmarks.escape_phase_validation --from-summary benchmarks/data/escape_phase_summary.npz

Model: alpha = 1.5, kappa = 0.5, kappa* = 0.25, lam = 0.01, Delta = 0.1, sigma0 = 0.1; GD step eta = 0.04,
T = 100 steps (t <= 4), GOE sensing. Full run: GD (``simulate_gd``, one seed per instance) at d = 40, 60, 80,
120, 160 with 24 seeds each (d = 160: ~80 s per seed, ~4 GB GOE design) and the discrete-time DMFT
(``dmft.dynamics.solve``, Ns = 4, one independent run per root seed 5000, 5001, ...) at d_eff = 24, 32, 48, 64,
96, 128 with 48 runs each and d_eff = 192 with 16; about 45 min of one core for GD and 35 min for the DMFT.
``--quick``: GD d = 24, 32, 40 (6 seeds), DMFT d_eff = 16, 24, 32 (6 runs), ~1 min. ``--cache DIR`` stores one
.npz per seed / run and reuses it (an interrupted run loses nothing). ``--summary`` writes the per-seed values at
the compared times and the escape times (a few kB); ``--from-summary`` prints the tables from such a file without
computing anything. The fits use every size present (``--gd-d``, ``--dmft-d``, ``--gd-seeds``, ``--dmft-runs``
override the sizes / counts).

Per compared time t (0.48, 1, 1.52, 2, 3, 4) and per side, the size means y(x) with seed-spread standard errors
s(x) (sample std / sqrt(n)) are fitted by weighted least squares (weights 1/s^2) with three ansaetze:

* L:  y = a + b/x,
* TW: y = a + b x^(-2/3) (Tracy-Widom edge scaling),
* Q:  y = a + b/x + c/x^2,

reporting a, its standard error from the fit covariance (not inflated), chi^2/dof and the p-value of chi^2.
z = (a_DMFT - a_GD)/sqrt(se_DMFT^2 + se_GD^2). Escape time: t at which a run's test error first falls below
``level`` (1.0 and 0.2), log-linear interpolation between steps; mean, std and the same fits vs size.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from scipy import stats

from dmft.dynamics import DMFTSettings, solve
from dmft.params import ExtensiveWidthParams
from validation.gd_simulator import simulate_gd

PARAMS = ExtensiveWidthParams(alpha=1.5, kappa=0.5, kappa_star=0.25, lam=0.01, noise=0.1)
ETA, STEPS, SIGMA0 = 0.04, 100, 0.1
KS = np.array([12, 25, 38, 50, 75, 100])  # t = 0.48, 1, 1.52, 2, 3, 4
LEVELS = (1.0, 0.2)
FULL = {"gd_d": (40, 60, 80, 120, 160), "gd_seeds": 24, "dm_d": (24, 32, 48, 64, 96, 128, 192),
        "dm_runs": {192: 16}, "dm_runs_default": 48}
QUICK = {"gd_d": (24, 32, 40), "gd_seeds": 6, "dm_d": (16, 24, 32), "dm_runs": {}, "dm_runs_default": 6}
DM_SEED0 = 5000
ANSAETZE = {"L": (1.0,), "TW": (2.0 / 3.0,), "Q": (1.0, 2.0)}


def escape_time(t: np.ndarray, err: np.ndarray, level: float) -> float:
    """First t with err(t) < level, log-linear interpolation: t_{k-1} + eta ln(e_{k-1}/level)/ln(e_{k-1}/e_k)
    (nan if never below; 0 if already below at t = 0)."""
    below = np.nonzero(err < level)[0]
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return 0.0
    a, b = err[k - 1], err[k]
    return float(t[k - 1] + (t[k] - t[k - 1]) * math.log(a / level) / math.log(a / b))


def _one(kind: str, size: int, seed: int, cache: Path | None) -> dict:
    f = cache / f"{kind}_d{size}_s{seed}.npz" if cache else None
    if f is not None and f.exists():
        z = np.load(f)
        return {k: z[k] for k in ("train", "test", "wall")}
    t0 = time.perf_counter()
    if kind == "gd":
        tr, te = simulate_gd(PARAMS, size, ETA, STEPS, sigma0=SIGMA0, seed=seed, sensing="goe", goe_memory=5e9)
    else:
        r = solve(PARAMS, DMFTSettings(eta=ETA, steps=STEPS, d_eff=size, samples=4, sigma0=SIGMA0, seed=seed),
                  quiet=True)
        tr, te = r.train_error, r.test_error
    out = {"train": np.asarray(tr), "test": np.asarray(te), "wall": np.array(time.perf_counter() - t0)}
    if f is not None:
        np.savez(f, **out)
    return out


def collect(kind: str, sizes: tuple[int, ...], n: int | dict[int, int], cache: Path | None,
            cached_only: bool = False) -> dict:
    """Per size: train/test at KS (n, 6), escape times (n, len(LEVELS)), total wall time; ``n``: seeds per size
    (an int, or a dict size -> count). ``cached_only``: use the seeds present in ``cache`` (up to n), compute
    nothing."""
    t = ETA * np.arange(STEPS + 1)
    out = {}
    for size in sizes:
        k = n[size] if isinstance(n, dict) else n
        seeds = range(k) if kind == "gd" else range(DM_SEED0, DM_SEED0 + k)
        if cached_only:
            seeds = [s for s in seeds if (cache / f"{kind}_d{size}_s{s}.npz").exists()]
            if len(seeds) < 2:
                continue
        rows = [_one(kind, size, s, cache) for s in seeds]
        out[size] = {
            "train": np.array([r["train"][KS] for r in rows]),
            "test": np.array([r["test"][KS] for r in rows]),
            "esc": np.array([[escape_time(t, r["test"], lv) for lv in LEVELS] for r in rows]),
            "wall": float(sum(float(r["wall"]) for r in rows)),
        }
    return out


def wls(x: np.ndarray, y: np.ndarray, s: np.ndarray, powers: tuple[float, ...]) -> tuple[float, float, float, int]:
    """Weighted least squares y = a + sum_j b_j x^(-p_j), weights 1/s^2; returns (a, se(a), chi^2, dof) with
    se(a) = sqrt([(A^T W A)^{-1}]_00) (not scaled by chi^2)."""
    A = np.column_stack([np.ones_like(x)] + [x ** (-p) for p in powers])
    w = 1.0 / s**2
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * y))
    chi2 = float(np.sum(w * (y - A @ coef) ** 2))
    return float(coef[0]), float(math.sqrt(cov[0, 0])), chi2, x.size - A.shape[1]


def _stats(data: dict, key: str, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xs = np.array(sorted(data), dtype=float)
    vals = [data[int(x)][key][:, j] for x in xs]
    vals = [v[np.isfinite(v)] for v in vals]
    m = np.array([v.mean() for v in vals])
    se = np.array([v.std(ddof=1) / math.sqrt(v.size) for v in vals])
    sd = np.array([v.std(ddof=1) for v in vals])
    return xs, m, se, sd


def _fmt(a: float, se: float) -> str:
    dig = max(0, 1 - int(math.floor(math.log10(se)))) if se > 0 else 4
    return f"{a:.{dig}f} +- {se:.{dig}f}"


def fits(data: dict, key: str, j: int) -> dict:
    xs, m, se, _ = _stats(data, key, j)
    out = {}
    for name, pw in ANSAETZE.items():
        if xs.size >= len(pw) + 1:  # an exact fit (dof = 0) reports chi2/dof = nan
            a, sa, chi2, dof = wls(xs, m, se, pw)
            p = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
            out[name] = (a, sa, chi2 / dof if dof > 0 else float("nan"), p)
    return out


def report(gd: dict, dm: dict) -> None:
    t = ETA * KS
    print("sizes / seeds / wall: GD " + ", ".join(f"d={d}: {len(v['test'])} ({v['wall']:.0f} s)"
                                                  for d, v in sorted(gd.items())))
    print("                      DMFT " + ", ".join(f"d_eff={d}: {len(v['test'])} ({v['wall']:.0f} s)"
                                                    for d, v in sorted(dm.items())))
    for key in ("test", "train"):
        print(f"\n== {key} error: size means +- se ==")
        for lab, data in (("DMFT", dm), ("GD", gd)):
            for j, tj in enumerate(t):
                xs, m, se, _ = _stats(data, key, j)
                print(f"{lab:4s} t={tj:4.2f}: " + " | ".join(f"{int(x)}: {_fmt(a, s)}" for x, a, s in zip(xs, m, se)))
        print(f"\n== {key} error: extrapolations (a +- se, chi2/dof, p) and z = (DMFT - GD)/se ==")
        for j, tj in enumerate(t):
            fd, fg = fits(dm, key, j), fits(gd, key, j)
            for name in ANSAETZE:
                if name not in fd or name not in fg:
                    continue
                a1, s1, c1, p1 = fd[name]
                a2, s2, c2, p2 = fg[name]
                z = (a1 - a2) / math.hypot(s1, s2)
                print(f"t={tj:4.2f} {name:2s}: DMFT {_fmt(a1, s1)} (chi2/dof {c1:.2f}, p {p1:.2f})  "
                      f"GD {_fmt(a2, s2)} (chi2/dof {c2:.2f}, p {p2:.2f})  z = {z:+.1f}")
        # pooled: the two largest sizes of each side, no trend fitted
        print(f"\n== {key} error: largest sizes, raw (DMFT d_eff = {sorted(dm)[-1]}, GD d = {sorted(gd)[-1]}) ==")
        for j, tj in enumerate(t):
            _, m1, s1, _ = _stats(dm, key, j)
            _, m2, s2, _ = _stats(gd, key, j)
            z = (m1[-1] - m2[-1]) / math.hypot(s1[-1], s2[-1])
            print(f"t={tj:4.2f}: DMFT {_fmt(m1[-1], s1[-1])}  GD {_fmt(m2[-1], s2[-1])}  "
                  f"GD/DMFT - 1 = {m2[-1] / m1[-1] - 1:+.3f}  z = {z:+.1f}")
    print("\n== escape time (test error first below level): mean +- se [std] per size ==")
    for i, lv in enumerate(LEVELS):
        for lab, data in (("DMFT", dm), ("GD", gd)):
            xs, m, se, sd = _stats(data, "esc", i)
            print(f"{lab:4s} level {lv}: " + " | ".join(f"{int(x)}: {m_:.4f} +- {s_:.4f} [{d_:.4f}]"
                                                       for x, m_, s_, d_ in zip(xs, m, se, sd)))
            slope = stats.linregress(np.log(xs), np.log(sd))
            print(f"     std ~ size^{slope.slope:.2f} +- {slope.stderr:.2f};  " + "; ".join(
                f"{n}: {_fmt(a, s)} (chi2/dof {c:.2f})" for n, (a, s, c, _) in fits(data, "esc", i).items()))
        fd, fg = fits(dm, "esc", i), fits(gd, "esc", i)
        print("     z (DMFT - GD): " + ", ".join(f"{n} {(fd[n][0] - fg[n][0]) / math.hypot(fd[n][1], fg[n][1]):+.1f}"
                                                for n in ANSAETZE if n in fd and n in fg))


def save_summary(path: Path, gd: dict, dm: dict) -> None:
    arrs = {}
    for lab, data in (("gd", gd), ("dm", dm)):
        for size, v in data.items():
            for k in ("train", "test", "esc"):
                arrs[f"{lab}_{size}_{k}"] = v[k]
            arrs[f"{lab}_{size}_wall"] = np.array(v["wall"])
    np.savez_compressed(path, **arrs)


def load_summary(path: Path) -> tuple[dict, dict]:
    z = np.load(path)
    out: dict = {"gd": {}, "dm": {}}
    for name in z.files:
        lab, size, k = name.split("_")
        out[lab].setdefault(int(size), {})[k] = float(z[name]) if k == "wall" else z[name]
    return out["gd"], out["dm"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.escape_phase_validation")
    ap.add_argument("--quick", action="store_true", help="small sizes, few seeds (~1 min)")
    ap.add_argument("--cache", type=Path, help="directory for per-seed .npz files (reused when present)")
    ap.add_argument("--summary", type=Path, help="write the per-seed values at the compared times here")
    ap.add_argument("--from-summary", type=Path, help="print the tables of a saved summary, compute nothing")
    ap.add_argument("--cached-only", action="store_true", help="use only the seeds already in --cache")
    ap.add_argument("--gd-d", help="comma-separated GD sizes (multiples of 4)")
    ap.add_argument("--dmft-d", help="comma-separated DMFT d_eff")
    ap.add_argument("--gd-seeds", type=int)
    ap.add_argument("--dmft-runs", type=int)
    a = ap.parse_args(argv)
    if a.from_summary:
        report(*load_summary(a.from_summary))
        return
    cfg = dict(QUICK if a.quick else FULL)
    if a.gd_d:
        cfg["gd_d"] = tuple(int(v) for v in a.gd_d.split(","))
    if a.dmft_d:
        cfg["dm_d"] = tuple(int(v) for v in a.dmft_d.split(","))
    cfg["gd_seeds"] = a.gd_seeds or cfg["gd_seeds"]
    runs = {x: a.dmft_runs or cfg["dm_runs"].get(x, cfg["dm_runs_default"]) for x in cfg["dm_d"]}
    if a.cache:
        a.cache.mkdir(parents=True, exist_ok=True)
    if a.cached_only and not a.cache:
        ap.error("--cached-only needs --cache")
    dm = collect("dm", cfg["dm_d"], runs, a.cache, a.cached_only)
    gd = collect("gd", cfg["gd_d"], cfg["gd_seeds"], a.cache, a.cached_only)
    if a.summary:
        save_summary(a.summary, gd, dm)
    report(gd, dm)


if __name__ == "__main__":
    main()
