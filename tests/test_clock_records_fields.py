"""Range-checked clock records: every field of a record is checked for type and range when read, so
a pid of 2**40, a time of 1e300 or NaN, a clock of zero or a boot id that is not one makes the
record damaged (one line naming it) and blocks nothing: a sweep runs, `clocks show` shows, and
reap_stale never raises. Hypothesis feeds records mangled field by field."""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.platform import clocks
from trtpace.platform.clocks import state as state_files

KEY = "00000000:3B:00.0"
TDP = 0xFFFFFF01


def _valid(**over: Any) -> dict[str, Any]:
    owner = {
        "pid": os.getpid(),
        "host": os.uname().nodename,
        "time_unix": 1.7e9,
        "hold": "process",
        "id": "abc",
        "start_time": state_files.process_start_time(os.getpid()),
        "boot_id": state_files.current_boot_id(),
    }
    doc = {
        "key": KEY,
        "backend": "nvml",
        "sm_mhz": [1980, 1980],
        "mem_mhz": None,
        "saved": {},
        "owners": [owner],
        "time_unix": 1.7e9,
        "host": os.uname().nodename,
        "boot_id": state_files.current_boot_id(),
    }
    for k, v in over.items():
        if k.startswith("owner_"):
            owner[k.removeprefix("owner_")] = v
        else:
            doc[k] = v
    return doc


def _write(doc: Any, raw: bytes | None = None) -> Path:
    path = state_files.path_of(KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw if raw is not None else json.dumps(doc).encode())
    return path


BAD = [
    ({"owner_pid": 2**40}, "field 'pid' is 1099511627776, not between 1 and 4194304"),
    ({"owner_pid": 0}, "field 'pid' is 0"),
    ({"owner_pid": -1}, "field 'pid' is -1"),
    ({"owner_pid": True}, "field 'pid' is bool"),
    ({"owner_pid": "__HUGE__"}, "not JSON"),  # more digits than Python reads as a number
    ({"time_unix": 1e300}, "field 'time_unix' is 1e+300, not a time"),
    ({"owner_time_unix": 1e300}, "field 'time_unix' is 1e+300"),
    ({"time_unix": -1}, "not a time between 1970 and 3000"),
    ({"owner_start_time": -5}, "field 'start_time' is -5"),
    ({"owner_start_time": 2**64}, "field 'start_time'"),
    ({"owner_boot_id": "not-a-boot"}, "field 'boot_id'"),
    ({"boot_id": 7}, "field 'boot_id' is int"),
    ({"owner_host": "a\nwarning: forged"}, "field 'host'"),
    ({"owner_id": "../x"}, "field 'id'"),
    ({"owner_hold": "forever"}, "unknown hold"),
    ({"sm_mhz": [0, 1980]}, "field 'sm_mhz' is [0, 1980]"),
    ({"sm_mhz": [1980, 1500]}, "field 'sm_mhz'"),
    ({"sm_mhz": [1, 10**9]}, "field 'sm_mhz'"),
    ({"sm_mhz": [TDP, 1980]}, "field 'sm_mhz'"),
    ({"mem_mhz": [TDP, TDP]}, "field 'mem_mhz'"),
    ({"backend": "sh"}, "unknown backend"),
    ({"saved": {"min_freq": "1"}}, "an NVIDIA record saves nothing"),
    ({"owners": [{}] * 5000}, "5000 owners"),
    ({"key": KEY + "\n"}, "field 'key'"),
]


@pytest.mark.parametrize(("over", "reason"), BAD)
def test_out_of_range_field_is_damaged_and_blocks_nothing(
    fake, tmp_path: Path, over: dict[str, Any], reason: str
) -> None:
    doc = _valid(**over)
    raw = json.dumps(doc).replace('"__HUGE__"', "1" + "0" * 5000).encode()
    bad = _write(doc, raw)
    (w,) = clocks.reap_stale()
    assert w.startswith(f"clock state file {bad} is damaged (") and reason in w and "\n" not in w, w
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0)
    assert result.environment["warnings"] == [w]
    for args in (["clocks", "show", "--json"], ["clocks", "show"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0 and "Traceback" not in r.output and str(bad) in r.stderr.replace("\n", ""), r.output
    r = CliRunner().invoke(app, ["clocks", "lock"])
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 1 and errors == [f"error: clock state file {bad} is damaged ({errors[0].split('(', 1)[1]}"]
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()
    assert bad.exists()


@pytest.mark.parametrize("raw", [b'{"key": "k", "time_unix": NaN}', b'{"key": "k", "time_unix": Infinity}'])
def test_nan_and_infinity_times_are_damaged(fake, raw: bytes) -> None:
    doc = json.loads(raw)
    full = {**_valid(), "time_unix": doc["time_unix"]}
    assert math.isnan(full["time_unix"]) or math.isinf(full["time_unix"])
    bad = _write(None, json.dumps(full).encode())  # json writes NaN and Infinity as such
    (w,) = clocks.reap_stale()
    assert str(bad) in w and "field 'time_unix' is" in w and "not a time" in w
    r = CliRunner().invoke(app, ["clocks", "show", "--json"])
    assert r.exit_code == 0 and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["clocks", "lock"])
    assert r.exit_code == 1 and "Traceback" not in r.output and "damaged" in r.output


def test_a_damaged_record_of_one_gpu_still_lets_the_sweep_lock_another(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = state_files.path_of("00000000:3C:00.0")
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps(_valid(key="00000000:3C:00.0", owner_pid=2**40)))
    monkeypatch.setattr("trtpace.run.sweep.may_change_clocks", lambda: (True, "test"))
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0, lock_clocks="max")
    assert [c.clocks for c in result.conditions] == ["default", "locked max"] * 2
    assert fake.nvmlDeviceSetGpuLockedClocks.call_count == 2
    (w,) = result.environment["warnings"]
    assert str(other) in w and "damaged" in w


