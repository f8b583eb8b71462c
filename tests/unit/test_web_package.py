"""The pages' files ship with the package and load nothing from outside it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from privstats.web import STATIC_DIR, TEMPLATE_DIR

ROOT = Path(__file__).resolve().parents[2]


def _package_data() -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    return data


def test_every_template_and_static_file_is_package_data() -> None:
    patterns = _package_data()["privstats.web"]
    package = TEMPLATE_DIR.parent
    files = [p for d in (TEMPLATE_DIR, STATIC_DIR) for p in d.rglob("*") if p.is_file()]

    assert {p.name for p in files} >= {"base.html", "style.css", "htmx.min.js", "htmx-LICENSE.txt"}
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    assert set(files) <= shipped, set(files) - shipped
    assert "pages/templates/**/*" in _package_data()["privstats.node"]


def test_templates_and_stylesheet_name_no_outside_url() -> None:
    for path in [*TEMPLATE_DIR.rglob("*.html"), STATIC_DIR / "style.css"]:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
        assert "<script>" not in text and " style=" not in text, path  # CSP: no inline code


def test_htmx_is_vendored_with_its_licence() -> None:
    script = (STATIC_DIR / "htmx.min.js").read_text(encoding="utf-8")
    licence = (STATIC_DIR / "htmx-LICENSE.txt").read_text(encoding="utf-8")

    assert "htmx" in script and len(script) > 30_000
    assert "Zero-Clause BSD" in licence
