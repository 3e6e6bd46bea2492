"""Files you can trust (issue 9 §2-3): atomic never-destructive saves, checksums, the type registry, old files,
faults (full disk, SIGKILL, byte flips, two writers on one checkpoint), and the CLI's overwrite rule."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from dmft.dynamics import DMFTSettings
from dmft.dynamics.checkpoint import load_checkpoint, save_checkpoint
from dmft.dynamics.solver import initial_state as dmft_initial_state
from dmft.params import ExtensiveWidthParams
from odes.common import hdf5io
from odes.finite_width import FiniteWidthParams
from odes.finite_width.integrate import OverlapTrajectory, initial_overlaps, integrate_overlaps
from validation.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
# Set B of the spec (shared/theory/extensive_static.md): alpha = 1, kappa = 1, kappa* = 0.5, lam = 0.05, Delta = 0.5
SET_B_TEST, SET_B_TRAIN = 0.2736755, 0.3011999


@pytest.fixture(scope="module")
def trajectory() -> OverlapTrajectory:
    p = FiniteWidthParams(2, 1, gamma=0.1)
    Q0, M0 = initial_overlaps(p, np.array([[0.2], [0.1]]))
    return integrate_overlaps(p, Q0, M0, alphas=[0, 1, 2, 5])


def _flip(data: bytes, pos: int) -> bytes:
    d = bytearray(data)
    d[pos] ^= 0xFF
    return bytes(d)


def test_format1_files_still_load():
    """Files written by quadnet 0.1 (format 1, committed fixtures) load through the registry; the stationary one
    holds the spec's set-B values."""
    s = hdf5io.load(DATA / "format1_stationary.h5")
    assert s.test_error == pytest.approx(SET_B_TEST, abs=1e-6)
    assert s.train_error == pytest.approx(SET_B_TRAIN, abs=1e-6)
    tr = hdf5io.load(DATA / "format1_overlap_trajectory.h5")
    assert isinstance(tr, OverlapTrajectory) and tr.alpha.tolist() == [0, 1, 2, 5]
    p = FiniteWidthParams(2, 1, gamma=0.1)  # the file must hold what a fresh integration gives today
    Q0, M0 = initial_overlaps(p, np.array([[0.2], [0.1]]))
    fresh = integrate_overlaps(p, Q0, M0, alphas=[0, 1, 2, 5])
    np.testing.assert_allclose(tr.eps_g, fresh.eps_g, rtol=1e-12)


def test_save_refuses_to_overwrite_and_is_atomic(tmp_path, trajectory, monkeypatch):
    path = trajectory.save(tmp_path / "r.h5")
    before = path.read_bytes()
    with pytest.raises(hdf5io.OutputExistsError, match="overwrite"):
        trajectory.save(path)
    assert path.read_bytes() == before

    # a full disk in the middle of the write: the old file survives, the error names the path, no temp file is left
    def enospc(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hdf5io, "seal", enospc)
    with pytest.raises(hdf5io.OutputWriteError, match="No space left on device.*unchanged"):
        trajectory.save(path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]
    monkeypatch.undo()
    trajectory.save(path, overwrite=True)
    assert hdf5io.equal(OverlapTrajectory.load(path), trajectory)


def test_byte_flips_never_load_silently_changed(tmp_path, trajectory):
    """Every single-byte flip either leaves the object unchanged (unused bytes) or is refused with a
    FileFormatError naming the file: the stored SHA-256 covers every dataset and attribute."""
    path = trajectory.save(tmp_path / "r.h5")
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    refused = 0
    for pos in rng.choice(len(data), size=150, replace=False):
        bad = tmp_path / "bad.h5"
        bad.write_bytes(_flip(data, int(pos)))
        try:
            back = hdf5io.load(bad)
        except hdf5io.FileFormatError as exc:
            assert "bad.h5" in str(exc)
            refused += 1
            continue
        assert hdf5io.equal(back, trajectory), f"flip at byte {pos} loaded different numbers"
    assert refused > 15  # many flips hit real content (the rest hit padding or free space)


def test_digest_covers_datasets_and_attributes(tmp_path, trajectory):
    path = trajectory.save(tmp_path / "r.h5")
    with h5py.File(path, "a") as f:  # an edit that keeps HDF5 valid: only the checksum can catch it
        f["quadnet_object/eps_g"][1] += 1e-9
    with pytest.raises(hdf5io.CorruptFileError, match="r.h5.*checksum"):
        hdf5io.load(path)
    path = trajectory.save(tmp_path / "s.h5")
    with h5py.File(path, "a") as f:
        f["quadnet_object"].attrs["rtol"] = 1e-3
    with pytest.raises(hdf5io.CorruptFileError):
        hdf5io.load(path)


