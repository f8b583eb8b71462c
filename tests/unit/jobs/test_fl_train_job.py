"""Federated training on the activity demo: offices and coordinator as real processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.data.activity_demo import ActivityDemo, make_activity_benchmark, make_activity_demo
from privstats.data.sensors import read_feature_table
from privstats.errors import MissingExtraError, ParameterError
from privstats.jobs import fl_train
from privstats.jobs.fl_train import (
    COORDINATOR,
    DP_ROUND_CAP,
    ROUND_CAP,
    FlTrainSpec,
    _EarlyStopping,
    _partition,
    coordinator_role,
    evaluate,
    holdout_accuracy,
    party_role,
    run_local_fl_train,
    train_centralized,
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


def _alone(demo: ActivityDemo, office: str, spec: FlTrainSpec, classes: list[str]) -> Model:
    data = read_feature_table(demo.offices[office], label=demo.label, subject=demo.subject)
    train = _partition(data, spec).train
    x = data.X[train]
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[str(v)] for v in data.y[train]])
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


@pytest.mark.slow
def test_defaults_reach_the_centralised_model_and_beat_every_office_alone(
    demo: ActivityDemo, tmp_path: Path
) -> None:
    spec = FlTrainSpec.build(label=demo.label, subject=demo.subject)  # every default
    run = run_local_fl_train(
        demo.offices, spec, test=demo.test, model_out=tmp_path / "m.json", compare_centralized=True
    )
    result = run.result
    assert result["computation"] == "fl_train"
    assert result["strategy"] == "fedadam" and result["round_cap"] == ROUND_CAP
    assert spec.min_rounds < result["rounds"] < ROUND_CAP  # stopped early, after the warm-up
    assert result["stopped"].startswith("the validation loss did not improve for 20 rounds")
    assert result["rounds"] - result["best_round"] == spec.patience + 1
    assert len(result["validation_loss"]) == result["rounds"] - spec.min_rounds
    best = min(result["validation_loss"])
    assert result["validation_loss"][result["best_round"] - spec.min_rounds] == best
    assert result["survivors_per_round"] == [3] * result["rounds"]
    assert abs(result["accuracy"] - result["centralized_accuracy"]) <= 0.02
    assert result["accuracy"] >= _old_yardstick(demo, [str(c) for c in run.model.classes]) - 0.02
    classes = [str(c) for c in run.model.classes]
    for office in demo.offices:
        alone = evaluate(_alone(demo, office, spec, classes), demo.test, spec)["accuracy"]
        assert result["accuracy"] > alone, office
    assert set(result["per_class_f1"]) == set(classes)
    assert Model.load(tmp_path / "m.json").get_params() == pytest.approx(run.model.get_params())


@pytest.mark.parametrize("strategy", ["fedprox", "fedadam", "fedyogi"])
def test_every_strategy_learns(demo: ActivityDemo, strategy: str) -> None:
    spec = FlTrainSpec.build(label=demo.label, subject=demo.subject, rounds=8, strategy=strategy)
    result = run_local_fl_train(demo.offices, spec).result
    assert result["evaluated_on"].startswith("held-out")
    assert result["accuracy"] > 0.6  # six classes: chance is about 0.17


def test_the_secure_evaluation_equals_the_pooled_held_out_confusion_matrix(
    demo: ActivityDemo,
) -> None:
    spec = FlTrainSpec.build(
        label=demo.label, subject=demo.subject, rounds=3, model="mlp", hidden=(8,)
    )
    run = run_local_fl_train(demo.offices, spec, compare_centralized=True)
    assert run.result["accuracy"] == pytest.approx(holdout_accuracy(run.model, demo.offices, spec))


def test_options_are_checked() -> None:
    with pytest.raises(ParameterError, match="rounds"):
        FlTrainSpec.build(rounds=0)
    with pytest.raises(ParameterError, match="option 'validation': early stopping"):
        FlTrainSpec.build(validation=0)
    assert FlTrainSpec.build(validation=0, patience=0).early_stopping is False
    with pytest.raises(ParameterError, match="two offices"):
        run_local_fl_train({"a": "x.csv"}, FlTrainSpec())


def test_differential_privacy_spends_no_more_than_the_budget_per_office(
    demo: ActivityDemo,
) -> None:
    spec = FlTrainSpec.build(
        label=demo.label, subject=demo.subject, rounds=5, epsilon=4.0, dp_clip=1.0
    )
    run = run_local_fl_train(demo.offices, spec, test=demo.test)
    spent = [run.outcomes[o].output.result["epsilon_history"] for o in demo.offices]
    assert all(len(history) == 5 for history in spent)
    finals = [history[-1][1] for history in spent]
    assert run.result["epsilon"] == max(finals)
    assert all(3.6 <= e <= 4.0 for e in finals)  # calibrated to within a few per cent
    assert run.result["delta"] == 1e-5
    assert run.result["accuracy"] > 0.3  # noisy, but above chance (about 0.17)
    outside = " ".join(run.result["outside_epsilon"])
    for released in ("records", "confusion matrix", "standardizer", "validation loss"):
        assert released in outside


def test_dp_defaults_to_a_lower_round_cap() -> None:
    assert FlTrainSpec.build(epsilon=1.0).rounds == DP_ROUND_CAP
    assert FlTrainSpec.build(epsilon=1.0, rounds=12).rounds == 12
    assert FlTrainSpec.build().rounds == ROUND_CAP


def test_without_the_ml_extra_dp_fails_before_any_party_starts(
    demo: ActivityDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dp_accounting", None)

    def no_party(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a party was started")

    monkeypatch.setattr(fl_train, "run_kind_locally", no_party)
    spec = FlTrainSpec.build(label=demo.label, subject=demo.subject, epsilon=1.0)
    with pytest.raises(MissingExtraError, match=r"pip install 'privstats\[ml\]'") as caught:
        run_local_fl_train(demo.offices, spec)
    assert caught.value.extra == "ml" and "\n" not in str(caught.value)
    # an office's node refuses the same way before sending anything to the coordinator
    with pytest.raises(MissingExtraError, match="ml"):
        fl_train.run_role(
            "party1",
            None,
            {"coordinator": "c", "party1": "a", "party2": "b"},
            str(demo.offices["office_a"]),
            spec,
            None,
        )  # type: ignore[arg-type]


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
    spec = FlTrainSpec.build(
        label=demo.label, subject=demo.subject, rounds=6, patience=0, round_timeout=2.0
    )
    offices = sorted(demo.offices)
    network = MemoryNetwork([*offices, COORDINATOR])

    def office(name: str) -> Any:
        def role(channel: Channel) -> Any:
            data = spec.read(demo.offices[name])
            if name != "office_c":
                return party_role(channel, data, spec)
            try:  # masked inputs: 1 for the statistics, then one per round; dies in round 3
                return party_role(_CrashingChannel(channel, nth=4), data, spec)
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
        held = _partition(data, spec).held
        y = np.array([classes.index(str(v)) for v in data.y[held]])
        matrix += confusion_matrix(y, model.predict(data.X[held]), 6)
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert result["accuracy"] > 0.6


def _stopping(losses: list[float], **options: Any) -> tuple[bool, _EarlyStopping]:
    """Feed pooled [Σ loss, records, correct] sums of 100 validation records, round by round."""
    stopper = _EarlyStopping(FlTrainSpec.build(**options), np.zeros(1))
    for round_, loss in enumerate(losses):
        if stopper.observe(round_, np.array([float(round_)]), np.array([100 * loss, 100, 50])):
            return True, stopper
    return False, stopper


def test_early_stopping_keeps_the_best_model_after_the_warm_up() -> None:
    # a transient minimum in the warm-up (round 2) is neither kept nor compared
    losses = [2.0, 1.0, 0.1, 0.9, 0.8, 0.7, 0.75, 0.72, 0.71, 0.70005]
    stopped, stopper = _stopping(losses, min_rounds=3, patience=3)
    assert stopped and stopper.rounds == 9  # rounds 6, 7, 8 did not beat round 5 (0.7)
    assert stopper.best_round == 5 and stopper.losses == pytest.approx(losses[3:9])
    assert stopper.final(np.array([99.0])).tolist() == [5.0]  # the parameters of round 5
    assert "did not improve for 3 rounds (best after round 5)" in stopper.reason


def test_early_stopping_runs_to_the_cap_while_the_loss_improves() -> None:
    losses = [1.0 / (r + 1) for r in range(8)]
    stopped, stopper = _stopping(losses, rounds=8, min_rounds=2, patience=2)
    assert not stopped and stopper.reason == "the round cap (8)"
    assert stopper.final(np.array([99.0])).tolist() == [7.0]


def test_without_early_stopping_every_round_runs_and_the_last_model_is_kept() -> None:
    stopped, stopper = _stopping([1.0, 0.5, 2.0, 3.0, 4.0], rounds=5, patience=0)
    assert not stopped and stopper.losses == []
    assert stopper.final(np.array([99.0])).tolist() == [99.0] and stopper.best_round == 5


def test_validation_respondents_are_apart_from_training_and_evaluation(
    demo: ActivityDemo,
) -> None:
    spec = FlTrainSpec.build(label=demo.label, subject=demo.subject)
    data = spec.read(demo.offices["office_a"])
    part = _partition(data, spec)
    assert data.subjects is not None
    held, valid, train = (
        set(data.subjects[m].tolist()) for m in (part.held, part.validation, part.train)
    )
    assert len(held) == 2 and len(valid) == 1 and len(train) == 5  # 8 respondents
    assert not (held & valid) and not (held & train) and not (valid & train)
    # the evaluation split is the one used before early stopping existed
    old = _partition(data, FlTrainSpec.build(label=demo.label, subject=demo.subject, patience=0))
    assert np.array_equal(old.held, part.held) and not old.validation.any()


def _old_yardstick(demo: ActivityDemo, classes: list[str]) -> float:
    """Test accuracy of the centralised model as it was before early stopping: 30 epochs on
    every respondent not held out for the evaluation."""
    old = FlTrainSpec.build(label=demo.label, subject=demo.subject, rounds=30, patience=0)
    return float(
        evaluate(train_centralized(demo.offices, old, classes), demo.test, old)["accuracy"]
    )


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> ActivityDemo:
    return make_activity_benchmark(tmp_path_factory.mktemp("benchmark"), seed=2026)


@pytest.mark.slow
def test_on_the_strongly_non_iid_benchmark_the_old_defaults_fall_short(
    benchmark: ActivityDemo,
) -> None:
    old = FlTrainSpec.build(
        label=benchmark.label, subject=benchmark.subject, strategy="fedavg", rounds=30, patience=0
    )
    result = run_local_fl_train(
        benchmark.offices, old, test=benchmark.test, compare_centralized=True
    ).result
    assert result["centralized_accuracy"] - result["accuracy"] > 0.03


@pytest.mark.slow
def test_on_the_strongly_non_iid_benchmark_the_defaults_reach_the_centralised_model(
    benchmark: ActivityDemo,
) -> None:
    spec = FlTrainSpec.build(label=benchmark.label, subject=benchmark.subject)
    run = run_local_fl_train(benchmark.offices, spec, test=benchmark.test, compare_centralized=True)
    result = run.result
    assert result["offices"] == 4 and result["rounds"] > spec.min_rounds
    assert result["accuracy"] >= result["centralized_accuracy"] - 0.02
    classes = [str(c) for c in run.model.classes]
    assert result["accuracy"] >= _old_yardstick(benchmark, classes) - 0.02


def test_old_spec_names_are_accepted_and_dumped_under_the_new_ones() -> None:
    old = FlTrainSpec.build(dp_epsilon=2.0, dp_delta=1e-6, min_records=25)
    new = FlTrainSpec.build(epsilon=2.0, delta=1e-6, min_cell=25)
    assert old == new
    dumped = old.model_dump()
    assert (dumped["epsilon"], dumped["delta"], dumped["min_cell"]) == (2.0, 1e-6, 25)
    assert not {"dp_epsilon", "dp_delta", "min_records"} & set(dumped)
    assert FlTrainSpec.model_validate(dumped) == old
    assert fl_train.FLSpec is FlTrainSpec and fl_train.office_role is fl_train.party_role


@pytest.mark.parametrize(("old", "new"), [("dp_epsilon", "epsilon"), ("min_records", "min_cell")])
def test_an_old_and_a_new_name_together_are_refused(old: str, new: str) -> None:
    with pytest.raises(ParameterError, match=f"give {new} or its old name {old}, not both"):
        FlTrainSpec.build(**{old: 3, new: 3})
    with pytest.raises(ParameterError, match="unknown_option"):
        FlTrainSpec.build(unknown_option=1)  # extra keys are still forbidden


def test_disclosure_states_min_cell_epsilon_and_delta() -> None:
    assert fl_train.disclosure(FlTrainSpec.build(epsilon=2.0, min_cell=12)) == {
        "min_cell": 12,
        "epsilon": 2.0,
        "delta": 1e-5,
    }
    assert fl_train.disclosure(FlTrainSpec.build())["epsilon"] is None
