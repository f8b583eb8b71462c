"""A released result as plain tables and lines, for a console or a web page to draw.

Renderers know nothing of terminals or HTML: a :class:`TableView` is a title, columns,
rows of text and a caption. Every grouped result has ``groups[]`` with ``by`` (column →
label) and ``suppressed``; :func:`groups_view` draws any of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Column",
    "Rendering",
    "TableView",
    "coverage_view",
    "figure",
    "figures_view",
    "groups_view",
    "json_rendering",
    "percent",
]


@dataclass(frozen=True)
class Column:
    name: str
    numeric: bool = False


@dataclass(frozen=True)
class TableView:
    """One table: ``rows`` hold text already formatted for reading."""

    title: str | None
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


Rendering = list[TableView | str]
"""Tables and lines of text, in the order they are shown."""


def json_rendering(result: Mapping[str, Any]) -> Rendering:
    """A result with no tables of its own: its JSON, indented."""
    return [json.dumps(result, indent=2, default=str)]


def percent(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def figure(value: Any) -> str:
    """A released figure as text: thousands separators, six significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return json.dumps(value)


def figures_view(
    title: str | None, figures: Sequence[tuple[str, str]], caption: str = ""
) -> TableView:
    """A two-column table of named figures."""
    return TableView(
        title,
        (Column("figure"), Column("value", numeric=True)),
        tuple((name, value) for name, value in figures),
        caption,
    )


def _collapsed(
    groups: Sequence[Mapping[str, Any]], max_suppressed: int
) -> tuple[list[Mapping[str, Any]], int, int]:
    """The groups to show (at most ``max_suppressed`` suppressed ones), how many are
    suppressed in all, and how many suppressed ones are not shown."""
    suppressed = sum(1 for group in groups if group.get("suppressed"))
    shown: list[Mapping[str, Any]] = []
    seen = 0
    for group in groups:
        if group.get("suppressed"):
            seen += 1
            if seen > max_suppressed:
                continue
        shown.append(group)
    return shown, suppressed, suppressed - min(suppressed, max_suppressed)


def groups_view(
    result: Mapping[str, Any], title: str | None = None, *, max_suppressed: int = 10
) -> TableView:
    """A result with per-group figures as one row per group.

    Only the first ``max_suppressed`` suppressed groups get a row; the others are counted
    in one closing row (the JSON output lists every group). The caption sums up how many
    groups were released and suppressed.
    """
    groups = result.get("groups", [])
    by = list(groups[0]["by"]) if groups else []
    figures: list[str] = []
    for group in groups:
        for name in group:
            if name not in ("by", "suppressed") and name not in figures:
                figures.append(name)
    shown, suppressed, hidden = _collapsed(groups, max_suppressed)
    rows: list[tuple[str, ...]] = []
    for group in shown:
        labels = [str(v) for v in group["by"].values()]
        if group.get("suppressed"):
            rows.append((*labels, "suppressed", *([""] * (len(figures) - 1))))
        else:
            rows.append((*labels, *(figure(group.get(name)) for name in figures)))
    if hidden:  # one row marks the gap; the caption says how many are not shown
        rows.append(("…", *([""] * (len(by) + len(figures) - 1))))
    notes = [f"{key} {figure(result[key])}" for key in ("matched", "parties") if key in result]
    released = len(groups) - suppressed
    below = f" below {result['min_cell']}" if "min_cell" in result else ""
    notes.append(f"groups: {released:,} released, {suppressed:,} suppressed{below}")
    if hidden:
        notes.append(f"{hidden:,} suppressed groups not shown (--json lists every group)")
    if "seconds" in result:
        notes.append(f"{result['seconds']:.1f} s")
    columns = (*(Column(name) for name in by), *(Column(name, numeric=True) for name in figures))
    return TableView(title, columns, tuple(rows), " · ".join(notes))


def coverage_view(
    result: Mapping[str, Any],
    truth: Mapping[tuple[str, ...], float] | None = None,
    *,
    max_suppressed: int = 10,
) -> TableView:
    """The coverage result as a table; ``truth`` adds a column of known true shares."""
    cov = result["coverage"]
    title = (
        f"Coverage of the register: {percent(cov['estimate'])} "
        f"({100 * cov['confidence']:g}% CI {percent(cov['ci_low'])} – "
        f"{percent(cov['ci_high'])}, {cov['method']})"
    )
    groups = result["groups"]
    by = list(groups[0]["by"]) if groups else []
    figures = ["register", "matched", "coverage", "interval"]
    if truth is not None:
        figures.append("true share")
    shown, suppressed, hidden = _collapsed(groups, max_suppressed)
    rows: list[tuple[str, ...]] = []
    for entry in shown:
        labels = [str(v) for v in entry["by"].values()]
        if entry["suppressed"]:
            row = [*labels, "suppressed", "", "", ""]
        else:
            row = [
                *labels,
                figure(entry["register_size"]),
                figure(entry["matched"]),
                percent(entry["estimate"]),
                f"{percent(entry['ci_low'])} – {percent(entry['ci_high'])}",
            ]
        if truth is not None:
            row.append(percent(truth.get(tuple(entry["by"].values()))))
        rows.append(tuple(row))
    if hidden:
        rows.append(("…", *([""] * (len(by) + len(figures) - 1))))
    pop = result["population_estimate"]
    if pop.get("estimate") is None:
        population = f"dual-system population estimate {pop.get('note', 'undefined')}"
    else:
        population = (
            f"dual-system population estimate {pop['estimate']:,.0f} "
            f"(CI {pop['ci_low']:,.0f} – {pop['ci_high']:,.0f})"
        )
    notes = [
        f"register {figure(result['register_size'])} · source {figure(result['source_size'])}"
        f" · matched {figure(result['matched'])} · {population}"
    ]
    if groups:
        notes.append(f"domains: {len(groups) - suppressed:,} released, {suppressed:,} suppressed")
    if hidden:
        notes.append(f"{hidden:,} suppressed domains not shown (--json lists every domain)")
    if "seconds" in result:
        notes.append(f"{result['seconds']:.1f} s")
    columns = (*(Column(name) for name in by), *(Column(name, numeric=True) for name in figures))
    return TableView(title, columns, tuple(rows), " · ".join(notes))
