"""``privstats run he-inference``: score one party's records with another's model, encrypted."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privstats.cli._console import fail_on_error, party_progress, print_rendering
from privstats.jobs.he_inference import KIND, run_local_he_inference

__all__ = ["he_inference", "register"]


def register(app: typer.Typer) -> None:
    """Add the ``he-inference`` command to ``app``."""
    app.command("he-inference")(he_inference)


def he_inference(
    model: Path = typer.Option(..., "--model", help="The model file (privstats JSON)."),
    data: Path = typer.Option(..., "--data", help="The querier's records (CSV or Parquet)."),
    label: str | None = typer.Option(
        None, "--label", help="A label column of the data: not a feature; adds accuracy."
    ),
    min_cell: int = typer.Option(
        10, "--min-cell", help="Predicted classes with fewer records are suppressed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Predictions for the querier's records from the model holder's model, under CKKS.

    The querier encrypts its records with its own key; the model holder evaluates the
    model on the ciphertexts and learns only how many records and features there are.
    The querier learns the class scores of its records (scores reveal more about the
    model than labels do) and releases the counts per predicted class. Runs both parties
    locally, each in its own process, and checks the predictions against the plaintext
    model.
    """
    with fail_on_error():
        with party_progress() as progress:
            run = run_local_he_inference(
                model, data, label=label, min_cell=min_cell, progress=progress
            )
        if as_json:
            typer.echo(json.dumps(run.result))
        else:
            print_rendering(KIND.render(run.result))
