"""Federated training across offices as a job: the spec, the columns read, the release.

Several offices each hold a feature table (sensor features of their survey respondents,
a label column, optionally a subject column); a *coordinator* holds no data. They train
one model — multinomial logistic regression or a small MLP (``privstats.ml.models``) —
without pooling the data. The protocol (setup, pooled standardizer, rounds of local
training combined by secure aggregation, early stopping, the pooled evaluation) and its
threat model are in :mod:`privstats.protocols.fl`; this module holds what a job adds: the
spec (:class:`FlTrainSpec`), the columns each office reads, the disclosure its policy
checks, the roles as the service runs them (:func:`party_role` for party1 … partyN,
:func:`coordinator_role`), the evaluation helpers and the local runner.

The defaults (FedAdam, early stopping, a cap of 200 rounds or 30 with DP) are this
module's :class:`FlTrainSpec`: the command line, the hub's job and
``Federation.submit_fl_train`` all take them from here. The spec's privacy words are the
project's: ``epsilon`` and ``delta`` (the DP budget; None: no DP), ``min_cell`` (the
fewest training records an office trains on); the old names ``dp_epsilon``, ``dp_delta``
and ``min_records`` are still accepted on input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from privstats.data.readers import check_data_file
from privstats.data.sensors import FeatureTable, read_feature_table
from privstats.disclosure.budget import Budget
from privstats.errors import DatasetError, ParameterError
from privstats.jobs.kind import CliField, JobKind, from_tuple
from privstats.jobs.local import PartyOutcome, ProgressSink
from privstats.jobs.local_run import run_kind_locally
from privstats.jobs.render import Column, Rendering, TableView
from privstats.jobs.roles import numbered_parties
from privstats.jobs.spec import Spec
from privstats.ml.dp import require_accountant
from privstats.ml.metrics import accuracy, confusion_matrix
from privstats.ml.models import Model, Standardizer, train_local
from privstats.progress import Progress
from privstats.protocols import fl
from privstats.transport.channel import Channel

__all__ = [
    "COORDINATOR",
    "DP_ROUND_CAP",
    "KIND",
    "ROUND_CAP",
    "FLRun",
    "FLSpec",
    "FlTrainSpec",
    "coordinator_role",
    "office_role",
    "party_role",
    "run_local_fl_train",
]

COORDINATOR = "coordinator"
ROUND_CAP = 200
"""Default round cap without DP (early stopping usually ends training well before)."""
DP_ROUND_CAP = 30
"""Default round cap with DP: the noise is calibrated so that all of them spend ε."""
_OLD_NAMES = {"dp_epsilon": "epsilon", "dp_delta": "delta", "min_records": "min_cell"}
"""Spec fields renamed to the project's vocabulary; the old names are still accepted."""


def _require_accountant() -> None:
    """Fail before any party starts when DP is asked for and dp-accounting is missing."""
    require_accountant("differential privacy (--dp-epsilon)")


