"""One file format for every quadnet result: netCDF4-compatible HDF5, atomic, checksummed, typed by a registry.

Format version 2 (written by :func:`save`)
------------------------------------------
* **Root group = the labelled data.** If the object has ``to_xarray()`` (every result of the library does, see
  :mod:`odes.common.result`), that ``xarray.Dataset`` is written at the root with ``h5netcdf``: real coordinates
  (dimension scales, ``long_name``/``units`` attributes), so ``xarray.open_dataset(path, engine="h5netcdf")``
  opens any result without ``phony_dim``.
* **Group ``quadnet_object`` = the exact object**, field by field: arrays and lists of numbers -> datasets
  (attribute ``pytype`` records ``list``/``tuple``), scalars -> attributes (``None`` listed in ``none_fields``),
  nested dataclasses (the parameter object) and dicts -> subgroups. :func:`load` rebuilds an equal object from it
  (parameter objects through their constructor, so they are validated again).
* **Extra results** (``save(..., extras={"interpolation": obj})``) go to groups ``/<name>`` with the same layout
  (labelled data in the group, exact object in ``/<name>/quadnet_object``); ``load(path, group="/<name>")``.
* Root attributes ``quadnet_kind`` (``"module:QualName"``), ``quadnet_version``, ``quadnet_format = 2`` and
  ``quadnet_sha256``: a SHA-256 digest of *every* dataset (dtype, shape, bytes) and attribute in the file, in a
  canonical order (:func:`file_digest`). :func:`load` recomputes it and raises :class:`CorruptFileError`, naming
  the file, when it differs: a damaged file never loads with silently different numbers.
* **Raw-byte checksum.** A 512-byte HDF5 user block at the start of the file holds the SHA-256 of all the bytes
  after it (:func:`stamp_userblock`), checked before the HDF5 library parses the file: corrupted metadata can make
  HDF5 loop forever, so a damaged file must be refused before it is opened. HDF5, h5py and xarray read such files
  unchanged (the superblock is found at offset 512).
* **Atomic and never destructive.** The file is written to a temporary name in the target directory, flushed,
  fsync'ed and renamed over the target (``os.replace``), so a kill or a full disk leaves either the previous file or
  the new one, never a truncated mix. An existing target is replaced only with ``overwrite=True``
  (:class:`OutputExistsError` otherwise).
* **Typed by an explicit registry.** A file names its class in ``quadnet_kind``; :func:`load` builds only classes in
  the registry (:data:`LIBRARY_KINDS`, plus those added with :func:`register`) and refuses any other kind
  (:class:`UnknownKindError`): loading never imports a module a file names.

Format 1 (quadnet 0.1: object fields at the root, no digest) still loads, through the same registry.
The low-level :func:`write_mapping` / :func:`read_mapping` and :func:`seal` / :func:`verify` serve checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import importlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from odes.common.errors import QuadnetError
from odes.common.version import __version__

FORMAT_VERSION = 2
_KIND = "quadnet_kind"
_DIGEST = "quadnet_sha256"
OBJECT_GROUP = "quadnet_object"

#: Every result, parameter and settings class of the library that a file may name. ``load`` builds these and no
#: other (besides classes registered explicitly with :func:`register`). Renamed classes keep their old name here as
#: an alias, so that files written by earlier versions still load.
LIBRARY_KINDS: dict[str, str] = {k: k for k in (
    "odes.finite_width.params:FiniteWidthParams",
    "odes.finite_width.integrate:OverlapTrajectory",
    "odes.population.params:HighDimParams",
    "odes.population.params:PowerLawParams",
    "odes.population.params:OnlineSGDParams",
    "odes.population.highdim:HighDimResult",
    "odes.population.riccati:MatrixFlowResult",
    "odes.population.powerlaw:PowerLawResult",
    "odes.population.powerlaw:ExponentFit",
    "dmft.params:ExtensiveWidthParams",
    "dmft.stationary:StationarySolution",
    "dmft.thresholds:AlphaC",
    "dmft.thresholds:InterpolationThreshold",
    "dmft.thresholds:DoubleDescentPeak",
    "dmft.dynamics.settings:DMFTSettings",
    "dmft.dynamics.result:DMFTResult",
    "dmft.dynamics.result:DMFTCurve",
    "dmft.dynamics.gradient_flow:FlowSettings",
    "dmft.dynamics.gradient_flow:FlowResult",
    "dmft.dynamics.curve:CurveResult",
    "validation.compare_ode:ODEComparison",
    "validation.compare_ode:WidthComparison",
    "validation.compare_stationary:StationaryValidation",
    "validation.compare_stationary:RecoveryCurve",
    "validation.compare_population:PopulationValidation",
    "validation.compare_dmft:DMFTValidation",
    "validation.compare_dmft:DMFTComparison",
    "validation.online_sgd:OnlineSGDResult",
    "validation.population_sgd:SGDComparison",
    "validation.gd_simulator:GDSimulation",
)}
_REGISTERED: dict[str, type] = {}


class FileFormatError(QuadnetError, ValueError):
    """A file that is not a readable quadnet file (the message names the file)."""


class CorruptFileError(FileFormatError):
    """A quadnet file whose contents do not match its stored checksum, or that HDF5 cannot read."""


class UnknownKindError(FileFormatError):
    """A file names a class that is not in the registry of quadnet types."""


class OutputExistsError(QuadnetError, FileExistsError):
    """The target of a save exists and ``overwrite`` was not given."""


class FileInUseError(QuadnetError, ValueError):
    """Another quadnet process holds the lock of this file (e.g. two runs on one checkpoint)."""


class OutputWriteError(QuadnetError, OSError):
    """Writing a file failed (full disk, permissions...). The previous file at that path, if any, is intact."""


def kind_of(cls: type) -> str:
    """The ``quadnet_kind`` string of a class: ``"module:QualName"``."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register(cls: type) -> type:
    """Allow :func:`load` to build ``cls`` (a dataclass) from files naming it. Usable as a class decorator.

    The library's own types are registered already (:data:`LIBRARY_KINDS`); use this for your own result classes."""
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"hdf5io.register expects a dataclass type, got {cls!r}")
    _REGISTERED[kind_of(cls)] = cls
    return cls


