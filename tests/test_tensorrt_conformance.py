"""The stand-in TensorRT (tests/standin) against the real TensorRT bindings wheels from PyPI.

TensorRT's runtime cannot run here, but its Python bindings can be imported: the bindings wheels
(tensorrt-cu13-bindings 10.16 and newest 11.x, tensorrt-rtx-cu13-bindings) hold the pybind11
module and its Python sources, and link libnvinfer & co. only through nine entry points that nothing
calls at import. With stub libraries for those (compiled here; every call would return null), the
real module imports, so this test compares real objects: every public class, method (and its
parameter names), property, enum member and value, module function, `nptype` mapping and
`DataType.itemsize` the stand-in offers must exist, the same, in the real module of its flavour.
Methods a Python subclass overrides (IOutputAllocator's) are not listed by pybind11; for those the
name must appear as a string in the binary. Names the stand-in marks as flavour-only (`_ONLY`)
must be in exactly those wheels.

Wheels come from $TRTPACE_TRT_WHEELS or ~/.cache/trtpace-ci/wheels (.ci/run fills it, keyed by
version through the file names), else from `pip download`; the test skips only when the package
index cannot be reached.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

TESTS = Path(__file__).parent
# flavour: (distribution, version requirement, module inside the wheel)
WHEELS = {
    "10": ("tensorrt-cu13-bindings", "==10.16.1.11", "tensorrt_bindings"),
    "11": ("tensorrt-cu13-bindings", ">=11,<12", "tensorrt_bindings"),
    "rtx": ("tensorrt-rtx-cu13-bindings", "", "tensorrt_rtx_bindings"),
}
# What the bindings import from TensorRT's native libraries (more are added if an import names them).
STUB_SYMBOLS = [
    "createInferBuilder_INTERNAL",
    "createInferRefitter_INTERNAL",
    "createInferRuntime_INTERNAL",
    "createNvOnnxParserRefitter_INTERNAL",
    "createNvOnnxParser_INTERNAL",
    "getNvOnnxParserVersion",
    "getBuilderPluginRegistry",
    "getPluginRegistry",
    "initLibNvInferPlugins",
]
STUB_LIBRARIES = [
    "libnvinfer.so.10",
    "libnvinfer_plugin.so.10",
    "libnvonnxparser.so.10",
    "libnvinfer.so.11",
    "libnvinfer_plugin.so.11",
    "libnvonnxparser.so.11",
    "libtensorrt_rtx.so.1",
    "libtensorrt_onnxparser_rtx.so.1",
]
# pybind11 trampoline classes: their overridable methods are not attributes of the base class.
TRAMPOLINES = {"IOutputAllocator", "ILogger"}


def _wheel_dirs() -> list[Path]:
    """$TRTPACE_TRT_WHEELS, then this user's cache (CI's ordinary user may not read root's)."""
    given = os.environ.get("TRTPACE_TRT_WHEELS")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [*([Path(given)] if given else []), base / "trtpace-ci" / "wheels"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:4])


def _matches(version: str, requirement: str) -> bool:
    v = _version(version)
    if requirement.startswith("=="):
        return v == _version(requirement[2:])
    if requirement.startswith(">="):
        low, _, high = requirement[2:].partition(",<")
        return _version(low) <= v < _version(high)
    return True


def _find_wheel(folder: Path, dist: str, requirement: str) -> Path | None:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    found = []
    for f in folder.glob(f"{dist.replace('-', '_')}-*.whl"):
        parts = f.name.split("-")
        if len(parts) >= 5 and parts[2] == tag and _matches(parts[1], requirement):
            found.append((_version(parts[1]), f))
    return max(found)[1] if found else None


def _index_reachable() -> bool:
    url = (
        subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "https://pypi.org/simple"
    )
    host = urlparse(url).hostname or "pypi.org"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError:
        return False
    return True


def _wheel(flavour: str) -> Path:
    dist, requirement, _ = WHEELS[flavour]
    for folder in _wheel_dirs():
        found = _find_wheel(folder, dist, requirement) if os.access(folder, os.R_OK | os.X_OK) else None
        if found is not None:
            return found
    folder = _wheel_dirs()[-1]
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(folder),
            f"{dist}{requirement}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = _find_wheel(folder, dist, requirement)
    if found is None:
        if not _index_reachable():
            pytest.skip(f"the package index is unreachable: cannot fetch {dist}{requirement} (run .ci/run online)")
        pytest.fail(f"pip could not fetch {dist}{requirement}: {(r.stderr or r.stdout).strip()[-500:]}")
    return found


@pytest.fixture(scope="session")
def stub_libs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler to build the stub TensorRT libraries (the package build needs one too)")
    folder = tmp_path_factory.mktemp("trt-stub-libs")
    _build_stubs(cc, folder, STUB_SYMBOLS)
    return folder


