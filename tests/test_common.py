"""Shared infrastructure: parameter checks, HDF5 round trip, CLI error contract, ruff cleanliness."""

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dmft.params import ExtensiveWidthParams
from odes.common import ParameterError, check, hdf5io
from odes.common.version import __version__
from odes.finite_width import FiniteWidthParams

ROOT = Path(__file__).resolve().parents[1]


@hdf5io.register
@dataclass(frozen=True, eq=False)
class _Result:
    params: FiniteWidthParams
    alpha: np.ndarray
    label: str
    count: int
    scale: float
    missing: None
    dims: tuple
    extra: dict


def test_checks_name_parameter_and_range():
    with pytest.raises(ParameterError, match=r"'gamma'.*\(0, inf\)"):
        check.positive("gamma", -1.0)
    with pytest.raises(ParameterError, match="'alpha'.*finite"):
        check.positive("alpha", float("nan"))
    with pytest.raises(ParameterError, match="'p'.*integer"):
        check.integer("p", 0, lo=1)
    with pytest.raises(ParameterError, match="'M0'.*shape"):
        check.array("M0", np.zeros((2, 2)), shape=(3, 2))
    with pytest.raises(ParameterError, match="'T'.*semi-definite|'T'.*definite"):
        check.symmetric_psd("T", [[1.0, 2.0], [2.0, 1.0]], 2)
    assert check.positive("kappa", float("inf"), allow_inf=True) == float("inf")


def test_parameter_objects_reject_bad_input():
    with pytest.raises(ParameterError, match="'p'"):
        FiniteWidthParams(0, 1, gamma=0.1)
    with pytest.raises(ParameterError, match="'gamma'"):
        FiniteWidthParams(2, 1, gamma=0.0)
    with pytest.raises(ParameterError, match="'noise'"):
        FiniteWidthParams(2, 1, gamma=0.1, noise=-1)
    with pytest.raises(ParameterError, match="'alpha'"):
        ExtensiveWidthParams(alpha=-1, kappa=1, kappa_star=0.5)
    with pytest.raises(ParameterError, match="'kappa'"):
        ExtensiveWidthParams(alpha=1, kappa=0, kappa_star=0.5)
    with pytest.raises(ParameterError, match="'kappa_star'"):
        ExtensiveWidthParams(alpha=1, kappa=1, kappa_star=float("nan"))


def test_default_convention_gives_isotropic_rate():
    p = FiniteWidthParams(4, 2, gamma=0.15)
    np.testing.assert_allclose(p.a, 0.25)
    np.testing.assert_allclose(p.eta, 4 * 0.15)  # eta_j = p gamma
    np.testing.assert_allclose(p.Gamma, 0.15 * np.eye(4))
    np.testing.assert_allclose(p.T, np.eye(2))
    assert p.c0 == 0.0 and p.replace(centered=True).c0 == 0.0  # sum a = sum b = 1


def test_hdf5_round_trip(tmp_path):
    params = FiniteWidthParams(3, 1, eta=[0.1, 0.2, 0.3], a=[1 / np.sqrt(3)] * 3, b=[1.0], centered=True,
                               noise=0.1, T=[[1.5]])
    res = _Result(params=params, alpha=np.linspace(0, 1, 5), label="x", count=3, scale=2.5, missing=None,
                  dims=(1, 2), extra={"kappa": float("inf"), "arr": np.eye(2)})
    path = hdf5io.save(res, tmp_path / "r.h5")
    back = hdf5io.load(path)
    assert hdf5io.equal(res, back)
    assert isinstance(back.params, FiniteWidthParams) and back.params.centered
    assert back.dims == (1, 2) and back.missing is None
    attrs = hdf5io.read_attrs(path)
    assert attrs["quadnet_version"] == __version__
    assert not hdf5io.equal(res, _Result(**{**res.__dict__, "scale": 2.0}))


def test_extensive_params_round_trip(tmp_path):
    prm = ExtensiveWidthParams(alpha=0.6, kappa=float("inf"), kappa_star=0.5, lam=0.01, noise=0.1)
    back = hdf5io.load(hdf5io.save(prm, tmp_path / "p.h5"))
    assert back == prm


def test_cli_help_and_version():
    out = subprocess.run([sys.executable, "-m", "validation", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean():
    out = subprocess.run(["ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_rejects_unwritable_output_before_computing(tmp_path, capsys):
    from validation.cli import main

    rc = main(["stationary", "--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05",
               "--out", str(tmp_path / "missing" / "x.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "'out'" in err[0] and "does not exist" in err[0]
