"""The nested fields of a sweep.json, checked on load: every field that reading, reporting or
comparing results uses has the type (and range) that use needs, so a damaged or hand-edited file
is refused in one line (environment, settings) or loads its condition as corrupt (a condition's
info), never as a traceback later.

Fields that are only printed may hold anything JSON does; the whole document is bounded in depth
and its integers in range (a 400-digit number would overflow float()).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 64
MAX_INT = 1 << 64  # pacing seeds are uint64
NUMBER = (int, float)
_NONE = type(None)


class Malformed(ValueError):
    """A field of sweep.json that is not what reading it needs (the message names it)."""


@dataclass(frozen=True)
class Obj:
    """An object (dict) whose listed fields, where present, match their specs; others are free."""

    fields: dict[str, Any]
    nullable: bool = True


@dataclass(frozen=True)
class ListOf:
    item: Any
    nullable: bool = True


@dataclass(frozen=True)
class MapOf:
    value: Any
    nullable: bool = True


def _names(types: tuple[type, ...]) -> str:
    words = {
        int: "a whole number",
        float: "a number",
        str: "text",
        bool: "true/false",
        _NONE: "null",
        dict: "an object",
        list: "a list",
    }
    return " or ".join(dict.fromkeys(words.get(t, t.__name__) for t in types))


def kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", _NONE: "null"}.get(
        type(value), "a number" if isinstance(value, NUMBER) else type(value).__name__
    )


def check(value: Any, spec: Any, where: str) -> None:
    """Raises Malformed (a ValueError) naming `where` when `value` does not match `spec`."""
    if isinstance(spec, (Obj, ListOf, MapOf)):
        if value is None and spec.nullable:
            return
        want: type = dict if isinstance(spec, (Obj, MapOf)) else list
        if not isinstance(value, want):
            raise Malformed(f"{where} is {kind(value)}, not {_names((want,))}")
        if isinstance(spec, Obj) and isinstance(value, dict):
            for k, sub in spec.fields.items():
                if k in value:
                    check(value[k], sub, f"{where}.{k}")
        elif isinstance(spec, MapOf) and isinstance(value, dict):
            for k, v in value.items():
                check(v, spec.value, f"{where}.{str(k)[:20]}")
        elif isinstance(spec, ListOf) and isinstance(value, list):
            for i, v in enumerate(value):
                check(v, spec.item, f"{where}[{i}]")
        return
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in types:
        raise Malformed(f"{where} is true/false, not {_names(types)}")
    if not isinstance(value, types):
        raise Malformed(f"{where} is {kind(value)}, not {_names(types)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise Malformed(f"{where} is not a finite number")


def bounded(doc: Any, where: str = "sweep.json") -> None:
    """The whole document at most MAX_DEPTH deep and every integer within +-2**64 (Malformed)."""
    stack: list[tuple[Any, int, str]] = [(doc, 0, where)]
    while stack:
        value, depth, at = stack.pop()
        if depth > MAX_DEPTH:
            raise Malformed(f"{at} is nested more than {MAX_DEPTH} deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1, f"{at}.{str(k)[:20]}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, f"{at}[{i}]") for i, v in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT <= value <= MAX_INT:
            raise Malformed(f"{at} is a number out of range")


OPT_NUMBER = (int, float, _NONE)
OPT_TEXT = (str, _NONE)

# What reports and comparisons use of the environment, the settings and a condition's info.
ENVIRONMENT = Obj(
    {
        "gpu": Obj({}),
        "gpus": ListOf(Obj({})),
        "warnings": ListOf(str, nullable=False),
        "telemetry": Obj({"rate_hz": OPT_NUMBER}),
        "host_cpu": Obj({"note": OPT_TEXT}),
    },
    nullable=False,
)

SETTINGS = Obj(
    {
        "command": OPT_TEXT,
        "gap_s": OPT_NUMBER,
        "plain_policy": OPT_TEXT,
        "launch": ListOf(OPT_TEXT),
        "io": (str, list, _NONE),
    },
    nullable=False,
)

INFO = Obj(
    {
        "gpu": Obj({"label": OPT_TEXT, "worker": (int, _NONE)}),
        "gpu_mode": OPT_TEXT,
        "gpu_round": (int, _NONE),
        "round": (int, _NONE),
        "launch": OPT_TEXT,
        "kind": OPT_TEXT,
        "armed_choice": OPT_TEXT,
        "armed_gate": OPT_TEXT,
        "cpu_ns": NUMBER,
        "loop_cpu_ns": NUMBER,
        "filler_work_ns": NUMBER,
        "host_cpu": Obj({"core": (int, _NONE), "idle": MapOf(Obj({"residency_pct": NUMBER}, nullable=False))}),
        "gap_work": (dict, str, _NONE),
        "load_error": str,
    },
    nullable=False,
)
