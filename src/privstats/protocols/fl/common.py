"""What the parties of federated training share: terms, messages, the split, the model.

The steps are in :mod:`privstats.protocols.fl.party` and
:mod:`privstats.protocols.fl.coordinator`; the package docstring has the protocol and its
threat model. Nothing here communicates: the split and the initial model come from the
public seed and protect no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from privstats.data.sensors import FeatureTable
from privstats.ml.metrics import accuracy, f1_scores, macro_f1
from privstats.ml.models import MLP, LogisticRegression, Model, Standardizer
from privstats.protocols.sharing import FixedPoint
from privstats.transport.codec import Message, message

__all__ = [
    "GlobalParams",
    "Hello",
    "InitialModel",
    "Partition",
    "PrivacyReport",
    "Setup",
    "Terms",
    "decode",
    "encode",
    "new_model",
    "partition",
    "pooled_metrics",
    "validation_sums",
]

FloatArray = npt.NDArray[np.float64]
_MIN_PROBABILITY = 1e-12
"""Probabilities are floored here in the validation loss (at most 27.6 per record)."""


class Terms(Protocol):
    """What every party agrees on before training (read only; see the spec for meanings)."""

    @property
    def model(self) -> str: ...
    @property
    def hidden(self) -> tuple[int, ...]: ...
    @property
    def activation(self) -> str: ...
    @property
    def rounds(self) -> int: ...
    @property
    def patience(self) -> int: ...
    @property
    def min_rounds(self) -> int: ...
    @property
    def validation(self) -> float: ...
    @property
    def strategy(self) -> str: ...
    @property
    def local_epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def l2(self) -> float: ...
    @property
    def mu(self) -> float: ...
    @property
    def server_lr(self) -> float: ...
    @property
    def holdout(self) -> float: ...
    @property
    def frac_bits(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def classes(self) -> tuple[str, ...] | None: ...
    @property
    def round_timeout(self) -> float: ...
    @property
    def epsilon(self) -> float | None: ...
    @property
    def delta(self) -> float: ...
    @property
    def dp_clip(self) -> float: ...
    @property
    def min_cell(self) -> int: ...
    @property
    def early_stopping(self) -> bool: ...


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


@dataclass(frozen=True)
class Partition:
    """An office's rows: held out for the evaluation, for early stopping, or for training."""

    held: npt.NDArray[np.bool_]
    validation: npt.NDArray[np.bool_]

    @property
    def train(self) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = ~(self.held | self.validation)
        return mask


def partition(data: FeatureTable, terms: Terms) -> Partition:
    """Whole subjects when a subject column is given, else rows, from one public permutation.

    The first ``holdout`` share is held out for the evaluation; of the rest, a
    ``validation`` share (at least one unit when the share is above 0 and two units are
    left) for early stopping. The split protects nothing: it comes from the public seed.
    """
    rng = np.random.default_rng(terms.seed)  # a public split, not a protection of data
    units = np.unique(data.subjects) if data.subjects is not None else np.arange(data.rows)
    order = rng.permutation(units)
    held_count = round(terms.holdout * len(units))
    left = len(units) - held_count
    validation_count = round(terms.validation * left) if terms.early_stopping else 0
    if terms.early_stopping and validation_count == 0 and left >= 2:
        validation_count = 1
    held_units = order[:held_count]
    validation_units = order[held_count : held_count + validation_count]
    if data.subjects is not None:
        return Partition(
            np.isin(data.subjects, held_units), np.isin(data.subjects, validation_units)
        )
    held = np.zeros(data.rows, dtype=bool)
    held[held_units] = True
    validation = np.zeros(data.rows, dtype=bool)
    validation[validation_units] = True
    return Partition(held, validation)


def validation_sums(
    model: Model, x: FloatArray, y: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """[Σ cross-entropy, records, correct] of ``model`` on an office's validation records."""
    if not len(y):
        return np.zeros(3)
    proba = model.predict_proba(x)[np.arange(len(y)), y]
    loss = -float(np.log(np.maximum(proba, _MIN_PROBABILITY)).sum())
    correct = int((model.predict(x) == y).sum())
    return np.array([loss, len(y), correct], dtype=np.float64)


def new_model(
    terms: Terms,
    n_features: int,
    classes: list[str],
    features: list[str],
    standardizer: Standardizer,
) -> Model:
    """The initial model; its random start comes from the public seed."""
    if terms.model == "logreg":
        return LogisticRegression(
            n_features, classes, feature_names=features, standardizer=standardizer
        )
    return MLP(
        n_features,
        classes,
        rng=np.random.default_rng(terms.seed),
        hidden=terms.hidden,
        activation=terms.activation,
        feature_names=features,
        standardizer=standardizer,
    )


def pooled_metrics(matrix: npt.NDArray[np.int64], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1 and per-class F1 of a (pooled) confusion matrix."""
    return {
        "accuracy": float(accuracy(matrix)),
        "macro_f1": float(macro_f1(matrix)),
        "per_class_f1": {c: float(f) for c, f in zip(classes, f1_scores(matrix), strict=True)},
    }


def encode(fixed: FixedPoint, values: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    return fixed.encode(values).view(np.uint64)


def decode(fixed: FixedPoint, total: npt.NDArray[np.uint64]) -> FloatArray:
    return fixed.decode(total.view(np.int64))
