"""``privstats demo activity``: federated training and encrypted inference through a hub.

Three offices train one activity model on their respondents' sensor features without
pooling them (an aggregator node with no data combines their updates by secure
aggregation); the trained model goes to a model service node, and a survey lab scores
its own respondents' features there under CKKS encryption. Every step is a job through
a local hub and real node processes.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import typer
from rich import box
from rich.table import Table

from privstats.cli._console import err, fail_on_error, out
from privstats.client import Federation, Job
from privstats.crypto.ckks import require_tenseal
from privstats.data.activity_demo import ActivityDemo, make_activity_demo
from privstats.errors import AuditError, DatasetError
from privstats.jobs.fl_train import FLSpec, holdout_accuracy, train_centralized
from privstats.jobs.he_inference import read_records
from privstats.local_federation import LocalFederation
from privstats.ml.models import Model

__all__ = ["activity", "run_activity_demo"]

AGGREGATOR, MODEL_SERVICE, SURVEY_LAB = "aggregator", "model_service", "survey_lab"


def _say(job: Job) -> None:
    err.print(f"job {job.id} ({job.info['kind']}): {job.state.replace('_', ' ')}", highlight=False)


def run_activity_demo(
    demo: ActivityDemo, folder: Path, spec: FLSpec, *, min_cell: int = 10
) -> dict[str, Any]:
    """Train through the hub, deploy the model at a node, score the test file encrypted.

    Returns the training job's result (without the model's parameters), the inference
    job's result, the agreement of the encrypted predictions (read from the survey lab's
    node) with the plaintext model, and the held-out accuracy of the same model trained
    on the pooled records — a yardstick only a demo, holding every file, can compute.
    """
    with LocalFederation(folder / "federation") as federation:
        err.print(f"hub started at {federation.url}", highlight=False)
        for office, path in demo.offices.items():
            federation.add_node(office, {"activity": (path, [demo.subject])}, allow=("fl_train",))
        federation.add_node(AGGREGATOR, {}, allow=("fl_train",))
        federation.add_node(
            SURVEY_LAB, {"respondents": (demo.test, [demo.subject])}, allow=("he_inference",)
        )
        federation.wait_for_datasets(len(demo.offices) + 1)
        err.print(
            f"nodes {', '.join(demo.offices)} (offices), {AGGREGATOR!r} (no data) and "
            f"{SURVEY_LAB!r} enrolled and connected",
            highlight=False,
        )
        with federation.admin() as admin:
            analyst_token = admin.add_token("analyst")
        with Federation(federation.url, analyst_token) as analyst:
            started = time.perf_counter()
            options = spec.model_dump(exclude={"label", "subject", "features"})
            job = analyst.submit_fl_train(
                coordinator=AGGREGATOR,
                datasets=dict.fromkeys(demo.offices, "activity"),
                label=demo.label,
                subject=demo.subject,
                **options,
            )
            trained = dict(job.wait(on_change=_say).result)
            trained["seconds"] = round(time.perf_counter() - started, 3)
            trained["job_id"] = job.id
            model = Model.from_dict(trained.pop("model_state"))
            model_path = folder / "data" / "activity-model.json"
            model.save(model_path)
            federation.add_node(
                MODEL_SERVICE, {"activity-model": (model_path, [])}, allow=("he_inference",)
            )
            federation.wait_for_datasets(len(demo.offices) + 2)
            err.print(f"trained model deployed at node {MODEL_SERVICE!r}", highlight=False)

            started = time.perf_counter()
            job = analyst.submit_he_inference(
                querier=SURVEY_LAB,
                querier_dataset="respondents",
                model_holder=MODEL_SERVICE,
                model_dataset="activity-model",
                label=demo.label,
                min_cell=min_cell,
            )
            scored = dict(job.wait(on_change=_say).result)
            scored["seconds"] = round(time.perf_counter() - started, 3)
            scored["job_id"] = job.id
            predictions = federation.folder / f"node-{SURVEY_LAB}" / "results" / job.id
        with federation.admin() as admin:
            report = admin.verify_audit()
        if not report.ok:
            raise AuditError(
                f"the audit log does not verify at entry {report.broken_seq}: {report.reason}",
                seq=report.broken_seq,
            )
        agreement = _agreement(model, demo, predictions / "predictions.csv")
    central = train_centralized(demo.offices, spec, [str(c) for c in model.classes])
    return {
        "computation": "demo_activity",
        "fl_train": trained,
        "he_inference": {**scored, "agreement_with_plaintext": agreement},
        "centralized_accuracy": holdout_accuracy(central, demo.offices, spec),
        "audit_verified": True,
        "audit_entries": report.entries,
    }


def _agreement(model: Model, demo: ActivityDemo, predictions: Path) -> float:
    """Share of the survey lab's kept predictions equal to the plaintext model's."""
    with predictions.open(encoding="utf-8", newline="") as handle:
        kept = [row["predicted"] for row in csv.DictReader(handle)]
    x, _ = read_records(demo.test, model.feature_names, model.n_features)
    plain = [str(model.classes[i]) for i in model.predict(x)]
    if len(kept) != len(plain):
        raise DatasetError(
            f"{predictions}: {len(kept)} predictions for {len(plain)} records",
            path=str(predictions),
        )
    return float(np.mean(np.asarray(kept) == np.asarray(plain)))


def activity(
    offices: int = typer.Option(3, help="Offices (nodes) that train together."),
    subjects: int = typer.Option(8, help="Respondents per office."),
    rounds: int | None = typer.Option(
        None,
        help="Round cap [default: 200; 30 with --dp-epsilon]; training stops earlier "
        "when the offices' pooled validation loss stops improving.",
    ),
    model: str = typer.Option("logreg", help="Model: logreg or mlp."),
    dp_epsilon: float | None = typer.Option(
        None, help="Per-respondent differential privacy budget ε (DP-SGD in each office)."
    ),
    seed: int = typer.Option(2026, help="Seed of the demo data generator and the training."),
    keep: Path | None = typer.Option(None, help="Keep the hub's and nodes' folders here."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Activity recognition: federated training by offices, then encrypted inference.

    Generates sensor features of survey respondents in several offices (each with its own
    activity mix), trains one model across them through the hub with secure aggregation,
    deploys it at a model service node, and lets a survey lab score its respondents with
    CKKS-encrypted features. Prints the per-class F1, the accuracy against a model trained
    on the pooled records, and how often the encrypted predictions equal the plaintext
    model's.
    """
    with fail_on_error(), tempfile.TemporaryDirectory(prefix="privstats-demo-") as tmp:
        require_tenseal()  # the demo ends with encrypted inference: say so before training
        folder = keep or Path(tmp)
        kind: Literal["logreg", "mlp"] = "mlp" if model == "mlp" else "logreg"
        spec = FLSpec.build(
            label="activity",
            subject="subject",
            model=model,
            activation="square" if kind == "mlp" else "relu",
            epsilon=dp_epsilon,
            seed=seed,
            **({} if rounds is None else {"rounds": rounds}),
        )
        err.print(f"Generating sensor features of {offices} offices × {subjects} respondents…")
        demo = make_activity_demo(
            folder / "data", offices=offices, subjects_per_office=subjects, seed=seed
        )
        result = run_activity_demo(demo, folder, spec)
        if as_json:
            typer.echo(json.dumps(result))
            return
        _print(result, spec)
        if keep:
            out.print(f"Hub database, node configs, logs and results kept in {folder}")


