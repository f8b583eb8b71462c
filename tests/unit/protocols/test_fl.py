"""Federated training's party steps over the memory channel, against plaintext training.

Proves: one FedAvg round through secure aggregation gives the global model that plaintext
local training and a weighted mean of the updates give (to fixed-point precision); the
pooled standardizer and record count are those of the pooled training records; every
office ends with the coordinator's model; the pooled evaluation is the plaintext one; an
office below ``min_cell`` training records refuses; the steps need no job spec, only the
terms; and no function of the protocol is over 80 lines.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.data.sensors import FeatureTable
from privstats.errors import ComputationError
from privstats.ml.metrics import accuracy, confusion_matrix
from privstats.ml.models import LogisticRegression, Model, Standardizer, train_local
from privstats.protocols import fl
from privstats.transport.memory import MemoryNetwork, run_parties

CLASSES = ("lie", "sit", "walk")
FEATURES = ("f1", "f2", "f3", "f4")


@dataclass(frozen=True)
class _Terms:
    """The terms as plain values: the protocol takes any object with these attributes."""

    model: str = "logreg"
    hidden: tuple[int, ...] = (8,)
    activation: str = "relu"
    rounds: int = 1
    patience: int = 0
    min_rounds: int = 0
    validation: float = 0.0
    strategy: str = "fedavg"
    local_epochs: int = 1
    batch_size: int = 16
    lr: float = 0.1
    l2: float = 1e-4
    mu: float = 0.0
    server_lr: float = 0.1
    holdout: float = 0.25
    frac_bits: int = 24
    seed: int = 7
    classes: tuple[str, ...] | None = None
    round_timeout: float = 30.0
    epsilon: float | None = None
    delta: float = 1e-5
    dp_clip: float = 1.0
    min_cell: int = 10

    @property
    def early_stopping(self) -> bool:
        return self.patience > 0


def _office(name: str, rows: int, seed: int) -> FeatureTable:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), size=rows)
    x = rng.normal(size=(rows, len(FEATURES))) + y[:, None] * 1.5 + 10.0
    labels = np.array([CLASSES[i] for i in y])
    return FeatureTable(name, x, labels, None, FEATURES, tuple(sorted(set(labels.tolist()))))


def _train(offices: dict[str, FeatureTable], terms: _Terms) -> dict[str, Any]:
    network = MemoryNetwork([*offices, "coordinator"])
    roles: dict[str, Any] = {
        name: (lambda channel, data=data: fl.party(channel, data, terms, coordinator="coordinator"))
        for name, data in offices.items()
    }
    roles["coordinator"] = lambda channel: fl.coordinator(channel, sorted(offices), terms)
    return run_parties(network, roles)


def test_one_fedavg_round_equals_plaintext_training_and_weighted_mean() -> None:
    # Prepare
    offices = {"a": _office("a.csv", 80, 1), "b": _office("b.csv", 120, 2)}
    terms = _Terms()
    # Execute
    results = _train(offices, terms)
    # Assert: the pooled statistics are those of the pooled training records
    result = results["coordinator"]
    model = Model.from_dict(result["model_state"])
    parts = {name: fl.partition(data, terms) for name, data in offices.items()}
    pooled = np.concatenate([offices[n].X[p.train] for n, p in parts.items()])
    assert result["records"] == len(pooled)
    assert model.standardizer is not None
    np.testing.assert_allclose(model.standardizer.mean, Standardizer.fit(pooled).mean, atol=1e-6)
    # the global model is the initial one plus the weighted mean of plaintext local updates
    index = {c: i for i, c in enumerate(CLASSES)}
    updates, weights = [], []
    for name, data in offices.items():
        train = parts[name].train
        local = LogisticRegression(len(FEATURES), list(CLASSES), standardizer=model.standardizer)
        start = local.get_params()
        y = np.array([index[v] for v in data.y[train]])
        train_local(
            local,
            data.X[train],
            y,
            epochs=1,
            batch_size=terms.batch_size,
            lr=terms.lr,
            l2=terms.l2,
            rng=np.random.default_rng(terms.seed + 1),
        )
        updates.append(len(y) * (local.get_params() - start))
        weights.append(len(y))
    expected = start + np.sum(updates, axis=0) / np.sum(weights)
    np.testing.assert_allclose(model.get_params(), expected, atol=1e-6)
    # every office ends with the coordinator's model; the evaluation is the plaintext one
    matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    for name, data in offices.items():
        report, final = results[name]
        np.testing.assert_array_equal(final.get_params(), model.get_params())
        assert report["rounds"] == 1 and report["epsilon_history"] == []
        held = parts[name].held
        y = np.array([index[v] for v in data.y[held]])
        matrix += confusion_matrix(y, model.predict(data.X[held]), len(CLASSES))
    assert result["accuracy"] == pytest.approx(float(accuracy(matrix)))
    assert result["dropped"] == {} and result["epsilon"] is None


def test_an_office_below_min_cell_training_records_refuses() -> None:
    offices = {"a": _office("a.csv", 80, 1), "b": _office("small.csv", 8, 2)}
    with pytest.raises(ComputationError) as caught:
        _train(offices, replace(_Terms(), round_timeout=2.0))
    assert "small.csv: 6 training records" in str(caught.value.__cause__)
    assert "min_cell is 10" in str(caught.value.__cause__)


def test_no_protocol_function_is_over_80_lines() -> None:
    folder = Path(fl.__file__).parent
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 80, f"{path.name}: {node.name} has {length} lines"
