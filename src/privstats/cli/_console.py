"""Shared console output: results on stdout, progress and messages on stderr.

Both consoles print text as it is (no rich markup): file names, column labels and error
messages may hold square brackets, which rich would otherwise take for style tags. Styled
words go through :func:`warn` and :func:`error`, which style only their own prefix.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from privstats.errors import ParameterError, PrivstatsError

__all__ = [
    "check_output",
    "column_list",
    "coverage_table",
    "err",
    "error",
    "fail_on_error",
    "groups_table",
    "out",
    "parse_bounds",
    "party_files",
    "party_progress",
    "synth_report_table",
    "warn",
]

out = Console(width=None if sys.stdout.isatty() else 120, markup=False)
err = Console(stderr=True, markup=False)


def _styled(prefix: str, style: str, message: object) -> Text:
    return Text.assemble((prefix, style), " ", str(message))


def warn(message: object) -> None:
    """Print ``warning: message`` on stderr; the message is printed exactly as it is."""
    err.print(_styled("warning:", "yellow", message), highlight=False, soft_wrap=True)


def error(message: object) -> None:
    """Print ``error: message`` on stderr; the message is printed exactly as it is."""
    err.print(_styled("error:", "bold red", message), highlight=False, soft_wrap=True)


def column_list(text: str | None) -> tuple[str, ...]:
    """Column names from a comma-separated option such as ``region,age_group``."""
    return tuple(c.strip() for c in text.split(",") if c.strip()) if text else ()


def party_files(items: list[str]) -> dict[str, Path]:
    """``--party NAME=FILE`` options as an ordered mapping of party name to file."""
    parties: dict[str, Path] = {}
    for item in items:
        name, sep, file = (part.strip() for part in item.partition("="))
        if not sep or not name or not file:
            raise ParameterError(
                f"--party {item!r}: write a party as NAME=FILE, e.g. --party north=north.csv",
                parameter="party",
            )
        if name in parties:
            raise ParameterError(f"--party: the name {name!r} is used twice", parameter="party")
        parties[name] = Path(file)
    return parties


@contextlib.contextmanager
def fail_on_error() -> Iterator[None]:
    """Turn privstats errors into a one-line message and exit status 2; Ctrl-C into 130."""
    try:
        yield
    except PrivstatsError as exc:
        error(exc)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


class _PartyProgress:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def __call__(self, party: str, step: str, done: int, total: int) -> None:
        key = (party, step)
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(f"{party}: {step}", total=total or 1)
        self._progress.update(self._tasks[key], completed=done if total else 1, total=total or 1)


@contextlib.contextmanager
def party_progress(enabled: bool = True) -> Iterator[_PartyProgress]:
    """A progress display on stderr with one bar per (party, step)."""
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed:>12,} / {task.total:,}"),
        TimeElapsedColumn(),
        console=err,
        disable=not enabled or not err.is_terminal,
        transient=False,
    )
    with progress:
        yield _PartyProgress(progress)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def coverage_table(
    result: dict[str, Any],
    truth: dict[tuple[str, ...], float] | None = None,
    *,
    max_suppressed: int = 10,
) -> Table:
    """The coverage result as a table; ``truth`` adds a column of known true shares.

    Only the first ``max_suppressed`` suppressed domains get a row; the others are counted
    in one closing row (the JSON output lists every domain). The caption sums up how many
    domains were released and suppressed.
    """
    cov = result["coverage"]
    title = (
        f"Coverage of the register: {_pct(cov['estimate'])} "
        f"({100 * cov['confidence']:g}% CI {_pct(cov['ci_low'])} – {_pct(cov['ci_high'])}, "
        f"{cov['method']})"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    columns = list(result["by_domain"][0]["domain"]) if result["by_domain"] else []
    for name in columns:
        table.add_column(name, no_wrap=True)
    for name in ("register", "matched", "coverage", "interval"):
        table.add_column(name, justify="right", no_wrap=True)
    if truth is not None:
        table.add_column("true share", justify="right", no_wrap=True)
    suppressed = sum(1 for entry in result["by_domain"] if entry["suppressed"])
    shown_suppressed = 0
    for entry in result["by_domain"]:
        values = [str(v) for v in entry["domain"].values()]
        if entry["suppressed"]:
            shown_suppressed += 1
            if shown_suppressed > max_suppressed:
                continue
            row = [*values, "suppressed", "", "", ""]
        else:
            row = [
                *values,
                f"{entry['register_size']:,}",
                f"{entry['matched']:,}",
                _pct(entry["estimate"]),
                f"{_pct(entry['ci_low'])} – {_pct(entry['ci_high'])}",
            ]
        if truth is not None:
            row.append(_pct(truth.get(tuple(entry["domain"].values()))))
        table.add_row(*row)
    hidden = suppressed - min(suppressed, max_suppressed)
    if hidden:  # one row marks the gap; the caption says how many are not shown
        table.add_row("…", *([""] * (len(columns) + 3 + (truth is not None))))
    pop = result["population_estimate"]
    if pop.get("estimate") is None:
        population = f"dual-system population estimate {pop.get('note', 'undefined')}"
    else:
        population = (
            f"dual-system population estimate {pop['estimate']:,.0f} "
            f"(CI {pop['ci_low']:,.0f} – {pop['ci_high']:,.0f})"
        )
    notes = [
        f"register {result['register_size']:,} · source {result['source_size']:,} · "
        f"matched {result['matched']:,} · {population}"
    ]
    if result["by_domain"]:
        released = len(result["by_domain"]) - suppressed
        notes.append(f"domains: {released:,} released, {suppressed:,} suppressed")
    if hidden:
        notes.append(f"{hidden:,} suppressed domains not shown (--json lists every domain)")
    if "seconds" in result:
        notes.append(f"{result['seconds']:.1f} s")
    table.caption = " · ".join(notes)
    table.caption_justify = "left"
    return table


def _figure(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return json.dumps(value)


def groups_table(
    result: dict[str, Any], title: str | None = None, *, max_suppressed: int = 10
) -> Table:
    """A result with per-group figures (aggregate, join_aggregate) as one row per group.

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
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for name in by:
        table.add_column(name, no_wrap=True)
    for name in figures:
        table.add_column(name, justify="right", no_wrap=True)
    suppressed = sum(1 for group in groups if group.get("suppressed"))
    shown_suppressed = 0
    for group in groups:
        labels = [str(v) for v in group["by"].values()]
        if group.get("suppressed"):
            shown_suppressed += 1
            if shown_suppressed <= max_suppressed:
                table.add_row(*labels, "suppressed", *([""] * (len(figures) - 1)))
        else:
            table.add_row(*labels, *(_figure(group.get(name)) for name in figures))
    hidden = suppressed - min(suppressed, max_suppressed)
    if hidden:  # one row marks the gap; the caption says how many are not shown
        table.add_row("…", *([""] * (len(by) + len(figures) - 1)))
    notes = [f"{key} {_figure(result[key])}" for key in ("matched", "parties") if key in result]
    released = len(groups) - suppressed
    below = f" below {result['min_cell']}" if "min_cell" in result else ""
    notes.append(f"groups: {released:,} released, {suppressed:,} suppressed{below}")
    if hidden:
        notes.append(f"{hidden:,} suppressed groups not shown (--json lists every group)")
    if "seconds" in result:
        notes.append(f"{result['seconds']:.1f} s")
    table.caption = " · ".join(notes)
    table.caption_justify = "left"
    return table


