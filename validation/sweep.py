r"""Parameter sweeps (Cartesian grids) and root-finding over any library front door, serial or on Dask.

* :func:`sweep` evaluates ``fn(**fixed, **point)`` on the Cartesian product of ``grid`` (a dict name -> 1-D
  sequence) and returns an :class:`xarray.Dataset` with one dimension per swept parameter (``-`` -> ``_``), one
  variable per scalar output, curves with their own time dimension, and per point ``status`` (``ok``,
  ``invalid``, ``numerical failure``, ``error``) and a one-line ``message``. Execution: in-process serial loop
  (``workers`` None/1, no client), a local ``dask.distributed.LocalCluster`` of ``workers`` processes (loopback
  only), an existing ``client``, or a scheduler address string. Same per-point computation on every path, so the
  Dataset is identical (bit for bit) for deterministic functions.
* ``store=FILE.h5``: each finished point is written atomically (tmp + fsync + rename) to ``FILE.h5.parts/`` as it
  arrives; rerunning the same sweep skips the points found there (keyed by their parameter values, valid only for
  the same function and fixed options); at the end the assembled Dataset is written to ``FILE.h5`` (netCDF4 via
  h5netcdf, temp file + ``os.replace``).
* ``along=AXIS, warm_start=f``: continuation -- the points of each line along ``AXIS`` run in order in one task and
  ``f(outputs of the previous ok point)`` gives extra keyword arguments (e.g. ``initial_guess``) for the next.
* :func:`find_root`: Brent's method on ``f(x) = Q(x) - value``; the bracket is checked (with a short scan that
  suggests a bracket when the ends have the same sign); for noisy quantities (an output ``Q_se``, ``Q_sem`` or
  ``Q_std`` = standard error) the root's uncertainty is ``se(Q) / |dQ/dx|`` at the root (delta method).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from odes.common import hdf5io
from odes.common.errors import ConvergenceError, DivergenceError, ParameterError

__all__ = ["sweep", "find_root", "RootResult", "parse_axis", "evaluate_point", "STATUSES"]

STATUSES = ("ok", "invalid", "numerical failure", "error")
TIME_KEYS = ("t", "time", "times", "alpha", "alphas", "tau", "gamma")  # curve abscissa, first present wins
MESSAGE_MAX = 500


# ------------------------------------------------------------------------------------------- axis parsing
def is_axis(text: str) -> bool:
    """Whether an option value describes several values (a list ``a,b,c`` or a range ``START:STOP:NUM``)."""
    return "," in text or ":" in text


def parse_axis(name: str, text: str, *, kind: Callable[[str], Any] = float) -> list:
    """Values of a swept option: ``a,b,c`` (list), ``START:STOP:NUM`` (NUM linearly spaced values, both ends
    included: ``START + k (STOP - START)/(NUM - 1)``) or ``log:START:STOP:NUM`` (log-spaced,
    ``START (STOP/START)^(k/(NUM - 1))``, START, STOP > 0). ``kind`` is the option's type (``float``, ``int``, or a
    float parser accepting ``inf`` in lists); integer log ranges are rounded. Errors name the option."""
    text = text.strip()
    integer = kind is int

    def num(tok: str, what: str) -> float:
        try:
            return float(kind(tok.strip())) if not integer else float(tok.strip())
        except (TypeError, ValueError):
            raise ParameterError(name, f"{what} {tok!r} of {text!r} is not a number") from None

    if text.startswith("log:") or (":" in text and "," not in text):
        log = text.startswith("log:")
        parts = text[4:].split(":") if log else text.split(":")
        form = "log:START:STOP:NUM" if log else "START:STOP:NUM"
        if len(parts) != 3:
            raise ParameterError(name, f"a range is {form}, got {text!r}")
        lo, hi = num(parts[0], "START"), num(parts[1], "STOP")
        try:
            n = int(parts[2])
        except ValueError:
            raise ParameterError(name, f"NUM of {text!r} must be an integer >= 1") from None
        if n < 1:
            raise ParameterError(name, f"NUM of {text!r} must be an integer >= 1")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ParameterError(name, f"range ends of {text!r} must be finite")
        if log and not (lo > 0 and hi > 0):
            raise ParameterError(name, f"log range {text!r} needs START > 0 and STOP > 0")
        vals = (np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)).tolist()
        if n == 1 and lo != hi:
            raise ParameterError(name, f"NUM = 1 in {text!r} needs START = STOP")
        if integer:
            if log:
                vals = [float(round(v)) for v in vals]
            elif not all(abs(v - round(v)) < 1e-9 * max(1.0, abs(v)) for v in vals):
                raise ParameterError(name, f"range {text!r} does not give integers (the option is an integer)")
            vals = [float(round(v)) for v in vals]
    else:
        toks = [t for t in text.split(",") if t.strip()]
        if not toks:
            raise ParameterError(name, f"empty list {text!r}")
        vals = [num(t, "value") for t in toks]
        if any(math.isnan(v) for v in vals):
            raise ParameterError(name, f"list {text!r} contains NaN")
        if integer and not all(v.is_integer() for v in vals):
            raise ParameterError(name, f"list {text!r} must contain integers")
    if len(set(vals)) != len(vals):
        raise ParameterError(name, f"{text!r} gives repeated values {vals}; each value must appear once")
    return [int(v) for v in vals] if integer else [float(v) for v in vals]


# ------------------------------------------------------------------------------------------- one point
def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MESSAGE_MAX else line[:MESSAGE_MAX - 3] + "..."


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _flatten(d: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``a_b`` keys; numbers/bools/strings/None kept; 1-D numeric lists kept as lists; anything
    else (matrices, lists of strings) as a JSON string."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "_"))
        elif isinstance(v, list):
            if v and all(_is_num(x) for x in v):
                out[key] = [float(x) for x in v]
            else:
                out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def result_outputs(res: Any) -> dict[str, Any]:
    """The outputs of one evaluation: a dict, or a result object's ``to_json()`` (dict or JSON text), or its
    ``summary()``; flattened by :func:`_flatten`."""
    if isinstance(res, Mapping):
        d = res
    elif hasattr(res, "to_json"):
        d = res.to_json()
        if isinstance(d, str):
            d = json.loads(d)
    elif hasattr(res, "summary"):
        d = res.summary()
    else:
        raise TypeError(f"sweep function returned {type(res).__name__}; expected a dict or an object with to_json()")
    return _flatten(_jsonable(d))


def evaluate_point(fn: Callable[..., Any], point: Mapping[str, Any], fixed: Mapping[str, Any] | None = None,
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate ``fn(**fixed, **point, **extra)`` and classify the outcome: ``{"status", "message", "outputs"}``.

    ParameterError/ValueError -> ``invalid``; DivergenceError/ConvergenceError (any ArithmeticError) ->
    ``numerical failure``; any other Exception -> ``error`` (a bug or an environment problem; not stored, so a
    rerun retries it). A NaN scalar output is a ``numerical failure`` (never NaN output)."""
    try:
        outputs = result_outputs(fn(**(fixed or {}), **point, **(extra or {})))
        bad = [k for k, v in outputs.items() if isinstance(v, float) and math.isnan(v)]
        if bad:
            return {"status": "numerical failure", "message": f"output {bad[0]!r} is NaN", "outputs": {}}
        return {"status": "ok", "message": "", "outputs": outputs}
    except (DivergenceError, ConvergenceError, ArithmeticError) as exc:
        return {"status": "numerical failure", "message": _one_line(exc), "outputs": {}}
    except ValueError as exc:  # ParameterError is a ValueError
        return {"status": "invalid", "message": _one_line(exc), "outputs": {}}
    except Exception as exc:  # noqa: BLE001 - one bad point never sinks the sweep
        return {"status": "error", "message": _one_line(f"{type(exc).__name__}: {exc}"), "outputs": {}}


