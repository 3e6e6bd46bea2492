r"""Checkpoint / resume of a DMFT run (HDF5 via :func:`odes.common.hdf5io.write_mapping`).

File layout: attribute ``quadnet_kind = "dmft-checkpoint"``; groups ``params`` and ``settings`` (the run's
parameter objects, as mappings) and ``state`` (:class:`dmft.dynamics.state.SolverState`: all histories, the
two-time matrices, the step counter and the JSON-encoded bit-generator states); ``quadnet_format = 2`` and a SHA-256
digest of all contents (``quadnet_sha256``, :func:`odes.common.hdf5io.seal`), verified before a resume: a damaged
checkpoint is refused with an error naming the file, never resumed with changed numbers. The file is written to a
temporary name, fsync'ed and atomically renamed (:func:`odes.common.hdf5io.atomic_path`), so an interrupted write
(kill, full disk) never corrupts the previous checkpoint. A running solver holds an exclusive lock on the file
(:func:`odes.common.hdf5io.exclusive_lock`): a second run on the same path is refused up front.

A checkpoint can only be resumed by a run with the same model parameters and the same numerical settings
(all of :meth:`DMFTSettings.numerics_key`; ``checkpoint_every`` may differ): otherwise ParameterError. The one
exception is ``steps``: a run with *more* steps than the checkpoint continues it (the scheme is causal, row k of
every object only uses times <= k and the random streams are consumed step by step, so a T0-step run extended to
T steps is bitwise identical to a T-step run); fewer steps are refused. The loaded state itself is checked
(:func:`validate_state`: step counter in [0, steps + 1], array shapes, finiteness), so an edited or corrupt
file is refused instead of being resumed into wrong curves.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np

from dmft.dynamics.settings import DMFTSettings
from dmft.dynamics.state import SolverState
from dmft.params import ExtensiveWidthParams
from odes.common import hdf5io
from odes.common.errors import ParameterError
from odes.common.version import __version__

KIND = "dmft-checkpoint"


def _params_key(params: ExtensiveWidthParams) -> dict:
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def save_checkpoint(path: str | Path, params: ExtensiveWidthParams, settings: DMFTSettings,
                    state: SolverState) -> Path:
    """Write the full state (atomic replace). Returns the path."""
    path = Path(path)
    with hdf5io.atomic_path(path, stamp=True) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["quadnet_kind"] = KIND
        f.attrs["quadnet_version"] = __version__
        f.attrs["quadnet_format"] = hdf5io.FORMAT_VERSION
        hdf5io.write_mapping(f.create_group("params"), _params_key(params))
        hdf5io.write_mapping(f.create_group("settings"), settings.numerics_key())
        hdf5io.write_mapping(f.create_group("state"), state.to_mapping())
        hdf5io.seal(f)
    return path


def load_checkpoint(path: str | Path, params: ExtensiveWidthParams, settings: DMFTSettings) -> SolverState:
    """Read a checkpoint written by :func:`save_checkpoint` for the same (params, settings).

    Raises ParameterError('resume') if the file is not a DMFT checkpoint or its parameters/settings differ
    (``steps`` may be larger in the run than in the checkpoint: the caller then extends the state)."""
    path = Path(path)
    if not path.exists():
        raise ParameterError("resume", f"checkpoint file {str(path)!r} does not exist")
    with hdf5io.open_verified(path) as f:
        kind = f.attrs.get("quadnet_kind")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind != KIND:
            raise ParameterError("resume", f"{str(path)!r} is not a DMFT checkpoint (kind {kind!r})")
        saved_p = hdf5io.read_mapping(f["params"])
        saved_s = hdf5io.read_mapping(f["settings"])
        diffs = [f"{k}: checkpoint {saved_p.get(k)!r} != run {v!r}" for k, v in _params_key(params).items()
                 if saved_p.get(k) != v]
        diffs += [f"{k}: checkpoint {saved_s.get(k)!r} != run {v!r}" for k, v in settings.numerics_key().items()
                  if k != "steps" and saved_s.get(k) != v]
        if saved_s.get("steps", -1) > settings.steps:
            diffs.append(f"steps: checkpoint {saved_s.get('steps')!r} > run {settings.steps!r} (a run can be "
                         "extended, not shortened)")
        if diffs:
            raise ParameterError("resume", "checkpoint does not match this run (" + "; ".join(diffs) + ")")
        try:
            state = SolverState.from_mapping(hdf5io.read_mapping(f["state"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError("resume", f"{str(path)!r}: unreadable solver state ({exc})") from None
    validate_state(state, settings, int(saved_s.get("steps", -1)), path)
    return state


def validate_state(state: SolverState, settings: DMFTSettings, steps: int, path: str | Path = "checkpoint"
                   ) -> None:
    """Refuse (ParameterError('resume')) a loaded state that cannot come from ``steps`` steps of ``settings``:
    step counter k outside [0, steps + 1] (k = steps + 1 is a finished run), array shapes other than those of
    :meth:`SolverState.empty` (Ns = samples, d = d_eff, T = steps, nb = Ns probes), non-finite entries."""
    ns, d, nb, T = settings.samples, settings.d_eff, settings.samples * settings.probes, steps
    where = f"checkpoint {str(path)!r}"
    if T < 1:
        raise ParameterError("resume", f"{where}: stored steps = {T} is not a valid step count")
    if not 0 <= state.k <= T + 1:
        raise ParameterError("resume", f"{where}: step counter k = {state.k} outside [0, {T + 1}] for a "
                                       f"{T}-step run (corrupt or edited checkpoint)")
    want = {"Sstar": (ns, d, d), "S": (ns, d, d), "Dh": (ns, T + 1, d, d), "Ph": (ns, T, d, d),
            "SPh": (ns, T, d, d), "Gam": (ns, T + 1, d, d), "CSs": (ns, T + 1, T + 1), "RSs": (ns, T + 1, T + 1),
            "CS": (T + 1, T + 1), "RS": (T + 1, T + 1), "B": (T + 1, T + 1), "Ce": (T + 1, T + 1),
            "L": (T + 1, T + 1), "RSeq_h": (nb, T + 1), "RSeq_x": (ns, T + 1)}
    for name, shape in want.items():
        a = getattr(state, name)
        if a.shape != shape:
            raise ParameterError("resume", f"{where}: array {name} has shape {a.shape}, expected {shape} for "
                                           f"samples = {ns}, d_eff = {d}, probes = {settings.probes}, steps = {T}")
        if not np.isfinite(a).all():
            raise ParameterError("resume", f"{where}: array {name} contains NaN or inf (corrupt checkpoint)")
