r"""The result protocol shared by every model family.

Every result object of quadnet is a frozen dataclass deriving from :class:`Result`. It offers, with the same names
everywhere:

* ``params`` -- the validated parameter object of the run;
* ``to_xarray()`` -> :class:`xarray.Dataset`: named coordinates (each family's time variable under its documented
  name -- ``alpha`` for one-pass SGD, ``t`` for gradient flow/descent, ``tau`` (= t/d) for the rescaled population
  time -- with ``long_name`` and ``units`` attributes), data variables, and as attributes the parameters
  (``param_<name>`` for scalars, ``params_json`` for all of them), ``quadnet_kind`` and ``quadnet_version``.
  **Naming rule:** the standard error of the mean of a variable ``x`` is ``x_se``;
* ``save(path, overwrite=False)`` / ``load(path)`` -- :mod:`odes.common.hdf5io` (netCDF4-compatible, checksummed);
* ``summary()`` -- a short text table (< 2000 characters), also the ``repr``; ``_repr_html_`` for notebooks;
* ``plot(ax=None)`` -- draws the result, returns the axes (never changes the matplotlib backend);
* ``to_json()`` -- the JSON-ready dict the CLI prints (finite numbers, ``None`` for missing values);
* ``at(x)`` for curves -- every 1-D variable along the curve coordinate, linearly interpolated at ``x`` (error
  O(h^2 max|y''|) for grid spacing h; exact on grid points).

A subclass implements :meth:`Result.to_xarray` (using :func:`variable` and :func:`coordinate` for the labels) and sets
:attr:`Result.curve_coord` if it is a curve; ``summary``, ``to_json``, ``plot`` and ``at`` have generic versions that
read the dataset, which a subclass may refine. ``legacy_json()`` returns keys kept for one release for scripts written
against quadnet 0.1 (see CHANGELOG.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from odes.common import hdf5io
from odes.common.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

SUMMARY_MAX_CHARS = 2000


def variable(dims: str | tuple[str, ...], values: Any, long_name: str, units: str = "1") -> tuple:
    """A data variable for ``xarray.Dataset(data_vars=...)``: ``(dims, values, {long_name, units})``."""
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    return dims, np.asarray(values), {"long_name": long_name, "units": units}


coordinate = variable  # same triple; used in ``coords=`` for readability


def params_attrs(params: Any) -> dict[str, Any]:
    """Dataset attributes describing a parameter dataclass: ``param_<name>`` for scalar fields, ``params_json``."""
    if params is None or not dataclasses.is_dataclass(params):
        return {}
    plain = _public_fields(params)
    attrs: dict[str, Any] = {"params_kind": type(params).__name__, "params_json": json.dumps(plain)}
    for k, v in plain.items():
        if isinstance(v, bool):
            attrs[f"param_{k}"] = int(v)
        elif isinstance(v, (int, float, str)):
            attrs[f"param_{k}"] = v
    return attrs


class Result(hdf5io.Saveable):
    """Base class of every quadnet result (see the module docstring for the protocol)."""

    #: name of the curve coordinate (``None`` for results that are not curves)
    curve_coord: ClassVar[str | None] = None

    # ---------------------------------------------------------------- to implement
    def to_xarray(self) -> xr.Dataset:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.to_xarray")

    def legacy_json(self) -> dict[str, Any]:
        """Keys of the quadnet 0.1 CLI JSON that have been renamed (emitted for one release)."""
        return {}

    # ---------------------------------------------------------------- generic implementations
    def dataset(self, variables: dict[str, tuple], coords: dict[str, tuple] | None = None,
                attrs: dict[str, Any] | None = None) -> xr.Dataset:
        """Build the labelled dataset of this result with the standard attributes (helper for ``to_xarray``)."""
        import xarray as xr

        base = {"quadnet_kind": hdf5io.kind_of(type(self)), "quadnet_version": __version__,
                **params_attrs(getattr(self, "params", None))}
        return xr.Dataset(data_vars=variables, coords=coords or {}, attrs={**base, **(attrs or {})})

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: ``kind``, ``params``, every scalar variable and every 1-D variable along the curve
        coordinate (with the coordinate), then the legacy keys. Non-finite numbers become ``None``."""
        ds = self.to_xarray()
        out: dict[str, Any] = {"kind": type(self).__name__}
        params = getattr(self, "params", None)
        if params is not None and dataclasses.is_dataclass(params):
            out["params"] = _public_fields(params)
        if self.curve_coord is not None and self.curve_coord in ds.coords:
            out[self.curve_coord] = _jsonable(ds[self.curve_coord].values)
        for name, da in ds.data_vars.items():
            if da.ndim == 0 or (self.curve_coord is not None and da.dims == (self.curve_coord,)):
                out[str(name)] = _jsonable(da.values)
        for k, v in self.legacy_json().items():
            out.setdefault(k, _jsonable(v))
        return out

    @staticmethod
    def json_along(ds: xr.Dataset, dim: str) -> dict[str, Any]:
        """JSON-ready values of the coordinate ``dim`` and of every variable of ``ds`` that is 1-D along ``dim``
        (for ``to_json`` of results with a second axis, e.g. the widths of a validation study)."""
        out = {dim: _jsonable(ds[dim].values)}
        out.update({str(k): _jsonable(v.values) for k, v in ds.data_vars.items() if v.dims == (dim,)})
        return out

    def summary(self) -> str:
        """A short text summary: kind, parameters, scalar values, and head/tail of the curves (< 2000 chars)."""
        ds = self.to_xarray()
        lines = [f"{type(self).__name__}"]
        params = getattr(self, "params", None)
        if params is not None and dataclasses.is_dataclass(params):
            items = [f"{k}={_short(v)}" for k, v in _public_fields(params).items()]
            lines.append("  params: " + _wrap(", ".join(items), 300))
        scalars = [(str(k), v) for k, v in ds.data_vars.items() if v.ndim == 0]
        for k, v in scalars[:20]:
            lines.append(f"  {k:<24} {_short(v.values)}")
        curves = [k for k, v in ds.data_vars.items() if v.ndim == 1]
        if self.curve_coord is not None and self.curve_coord in ds.coords and curves:
            x = ds[self.curve_coord].values
            shown = [k for k in curves if ds[k].dims == (self.curve_coord,)][:4]
            idx = sorted(set([0, 1, len(x) // 2, len(x) - 2, len(x) - 1]) & set(range(len(x))))
            lines.append("  " + "  ".join(f"{n:>12.12}" for n in [self.curve_coord, *map(str, shown)]))
            for i in idx:
                lines.append("  " + "  ".join(f"{_num(v):>12}" for v in [x[i], *(ds[k].values[i] for k in shown)]))
        others = [f"{k}{tuple(v.shape)}" for k, v in ds.data_vars.items() if v.ndim >= 1]
        if others:
            lines.append("  arrays: " + _wrap(", ".join(others), 400))
        text = "\n".join(lines)
        return text if len(text) < SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 4] + " ..."

    def table_along(self, dim: str, names: list[str], ds: xr.Dataset | None = None) -> str:
        """Text table (one row per value of the coordinate ``dim``) of the 1-D variables ``names`` along ``dim``,
        each ``x`` shown as ``x ± x_se`` when ``x_se`` exists: the per-width part of a validation summary."""
        ds = self.to_xarray() if ds is None else ds
        cols = [n for n in names if n in ds and ds[n].dims == (dim,)]
        rows = ["  " + "  ".join(f"{c:>20.20}" for c in [dim, *cols])]
        for i, x in enumerate(ds[dim].values):
            cells = [_num(x)]
            for c in cols:
                se = ds.get(c + "_se")
                cells.append(_num(ds[c].values[i]) + ("" if se is None else " ± " + f"{float(se.values[i]):.2g}"))
            rows.append("  " + "  ".join(f"{c:>20}" for c in cells))
        return "\n".join(rows)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.summary()) + "</pre>"

    def plot(self, ax: Any = None, **kw: Any) -> Any:
        """Every 1-D variable along the curve coordinate (standard errors as shaded bands); returns the axes."""
        import matplotlib.pyplot as plt

        ds = self.to_xarray()
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        if self.curve_coord is None:
            raise NotImplementedError(f"{type(self).__name__} has no generic plot; it is not a curve")
        x = ds[self.curve_coord].values
        for name, da in ds.data_vars.items():
            name = str(name)
            if da.dims != (self.curve_coord,) or name.endswith("_se"):
                continue
            (line,) = ax.plot(x, da.values, label=da.attrs.get("long_name", name), **kw)
            se = ds.get(name + "_se")
            if se is not None:
                ax.fill_between(x, da.values - se.values, da.values + se.values, color=line.get_color(), alpha=0.25,
                                lw=0)
        ax.set_xlabel(ds[self.curve_coord].attrs.get("long_name", self.curve_coord))
        ax.legend(fontsize="small")
        return ax

    def at(self, x: float | np.ndarray) -> dict[str, Any]:
        """Every 1-D variable along the curve coordinate, linearly interpolated at ``x`` (inside the grid only)."""
        from odes.common.errors import ParameterError

        if self.curve_coord is None:
            raise NotImplementedError(f"{type(self).__name__} is not a curve")
        ds = self.to_xarray()
        grid = ds[self.curve_coord].values
        xs = np.asarray(x, dtype=float)
        if not np.all(np.isfinite(xs)) or np.any(xs < grid.min()) or np.any(xs > grid.max()):
            raise ParameterError(self.curve_coord, f"must lie in the computed range [{grid.min():g}, {grid.max():g}]")
        return {str(k): np.interp(xs, grid, v.values) for k, v in ds.data_vars.items()
                if v.dims == (self.curve_coord,)}


def mean_and_se(x: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean over ``axis`` (S samples, e.g. seeds) and its standard error :math:`s/\sqrt S`, with s the sample
    standard deviation (ddof = 1) -- the ``<name>_se`` of the naming rule. The standard error is NaN (undefined)
    for S = 1."""
    x = np.asarray(x, dtype=float)
    S = x.shape[axis]
    mean = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(S) if S > 1 else np.full(mean.shape, np.nan)
    return mean, se


# ---------------------------------------------------------------------------------------------------------
def _public_fields(obj: Any) -> dict[str, Any]:
    return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if not f.name.startswith("_")}


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return None if math.isnan(v) else v
    return v


def _num(v: Any) -> str:
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return str(v)[:12]


def _short(v: Any) -> str:
    arr = np.asarray(v)
    if arr.ndim == 0:
        return _num(arr.item()) if arr.dtype.kind in "biuf" else str(arr.item())[:60]
    return f"array{arr.shape}"


def _wrap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 4] + " ..."