def _run_task(fn: Callable[..., Any], fixed: Mapping[str, Any], points: list[dict[str, Any]],
              warm_start: Callable[[dict], dict] | None, prev: dict | None) -> list[dict[str, Any]]:
    """Evaluate ``points`` in order (one Dask task). With ``warm_start``, each point gets
    ``warm_start(outputs of the previous ok point)`` as extra keyword arguments (``prev`` seeds the first)."""
    out = []
    for p in points:
        extra = warm_start(prev) if (warm_start is not None and prev is not None) else None
        rec = evaluate_point(fn, p, fixed, extra)
        if rec["status"] == "ok":
            prev = rec["outputs"]
        out.append(rec)
    return out


# ------------------------------------------------------------------------------------------- store
SWEEP_KIND = "quadnet-sweep"


def _key(point: Mapping[str, Any]) -> str:
    return json.dumps([[k, _jsonable(v)] for k, v in point.items()], allow_nan=True)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    with hdf5io.atomic_path(path) as tmp:
        tmp.write_bytes(data)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


class _Store:
    """``FILE.parts/`` (``meta.json`` + one ``<sha1>.json`` per finished point) and the final ``FILE``."""

    def __init__(self, path: str | os.PathLike, meta: dict, *, overwrite: bool, name: str) -> None:
        self.final = Path(path).expanduser()
        self.parts = self.final.with_name(self.final.name + ".parts")
        self.name = name
        parent = self.final.resolve().parent
        if not parent.is_dir():
            raise ParameterError(name, f"directory {str(parent)!r} of {str(self.final)!r} does not exist")
        if self.final.exists() and not overwrite:
            raise ParameterError(name, f"{str(self.final)!r} exists; pass --overwrite (overwrite=True) to replace it "
                                       f"(finished points in {self.parts.name}/ are reused when the options match)")
        meta_path = self.parts / "meta.json"
        if meta_path.exists():
            try:
                old = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                old = None
            if old != meta:
                if not overwrite:
                    raise ParameterError(name, f"{str(self.parts)!r} holds a sweep made with different fixed options "
                                               f"({_meta_diff(old, meta)}); use another file, or --overwrite "
                                               "(overwrite=True) to discard it")
                shutil.rmtree(self.parts)
        self.parts.mkdir(exist_ok=True)
        if not meta_path.exists():
            _atomic_write_bytes(meta_path, json.dumps(meta, sort_keys=True).encode())

    def _file(self, key: str) -> Path:
        return self.parts / (hashlib.sha1(key.encode()).hexdigest() + ".json")

    def load(self, keys: Sequence[str]) -> dict[str, dict]:
        found = {}
        for key in keys:
            f = self._file(key)
            if f.exists():
                try:
                    rec = json.loads(f.read_text())
                except (OSError, ValueError):
                    continue
                if rec.get("key") == key:
                    found[key] = {k: rec[k] for k in ("status", "message", "outputs")}
        return found

    def write(self, key: str, rec: dict) -> None:
        if rec["status"] == "error":  # unexpected failures are retried on the next run
            return
        _atomic_write_bytes(self._file(key), json.dumps({"key": key, **rec}, allow_nan=True).encode())

    def finalize(self, ds) -> None:
        """Write the assembled dataset atomically, sealed with the SHA-256 of :mod:`odes.common.hdf5io`."""
        import h5py

        with hdf5io.atomic_path(self.final, stamp=True) as tmp:
            ds.to_netcdf(tmp, engine="h5netcdf")
            with h5py.File(tmp, "a") as f:
                f.attrs["quadnet_kind"] = SWEEP_KIND
                f.attrs["quadnet_format"] = hdf5io.FORMAT_VERSION
                hdf5io.seal(f)