class FlTrainSpec(Spec):
    """Everything the offices and the coordinator agree on before training."""

    _option: ClassVar[str] = "fl-train option"
    _default_field: ClassVar[str] = "validation"  # the one check that spans fields

    label: str = Field("activity", min_length=1)
    """The label column."""
    subject: str | None = None
    """The respondent column: a respondent's records are held out or trained on together."""
    features: tuple[str, ...] | None = None
    """Feature columns (default: every other column)."""
    model: Literal["logreg", "mlp"] = "logreg"
    """The model: logistic regression or a small neural network."""
    hidden: tuple[int, ...] = (32,)
    """Hidden units of the MLP, per layer."""
    activation: Literal["relu", "square", "poly"] = "relu"
    """MLP activation (square and poly can be evaluated under CKKS)."""
    rounds: int = Field(ROUND_CAP, ge=1, le=1000)
    """The round cap (30 by default with epsilon); training stops earlier when the
    validation loss stops improving."""
    patience: int = Field(20, ge=0, le=1000)
    """Rounds without a better pooled validation loss before training stops (0: never)."""
    min_rounds: int = Field(30, ge=0, le=1000)
    """Rounds always run before early stopping may end training (the warm-up)."""
    validation: float = Field(0.2, ge=0, lt=1)
    """Share of each office's training respondents held out for early stopping."""
    strategy: Literal["fedavg", "fedprox", "fedadam", "fedyogi"] = "fedadam"
    """How the coordinator combines the offices' updates."""
    local_epochs: int = Field(1, ge=1, le=100)
    """Passes over an office's records per round."""
    batch_size: int = Field(32, ge=1)
    """Records per local gradient step."""
    lr: float = Field(0.1, gt=0)
    """Local learning rate."""
    l2: float = Field(1e-4, ge=0)
    """L2 penalty on the weights."""
    mu: float = Field(0.01, ge=0)
    """FedProx proximal term."""
    server_lr: float = Field(0.1, gt=0)
    """The coordinator's learning rate (FedAdam, FedYogi)."""
    holdout: float = Field(0.2, ge=0, lt=1)
    """Share of each office's respondents held out for the pooled evaluation."""
    frac_bits: int = Field(24, ge=8, le=40)
    """Fixed-point fractional bits of the securely summed updates."""
    seed: int = 2026
    """Seed of the data split and the initial model (not of any privacy noise)."""
    classes: tuple[str, ...] | None = None
    """The label's classes (default: agreed from the offices' labels)."""
    round_timeout: float = Field(300.0, gt=0)
    """Seconds the coordinator waits for an office in a round."""
    epsilon: float | None = Field(None, gt=0)
    """The DP budget of each office's training records (None: no differential privacy)."""
    delta: float = Field(1e-5, gt=0, lt=1)
    """The δ of the DP guarantee."""
    dp_clip: float = Field(1.0, gt=0)
    """Per-respondent gradient clipping norm (with DP)."""
    min_cell: int = Field(10, ge=1)
    """The fewest training records an office trains on (its update would nearly show them)."""

    @model_validator(mode="before")
    @classmethod
    def _old_names_and_round_cap(cls, values: Any) -> Any:
        """Old field names map to the new ones; with DP a lower default round cap.

        With DP the noise is calibrated for every round of the cap, hence the lower default.
        """
        if not isinstance(values, dict):
            return values
        values = dict(values)
        for old, new in _OLD_NAMES.items():
            if old in values:
                if new in values:
                    raise ValueError(f"give {new} or its old name {old}, not both")
                values[new] = values.pop(old)
        if values.get("rounds") is None:
            values.pop("rounds", None)
            if values.get("epsilon") is not None:
                values["rounds"] = DP_ROUND_CAP
        return values

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> FlTrainSpec:
        if self.patience and not self.validation:
            raise ValueError(
                "early stopping (patience > 0) needs a validation share above 0; "
                "set patience to 0 to train a fixed number of rounds"
            )
        return self

    @property
    def early_stopping(self) -> bool:
        return self.patience > 0

    def read(self, path: str | Path) -> FeatureTable:
        """An office's feature table: ``features`` (default: every other column), label, subject."""
        return read_feature_table(
            path, label=self.label, subject=self.subject, features=self.features
        )


FLSpec = FlTrainSpec
"""The spec's former name, kept for existing callers."""

# the protocol's pieces under their former names in this module (tests, benchmarks)
_Partition = fl.Partition
_partition = fl.partition
_EarlyStopping = fl.EarlyStopping
_new_model = fl.new_model
_validation_sums = fl.validation_sums
_metrics = fl.pooled_metrics


def party_role(
    channel: Channel,
    data: FeatureTable,
    spec: FlTrainSpec,
    progress: Progress | None = None,
    *,
    coordinator: str = COORDINATOR,
) -> tuple[dict[str, Any], Model]:
    """An office's side (party1 … partyN): :func:`privstats.protocols.fl.party`.

    Returns the office's report and the final global model it received.
    """
    return fl.party(channel, data, spec, progress, coordinator=coordinator)


office_role = party_role
"""The office's role runner under its former name."""


