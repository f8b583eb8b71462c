"""Classifiers for federated training, their parameters as one flat ``float64`` vector.

Who this is for
---------------
Several statistical offices train one classifier without pooling their records. Each
office runs :func:`train_local` (or :meth:`Model.gradient`) on its own data and shares only
a parameter update; secure aggregation adds the updates up. So every model keeps all its
parameters in one flat ``float64`` vector (:meth:`Model.get_params`,
:meth:`Model.set_params`) whose sum or average over offices is the federated update.
Nothing here communicates: this is the local, plaintext part of federated learning.

What it computes
----------------
:class:`Standardizer`
    Centres and scales each feature, built from sufficient statistics (count, sum and sum
    of squares per feature), so that the securely summed statistics of several offices
    give exactly the standardizer of their pooled data. Variance is the population
    variance (``ddof = 0``). A feature counts as constant, and gets scale 1, when its
    variance is zero or below ``10⁻¹²`` of its squared mean (float64 sums cannot resolve
    less).
:class:`LogisticRegression`, :class:`MLP`
    Multinomial (softmax) logistic regression and a fully connected network with ReLU or
    polynomial hidden activations (``"square"``: x², ``"poly"``: any polynomial, by default
    0.5x + 0.25x²); polynomial networks can later be evaluated under CKKS encryption, see
    :attr:`MLP.poly_coefficients`. A model maps *raw* features to class probabilities:
    its standardizer, if it has one, is part of it and is saved with it. Class indices
    (``y_index``, :meth:`Model.predict`) are positions in ``model.classes``.
:func:`train_local`
    Mini-batch SGD on one party's data, with an optional FedProx term.

Loss: mean cross-entropy over the batch plus ``l2/2·‖W‖²`` over the weight matrices (biases
are not penalised). :meth:`Model.per_example_gradients` gives each example's gradient of
its own cross-entropy, without the penalty, as DP-SGD needs for per-example clipping.

Parameter layout: for each layer in turn, its weight matrix (inputs × outputs, row-major),
then its bias vector. Logistic regression is the one-layer case.

What each party learns
----------------------
Nothing leaves the party in this module. What a party later shares — gradients, updates,
the model itself — can reveal much about its training data; secure aggregation and DP
mechanisms elsewhere protect it. Initial weights come from a seeded numpy ``Generator``
supplied by the caller: they protect no data, and a seed makes runs reproducible.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt
from numpy.polynomial import polynomial as P  # noqa: N812 - numpy's own convention

from privstats.errors import DatasetError, ParameterError

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_POLY_COEFFICIENTS",
    "FORMAT",
    "FORMAT_VERSION",
    "MLP",
    "FloatArray",
    "IntArray",
    "Label",
    "LogisticRegression",
    "Model",
    "Standardizer",
    "train_local",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Label = str | int
"""A class label: a string or an integer (both survive JSON unchanged)."""

FORMAT = "privstats.model"
FORMAT_VERSION = 1
ACTIVATIONS = ("poly", "relu", "square")
DEFAULT_POLY_COEFFICIENTS = (0.0, 0.5, 0.25)
"""0.5x + 0.25x², lowest degree first: ReLU-like on [-2, 2] and cheap under CKKS."""
_CONSTANT_RELATIVE_VARIANCE = 1e-12

_M = TypeVar("_M", bound="Model")


def _count(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool")
    try:
        number = operator.index(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from exc
    if number < minimum:
        raise ParameterError(f"{name} must be at least {minimum}, got {number}", parameter=name)
    return number


def _rate(value: float, name: str, *, positive: bool = False) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ParameterError(f"{name} must be finite and {bound}, got {value}", parameter=name)
    return number


def _vector(values: npt.ArrayLike, name: str, length: int | None = None) -> FloatArray:
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, not {array.dtype}")
    array = array.astype(np.float64)
    if array.ndim != 1 or (length is not None and array.size != length):
        want = f"({length},)" if length is not None else "one dimension"
        raise ParameterError(f"{name} must have shape {want}, got {array.shape}", parameter=name)
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} has non-finite values", parameter=name)
    return array


def _matrix(x: npt.ArrayLike, n_features: int, name: str = "x") -> FloatArray:
    array = np.asarray(x)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, not {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim != 2 or array.shape[1] != n_features:
        raise ParameterError(
            f"{name} must have shape (rows, {n_features}), got {array.shape}", parameter=name
        )
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise ParameterError(
            f"{name} has NaN or infinite values in {rows.size} rows "
            f"(first: {rows[:5].tolist()}); impute or drop them first",
            parameter=name,
        )
    return array


class Standardizer:
    """``(x − mean) / scale`` per feature, from count, sums and sums of squares.

    Build it with :meth:`fit` on local data, or with :meth:`from_sums` on statistics summed
    over parties; both give the same standardizer for the same sums.
    """

    def __init__(self, count: int, sums: npt.ArrayLike, sums_sq: npt.ArrayLike) -> None:
        self.count = _count(count, "count", minimum=1)
        self.sums = _vector(sums, "sums")
        self.sums_sq = _vector(sums_sq, "sums_sq", self.sums.size)
        if np.any(self.sums_sq < 0):
            raise ParameterError("sums_sq must not be negative", parameter="sums_sq")
        self.mean: FloatArray = self.sums / self.count
        variance = np.maximum(self.sums_sq / self.count - self.mean**2, 0.0)
        constant = variance <= _CONSTANT_RELATIVE_VARIANCE * self.mean**2
        self.scale: FloatArray = np.where(constant, 1.0, np.sqrt(variance))

    @classmethod
    def from_sums(cls, n: int, sums: npt.ArrayLike, sums_sq: npt.ArrayLike) -> Standardizer:
        """From ``n`` records' per-feature sums and sums of squares (e.g. securely pooled)."""
        return cls(n, sums, sums_sq)

    @classmethod
    def fit(cls, x: npt.ArrayLike) -> Standardizer:
        """From local data: the same sums a party would contribute to secure aggregation."""
        array = np.asarray(x)
        if array.ndim != 2:
            raise ParameterError(f"x must be two-dimensional, got {array.shape}", parameter="x")
        array = _matrix(array, array.shape[1])
        if not len(array):
            raise ParameterError("x has no rows to fit a standardizer on", parameter="x")
        return cls(len(array), array.sum(axis=0), (array * array).sum(axis=0))

    @property
    def n_features(self) -> int:
        return int(self.sums.size)

    def transform(self, x: npt.ArrayLike) -> FloatArray:
        array = _matrix(x, self.n_features)
        return (array - self.mean) / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "sums": self.sums.tolist(), "sums_sq": self.sums_sq.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardizer:
        return cls(data["count"], data["sums"], data["sums_sq"])

    def __repr__(self) -> str:
        return f"Standardizer(count={self.count}, n_features={self.n_features})"


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