def open_sweep(path: str | os.PathLike):
    """Open a sweep file written by :func:`sweep` as an ``xarray.Dataset`` after verifying its SHA-256
    (:class:`odes.common.hdf5io.CorruptFileError` naming the file if it was damaged)."""
    import xarray as xr

    with hdf5io.open_verified(path) as f:
        kind = f.attrs.get("quadnet_kind")
        if (kind.decode() if isinstance(kind, bytes) else kind) != SWEEP_KIND:
            raise hdf5io.FileFormatError(f"{str(path)!r} is not a quadnet sweep file (kind {kind!r})")
    return xr.load_dataset(path, engine="h5netcdf")


def _meta_diff(old: dict | None, new: dict) -> str:
    if not isinstance(old, dict):
        return "unreadable meta.json"
    diffs = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            diffs.append(f"{k}: stored {old.get(k)!r}, now {new.get(k)!r}")
    return "; ".join(diffs)


def _fn_identity(fn: Callable) -> str:
    ident = getattr(fn, "sweep_identity", None)
    if ident is not None:
        return str(ident)
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


# ------------------------------------------------------------------------------------------- assembly
def _assemble(dims: list[str], coords: list[list], records: list[dict], meta: dict):
    """Records in C order of the grid -> Dataset (see module docstring)."""
    import xarray as xr

    shape = tuple(len(c) for c in coords)
    ds = xr.Dataset(coords={d: np.asarray(c) for d, c in zip(dims, coords)})
    ds["status"] = (dims, np.array([r["status"] for r in records], dtype=str).reshape(shape))
    ds["message"] = (dims, np.array([r["message"] for r in records], dtype=str).reshape(shape))
    keys: list[str] = []
    for r in records:
        keys.extend(k for k in r["outputs"] if k not in keys)
    keys = [k for k in keys if k not in dims and k not in ("status", "message")]
    lists = {k for k in keys if any(isinstance(r["outputs"].get(k), list) for r in records)}
    tk = next((k for k in TIME_KEYS if k in lists), None)
    for k in keys:
        vals = [r["outputs"].get(k) for r in records]
        if k in lists:
            continue
        if all(v is None for v in vals):
            continue
        if any(isinstance(v, str) for v in vals) or not all(v is None or isinstance(v, (int, float)) for v in vals):
            arr = np.array(["" if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in vals], dtype=str)
        elif all(isinstance(v, bool) for v in vals):
            arr = np.array(vals, dtype=bool)
        elif all(_is_num(v) and isinstance(v, int) for v in vals):
            arr = np.array(vals, dtype=np.int64)
        else:
            arr = np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
        ds[k] = (dims, arr.reshape(shape))
    if lists:
        ok_lists = [r["outputs"] for r in records if any(isinstance(r["outputs"].get(k), list) for k in lists)]
        shared_t = None
        if tk is not None:
            ts = [o.get(tk) for o in ok_lists]
            if all(isinstance(t, list) for t in ts) and all(t == ts[0] for t in ts):
                shared_t = ts[0]
        tdim = None if tk is None else (tk if tk not in dims else f"{tk}_curve")
        for k in sorted(lists, key=keys.index):
            vals = [r["outputs"].get(k) for r in records]
            n = max((len(v) for v in vals if isinstance(v, list)), default=0)
            on_t = tk is not None and all(
                not isinstance(v, list) or (isinstance(r["outputs"].get(tk), list) and len(v) == len(r["outputs"][tk]))
                for v, r in zip(vals, records))
            if on_t and shared_t is not None:
                if k == tk:
                    continue
                dim = tdim
            elif on_t:
                dim = f"{tdim}_index"
            else:
                dim = f"{k}_index"
            arr = np.full((len(records), n), np.nan)
            for i, v in enumerate(vals):
                if isinstance(v, list):
                    arr[i, :len(v)] = v
            ds[k] = ([*dims, dim], arr.reshape(*shape, n))
        if tk is not None and shared_t is not None:
            ds = ds.assign_coords({tdim: np.asarray(shared_t, dtype=float)})
    ds.attrs.update({"sweep_function": meta["function"], "sweep_fixed": json.dumps(meta["fixed"], sort_keys=True),
                     "status_values": ", ".join(STATUSES)})
    return ds