def check_output(option: str, path: Path | None) -> None:
    """Refuse, before any work, an output location that cannot be written.

    A missing folder is an error (folders are never created silently).
    """
    if path is None:
        return
    if path.is_dir():
        raise ParameterError(f"{option} {path}: is a folder; name a file", parameter=option)
    folder = path.parent
    if not folder.is_dir():
        raise ParameterError(
            f"{option} {path}: the folder {folder} does not exist; create it first or "
            "choose another place",
            parameter=option,
        )
    if not os.access(folder, os.W_OK):
        raise ParameterError(
            f"{option} {path}: cannot write in the folder {folder}", parameter=option
        )


def parse_bounds(items: list[str]) -> dict[str, tuple[float, float]]:
    """``--bounds COL=LOW:HIGH`` options as a mapping."""
    bounds = {}
    for item in items:
        name, _, span = item.partition("=")
        low, _, high = span.partition(":")
        try:
            bounds[name.strip()] = (float(low), float(high))
        except ValueError:
            raise ParameterError(
                f"--bounds {item!r}: write COLUMN=LOW:HIGH, e.g. age=0:120", parameter="bounds"
            ) from None
    return bounds


def synth_report_table(report: dict[str, Any]) -> Table:
    """A synthetic release's utility and risk figures, one row each."""
    table = Table(box=box.SIMPLE_HEAD, title="Utility and disclosure risk", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for section in ("utility", "risk"):
        for key, value in report[section].items():
            shown = "—" if value is None else f"{value:.4g}"
            table.add_row(f"{section}.{key}", shown)
    return table
