"""Property-based hostile-input suite (issue 9): every parameter object and every CLI command, driven with generated
bad and extreme values, must answer with

* exit code 0 (valid JSON, finite numbers, the --out file written) or 2 / 3 (exactly one ``quadnet: error:`` line on
  stderr, no traceback, no file written) -- never a traceback, an internal error (1), a hang or a NaN;
* for the Python parameter objects: either a valid object or :class:`ParameterError` naming the field.

The options are read from the CLI parser itself, so an option added later is covered automatically. Default run:
a few examples per command (seconds); ``-m slow`` runs many more (``QUADNET_HOSTILE_EXAMPLES``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import signal
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odes.common.errors import ParameterError
from tests.helpers import all_finite
from validation.cli import build_parser, main


@pytest.fixture(autouse=True)
def _address_space_guard():
    """A size check that is missing must fail this test with MemoryError, not summon the kernel's OOM killer on the
    whole test run: cap the address space at 12 GiB (half of a CI machine) while a hostile example runs."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = 12 * 2 ** 30
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


FAST_EXAMPLES = int(os.environ.get("QUADNET_HOSTILE_EXAMPLES", "6"))
SLOW_EXAMPLES = 60
TIME_LIMIT_S = 90  # a single command with hostile input that runs longer than this counts as a hang

#: small, fast, valid invocations; hostile values are substituted one option at a time
BASE: dict[tuple[str, ...], list[str]] = {
    ("ode",): ["--p", "2", "--pstar", "1", "--gamma", "0.1", "--M0", "[[0.2],[0.1]]", "--alphas", "0,1"],
    ("stationary",): ["--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5"],
    ("threshold",): ["--kappa", "inf", "--kappa-star", "0.25"],
    ("dmft",): ["--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5",
                "--eta", "0.05", "--steps", "4", "--d-eff", "12", "--samples", "2"],
    ("population",): ["--kappa", "0.5", "--kappa-star", "0.25", "--times", "0,0.5"],
    ("scaling",): ["--alpha-pl", "1", "--rank", "12", "--width", "12"],
    ("demo",): ["--t-max", "0.5", "--d", "8", "--seeds", "2", "--d-eff", "6", "--samples", "2", "--runs", "2"],
    ("validate", "ode"): ["--p", "2", "--pstar", "1", "--gamma", "0.1", "--M0", "[[0.2],[0.1]]", "--alphas", "0,1",
                          "--N", "40", "--seeds", "1"],
    ("validate", "stationary"): ["--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05",
                                 "--noise", "0.5", "--d", "8", "--seeds", "1"],
    ("validate", "dmft"): ["--alpha", "1", "--kappa", "1", "--kappa-star", "0.5", "--lam", "0.05", "--noise", "0.5",
                           "--eta", "0.05", "--steps", "4", "--d-eff", "12", "--samples", "2", "--d", "10",
                           "--seeds", "1"],
    ("validate", "population"): ["--kappa", "0.5", "--kappa-star", "0.25", "--d", "20", "--seeds", "1"],
}
NEVER_FUZZED = {"--help", "--json", "--out", "--quiet", "--plot", "--checkpoint", "--resume", "--overwrite",
                "--version", "--scheduler", "--workers"}

#: options whose (valid) values set the amount of work: a large valid value may legitimately run for minutes with a
#: progress bar, so running past TIME_LIMIT_S is accepted for them (not for any other option, e.g. a time grid)
WORK_SIZE_OPTIONS = {"--seeds", "--max-seeds", "--steps", "--N", "--d", "--d-eff", "--samples", "--runs", "--probes",
                     "--rank", "--width", "--p", "--pstar", "--block"}

HOSTILE_TEXT = ["nan", "NaN", "inf", "-inf", "-1", "0", "-0", "1e308", "-1e308", "1e-308", "1e-30", "5e-324",
                str(2 ** 64), str(-(2 ** 63) - 1), "1e12", "100000", "abc", "", " ", "1,,2", "0x10", "1_000",
                "[" * 3000 + "]" * 3000, "[[1e308]]", "[[nan]]", "[]", "[[]]", "{}", '"x"', "1;2", "\u221e"]
hostile_values = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str),
    st.text(max_size=8),
)