# ------------------------------------------------------------------------------------------- sweep
def _client_for(workers: int | None, client: Any) -> tuple[Any, Any]:
    """(client, cluster-we-own or None); (None, None) for the serial path."""
    if isinstance(client, str):
        from dask.distributed import Client
        return Client(client), None
    if client is not None:
        return client, None
    if workers is None or workers <= 1:
        return None, None
    from dask.distributed import Client, LocalCluster
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "QUADNET_QUIET": "1"}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", env=env, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def sweep(fn: Callable[..., Any], grid: Mapping[str, Sequence], *, fixed: Mapping[str, Any] | None = None,
          workers: int | None = None, client: Any = None, store: str | os.PathLike | None = None,
          overwrite: bool = False, progress: bool = True, along: str | None = None,
          warm_start: Callable[[dict], dict] | None = None, batch: int | None = None,
          store_name: str = "store", stats: dict | None = None):
    """Evaluate ``fn(**fixed, **point)`` on the Cartesian product of ``grid`` -> :class:`xarray.Dataset`.

    ``workers``: None/1 serial in-process; N > 1 a LocalCluster (N processes, one thread each, loopback);
    ``client``: a ``dask.distributed.Client`` or a scheduler address (``"tcp://host:8786"``); ``store``: the
    resumable result file (see module docstring; ``overwrite`` allows replacing an existing final file);
    ``along``/``warm_start``: continuation along one axis; ``batch``: points per task (default: 1 point per task,
    or one line per task with ``along``). ``stats`` (optional dict) receives ``evaluated`` / ``reused`` counts."""
    if not isinstance(grid, Mapping) or not grid:
        raise ParameterError("grid", "must be a non-empty dict name -> 1-D sequence of values")
    names = list(grid)
    coords = []
    for name in names:
        vals = list(np.asarray(grid[name]).tolist()) if not isinstance(grid[name], (list, tuple)) else list(grid[name])
        if not vals or np.asarray(vals).ndim != 1:
            raise ParameterError(name, "grid axis must be a non-empty 1-D sequence")
        if len(set(map(repr, vals))) != len(vals):
            raise ParameterError(name, "grid axis has repeated values")
        coords.append(_jsonable(vals))
    dims = [n.replace("-", "_") for n in names]
    if along is not None and along not in names:
        raise ParameterError("along", f"must be one of the grid axes {names}, got {along!r}")
    if batch is not None and (int(batch) != batch or batch < 1):
        raise ParameterError("batch", f"must be an integer >= 1, got {batch!r}")
    fixed = dict(fixed or {})
    meta = {"function": _fn_identity(fn), "fixed": _jsonable(fixed)}
    try:
        json.dumps(meta)
    except TypeError:
        meta["fixed"] = repr(meta["fixed"])
    index = list(itertools.product(*[range(len(c)) for c in coords]))
    points = [{n: coords[j][i[j]] for j, n in enumerate(names)} for i in index]
    keys = [_key(p) for p in points]
    st = _Store(store, meta, overwrite=overwrite, name=store_name) if store is not None else None
    done = st.load(keys) if st is not None else {}
    # tasks: lists of flat indices
    if along is not None:
        ax = names.index(along)
        lines: dict[tuple, list[int]] = {}
        for flat, i in enumerate(index):
            lines.setdefault(tuple(v for j, v in enumerate(i) if j != ax), []).append(flat)
        tasks = []
        for line in lines.values():
            todo = [f for f in line if keys[f] not in done]
            if todo:
                tasks.append((todo, _prev_outputs(line, todo[0], keys, done)))
    else:
        todo = [f for f in range(len(points)) if keys[f] not in done]
        b = int(batch or 1)
        tasks = [(todo[k:k + b], None) for k in range(0, len(todo), b)]
    results: dict[int, dict] = {}
    for f, key in enumerate(keys):
        if key in done:
            results[f] = done[key]
    from odes.common.progress import progress as pbar

    n_todo = sum(len(t[0]) for t in tasks)
    bar = pbar(total=n_todo, desc="sweep", quiet=not progress, unit="pt")

    def accept(task: list[int], recs: list[dict]) -> None:
        for f, rec in zip(task, recs):
            results[f] = rec
            if st is not None:
                st.write(keys[f], rec)
        bar.update(len(task))

    if workers is not None:
        workers = min(workers, len(tasks))  # no more processes than tasks (one task: serial, no cluster)
    cl, cluster = (None, None) if not tasks else _client_for(workers, client)
    try:
        if cl is None:
            for task, prev in tasks:
                accept(task, _run_task(fn, fixed, [points[f] for f in task], warm_start, prev))
        else:
            from dask.distributed import as_completed
            if progress and (client is not None) and getattr(cl, "dashboard_link", None):
                import sys
                print(f"quadnet: Dask dashboard: {cl.dashboard_link}", file=sys.stderr)
            futs = cl.map(_run_task, [fn] * len(tasks), [fixed] * len(tasks),
                          [[points[f] for f in t] for t, _ in tasks], [warm_start] * len(tasks),
                          [p for _, p in tasks], pure=False)
            owner = {fut.key: t for fut, (t, _) in zip(futs, tasks)}
            for fut in as_completed(futs):
                task = owner[fut.key]
                try:
                    recs = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker fails its points, not the sweep
                    msg = _one_line(f"{type(exc).__name__}: {exc}")
                    recs = [{"status": "error", "message": msg, "outputs": {}} for _ in task]
                accept(task, recs)
    finally:
        bar.close()
        if cluster is not None:
            cl.close()
            cluster.close()
        elif cl is not None and isinstance(client, str):
            cl.close()
    if stats is not None:
        stats.update({"evaluated": n_todo, "reused": len(done)})
    ds = _assemble(dims, coords, [results[f] for f in range(len(points))], meta)
    if st is not None:
        st.finalize(ds)
    return ds


