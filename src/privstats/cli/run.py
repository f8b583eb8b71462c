"""``privstats run …``: run a computation locally, each party in its own process."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privstats.cli import run_aggregate, run_fl, run_he, run_join
from privstats.cli._console import (
    column_list,
    coverage_table,
    fail_on_error,
    out,
    party_progress,
    warn,
)
from privstats.cli._options import option_words
from privstats.jobs.coverage import CoverageSpec, NormalizationSpec, run_local_coverage

__all__ = ["app"]

app = typer.Typer(
    help="Run a computation on local files, each party in its own process.",
    rich_markup_mode="markdown",
)


@app.command("coverage")
def coverage(
    register: Path = typer.Option(..., help="The register file (CSV or Parquet)."),
    source: Path = typer.Option(..., help="The third-party source file (CSV or Parquet)."),
    key: str = typer.Option(..., help="Identifier column of the register (and of the source)."),
    source_key: str | None = typer.Option(
        None, help="Identifier column of the source, if named differently."
    ),
    by: str | None = typer.Option(
        None, help="Domain columns of the register, comma-separated, e.g. region,age_group."
    ),
    confidence: float = typer.Option(0.95, help="Confidence level of the intervals."),
    method: str = typer.Option("wilson", help="Interval method: wilson or clopper-pearson."),
    min_domain: int = typer.Option(10, help="Domains with fewer register persons are suppressed."),
    casefold: bool = typer.Option(True, help="Match identifiers regardless of letter case."),
    id_remove: str | None = typer.Option(
        None, help="Regex of characters to delete from identifiers, e.g. '[ .-]'."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Coverage of a register by a third-party source, by private set intersection.

    Neither side learns which persons are in the other's file; both learn the released
    coverage figures. Domains below --min-domain are suppressed, with complementary
    suppression so that they cannot be recovered by subtraction.
    """
    with fail_on_error(), option_words(coverage, {"remove": "--id-remove"}):
        spec = CoverageSpec.build(
            key=key,
            source_key=source_key,
            by=column_list(by),
            confidence=confidence,
            method=method,
            min_domain=min_domain,
            normalization=NormalizationSpec(casefold=casefold, remove=id_remove),
        )
        with party_progress() as progress:
            run = run_local_coverage(register, source, spec, progress=progress)
        for warning in run.warnings:
            warn(warning)
        if as_json:
            typer.echo(json.dumps(run.result))
        else:
            out.print(coverage_table(run.result))


run_aggregate.register(app)
run_join.register(app)
run_fl.register(app)
run_he.register(app)
