"""Property tests: random bytes and random JSON in a results folder or a trace file never escape as
anything but a one-line TrtpaceError; damaged condition files load as 'corrupt'; `trtpace report`
exits 0 or 2, and with 2 says why in one line."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.measure import pacing

FAST = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_N", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CLI = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "r"
    trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=1, out=out)
    return out


def _copy(template: Path, into: str) -> Path:
    return Path(shutil.copytree(template, Path(into) / "r"))


def _load_or_one_line(folder: Path) -> trtpace.SweepResult | None:
    try:
        result = trtpace.load(folder)
    except trtpace.TrtpaceError as e:
        message = str(e)
    else:
        result.rows()
        return result
    assert message and "\n" not in message
    return None


def _mutations(doc: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The valid sweep.json with one field somewhere replaced by random JSON (or removed)."""
    paths: list[tuple[Any, ...]] = [("format",), ("environment",), ("settings",), ("conditions",)]
    for i, entry in enumerate(doc["conditions"]):
        paths += [("conditions", i)] + [("conditions", i, k) for k in entry]
        paths += [("conditions", i, "pacing", k) for k in entry["pacing"]]

    def apply(path: tuple[Any, ...], value: Any, remove: bool) -> dict[str, Any]:
        new = json.loads(json.dumps(doc))
        target = new
        for k in path[:-1]:
            target = target[k]
        if remove:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return new

    return st.builds(apply, st.sampled_from(paths), json_values, st.booleans())


@FAST
@given(content=st.binary(max_size=300))
def test_random_bytes_as_sweep_json(template: Path, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / "sweep.json").write_bytes(content)
        assert _load_or_one_line(folder) is None


@FAST
@given(value=json_values)
def test_random_json_as_sweep_json(template: Path, value: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / "sweep.json").write_text(json.dumps(value))
        assert _load_or_one_line(folder) is None


@FAST
@given(data=st.data())
def test_one_field_of_sweep_json_replaced(template: Path, data: st.DataObject) -> None:
    doc = json.loads((template / "sweep.json").read_text())
    mutated = data.draw(_mutations(doc))
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / "sweep.json").write_text(json.dumps(mutated))
        _load_or_one_line(folder)


@FAST
@given(content=st.binary(max_size=2000), which=st.integers(0, 1), keep=st.integers(0, 4000))
def test_random_condition_file_loads_as_corrupt(template: Path, content: bytes, which: int, keep: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        path = folder / f"condition-{which:03d}.npz"
        # Random bytes, or the real file cut short and random bytes after.
        path.write_bytes(path.read_bytes()[:keep] + content)
        result = trtpace.load(folder)
        other = result.conditions[1 - which]
        assert other.status == "done" and other.count == 6
        bad = result.conditions[which]
        assert bad.status in ("corrupt", "done")
        if bad.status == "corrupt":
            assert bad.count == 0 and "\n" not in bad.info["load_error"]
        result.rows()


@FAST
@given(
    content=st.binary(max_size=400)
    | st.text(max_size=200).map(str.encode)
    | st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(), max_size=8).map(
        lambda xs: "\n".join(map(str, xs)).encode()
    )
)
def test_random_trace_files(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trace.txt"
        path.write_bytes(content)
        try:
            p = pacing.trace(path)
        except trtpace.TrtpaceError as e:
            message = str(e)
        else:
            message = ""
        if message:
            assert "\n" not in message
            return
        assert p.trace_offsets_ns[0] == 0 and all(0 <= o <= pacing.MAX_TRACE_SPAN_NS for o in p.trace_offsets_ns)
        assert list(p.trace_offsets_ns) == sorted(p.trace_offsets_ns)
        assert pacing.Pacing.from_json(json.loads(json.dumps(p.to_json()))) == p


@CLI
@given(data=st.data(), target=st.sampled_from(["sweep.json", "condition-000.npz", "condition-001.npz"]))
def test_report_command_exits_0_or_2_in_one_line(template: Path, data: st.DataObject, target: str) -> None:
    if target == "sweep.json":
        doc = json.loads((template / "sweep.json").read_text())
        content = data.draw(st.binary(max_size=200) | _mutations(doc).map(lambda d: json.dumps(d).encode()))
    else:
        content = data.draw(st.binary(max_size=500))
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / target).write_bytes(content)
        r = CliRunner().invoke(app, ["report", str(folder), "--json"])
        assert r.exit_code in (0, 2), r.output
        assert "Traceback" not in r.output
        if r.exit_code == 2:
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