def _prev_outputs(line: list[int], first_todo: int, keys: list[str], done: dict) -> dict | None:
    """Outputs of the last finished ok point before ``first_todo`` on a continuation line (warm start seed)."""
    prev = None
    for f in line:
        if f == first_todo:
            break
        rec = done.get(keys[f])
        if rec is not None and rec["status"] == "ok":
            prev = rec["outputs"]
    return prev


# ------------------------------------------------------------------------------------------- root finding
@dataclass
class RootResult:
    """Root of ``Q(vary) = value``; ``root_se``: its standard error (noisy Q), else None."""

    vary: str
    quantity: str
    value: float
    root: float
    quantity_at_root: float
    root_se: float | None
    slope: float | None
    uncertainty_from: str | None
    bracket: tuple[float, float]
    evaluations: list[tuple[float, float]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"vary": self.vary, "quantity": self.quantity, "value": self.value, "root": self.root,
                "quantity_at_root": self.quantity_at_root, "root_se": self.root_se, "slope": self.slope,
                "uncertainty_from": self.uncertainty_from, "bracket": list(self.bracket),
                "evaluations": len(self.evaluations)}


def quantity_of(outputs: Mapping[str, Any], quantity: str, name: str = "quantity") -> tuple[float, float | None,
                                                                                              str | None]:
    """(Q, se(Q) or None, name of the se output) from one point's outputs. ``Q@T`` reads a curve output ``Q`` at
    time ``T`` (linear interpolation in the curve's time output, one of :data:`TIME_KEYS`)."""
    q, at = (quantity.split("@", 1) + [None])[:2]
    at_t = None
    if at is not None:
        try:
            at_t = float(at.split("=")[-1])
        except ValueError:
            raise ParameterError(name, f"'Q@T' needs a number T, got {quantity!r}") from None
    se_key = next((f"{q}{s}" for s in ("_se", "_sem", "_std") if f"{q}{s}" in outputs), None)
    v = outputs.get(q)
    if at_t is None:
        if not _is_num(v):
            avail = sorted(k for k, x in outputs.items() if _is_num(x))
            raise ParameterError(name, f"{q!r} is not a scalar output (scalar outputs: {', '.join(avail)}; "
                                       "for a curve use Q@T)")
        se = outputs.get(se_key) if se_key else None
        return float(v), (float(se) if _is_num(se) else None), se_key
    tk = next((k for k in TIME_KEYS if isinstance(outputs.get(k), list)), None)
    if not isinstance(v, list) or tk is None:
        raise ParameterError(name, f"{q!r} is not a curve output with a time axis")
    t = np.asarray(outputs[tk])
    if not (t[0] <= at_t <= t[-1]):
        raise ParameterError(name, f"T = {at_t:g} outside the curve's {tk} range [{t[0]:g}, {t[-1]:g}]")
    val = float(np.interp(at_t, t, np.asarray(v)))
    se = outputs.get(se_key) if se_key else None
    return val, (float(np.interp(at_t, t, np.asarray(se))) if isinstance(se, list) else None), se_key


