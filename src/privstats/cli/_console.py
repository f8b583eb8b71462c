"""Shared console output: results on stdout, progress and messages on stderr.

Both consoles print text as it is (no rich markup): file names, column labels and error
messages may hold square brackets, which rich would otherwise take for style tags. Styled
words go through :func:`warn` and :func:`error`, which style only their own prefix.
"""

from __future__ import annotations

import contextlib
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
from privstats.jobs.render import Rendering, TableView, coverage_view, groups_view

__all__ = [
    "check_output",
    "column_list",
    "coverage_table",
    "err",
    "error",
    "fail_on_error",
    "groups_table",
    "out",
    "party_files",
    "party_progress",
    "print_rendering",
    "rich_table",
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


def rich_table(view: TableView) -> Table:
    """A rendered table as a rich table: numeric columns right-aligned, caption below."""
    table = Table(title=view.title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in view.columns:
        table.add_column(column.name, justify="right" if column.numeric else "left", no_wrap=True)
    for row in view.rows:
        table.add_row(*row)
    if view.caption:
        table.caption = view.caption
        table.caption_justify = "left"
    return table


def print_rendering(rendering: Rendering) -> None:
    """A kind's rendered result on stdout: tables, then lines, in order."""
    for item in rendering:
        if isinstance(item, TableView):
            out.print(rich_table(item))
        else:
            out.print(item)


def coverage_table(
    result: dict[str, Any],
    truth: dict[tuple[str, ...], float] | None = None,
    *,
    max_suppressed: int = 10,
) -> Table:
    """The coverage result as a table; ``truth`` adds a column of known true shares.

    Only the first ``max_suppressed`` suppressed domains get a row; the others are counted
    in one closing row (the JSON output lists every domain).
    """
    return rich_table(coverage_view(result, truth, max_suppressed=max_suppressed))


def groups_table(
    result: dict[str, Any], title: str | None = None, *, max_suppressed: int = 10
) -> Table:
    """A result with per-group figures (aggregate, join_aggregate) as one row per group."""
    return rich_table(groups_view(result, title, max_suppressed=max_suppressed))


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
