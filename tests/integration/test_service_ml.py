"""Federated training and encrypted inference as jobs through a real hub and node processes.

The hub's training result is compared with a local run of the same computation on the
same files (secure aggregation in fixed point is exact, so the models are equal); the
encrypted predictions kept at the querier's node are compared with the plaintext model.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from privstats.client import Federation
from privstats.data.activity_demo import make_activity_demo
from privstats.errors import JobFailedError, ServiceError
from privstats.jobs.fl_train import FlTrainSpec, run_local_fl_train
from privstats.jobs.he_inference import read_records
from privstats.local_federation import LocalFederation
from privstats.ml.models import Model


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path / "fed", node_timeout=20.0, poll_seconds=0.2) as federation:
        yield federation


def _analyst(federation: LocalFederation) -> Federation:
    with federation.admin() as admin:
        return Federation(federation.url, admin.add_token("analyst"))


@pytest.mark.slow
def test_demo_activity_trains_through_the_hub_and_scores_encrypted(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    completed = subprocess.run(
        [sys.executable, "-m", "privstats", "demo", "activity", "--json", "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    trained, scored = result["fl_train"], result["he_inference"]
    assert result["audit_verified"] is True

    # the hub's job computes exactly what a local run of the same spec computes
    demo = make_activity_demo(tmp_path / "again", seed=2026)
    spec = FlTrainSpec.build(label="activity", subject="subject", seed=2026)  # the demo's defaults
    local = run_local_fl_train(demo.offices, spec).result
    assert trained["accuracy"] == local["accuracy"]
    assert trained["per_class_f1"] == local["per_class_f1"]
    assert trained["rounds"] == local["rounds"] and trained["stopped"] == local["stopped"]
    assert trained["validation_loss"] == local["validation_loss"]
    assert abs(trained["accuracy"] - result["centralized_accuracy"]) <= 0.02
    assert set(trained["per_class_f1"]) == {
        "lying", "sitting", "standing", "walking", "walking_downstairs", "walking_upstairs"
    }  # fmt: skip

    # each office kept the final model, equal to the one released to the analyst
    model = Model.load(keep / "data" / "activity-model.json")
    kept = sorted((keep / "federation").glob("node-office_*/results/*/model.json"))
    assert len(kept) == 3
    assert all(np.array_equal(Model.load(p).get_params(), model.get_params()) for p in kept)

    # the survey lab's predictions stay at its node and equal the plaintext model's
    (predictions,) = (keep / "federation").glob("node-survey_lab/results/*/predictions.csv")
    with predictions.open(encoding="utf-8") as handle:
        labels = [row["predicted"] for row in csv.DictReader(handle)]
    x, y = read_records(demo.test, model.feature_names, model.n_features, label="activity")
    plain = [str(model.classes[i]) for i in model.predict(x)]
    assert labels == plain
    assert scored["agreement_with_plaintext"] == 1.0
    assert scored["records"] == len(plain)
    assert scored["accuracy"] == pytest.approx(np.mean(np.asarray(plain) == y.astype(str)))
    counts = {c: plain.count(c) for c in trained["per_class_f1"]}
    for name, count in scored["predicted_classes"].items():
        assert count is None or count == counts[name]
    assert "predictions" not in json.dumps(scored).replace("predicted_classes", "")


def test_a_coordinator_brings_no_dataset_and_needs_a_rule_for_it(
    federation: LocalFederation, tmp_path: Path
) -> None:
    demo = make_activity_demo(tmp_path / "data", offices=2, subjects_per_office=4, seed=7)
    for office, path in demo.offices.items():
        federation.add_node(office, {"activity": (path, ["subject"])}, allow=("fl_train",))
    federation.add_node("aggregator", {}, allow=("aggregate",))  # no fl_train rule
    federation.wait_for_datasets(2)
    datasets = dict.fromkeys(demo.offices, "activity")
    with _analyst(federation) as analyst:
        with pytest.raises(ServiceError, match="reads no data"):
            analyst.submit(
                "fl_train",
                {"label": "activity", "subject": "subject", "features": list(demo.feature_names)},
                {"coordinator": "aggregator", "party1": "office_a", "party2": "office_b"},
                {"coordinator": "activity", "party1": "activity", "party2": "activity"},
            )
        job = analyst.submit_fl_train(
            coordinator="aggregator", datasets=datasets, subject="subject", rounds=2
        )
        with pytest.raises(JobFailedError, match="without data"):
            job.wait(timeout=60)
        assert job.refresh().state == "rejected"
        # the offices' manifest named exactly the label, subject and feature columns
        manifest = job.info["manifest"]
        assert manifest["datasets"]["party1"]["columns"] == [
            "activity",
            "subject",
            *demo.feature_names,
        ]
        assert "coordinator" not in manifest["datasets"]