def find_root(fn: Callable[..., Any], vary: str, bracket: tuple[float, float], quantity: str, value: float, *,
              fixed: Mapping[str, Any] | None = None, xtol: float = 1e-10, rtol: float = 1e-10, maxiter: int = 100,
              scan: int = 8, warm_start: Callable[[dict], dict] | None = None, names: Mapping[str, str] | None = None,
              **more_fixed: Any) -> RootResult:
    r"""The ``x`` in ``bracket`` where ``Q(x) = value``, ``Q`` an output of ``fn(**fixed, vary=x)``: Brent's method on
    ``f(x) = Q(x) - value``. The ends are evaluated first; if ``f`` has the same sign at both, ``scan`` interior
    points are tried and the error (ParameterError naming the bracket) reports both end values and any sign change
    found. Noisy ``Q`` (an output ``Q_se``/``Q_sem``/``Q_std``, read as the standard error of Q):
    ``root_se = se(Q(x*)) / |dQ/dx|``, the slope from the two closest evaluations on either side of the root.
    ``warm_start(outputs)`` gives extra arguments from the nearest previous evaluation (e.g. an initial guess).
    ``names`` maps ``bracket``/``quantity``/``vary`` to the user's option names for error messages."""
    from scipy.optimize import brentq

    nm = {"bracket": "bracket", "quantity": "quantity", "vary": "vary", **(names or {})}
    fixed = {**(fixed or {}), **more_fixed}
    try:
        lo, hi = float(bracket[0]), float(bracket[1])
    except (TypeError, ValueError, IndexError):
        raise ParameterError(nm["bracket"], f"must be two numbers (lo, hi), got {bracket!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ParameterError(nm["bracket"], f"needs finite lo < hi, got ({lo:g}, {hi:g})")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError("value", f"must be a number, got {value!r}") from None
    hist: dict[float, tuple[float, float | None, str | None, dict]] = {}

    def q(x: float) -> float:
        if x in hist:
            return hist[x][0]
        extra = None
        if warm_start is not None and hist:
            near = min(hist, key=lambda y: abs(y - x))
            extra = warm_start(hist[near][3])
        rec = evaluate_point(fn, {vary: x}, fixed, extra)
        if rec["status"] != "ok":
            err = ConvergenceError if rec["status"] == "numerical failure" else ParameterError
            text = f"cannot evaluate {quantity} at {vary} = {x:.12g}: {rec['message']}"
            raise err(text) if err is ConvergenceError else err(nm["bracket"], text)
        val, se, se_key = quantity_of(rec["outputs"], quantity, nm["quantity"])
        hist[x] = (val, se, se_key, rec["outputs"])
        return val

    flo, fhi = q(lo) - value, q(hi) - value
    if flo == 0.0 or fhi == 0.0:
        root = lo if flo == 0.0 else hi
    elif flo * fhi > 0:
        xs = np.linspace(lo, hi, scan + 2)[1:-1] if scan > 0 else []
        side = "above" if flo > 0 else "below"
        text = (f"{quantity} - {value:g} has the same sign at both ends: {quantity}({vary}={lo:.6g}) = "
                f"{q(lo):.6g} and {quantity}({vary}={hi:.6g}) = {q(hi):.6g}, both {side} {value:g}")
        prev_x, prev_f = lo, flo
        found = None
        for x in xs:
            try:
                fx = q(float(x)) - value
            except (ParameterError, ConvergenceError):
                continue
            if fx * prev_f <= 0:
                found = (prev_x, float(x))
                break
            prev_x, prev_f = float(x), fx
        if found:
            text += f"; a sign change lies in [{found[0]:.6g}, {found[1]:.6g}]: use that bracket"
        elif scan > 0:
            vals = ", ".join(f"{hist[float(x)][0]:.4g}" for x in xs if float(x) in hist)
            text += f"; no sign change at {len(xs)} interior points either ({quantity} = {vals})"
        raise ParameterError(nm["bracket"], text)
    else:
        root = brentq(lambda x: q(x) - value, lo, hi, xtol=xtol, rtol=max(rtol, 4 * np.finfo(float).eps),
                      maxiter=maxiter)
    qr = q(root)
    _, se, se_key, _ = hist[root]
    s0 = math.copysign(1.0, flo if flo != 0 else -fhi)  # sign of Q - value on the lo side
    left = [x for x in hist if (hist[x][0] - value) * s0 > 0]
    right = [x for x in hist if (hist[x][0] - value) * s0 < 0]
    slope = None
    if left and right:
        a = min(left, key=lambda x: abs(x - root))
        b = min(right, key=lambda x: abs(x - root))
        if a != b:
            slope = (hist[b][0] - hist[a][0]) / (b - a)
    root_se = abs(se / slope) if (se is not None and slope) else None
    return RootResult(vary=vary, quantity=quantity, value=value, root=float(root), quantity_at_root=qr,
                      root_se=root_se, slope=slope, uncertainty_from=se_key if se is not None else None,
                      bracket=(lo, hi), evaluations=[(x, hist[x][0]) for x in hist])
