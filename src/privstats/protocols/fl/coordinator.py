"""The coordinator's side of federated training: setup, server optimiser, early stopping.

The coordinator holds no data. It sees each office's class labels and feature names, and
through secure aggregation only pooled sums: the standardizer's statistics, every round's
update and validation sums, and the final confusion matrix (threat model in
:mod:`privstats.protocols.fl`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError, ProtocolError
from privstats.ml.models import Model, Standardizer
from privstats.progress import Progress
from privstats.protocols import secagg
from privstats.protocols.fl.common import (
    FloatArray,
    GlobalParams,
    Hello,
    InitialModel,
    PrivacyReport,
    Setup,
    Terms,
    decode,
    new_model,
    pooled_metrics,
)
from privstats.protocols.sharing import FixedPoint
from privstats.transport.channel import Channel

__all__ = ["EarlyStopping", "coordinator"]

_MIN_IMPROVEMENT = 1e-4
"""A pooled validation loss counts as better when it is lower by more than this."""


class _ServerOptimizer:
    """FedAvg/FedProx apply the mean update; FedAdam and FedYogi (Reddi et al. 2021) use it
    as a pseudo-gradient with adaptive server learning rates."""

    def __init__(self, terms: Terms, size: int) -> None:
        self.terms = terms
        self.m = np.zeros(size)
        self.v = np.zeros(size)

    def step(self, params: FloatArray, mean_update: FloatArray) -> Any:
        if self.terms.strategy in ("fedavg", "fedprox"):
            return params + mean_update
        beta1, beta2, tau = 0.9, 0.99, 1e-3
        self.m = beta1 * self.m + (1 - beta1) * mean_update
        square = mean_update**2
        if self.terms.strategy == "fedadam":
            self.v = beta2 * self.v + (1 - beta2) * square
        else:
            self.v = self.v - (1 - beta2) * square * np.sign(self.v - square)
        return params + self.terms.server_lr * self.m / (np.sqrt(self.v) + tau)


class _Aggregation:
    """Secure aggregation over the active offices; those that drop out stay out."""

    def __init__(self, channel: Channel, offices: Sequence[str], timeout: float) -> None:
        self.channel = channel
        self.timeout = timeout
        self.active = list(offices)
        self.dropped: dict[str, str] = {}

    def __call__(self, length: int, step: str) -> npt.NDArray[np.uint64]:
        total, survivors = secagg.aggregator(
            self.channel, self.active, length, timeout=self.timeout
        )
        self.dropped.update((office, step) for office in self.active if office not in survivors)
        self.active = [office for office in self.active if office in survivors]
        return total


def _setup(channel: Channel, offices: Sequence[str], terms: Terms) -> tuple[list[str], list[str]]:
    """The offices' labels and features in, the agreed classes and features out."""
    hellos = {office: channel.recv(office, Hello) for office in offices}
    features = hellos[offices[0]].features
    for office, hello in hellos.items():
        if hello.features != features:
            raise ProtocolError(f"office {office!r} has other feature columns", peer=office)
    classes = list(terms.classes or sorted({c for h in hellos.values() for c in h.classes}))
    missing = {c for h in hellos.values() for c in h.classes} - set(classes)
    if missing:
        raise ParameterError(f"labels {sorted(missing)} are not among the classes {classes}")
    for office in offices:
        channel.send(office, Setup(classes, features))
    return classes, features


def _initial_model(
    aggregate: _Aggregation, terms: Terms, classes: list[str], features: list[str]
) -> tuple[Model, int]:
    """The standardizer from the pooled sums, the initial model sent; and the record count."""
    n_features = len(features)
    stats = decode(FixedPoint(terms.frac_bits), aggregate(1 + 2 * n_features, "standardize"))
    count = round(stats[0])
    standardizer = Standardizer.from_sums(
        count, stats[1 : 1 + n_features], np.maximum(stats[1 + n_features :], 0.0)
    )
    model = new_model(terms, n_features, classes, features, standardizer)
    text = json.dumps(model.to_dict())
    for office in aggregate.active:
        aggregate.channel.send(office, InitialModel(text))
    return model, count


def _coordinator_rounds(
    aggregate: _Aggregation,
    terms: Terms,
    params: FloatArray,
    progress: Progress | None,
) -> tuple[FloatArray, EarlyStopping, list[int], list[float]]:
    """The rounds: the kept parameters, the stopping record, the survivors per round and
    the pooled validation accuracy per round (none without validation records)."""
    fixed = FixedPoint(terms.frac_bits)
    optimizer = _ServerOptimizer(terms, params.size)
    stopper = EarlyStopping(terms, params)
    survivors_per_round = []
    accuracy = []
    for round_ in range(terms.rounds):
        for office in aggregate.active:
            aggregate.channel.send(
                office, GlobalParams(round_, params.astype("<f8").tobytes(), False)
            )
        pooled = decode(fixed, aggregate(params.size + 4, f"round {round_ + 1}"))
        survivors_per_round.append(len(aggregate.active))
        _, records, correct = pooled[params.size + 1 : params.size + 4]
        if records >= 0.5:
            accuracy.append(round(float(correct) / round(records), 6))
        if progress is not None:
            progress("rounds", round_ + 1, terms.rounds)
        if stopper.observe(round_, params, pooled[params.size + 1 :]):
            break
        weight = pooled[params.size]
        if weight > 0:
            params = optimizer.step(params, pooled[: params.size] / weight)
    return stopper.final(params), stopper, survivors_per_round, accuracy


