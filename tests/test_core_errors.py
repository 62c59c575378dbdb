"""The exception tree rooted in C++: an argument the core refuses is trtpace.UsageError (a
TrtpaceError and a ValueError, exit 2 on the command line); a failed CUDA call is CudaError with
its status and where it failed as attributes, its message one line."""

from __future__ import annotations

import pytest

import trtpace
from trtpace import _core
from trtpace.errors import EXIT_USAGE, UsageError, exit_code


@pytest.mark.parametrize(
    "call",
    [
        lambda: _core.Schedule.closed_gap(-1),
        lambda: _core.Schedule.poisson(float("nan"), 1, 10),
        lambda: _core.HostWorkload(float("inf")),
        lambda: _core.wait_until_ns(-5),
    ],
)
def test_arguments_the_core_refuses_are_usage_errors(call) -> None:
    with pytest.raises(UsageError) as info:
        call()
    e = info.value
    assert isinstance(e, trtpace.TrtpaceError) and isinstance(e, ValueError)
    assert type(e) is _core.UsageError and exit_code(e) == EXIT_USAGE
    assert "\n" not in str(e) and str(e)


def test_a_failed_cuda_call_says_which_and_where() -> None:
    # a device index no machine has: the call fails with or without a GPU
    with pytest.raises(trtpace.CudaError) as info:
        _core.DeviceBuffer(1_000_000, 32)
    e = info.value
    assert isinstance(e.code, int) and e.code != 0
    assert e.file.endswith(".cpp") and e.line > 0
    assert "\n" not in str(e) and "failed" in str(e)


def test_the_python_names_are_the_cores() -> None:
    assert trtpace.errors.UsageError is _core.UsageError
    assert issubclass(trtpace.errors.InputError, _core.UsageError)


def test_a_bad_number_caught_only_in_c_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Were a Python check missing, the core's own check still ends the command cleanly."""
    from typer.testing import CliRunner

    from trtpace.cli import app

    monkeypatch.setattr("trtpace.run.sweep.validate_counts", lambda iterations, warmup: None)
    r = CliRunner().invoke(
        app,
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0",
            "--iterations",
            "200000000",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ],
    )
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "at most 100000000" in r.output
