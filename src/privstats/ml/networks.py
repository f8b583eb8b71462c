"""Dense classifiers: multinomial logistic regression and a small MLP.

Fully connected layers whose hidden ones share one activation: ReLU, or a polynomial
(``"square"``: x², ``"poly"``: any polynomial, by default 0.5x + 0.25x²) that CKKS can
evaluate (:attr:`MLP.poly_coefficients`). Both keep their parameters in the flat layout
of :class:`~privstats.ml.classifier.Model`. Nothing here communicates; initial weights
come from a caller's seeded ``Generator`` and protect no data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.polynomial import polynomial as P  # noqa: N812 - numpy's own convention

from privstats.errors import ParameterError
from privstats.ml._checks import FloatArray, Label, _count, _vector
from privstats.ml.classifier import Model
from privstats.ml.standardizer import Standardizer

__all__ = ["ACTIVATIONS", "DEFAULT_POLY_COEFFICIENTS", "MLP", "LogisticRegression"]

ACTIVATIONS = ("poly", "relu", "square")
DEFAULT_POLY_COEFFICIENTS = (0.0, 0.5, 0.25)
"""0.5x + 0.25x², lowest degree first: ReLU-like on [-2, 2] and cheap under CKKS."""


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
