"""CLI: ``quadnet dmft`` JSON/HDF5/checkpoint/resume contract and ``quadnet validate dmft`` (in-process and one
subprocess call)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dmft.dynamics import DMFTResult
from validation.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODEL = ["--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5"]
SMALL = ["--eta", "0.05", "--steps", "12", "--d-eff", "6", "--samples", "2"]


def test_dmft_json_and_out(capsys, tmp_path):
    out = tmp_path / "r.h5"
    assert main(["dmft", *MODEL, *SMALL, "--json", "--out", str(out)]) == 0
    payload = json.loads(capsys.readouterr().out)
    for key in ("t", "train_error", "test_error", "train_error_std", "test_error_std"):
        assert len(payload[key]) == 13
    assert payload["test_error"][0] == payload["train_error"][0] - 0.5
    # protocol names (standard errors are *_se) next to the quadnet 0.1 keys, same numbers
    assert payload["train_error_se"] == payload["train_error_std"] and payload["settings"]["d_eff"] == 6
    assert payload["d_eff"] == 6 and payload["params"]["noise"] == 0.5
    res = DMFTResult.load(out)
    np.testing.assert_allclose(res.train_error, payload["train_error"], rtol=1e-15)


def test_dmft_checkpoint_resume_cli(capsys, tmp_path):
    ck = tmp_path / "r.ckpt.h5"
    assert main(["dmft", *MODEL, *SMALL, "--json", "--checkpoint", str(ck), "--checkpoint-every", "4"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert ck.exists()
    assert main(["dmft", *MODEL, *SMALL, "--json", "--resume", str(ck)]) == 0  # already complete: same curves
    again = json.loads(capsys.readouterr().out)
    assert again["train_error"] == first["train_error"]
    assert main(["dmft", *MODEL[:-1], "0.4", *SMALL, "--resume", str(ck)]) == 2
    assert "resume" in capsys.readouterr().err


def test_dmft_checkpoint_default_interval_and_extension(capsys, tmp_path):
    """--checkpoint alone writes a checkpoint (default interval); --resume with more --steps extends the run
    and equals a direct longer run; --resume alone keeps checkpointing into the resumed file."""
    ck = tmp_path / "a.ckpt.h5"
    assert main(["dmft", *MODEL, *SMALL, "--json", "--checkpoint", str(ck)]) == 0
    capsys.readouterr()
    assert ck.exists()
    longer = [a if a != "12" else "20" for a in SMALL]
    assert main(["dmft", *MODEL, *longer, "--json", "--resume", str(ck)]) == 0
    ext = json.loads(capsys.readouterr().out)
    assert main(["dmft", *MODEL, *longer, "--json"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert len(ext["t"]) == 21 and ext["train_error"] == direct["train_error"]
    from dmft.dynamics.checkpoint import load_checkpoint

    assert load_checkpoint(ck, *_settings_of(longer)).k == 21  # the resumed file now holds the 20-step state
    assert main(["dmft", *MODEL, *SMALL, "--checkpoint-every", "4"]) == 2  # interval without a file
    assert "checkpoint-every" in capsys.readouterr().err


def test_dmft_interrupt_points_to_resume(capsys, tmp_path, monkeypatch):
    """Ctrl-C during a checkpointed run: exit 130 and a one-line hint naming the checkpoint to --resume."""
    import dmft.dynamics

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dmft.dynamics, "solve", interrupted)
    ck = tmp_path / "i.ckpt.h5"
    assert main(["dmft", *MODEL, *SMALL, "--quiet", "--checkpoint", str(ck)]) == 130
    assert f"--resume {ck}" in capsys.readouterr().err


def _settings_of(small):
    from dmft.dynamics import DMFTSettings
    from dmft.params import ExtensiveWidthParams

    v = dict(zip(small[::2], small[1::2]))
    return (ExtensiveWidthParams(alpha=1, kappa=1, kappa_star=0.5, lam=0.05, noise=0.5),
            DMFTSettings(eta=float(v["--eta"]), steps=int(v["--steps"]), d_eff=int(v["--d-eff"]),
                         samples=int(v["--samples"])))


def test_dmft_bad_eta_exit_code(capsys):
    assert main(["dmft", *MODEL, "--eta", "0.2", "--steps", "3", "--d-eff", "4"]) == 2
    err = capsys.readouterr().err
    assert "'eta'" in err and "eta <" in err


@pytest.mark.parametrize("bad,name", [(["--alpha", "nan"], "alpha"), (["--alpha", "-1"], "alpha"),
                                      (["--kappa", "0"], "kappa"), (["--kappa-star", "0"], "kappa_star"),
                                      (["--steps", "0"], "steps"), (["--d-eff", "1"], "d_eff"),
                                      (["--samples", "1"], "samples"), (["--eta", "nan"], "eta"),
                                      (["--noise", "-0.1"], "noise"), (["--probes", "0"], "probes")])
def test_dmft_bad_input_names_parameter(capsys, bad, name):
    args = dict(zip(MODEL[::2], MODEL[1::2])) | dict(zip(SMALL[::2], SMALL[1::2]))
    args.update(dict(zip(bad[::2], bad[1::2])))
    assert main(["dmft", *[x for kv in args.items() for x in kv], "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("quadnet: error:") and f"'{name}'" in err, err


def test_dmft_divergence_exit_code(capsys):
    """Beyond the bound with the check disabled: DivergenceError (exit 3), no NaN output."""
    assert main(["dmft", *MODEL, "--eta", "0.5", "--steps", "60", "--d-eff", "6", "--samples", "2",
                 "--no-stability-check", "--json"]) == 3
    cap = capsys.readouterr()
    assert cap.out == "" and "diverged" in cap.err


def test_validate_dmft_bad_input(capsys):
    base = ["validate", "dmft", *MODEL, *SMALL, "--d", "8", "--quiet"]
    assert main([*base, "--seeds", "0"]) == 2
    assert "'seeds'" in capsys.readouterr().err
    assert main([*base, "--seeds", "2", "--t-min", "100"]) == 2
    assert "'t_min'" in capsys.readouterr().err


def test_validate_dmft(capsys, tmp_path):
    png = tmp_path / "v.png"
    args = ["validate", "dmft", *MODEL, *SMALL, "--d", "8,10", "--seeds", "2", "--sensing", "wishart", "--json",
            "--out", str(tmp_path / "v.h5"), "--plot", str(png)]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ds"] == [8, 10] and len(payload["max_dev_test"]) == 2
    assert png.exists() and (tmp_path / "v.h5").exists()
    from validation.compare_dmft import DMFTValidation

    val = DMFTValidation.load(tmp_path / "v.h5")
    np.testing.assert_allclose(val.max_dev_test, payload["max_dev_test"], rtol=1e-15)
    assert val.gd["d8"].train_error.shape == (2, 13)


def test_subprocess_entry_point():
    proc = subprocess.run([sys.executable, "-m", "validation", "dmft", *MODEL, *SMALL, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["t"]) == 13


def test_dmft_d_eff_extrapolation_and_gradient_flow(capsys, tmp_path):
    base = ["dmft", *MODEL, "--eta", "0.05", "--steps", "6", "--samples", "2", "--json"]
    assert main([*base, "--d-eff", "6,9", "--out", str(tmp_path / "x.h5")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "d_eff_extrapolation" and payload["inputs"] == [6, 9]
    c6, c9 = (payload["inputs_curves"][f"d_eff_{d}"]["test_error"][3] for d in (6, 9))
    # y = a + b/d through two points: a = (9 y9 - 6 y6)/3 (up to the weights, exact for two points)
    assert payload["test_error"][3] == pytest.approx((9 * c9 - 6 * c6) / 3, rel=1e-10)
    assert main([*base, "--d-eff", "6", "--gradient-flow"]) == 0
    gf = json.loads(capsys.readouterr().out)
    coarse, fine = gf["inputs_curves"]["gd_eta_0.05"], gf["inputs_curves"]["gd_eta_0.025"]
    assert gf["train_error"][2] == pytest.approx(2 * fine["train_error"][4] - coarse["train_error"][2], rel=1e-12)


# ---- issue 9 regressions ------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra,name,words", [
    (["--lam", "40"], "'eta'", "eta < 0.0270378"),           # 2/(2 s_max h_max + lam), lam in the bound
    (["--d-eff", "100000"], "'d_eff'", "memory"), (["--steps", "100000"], "'steps'", "memory"),
    (["--sigma0", "1e308"], "'sigma0'", "(0, 10000)"), (["--kappa", "1e-308"], "'kappa'", "must be in")])
def test_dmft_refused_up_front(capsys, extra, name, words):
    args = dict(zip(MODEL[::2], MODEL[1::2])) | dict(zip(extra[::2], extra[1::2]))
    assert main(["dmft", *[x for kv in args.items() for x in kv], "--quiet"]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and words in lines[0], cap.err


def test_validate_dmft_too_large_d_refused(capsys):
    assert main(["validate", "dmft", *MODEL, *SMALL, "--d", "100000", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "'d'" in err and "memory" in err


def test_validate_dmft_huge_student_width_refused(capsys):
    """--kappa 1e308 passed to the GD simulator leaked OverflowError (traceback): the student W0 (m = kappa d rows)
    is part of the memory estimate, refused naming kappa."""
    args = dict(zip(MODEL[::2], MODEL[1::2])) | {"--kappa": "1e308"}
    assert main(["validate", "dmft", *[x for kv in args.items() for x in kv], *SMALL, "--d", "6", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "'kappa'" in err and "memory" in err
