"""``quadnet ode``: the JSON output reproduces the spec oracles; error lines and exit codes."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from odes.finite_width import FiniteWidthParams, OverlapTrajectory, initial_overlaps
from validation.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_json(capsys, args):
    rc = main(["ode", *args, "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    return json.loads(out)


def test_cli_o1(capsys):
    d = run_json(capsys, ["--p", "1", "--pstar", "1", "--gamma", "0.05", "--M0", "[[0.1]]", "--Q0", "[[1.01]]"])
    assert d["alpha"] == [0, 5, 10, 20, 40]
    ref = [2.0001500000, 1.3302459706, 1.1294517073, 0.2207692022, 0.0009142453]
    assert np.max(np.abs(np.array(d["eps_g"]) - ref)) < 1e-7
    assert np.array(d["Q"]).shape == (5, 1, 1) and np.array(d["M"]).shape == (5, 1, 1)
    assert abs(d["plateau"]["rho"] - 0.1855272679) < 1e-9


def test_cli_o2_default_q0(capsys):
    d = run_json(capsys, ["--p", "2", "--pstar", "1", "--gamma", "0.1", "--M0", "[[0.2],[0.1]]",
                          "--alphas", "0,5,10,20,50"])
    ref = [1.4759375000, 0.8667883971, 0.2508747307, 0.0188534186, 0.0009907669]
    assert np.max(np.abs(np.array(d["eps_g"]) - ref)) < 1e-7
    np.testing.assert_allclose(np.array(d["M"])[-1].ravel(), [1.2601297137, 0.6300648568], atol=1e-7)
    np.testing.assert_allclose(np.array(d["Q"])[0], [[1.04, 0.02], [0.02, 1.01]], atol=1e-15)


def test_cli_o3_o5_o7(capsys):
    d = run_json(capsys, ["--p", "4", "--pstar", "2", "--gamma", "0.15",
                          "--M0", "[[0.2,0],[0,0.2],[0.1,0],[0,-0.1]]"])
    ref = [0.7381250000, 0.5607169351, 0.2912698025, 0.0405915182, 0.0024542771]
    assert np.max(np.abs(np.array(d["eps_g"]) - ref)) < 1e-7
    a = 3**-0.5
    q0 = (0.5 * np.eye(3) + np.outer([0.3, 0, -0.1], [0.3, 0, -0.1])).tolist()
    d = run_json(capsys, ["--p", "3", "--pstar", "1", "--eta", "0.1,0.1,0.1", "--a", f"{a},{a},{a}", "--b", "1",
                          "--centered", "--M0", "[[0.3],[0],[-0.1]]", "--Q0", json.dumps(q0), "--alphas", "0,2,5,10"])
    ref = [1.4978632795, 1.3366215786, 0.9906122519, 0.4363270484]
    assert np.max(np.abs(np.array(d["eps_g"]) - ref)) < 1e-7
    assert d["limits"]["zero_loss"] is None
    d = run_json(capsys, ["--p", "2", "--pstar", "1", "--gamma", "1", "--no-stability-check", "--gradient-flow",
                          "--M0", "[0.2,0.1]", "--alphas", "0,0.5,1,2,5"])
    ref = [1.4759375000, 0.5693662021, 0.0330542474, 0.0038327198, 0.0005218943]
    assert np.max(np.abs(np.array(d["eps_g"]) - ref)) < 1e-7 and d["gradient_flow"] is True


def test_cli_random_init_noise_decay_and_out(capsys, tmp_path):
    out = tmp_path / "r.h5"
    args = ["--p", "8", "--pstar", "4", "--gamma", "0.1", "--noise", "0.1", "--weight-decay", "0.01",
            "--N", "500", "--seed", "3", "--alphas", "0,5,10", "--out", str(out)]
    d = run_json(capsys, args)
    par = FiniteWidthParams(8, 4, gamma=0.1, noise=0.1, weight_decay=0.01)
    Q0, M0 = initial_overlaps(par, N=500, seed=3)
    np.testing.assert_allclose(np.array(d["M"])[0], M0, atol=0)
    back = OverlapTrajectory.load(out)
    np.testing.assert_allclose(back.eps_g, d["eps_g"], rtol=1e-15)
    assert back.params.noise == 0.1 and back.params.weight_decay == 0.01
    assert main(["ode", *args[:-2], "--quiet"]) == 0          # readable table
    text = capsys.readouterr().out
    assert "eps_g" in text and len(text.splitlines()) == 2 + 1 + 3


@pytest.mark.parametrize("args,name", [
    (["--p", "0", "--pstar", "1", "--gamma", "0.1"], "'p'"),
    (["--p", "1", "--pstar", "1", "--gamma", "0"], "'gamma'"),
    (["--p", "1", "--pstar", "1", "--gamma", "-0.1"], "'gamma'"),
    (["--p", "2", "--pstar", "1", "--gamma", "0.1", "--M0", "[[0.2,0.1]]"], "'M0'"),
    (["--p", "2", "--pstar", "1", "--gamma", "0.1", "--M0", "[[0.2],"], "'M0'"),
    (["--p", "2", "--pstar", "1", "--gamma", "0.1", "--Q0", "[[1]]"], "'Q0'"),
    (["--p", "2", "--pstar", "1", "--gamma", "0.2"], "'gamma'.*0.166667"),
    (["--p", "2", "--pstar", "1", "--gamma", "0.1", "--alphas", "0,x"], "'alphas'"),
    (["--p", "2", "--pstar", "1"], "'gamma'"),
])
def test_cli_invalid_input_exits_2(capsys, args, name):
    assert main(["ode", *args, "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quadnet: error:")
    assert re.search(name, err[0]), err[0]


def test_cli_divergence_exits_3(capsys):
    rc = main(["ode", "--p", "2", "--pstar", "1", "--gamma", "0.3", "--no-stability-check", "--M0", "[[0.2],[0.1]]",
               "--json"])
    cap = capsys.readouterr()
    assert rc == 3 and cap.out == "" and "ran away" in cap.err


def test_cli_subprocess():
    cmd = [sys.executable, "-m", "validation", "ode", "--p", "1", "--pstar", "1", "--gamma", "0.05", "--M0",
           "[[0.1]]", "--Q0", "[[1.01]]", "--alphas", "0,20", "--json"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert abs(d["eps_g"][1] - 0.2207692022) < 1e-7
