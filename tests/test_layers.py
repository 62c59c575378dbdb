"""The package's import structure: no cycles (function-level imports included), and no module
reaches the root package for anything but the compiled core. The layer order itself is the
import-linter contract in pyproject.toml (`lint-imports`, run by .ci/run)."""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp", reason="import-linter (grimp) is in the test extra; this environment lacks it")


@pytest.fixture
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("trtpace")


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    # Imports of the root package stand for `_core` (checked below); they close no real cycle.
    for importer in graph.find_modules_that_directly_import("trtpace"):
        graph.remove_import(importer=importer, imported="trtpace")
    modules = sorted(m for m in graph.modules if m != "trtpace")
    cycles = []
    for importer in modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported != "trtpace" and graph.chain_exists(importer=imported, imported=importer):
                cycles.append(f"{importer} <-> {imported}")
    assert not cycles


def test_only_the_cli_imports_the_root_package(graph: grimp.ImportGraph) -> None:
    offenders = []
    for importer in sorted(graph.find_modules_that_directly_import("trtpace")):
        for detail in graph.get_import_details(importer=importer, imported="trtpace"):
            line = detail["line_contents"]
            if line.strip() != "from trtpace import _core" and not importer.startswith("trtpace.cli"):
                offenders.append(f"{importer}:{detail['line_number']}: {line}")
    assert not offenders
