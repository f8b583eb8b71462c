"""``privstats sdc table``: protect a table of counts or magnitudes before it is published.

Primary rules (minimum frequency, dominance (n,k), p%, zeros, full cells), secondary
suppression across the table with all its margins (or across linked tables, ``--table``),
and the exact audit of what the published table still reveals about each withheld cell
(:mod:`privstats.disclosure.tables`); or, with ``--method ckm``, cell-key perturbation of
every count (:mod:`privstats.disclosure.cell_key`). ``privstats sdc key`` makes its key.
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

from privstats.cli._console import check_output, err, fail_on_error, out, rich_table, warn
from privstats.data.tables import read_table
from privstats.disclosure.cell_key import (
    create_key_file,
    perturb,
    ptable,
    random_record_keys,
    read_key_file,
    record_keys,
)
from privstats.disclosure.tables import (
    parse_rule,
    primary_suppression,
    secondary_suppression,
    tabulate_linked,
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


def _members(dim: list[str], tables: list[str]) -> list[list[str]]:
    """The tables to protect: ``--dim``s as one table, or each ``--table a,b`` (linked)."""
    if dim and tables:
        raise ParameterError(
            "give either --dim (one table) or --table (linked tables), not both",
            parameter="table",
        )
    if tables:
        members = [[name.strip() for name in item.split(",") if name.strip()] for item in tables]
        if any(not member for member in members):
            raise ParameterError("--table: write the dimensions as a,b", parameter="table")
        return members
    if not dim:
        raise ParameterError(
            "name the dimensions: --dim region --dim activity, or --table region,activity",
            parameter="dim",
        )
    return [dim]


def _records(
    data: Path, dims: list[str], value: str | None, id_column: str | None
) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The records of ``data`` and, with ``id_column``, each contributor's identifier."""
    categories = [*dims, id_column] if id_column else dims
    table = read_table(data, categories=categories, values=[value] if value else [])
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
    ids = table.categories[id_column].tolist() if id_column else None
    return records, ids


