"""Prints, as JSON, the public API of an imported TensorRT bindings module: run in a child process
by tests/test_tensorrt_conformance.py with the real bindings wheel on sys.path and stub native
libraries (libnvinfer & co., which pip's bindings wheels link but do not contain) on LD_LIBRARY_PATH.

Usage: python trt_api_dump.py MODULE
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import re
import sys
from typing import Any

_PARAM = re.compile(r"(?:\(|, )(\*{0,2}\w+)(?::|\)|,|=)")


def signatures(obj: Any, name: str) -> list[list[str]]:
    """Parameter names of each overload, from pybind11's docstring lines `name(a: T, b: T = x) -> R`."""
    doc = getattr(obj, "__doc__", None) or ""
    sigs = []
    for line in doc.splitlines():
        m = re.match(rf"\s*(?:\d+\. )?{re.escape(name)}(\(.*\))\s*(?:->.*)?$", line)
        if m:
            sigs.append([p for p in _PARAM.findall(m.group(1)) if p != "self"])
    return sigs


def kind(owner: Any, attr: str) -> str:
    raw = inspect.getattr_static(owner, attr)
    if isinstance(raw, property) or type(raw).__name__ == "property":
        return "property"
    value = getattr(owner, attr)
    if isinstance(raw, (staticmethod, classmethod)) or (callable(value) and not inspect.isclass(value)):
        return "method"
    return "attribute"


def describe_class(cls: type) -> dict[str, Any]:
    members = getattr(cls, "__members__", None)
    out: dict[str, Any] = {"enum": None, "attrs": {}}
    if isinstance(members, dict) or (members is not None and issubclass(cls, enum.Enum)):
        out["enum"] = {k: int(v) for k, v in dict(members).items()}
    for attr in dir(cls):
        if attr.startswith("_") or (out["enum"] and attr in out["enum"]):
            continue
        try:
            k = kind(cls, attr)
        except AttributeError:
            continue
        value = inspect.getattr_static(cls, attr)
        if inspect.isclass(getattr(cls, attr)):
            out["attrs"][attr] = {"kind": "class", "sigs": [], "class": describe_class(getattr(cls, attr))}
            continue
        out["attrs"][attr] = {
            "kind": k,
            "sigs": signatures(getattr(cls, attr), attr) if k == "method" else [],
            "raw": type(value).__name__,
        }
    return out


def main() -> None:
    import numpy as np

    m = importlib.import_module(sys.argv[1])
    api: dict[str, Any] = {"version": m.__version__, "classes": {}, "functions": {}, "values": []}
    for name in dir(m):
        if name.startswith("_"):
            continue
        obj = getattr(m, name)
        if inspect.isclass(obj):
            api["classes"][name] = describe_class(obj)
        elif callable(obj):
            api["functions"][name] = signatures(obj, name) or [list(inspect.signature(obj).parameters)]
        else:
            api["values"].append(name)
    api["nptype"] = {}
    api["itemsize"] = {}
    for member_name, member in m.DataType.__members__.items():
        try:
            api["nptype"][member_name] = np.dtype(m.nptype(member)).name
        except TypeError:
            api["nptype"][member_name] = "TypeError"
        api["itemsize"][member_name] = member.itemsize
    print(json.dumps(api))


if __name__ == "__main__":
    main()
