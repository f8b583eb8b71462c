"""Size rules of the source: no module over 600 lines; in protocols/ and hub/, no
function over 80 lines.

Small modules with one job, and protocol steps and routes that fit on a screen, are what
keep the code readable; this test keeps them so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "privstats"
MODULE_LINES = 600
FUNCTION_LINES: dict[str, int] = {"protocols": 80, "hub": 80}
"""Package → most lines of one function (a def with its decorators' body)."""


def test_no_module_is_over_600_lines() -> None:
    modules = sorted(SOURCE.rglob("*.py"))
    assert len(modules) > 100
    too_long = [
        f"{path.relative_to(SOURCE)} ({count} lines)"
        for path in modules
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    ]
    assert too_long == []


@pytest.mark.parametrize("package", sorted(FUNCTION_LINES))
def test_no_function_is_over_its_line_limit(package: str) -> None:
    limit = FUNCTION_LINES[package]
    too_long = []
    for path in sorted((SOURCE / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    where = path.relative_to(SOURCE)
                    too_long.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    assert too_long == []
