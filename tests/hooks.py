"""The compiled core's test hooks: built only with TRTPACE_TEST_HOOKS=ON (CMakeLists.txt), which
the tests and CI use; a user's wheel has none. Tests that need them carry the `test_hooks` marker
and are skipped on a build without them (conftest.py); .ci/run sets TRTPACE_REQUIRE_TEST_HOOKS=1
so that there the missing hooks fail tests/test_test_hooks.py instead of skipping quietly."""

from __future__ import annotations

import re

from trtpace import _core

# Each hook as the stub names it: (class or "" for the module, name).
HOOKS = (
    ("Workload", "_inject_fault"),
    ("KeepWarmThread", "_inject_fault"),
    ("", "_enqueue_test_work"),
    ("", "_stream_is_capturing"),
)
SKIP_REASON = (
    "needs the test hooks: this trtpace._core was built without TRTPACE_TEST_HOOKS=ON "
    "(pip install -e . -Ccmake.define.TRTPACE_TEST_HOOKS=ON; CI builds with them)"
)


def built() -> bool:
    return bool(_core._has_test_hooks())


def present(owner: str, name: str) -> bool:
    return name in vars(getattr(_core, owner) if owner else _core)


def strip_from_stub(text: str) -> str:
    """A pybind11-stubgen stub of a build with the hooks, as a build without them gives it: each
    hook's `def` and the indented lines below it (its docstring) removed."""
    names = "|".join(sorted({re.escape(n) for _, n in HOOKS}))
    out: list[str] = []
    skip_deeper_than: int | None = None
    for line in text.splitlines(keepends=True):
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not line.strip() or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if re.match(rf"\s*def ({names})\(", line):
            skip_deeper_than = indent
            continue
        out.append(line)
    return "".join(out)
