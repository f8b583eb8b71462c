"""``privstats run aggregate``: statistics of several parties' pooled records, securely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table

from privstats.cli._console import (
    column_list,
    fail_on_error,
    groups_table,
    out,
    party_files,
    party_progress,
    warn,
)
from privstats.cli._options import option_words
from privstats.errors import ParameterError
from privstats.jobs.aggregate import MAX_PARTIES, AggregateSpec, run_local_aggregate

__all__ = ["aggregate_tables", "parse_parties", "register"]


def register(app: typer.Typer) -> None:
    """Add the ``aggregate`` command to ``app``."""
    app.command("aggregate")(aggregate)


def parse_parties(items: list[str]) -> dict[str, Path]:
    """``NAME=FILE`` options as an ordered mapping of party name to file."""
    parties = party_files(items)
    if not 2 <= len(parties) <= MAX_PARTIES:
        raise ParameterError(
            f"--party: an aggregate needs 2 to {MAX_PARTIES} parties, got {len(parties)}",
            parameter="party",
        )
    return parties


def aggregate(
    party: list[str] = typer.Option(
        ..., "--party", help="A party and its file as NAME=FILE; once per party (2 to 10)."
    ),
    stat: list[str] | None = typer.Option(
        None,
        "--stat",
        help="A statistic, repeatable: count, sum:COL, mean:COL, var:COL, sd:COL, median:COL, "
        "quantile:COL:Q, cov:A,B, corr:A,B (default: count).",
    ),
    by: str | None = typer.Option(None, help="Group columns, comma-separated, e.g. region,sex."),
    weight: str | None = typer.Option(None, help="Weight column (e.g. survey weights)."),
    ols: str | None = typer.Option(
        None, help="A linear model over all records, e.g. 'income ~ age + hours'."
    ),
    min_cell: int = typer.Option(10, help="Groups with fewer records are suppressed."),
    frac_bits: int = typer.Option(
        32, help="Fixed-point fractional bits; each value is rounded to a multiple of 2^-bits."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Statistics of the parties' pooled records, by secure sums.

    Each party holds records with the same columns. All parties learn the released
    figures — counts, sums, means, variances, quantiles, covariances, an OLS model — of
    their records taken together, and nothing of another's records or subtotals. Groups
    below --min-cell records are suppressed, with complementary suppression.
    """
    with fail_on_error(), option_words(aggregate):
        files = parse_parties(party)
        spec = AggregateSpec.build(
            stats=tuple(stat or ("count",)),
            by=column_list(by),
            weight=weight,
            ols=ols,
            min_cell=min_cell,
            frac_bits=frac_bits,
        )
        with party_progress() as progress:
            run = run_local_aggregate(files, spec, progress=progress)
        for warning in run.warnings:
            warn(warning)
        if as_json:
            typer.echo(json.dumps(run.result))
        else:
            for table in aggregate_tables(run.result):
                out.print(table)


def _figure(value: Any) -> str:
    return "—" if value is None else f"{value:.6g}"


def _pairwise(group: dict[str, Any]) -> dict[str, Any]:
    """A group's cov/corr matrices spread into one figure per pair of columns, for display."""
    out: dict[str, Any] = {}
    for key, value in group.items():
        kind, _, columns = key.partition(":")
        if kind not in ("cov", "corr") or not columns:
            out[key] = value
            continue
        names = columns.split(",")
        first = 0 if kind == "cov" else 1  # a correlation's diagonal is always 1
        for i, a in enumerate(names):
            for j in range(i + first, len(names)):
                out[f"{kind}({a},{names[j]})"] = None if value is None else value[i][j]
    return out


def aggregate_tables(result: dict[str, Any]) -> list[Table]:
    """The release as rich tables: one row per group, then the OLS model if any."""
    shown = {**result, "groups": [_pairwise(group) for group in result["groups"]]}
    table = groups_table(shown, title=f"Pooled statistics of {result['parties']} parties")
    tables = [table]
    model = result.get("ols")
    if model is not None:
        ols = Table(title=f"OLS {model['formula']}", title_justify="left", box=box.SIMPLE_HEAD)
        ols.add_column("term")
        ols.add_column("coef", justify="right")
        ols.add_column("se", justify="right")
        if model["suppressed"]:
            ols.add_row("suppressed", "", "")
            ols.caption = f"fewer than {result['min_cell']} complete records"
        else:
            for term, coef in model["coef"].items():
                ols.add_row(term, _figure(coef), _figure(model["se"][term]))
            ols.caption = f"n = {model['n']:,} · R² = {_figure(model['r2'])}"
        ols.caption_justify = "left"
        tables.append(ols)
    return tables
