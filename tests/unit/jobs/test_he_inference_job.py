"""The encrypted-inference job: two real processes on the activity demo's features.

Proves: the local run reads the querier's data in the model's feature order, agrees with
the plaintext model, reports its figures, and fails with the file named on bad input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from privstats.cli.run_he import register
from privstats.data.activity_demo import make_activity_demo
from privstats.data.sensors import read_feature_table
from privstats.errors import ComputationError, DatasetError
from privstats.jobs.he_inference import read_records, run_local_he_inference
from privstats.ml.models import MLP, LogisticRegression, Standardizer, train_local


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("he_demo")
    demo = make_activity_demo(folder, offices=2, subjects_per_office=4, windows_per_subject=60)
    train = read_feature_table(demo.offices["office_a"], label=demo.label, subject=demo.subject)
    y = np.searchsorted(train.classes, train.y)
    std = Standardizer.fit(train.X)
    models = {}
    for name, model in {
        "lr": LogisticRegression(
            len(train.feature_names),
            list(train.classes),
            feature_names=train.feature_names,
            standardizer=std,
        ),
        "mlp": MLP(
            len(train.feature_names),
            list(train.classes),
            rng=np.random.default_rng(0),
            hidden=(8,),
            activation="square",
            feature_names=train.feature_names,
            standardizer=std,
        ),
    }.items():
        train_local(
            model, train.X, y, epochs=5, batch_size=32, lr=0.02, rng=np.random.default_rng(1)
        )
        models[name] = folder / f"{name}.json"
        model.save(models[name])
    return models["lr"], models["mlp"], demo.test


def test_logistic_regression_job_agrees_with_plaintext(demo) -> None:
    lr, _, test = demo
    run = run_local_he_inference(lr, test, label="activity")
    result = run.result
    assert result["computation"] == "he_inference"
    assert result["records"] == read_feature_table(test, label="activity", subject="subject").rows
    assert result["agreement_with_plaintext"] == 1.0
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["records_per_second"] > 0 and result["seconds"] > 0
    assert result["ckks"]["poly_modulus_degree"] == 8192
    assert run.outcomes["model_holder"].output.result is None


def test_mlp_job_via_cli_json(demo) -> None:
    import json

    import typer

    _, mlp, test = demo
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command, so typer keeps sub-command names
        pass

    outcome = CliRunner().invoke(app, ["he-inference", "--model", str(mlp), "--data", str(test)])
    assert outcome.exit_code == 0, outcome.output
    outcome = CliRunner().invoke(
        app, ["he-inference", "--model", str(mlp), "--data", str(test), "--json"]
    )
    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.stdout)
    assert result["agreement_with_plaintext"] >= 0.999
    assert result["ckks"]["depth"] == 3
    assert "accuracy" not in result


def test_missing_feature_column_names_the_file(demo, tmp_path: Path) -> None:
    lr, _, test = demo
    lines = test.read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name != header[-1]]
    short = tmp_path / "short.csv"
    short.write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in lines) + "\n")
    with pytest.raises(ComputationError, match=r"short\.csv"):
        run_local_he_inference(lr, short, label="activity")
    with pytest.raises(DatasetError, match="not found"):
        run_local_he_inference(lr, tmp_path / "nope.csv")


def test_read_records_without_names_needs_the_right_count(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b,label\n1,2,u\n3,,v\n")
    with pytest.raises(DatasetError, match=r"2 feature columns"):
        read_records(path, None, 3, label="label")
    with pytest.raises(DatasetError, match="missing"):
        read_records(path, None, 3)
