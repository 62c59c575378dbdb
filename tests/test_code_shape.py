"""Functions stay short enough to read: none over 80 lines unless its docstring, or a comment
right above it, says why ("Long because ..."), in the package and the benchmarks. (A command's
docstring is its --help, so commands give the reason in the comment.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80
SOURCES = sorted([*(ROOT / "python" / "trtpace").rglob("*.py"), *(ROOT / "bench").glob("*.py")])


def long_functions(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    text = path.read_text()
    source = text.splitlines()
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            k, above = first - 2, []
            while k >= 0 and source[k].lstrip().startswith("#"):  # the comment block right above
                above.append(source[k])
                k -= 1
            doc = (ast.get_docstring(node) or "") + " ".join(above)
            if lines > MAX_LINES and "Long because" not in doc:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}() is {lines} lines")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_long_without_a_reason(path: Path) -> None:
    assert long_functions(path) == []


def test_the_check_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(
        f"def f():\n{body}\n\ndef g():\n    '''Long because it must be.'''\n{body}\n"
        f"\n# Long because: a command's options\n@decorated\ndef h():\n{body}\n"
    )
    assert long_functions(tmp_path / "m.py", tmp_path) == [f"m.py:1 f() is {MAX_LINES + 1} lines"]