def resolve_kind(kind: str, path: str | Path | None = None) -> type:
    """The class a ``quadnet_kind`` names, if it is registered; :class:`UnknownKindError` otherwise."""
    if kind in _REGISTERED:
        return _REGISTERED[kind]
    target = LIBRARY_KINDS.get(kind)
    if target is None:
        where = f"{str(path)!r}: " if path is not None else ""
        raise UnknownKindError(f"{where}unknown result kind {kind!r}: not a quadnet type (register your own "
                               "classes with odes.common.hdf5io.register)")
    module, qualname = target.split(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls


# ------------------------------------------------------------------------------------------------ save / load
def save(obj: Any, path: str | Path, *, overwrite: bool = False, extras: dict[str, Any] | None = None,
         attrs: dict[str, Any] | None = None) -> Path:
    """Write dataclass ``obj`` (and optional named ``extras``) to ``path`` atomically. Returns the path.

    Raises :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is false, and
    :class:`OutputWriteError` if writing fails (the previous file, if any, is then untouched)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{str(path)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    with atomic_path(path, stamp=True) as tmp:
        members = {"": obj, **(extras or {})}
        for name, member in members.items():
            ds = member.to_xarray() if hasattr(member, "to_xarray") else None
            if ds is not None:
                ds.to_netcdf(tmp, engine="h5netcdf", mode="a" if tmp.exists() else "w",
                             group=name or None, invalid_netcdf=True)
        with h5py.File(tmp, "a") as f:
            for name, member in members.items():
                g = f.require_group(name) if name else f
                _write_dataclass(g.create_group(OBJECT_GROUP), member)
                g.attrs[_KIND] = kind_of(type(member))
            f.attrs["quadnet_version"] = __version__
            f.attrs["quadnet_format"] = FORMAT_VERSION
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            seal(f)
    return path


def load(path: str | Path, *, group: str = "/") -> Any:
    """Read back the object written by :func:`save` (checksum verified; kind resolved through the registry).

    Raises :class:`CorruptFileError` / :class:`FileFormatError` / :class:`UnknownKindError` naming the file."""
    path = Path(path)
    with open_verified(path) as f:
        g = f[group] if group not in ("/", "") else f
        if _attr(f, "quadnet_format", 1) >= 2:
            if OBJECT_GROUP not in g:
                raise FileFormatError(f"{str(path)!r}: group {group!r} holds no quadnet object")
            return _read_node(g[OBJECT_GROUP], path)
        return _read_node(g, path)


def read_attrs(path: str | Path, *, group: str = "/") -> dict[str, Any]:
    """Top-level attributes of a saved result (version, kind, format) and, for format 1, its scalar fields."""
    with open_verified(Path(path)) as f:
        g = f[group] if group not in ("/", "") else f
        out = {k: _from_attr(v) for k, v in f.attrs.items()}
        out.update({k: _from_attr(v) for k, v in g.attrs.items() if not _is_netcdf_internal(k)})
        return out


@contextlib.contextmanager
def open_verified(path: str | Path) -> Iterator[h5py.File]:
    """Open a quadnet file read-only after checking that it is one and (format >= 2) that its digest matches."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    _check_userblock(path)  # every byte, before HDF5 parses anything
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptFileError(f"{str(path)!r} is not a readable HDF5 file (damaged or not a quadnet file: "
                               f"{_first_line(exc)})") from None
    try:
        if _KIND not in f.attrs and "quadnet_format" not in f.attrs:
            raise FileFormatError(f"{str(path)!r} is not a quadnet file (no quadnet_kind attribute)")
        verify(f, path)
        yield f
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        if isinstance(exc, QuadnetError):
            raise
        raise CorruptFileError(f"{str(path)!r} is damaged: {_first_line(exc)}") from None
    finally:
        f.close()


# ------------------------------------------------------------------------------------- atomic writes, digests
USERBLOCK_SIZE = 512
_STAMP = b"QUADNET-SHA256 "


def stamp_userblock(path: Path) -> str:
    """Prepend a 512-byte HDF5 user block holding the SHA-256 of the file's bytes (``QUADNET-SHA256 <hex>``).

    HDF5 finds the superblock at offset 512 and reads the file unchanged (h5py, h5netcdf, xarray); the digest lets
    :func:`open_verified` check every byte *before* HDF5 parses the file, so a damaged file is refused instead of
    being handed to the HDF5 library (which can loop forever on some corrupted metadata)."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    head = (_STAMP + digest.encode() + b"\n").ljust(USERBLOCK_SIZE, b"\0")
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(data)
    return digest


def _check_userblock(path: Path) -> bool:
    """True if ``path`` starts with a quadnet user block whose digest matches the rest of the file; False if it has
    none (format 1 or a foreign file); CorruptFileError if the digest does not match."""
    with open(path, "rb") as fh:
        head = fh.read(USERBLOCK_SIZE)
        if not head.startswith(_STAMP) or len(head) < USERBLOCK_SIZE:
            return False
        stored = head[len(_STAMP):len(_STAMP) + 64].decode(errors="replace")
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != stored:
        raise CorruptFileError(f"{str(path)!r} is damaged: its bytes do not match the stored SHA-256 checksum")
    return True


@contextlib.contextmanager
def atomic_path(path: str | Path, *, stamp: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success (``stamp``: add the checksummed user block,
    :func:`stamp_userblock`) fsync it and rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was; OS errors are re-raised as
    :class:`OutputWriteError` naming ``path`` (e.g. "No space left on device")."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        if stamp:
            stamp_userblock(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, QuadnetError):
            raise OutputWriteError(f"could not write {str(path)!r}: {exc.strerror or _first_line(exc)}; "
                                   "any previous file there is unchanged") from None
        raise


@contextlib.contextmanager
def exclusive_lock(path: str | Path, *, option: str = "checkpoint") -> Iterator[None]:
    """Hold an exclusive advisory lock (``flock`` on the side file ``.NAME.lock``) for the duration of a run that
    writes ``path`` repeatedly; a second process asking for it gets :class:`FileInUseError` at once, before any
    work. The lock dies with its process (no stale locks after a kill)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    lock = path.parent / f".{path.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileInUseError(f"--{option} {str(path)!r} is in use by another quadnet run; wait for it to "
                                 "finish or choose another file") from None
        yield
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_digest(f: h5py.File) -> str:
    """SHA-256 of a file's contents: every group, dataset (name, dtype, shape, bytes) and attribute (name,
    value), visited in sorted order; the digest attribute itself is excluded and object references are replaced by
    the name of the object they point to (addresses are not content)."""
    h = hashlib.sha256()

    def feed_attrs(node: h5py.HLObject) -> None:
        for k in sorted(node.attrs.keys()):
            if k == _DIGEST:
                continue
            h.update(b"A" + k.encode())
            h.update(_canonical(node.attrs[k], f))

    def visit(node: h5py.Group, prefix: str) -> None:
        feed_attrs(node)
        for name in sorted(node.keys()):
            child = node[name]
            h.update(b"N" + (prefix + name).encode())
            if isinstance(child, h5py.Group):
                visit(child, prefix + name + "/")
            else:
                h.update(f"{child.dtype.str}{child.shape}".encode())
                h.update(_canonical(child[()], f))
                feed_attrs(child)

    visit(f, "/")
    return h.hexdigest()