def _print(result: dict[str, Any], spec: FLSpec) -> None:
    trained, scored = result["fl_train"], result["he_inference"]
    table = Table(
        title="Federated activity model: per-class F1 on the offices' held-out respondents",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("activity")
    table.add_column("F1", justify="right")
    table.add_column("predicted for the survey lab", justify="right")
    for name, f1 in trained["per_class_f1"].items():
        count = scored["predicted_classes"].get(name)
        table.add_row(name, f"{f1:.3f}", "suppressed" if count is None else f"{count:,}")
    out.print(table)
    epsilon = trained.get("epsilon")
    out.print(
        f"Federated: accuracy {trained['accuracy']:.3f}, macro-F1 {trained['macro_f1']:.3f} "
        f"after {trained['rounds']} rounds ({spec.strategy}, model of round "
        f"{trained['best_round']}, {trained['offices']} offices, "
        f"{trained['seconds']:.1f} s); the same model trained on the pooled records: "
        f"{result['centralized_accuracy']:.3f}"
        + (f"; per-respondent DP ε = {epsilon:.2f} (δ = {spec.delta:g})" if epsilon else "")
    )
    out.print(
        f"Encrypted inference: {scored['records']:,} records scored under CKKS in "
        f"{scored['seconds']:.1f} s, accuracy {scored['accuracy']:.3f}; "
        f"{100 * scored['agreement_with_plaintext']:.1f}% of predictions equal the plaintext "
        "model's. The model service saw only ciphertexts; the predictions stay at the "
        "survey lab's node."
    )
    out.print(
        f"The aggregator saw only masked updates; the hub relayed sealed envelopes; audit log "
        f"verified ({result['audit_entries']} entries)."
    )