def coordinator(
    channel: Channel, offices: Sequence[str], terms: Terms, progress: Progress | None = None
) -> dict[str, Any]:
    """The coordinator's side: returns the trained model and the pooled evaluation."""
    classes, features = _setup(channel, offices, terms)
    aggregate = _Aggregation(channel, offices, terms.round_timeout)
    model, count = _initial_model(aggregate, terms, classes, features)
    params, stopper, survivors_per_round, accuracy = _coordinator_rounds(
        aggregate, terms, model.get_params(), progress
    )
    model.set_params(params)
    for office in aggregate.active:
        channel.send(office, GlobalParams(stopper.rounds, params.astype("<f8").tobytes(), True))
    spent = [
        channel.recv(office, PrivacyReport, timeout=terms.round_timeout)
        for office in aggregate.active
    ]
    total = aggregate(len(classes) ** 2, "evaluate")
    matrix = total.view(np.int64).reshape(len(classes), len(classes))
    dp = terms.epsilon is not None
    return {
        "computation": "fl_train",
        "rounds": stopper.rounds,
        "round_cap": terms.rounds,
        "best_round": stopper.best_round,
        "stopped": stopper.reason,
        "validation_loss": stopper.losses,
        "validation_accuracy": accuracy,
        "strategy": terms.strategy,
        "offices": len(offices),
        "records": count,
        "survivors_per_round": survivors_per_round,
        "dropped": aggregate.dropped,
        "epsilon": max(r.epsilon or 0.0 for r in spent) if dp else None,
        "delta": terms.delta if dp else None,
        "outside_epsilon": _outside_epsilon(terms) if dp else None,
        **pooled_metrics(matrix, classes),
        "evaluated_on": "held-out subjects of every remaining office, by secure aggregation",
        "model_state": model.to_dict(),
    }


class EarlyStopping:
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

    def __init__(self, terms: Terms, params: FloatArray) -> None:
        self.terms = terms
        self.rounds = 0
        self.losses: list[float] = []
        self.best_loss = math.inf
        self.best_round = 0
        self.best_params = params.copy()
        self.reason = (
            f"the round cap ({terms.rounds})"
            if terms.early_stopping
            else f"a fixed number of rounds ({terms.rounds}; patience 0)"
        )

    def observe(self, round_: int, params: FloatArray, sums: FloatArray) -> bool:
        """Record round ``round_``'s pooled [Σ loss, records, correct]; True to stop now."""
        self.rounds = round_ + 1
        records = round(sums[1])
        if not self.terms.early_stopping or records <= 0:
            return False
        if round_ < min(self.terms.min_rounds, self.terms.rounds - 1):
            return False  # the warm-up: the server optimiser's first steps overshoot
        loss = float(sums[0] / records)
        self.losses.append(loss)
        if loss < self.best_loss - _MIN_IMPROVEMENT:
            self.best_loss, self.best_round, self.best_params = loss, round_, params.copy()
        elif round_ - self.best_round >= self.terms.patience:
            self.reason = (
                f"the validation loss did not improve for {self.terms.patience} rounds "
                f"(best after round {self.best_round})"
            )
            return True
        return False

    def final(self, params: FloatArray) -> FloatArray:
        """The model to keep: the best validated one, or the last without validation."""
        if not self.losses:
            self.best_round = self.rounds
            if self.terms.early_stopping:
                self.reason = f"the round cap ({self.terms.rounds}); no validation records"
            return params
        return self.best_params


def _outside_epsilon(terms: Terms) -> list[str]:
    """What a DP run releases that its ε does not cover (exact, pooled by secure aggregation)."""
    items = [
        "records: the exact number of training records, pooled over the offices",
        "the standardizer: exact pooled count, sum and sum of squares of every feature "
        "(in the model)",
        "the evaluation: the pooled confusion matrix of the final model on the offices' "
        "held-out respondents (accuracy, macro_f1, per_class_f1), who are not trained on",
        "the class labels and feature names of every office",
    ]
    if terms.early_stopping:
        items.append(
            "early stopping: the pooled validation loss and accuracy of every round "
            "(validation_loss, validation_accuracy) and the round training stopped at, from "
            "validation respondents who are not trained on"
        )
    return items
