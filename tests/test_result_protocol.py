"""One test of the whole result protocol, parametrized over every registered result type (issue 10).

For each example instance (built by really running the solvers at tiny sizes, ``test_result_protocol_cases.py``):
save/load round trip through the checksummed netCDF4 file, ``xarray.open_dataset`` with real coordinates and no
``phony_dim``, ``long_name``/``units`` on everything, the standard-error naming rule, ``summary``/``repr`` shorter
than 2000 characters, ``plot`` returning axes with a non-empty line, ``to_json`` finite, and ``at`` on curves exact
on grid points. A new family's result type that is registered but has no example, or that breaks the protocol,
fails here loudly."""

from __future__ import annotations

import importlib
import json
import pkgutil

import numpy as np
import pytest

from odes.common import hdf5io
from odes.common.result import SUMMARY_MAX_CHARS, Result
from tests import test_result_protocol_cases as cases_module
from tests.helpers import all_finite


def _all_cases() -> list:
    out = []
    for name in sorted(dir(cases_module)):
        if name.startswith("cases_"):
            out += getattr(cases_module, name)()
    return out


@pytest.fixture(scope="module")
def cases() -> list:
    return _all_cases()


def _result_classes() -> set[type]:
    """Every Result subclass defined in the library packages (imports all modules)."""
    for pkg in ("odes", "dmft", "validation"):
        mod = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(mod.__path__, prefix=pkg + "."):
            if ".cli" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    seen, todo = set(), [Result]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return {c for c in seen if c.__module__.split(".")[0] in ("odes", "dmft", "validation")
            and not c.__name__.startswith("_")}


def test_every_result_type_is_registered_and_has_an_example(cases):
    classes = _result_classes()
    kinds = {hdf5io.kind_of(c) for c in classes}
    assert kinds <= set(hdf5io.LIBRARY_KINDS), f"not in the registry: {sorted(kinds - set(hdf5io.LIBRARY_KINDS))}"
    covered = {type(c) for c in cases}
    missing = {c.__name__ for c in classes} - {c.__name__ for c in covered}
    assert not missing, f"result types without an example in test_result_protocol_cases.py: {sorted(missing)}"
    for kind in hdf5io.LIBRARY_KINDS:  # every registry entry resolves to a dataclass
        assert hdf5io.resolve_kind(kind)


def test_protocol_for_every_example(cases, tmp_path):
    import matplotlib

    matplotlib.use("Agg")  # the test's choice; library code never switches the backend
    import matplotlib.pyplot as plt
    import xarray as xr

    failures = []
    for i, res in enumerate(cases):
        name = type(res).__name__
        try:
            assert isinstance(res, Result), "does not derive from odes.common.result.Result"
            path = res.save(tmp_path / f"{i}_{name}.h5")
            back = hdf5io.load(path)
            assert type(back) is type(res) and hdf5io.equal(back, res), "round trip changed the object"
            ds = res.to_xarray()
            with xr.open_dataset(path, engine="h5netcdf") as opened:
                assert not [d for d in opened.dims if str(d).startswith("phony_dim")], "phony_dim in the file"
                assert set(opened.data_vars) == set(ds.data_vars), "file and to_xarray() differ"
                for v in opened.data_vars:
                    np.testing.assert_array_equal(np.asarray(opened[v].values), np.asarray(ds[v].values))
            for v in [*ds.data_vars, *ds.coords]:
                attrs = ds[v].attrs
                assert attrs.get("long_name") and "units" in attrs, f"{v}: long_name/units missing"
                assert not str(v).endswith(("_std", "_sem")), f"{v}: standard errors are named <name>_se"
            if getattr(res, "params", None) is not None:
                assert "params_json" in ds.attrs
            text = res.summary()
            assert 0 < len(text) < SUMMARY_MAX_CHARS and repr(res) == text, f"summary/repr: {len(text)} chars"
            assert "<pre>" in res._repr_html_()
            payload = res.to_json()
            json.dumps(payload, allow_nan=False)
            assert all_finite(payload), "non-finite number in to_json()"
            assert payload["kind"] == name
            ax = res.plot()
            assert ax is not None and (ax.lines or ax.collections or ax.images or ax.patches), "empty plot"
            plt.close("all")
            if res.curve_coord is not None:
                grid = ds[res.curve_coord].values
                at = res.at(grid[len(grid) // 2])
                for v, val in at.items():
                    assert np.allclose(val, ds[v].values[len(grid) // 2], equal_nan=True), f"at() off for {v}"
        except Exception as exc:  # collect, so that one run lists every broken type
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)