def coordinator_role(
    channel: Channel,
    offices: Sequence[str],
    spec: FlTrainSpec,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The coordinator's side: returns the trained model and the pooled evaluation."""
    return fl.coordinator(channel, offices, spec, progress)


def holdout_accuracy(model: Model, parties: Mapping[str, str | Path], spec: FlTrainSpec) -> float:
    """Accuracy of ``model`` on the offices' held-out records (local runs and demos only)."""
    index = {str(c): i for i, c in enumerate(model.classes)}
    matrix = np.zeros((len(index), len(index)), dtype=np.int64)
    for path in parties.values():
        data = spec.read(path)
        held = _partition(data, spec).held
        y = np.array([index[str(v)] for v in data.y[held]], dtype=np.int64)
        matrix += confusion_matrix(y, model.predict(data.X[held]), len(index))
    return float(accuracy(matrix))


# --------------------------------------------------------------------------- the service


def columns_used(spec: FlTrainSpec, role: str) -> tuple[str, ...]:
    """What an office reads (label, subject, features); the coordinator reads nothing."""
    if role == COORDINATOR:
        return ()
    if spec.features is None:
        raise ParameterError(
            "a fl_train job must name its feature columns (features=[…]), so that each "
            "office approves exactly the columns read",
            parameter="features",
        )
    return (spec.label, *((spec.subject,) if spec.subject else ()), *spec.features)


def disclosure(spec: FlTrainSpec) -> dict[str, Any]:
    """What the job releases, as the offices' policies check it."""
    return {"min_cell": spec.min_cell, "epsilon": spec.epsilon, "delta": spec.delta}


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: FlTrainSpec,
    progress: Progress | None,
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Run ``role`` (coordinator, or party1 … partyN as offices) of a service job.

    Returns the report, warnings and files kept by the party: the coordinator's report
    holds the trained model (``model_state``) for the job's recipients; each office keeps
    the final model it received as ``model.json``.
    """
    offices = numbered_parties(parties, "fl_train", fixed=(COORDINATOR,))
    if role == COORDINATOR:
        return coordinator_role(channel, offices, spec, progress), [], {}
    if role not in parties:
        raise ParameterError(f"unknown fl_train role {role!r}", parameter="role")
    if spec.epsilon is not None:
        _require_accountant()  # before the protocol starts, not in the middle of it
    report, model = party_role(
        channel, spec.read(path), spec, progress, coordinator=parties[COORDINATOR]
    )
    return report, [], {"model.json": model.to_json()}


# --------------------------------------------------------------------------- local runs


@dataclass(frozen=True)
class FLRun:
    """The result of a local federated training run and what it cost each party."""

    result: dict[str, Any]
    model: Model
    outcomes: dict[str, PartyOutcome]
    """Party name → its outcome; ``output`` is the role's RoleOutput."""


def evaluate(model: Model, path: str | Path, spec: FlTrainSpec) -> dict[str, Any]:
    """Metrics of ``model`` on a labelled feature file (a public test set)."""
    features = model.feature_names if model.feature_names is not None else spec.features
    data = read_feature_table(path, label=spec.label, subject=spec.subject, features=features)
    index = {str(c): i for i, c in enumerate(model.classes)}
    unknown = sorted({str(v) for v in data.y} - set(index))
    if unknown:
        raise DatasetError(f"{path}: labels {unknown} are not classes of the model", path=str(path))
    y = np.array([index[str(v)] for v in data.y])
    return _metrics(
        confusion_matrix(y, model.predict(data.X), len(model.classes)),
        [str(c) for c in model.classes],
    )


def train_centralized(
    parties: Mapping[str, str | Path], spec: FlTrainSpec, classes: Sequence[str]
) -> Model:
    """The same model trained on the pooled training records (a yardstick, local runs only).

    Uses the offices' own split, the same learning rate, batch size and L2 penalty, and
    the same stopping rule with epochs for rounds: with early stopping it keeps the model
    of the epoch with the lowest loss on the pooled validation records (at most ``rounds ×
    local_epochs`` epochs), otherwise it trains ``rounds × local_epochs`` epochs.
    """
    tables = [spec.read(p) for p in parties.values()]
    index = {c: i for i, c in enumerate(classes)}
    parts = [_partition(data, spec) for data in tables]
    labels = [np.array([index[str(v)] for v in data.y], dtype=np.int64) for data in tables]
    x = np.concatenate([data.X[part.train] for data, part in zip(tables, parts, strict=True)])
    y = np.concatenate([ys[part.train] for ys, part in zip(labels, parts, strict=True)])
    xv = np.concatenate([data.X[part.validation] for data, part in zip(tables, parts, strict=True)])
    yv = np.concatenate([ys[part.validation] for ys, part in zip(labels, parts, strict=True)])
    model = _new_model(
        spec, x.shape[1], list(classes), list(tables[0].feature_names), Standardizer.fit(x)
    )
    rng = np.random.default_rng(spec.seed + 1)
    stopper = _EarlyStopping(spec, model.get_params())
    for epoch in range(spec.rounds * spec.local_epochs):
        if stopper.observe(epoch, model.get_params(), _validation_sums(model, xv, yv)):
            break
        train_local(
            model, x, y, epochs=1, batch_size=spec.batch_size, lr=spec.lr, l2=spec.l2, rng=rng
        )
    model.set_params(stopper.final(model.get_params()))
    return model


def run_local_fl_train(
    parties: Mapping[str, str | Path],
    spec: FlTrainSpec,
    *,
    test: str | Path | None = None,
    model_out: str | Path | None = None,
    compare_centralized: bool = False,
    progress: ProgressSink | None = None,
) -> FLRun:
    """Train with each office and the coordinator in its own process on loopback.

    With ``test``, the reported metrics are the final model's on that file (otherwise on
    the offices' held-out subjects, pooled by secure aggregation). ``compare_centralized``
    adds the accuracy of the same model trained on the pooled records, evaluated alike.
    """
    if len(parties) < 2:
        raise ParameterError("federated training needs at least two offices", parameter="parties")
    if COORDINATOR in parties:
        raise ParameterError(
            f"{COORDINATOR!r} is reserved for the coordinator", parameter="parties"
        )
    for name, path in parties.items():
        check_data_file(path, f"file of office {name!r}")
    if spec.epsilon is not None:
        _require_accountant()
    started = time.perf_counter()
    offices = dict(sorted(parties.items()))  # roles party1 … partyN in name order
    run = run_kind_locally(KIND, offices, spec, progress=progress)
    outcomes = run.outcomes
    result = dict(run.result)
    model = Model.from_dict(result.pop("model_state"))
    if test is not None:
        result.update(evaluate(model, test, spec), evaluated_on=f"test file {test}")
    if compare_centralized:
        central = train_centralized(parties, spec, [str(c) for c in model.classes])
        if test is not None:
            result["centralized_accuracy"] = evaluate(central, test, spec)["accuracy"]
        else:
            result["centralized_accuracy"] = holdout_accuracy(central, parties, spec)
    if model_out is not None:
        model.save(model_out)
        result["model"] = str(model_out)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return FLRun(result, model, outcomes)


# --------------------------------------------------------------------------- the kind


def render_result(result: Mapping[str, Any]) -> Rendering:
    """Per-class F1, then one line of the model's figures and what ε covers."""
    rows = tuple((name, f"{f1:.3f}") for name, f1 in result["per_class_f1"].items())
    table = TableView("Per-class F1", (Column("class"), Column("F1", numeric=True)), rows)
    central = result.get("centralized_accuracy")
    epsilon = result.get("epsilon")
    line = (
        f"accuracy {result['accuracy']:.3f} · macro-F1 {result['macro_f1']:.3f}"
        + (f" · centralised {central:.3f}" if central is not None else "")
        + f" · {result['rounds']} rounds, model of round {result['best_round']}"
        + (f" · {result['seconds']:.1f} s" if "seconds" in result else "")
        + (f" · (ε = {epsilon:.2f})" if epsilon is not None else "")
    )
    lines: Rendering = [table, line]
    if result.get("outside_epsilon"):
        lines.append("released outside ε: " + "; ".join(result["outside_epsilon"]))
    return lines


KIND = JobKind(
    name="fl_train",
    title="Train one model on several offices' data; updates are combined by secure aggregation.",
    description=(
        "No office and not the coordinator sees another office's data, update or score; the "
        "coordinator releases the trained model and its pooled validation figures."
    ),
    roles=(COORDINATOR,),
    role_help={
        COORDINATOR: "The party that coordinates the rounds (brings no data)",
        "party": "An office and its feature file",
    },
    result_role=COORDINATOR,
    spec_type=FlTrainSpec,
    columns=columns_used,
    disclosure=disclosure,
    run_role=from_tuple(run_role),
    parties=(2, 10),
    dataless_roles=(COORDINATOR,),
    budget=lambda spec: (
        None if spec.epsilon is None else Budget(epsilon=spec.epsilon, delta=spec.delta)
    ),
    render=render_result,
    cli={"hidden": CliField(split=True)},
)
