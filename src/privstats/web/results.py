"""A released result as a page shows it: tables with suppressed cells marked, charts, CSV.

Tables come from the kind's own renderer (``JobKind.render``), so a page and the console
show the same figures; a coverage result also gets its interval chart, a federated training
its per-round curves where the result has them. The CSV download holds one row per group
for grouped results (``groups[]`` with ``by`` and ``suppressed``), else one row per figure.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from privstats.jobs.kind import JobKind
from privstats.jobs.render import TableView, coverage_view, json_rendering
from privstats.web.charts import Interval, interval_chart, line_chart

__all__ = ["SUPPRESSED_MARKS", "ResultView", "result_csv", "result_view"]

SUPPRESSED_MARKS = ("suppressed", "withheld")
"""Cell texts that mark a cell the release rules withheld."""

_SERIES = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("f1", "F1"))


@dataclass(frozen=True)
class ResultView:
    """What a page shows of a result: tables, lines of text, charts and notes on them."""

    tables: list[TableView]
    lines: list[str]
    charts: list[Markup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_suppressed(cell: str) -> bool:
    """Whether a rendered cell marks a withheld figure."""
    return cell.strip().lower().startswith(SUPPRESSED_MARKS)


def _coverage_chart(result: Mapping[str, Any]) -> Markup:
    rows = []
    overall = result.get("coverage") or {}
    if overall.get("estimate") is not None:
        rows.append(
            Interval("all", overall["estimate"], overall.get("ci_low"), overall.get("ci_high"))
        )
    for group in result.get("groups", []):
        label = " · ".join(str(v) for v in group.get("by", {}).values())
        if group.get("suppressed"):
            rows.append(Interval(label, None, None, None))
        else:
            rows.append(
                Interval(label, group.get("estimate"), group.get("ci_low"), group.get("ci_high"))
            )
    confidence = overall.get("confidence")
    level = f"{100 * confidence:g}% " if isinstance(confidence, int | float) else ""
    return interval_chart(rows, title=f"Coverage by domain with {level}intervals")


def _round_curves(result: Mapping[str, Any]) -> tuple[list[Markup], list[str]]:
    """Curves per round from a training result: accuracy/F1 if it has them per round, else
    the pooled validation accuracy and loss per round, with a note on what is not."""
    history = result.get("history") or result.get("per_round")
    charts: list[Markup] = []
    notes: list[str] = []
    if isinstance(history, list) and history and isinstance(history[0], Mapping):
        series = {
            label: [row.get(key) for row in history]
            for key, label in (*_SERIES, ("epsilon", "ε spent"))
            if any(key in row for row in history)
        }
        charts.append(line_chart(series, title="Figures per round", test_id="round-chart"))
        return charts, notes
    accuracy = result.get("validation_accuracy")
    if isinstance(accuracy, list) and accuracy:
        charts.append(
            line_chart(
                {"validation accuracy": accuracy},
                title="Pooled validation accuracy per round",
                test_id="round-chart",
            )
        )
    losses = result.get("validation_loss")
    if isinstance(losses, list) and losses:
        charts.append(
            line_chart(
                {"validation loss": losses},
                title="Pooled validation loss per round (after the warm-up rounds)",
                test_id="loss-chart" if charts else "round-chart",
            )
        )
    final = [
        f"{label} {result[key]:.3f}"
        for key, label in _SERIES
        if isinstance(result.get(key), int | float)
    ]
    if result.get("epsilon") is not None:
        final.append(f"ε spent {result['epsilon']:.3g}")
    notes.append(
        "F1 and ε are for the final model only ("
        + (", ".join(final) or "none")
        + "); per round the result records the pooled validation accuracy and loss."
    )
    return charts, notes


def result_view(kind: JobKind, result: Mapping[str, Any]) -> ResultView:
    """``result`` of a job of ``kind`` as tables, lines and charts."""
    notes: list[str] = []
    try:
        if kind.name == "coverage" and "groups" in result:
            rendering: list[TableView | str] = [coverage_view(result, max_suppressed=10**9)]
        else:
            rendering = list(kind.render(result))
    except (KeyError, TypeError, ValueError, AttributeError):
        # a result of another code version than this hub's renderer: show what was released
        rendering = list(json_rendering(result))
        notes.append(
            f"This hub cannot draw this {kind.name} result as tables; it is shown as JSON."
        )
    tables = [item for item in rendering if isinstance(item, TableView)]
    lines = [item for item in rendering if isinstance(item, str)]
    charts: list[Markup] = []
    if kind.name == "coverage" and "groups" in result and not notes:
        charts.append(_coverage_chart(result))
    if kind.name == "fl_train" and not notes:
        charts, notes = _round_curves(result)
    return ResultView(tables, lines, charts, notes)


def _scalar(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _flat(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix, _scalar(value)))


def result_csv(result: Mapping[str, Any]) -> str:
    """The result as CSV: one row per group (``by`` columns, then figures), or for a result
    without groups one ``figure,value`` row per figure (nested names dotted)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    groups: Sequence[Mapping[str, Any]] = result.get("groups") or []
    if groups:
        by = list(groups[0].get("by", {}))
        figures: list[str] = []
        for group in groups:
            figures.extend(k for k in group if k != "by" and k not in figures)
        writer.writerow([*by, *figures])
        for group in groups:
            labels = [_blank(group.get("by", {}).get(name)) for name in by]
            writer.writerow([*labels, *(_blank(_scalar(group.get(f))) for f in figures)])
    else:
        rows: list[tuple[str, Any]] = []
        _flat("", result, rows)
        writer.writerow(["figure", "value"])
        writer.writerows((name, _blank(value)) for name, value in rows)
    return buffer.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _blank(value: Any) -> Any:
    """None as an empty cell; a text that a spreadsheet would run as a formula, quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