def _build_stubs(cc: str, folder: Path, symbols: list[str]) -> None:
    # Each stub returns null/0; nothing in the conformance dump calls into TensorRT's libraries.
    src = folder / "stub.c"
    src.write_text("".join(f"void *{s}(void) {{ return 0; }}\n" for s in symbols))
    lib = folder / "libstub.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True)
    for name in STUB_LIBRARIES:
        shutil.copyfile(lib, folder / name)


_APIS: dict[str, dict[str, Any]] = {}


def real_api(flavour: str, stub_libs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The real module's API, dumped by tests/trt_api_dump.py in a child process."""
    if flavour in _APIS:
        return _APIS[flavour]
    wheel = _wheel(flavour)
    module = WHEELS[flavour][2]
    unpacked = tmp_path_factory.mktemp(f"wheel-{flavour}")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(unpacked)
    env = {**os.environ, "PYTHONPATH": str(unpacked), "LD_LIBRARY_PATH": str(stub_libs)}
    symbols = list(STUB_SYMBOLS)
    for _ in range(20):
        r = subprocess.run(
            [sys.executable, str(TESTS / "trt_api_dump.py"), module],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        missing = re.search(r"undefined symbol: (\w+)", r.stderr)
        if r.returncode == 0 or missing is None:
            break
        symbols.append(missing.group(1))  # a newer wheel imports one more entry point
        _build_stubs(shutil.which("cc") or "gcc", stub_libs, symbols)
    assert r.returncode == 0, f"importing {wheel.name} failed: {r.stderr.strip()[-800:]}"
    api = json.loads(r.stdout)
    binary = next(unpacked.joinpath(module).glob("*.so"))
    api["strings"] = sorted({m.decode() for m in re.findall(rb"[\x20-\x7e]{3,}", binary.read_bytes())})
    api["wheel"] = wheel.name
    _APIS[flavour] = api
    return api


def standin(flavour: str) -> Any:
    sys.path.insert(0, str(TESTS / "standin"))
    try:
        import _trt_standin
    finally:
        sys.path.remove(str(TESTS / "standin"))
    return _trt_standin._load(flavour)


def _params(fn: Any) -> list[list[str]]:
    overloads = getattr(fn, "_overloads", None)
    if overloads:
        return [list(o) for o in overloads]
    return [[p for p in inspect.signature(fn).parameters if p != "self"]]


def _fits(ours: list[str], theirs: list[list[str]]) -> bool:
    return any(real[: len(ours)] == ours for real in theirs)


def standin_surface(mod: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(classes, functions, values) the stand-in module offers publicly."""
    classes: dict[str, Any] = {}
    functions: dict[str, Any] = {}
    values: list[str] = []
    for name, obj in vars(mod).items():
        if name.startswith("_") or inspect.ismodule(obj) or name == "annotations":
            continue
        if inspect.isclass(obj):
            if obj.__module__ == mod.__name__:
                classes[name] = obj
        elif inspect.isfunction(obj):
            if obj.__module__ == mod.__name__:
                functions[name] = obj
        elif not callable(obj) or isinstance(obj, int):
            values.append(name)
    return classes, functions, values


def _class_attrs(mod: Any, cls: type) -> dict[str, tuple[str, Any]]:
    """Public attributes a stand-in class defines itself (not those of builtins it derives from)."""
    out: dict[str, tuple[str, Any]] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ != mod.__name__:
            continue
        for attr in getattr(klass, "__annotations__", {}):
            if not attr.startswith("_") and mod._here(f"{cls.__name__}.{attr}"):
                out[attr] = ("property", None)
        for attr, raw in vars(klass).items():
            if attr.startswith("_"):
                continue
            if isinstance(raw, property):
                out[attr] = ("property", None)
            elif inspect.isclass(raw):
                out[attr] = ("class", raw)
            elif callable(raw):
                out[attr] = ("method", raw)
            else:
                out[attr] = ("attribute", raw)
    return out


def _compare_class(
    mod: Any, name: str, cls: type, real: dict[str, Any], strings: set[str], problems: list[str]
) -> None:
    members = getattr(cls, "__members__", None)
    if members is not None:
        if real["enum"] is None:
            problems.append(f"{name} is an enum in the stand-in, not in the real module")
            return
        for m, v in members.items():
            if m not in real["enum"]:
                problems.append(f"{name}.{m}: no such member")
            elif real["enum"][m] != int(v):
                problems.append(f"{name}.{m} = {int(v)}, the real value is {real['enum'][m]}")
    for attr, (kind, obj) in _class_attrs(mod, cls).items():
        if members is not None and attr in members:
            continue
        theirs = real["attrs"].get(attr)
        if theirs is None:
            if name in TRAMPOLINES and kind == "method" and attr in strings:
                continue  # an overridable method: named in the binary, not listed by pybind11
            problems.append(f"{name}.{attr}: not in the real module")
        elif kind == "class":
            _compare_class(mod, f"{name}.{attr}", obj, theirs["class"], strings, problems)
        elif kind != theirs["kind"] and not (kind == "attribute" and theirs["kind"] in ("attribute", "class")):
            problems.append(f"{name}.{attr} is a {kind} in the stand-in, a {theirs['kind']} in the real module")
        elif kind == "method" and theirs["sigs"] and not all(_fits(p, theirs["sigs"]) for p in _params(obj)):
            problems.append(f"{name}.{attr}{tuple(_params(obj))}: the real parameters are {theirs['sigs']}")


@pytest.mark.parametrize("flavour", list(WHEELS))
def test_standin_offers_only_what_the_real_module_has(
    flavour: str, stub_libs: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    api = real_api(flavour, stub_libs, tmp_path_factory)
    mod = standin(flavour)
    strings = set(api["strings"])
    classes, functions, values = standin_surface(mod)
    assert {"DataType", "Runtime", "ICudaEngine", "IExecutionContext", "IOutputAllocator", "Builder"} <= set(classes)
    problems: list[str] = []
    for name, cls in classes.items():
        if name not in api["classes"]:
            problems.append(f"class {name}: not in the real module")
            continue
        _compare_class(mod, name, cls, api["classes"][name], strings, problems)
    for name, fn in functions.items():
        if name not in api["functions"]:
            problems.append(f"function {name}: not in the real module")
        elif not _fits(_params(fn)[0], api["functions"][name]):
            problems.append(f"{name}{tuple(_params(fn)[0])}: the real parameters are {api['functions'][name]}")
    problems += [f"{v}: not in the real module" for v in values if v not in api["values"] and v != "Any"]
    assert not problems, f"stand-in {flavour} vs {api['wheel']}:\n" + "\n".join(problems)


@pytest.mark.parametrize("flavour", list(WHEELS))
def test_nptype_and_itemsize_match(flavour: str, stub_libs: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    import numpy as np

    api = real_api(flavour, stub_libs, tmp_path_factory)
    mod = standin(flavour)
    ours_np, ours_size = {}, {}
    for name, member in mod.DataType.__members__.items():
        try:
            ours_np[name] = np.dtype(mod.nptype(member)).name
        except TypeError:
            ours_np[name] = "TypeError"
        ours_size[name] = member.itemsize
    assert ours_np == api["nptype"]
    assert ours_size == api["itemsize"]


def _has(api: dict[str, Any], dotted: str) -> bool:
    cls, _, attr = dotted.partition(".")
    c = api["classes"].get(cls)
    if c is None or not attr:
        return c is not None
    return attr in (c["enum"] or {}) or attr in c["attrs"]


def test_flavour_only_names_are_in_exactly_those_wheels(
    stub_libs: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    apis = {f: real_api(f, stub_libs, tmp_path_factory) for f in WHEELS}
    marks = standin("10")._ONLY
    assert {
        "BuilderFlag.FP16",
        "BuilderFlag.INT8",
        "BuilderFlag.REQUIRE_USER_ALLOCATION",
        "IExecutionContext.is_stream_capturable",
    } <= set(marks)
    wrong = [
        f"{name}: marked {sorted(only)}, but {'present' if _has(apis[f], name) else 'absent'} in {f}"
        for name, only in marks.items()
        for f in WHEELS
        if _has(apis[f], name) != (f in only)
    ]
    assert not wrong, "\n".join(wrong)
    for f in WHEELS:  # and each flavour of the stand-in offers only its own
        mod = standin(f)
        offered = {n for n in marks if _has_standin(mod, n)}
        assert offered == {n for n, only in marks.items() if f in only}, f


def _has_standin(mod: Any, dotted: str) -> bool:
    cls_name, _, attr = dotted.partition(".")
    cls = getattr(mod, cls_name, None)
    if cls is None or not attr:
        return cls is not None
    return attr in getattr(cls, "__members__", {}) or attr in _class_attrs(mod, cls)


def test_what_the_backend_relies_on_is_real(stub_libs: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The calls trtpace's backend makes exist in every flavour it supports (or it checks first)."""
    for f in WHEELS:
        api = real_api(f, stub_libs, tmp_path_factory)
        for name in (
            "Runtime.engine_host_code_allowed",
            "IExecutionContext.set_output_allocator",
            "IExecutionContext.get_max_output_size",
            "ICudaEngine.get_tensor_location",
            "ICudaEngine.get_tensor_vectorized_dim",
            "ICudaEngine.get_tensor_components_per_element",
            "OnnxParser.parse_from_file",
            "TensorLocation.HOST",
            "BuilderFlag.VERSION_COMPATIBLE",
            "NetworkDefinitionCreationFlag.STRONGLY_TYPED",
            "ILogger.Severity",
        ):
            assert _has(api, name), (f, name)
        assert "init_libnvinfer_plugins" in api["functions"]
        assert {"reallocate_output", "reallocate_output_async", "notify_shape"} <= set(api["strings"]), f
    assert _has(real_api("rtx", stub_libs, tmp_path_factory), "DynamicShapesKernelSpecializationStrategy.EAGER")
