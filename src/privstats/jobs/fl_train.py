"""Federated training across offices, with model updates combined by secure aggregation.

Several offices each hold a feature table (sensor features of their survey respondents,
a label column, optionally a subject column); a *coordinator* holds no data. They train
one model — multinomial logistic regression or a small MLP (``privstats.ml.models``) —
without pooling the data::

    setup      each office sends the coordinator its class labels and feature names; the
               coordinator sends back the union of the classes (or the spec's list)
    standardize  secure aggregation of [n, Σx, Σx²] per feature; the coordinator builds
               the standardizer from the pooled sums and sends the initial model
    round r    the coordinator sends the global parameters; each office adds up its
               validation records' cross-entropy, count and correct predictions under
               them, runs local SGD (FedProx adds μ/2·‖w − w_global‖²) on its training
               records and contributes n_i·(w_i − w_global), n_i and those validation sums
               to a secure aggregation; the coordinator uses the pooled mean update as the
               pseudo-gradient of a server optimiser (FedAdam by default, FedYogi) or
               applies it (FedAvg, FedProx)
    stop       after a warm-up of ``min_rounds``, when the pooled validation loss has not
               improved for ``patience`` rounds, or at the round cap ``rounds``; the model
               kept is the one with the lowest pooled validation loss
    evaluate   each office computes the final model's confusion matrix on its held-out
               subjects; secure aggregation gives the coordinator only their sum

Each office's subjects (records without a subject column) are split once, from the public
seed, into held-out (``holdout``, for the evaluation), validation (``validation`` of the
rest, for early stopping) and training. The defaults (FedAdam, early stopping, a cap of
200 rounds or 30 with DP) are this module's :class:`FLSpec`: the command line, the hub's
job and ``Federation.submit_fl_train`` all take them from here.

Threat model: offices and coordinator semi-honest; secure aggregation
(``privstats.protocols.secagg``) hides each office's update, statistics and confusion
matrix from the coordinator and the other offices, tolerating offices that drop out of a
round: an office that drops out is left out of the later rounds and of the evaluation, and
the result names it under ``dropped`` with the step it was lost at. What is revealed: to
the coordinator, each office's class labels and feature names, the pooled statistics, the
pooled update and pooled validation sums of every round and the pooled confusion matrix;
to the offices, the global model of every round. Updates are encoded in fixed point with
``frac_bits`` fractional bits (error ≤ 2^−(f+1) per weighted coordinate). Without
differential privacy the sequence of global models can still reveal something about the
training records (membership inference); that is what the DP option is for. With it, the
result's ``outside_epsilon`` lists what is released that ε does not cover.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from privstats.data.readers import check_data_file
from privstats.data.sensors import FeatureTable, read_feature_table
from privstats.disclosure.budget import Budget
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs.kind import CliField, JobKind, from_tuple
from privstats.jobs.local import PartyOutcome, ProgressSink, run_local
from privstats.jobs.render import Column, Rendering, TableView
from privstats.jobs.roles import numbered_parties
from privstats.jobs.spec import Spec
from privstats.ml.dp import DPConfig, PrivacyLedger, require_accountant, train_local_dp
from privstats.ml.dp import epsilon as dp_epsilon
from privstats.ml.metrics import accuracy, confusion_matrix, f1_scores, macro_f1
from privstats.ml.models import MLP, LogisticRegression, Model, Standardizer, train_local
from privstats.progress import Progress
from privstats.protocols import secagg
from privstats.protocols.sharing import FixedPoint
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "COORDINATOR",
    "DP_ROUND_CAP",
    "KIND",
    "ROUND_CAP",
    "FLRun",
    "FLSpec",
    "run_local_fl_train",
]

COORDINATOR = "coordinator"
ROUND_CAP = 200
"""Default round cap without DP (early stopping usually ends training well before)."""
DP_ROUND_CAP = 30
"""Default round cap with DP: the noise is calibrated so that all of them spend ε."""
_MIN_PROBABILITY = 1e-12
"""Probabilities are floored here in the validation loss (at most 27.6 per record)."""
_MIN_IMPROVEMENT = 1e-4
"""A pooled validation loss counts as better when it is lower by more than this."""


def _require_accountant() -> None:
    """Fail before any party starts when DP is asked for and dp-accounting is missing."""
    require_accountant("differential privacy (--dp-epsilon)")


class FLSpec(Spec):
    """Everything the offices and the coordinator agree on before training."""

    _option: ClassVar[str] = "fl-train option"
    _default_field: ClassVar[str] = "validation"  # the one check that spans fields

    label: str = Field("activity", min_length=1)
    subject: str | None = None
    features: tuple[str, ...] | None = None
    model: Literal["logreg", "mlp"] = "logreg"
    hidden: tuple[int, ...] = (32,)
    activation: Literal["relu", "square", "poly"] = "relu"
    rounds: int = Field(ROUND_CAP, ge=1, le=1000)
    """The round cap; training stops earlier when the validation loss stops improving."""
    patience: int = Field(20, ge=0, le=1000)
    """Rounds without a better pooled validation loss before training stops (0: never)."""
    min_rounds: int = Field(30, ge=0, le=1000)
    """Rounds always run before early stopping may end training (the warm-up)."""
    validation: float = Field(0.2, ge=0, lt=1)
    """Share of each office's training respondents held out for early stopping."""
    strategy: Literal["fedavg", "fedprox", "fedadam", "fedyogi"] = "fedadam"
    local_epochs: int = Field(1, ge=1, le=100)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(0.1, gt=0)
    l2: float = Field(1e-4, ge=0)
    mu: float = Field(0.01, ge=0)
    server_lr: float = Field(0.1, gt=0)
    holdout: float = Field(0.2, ge=0, lt=1)
    frac_bits: int = Field(24, ge=8, le=40)
    seed: int = 2026
    classes: tuple[str, ...] | None = None
    round_timeout: float = Field(300.0, gt=0)
    dp_epsilon: float | None = Field(None, gt=0)
    dp_delta: float = Field(1e-5, gt=0, lt=1)
    dp_clip: float = Field(1.0, gt=0)
    min_records: int = Field(10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _default_rounds(cls, values: Any) -> Any:
        """With DP the noise is calibrated for every round of the cap: a lower default cap."""
        if isinstance(values, dict) and values.get("rounds") is None:
            values = {k: v for k, v in values.items() if k != "rounds"}
            if values.get("dp_epsilon") is not None:
                values["rounds"] = DP_ROUND_CAP
        return values

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> FLSpec:
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


@message("fl.hello", 1)
class Hello(Message):
    classes: list[str]
    features: list[str]


@message("fl.setup", 1)
class Setup(Message):
    classes: list[str]
    features: list[str]


@message("fl.model", 1)
class InitialModel(Message):
    model: str


@message("fl.privacy", 1)
class PrivacyReport(Message):
    epsilon: float | None


@message("fl.params", 1)
class GlobalParams(Message):
    round: int
    params: bytes
    done: bool


# --------------------------------------------------------------------------- offices


@dataclass(frozen=True)
class _Partition:
    """An office's rows: held out for the evaluation, for early stopping, or for training."""

    held: npt.NDArray[np.bool_]
    validation: npt.NDArray[np.bool_]

    @property
    def train(self) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = ~(self.held | self.validation)
        return mask


def _partition(data: FeatureTable, spec: FLSpec) -> _Partition:
    """Whole subjects when a subject column is given, else rows, from one public permutation.

    The first ``holdout`` share is held out for the evaluation; of the rest, a
    ``validation`` share (at least one unit when the share is above 0 and two units are
    left) for early stopping. The split protects nothing: it comes from the public seed.
    """
    rng = np.random.default_rng(spec.seed)  # a public split, not a protection of data
    units = np.unique(data.subjects) if data.subjects is not None else np.arange(data.rows)
    order = rng.permutation(units)
    held_count = round(spec.holdout * len(units))
    left = len(units) - held_count
    validation_count = round(spec.validation * left) if spec.early_stopping else 0
    if spec.early_stopping and validation_count == 0 and left >= 2:
        validation_count = 1
    held_units = order[:held_count]
    validation_units = order[held_count : held_count + validation_count]
    if data.subjects is not None:
        return _Partition(
            np.isin(data.subjects, held_units), np.isin(data.subjects, validation_units)
        )
    held = np.zeros(data.rows, dtype=bool)
    held[held_units] = True
    validation = np.zeros(data.rows, dtype=bool)
    validation[validation_units] = True
    return _Partition(held, validation)


def _encode(fixed: FixedPoint, values: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    return fixed.encode(values).view(np.uint64)


def _decode(fixed: FixedPoint, total: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    return fixed.decode(total.view(np.int64))


def office_role(
    channel: Channel,
    data: FeatureTable,
    spec: FLSpec,
    progress: Progress | None = None,
    *,
    coordinator: str = COORDINATOR,
) -> tuple[dict[str, Any], Model]:
    """An office's side: contribute statistics, updates and an evaluation, securely.

    Returns the office's report and the final global model it received.
    """
    fixed = FixedPoint(spec.frac_bits)
    channel.send(coordinator, Hello([str(c) for c in data.classes], list(data.feature_names)))
    setup = channel.recv(coordinator, Setup)
    if setup.features != list(data.feature_names):
        raise DatasetError(
            f"{data.path}: its features differ from the other offices' (expected "
            f"{', '.join(setup.features[:5])}, …)",
            path=data.path,
        )
    index = {label: i for i, label in enumerate(setup.classes)}
    y = np.array([index[str(label)] for label in data.y], dtype=np.int64)
    part = _partition(data, spec)
    train, held = part.train, part.held
    n_train = int(train.sum())
    if n_train < spec.min_records:
        raise DatasetError(
            f"{data.path}: {n_train} training records after holding out {spec.holdout:.0%} "
            f"for the evaluation and {spec.validation if spec.early_stopping else 0:.0%} of "
            f"the rest for early stopping (the job's minimum is {spec.min_records}); an "
            "update from so few records would nearly show them",
            path=data.path,
        )
    x_train, y_train = data.X[train], y[train]
    x_valid, y_valid = data.X[part.validation], y[part.validation]
    stats = np.concatenate([[n_train], x_train.sum(axis=0), (x_train**2).sum(axis=0)])
    secagg.client(channel, coordinator, _encode(fixed, stats))

    model = Model.from_dict(json.loads(channel.recv(coordinator, InitialModel).model))
    rng = np.random.default_rng(spec.seed + 1)  # minibatch order only
    units = data.subjects[train] if data.subjects is not None else None
    private = _PrivateTraining(
        spec, n_units=len(np.unique(units)) if units is not None else n_train
    )
    rounds = 0
    while True:
        msg = channel.recv(coordinator, GlobalParams)
        start = np.frombuffer(msg.params, dtype="<f8").astype(np.float64)
        model.set_params(start)
        if msg.done:
            break
        validation = _validation_sums(model, x_valid, y_valid)
        if n_train and private.active:
            private.train(model, x_train, y_train, units)
        elif n_train:
            train_local(
                model,
                x_train,
                y_train,
                epochs=spec.local_epochs,
                batch_size=spec.batch_size,
                lr=spec.lr,
                l2=spec.l2,
                rng=rng,
                prox_mu=spec.mu if spec.strategy == "fedprox" else 0.0,
            )
        update = np.concatenate([n_train * (model.get_params() - start), [n_train], validation])
        secagg.client(channel, coordinator, _encode(fixed, update))
        rounds += 1
        if progress is not None:
            progress("rounds", msg.round + 1, spec.rounds)
    channel.send(coordinator, PrivacyReport(private.ledger.epsilon if private.ledger else None))
    matrix = confusion_matrix(y[held], model.predict(data.X[held]), len(setup.classes))
    secagg.client(channel, coordinator, matrix.reshape(-1).astype(np.int64).view(np.uint64))
    report = {
        "computation": "fl_train",
        "role": "office",
        "rounds": rounds,
        "epsilon_history": private.ledger.history if private.ledger else [],
    }
    return report, model


def _validation_sums(
    model: Model, x: npt.NDArray[np.float64], y: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """[Σ cross-entropy, records, correct] of ``model`` on an office's validation records."""
    if not len(y):
        return np.zeros(3)
    proba = model.predict_proba(x)[np.arange(len(y)), y]
    loss = -float(np.log(np.maximum(proba, _MIN_PROBABILITY)).sum())
    correct = int((model.predict(x) == y).sum())
    return np.array([loss, len(y), correct], dtype=np.float64)


class _PrivateTraining:
    """DP-SGD for one office, calibrated so that all its rounds together spend ε.

    The unit of privacy is the respondent when a subject column is given (user-level
    DP-SGD), else the record. The sampling rate is batch_size / units; each round runs
    ⌈local_epochs / q⌉ steps; the noise multiplier is the smallest (to 1 %) for which the
    RDP accountant gives ε ≤ dp_epsilon at dp_delta after all rounds.
    """

    def __init__(self, spec: FLSpec, n_units: int) -> None:
        self.spec = spec
        self.active = spec.dp_epsilon is not None and n_units > 0
        self.sample_rate = min(1.0, spec.batch_size / max(n_units, 1))
        self.steps = math.ceil(spec.local_epochs / self.sample_rate)
        self.sigma = self._calibrate() if self.active else 0.0
        # the accountant (dp-accounting, which loads pandas) only when DP is asked for
        self.ledger = (
            PrivacyLedger(DPConfig(self.sigma, spec.dp_clip, self.sample_rate, spec.dp_delta))
            if self.active
            else None
        )

    def _calibrate(self) -> float:
        target, total = float(self.spec.dp_epsilon or 0), self.steps * self.spec.rounds
        low, high = 0.3, 100.0
        if dp_epsilon(high, self.sample_rate, total, self.spec.dp_delta) > target:
            raise ParameterError(
                f"ε = {target} cannot be reached with {self.spec.rounds} rounds at this "
                "office's size; allow a larger ε or train fewer rounds",
                parameter="dp_epsilon",
            )
        while high / low > 1.01:
            middle = (low * high) ** 0.5
            if dp_epsilon(middle, self.sample_rate, total, self.spec.dp_delta) <= target:
                high = middle
            else:
                low = middle
        return high

    def train(
        self,
        model: Model,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        units: npt.NDArray[np.str_] | None,
    ) -> None:
        _, steps = train_local_dp(
            model,
            x,
            y,
            lr=self.spec.lr,
            clip_norm=self.spec.dp_clip,
            noise_multiplier=self.sigma,
            sample_rate=self.sample_rate,
            steps=self.steps,
            subjects=units,
        )
        if self.ledger is not None:
            self.ledger.record(steps)


# --------------------------------------------------------------------------- coordinator


class _ServerOptimizer:
    """FedAvg/FedProx apply the mean update; FedAdam and FedYogi (Reddi et al. 2021) use it
    as a pseudo-gradient with adaptive server learning rates."""

    def __init__(self, spec: FLSpec, size: int) -> None:
        self.spec = spec
        self.m = np.zeros(size)
        self.v = np.zeros(size)

    def step(self, params: npt.NDArray[np.float64], mean_update: npt.NDArray[np.float64]) -> Any:
        if self.spec.strategy in ("fedavg", "fedprox"):
            return params + mean_update
        beta1, beta2, tau = 0.9, 0.99, 1e-3
        self.m = beta1 * self.m + (1 - beta1) * mean_update
        square = mean_update**2
        if self.spec.strategy == "fedadam":
            self.v = beta2 * self.v + (1 - beta2) * square
        else:
            self.v = self.v - (1 - beta2) * square * np.sign(self.v - square)
        return params + self.spec.server_lr * self.m / (np.sqrt(self.v) + tau)


def coordinator_role(
    channel: Channel, offices: Sequence[str], spec: FLSpec, progress: Progress | None = None
) -> dict[str, Any]:
    """The coordinator's side: returns the trained model and the pooled evaluation."""
    fixed = FixedPoint(spec.frac_bits)
    hellos = {office: channel.recv(office, Hello) for office in offices}
    features = hellos[offices[0]].features
    for office, hello in hellos.items():
        if hello.features != features:
            raise ProtocolError(f"office {office!r} has other feature columns", peer=office)
    classes = list(spec.classes or sorted({c for h in hellos.values() for c in h.classes}))
    missing = {c for h in hellos.values() for c in h.classes} - set(classes)
    if missing:
        raise ParameterError(f"labels {sorted(missing)} are not among the classes {classes}")
    for office in offices:
        channel.send(office, Setup(classes, features))

    n_features = len(features)
    active = list(offices)
    dropped: dict[str, str] = {}

    def aggregate(length: int, step: str) -> npt.NDArray[np.uint64]:
        """Secure aggregation over the active offices; those that drop out stay out."""
        nonlocal active
        total, survivors = secagg.aggregator(channel, active, length, timeout=spec.round_timeout)
        dropped.update((office, step) for office in active if office not in survivors)
        active = [office for office in active if office in survivors]
        return total

    stats = _decode(fixed, aggregate(1 + 2 * n_features, "standardize"))
    count = round(stats[0])
    standardizer = Standardizer.from_sums(
        count, stats[1 : 1 + n_features], np.maximum(stats[1 + n_features :], 0.0)
    )
    model = _new_model(spec, n_features, classes, features, standardizer)
    text = json.dumps(model.to_dict())
    for office in active:
        channel.send(office, InitialModel(text))

    params = model.get_params()
    optimizer = _ServerOptimizer(spec, params.size)
    stopper = _EarlyStopping(spec, params)
    survivors_per_round = []
    for round_ in range(spec.rounds):
        for office in active:
            channel.send(office, GlobalParams(round_, params.astype("<f8").tobytes(), False))
        pooled = _decode(fixed, aggregate(params.size + 4, f"round {round_ + 1}"))
        survivors_per_round.append(len(active))
        if progress is not None:
            progress("rounds", round_ + 1, spec.rounds)
        if stopper.observe(round_, params, pooled[params.size + 1 :]):
            break
        weight = pooled[params.size]
        if weight > 0:
            params = optimizer.step(params, pooled[: params.size] / weight)
    params = stopper.final(params)
    model.set_params(params)
    for office in active:
        channel.send(office, GlobalParams(stopper.rounds, params.astype("<f8").tobytes(), True))
    spent = [channel.recv(office, PrivacyReport, timeout=spec.round_timeout) for office in active]
    total = aggregate(len(classes) ** 2, "evaluate")
    matrix = total.view(np.int64).reshape(len(classes), len(classes))
    dp = spec.dp_epsilon is not None
    return {
        "computation": "fl_train",
        "rounds": stopper.rounds,
        "round_cap": spec.rounds,
        "best_round": stopper.best_round,
        "stopped": stopper.reason,
        "validation_loss": stopper.losses,
        "strategy": spec.strategy,
        "offices": len(offices),
        "records": count,
        "survivors_per_round": survivors_per_round,
        "dropped": dropped,
        "epsilon": max(r.epsilon or 0.0 for r in spent) if dp else None,
        "delta": spec.dp_delta if dp else None,
        "outside_epsilon": _outside_epsilon(spec) if dp else None,
        **_metrics(matrix, classes),
        "evaluated_on": "held-out subjects of every remaining office, by secure aggregation",
        "model_state": model.to_dict(),
    }


class _EarlyStopping:
    """Keeps the global model with the lowest pooled validation loss; says when to stop.

    Round r's pooled sums are the validation loss of the model the offices received in
    round r (before that round's update). The first ``min_rounds`` rounds are a warm-up
    that is neither compared nor kept (an adaptive server optimiser overshoots in its first
    steps, and a transient early minimum would end training far too soon). After it,
    training stops once ``patience`` rounds in a row have not lowered the best loss by more
    than ``_MIN_IMPROVEMENT``, or at the round cap; the kept model is the best one seen.
    Without early stopping (patience 0, or no validation records anywhere) every round
    runs and the last model is kept.
    """

    def __init__(self, spec: FLSpec, params: npt.NDArray[np.float64]) -> None:
        self.spec = spec
        self.rounds = 0
        self.losses: list[float] = []
        self.best_loss = math.inf
        self.best_round = 0
        self.best_params = params.copy()
        self.reason = (
            f"the round cap ({spec.rounds})"
            if spec.early_stopping
            else f"a fixed number of rounds ({spec.rounds}; patience 0)"
        )

    def observe(
        self, round_: int, params: npt.NDArray[np.float64], sums: npt.NDArray[np.float64]
    ) -> bool:
        """Record round ``round_``'s pooled [Σ loss, records, correct]; True to stop now."""
        self.rounds = round_ + 1
        records = round(sums[1])
        if not self.spec.early_stopping or records <= 0:
            return False
        if round_ < min(self.spec.min_rounds, self.spec.rounds - 1):
            return False  # the warm-up: the server optimiser's first steps overshoot
        loss = float(sums[0] / records)
        self.losses.append(loss)
        if loss < self.best_loss - _MIN_IMPROVEMENT:
            self.best_loss, self.best_round, self.best_params = loss, round_, params.copy()
        elif round_ - self.best_round >= self.spec.patience:
            self.reason = (
                f"the validation loss did not improve for {self.spec.patience} rounds "
                f"(best after round {self.best_round})"
            )
            return True
        return False

    def final(self, params: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The model to keep: the best validated one, or the last without validation."""
        if not self.losses:
            self.best_round = self.rounds
            if self.spec.early_stopping:
                self.reason = f"the round cap ({self.spec.rounds}); no validation records"
            return params
        return self.best_params


def _outside_epsilon(spec: FLSpec) -> list[str]:
    """What a DP run releases that its ε does not cover (exact, pooled by secure aggregation)."""
    items = [
        "records: the exact number of training records, pooled over the offices",
        "the standardizer: exact pooled count, sum and sum of squares of every feature "
        "(in the model)",
        "the evaluation: the pooled confusion matrix of the final model on the offices' "
        "held-out respondents (accuracy, macro_f1, per_class_f1), who are not trained on",
        "the class labels and feature names of every office",
    ]
    if spec.early_stopping:
        items.append(
            "early stopping: the pooled validation loss of every round (validation_loss) and "
            "the round training stopped at, from validation respondents who are not trained on"
        )
    return items


def _new_model(
    spec: FLSpec,
    n_features: int,
    classes: list[str],
    features: list[str],
    standardizer: Standardizer,
) -> Model:
    """The initial model; its random start comes from the public seed."""
    if spec.model == "logreg":
        return LogisticRegression(
            n_features, classes, feature_names=features, standardizer=standardizer
        )
    return MLP(
        n_features,
        classes,
        rng=np.random.default_rng(spec.seed),
        hidden=spec.hidden,
        activation=spec.activation,
        feature_names=features,
        standardizer=standardizer,
    )


def holdout_accuracy(model: Model, parties: Mapping[str, str | Path], spec: FLSpec) -> float:
    """Accuracy of ``model`` on the offices' held-out records (local runs and demos only)."""
    index = {str(c): i for i, c in enumerate(model.classes)}
    matrix = np.zeros((len(index), len(index)), dtype=np.int64)
    for path in parties.values():
        data = spec.read(path)
        held = _partition(data, spec).held
        y = np.array([index[str(v)] for v in data.y[held]], dtype=np.int64)
        matrix += confusion_matrix(y, model.predict(data.X[held]), len(index))
    return float(accuracy(matrix))


def _metrics(matrix: npt.NDArray[np.int64], classes: Sequence[str]) -> dict[str, Any]:
    return {
        "accuracy": float(accuracy(matrix)),
        "macro_f1": float(macro_f1(matrix)),
        "per_class_f1": {c: float(f) for c, f in zip(classes, f1_scores(matrix), strict=True)},
    }


# --------------------------------------------------------------------------- the service


def columns_used(spec: FLSpec, role: str) -> tuple[str, ...]:
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


def disclosure(spec: FLSpec) -> dict[str, Any]:
    """What the job releases, as the offices' policies check it."""
    return {"min_records": spec.min_records, "dp_epsilon": spec.dp_epsilon}


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: FLSpec,
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
    if spec.dp_epsilon is not None:
        _require_accountant()  # before the protocol starts, not in the middle of it
    report, model = office_role(
        channel, spec.read(path), spec, progress, coordinator=parties[COORDINATOR]
    )
    return report, [], {"model.json": model.to_json()}


# --------------------------------------------------------------------------- local runs


def _office_process(
    channel: Channel, progress: Progress, *, path: str, spec: FLSpec
) -> dict[str, Any]:
    return office_role(channel, spec.read(path), spec, progress)[0]


def _coordinator_process(
    channel: Channel, progress: Progress, *, offices: list[str], spec: FLSpec
) -> dict[str, Any]:
    return coordinator_role(channel, offices, spec, progress)


@dataclass(frozen=True)
class FLRun:
    """The result of a local federated training run and what it cost each party."""

    result: dict[str, Any]
    model: Model
    outcomes: dict[str, PartyOutcome]


def evaluate(model: Model, path: str | Path, spec: FLSpec) -> dict[str, Any]:
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
    parties: Mapping[str, str | Path], spec: FLSpec, classes: Sequence[str]
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
    spec: FLSpec,
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
    if spec.dp_epsilon is not None:
        _require_accountant()
    started = time.perf_counter()
    roles: dict[str, Any] = {
        name: (_office_process, {"path": str(path), "spec": spec}) for name, path in parties.items()
    }
    roles[COORDINATOR] = (_coordinator_process, {"offices": sorted(parties), "spec": spec})
    outcomes = run_local(roles, progress=progress)
    result = dict(outcomes[COORDINATOR].output)
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
    spec_type=FLSpec,
    columns=columns_used,
    disclosure=disclosure,
    run_role=from_tuple(run_role),
    parties=(2, 10),
    dataless_roles=(COORDINATOR,),
    budget=lambda spec: (
        None if spec.dp_epsilon is None else Budget(epsilon=spec.dp_epsilon, delta=spec.dp_delta)
    ),
    render=render_result,
    cli={"hidden": CliField(split=True)},
)