def seal(f: h5py.File) -> str:
    """Store :func:`file_digest` in the root attribute ``quadnet_sha256`` (call last, file open for writing)."""
    f.flush()
    digest = file_digest(f)
    f.attrs[_DIGEST] = digest
    return digest


def verify(f: h5py.File, path: str | Path) -> None:
    """Check a file's stored digest. Files without one are accepted only if they are format 1 (older versions)."""
    stored = f.attrs.get(_DIGEST)
    if stored is None:
        if _attr(f, "quadnet_format", 1) >= 2:
            raise CorruptFileError(f"{str(path)!r} has no checksum (quadnet_sha256): damaged or not written by quadnet")
        return
    if _from_attr(stored) != file_digest(f):
        raise CorruptFileError(f"{str(path)!r} is damaged: its contents do not match the stored SHA-256 checksum")


def _canonical(value: Any, f: h5py.File) -> bytes:
    arr = np.asarray(value)
    if arr.dtype.kind == "O" or arr.dtype.names is not None:  # strings, references, compound (REFERENCE_LIST)
        return repr(_plain(value, f)).encode()
    return f"{arr.dtype.str}{arr.shape}".encode() + np.ascontiguousarray(arr).tobytes()


def _plain(value: Any, f: h5py.File) -> Any:
    if isinstance(value, h5py.Reference):
        return f[value].name if value else None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.void) or (isinstance(value, tuple)):
        return tuple(_plain(v, f) for v in value)
    if isinstance(value, np.ndarray):
        return [_plain(v, f) for v in value.tolist()] if value.dtype.names is None else \
            [_plain(tuple(row), f) for row in value]
    if isinstance(value, (list, tuple)):
        return [_plain(v, f) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------
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


def read_mapping(g: h5py.Group, path: str | Path | None = None) -> dict[str, Any]:
    """Inverse of :func:`write_mapping`."""
    out: dict[str, Any] = {}
    skip = {_KIND, "quadnet_version", "quadnet_format", "none_fields", "pytype", _DIGEST}
    for k, v in g.attrs.items():
        if k not in skip and not _is_netcdf_internal(k):
            out[k] = _from_attr(v)
    for name in g.attrs.get("none_fields", []):
        out[_from_attr(name)] = None
    for name, node in g.items():
        if name == OBJECT_GROUP or _is_netcdf_dimension(node):
            continue
        out[name] = _read_node(node, path)
    return out


def _write_dataclass(g: h5py.Group, obj: Any) -> None:
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        raise TypeError(f"hdf5io.save expects a dataclass instance, got {type(obj).__name__}")
    g.attrs[_KIND] = kind_of(type(obj))
    write_mapping(g, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def _read_node(node: h5py.Group | h5py.Dataset, path: str | Path | None = None) -> Any:
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
    values = read_mapping(node, path)
    if kind is None:
        return values
    cls = resolve_kind(_from_attr(kind), path)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    obj = cls(**{k: v for k, v in values.items() if k in names})
    for f in dataclasses.fields(cls):  # non-init fields (rare): restore as stored
        if not f.init and f.name in values:
            object.__setattr__(obj, f.name, values[f.name])
    return obj


def _is_netcdf_internal(name: str) -> bool:
    return name in ("CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST", "_NCProperties", "_FillValue") or \
        name.startswith("_Netcdf4")


def _is_netcdf_dimension(node: Any) -> bool:
    return isinstance(node, h5py.Dataset) and "CLASS" in node.attrs


def _attr(f: h5py.Group, name: str, default: Any) -> Any:
    return _from_attr(f.attrs[name]) if name in f.attrs else default


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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

    def save(self, path: str | Path, *, overwrite: bool = False, extras: dict[str, Any] | None = None) -> Path:
        """Write this result (with its parameters and the library version) to ``path`` atomically.

        An existing file is replaced only with ``overwrite=True``."""
        return save(self, path, overwrite=overwrite, extras=extras)

    @classmethod
    def load(cls, path: str | Path, *, group: str = "/") -> Any:
        """Read a result written by :meth:`save` (checksum verified)."""
        obj = load(path, group=group)
        if not isinstance(obj, cls):
            raise TypeError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj
