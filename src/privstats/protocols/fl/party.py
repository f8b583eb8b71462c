"""An office's side of federated training (roles party1 … partyN).

Each round the office trains on its own records from the global model and contributes its
weighted update, record count and validation sums to a secure aggregation; with
``epsilon`` it trains by DP-SGD. What the office sees: the agreed classes and features,
the initial model and the global model of every round — never another office's data or
update (threat model in :mod:`privstats.protocols.fl`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.data.sensors import FeatureTable
from privstats.disclosure.accounting import noise_multiplier_for_epsilon
from privstats.errors import DatasetError, ParameterError
from privstats.ml.dp import DPConfig, PrivacyLedger, train_local_dp
from privstats.ml.metrics import confusion_matrix
from privstats.ml.models import Model, train_local
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
    encode,
    partition,
    validation_sums,
)
from privstats.protocols.sharing import FixedPoint
from privstats.transport.channel import Channel

__all__ = ["party"]


@dataclass(frozen=True)
class _Records:
    """An office's records, split and with labels as indices into the agreed classes."""

    x_train: FloatArray
    y_train: npt.NDArray[np.int64]
    x_valid: FloatArray
    y_valid: npt.NDArray[np.int64]
    x_held: FloatArray
    y_held: npt.NDArray[np.int64]
    units: npt.NDArray[np.str_] | None
    """The training records' subjects (the unit of privacy), or None: records."""

    @property
    def n_train(self) -> int:
        return len(self.y_train)


def _join(channel: Channel, data: FeatureTable, coordinator: str) -> Setup:
    """Announce the office's labels and features; the coordinator's setup must match them."""
    channel.send(coordinator, Hello([str(c) for c in data.classes], list(data.feature_names)))
    setup = channel.recv(coordinator, Setup)
    if setup.features != list(data.feature_names):
        raise DatasetError(
            f"{data.path}: its features differ from the other offices' (expected "
            f"{', '.join(setup.features[:5])}, …)",
            path=data.path,
        )
    return setup


def _records(data: FeatureTable, terms: Terms, classes: Sequence[str]) -> _Records:
    """Split the office's records; refuse to train on fewer than ``min_cell`` of them."""
    index = {label: i for i, label in enumerate(classes)}
    y = np.array([index[str(label)] for label in data.y], dtype=np.int64)
    part = partition(data, terms)
    train = part.train
    n_train = int(train.sum())
    if n_train < terms.min_cell:
        raise DatasetError(
            f"{data.path}: {n_train} training records after holding out {terms.holdout:.0%} "
            f"for the evaluation and {terms.validation if terms.early_stopping else 0:.0%} of "
            f"the rest for early stopping (the job's min_cell is {terms.min_cell}); an "
            "update from so few records would nearly show them",
            path=data.path,
        )
    return _Records(
        data.X[train],
        y[train],
        data.X[part.validation],
        y[part.validation],
        data.X[part.held],
        y[part.held],
        data.subjects[train] if data.subjects is not None else None,
    )


def party(
    channel: Channel,
    data: FeatureTable,
    terms: Terms,
    progress: Progress | None = None,
    *,
    coordinator: str,
) -> tuple[dict[str, Any], Model]:
    """An office's side: contribute statistics, updates and an evaluation, securely.

    Returns the office's report and the final global model it received.
    """
    fixed = FixedPoint(terms.frac_bits)
    setup = _join(channel, data, coordinator)
    records = _records(data, terms, setup.classes)
    x = records.x_train
    stats = np.concatenate([[records.n_train], x.sum(axis=0), (x**2).sum(axis=0)])
    secagg.client(channel, coordinator, encode(fixed, stats))

    model = Model.from_dict(json.loads(channel.recv(coordinator, InitialModel).model))
    units = records.units
    private = _PrivateTraining(
        terms, n_units=len(np.unique(units)) if units is not None else records.n_train
    )
    rounds = _party_rounds(channel, coordinator, model, records, terms, private, progress)
    channel.send(coordinator, PrivacyReport(private.ledger.epsilon if private.ledger else None))
    matrix = confusion_matrix(records.y_held, model.predict(records.x_held), len(setup.classes))
    secagg.client(channel, coordinator, matrix.reshape(-1).astype(np.int64).view(np.uint64))
    report = {
        "computation": "fl_train",
        "role": "office",
        "rounds": rounds,
        "epsilon_history": private.ledger.history if private.ledger else [],
    }
    return report, model


