"""The TensorRT backend against the stand-in module in tests/standin (see its docstring: no
TensorRT runtime can run where trtpace is tested)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trtpace.cli import app
from trtpace.errors import InputError, UsageError
from trtpace.measure.workloads import tensorrt as trtw

STANDIN = Path(__file__).parent / "standin"
onnx = pytest.importorskip("onnx")
from onnx_models import conv_net


def _load_standin(monkeypatch: pytest.MonkeyPatch, flavour: str):
    monkeypatch.syspath_prepend(str(STANDIN))
    for mod in ("tensorrt", "tensorrt_rtx"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    if flavour == "rtx":
        monkeypatch.setitem(sys.modules, "tensorrt", None)  # only TensorRT-RTX is installed
        import tensorrt_rtx as trt
    else:
        monkeypatch.setenv("TRTPACE_STANDIN_TRT", flavour)
        import tensorrt as trt
    assert trt.__version__.endswith("+standin") and trtw.import_tensorrt() is trt
    return trt


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch):
    yield _load_standin(monkeypatch, "10")
    sys.modules.pop("tensorrt", None)


@pytest.fixture
def standin11(monkeypatch: pytest.MonkeyPatch):
    yield _load_standin(monkeypatch, "11")
    sys.modules.pop("tensorrt", None)


@pytest.fixture
def standin_rtx(monkeypatch: pytest.MonkeyPatch):
    yield _load_standin(monkeypatch, "rtx")
    sys.modules.pop("tensorrt_rtx", None)


@pytest.fixture
def fake_gpu_identity(monkeypatch: pytest.MonkeyPatch):
    """No GPU here: the engine cache key gets a GPU identity, and DeviceScope (cudaSetDevice) is
    replaced by one that keeps the current device in Python and logs enter/exit into the stand-in's
    event list, next to the Builder/Runtime/deserialize/context events it records."""
    monkeypatch.setattr(trtw._core, "device_info", lambda i: {"name": "Fake GPU", "compute_capability": "9.0"})
    stack: list[int] = []

    class RecordingScope:
        def __init__(self, device: int) -> None:
            self.device = device

        def __enter__(self) -> RecordingScope:
            stack.append(self.device)
            _events().append(("enter", self.device))
            return self

        def __exit__(self, *exc: object) -> None:
            _events().append(("exit", stack.pop()))

        @staticmethod
        def current() -> int:
            return stack[-1] if stack else 0

    monkeypatch.setattr(trtw._core, "DeviceScope", RecordingScope)
    return RecordingScope


def _events() -> list:
    return (sys.modules.get("tensorrt") or sys.modules["tensorrt_rtx"])._events


def test_parse_shapes() -> None:
    assert trtw.parse_shapes("input:1x3x640x640, mask:1X5") == {"input": (1, 3, 640, 640), "mask": (1, 5)}
    assert trtw.parse_shapes(None) == {}
    for bad in ("input", "input:1xAx3", "input:0x3", ":1x2"):
        with pytest.raises(UsageError, match="--shapes"):
            trtw.parse_shapes(bad)


def test_not_installed_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # importing it raises ImportError
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    with pytest.raises(trtw.TensorRTError, match="pip install tensorrt"):
        trtw.import_tensorrt()
    f = tmp_path / "m.engine"
    f.write_bytes(b"x")
    r = CliRunner().invoke(app, ["sweep", "--engine", str(f), "--out", str(tmp_path / "r")])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "pip install tensorrt" in r.output


def test_missing_and_foreign_engine_files(standin, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["sweep", "--engine", str(tmp_path / "none.engine"), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "does not exist" in r.output
    junk = tmp_path / "junk.engine"
    junk.write_bytes(b"\x00not an engine")
    # the stand-in logs an unrelated warning first, as TensorRT does: the error is what is quoted
    with pytest.raises(InputError, match="cannot load the engine .*Serialization assertion") as e:
        trtw.load_engine(junk)
    assert "plan file across different models" not in str(e.value)
    old = tmp_path / "old.engine"
    old.write_bytes(b"TRT-STANDIN-ENGINE\n" + json.dumps({"version": "8.6.1", "io": [], "capturable": True,
                                                             "work_ns": 1}).encode())
    with pytest.raises(InputError, match="not compatible with this version of TensorRT.*please rebuild"):
        trtw.load_engine(old)


def test_onnx_parse_errors_are_quoted(standin, fake_gpu_identity, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"definitely not protobuf")
    with pytest.raises(InputError, match="the ONNX parser failed: ModelImporter"):
        trtw.build_from_onnx(bad, {}, cache_dir=tmp_path / "cache")


def test_dynamic_input_needs_shapes(standin, fake_gpu_identity, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    with pytest.raises(UsageError, match=r"input 'input' is dynamic \(-1, 3, 32, 32\): give its shape with "
                                         r"--shapes input:1x3x32x32"):
        trtw.build_from_onnx(model, {}, cache_dir=tmp_path / "cache")


def test_engine_cache_by_model_shapes_version_gpu(standin, fake_gpu_identity, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    cache = tmp_path / "cache"
    a = trtw.build_from_onnx(model, {"input": (1, 3, 32, 32)}, cache_dir=cache)
    mtime = a.stat().st_mtime_ns
    assert trtw.build_from_onnx(model, {"input": (1, 3, 32, 32)}, cache_dir=cache) == a
    assert a.stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert trtw.build_from_onnx(model, {"input": (1, 3, 32, 32)}, cache_dir=cache, rebuild=True) == a
    assert trtw.build_from_onnx(model, {"input": (2, 3, 32, 32)}, cache_dir=cache) != a
    data = model.read_bytes()
    k = trtw.engine_cache_path
    assert k(data, {}, "10.1", "A", cache) != k(data, {}, "10.2", "A", cache) != k(data, {}, "10.2", "B", cache)
    engine, _ = trtw.load_engine(a)
    assert engine.num_io_tensors == 2 and tuple(engine.get_tensor_shape("input")) == (-1, 3, 32, 32)
    # a dynamic engine without shapes fails before any GPU work
    with pytest.raises(UsageError, match="--shapes input:1x3x32x32"):
        trtw.from_engine(a)


@pytest.mark.gpu
def test_onnx_engine_runs_as_a_captured_graph(standin, tmp_path: Path) -> None:
    import numpy as np

    import trtpace

    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    w = trtw.from_onnx(model, shapes={"input": (2, 3, 32, 32)}, cache_dir=tmp_path / "cache")
    assert w.info["launch"] == "graph" and w.device_timing == "graph-event-nodes"
    assert w.info["io"]["output"] == ["float32", [2, 8, 32, 32]]
    result = trtpace.sweep(w, gaps_s=[0.01], iterations=20, warmup=3)
    dev = result.conditions[0].column("device_us")
    assert np.median(dev) > 25  # the stand-in's 30 us of GPU work per inference, captured and replayed


@pytest.mark.gpu
def test_uncapturable_engine_falls_back_to_python_launch(standin, tmp_path: Path) -> None:
    import numpy as np

    import trtpace

    model = tmp_path / "loop.onnx"
    model.write_bytes(conv_net(dynamic_batch=False, loop=True))
    inputs = tmp_path / "in.npz"
    np.savez(inputs, input=np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32))
    w = trtw.from_onnx(model, inputs=inputs, cache_dir=tmp_path / "cache")
    assert w.info["launch"] == "python" and "capture failed" in w.info["capture_failed"]
    result = trtpace.sweep(w, gaps_s=[0.01], iterations=15, warmup=2)
    assert result.conditions[1].count == 17 and np.isfinite(result.conditions[1].column("e2e_us")).all()


@pytest.mark.gpu
def test_cli_onnx_sweep(standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    r = CliRunner().invoke(app, ["sweep", "--onnx", str(model), "--shapes", "input:1x3x32x32", "--gaps", "0.01",
                                 "--iterations", "10", "--out", str(tmp_path / "r"), "--json", "--no-report"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["conditions"][1]["workload"] == "net.onnx" and doc["conditions"][1]["info"]["launch"] == "graph"
    r = CliRunner().invoke(app, ["sweep", "--onnx", str(model), "--out", str(tmp_path / "r2")])
    assert r.exit_code == 2 and "--shapes input:1x3x32x32" in r.output


@pytest.mark.gpu
def test_real_tensorrt_when_installed(tmp_path: Path) -> None:
    trt = pytest.importorskip("tensorrt")
    if trt.__version__.endswith("+standin"):
        pytest.skip("only the stand-in is importable")
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    w = trtw.from_onnx(model, shapes={"input": (1, 3, 32, 32)}, cache_dir=tmp_path / "cache")
    import trtpace

    result = trtpace.sweep(w, gaps_s=[0.01], iterations=20, warmup=3)
    assert result.rows()[1]["summary"]["e2e_us"]["n"] == 20
