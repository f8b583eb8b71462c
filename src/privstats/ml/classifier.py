"""The base of every classifier: one flat parameter vector, gradients, a versioned JSON form.

:class:`Model` turns a subclass's forward and backward passes into probabilities, losses,
batch and per-example gradients (:mod:`privstats.ml.models` describes the loss and the
parameter layout), and saves and loads any kind of model: each concrete subclass with a
``kind`` registers itself for :meth:`Model.from_dict`. Nothing here communicates.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from privstats.errors import DatasetError, ParameterError
from privstats.ml._checks import FloatArray, IntArray, Label, _count, _matrix, _rate
from privstats.ml.standardizer import Standardizer

__all__ = ["FORMAT", "FORMAT_VERSION", "Model"]

FORMAT = "privstats.model"
FORMAT_VERSION = 1

_M = TypeVar("_M", bound="Model")
_KINDS: dict[str, type[Model]] = {}
"""Every concrete model kind, by its ``kind`` (filled as the subclasses are defined)."""


def _log_softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    out: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


class Model(ABC):
    """A classifier whose parameters are one flat ``float64`` vector.

    Subclasses provide the forward and backward passes (:meth:`_forward`,
    :meth:`_backward`); this class turns them into probabilities, losses, batch and
    per-example gradients, and a versioned JSON form.
    """

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that names its own ``kind`` becomes loadable by :meth:`from_dict`."""
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _KINDS[kind] = cls

    def __init__(
        self,
        n_features: int,
        classes: Sequence[Label],
        *,
        feature_names: Sequence[str] | None = None,
        standardizer: Standardizer | None = None,
    ) -> None:
        self.n_features = _count(n_features, "n_features", minimum=1)
        if isinstance(classes, str | bytes) or not isinstance(classes, Sequence):
            raise TypeError("classes must be a sequence of labels, such as a list")
        for label in classes:
            if isinstance(label, bool) or not isinstance(label, str | int):
                raise TypeError(f"class labels must be str or int, not {type(label).__name__}")
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ParameterError(
                f"classes must hold at least two distinct labels, got {list(classes)}",
                parameter="classes",
            )
        self.classes: tuple[Label, ...] = tuple(classes)
        if feature_names is not None:
            if isinstance(feature_names, str) or not all(
                isinstance(name, str) for name in feature_names
            ):
                raise TypeError("feature_names must be a sequence of strings")
            if len(feature_names) != self.n_features:
                raise ParameterError(
                    f"{len(feature_names)} feature_names for {self.n_features} features",
                    parameter="feature_names",
                )
        self.feature_names = None if feature_names is None else tuple(feature_names)
        if standardizer is not None and standardizer.n_features != self.n_features:
            raise ParameterError(
                f"the standardizer has {standardizer.n_features} features, the model "
                f"{self.n_features}",
                parameter="standardizer",
            )
        self.standardizer = standardizer

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    @abstractmethod
    def n_params(self) -> int:
        """Length of the flat parameter vector."""

    @abstractmethod
    def get_params(self) -> FloatArray:
        """A copy of the parameters as one flat vector (layout in the module docstring)."""

    @abstractmethod
    def set_params(self, flat: npt.ArrayLike) -> None:
        """Replace the parameters by ``flat``, a finite vector of length :attr:`n_params`."""

    @abstractmethod
    def _forward(self, z: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
        """Logits of standardized inputs ``z``, and what the backward pass needs."""

    @abstractmethod
    def _backward(
        self, cache: list[FloatArray], dlogits: FloatArray, *, per_example: bool
    ) -> FloatArray:
        """Gradient given d(loss)/d(logits): summed over rows, or one row per example."""

    @abstractmethod
    def _decay_mask(self) -> FloatArray:
        """1.0 where a parameter is under the L2 penalty (weights), 0.0 elsewhere (biases)."""

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """The architecture, for :meth:`to_dict`."""

    @classmethod
    @abstractmethod
    def _from_config(cls, common: dict[str, Any], data: Mapping[str, Any]) -> Model:
        """A model of this kind with the architecture in ``data`` (parameters set later)."""

    # prediction -----------------------------------------------------------------------

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """Class probabilities, shape (rows, n_classes), columns in ``classes`` order."""
        logits, _ = self._forward(self._inputs(x))
        return np.exp(_log_softmax(logits))

    def predict(self, x: npt.ArrayLike) -> IntArray:
        """Index (into ``classes``) of the most probable class for each row."""
        logits, _ = self._forward(self._inputs(x))
        index: IntArray = np.argmax(logits, axis=1).astype(np.int64)
        return index

    # gradients ------------------------------------------------------------------------

    def gradient(
        self, x: npt.ArrayLike, y_index: npt.ArrayLike, *, l2: float = 0.0
    ) -> tuple[float, FloatArray]:
        """Mean cross-entropy over the batch plus ``l2/2·‖W‖²``, and its flat gradient."""
        z, y = self._batch(x, y_index)
        return self._gradient(z, y, _rate(l2, "l2"))

    def per_example_gradients(self, x: npt.ArrayLike, y_index: npt.ArrayLike) -> FloatArray:
        """Each example's gradient of its own cross-entropy: shape (rows, n_params).

        No L2 penalty is included (it does not depend on the data); the mean of the rows
        is ``gradient(x, y_index)[1]``.
        """
        z, y = self._batch(x, y_index)
        logits, cache = self._forward(z)
        dlogits = np.exp(_log_softmax(logits))
        dlogits[np.arange(len(y)), y] -= 1.0
        return self._backward(cache, dlogits, per_example=True)

    def _gradient(self, z: FloatArray, y: IntArray, l2: float) -> tuple[float, FloatArray]:
        logits, cache = self._forward(z)
        log_proba = _log_softmax(logits)
        rows = np.arange(len(y))
        loss = -float(log_proba[rows, y].mean())
        dlogits = np.exp(log_proba)
        dlogits[rows, y] -= 1.0
        grad = self._backward(cache, dlogits / len(y), per_example=False)
        if l2:
            weights = self.get_params() * self._decay_mask()
            loss += 0.5 * l2 * float(weights @ weights)
            grad += l2 * weights
        return loss, grad

    def _inputs(self, x: npt.ArrayLike) -> FloatArray:
        z = _matrix(x, self.n_features)
        return z if self.standardizer is None else self.standardizer.transform(z)

    def _batch(self, x: npt.ArrayLike, y_index: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
        z = self._inputs(x)
        y = np.asarray(y_index)
        if y.dtype.kind not in "iu":
            raise TypeError(f"y_index must hold integer class indices, not {y.dtype}")
        if y.shape != (len(z),):
            raise ParameterError(
                f"y_index must have shape ({len(z)},) to match x, got {y.shape}",
                parameter="y_index",
            )
        if not len(y):
            raise ParameterError("the batch is empty", parameter="x")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ParameterError(
                f"y_index values must be in 0..{self.n_classes - 1} (positions in classes), "
                f"got {int(y.min())}..{int(y.max())}",
                parameter="y_index",
            )
        return z, y.astype(np.int64)

    # serialisation --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description: kind, architecture, labels, scaling, parameters."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "n_features": self.n_features,
            "classes": list(self.classes),
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "standardizer": None if self.standardizer is None else self.standardizer.to_dict(),
            **self._config(),
            "params": self.get_params().tolist(),
        }

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """The model that :meth:`to_dict` described; ``Model.from_dict`` accepts any kind."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a model description is a mapping, not {type(data).__name__}")
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise ParameterError(
                f"not a {FORMAT} version {FORMAT_VERSION} description "
                f"(format={data.get('format')!r}, version={data.get('version')!r})"
            )
        kind = data.get("kind")
        target = _KINDS.get(kind) if isinstance(kind, str) else None
        if target is None:
            raise ParameterError(f"unknown model kind {kind!r}; known: {sorted(_KINDS)}")
        try:
            standardizer = data["standardizer"]
            common = {
                "n_features": data["n_features"],
                "classes": data["classes"],
                "feature_names": data["feature_names"],
                "standardizer": None
                if standardizer is None
                else Standardizer.from_dict(standardizer),
            }
            model = target._from_config(common, data)
            model.set_params(data["params"])
        except KeyError as exc:
            raise ParameterError(f"the model description lacks {exc}") from exc
        if not isinstance(model, cls):
            raise ParameterError(f"the description is of a {kind} model, not a {cls.__name__}")
        return model

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (keys sorted; floats round-trip exactly)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False) + "\n"

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls: type[_M], path: str | Path) -> _M:
        """Read a model written by :meth:`save`; a bad file raises DatasetError."""
        label = str(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{label}: cannot read a model: {exc}", path=label) from exc
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"{label}: not a valid model: {exc}", path=label) from exc