def _party_rounds(
    channel: Channel,
    coordinator: str,
    model: Model,
    records: _Records,
    terms: Terms,
    private: _PrivateTraining,
    progress: Progress | None,
) -> int:
    """Train on every round's global model until the coordinator says done; rounds run."""
    fixed = FixedPoint(terms.frac_bits)
    rng = np.random.default_rng(terms.seed + 1)  # minibatch order only
    n_train = records.n_train
    rounds = 0
    while True:
        msg = channel.recv(coordinator, GlobalParams)
        start = np.frombuffer(msg.params, dtype="<f8").astype(np.float64)
        model.set_params(start)
        if msg.done:
            return rounds
        validation = validation_sums(model, records.x_valid, records.y_valid)
        if n_train and private.active:
            private.train(model, records.x_train, records.y_train, records.units)
        elif n_train:
            train_local(
                model,
                records.x_train,
                records.y_train,
                epochs=terms.local_epochs,
                batch_size=terms.batch_size,
                lr=terms.lr,
                l2=terms.l2,
                rng=rng,
                prox_mu=terms.mu if terms.strategy == "fedprox" else 0.0,
            )
        update = np.concatenate([n_train * (model.get_params() - start), [n_train], validation])
        secagg.client(channel, coordinator, encode(fixed, update))
        rounds += 1
        if progress is not None:
            progress("rounds", msg.round + 1, terms.rounds)


class _PrivateTraining:
    """DP-SGD for one office, calibrated so that all its rounds together spend ε.

    The unit of privacy is the respondent when a subject column is given (user-level
    DP-SGD), else the record. The sampling rate is batch_size / units; each round runs
    ⌈local_epochs / q⌉ steps; the noise multiplier is the smallest (to 1 %) for which the
    RDP accountant gives ε ≤ epsilon at delta after all rounds.
    """

    def __init__(self, terms: Terms, n_units: int) -> None:
        self.terms = terms
        self.active = terms.epsilon is not None and n_units > 0
        self.sample_rate = min(1.0, terms.batch_size / max(n_units, 1))
        self.steps = math.ceil(terms.local_epochs / self.sample_rate)
        self.sigma = self._calibrate() if self.active else 0.0
        # the accountant (dp-accounting, which loads pandas) only when DP is asked for
        self.ledger = (
            PrivacyLedger(DPConfig(self.sigma, terms.dp_clip, self.sample_rate, terms.delta))
            if self.active
            else None
        )

    def _calibrate(self) -> float:
        target, total = float(self.terms.epsilon or 0), self.steps * self.terms.rounds
        try:
            return noise_multiplier_for_epsilon(target, self.sample_rate, total, self.terms.delta)
        except ParameterError:
            raise ParameterError(
                f"ε = {target} cannot be reached with {self.terms.rounds} rounds at this "
                "office's size; allow a larger ε or train fewer rounds",
                parameter="epsilon",
            ) from None

    def train(
        self,
        model: Model,
        x: FloatArray,
        y: npt.NDArray[np.int64],
        units: npt.NDArray[np.str_] | None,
    ) -> None:
        _, steps = train_local_dp(
            model,
            x,
            y,
            lr=self.terms.lr,
            clip_norm=self.terms.dp_clip,
            noise_multiplier=self.sigma,
            sample_rate=self.sample_rate,
            steps=self.steps,
            subjects=units,
        )
        if self.ledger is not None:
            self.ledger.record(steps)
