"""``privstats run fl-train``: federated training, each office in its own process."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from privstats.cli._console import (
    check_output,
    err,
    fail_on_error,
    out,
    party_files,
    party_progress,
)
from privstats.jobs.fl_train import FLSpec, run_local_fl_train

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``fl-train`` command to ``app``."""

    @app.command("fl-train")
    def fl_train(
        party: list[str] = typer.Option(..., help="An office and its feature file as NAME=FILE."),
        label: str = typer.Option(..., help="The label column."),
        subject: str | None = typer.Option(None, help="The respondent column (held out whole)."),
        model: str = typer.Option("logreg", help="logreg or mlp."),
        hidden: int = typer.Option(32, help="Hidden units of the MLP."),
        activation: str = typer.Option("relu", help="MLP activation: relu, square or poly."),
        rounds: int | None = typer.Option(
            None, help="Round cap [default: 200; 30 with --dp-epsilon]."
        ),
        patience: int | None = typer.Option(
            None,
            help="Stop after this many rounds without a better validation loss; 0 trains "
            "every round of the cap [default: 20].",
        ),
        strategy: str | None = typer.Option(
            None, help="fedavg, fedprox, fedadam or fedyogi [default: fedadam]."
        ),
        local_epochs: int | None = typer.Option(None, help="Local epochs per round [default: 1]."),
        lr: float | None = typer.Option(None, help="Local learning rate [default: 0.1]."),
        dp_epsilon: float | None = typer.Option(
            None, help="Differential privacy per respondent (or record): total ε per office."
        ),
        dp_delta: float = typer.Option(1e-5, help="The δ of the DP guarantee."),
        dp_clip: float = typer.Option(1.0, help="Per-respondent gradient clipping norm."),
        test: Path | None = typer.Option(None, help="A labelled test file to evaluate on."),
        compare_centralized: bool = typer.Option(
            False, help="Also train on the pooled records (local yardstick only)."
        ),
        model_out: Path | None = typer.Option(
            None,
            help="Where to write the trained model (the file `run he-inference` reads); "
            "without it the model is not kept.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    ) -> None:
        """Train one model on several offices' data; updates are combined by secure aggregation.

        No office and not the coordinator sees another office's data, update or score; the
        model is written to --model-out (the file `privstats run he-inference` reads).
        """
        with fail_on_error():
            check_output("--model-out", model_out)
            tuning = {
                "rounds": rounds,
                "patience": patience,
                "strategy": strategy,
                "local_epochs": local_epochs,
                "lr": lr,
            }
            spec = FLSpec.build(  # FLSpec holds the defaults: the same for the hub's jobs
                label=label,
                subject=subject,
                model=model,
                hidden=(hidden,),
                activation=activation,
                epsilon=dp_epsilon,
                delta=dp_delta,
                dp_clip=dp_clip,
                **{name: value for name, value in tuning.items() if value is not None},
            )
            with party_progress() as progress:
                run = run_local_fl_train(
                    party_files(party),
                    spec,
                    test=test,
                    model_out=model_out,
                    compare_centralized=compare_centralized,
                    progress=progress,
                )
            result = {**run.result, "epsilon": run.result.get("epsilon")}
            if as_json:
                typer.echo(json.dumps(result))
                return
            table = Table(title="Per-class F1", title_justify="left", box=box.SIMPLE_HEAD)
            table.add_column("class")
            table.add_column("F1", justify="right")
            for name, f1 in result["per_class_f1"].items():
                table.add_row(name, f"{f1:.3f}")
            out.print(table)
            central = result.get("centralized_accuracy")
            out.print(
                f"accuracy {result['accuracy']:.3f} · macro-F1 {result['macro_f1']:.3f}"
                + (f" · centralised {central:.3f}" if central is not None else "")
                + f" · {result['rounds']} rounds ({spec.strategy}), model of round "
                + f"{result['best_round']} · {result['seconds']:.1f} s"
                + (
                    f" · (ε = {result['epsilon']:.2f}, δ = {spec.delta:g})"
                    if result["epsilon"] is not None
                    else ""
                )
            )
            err.print(f"stopped at {result['stopped']}")
            if result.get("outside_epsilon"):
                err.print("released outside ε: " + "; ".join(result["outside_epsilon"]))
            kept = (
                f"model written to {model_out}"
                if model_out is not None
                else "model not kept (add --model-out FILE to keep it)"
            )
            err.print(f"evaluated on {result['evaluated_on']}; {kept}")
