"""The ``privstats`` command line: one module per command group."""

from __future__ import annotations

import typer

from privstats import __version__
from privstats.cli import admin, demo, jobs, node, run, synth
from privstats.cli.hub import hub

__all__ = ["app", "main"]

app = typer.Typer(
    name="privstats",
    help="Secure private computation of official statistics across organisations.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(run.app, name="run")
app.add_typer(demo.app, name="demo")
app.add_typer(synth.app, name="synth")
app.command("hub")(hub)
app.add_typer(node.app, name="node")
app.add_typer(admin.party_app, name="party")
app.add_typer(admin.token_app, name="token")
app.add_typer(jobs.submit_app, name="submit")
app.add_typer(jobs.job_app, name="job")
app.add_typer(jobs.audit_app, name="audit")


@app.command("version")
def version() -> None:
    """Print the privstats version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``privstats`` console script."""
    app()