def test_hostile_kind_is_refused_without_importing(tmp_path):
    """A file naming a module outside the registry is refused before anything is imported (the Zen of Python,
    printed by importing ``this``, must not appear)."""
    path = tmp_path / "evil.h5"
    with h5py.File(path, "w") as f:
        f.attrs["quadnet_kind"] = "this:Zen"
        f.attrs["quadnet_format"] = 1
    code = textwrap.dedent(f"""
        from odes.common import hdf5io
        try:
            hdf5io.load({str(path)!r})
        except hdf5io.UnknownKindError as exc:
            print("REFUSED", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "REFUSED" in out.stdout and "this:Zen" in out.stdout
    assert "Beautiful is better" not in out.stdout + out.stderr


def test_sigkill_during_save_leaves_old_or_new_file(tmp_path):
    """SIGKILL at random moments of a loop of saves over one path: the file always loads (old or new content)."""
    target = tmp_path / "big.h5"
    code = textwrap.dedent(f"""
        import numpy as np, sys
        from dataclasses import dataclass
        from odes.common import hdf5io
        @hdf5io.register
        @dataclass(frozen=True, eq=False)
        class Big:
            x: np.ndarray
            k: int
        hdf5io.save(Big(np.zeros(400_000), 0), {str(target)!r})
        print("ready", flush=True)
        k = 1
        while True:
            hdf5io.save(Big(np.full(400_000, float(k)), k), {str(target)!r}, overwrite=True)
            k += 1
    """)
    import time

    for delay in (0.3, 0.55, 0.8):
        target.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        with h5py.File(target, "r") as f:  # load through the registry-free path: verify the digest and values
            hdf5io.verify(f, target)
            x = f["quadnet_object/x"][()]
            k = int(f["quadnet_object"].attrs["k"])
        assert np.all(x == k)


def _small_checkpoint(tmp_path):
    params = ExtensiveWidthParams(alpha=1, kappa=1, kappa_star=0.5, lam=0.05, noise=0.5)
    settings = DMFTSettings(eta=0.05, steps=6, d_eff=12, samples=2, seed=3)
    state = dmft_initial_state(params, settings, np.random.SeedSequence(3))
    return params, settings, state, save_checkpoint(tmp_path / "c.h5", params, settings, state)


def test_damaged_checkpoint_is_refused(tmp_path):
    params, settings, state, path = _small_checkpoint(tmp_path)
    ok = load_checkpoint(path, params, settings)
    assert np.array_equal(ok.S, state.S) and np.array_equal(ok.Sstar, state.Sstar)
    with h5py.File(path, "a") as f:  # a flipped value in the teacher matrix, HDF5 still valid
        f["state/Sstar"][0, 0] += 1e-3
    with pytest.raises(hdf5io.CorruptFileError, match="c.h5"):
        load_checkpoint(path, params, settings)


def test_two_runs_on_one_checkpoint_are_refused_up_front(tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt.h5"
    with hdf5io.exclusive_lock(ckpt):
        code = main(["dmft", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5",
                     "--eta", "0.05", "--steps", "5", "--d-eff", "12", "--samples", "2", "--checkpoint", str(ckpt),
                     "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "in use by another quadnet run" in err[0]
    assert not ckpt.exists()


STAT = ["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5"]


def test_cli_never_replaces_a_file_without_overwrite(tmp_path, capsys):
    out = tmp_path / "s.h5"
    out.write_bytes(b"precious")
    assert main([*STAT, "--out", str(out), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0] and "--overwrite" in err[0]
    assert out.read_bytes() == b"precious"
    assert main([*STAT, "--out", str(out), "--json", "--overwrite"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["test_error"] == pytest.approx(SET_B_TEST, abs=1e-6)
    assert hdf5io.load(out).test_error == pytest.approx(SET_B_TEST, abs=1e-6)


def test_cli_save_failure_keeps_the_printed_result(tmp_path, capsys, monkeypatch):
    def enospc(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hdf5io, "seal", enospc)
    out = tmp_path / "s.h5"
    assert main([*STAT, "--out", str(out), "--json"]) == 4
    cap = capsys.readouterr()
    assert json.loads(cap.out)["test_error"] == pytest.approx(SET_B_TEST, abs=1e-6)
    assert len(cap.err.strip().splitlines()) == 1 and "No space left" in cap.err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_output_collisions(tmp_path, capsys):
    f = tmp_path / "same.h5"
    assert main(["dmft", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--steps", "4", "--d-eff", "12",
                 "--out", str(f), "--checkpoint", str(f)]) == 2
    assert "same file" in capsys.readouterr().err
    png = tmp_path / "x.png"  # --out X.png: the derived plot must not overwrite the result
    from validation.cli.common import plot_path

    class A:
        out, plot, plot_from_out = str(png), None, True

    assert plot_path(A) == str(tmp_path / "x.plot.png")
    assert not os.path.exists(png)


def test_sigkill_during_checkpointing_then_resume(tmp_path):
    """SIGKILL a DMFT run that checkpoints every step, at several moments: the checkpoint always verifies (old or
    new state, never a torn file), and --resume finishes with the numbers of an uninterrupted run."""
    import time

    ckpt = tmp_path / "run.ckpt.h5"
    model = ["--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5", "--eta",
             "0.05", "--steps", "40", "--d-eff", "16", "--samples", "2", "--seed", "4", "--quiet"]
    for delay in (2.0, 3.5):
        ckpt.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "validation", "dmft", *model, "--checkpoint", str(ckpt),
                                 "--checkpoint-every", "1", "--overwrite"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if not ckpt.exists():  # killed before the first checkpoint (slow start): nothing to check
            continue
        with h5py.File(ckpt, "r") as f:
            hdf5io.verify(f, ckpt)
        out = subprocess.run([sys.executable, "-m", "validation", "dmft", *model, "--resume", str(ckpt), "--json"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        resumed = json.loads(out.stdout)
        fresh = subprocess.run([sys.executable, "-m", "validation", "dmft", *model, "--json"], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        assert json.loads(fresh.stdout)["test_error"] == resumed["test_error"]  # bitwise identical


def test_ctrl_c_without_checkpoint_is_one_line(capsys, monkeypatch):
    import dmft.dynamics.solver as solver

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(solver, "_solve_one", interrupted)
    code = main(["dmft", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--steps", "4", "--d-eff", "12",
                 "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1 and "interrupted" in err[0]
