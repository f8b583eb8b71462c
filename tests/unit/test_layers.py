"""The layer guard: no module of privstats imports from a higher layer or a sibling package.

Every ``import`` and ``from … import`` in ``src/privstats`` is read with ``ast``: at module
level, inside functions and classes, and under ``if TYPE_CHECKING:``. Relative imports are
resolved, and ``from privstats import name`` counts as an import of the package ``name``
when it is one, else of ``privstats/__init__.py``. Imports made from strings at run time
(``importlib.import_module``) are not seen.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import privstats

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "files", "progress", "version"),
    ("crypto",),
    ("data", "transport"),
    ("disclosure",),
    ("stats", "ml", "synth"),
    ("linkage",),
    ("protocols",),
    ("jobs",),
    ("service",),
    ("web",),
    ("hub", "node"),
    ("client",),
    ("local_federation",),
    ("cli", "__init__"),
    ("__main__",),
)
"""privstats' layers, lowest first; the same list, with what each layer holds and why, is
the "Layers" section of docs/architecture.md (change both together). A module may import
from a lower layer and from its own package, never from a higher layer nor from another
package of its own layer. A package is a top-level module or folder of ``privstats``;
``__init__`` is ``privstats/__init__.py``, the public API."""

SOURCE = Path(__file__).resolve().parents[2] / "src" / "privstats"
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


@dataclass(frozen=True)
class Import:
    """One import of a privstats package found in a source file."""

    path: Path
    line: int
    importer: str
    imported: str
    statement: str

    def __str__(self) -> str:
        shown = self.path.relative_to(SOURCE.parent) if SOURCE in self.path.parents else self.path
        where = f"{shown}:{self.line}"
        return (
            f"{where}: {self.importer} (L{LAYER_OF.get(self.importer, '?')}) imports "
            f"{self.imported} (L{LAYER_OF.get(self.imported, '?')}): {self.statement}"
        )


def _module_parts(path: Path, root: Path) -> tuple[list[str], bool]:
    """The dotted name of a source file as parts, and whether it is a package's __init__."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def package_of(path: Path, root: Path = SOURCE) -> str:
    """The package a source file belongs to: ``stats`` for stats/aggregate.py, ``errors`` for
    errors.py, ``__init__`` for privstats/__init__.py."""
    parts, is_init = _module_parts(path, root)
    return "__init__" if is_init and len(parts) == 1 else parts[1]


def _imported_package(dotted: str) -> str | None:
    """The privstats package a dotted module name lies in, or None if not privstats."""
    parts = dotted.split(".")
    if parts[0] != "privstats":
        return None
    if len(parts) == 1:
        return "__init__"
    name = parts[1]
    if (SOURCE / f"{name}.py").is_file() or (SOURCE / name).is_dir():
        return name
    return "__init__"  # a name defined in privstats/__init__.py


def _absolute(node: ast.ImportFrom, path: Path, root: Path) -> str:
    if not node.level:
        return node.module or ""
    parts, is_init = _module_parts(path, root)
    base = parts if is_init else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path, root: Path = SOURCE) -> list[Import]:
    """Every import of a privstats package anywhere in one source file under ``root``."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    importer = package_of(path, root)
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path, root)
            if module == "privstats":  # from privstats import errors / __version__
                targets = [f"privstats.{alias.name}" for alias in node.names]
            else:
                targets = [module]
        for target in targets:
            imported = _imported_package(target)
            if imported is not None:
                statement = ast.get_source_segment(text, node)
                found.append(
                    Import(path, node.lineno, importer, imported, (statement or "").split("\n")[0])
                )
    return found


def _sources() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_the_guard_reads_the_source_tree_the_tests_import() -> None:
    assert Path(privstats.__file__).resolve().parent == SOURCE
    assert len(_sources()) > 50


def test_every_package_has_a_layer() -> None:
    packages = {package_of(path) for path in _sources()}
    imported = {found.imported for path in _sources() for found in imports_of(path)}

    unknown = sorted((packages | imported) - set(LAYER_OF))

    assert not unknown, f"packages in no layer (add them to LAYERS): {unknown}"


def test_no_module_imports_from_a_higher_layer_or_a_sibling_package() -> None:
    violations = [
        str(found)
        for path in _sources()
        for found in imports_of(path)
        if found.imported != found.importer
        and LAYER_OF.get(found.imported, -1) >= LAYER_OF.get(found.importer, -1)
    ]

    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_the_guard_sees_imports_in_functions_type_checking_and_relative_forms(
    tmp_path: Path,
) -> None:
    """The reader itself, on a stats module planted in a copy of the package layout."""
    root = tmp_path / "privstats"
    (root / "stats").mkdir(parents=True)
    planted = root / "stats" / "probe.py"
    planted.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from privstats.jobs.spec import Spec\n"
        "def f():\n"
        "    import privstats.protocols.sharing\n"
        "from ..hub import app\n"
        "from . import coverage\n"
        "from privstats import __version__, errors\n",
        encoding="utf-8",
    )

    seen = [(found.line, found.importer, found.imported) for found in imports_of(planted, root)]

    assert sorted(seen) == [
        (3, "stats", "jobs"),
        (5, "stats", "protocols"),
        (6, "stats", "hub"),
        (7, "stats", "stats"),
        (8, "stats", "__init__"),
        (8, "stats", "errors"),
    ]
