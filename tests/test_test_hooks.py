"""The test hooks are all there or all absent, as _core._has_test_hooks() says, and where
TRTPACE_REQUIRE_TEST_HOOKS is set (.ci/run) they must be there: CI never skips the fault tests."""

from __future__ import annotations

import os

import hooks


def test_the_hooks_match_the_build() -> None:
    found = {f"{owner}.{name}".lstrip("."): hooks.present(owner, name) for owner, name in hooks.HOOKS}
    assert all(v == hooks.built() for v in found.values()), (hooks.built(), found)


def test_the_hooks_are_there_where_required() -> None:
    if os.environ.get("TRTPACE_REQUIRE_TEST_HOOKS", "") not in ("", "0"):
        assert hooks.built(), f"TRTPACE_REQUIRE_TEST_HOOKS is set and {hooks.SKIP_REASON}"
