"""Text tables: every released row, a few suppressed ones, and a summary line."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from privstats.cli._console import coverage_table, groups_table
from privstats.cli.run_join import join_table


def _text(table: Table) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def _groups(released: int, suppressed: int) -> list[dict[str, Any]]:
    """Groups as a release lists them: sorted labels, suppressed ones interleaved."""
    groups = []
    for i in range(released + suppressed):
        hidden = (i % 2 == 1 and i // 2 < suppressed) or i >= 2 * released
        groups.append(
            {"by": {"id": f"g{i:05d}"}, "count": None if hidden else 10 + i, "suppressed": hidden}
        )
    return groups


@pytest.mark.parametrize(("released", "suppressed"), [(3, 0), (3, 4), (5, 10_000)])
def test_groups_table_collapses_suppressed_rows_and_sums_up(released: int, suppressed: int) -> None:
    groups = _groups(released, suppressed)
    assert sum(g["suppressed"] for g in groups) == suppressed
    result = {"groups": groups, "parties": 2, "min_cell": 10, "seconds": 1.25}
    text = _text(groups_table(result))
    lines = text.splitlines()
    for group in groups:
        if not group["suppressed"]:  # every released group keeps its row
            assert any(group["by"]["id"] in line and str(group["count"]) in line for line in lines)
    assert sum("suppressed" in line and "g0" in line for line in lines) == min(suppressed, 10)
    hidden = max(0, suppressed - 10)
    assert sum(line.strip() == "…" for line in lines) == (1 if hidden else 0)
    caption = " ".join(text.split())
    assert f"groups: {released:,} released, {suppressed:,} suppressed below 10" in caption
    not_shown = f"{hidden:,} suppressed groups not shown (--json lists every group)"
    assert (not_shown in caption) == bool(hidden)
    assert len(lines) < 30 + released


def test_join_table_collapses_suppressed_rows_and_sums_up() -> None:
    groups = []
    for entry in _groups(4, 50):
        hidden = entry["suppressed"]
        groups.append({**entry, "sum:income": None if hidden else 5.0, "mean:income": None})
    result = {"groups": groups, "matched": 40, "min_cell": 10, "left_size": 100, "right_size": 90}
    text = _text(join_table(result, {"left": "nso", "right": "bank"}, 2))
    assert "40 suppressed groups not shown (--json lists every group)" in " ".join(text.split())
    assert sum("suppressed" in line and "g0" in line for line in text.splitlines()) == 10
    assert "groups: 4 released, 50 suppressed" in " ".join(text.split())


def _coverage_result(matched: int, domains: list[dict[str, Any]]) -> dict[str, Any]:
    share = {"estimate": 0.5, "ci_low": 0.4, "ci_high": 0.6, "confidence": 0.95}
    population: dict[str, Any] = {"estimate": 3000.0, "ci_low": 2900.0, "ci_high": 3100.0}
    if matched == 0:
        population = {"estimate": None, "ci_low": None, "ci_high": None}
        population["note"] = "undefined: no person is in both lists"
    return {
        "coverage": {**share, "method": "wilson"},
        "groups": domains,
        "register_size": 2000,
        "source_size": 1500,
        "matched": matched,
        "population_estimate": {**population, "method": "chapman"},
    }


def test_coverage_table_says_when_the_population_estimate_is_undefined() -> None:
    text = " ".join(_text(coverage_table(_coverage_result(0, []))).split())
    assert "dual-system population estimate undefined: no person is in both lists" in text
    assert "2,000 – 2,000" not in text
    defined = " ".join(_text(coverage_table(_coverage_result(500, []))).split())
    assert "dual-system population estimate 3,000 (CI 2,900 – 3,100)" in defined


def test_coverage_table_collapses_suppressed_domains() -> None:
    domains = [
        {
            "by": {"region": f"r{i:04d}"},
            "register_size": None if i else 1500,
            "matched": None if i else 500,
            "estimate": None if i else 0.3,
            "ci_low": None if i else 0.2,
            "ci_high": None if i else 0.4,
            "suppressed": bool(i),
        }
        for i in range(1_000)
    ]
    text = _text(coverage_table(_coverage_result(500, domains), truth={("r0000",): 0.31}))
    assert "989 suppressed domains not shown (--json lists every domain)" in " ".join(text.split())
    assert sum("suppressed" in line and "r0" in line for line in text.splitlines()) == 10
    assert "domains: 1 released, 999 suppressed" in " ".join(text.split())
    assert "31.00%" in text