def _view(cells: list[dict[str, Any]], dims: list[str]) -> TableView:
    rows = []
    for cell in cells:
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
    dim: list[str] = typer.Option([], "--dim", help="A dimension column (repeat for more)."),
    tables: list[str] = typer.Option(
        [], "--table", help="Linked tables: a,b per table (repeat), protected jointly."
    ),
    value: str | None = typer.Option(
        None, help="A magnitude column (turnover): without it, a frequency table."
    ),
    hierarchy: list[str] = typer.Option(
        [], help="DIMENSION=FILE: a CSV with columns child,parent (subtotals of that dimension)."
    ),
    rule: list[str] = typer.Option(
        ["freq:3"],
        "--rule",
        help="A primary rule: freq:N, nk:N,K, p:P, zero or full (repeatable).",
    ),
    secondary: str = typer.Option(
        "milp",
        help="Secondary suppression: milp (proved per cell), hypercube (τ-Argus's "
        "heuristic; the audit says whether it protected) or none.",
    ),
    cost: str = typer.Option("value", help="What secondary suppression minimises: value or cells."),
    method: str = typer.Option(
        "suppress", help="suppress (rules, suppression, audit) or ckm (cell-key perturbation)."
    ),
    key_file: Path | None = typer.Option(
        None, help="ckm: the office's secret key (create with `privstats sdc key FILE`)."
    ),
    id_column: str | None = typer.Option(
        None, "--id", help="ckm: the contributor identifier column (stable record keys)."
    ),
    ckm_d: int = typer.Option(2, help="ckm: the largest change D."),
    ckm_v: float = typer.Option(1.0, help="ckm: the variance V of the change."),
    ckm_js: int = typer.Option(0, help="ckm: counts 1..js are never published."),
    out_file: Path | None = typer.Option(None, "--out", help="Write the protected table as CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Protect a table with its margins: primary rules, secondary suppression, audit.

    Every withheld cell is checked by solving for the lowest and highest value it can take
    given everything published; the audit says whether each primary cell stays at least
    its protection level away from being known. With --method ckm, every count is
    perturbed by the cell-key method instead and nothing is withheld.
    """
    with fail_on_error():
        check_output("--out", out_file)
        members = _members(dim, tables)
        names = list(dict.fromkeys(name for member in members for name in member))
        tree = dict(_hierarchy(item) for item in hierarchy)
        if method == "ckm":
            result = _ckm(data, members, value, tree, key_file, id_column, (ckm_d, ckm_v, ckm_js))
        elif method == "suppress":
            result = _suppress(data, members, value, tree, rule, secondary, cost)
        else:
            raise ParameterError(f"--method must be suppress or ckm, got {method!r}")
        cells = result["cells"]
        if out_file is not None:
            write_text_atomically(out_file, _csv(cells, names))
        if as_json:
            typer.echo(json.dumps(result))
            return
        out.print(rich_table(_view(cells, names)))
        out.print(_summary(result))


def _suppress(
    data: Path,
    members: list[list[str]],
    value: str | None,
    tree: dict[str, dict[str, str]],
    rule: list[str],
    secondary: str,
    cost: str,
) -> dict[str, Any]:
    """Rules, secondary suppression and the audit: ``{"cells", "audit"}`` (and ``"tables"``
    for linked tables)."""
    if secondary not in ("milp", "hypercube", "none"):
        raise ParameterError(f"--secondary must be milp, hypercube or none, got {secondary!r}")
    if cost not in ("value", "cells"):
        raise ParameterError(f"--cost must be value or cells, got {cost!r}")
    minimise: Literal["value", "cells"] = "value" if cost == "value" else "cells"
    rules = [parse_rule(text) for text in rule]
    top = max(r.contributions_needed for r in rules)
    names = list(dict.fromkeys(name for member in members for name in member))
    records, _ = _records(data, names, value, None)
    shown = " and ".join(" × ".join(member) for member in members)
    err.print(f"Tabulating {len(records):,} contributors by {shown}…")
    with _solver_chatter_to_stderr():
        built = tabulate_linked(records, members, value=value, hierarchies=tree, top=max(top, 1))
        protected = primary_suppression(built, rules)
        if secondary in ("milp", "hypercube"):
            method: Literal["milp", "hypercube"] = "milp" if secondary == "milp" else "hypercube"
            protected = secondary_suppression(protected, cost=minimise, method=method)
        audit = protected.audit()
    result: dict[str, Any] = {
        "cells": protected.records(),
        "audit": {k: audit[k] for k in ("cells_checked", "narrowest_interval", "protected")},
    }
    if len(members) > 1:
        result["tables"] = members
    return result


def _ckm(
    data: Path,
    members: list[list[str]],
    value: str | None,
    tree: dict[str, dict[str, str]],
    key_file: Path | None,
    id_column: str | None,
    parameters: tuple[int, float, int],
) -> dict[str, Any]:
    """Cell-key perturbation of every count: ``{"cells", "audit", "method", "ptable"}``."""
    if value is not None:
        raise ParameterError("--method ckm perturbs counts only; drop --value", parameter="value")
    if (key_file is None) != (id_column is None):
        raise ParameterError(
            "--method ckm: give --key-file and --id together (stable record keys), or "
            "neither (random keys, a new perturbation each run)",
            parameter="key_file",
        )
    perturbation = ptable(*parameters)
    names = list(dict.fromkeys(name for member in members for name in member))
    records, ids = _records(data, names, None, id_column)
    if key_file is not None and ids is not None:
        keys = record_keys(ids, read_key_file(key_file))
    else:
        warn("no --key-file/--id: random record keys, so each run perturbs differently")
        keys = random_record_keys(len(records))
    built = tabulate_linked(records, members, hierarchies=tree, record_keys=keys)
    perturbed = perturb(built, perturbation)
    result: dict[str, Any] = {
        "cells": perturbed.records(),
        "audit": {
            "cells_checked": 0,
            "narrowest_interval": None,
            "protected": None,
            "applicable": False,
            "reason": "cell-key perturbation withholds no cell, so there is no interval to "
            "audit; every count is within D of the truth and margins are not additive",
        },
        "method": "ckm",
        "ptable": {"D": perturbation.d, "V": perturbation.v, "js": perturbation.js},
    }
    if len(members) > 1:
        result["tables"] = members
    return result


def _summary(result: dict[str, Any]) -> str:
    """The line under the table: what was done and the audit's verdict."""
    cells = result["cells"]
    if result.get("method") == "ckm":
        p = result["ptable"]
        return (
            f"{len(cells):,} cells · every count perturbed by the cell-key method (D={p['D']}, "
            f"V={p['V']:g}, js={p['js']}) · margins are not additive"
        )
    counts = {s: sum(c["status"] == s for c in cells) for s in ("primary", "secondary")}
    verdict = "protected" if result["audit"]["protected"] else "NOT protected: do not publish"
    return (
        f"{len(cells):,} cells · {counts['primary']:,} primary, {counts['secondary']:,} "
        f"secondary suppressions · audit: {verdict}"
    )


@app.command("key")
def key(
    path: Path = typer.Argument(..., help="Where to write the new secret key (hex)."),
) -> None:
    """Create the office's secret key for cell-key perturbation (owner-readable only).

    Keep it and use it for every release: the same contributors then get the same
    perturbation in every table. A lost key cannot be recreated.
    """
    with fail_on_error():
        if path.exists():
            raise ParameterError(
                f"{path} exists; a key is not overwritten (move it away first)", parameter="path"
            )
        create_key_file(path)
        err.print(f"Wrote a new secret key to {path}")