def _polynomial(coefficients: Sequence[float]) -> tuple[float, ...]:
    values = _vector(coefficients, "poly_coefficients")
    if values.size < 2 or not np.any(values[1:]):
        raise ParameterError(
            "poly_coefficients (lowest degree first) need a non-zero term of degree >= 1, "
            f"got {values.tolist()}",
            parameter="poly_coefficients",
        )
    return tuple(float(c) for c in values)


class _Dense(Model):
    """Fully connected layers; the hidden ones share one activation."""

    def __init__(
        self,
        n_features: int,
        classes: Sequence[Label],
        *,
        hidden: Sequence[int],
        activation: str,
        poly_coefficients: Sequence[float] | None,
        rng: np.random.Generator | None,
        feature_names: Sequence[str] | None,
        standardizer: Standardizer | None,
    ) -> None:
        super().__init__(
            n_features, classes, feature_names=feature_names, standardizer=standardizer
        )
        if activation not in ACTIVATIONS:
            raise ParameterError(
                f"activation must be one of {ACTIVATIONS}, got {activation!r}",
                parameter="activation",
            )
        if poly_coefficients is not None and activation != "poly":
            raise ParameterError(
                'poly_coefficients apply only to activation="poly"', parameter="poly_coefficients"
            )
        self.hidden = tuple(_count(h, "hidden layer size", minimum=1) for h in hidden)
        self.activation = activation
        # the hidden activation as polynomial coefficients (lowest degree first), or None
        self.poly_coefficients: tuple[float, ...] | None = {
            "relu": None,
            "square": (0.0, 0.0, 1.0),
            "poly": _polynomial(poly_coefficients or DEFAULT_POLY_COEFFICIENTS),
        }[activation]
        sizes = (self.n_features, *self.hidden, self.n_classes)
        self._shapes = list(itertools.pairwise(sizes))
        self._params: FloatArray = np.zeros(sum(i * o + o for i, o in self._shapes))
        self._layers: list[tuple[FloatArray, FloatArray]] = []
        mask = np.zeros_like(self._params)
        start = 0
        for fan_in, fan_out in self._shapes:
            weights = self._params[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
            mask[start : start + fan_in * fan_out] = 1.0
            start += fan_in * fan_out
            self._layers.append((weights, self._params[start : start + fan_out]))
            start += fan_out
        self._mask = mask
        if rng is not None:
            for layer, (weights, _) in enumerate(self._layers):
                fan_in, fan_out = weights.shape
                if activation == "relu" and layer < len(self.hidden):
                    std = math.sqrt(2.0 / fan_in)  # He
                else:
                    std = math.sqrt(2.0 / (fan_in + fan_out))  # Xavier/Glorot
                weights[:] = rng.normal(0.0, std, size=weights.shape)

    @property
    def n_params(self) -> int:
        return int(self._params.size)

    def get_params(self) -> FloatArray:
        return self._params.copy()

    def set_params(self, flat: npt.ArrayLike) -> None:
        self._params[:] = _vector(flat, "params", self.n_params)  # in place: layers are views

    def _activate(self, h: FloatArray) -> FloatArray:
        if self.poly_coefficients is None:
            return np.maximum(h, 0.0)
        return np.asarray(P.polyval(h, self.poly_coefficients), dtype=np.float64)

    def _activation_slope(self, h: FloatArray) -> FloatArray:
        if self.poly_coefficients is None:
            return (h > 0).astype(np.float64)
        slope = P.polyder(np.asarray(self.poly_coefficients))
        return np.asarray(P.polyval(h, slope), dtype=np.float64)

    def _forward(self, z: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
        cache = [z]  # inputs of each layer, with the hidden pre-activations between them
        a = z
        for layer, (weights, bias) in enumerate(self._layers):
            h = a @ weights + bias
            if layer == len(self._layers) - 1:
                return h, cache
            a = self._activate(h)
            cache += [h, a]
        raise AssertionError("unreachable: a model has at least one layer")

    def _backward(
        self, cache: list[FloatArray], dlogits: FloatArray, *, per_example: bool
    ) -> FloatArray:
        inputs, pre = cache[0::2], cache[1::2]
        pieces: list[FloatArray] = []
        delta = dlogits
        for layer in reversed(range(len(self._layers))):
            a = inputs[layer]
            if per_example:
                pieces += [delta, (a[:, :, None] * delta[:, None, :]).reshape(len(a), -1)]
            else:
                pieces += [delta.sum(axis=0), (a.T @ delta).ravel()]
            if layer:
                delta = (delta @ self._layers[layer][0].T) * self._activation_slope(pre[layer - 1])
        return np.concatenate(pieces[::-1], axis=-1)

    def _decay_mask(self) -> FloatArray:
        return self._mask

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_features={self.n_features}, classes={list(self.classes)}"
            f"{self._repr_extra()})"
        )

    def _repr_extra(self) -> str:
        return ""


class LogisticRegression(_Dense):
    """Multinomial logistic regression: ``softmax(z·W + b)`` on standardized features.

    Starts from zero weights (the loss is convex), or from small Xavier-normal weights
    drawn from ``rng`` if one is given.
    """

    kind = "logistic_regression"

    def __init__(
        self,
        n_features: int,
        classes: Sequence[Label],
        *,
        rng: np.random.Generator | None = None,
        feature_names: Sequence[str] | None = None,
        standardizer: Standardizer | None = None,
    ) -> None:
        super().__init__(
            n_features,
            classes,
            hidden=(),
            activation="relu",
            poly_coefficients=None,
            rng=rng,
            feature_names=feature_names,
            standardizer=standardizer,
        )

    def _config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _from_config(cls, common: dict[str, Any], data: Mapping[str, Any]) -> Model:
        return cls(**common)


class MLP(_Dense):
    """A fully connected network: hidden layers with one activation, then softmax.

    ``activation`` is ``"relu"``, ``"square"`` (x²) or ``"poly"`` (the polynomial
    ``poly_coefficients``, lowest degree first; default 0.5x + 0.25x²). Hidden ReLU layers
    start He-normal, the others Xavier-normal, from ``rng``; biases start at zero.
    """

    kind = "mlp"

    def __init__(
        self,
        n_features: int,
        classes: Sequence[Label],
        *,
        rng: np.random.Generator,
        hidden: Sequence[int] = (32,),
        activation: str = "relu",
        poly_coefficients: Sequence[float] | None = None,
        feature_names: Sequence[str] | None = None,
        standardizer: Standardizer | None = None,
    ) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy Generator, e.g. np.random.default_rng(seed)")
        if isinstance(hidden, int) or not len(hidden):
            raise ParameterError(
                "hidden must be a non-empty sequence of layer sizes, such as (32,); "
                "use LogisticRegression for no hidden layer",
                parameter="hidden",
            )
        super().__init__(
            n_features,
            classes,
            hidden=hidden,
            activation=activation,
            poly_coefficients=poly_coefficients,
            rng=rng,
            feature_names=feature_names,
            standardizer=standardizer,
        )

    def _config(self) -> dict[str, Any]:
        return {
            "hidden": list(self.hidden),
            "activation": self.activation,
            "poly_coefficients": None
            if self.poly_coefficients is None
            else list(self.poly_coefficients),
        }

    @classmethod
    def _from_config(cls, common: dict[str, Any], data: Mapping[str, Any]) -> Model:
        activation = data["activation"]
        return cls(
            **common,
            rng=np.random.default_rng(0),  # replaced by the saved parameters
            hidden=data["hidden"],
            activation=activation,
            poly_coefficients=data["poly_coefficients"] if activation == "poly" else None,
        )

    def _repr_extra(self) -> str:
        return f", hidden={self.hidden}, activation={self.activation!r}"


_KINDS: dict[str, type[Model]] = {
    LogisticRegression.kind: LogisticRegression,
    MLP.kind: MLP,
}


def train_local(
    model: _M,
    x: npt.ArrayLike,
    y_index: npt.ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    l2: float = 0.0,
    rng: np.random.Generator,
    prox_mu: float = 0.0,
    prox_center: npt.ArrayLike | None = None,
) -> _M:
    """Mini-batch SGD on one party's data; updates ``model`` in place and returns it.

    Each epoch visits the rows in a fresh random order (from ``rng``) in batches of
    ``batch_size`` (the last may be smaller); each step is ``w ← w − lr·(∇loss(w) +
    prox_mu·(w − w0))``, where the second term is FedProx's ``prox_mu/2·‖w − w0‖²``, with
    ``w0 = prox_center``, by default the parameters the model had on entry (the global model
    a party received). Raises ParameterError if the parameters stop being finite.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a privstats Model, not {type(model).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator, e.g. np.random.default_rng(seed)")
    z, y = model._batch(x, y_index)
    epochs = _count(epochs, "epochs", minimum=0)
    batch_size = _count(batch_size, "batch_size", minimum=1)
    lr = _rate(lr, "lr", positive=True)
    l2 = _rate(l2, "l2")
    prox_mu = _rate(prox_mu, "prox_mu")
    params = model.get_params()
    center = params.copy() if prox_center is None else _vector(prox_center, "prox_center")
    if center.size != params.size:
        raise ParameterError(
            f"prox_center has {center.size} values, the model {params.size} parameters",
            parameter="prox_center",
        )
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            rows = order[start : start + batch_size]
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
                _, grad = model._gradient(z[rows], y[rows], l2)
                if prox_mu:
                    grad += prox_mu * (params - center)
                params = params - lr * grad
            if not np.all(np.isfinite(params)):
                raise ParameterError(
                    f"training diverged in epoch {epoch + 1}: parameters are no longer "
                    f"finite; use a smaller lr than {lr}",
                    parameter="lr",
                )
            model.set_params(params)
    return model