def _options(command: tuple[str, ...]) -> list[argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    node = sub.choices[command[0]]
    for name in command[1:]:
        node = next(a for a in node._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return [a for a in node._actions if a.option_strings and a.nargs != 0 and not a.choices
            and not set(a.option_strings) & NEVER_FUZZED]


class _Hang(BaseException):  # not an Exception: the CLI's catch-all must not swallow it
    pass


FP_WARNING = re.compile(r"overflow encountered|invalid value encountered|divide by zero encountered")


def _run(argv: list[str], *, work_option: bool = False) -> tuple[int, str, str, list] | None:
    out, err = io.StringIO(), io.StringIO()

    def alarm(*_):
        raise _Hang

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse rejects the value itself: usage line + message, exit 2
                code = exc.code if isinstance(exc.code, int) else 2
    except _Hang:
        if work_option:
            return None  # a large but valid amount of work: long, not hung
        pytest.fail(f"no answer within {TIME_LIMIT_S} s: quadnet {' '.join(argv)[:300]}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue(), caught


def _check(command: tuple[str, ...], option: str, value: str) -> None:
    argv = list(BASE[command])
    if option in argv:
        i = argv.index(option)
        argv[i + 1] = value
    else:
        argv += [option, value]
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "r.h5"
        full = [*command, *argv, "--json", "--quiet", "--out", str(out_file)]
        ran = _run(full, work_option=option in WORK_SIZE_OPTIONS)
        if ran is None:
            return
        code, stdout, stderr, caught = ran
        shown = f"quadnet {' '.join(full)[:300]}"
        assert "Traceback" not in stderr + stdout, shown
        fp = [str(w.message) for w in caught if FP_WARNING.search(str(w.message))]
        assert not fp, f"{shown}: floating-point warning (an unguarded overflow/NaN): {fp[:2]}"
        assert code in (0, 2, 3), f"{shown}: exit {code}, stderr {stderr[-300:]!r}"
        if code == 0:
            payload = json.loads(stdout)
            assert all_finite(payload), f"{shown}: non-finite number in the JSON"
            assert out_file.exists(), f"{shown}: --out not written"
        else:
            lines = [ln for ln in stderr.strip().splitlines()
                     if ln.strip() and not ln.startswith("quadnet: warning:")]
            assert len(lines) == 1 and "error:" in lines[0], f"{shown}: expected one error line, got {lines!r}"
            assert not out_file.exists(), f"{shown}: a file was written although the command failed"


def _property_test(command: tuple[str, ...], examples: int):
    options = [o.option_strings[-1] for o in _options(command)]

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(option=st.sampled_from(options), value=hostile_values)
    def run(option, value):
        _check(command, option, value)

    run()


@pytest.mark.parametrize("command", list(BASE), ids=lambda c: "-".join(c))
def test_cli_hostile_values(command):
    _property_test(command, FAST_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("command", list(BASE), ids=lambda c: "-".join(c))
def test_cli_hostile_values_many(command):
    _property_test(command, SLOW_EXAMPLES)


@pytest.mark.parametrize("command", list(BASE), ids=lambda c: "-".join(c))
def test_cli_every_option_with_fixed_hostile_set(command):
    """Deterministic sweep: every option x the most telling values (nan, negative, zero, huge, tiny, garbage)."""
    for action in _options(command):
        for value in ("nan", "-1", "0", "1e308", "1e-308", "abc"):
            _check(command, action.option_strings[-1], value)


# ------------------------------------------------------------------------------------------ parameter objects
def _param_cases():
    from dmft.dynamics.settings import DMFTSettings
    from dmft.params import ExtensiveWidthParams
    from odes.finite_width import FiniteWidthParams
    from odes.population.params import HighDimParams, OnlineSGDParams, PowerLawParams

    return [
        (ExtensiveWidthParams, dict(alpha=1.0, kappa=1.0, kappa_star=0.5, lam=0.05, noise=0.5)),
        (FiniteWidthParams, dict(p=2, p_star=1, gamma=0.1)),
        (HighDimParams, dict(kappa=0.5, kappa_star=0.25)),
        (PowerLawParams, dict(alpha_pl=1.0, rank=20, width=20)),
        (DMFTSettings, dict(eta=0.05, steps=10, d_eff=12, samples=2)),
        (OnlineSGDParams, dict(model=PowerLawParams(alpha_pl=1.0, rank=10, width=10), eta_d=0.1, t_max=1.0)),
    ]


python_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([None, "x", [], [1.0, float("nan")], True, -1, 0]),
)


@pytest.mark.parametrize("cls,base", _param_cases(), ids=lambda x: getattr(x, "__name__", ""))
def test_parameter_objects_validate_every_field(cls, base):
    import dataclasses

    fields = [f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")
              and f.name != "model"]

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(field=st.sampled_from(fields), value=python_values)
    def run(field, value):
        try:
            obj = cls(**{**base, field: value})
        except ParameterError as exc:
            assert exc.name.replace("-", "_").startswith(field.split("_")[0]) or field in str(exc), \
                f"{cls.__name__}({field}={value!r}) blamed {exc.name!r}: {exc}"
            return
        got = getattr(obj, field)
        if isinstance(got, float):
            assert not math.isnan(got), f"{cls.__name__} accepted {field}=NaN"

    run()