# --- hypothesis: whatever a record holds, reading it never raises and a sweep's look never dies ---

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "key",
    "backend",
    "sm_mhz",
    "mem_mhz",
    "saved",
    "owners",
    "time_unix",
    "host",
    "boot_id",
    "owner_pid",
    "owner_host",
    "owner_time_unix",
    "owner_hold",
    "owner_id",
    "owner_start_time",
    "owner_boot_id",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4),
    drop=st.sets(st.sampled_from(FIELDS), max_size=2),
)
def test_any_mangled_record_is_read_or_named_never_fatal(fake, changes: dict[str, Any], drop: set[str]) -> None:
    doc = _valid(**changes)
    for name in drop:
        if (
            name.startswith("owner_")
            and isinstance(doc.get("owners"), list)
            and doc["owners"]
            and isinstance(doc["owners"][0], dict)
        ):
            doc["owners"][0].pop(name.removeprefix("owner_"), None)
        else:
            doc.pop(name, None)
    path = state_files.path_of(KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))  # NaN and infinities as JSON extensions, as a hand edit might
    states, damaged = state_files.scan()
    assert len(states) + len(damaged) == 1
    for d in damaged:
        assert "\n" not in str(d) and str(path) in str(d)
    for s in states:  # whatever passed is in range: describing it and judging its owners works
        assert all(1 <= o.pid <= state_files.PID_LIMIT for o in s.owners)
        assert all(math.isfinite(t) for t in [s.time_unix, *(o.time_unix for o in s.owners)])
        assert "\n" not in s.describe()
    warnings = clocks.reap_stale()  # may restore through the fake NVML; must never raise
    assert all("\n" not in w for w in warnings)
    path.unlink(missing_ok=True)


owners = st.builds(
    dict,
    pid=st.integers(1, state_files.PID_LIMIT),
    host=st.text("abcxyz-.0123", min_size=1, max_size=30),
    time_unix=st.floats(0, state_files.TIME_LIMIT_UNIX),
    hold=st.sampled_from(["process", "until-reset"]),
    id=st.text("abcdef0123456789_-", min_size=1, max_size=64),
    start_time=st.none() | st.integers(0, state_files.START_TIME_LIMIT),
    boot_id=st.none() | st.uuids().map(str),
)
mhz = st.integers(1, state_files.MHZ_LIMIT)
pairs = st.none() | st.tuples(mhz, mhz).map(sorted)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    owner_docs=st.lists(owners, max_size=5),
    sm=pairs | st.just([TDP, TDP]),
    mem=pairs,
    t=st.floats(0, state_files.TIME_LIMIT_UNIX),
    boot=st.none() | st.uuids().map(str),
)
def test_every_record_in_range_is_written_and_read_back_the_same(
    fake, owner_docs: list[dict[str, Any]], sm: Any, mem: Any, t: float, boot: str | None
) -> None:
    doc = {
        "key": KEY,
        "backend": "nvml",
        "sm_mhz": sm,
        "mem_mhz": mem,
        "saved": {},
        "owners": owner_docs,
        "time_unix": t,
        "host": "h",
        "boot_id": boot,
    }
    st_in = state_files.parse(doc)
    with state_files.guarded(KEY):
        state_files.write(st_in)
    assert state_files.read(KEY) == st_in
    state_files.remove(KEY)


def test_a_record_from_before_these_fields_still_reads(fake) -> None:
    doc = _valid()
    for name in ("host", "boot_id"):
        del doc[name]
    for name in ("start_time", "boot_id"):
        del doc["owners"][0][name]
    _write(doc)
    (s,) = state_files.all_states()
    (o,) = s.owners
    assert (o.start_time, o.boot_id, s.boot_id, s.host) == (None, None, None, None)
    assert o.alive and not s.stale  # this process: kill(pid, 0) succeeds, the boot is unknown
    assert clocks.reap_stale() == []
    assert uuid.UUID(state_files.current_boot_id() or "")  # this machine has a boot id to record
