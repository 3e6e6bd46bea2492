"""One HDF5 format for every quadnet result (and parameter) object.

Protocol (format version 1)
---------------------------
A result is a ``dataclass``. :func:`save` writes it to a group:

* group attributes ``quadnet_kind`` (``"module:QualName"`` of the class), ``quadnet_version`` (library version)
  and ``quadnet_format`` (this protocol's version);
* fields holding ``numpy`` arrays, lists or tuples of numbers -> datasets (attribute ``pytype`` records
  ``list``/``tuple`` so they come back as such);
* scalars (``int``, ``float``, ``bool``, ``str``, ``None``) -> attributes (``None`` is listed in the
  attribute ``none_fields``);
* nested dataclasses (for example the parameter object of the run) and ``dict`` fields -> subgroups,
  recursively.

:func:`load` imports the recorded class and rebuilds an equal object (compare with :func:`equal`, which
understands arrays). Parameter objects are rebuilt through their constructor, so they are validated again.
The low-level :func:`write_mapping` / :func:`read_mapping` are used by checkpoints.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from odes.common.version import __version__

FORMAT_VERSION = 1
_KIND = "quadnet_kind"


def save(obj: Any, path: str | Path, *, group: str = "/", mode: str = "w",
         extra_attrs: dict[str, Any] | None = None) -> Path:
    """Write dataclass ``obj`` to ``path`` (group ``group``). Returns the path."""
    path = Path(path)
    with h5py.File(path, mode) as f:
        g = f.require_group(group) if group not in ("/", "") else f
        _write_dataclass(g, obj)
        g.attrs["quadnet_version"] = __version__
        g.attrs["quadnet_format"] = FORMAT_VERSION
        for k, v in (extra_attrs or {}).items():
            g.attrs[k] = v
    return path


def load(path: str | Path, *, group: str = "/") -> Any:
    """Read back the object written by :func:`save`."""
    with h5py.File(Path(path), "r") as f:
        g = f[group] if group not in ("/", "") else f
        return _read_node(g)


def read_attrs(path: str | Path, *, group: str = "/") -> dict[str, Any]:
    """Top-level attributes of a saved result (version, kind, scalar fields)."""
    with h5py.File(Path(path), "r") as f:
        g = f[group] if group not in ("/", "") else f
        return {k: _from_attr(v) for k, v in g.attrs.items()}


def equal(a: Any, b: Any, *, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Structural equality of two results (arrays compared elementwise, NaNs equal)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return False
        return all(equal(getattr(a, f.name), getattr(b, f.name), rtol=rtol, atol=atol)
                   for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            equal(a[k], b[k], rtol=rtol, atol=atol) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a_, b_ = np.asarray(a), np.asarray(b)
        if a_.shape != b_.shape:
            return False
        if a_.dtype.kind in "fc" or b_.dtype.kind in "fc":
            return bool(np.allclose(a_, b_, rtol=rtol, atol=atol, equal_nan=True))
        return bool(np.array_equal(a_, b_))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(
            equal(x, y, rtol=rtol, atol=atol) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


# ---------------------------------------------------------------------------------------------------------
def write_mapping(g: h5py.Group, mapping: dict[str, Any]) -> None:
    """Write a ``{name: value}`` mapping into group ``g`` with the same rules as dataclass fields."""
    none_fields = []
    for name, value in mapping.items():
        if name in g:
            del g[name]
        if value is None:
            none_fields.append(name)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            _write_dataclass(g.create_group(name), value)
        elif isinstance(value, dict):
            sub = g.create_group(name)
            sub.attrs["pytype"] = "dict"
            write_mapping(sub, value)
        elif isinstance(value, np.ndarray):
            g.create_dataset(name, data=value)
        elif isinstance(value, (list, tuple)):
            arr = np.asarray(value)
            if arr.dtype.kind not in "biufc":
                arr = np.asarray([str(v) for v in value], dtype=h5py.string_dtype())
            ds = g.create_dataset(name, data=arr)
            ds.attrs["pytype"] = type(value).__name__
        elif isinstance(value, (bool, int, float, str, np.generic)):
            g.attrs[name] = value
        else:
            raise TypeError(f"cannot store field {name!r} of type {type(value).__name__} in HDF5")
    g.attrs["none_fields"] = np.asarray(none_fields, dtype=h5py.string_dtype())


def read_mapping(g: h5py.Group) -> dict[str, Any]:
    """Inverse of :func:`write_mapping`."""
    out: dict[str, Any] = {}
    skip = {_KIND, "quadnet_version", "quadnet_format", "none_fields", "pytype"}
    for k, v in g.attrs.items():
        if k not in skip:
            out[k] = _from_attr(v)
    for name in g.attrs.get("none_fields", []):
        out[_from_attr(name)] = None
    for name, node in g.items():
        out[name] = _read_node(node)
    return out


def _write_dataclass(g: h5py.Group, obj: Any) -> None:
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        raise TypeError(f"hdf5io.save expects a dataclass instance, got {type(obj).__name__}")
    cls = type(obj)
    g.attrs[_KIND] = f"{cls.__module__}:{cls.__qualname__}"
    write_mapping(g, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def _read_node(node: h5py.Group | h5py.Dataset) -> Any:
    if isinstance(node, h5py.Dataset):
        data = node[()]
        if isinstance(data, np.ndarray) and data.dtype.kind in "OS":
            data = np.array([_from_attr(x) for x in data], dtype=object)
        pytype = _from_attr(node.attrs.get("pytype", ""))
        if pytype == "list":
            return [_from_attr(x) for x in np.asarray(data).tolist()]
        if pytype == "tuple":
            return tuple(_from_attr(x) for x in np.asarray(data).tolist())
        return data
    kind = node.attrs.get(_KIND)
    values = read_mapping(node)
    if kind is None:
        return values
    module, qualname = _from_attr(kind).split(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    obj = cls(**{k: v for k, v in values.items() if k in names})
    for f in dataclasses.fields(cls):  # non-init fields (rare): restore as stored
        if not f.init and f.name in values:
            object.__setattr__(obj, f.name, values[f.name])
    return obj


def _from_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


class Saveable:
    """Mixin for result dataclasses: ``obj.save(path)`` and ``Cls.load(path)`` in the format of this module.

    ``load`` checks that the file holds an object of this class (or a subclass) and raises TypeError otherwise.
    """

    def save(self, path: str | Path, *, group: str = "/", mode: str = "w") -> Path:
        """Write this result (with its parameters and the library version) to HDF5."""
        return save(self, path, group=group, mode=mode)

    @classmethod
    def load(cls, path: str | Path, *, group: str = "/") -> Any:
        """Read a result written by :meth:`save`."""
        obj = load(path, group=group)
        if not isinstance(obj, cls):
            raise TypeError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj
