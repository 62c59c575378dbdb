"""The TensorRT backend against the stand-in module in tests/standin (see its docstring: no
TensorRT runtime can run where trtpace is tested)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trtpace import _core
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
    monkeypatch.setattr(_core, "device_info", lambda i: {"name": "Fake GPU", "compute_capability": "9.0"})
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

    monkeypatch.setattr(_core, "DeviceScope", RecordingScope)
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
    old.write_bytes(
        b"TRT-STANDIN-ENGINE\n" + json.dumps({"version": "8.6.1", "io": [], "capturable": True, "work_ns": 1}).encode()
    )
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
    with pytest.raises(
        UsageError,
        match=r"input 'input' is dynamic \(-1, 3, 32, 32\): give its shape with "
        r"--shapes input:1x3x32x32",
    ):
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


def _engine_file(trt, tmp_path: Path, io: list[dict], name: str = "m.engine", **kw) -> Path:
    f = tmp_path / name
    f.write_bytes(trt._serialize(io, **kw))
    return f


def _io(name: str, mode: str, shape: list[int], dtype: str = "FLOAT", **kw) -> dict:
    return {"name": name, "mode": mode, "shape": shape, "dtype": dtype, **kw}


def _open(trt, source, gpu: int = 0, shapes=None):
    return trtw.open_context(trt, source, gpu=gpu, shapes=shapes or {}, provided={}, label=str(source))


def test_gpu_n_is_current_for_runtime_deserialization_and_context(standin, fake_gpu_identity, tmp_path: Path) -> None:
    f = _engine_file(standin, tmp_path, [_io("x", "INPUT", [1, 4]), _io("y", "OUTPUT", [1, 4])])
    engine, _, _, _ = _open(standin, f, gpu=3)
    assert _events() == [("enter", 3), ("Runtime", 3), ("deserialize", 3), ("context", 3), ("exit", 3)]
    assert engine._device == 3 and fake_gpu_identity.current() == 0  # restored after


def test_gpu_n_is_current_for_the_builder(standin, fake_gpu_identity, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    trtw.build_from_onnx(model, {}, gpu=2, cache_dir=tmp_path / "cache")
    assert _events() == [("enter", 2), ("Builder", 2), ("exit", 2)]


def test_plugin_engines_load_once_plugins_are_registered(standin, fake_gpu_identity, tmp_path: Path) -> None:
    f = _engine_file(
        standin, tmp_path, [_io("x", "INPUT", [1, 4]), _io("y", "OUTPUT", [1, 4])], plugins=["EfficientNMS_TRT"]
    )
    raw = standin.Runtime(standin.Logger())
    assert raw.deserialize_cuda_engine(f.read_bytes()) is None  # what users hit: "could not find plugin"
    engine, _ = trtw.load_engine(f)
    assert engine.num_io_tensors == 2


def test_plugin_models_parse_once_plugins_are_registered(standin, fake_gpu_identity, tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("EfficientNMS_TRT", ["boxes"], ["dets"], domain="trt.plugins")],
        "nms",
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 100, 4])],
        [helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, "num_dets", 4])],
    )
    model = tmp_path / "nms.onnx"
    model.write_bytes(
        helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("trt.plugins", 1)]
        ).SerializeToString()
    )
    net = standin.Builder(standin.Logger()).create_network(0)
    assert not standin.OnnxParser(net, standin.Logger()).parse_from_file(str(model))  # not registered yet
    engine_file = trtw.build_from_onnx(model, {}, cache_dir=tmp_path / "cache")
    engine, context, _, _ = _open(standin, engine_file)
    plan = {p.name: p for p in trtw.plan_tensors(standin, engine, context)}
    # NMS output: its size is known only at run time
    assert plan["dets"].data_dependent and plan["dets"].shape == (1, -1, 4)
    assert plan["dets"].nbytes == context.get_max_output_size("dets") == 1 * 100 * 4 * 4


@pytest.mark.parametrize("flavour", ["10", "11", "rtx"])
def test_every_data_type_is_sized_and_filled(flavour: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import numpy as np

    trt = _load_standin(monkeypatch, flavour)
    names = list(trt.DataType.__members__)
    assert len(names) == 12
    io = [_io(f"in_{n}", "INPUT", [1, 3, 5], n) for n in names] + [
        _io(f"out_{n}", "OUTPUT", [1, 3, 5], n) for n in names
    ]
    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(trt._serialize(io))
    context = engine.create_execution_context()
    plans = {p.name: p for p in trtw.plan_tensors(trt, engine, context)}
    bits = {
        "FLOAT": 32,
        "HALF": 16,
        "BF16": 16,
        "INT8": 8,
        "UINT8": 8,
        "INT32": 32,
        "INT64": 64,
        "BOOL": 8,
        "FP8": 8,
        "INT4": 4,
        "FP4": 4,
        "E8M0": 8,
    }
    rng = np.random.default_rng(0)
    for n in names:
        p = plans[f"in_{n}"]
        assert p.nbytes == -(-15 * bits[n] // 8), n  # sub-byte types round up: 15 INT4 values in 8 bytes
        assert plans[f"out_{n}"].nbytes == p.nbytes
        has_numpy = n in ("FLOAT", "HALF", "INT8", "UINT8", "INT32", "INT64", "BOOL")
        assert (p.numpy is not None) == has_numpy
        if not has_numpy:
            with pytest.raises(TypeError):  # the real nptype's behaviour
                trt.nptype(trt.DataType[n])
            assert p.dtype == n.lower()
        assert trtw.input_bytes(p, rng, None).nbytes == p.nbytes
    bf16 = plans["in_BF16"]
    with pytest.raises(InputError, match="bf16, which numpy lacks: give its 30 raw bytes"):
        trtw.input_bytes(bf16, rng, np.zeros((1, 3, 5), np.float32))
    assert trtw.input_bytes(bf16, rng, np.arange(30, dtype=np.uint8)).tolist() == list(range(30))


def test_host_shape_tensors_and_vectorized_formats(standin, tmp_path: Path) -> None:
    import numpy as np

    io = [
        _io("shape", "INPUT", [2], "INT32", location="HOST"),
        _io("x", "INPUT", [1, 3, 5, 5], "HALF", format="CHW16"),
        _io("y", "OUTPUT", [1, 3, 5, 5], "HALF", format="CHW16"),
    ]
    engine = standin.Runtime(standin.Logger()).deserialize_cuda_engine(standin._serialize(io))
    context = engine.create_execution_context()
    plans = {p.name: p for p in trtw.plan_tensors(standin, engine, context)}
    assert plans["shape"].host and not plans["x"].host
    assert plans["x"].vectorized == (1, 16) and plans["x"].nbytes == 16 * 5 * 5 * 2  # channels padded 3 -> 16
    given = np.ones((1, 3, 5, 5), np.float16)
    data = trtw.input_bytes(plans["x"], np.random.default_rng(0), given).view(np.float16).reshape(1, 16, 5, 5)
    assert (data[:, :3] == 1).all() and (data[:, 3:] == 0).all()
    assert "padded to multiples of 16" in trtw.workload._tensor_note(plans["y"])
    assert trtw.workload._tensor_note(plans["shape"]) == "host memory (shape tensor)"


def test_data_dependent_outputs_use_an_output_allocator(standin, monkeypatch: pytest.MonkeyPatch) -> None:
    io = [_io("x", "INPUT", [1, 8]), _io("idx", "OUTPUT", [-1, 2], "INT64", data_dependent=True)]
    engine = standin.Runtime(standin.Logger()).deserialize_cuda_engine(standin._serialize(io))
    context = engine.create_execution_context()
    assert tuple(context.get_tensor_shape("idx")) == (-1, 2)  # what the old code sized as 1 byte
    plans = trtw.plan_tensors(standin, engine, context)
    assert plans[1].data_dependent and plans[1].nbytes == 100 * 2 * 8
    assert "cannot be captured" in trtw.workload._not_capturable(context, plans, 0)

    class NoBaseInit(standin.IOutputAllocator):
        def __init__(self) -> None:
            pass

    with pytest.raises(TypeError, match="must be called"):  # pybind11's rule, kept by the stand-in
        context.set_output_allocator("idx", NoBaseInit())
    allocated: list[int] = []

    class HostBuffer:  # device memory cannot be had here: sizes and addresses only
        def __init__(self, device: int, nbytes: int) -> None:
            allocated.append(nbytes)
            self.nbytes, self.ptr = nbytes, 4096 * len(allocated)

    monkeypatch.setattr(_core, "DeviceBuffer", HostBuffer)
    alloc = trtw.tensors.output_allocator(standin, 0)
    assert context.set_output_allocator("idx", alloc) and not context.set_output_allocator("x", alloc)
    first = alloc.reserve("idx", 1600)
    assert alloc.reallocate_output_async("idx", first, 800, 256, 0) == first  # fits: no new memory
    assert alloc.reallocate_output("idx", first, 3200, 256) != first and allocated == [1600, 3200]
    alloc.notify_shape("idx", standin.Dims((7, 2)))
    assert alloc.shapes == {"idx": (7, 2)}


def test_ultralytics_header_is_skipped(standin, fake_gpu_identity, tmp_path: Path) -> None:
    import struct

    plan = standin._serialize([_io("images", "INPUT", [1, 3, 64, 64]), _io("output0", "OUTPUT", [1, 84, 8])])
    meta = json.dumps(
        {
            "description": "Ultralytics YOLO11n model",
            "version": "8.3.0",
            "imgsz": [64, 64],
            "batch": 1,
            "names": {"0": "person"},
        }
    ).encode()
    f = tmp_path / "yolo11n.engine"
    f.write_bytes(struct.pack("<I", len(meta)) + meta + plan)
    assert trtw.split_ultralytics_header(plan) == (plan, None)
    engine, _ = trtw.load_engine(f)
    assert engine.num_io_tensors == 2
    _, _, _, info = _open(standin, f)
    assert info["ultralytics_header"] == {
        "description": "Ultralytics YOLO11n model",
        "version": "8.3.0",
        "imgsz": [64, 64],
        "batch": 1,
    }


def test_version_compatible_engines_need_host_code_allowed(standin, tmp_path: Path) -> None:
    io = [_io("x", "INPUT", [1, 4]), _io("y", "OUTPUT", [1, 4])]
    f = _engine_file(standin, tmp_path, io, version="10.8.0+standin", version_compatible=True)
    assert standin.Runtime(standin.Logger()).deserialize_cuda_engine(f.read_bytes()) is None
    engine, runtime = trtw.load_engine(f)
    assert runtime.engine_host_code_allowed and engine.num_io_tensors == 2
    g = _engine_file(standin, tmp_path, io, name="other.engine", version="10.8.0+standin")
    with pytest.raises(InputError, match="please rebuild"):  # not version compatible: still refused
        trtw.load_engine(g)


def test_external_weights_are_parsed_from_the_path_and_keyed(standin, fake_gpu_identity, tmp_path: Path) -> None:
    import onnx
    import onnx.numpy_helper

    src = tmp_path / "src.onnx"
    src.write_bytes(conv_net(dynamic_batch=False))
    model_dir = tmp_path / "big"
    model_dir.mkdir()
    model = model_dir / "big.onnx"
    proto = onnx.load(str(src))
    raw = [onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(t), t.name) for t in proto.graph.initializer]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(raw)  # raw_data tensors: the ones onnx stores externally
    onnx.save_model(proto, str(model), save_as_external_data=True, location="big.weights", size_threshold=0)
    data = model.read_bytes()
    assert trtw.external_data_files(model, data) == [model_dir / "big.weights"]
    net = standin.Builder(standin.Logger()).create_network(0)
    assert not standin.OnnxParser(net, standin.Logger()).parse(data)  # bytes alone: the weights are not found
    cache = tmp_path / "cache"
    a = trtw.build_from_onnx(model, {}, cache_dir=cache)
    assert trtw.build_from_onnx(model, {}, cache_dir=cache) == a
    weights = model_dir / "big.weights"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x80\x3f")  # new weights, same model file
    assert trtw.build_from_onnx(model, {}, cache_dir=cache) != a
    weights.unlink()
    with pytest.raises(InputError, match="external weight file .*big.weights cannot be read"):
        trtw.build_from_onnx(model, {}, cache_dir=cache)


def test_truncated_cached_engine_is_rebuilt(standin, fake_gpu_identity, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    cache = tmp_path / "cache"
    a = trtw.build_from_onnx(model, {}, cache_dir=cache)
    good = a.read_bytes()
    a.write_bytes(good[: len(good) // 2])  # a crash or a full disk mid-copy
    assert trtw.cached_engine_meta(a) is None
    assert trtw.build_from_onnx(model, {}, cache_dir=cache) == a and a.read_bytes() == good
    assert sorted(p.name for p in cache.iterdir()) == sorted([a.name, a.with_suffix(".json").name])  # no temp files


def test_precision_flags_on_tensorrt_10(standin, fake_gpu_identity, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    cache = tmp_path / "cache"
    fp32 = trtw.build_from_onnx(model, {}, cache_dir=cache)
    fp16 = trtw.build_from_onnx(model, {}, cache_dir=cache, precision=["fp16"])
    assert fp16 != fp32
    assert trtw.cached_engine_meta(fp32)["strongly_typed"] is True
    meta = trtw.cached_engine_meta(fp16)
    assert meta["strongly_typed"] is False and meta["precision"] == ["fp16"]
    doc = json.loads(fp16.read_bytes().split(b"\n", 1)[1])
    assert doc["precision"] == ["FP16"] and doc["strongly_typed"] is False  # the flag reached the builder
    assert "FP16" in trtw.describe_precision(False, ["fp16"])
    assert "an FP32 model stays FP32" in trtw.describe_precision(True, [])
    with pytest.raises(UsageError, match="'fp64' is not one of"):
        trtw.parse_precision(["fp64"])


def test_precision_flags_refused_on_tensorrt_11(standin11, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    r = CliRunner().invoke(app, ["sweep", "--onnx", str(model), "--fp16", "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "--fp16: TensorRT 11.4.0+standin builds only strongly typed networks" in r.output
    r = CliRunner().invoke(app, ["sweep", "--int8", "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "--int8 goes with --onnx" in r.output


def test_rtx_builds_for_capture_and_specializes_eagerly(standin_rtx, fake_gpu_identity, tmp_path: Path) -> None:
    trt = standin_rtx
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    f = trtw.build_from_onnx(model, {"input": (2, 3, 32, 32)}, cache_dir=tmp_path / "cache")
    assert json.loads(f.read_bytes().split(b"\n", 1)[1])["user_allocation"] is True
    engine, context, _, info = _open(trt, f, shapes={"input": (2, 3, 32, 32)})
    assert info["rtx_kernel_specialization"] == "eager"
    assert (
        context._config.dynamic_shapes_kernel_specialization_strategy
        == trt.DynamicShapesKernelSpecializationStrategy.EAGER
    )
    plans = trtw.plan_tensors(trt, engine, context)
    assert trtw.workload._not_capturable(context, plans, 0) is None
    plain = _engine_file(trt, tmp_path, [_io("x", "INPUT", [1, 4]), _io("y", "OUTPUT", [1, 4])])
    engine, context, _, info = _open(trt, plain)
    assert "rtx_kernel_specialization" not in info  # static shapes: nothing to specialize
    assert "not stream capturable" in trtw.workload._not_capturable(context, trtw.plan_tensors(trt, engine, context), 0)


def test_launch_must_be_python_or_graph(standin) -> None:
    with pytest.raises(UsageError, match="launch must be one of graph, python, got 'direct'"):
        trtw.from_engine("x.engine", launch="direct")


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
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
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
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
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_cli_onnx_sweep(standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    r = CliRunner().invoke(
        app,
        [
            "sweep",
            "--onnx",
            str(model),
            "--shapes",
            "input:1x3x32x32",
            "--gaps",
            "0.01",
            "--launch",
            "graph",
            "--iterations",
            "10",
            "--out",
            str(tmp_path / "r"),
            "--json",
            "--no-report",
        ],
    )
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


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_launch_python_and_graph_both_run(standin, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    py = trtw.from_onnx(model, cache_dir=tmp_path / "cache", launch="python")
    graph = trtw.from_onnx(model, cache_dir=tmp_path / "cache", launch="graph")
    assert py.info["launch"] == "python" and "capture_failed" not in py.info
    assert graph.info["launch"] == "graph" and graph.device_timing == "graph-event-nodes"
    assert "strongly typed" in graph.info["precision"]
    loop = tmp_path / "loop.onnx"
    loop.write_bytes(conv_net(dynamic_batch=False, loop=True))
    with pytest.raises(trtw.TensorRTError, match="cannot run as a CUDA graph: graph capture failed"):
        trtw.from_onnx(loop, cache_dir=tmp_path / "cache", launch="graph")


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_cuda_errors_during_capture_propagate(standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trtpace.errors import CudaError

    def broken(device: int, fn: object) -> None:
        raise CudaError("cudaStreamBeginCapture(s, mode) failed: cudaErrorIllegalAddress")

    monkeypatch.setattr(_core, "capture_graph", broken)
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    with pytest.raises(CudaError, match="cudaErrorIllegalAddress"):  # not turned into a python launch
        trtw.from_onnx(model, cache_dir=tmp_path / "cache")


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_data_dependent_outputs_run_with_the_output_allocator(standin, tmp_path: Path) -> None:
    import trtpace

    f = _engine_file(
        standin, tmp_path, [_io("x", "INPUT", [1, 8]), _io("idx", "OUTPUT", [-1, 2], "INT64", data_dependent=True)]
    )
    w = trtw.from_engine(f)
    assert w.info["launch"] == "python" and "data-dependent" in w.info["capture_failed"]
    assert "IOutputAllocator" in w.info["tensors"]["idx"]
    result = trtpace.sweep(w, gaps_s=[0.01], iterations=5, warmup=1)
    assert result.conditions[1].count == 6
    alloc = next(k for k in w.keepalive if isinstance(k, standin.IOutputAllocator))
    assert alloc.shapes == {"idx": (7, 2)}


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_every_data_type_runs(standin, tmp_path: Path) -> None:
    names = list(standin.DataType.__members__)
    f = _engine_file(
        standin,
        tmp_path,
        [_io(f"in_{n}", "INPUT", [1, 3, 5], n) for n in names]
        + [_io(f"out_{n}", "OUTPUT", [1, 3, 5], n) for n in names]
        + [
            _io("shape", "INPUT", [2], "INT32", location="HOST"),
            _io("v", "INPUT", [1, 3, 4, 4], "HALF", format="CHW16"),
        ],
    )
    w = trtw.from_engine(f)
    assert w.info["launch"] == "graph" and w.info["io"]["in_BF16"] == ["bf16", [1, 3, 5]]


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_engine_on_a_second_gpu(standin, tmp_path: Path) -> None:
    from trtpace.platform import device

    if device.gpu_count() < 2:
        pytest.skip("needs two GPUs")
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=False))
    standin._events.clear()
    w = trtw.from_onnx(model, gpu=1, cache_dir=tmp_path / "cache")
    assert w.device == 1 and w.info["launch"] == "graph"
    assert {d for what, d in standin._events} == {1}  # Builder, Runtime, deserialize, context on GPU 1
    assert _core.DeviceScope.current() == 0  # restored


@pytest.mark.gpu
@pytest.mark.test_hooks  # the stand-in's enqueue runs GPU work through _core's test hooks
def test_rtx_capture_after_eager_specialization(standin_rtx, tmp_path: Path) -> None:
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net(dynamic_batch=True))
    w = trtw.from_onnx(model, shapes={"input": (2, 3, 32, 32)}, cache_dir=tmp_path / "cache")
    assert w.info["launch"] == "graph" and w.info["rtx_kernel_specialization"] == "eager"
    kept = [k for held in w.keepalive for k in (held if isinstance(held, tuple) else (held,))]
    context = next(k for k in kept if isinstance(k, standin_rtx.IExecutionContext))
    assert context._fallback_enqueues == 0  # no fallback kernel was frozen into the graph
