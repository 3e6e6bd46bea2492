"""Checkpoint/resume: an interrupted + resumed run equals an uninterrupted one (bitwise), also when the resumed run
has more steps (extension); mismatched checkpoints refused."""

import dataclasses

import numpy as np
import pytest

from dmft.dynamics import DMFTSettings, solve
from dmft.params import ExtensiveWidthParams
from odes.common.errors import ParameterError

P = ExtensiveWidthParams(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)
S = DMFTSettings(eta=0.05, steps=24, d_eff=8, samples=2, probes=2, seed=11, checkpoint_every=5)


class _Interrupt(Exception):
    pass


def _stop_at(n):
    def cb(k):
        if k == n:
            raise _Interrupt
    return cb


def test_resume_reproduces_uninterrupted_run(tmp_path):
    full = solve(P, S, quiet=True)
    ck = tmp_path / "run.ckpt.h5"
    with pytest.raises(_Interrupt):
        solve(P, S, checkpoint=ck, quiet=True, callback=_stop_at(13))  # last checkpoint after 10 steps
    resumed = solve(P, S, checkpoint=ck, resume=ck, quiet=True)
    for name in ("train_error", "test_error", "train_error_std", "test_error_std", "C_S", "R_S", "C_e", "B",
                 "R_S_equal_time_hutchinson"):
        a, b = getattr(full, name), getattr(resumed, name)
        np.testing.assert_allclose(b, a, rtol=1e-14, atol=1e-300, err_msg=name)
    assert np.array_equal(full.test_error, resumed.test_error)  # bitwise in practice


def test_resume_refuses_mismatched_checkpoint(tmp_path):
    ck = tmp_path / "run.ckpt.h5"
    with pytest.raises(_Interrupt):
        solve(P, S, checkpoint=ck, quiet=True, callback=_stop_at(6))
    with pytest.raises(ParameterError, match="resume.*lam"):
        solve(dataclasses.replace(P, lam=0.06), S, resume=ck, quiet=True)
    with pytest.raises(ParameterError, match="resume.*seed"):
        solve(P, dataclasses.replace(S, seed=12), resume=ck, quiet=True)
    with pytest.raises(ParameterError, match="resume.*does not exist"):
        solve(P, S, resume=tmp_path / "nope.h5", quiet=True)
    # a different checkpoint interval is allowed
    r = solve(P, dataclasses.replace(S, checkpoint_every=0), resume=ck, quiet=True)
    assert np.all(np.isfinite(r.train_error))


@pytest.mark.parametrize("interrupt", [None, 9])
def test_resume_extends_shorter_run_bitwise(tmp_path, interrupt):
    """A 13-step run (finished, or interrupted after 9 steps with its last checkpoint at 5), resumed with 24
    steps, equals an uninterrupted 24-step run bit for bit (causal scheme, streams consumed step by step)."""
    full = solve(P, S, quiet=True)
    ck = tmp_path / "short.ckpt.h5"
    short = dataclasses.replace(S, steps=13)
    if interrupt is None:
        solve(P, short, checkpoint=ck, quiet=True)
    else:
        with pytest.raises(_Interrupt):
            solve(P, short, checkpoint=ck, quiet=True, callback=_stop_at(interrupt))
    ext = solve(P, S, checkpoint=ck, resume=ck, quiet=True)
    for name in ("train_error", "test_error", "train_error_std", "test_error_std", "C_S", "R_S", "C_e", "B",
                 "R_S_equal_time_hutchinson"):
        assert np.array_equal(getattr(ext, name), getattr(full, name)), name
    with pytest.raises(ParameterError, match="resume.*steps.*extended, not shortened"):
        solve(P, dataclasses.replace(S, steps=10), resume=ck, quiet=True)


# ---- issue 9 regression: the loaded state is validated ------------------------------------------------------
def test_checkpoint_with_bad_counter_or_shapes_is_refused(tmp_path):
    """A checkpoint whose step counter exceeds the run's steps resumed silently and reported zeros; arrays of
    the wrong shape were not checked either."""
    from dmft.dynamics.checkpoint import load_checkpoint, save_checkpoint, validate_state
    from dmft.dynamics.solver import initial_state

    st = dataclasses.replace(S, steps=6)
    ck = tmp_path / "run.ckpt.h5"
    solve(P, st, checkpoint=ck, quiet=True)
    good = load_checkpoint(ck, P, st)
    assert good.k == st.steps + 1  # finished run: valid
    bad = load_checkpoint(ck, P, st)
    bad.k = 1000
    save_checkpoint(ck, P, st, bad)
    with pytest.raises(ParameterError, match="'resume'.*step counter k = 1000 outside \\[0, 7\\]"):
        solve(P, st, resume=ck, quiet=True)
    state = initial_state(P, st, np.random.SeedSequence(0))
    state.k = -1
    with pytest.raises(ParameterError, match="step counter"):
        validate_state(state, st, st.steps)
    state = initial_state(P, st, np.random.SeedSequence(0))
    state.CS = np.zeros((3, 3))
    with pytest.raises(ParameterError, match="CS has shape \\(3, 3\\), expected \\(7, 7\\)"):
        validate_state(state, st, st.steps)
    state = initial_state(P, st, np.random.SeedSequence(0))
    state.S[0, 0, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        validate_state(state, st, st.steps)
