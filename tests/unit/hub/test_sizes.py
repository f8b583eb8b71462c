"""Size rules of the source: no module over its line limit, no function over its limit.

Small modules with one job, and functions that fit on a screen, are what keep the hub
readable; this test keeps them so. Add a package to ``LIMITS`` to hold it to the rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import privstats

SOURCE = Path(privstats.__file__).parent
LIMITS: dict[str, tuple[int, int]] = {
    "hub": (600, 80),
}
"""Package (under ``src/privstats``) → (most lines of a module, most lines of a function)."""
FROZEN = ("migrations",)
"""Folders left out: an applied Alembic migration is history and is never edited."""


def _modules(package: str) -> list[Path]:
    return sorted(
        path
        for path in (SOURCE / package).rglob("*.py")
        if not set(FROZEN) & set(path.relative_to(SOURCE).parts)
    )


def _long_functions(path: Path, limit: int) -> list[str]:
    """``module:line name (n lines)`` for each function of ``path`` longer than ``limit``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    too_long = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                too_long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    return too_long


@pytest.mark.parametrize("package", sorted(LIMITS))
def test_no_module_is_over_its_line_limit(package: str) -> None:
    limit = LIMITS[package][0]
    modules = _modules(package)
    assert modules, f"no modules found under {SOURCE / package}"

    too_long = [
        f"{path.relative_to(SOURCE)} ({count} lines)"
        for path in modules
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > limit
    ]

    assert too_long == [], f"modules over {limit} lines: {too_long}"


@pytest.mark.parametrize("package", sorted(LIMITS))
def test_no_function_is_over_its_line_limit(package: str) -> None:
    limit = LIMITS[package][1]

    too_long = [found for path in _modules(package) for found in _long_functions(path, limit)]

    assert too_long == [], f"functions over {limit} lines: {too_long}"
