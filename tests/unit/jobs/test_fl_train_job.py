"""Federated training on the activity demo: offices and coordinator as real processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.data.activity_demo import ActivityDemo, make_activity_demo
from privstats.data.sensors import read_feature_table
from privstats.errors import ParameterError
from privstats.jobs.fl_train import (
    COORDINATOR,
    FLSpec,
    _split,
    coordinator_role,
    evaluate,
    holdout_accuracy,
    office_role,
    run_local_fl_train,
)
from privstats.ml.metrics import confusion_matrix
from privstats.ml.models import LogisticRegression, Model, Standardizer, train_local
from privstats.protocols import secagg
from privstats.transport.channel import Channel
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ActivityDemo:
    return make_activity_demo(tmp_path_factory.mktemp("activity"), seed=2026)


def _alone(demo: ActivityDemo, office: str, spec: FLSpec, classes: list[str]) -> Model:
    data = read_feature_table(demo.offices[office], label=demo.label, subject=demo.subject)
    held, _ = _split(data, spec)
    x = data.X[~held]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[str(v)] for v in data.y[~held]])
    model = LogisticRegression(x.shape[1], classes, standardizer=Standardizer.fit(x))
    return train_local(
        model,
        x,
        y,
        epochs=spec.rounds,
        batch_size=spec.batch_size,
        lr=spec.lr,
        l2=spec.l2,
        rng=np.random.default_rng(1),
    )


def test_federated_accuracy_is_near_centralised_and_above_every_office_alone(
    demo: ActivityDemo, tmp_path: Path
) -> None:
    spec = FLSpec.build(label=demo.label, subject=demo.subject, rounds=30)
    run = run_local_fl_train(
        demo.offices, spec, test=demo.test, model_out=tmp_path / "m.json", compare_centralized=True
    )
    result = run.result
    assert result["computation"] == "fl_train"
    assert result["survivors_per_round"] == [3] * 30
    assert abs(result["accuracy"] - result["centralized_accuracy"]) <= 0.02
    classes = [str(c) for c in run.model.classes]
    for office in demo.offices:
        alone = evaluate(_alone(demo, office, spec, classes), demo.test, spec)["accuracy"]
        assert result["accuracy"] > alone, office
    assert set(result["per_class_f1"]) == set(classes)
    assert Model.load(tmp_path / "m.json").get_params() == pytest.approx(run.model.get_params())


@pytest.mark.parametrize("strategy", ["fedprox", "fedadam", "fedyogi"])
def test_every_strategy_learns(demo: ActivityDemo, strategy: str) -> None:
    spec = FLSpec.build(label=demo.label, subject=demo.subject, rounds=8, strategy=strategy)
    result = run_local_fl_train(demo.offices, spec).result
    assert result["evaluated_on"].startswith("held-out")
    assert result["accuracy"] > 0.6  # six classes: chance is about 0.17


def test_the_secure_evaluation_equals_the_pooled_held_out_confusion_matrix(
    demo: ActivityDemo,
) -> None:
    spec = FLSpec.build(label=demo.label, subject=demo.subject, rounds=3, model="mlp", hidden=(8,))
    run = run_local_fl_train(demo.offices, spec, compare_centralized=True)
    assert run.result["accuracy"] == pytest.approx(holdout_accuracy(run.model, demo.offices, spec))


def test_options_are_checked() -> None:
    with pytest.raises(ParameterError, match="rounds"):
        FLSpec.build(rounds=0)
    with pytest.raises(ParameterError, match="two offices"):
        run_local_fl_train({"a": "x.csv"}, FLSpec())


def test_differential_privacy_spends_no_more_than_the_budget_per_office(
    demo: ActivityDemo,
) -> None:
    spec = FLSpec.build(
        label=demo.label, subject=demo.subject, rounds=5, dp_epsilon=4.0, dp_clip=1.0
    )
    run = run_local_fl_train(demo.offices, spec, test=demo.test)
    spent = [run.outcomes[o].output["epsilon_history"] for o in demo.offices]
    assert all(len(history) == 5 for history in spent)
    finals = [history[-1][1] for history in spent]
    assert run.result["epsilon"] == max(finals)
    assert all(3.6 <= e <= 4.0 for e in finals)  # calibrated to within a few per cent
    assert run.result["delta"] == 1e-5
    assert run.result["accuracy"] > 0.3  # noisy, but above chance (about 0.17)


class _CrashError(Exception):
    """An office's machine failing in the middle of training."""


class _CrashingChannel(Channel):
    """An office's channel that dies instead of sending its ``nth`` masked input."""

    def __init__(self, inner: Channel, nth: int) -> None:
        super().__init__(inner.party, inner.peers)
        self._inner, self._left = inner, nth

    def _send_frame(self, peer: str, frame: bytes) -> None:
        if decode(frame).KIND == secagg.MaskedInput.KIND:
            self._left -= 1
            if self._left == 0:
                raise _CrashError
        self._inner._send_frame(peer, frame)

    def _recv_frame(self, peer: str, timeout: float) -> bytes:
        return self._inner._recv_frame(peer, timeout)

    def close(self) -> None:
        self._inner.close()


def test_an_office_that_drops_out_does_not_stop_the_training(demo: ActivityDemo) -> None:
    spec = FLSpec.build(label=demo.label, subject=demo.subject, rounds=6, round_timeout=2.0)
    offices = sorted(demo.offices)
    network = MemoryNetwork([*offices, COORDINATOR])

    def office(name: str) -> Any:
        def role(channel: Channel) -> Any:
            data = spec.read(demo.offices[name])
            if name != "office_c":
                return office_role(channel, data, spec)
            try:  # masked inputs: 1 for the statistics, then one per round; dies in round 3
                return office_role(_CrashingChannel(channel, nth=4), data, spec)
            except _CrashError:
                return None

        return role

    roles: dict[str, Any] = {name: office(name) for name in offices}
    roles[COORDINATOR] = lambda channel: coordinator_role(channel, offices, spec)
    result = run_parties(network, roles)[COORDINATOR]

    assert result["dropped"] == {"office_c": "round 3"}
    assert result["survivors_per_round"] == [3, 3, 2, 2, 2, 2]
    # the evaluation pools exactly the two remaining offices' held-out records
    matrix = np.zeros((6, 6), dtype=np.int64)
    classes = list(result["per_class_f1"])
    model = Model.from_dict(result["model_state"])
    for name in ("office_a", "office_b"):
        data = spec.read(demo.offices[name])
        held, _ = _split(data, spec)
        y = np.array([classes.index(str(v)) for v in data.y[held]])
        matrix += confusion_matrix(y, model.predict(data.X[held]), 6)
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert result["accuracy"] > 0.6
