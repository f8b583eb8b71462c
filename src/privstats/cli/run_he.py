"""``privstats run he-inference``: score one party's records with another's model, encrypted."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from privstats.cli._console import fail_on_error, out, party_progress
from privstats.jobs.he_inference import run_local_he_inference

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
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Predictions for the querier's records from the model holder's model, under CKKS.

    The querier encrypts its records with its own key; the model holder evaluates the
    model on the ciphertexts and learns only how many records and features there are.
    The querier learns the class scores of its records (scores reveal more about the
    model than labels do). Runs both parties locally, each in its own process.
    """
    with fail_on_error():
        with party_progress() as progress:
            run = run_local_he_inference(model, data, label=label, progress=progress)
        result = run.result
        if as_json:
            typer.echo(json.dumps(result))
            return
        table = Table(title="Encrypted inference (CKKS)", box=box.SIMPLE)
        table.add_column("figure")
        table.add_column("value", justify="right")
        ckks = result["ckks"]
        rows = [
            ("records", f"{result['records']:,}"),
            ("agreement with plaintext model", f"{100 * result['agreement_with_plaintext']:.2f}%"),
            *([("accuracy", f"{100 * result['accuracy']:.2f}%")] if "accuracy" in result else []),
            ("records per second", f"{result['records_per_second']:,.0f}"),
            ("protocol seconds", f"{result['protocol_seconds']:.3f}"),
            (
                "CKKS parameters",
                f"N={ckks['poly_modulus_degree']}, q={ckks['coeff_mod_bit_sizes']}, "
                f"scale=2^{ckks['scale_bits']}, {ckks['security_bits']}-bit",
            ),
        ]
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)
