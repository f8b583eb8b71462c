"""``privstats sdc table``: protect a table of counts or magnitudes before it is published.

Primary rules (minimum frequency, dominance (n,k), p%), secondary suppression across the
table with all its margins, and the exact audit of what the published table still reveals
about each withheld cell (:mod:`privstats.disclosure.tables`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import typer

from privstats.cli._console import check_output, err, fail_on_error, out, rich_table
from privstats.data.tables import read_table
from privstats.disclosure.tables import (
    ProtectedTable,
    parse_rule,
    primary_suppression,
    secondary_suppression,
    tabulate,
)
from privstats.errors import DatasetError, ParameterError
from privstats.files import write_text_atomically
from privstats.jobs.render import Column, TableView

__all__ = ["app"]

app = typer.Typer(help="Statistical disclosure control of tables before they are published.")


@contextlib.contextmanager
def _solver_chatter_to_stderr() -> Iterator[None]:
    """Send what the bundled solver prints on file descriptor 1 to stderr, so that stdout
    holds only the result (HiGHS may print a debug line during a MILP)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _hierarchy(item: str) -> tuple[str, dict[str, str]]:
    """``DIM=FILE``: a CSV with columns child,parent."""
    dim, sep, file = (part.strip() for part in item.partition("="))
    if not sep or not dim or not file:
        raise ParameterError(
            f"--hierarchy {item!r}: write DIMENSION=FILE, e.g. activity=nace.csv",
            parameter="hierarchy",
        )
    try:
        with open(file, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DatasetError(f"{file}: cannot read the hierarchy: {exc}", path=file) from exc
    if not rows or not {"child", "parent"} <= set(rows[0]):
        raise DatasetError(f"{file}: a hierarchy file needs columns child,parent", path=file)
    return dim, {row["child"]: row["parent"] for row in rows}


def _records(data: Path, dims: list[str], value: str | None) -> list[dict[str, Any]]:
    table = read_table(data, categories=dims, values=[value] if value else [])
    if value is not None:
        missing = np.flatnonzero(np.isnan(table.values[value]))
        if missing.size:
            raise DatasetError(
                f"{data}: column {value!r} has no number on {missing.size:,} rows (first: data "
                f"row {int(missing[0]) + 1}); fill or drop them first",
                path=str(data),
                column=value,
            )
    columns = {dim: table.categories[dim].tolist() for dim in dims}
    records: list[dict[str, Any]] = [
        {dim: columns[dim][i] for dim in dims} for i in range(table.rows)
    ]
    if value is not None:
        for record, amount in zip(records, table.values[value].tolist(), strict=True):
            record[value] = amount
    return records


def _view(protected: ProtectedTable, dims: list[str]) -> TableView:
    rows = []
    for cell in protected.records():
        shown = cell["value"] if cell["value"] is not None else cell["count"]
        figure = "—" if shown is None else f"{shown:,.6g}"
        rows.append((*cell["by"].values(), cell["status"], figure, ", ".join(cell["rules"])))
    columns = (*(Column(d) for d in dims), Column("status"), Column("value", True), Column("rules"))
    return TableView("Protected table", columns, tuple(rows))


def _csv(cells: list[dict[str, Any]], dims: list[str]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*dims, "count", "value", "status", "rules"])
    for cell in cells:
        writer.writerow(
            [
                *cell["by"].values(),
                cell["count"],
                cell["value"],
                cell["status"],
                ";".join(cell["rules"]),
            ]
        )
    return text.getvalue()


@app.command("table")
def table(
    data: Path = typer.Argument(..., help="Microdata: one row per contributor (CSV or Parquet)."),
    dim: list[str] = typer.Option(..., "--dim", help="A dimension column (repeat for more)."),
    value: str | None = typer.Option(
        None, help="A magnitude column (turnover): without it, a frequency table."
    ),
    hierarchy: list[str] = typer.Option(
        [], help="DIMENSION=FILE: a CSV with columns child,parent (subtotals of that dimension)."
    ),
    rule: list[str] = typer.Option(
        ["freq:3"], "--rule", help="A primary rule: freq:N, nk:N,K or p:P (repeatable)."
    ),
    secondary: str = typer.Option("milp", help="Secondary suppression: milp or none."),
    cost: str = typer.Option("value", help="What secondary suppression minimises: value or cells."),
    out_file: Path | None = typer.Option(None, "--out", help="Write the protected table as CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Protect a table with its margins: primary rules, secondary suppression, audit.

    Every withheld cell is checked by solving for the lowest and highest value it can take
    given everything published; the audit says whether each primary cell stays at least
    its protection level away from being known.
    """
    with fail_on_error():
        check_output("--out", out_file)
        if secondary not in ("milp", "none"):
            raise ParameterError(f"--secondary must be milp or none, got {secondary!r}")
        if cost not in ("value", "cells"):
            raise ParameterError(f"--cost must be value or cells, got {cost!r}")
        minimise: Literal["value", "cells"] = "value" if cost == "value" else "cells"
        rules = [parse_rule(text) for text in rule]
        top = max(r.contributions_needed for r in rules)
        tree = dict(_hierarchy(item) for item in hierarchy)
        records = _records(data, dim, value)
        err.print(f"Tabulating {len(records):,} contributors by {', '.join(dim)}…")
        with _solver_chatter_to_stderr():
            built = tabulate(records, dim, value=value, hierarchies=tree, top=max(top, 1))
            protected = primary_suppression(built, rules)
            if secondary == "milp":
                protected = secondary_suppression(protected, cost=minimise)
            audit = protected.audit()
        cells = protected.records()
        summary = {k: audit[k] for k in ("cells_checked", "narrowest_interval", "protected")}
        if out_file is not None:
            write_text_atomically(out_file, _csv(cells, dim))
        if as_json:
            typer.echo(json.dumps({"cells": cells, "audit": summary}))
            return
        out.print(rich_table(_view(protected, dim)))
        counts = {s: sum(c["status"] == s for c in cells) for s in ("primary", "secondary")}
        verdict = "protected" if audit["protected"] else "NOT protected: do not publish"
        out.print(
            f"{len(cells):,} cells · {counts['primary']:,} primary, {counts['secondary']:,} "
            f"secondary suppressions · audit: {verdict}"
        )
