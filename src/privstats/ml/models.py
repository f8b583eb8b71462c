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

Where it lives
--------------
This module is the door: :class:`Model` and its save/load are in
:mod:`privstats.ml.classifier`, :class:`Standardizer` in :mod:`privstats.ml.standardizer`,
the two networks in :mod:`privstats.ml.networks`; :func:`train_local` is here.

What each party learns
----------------------
Nothing leaves the party in this module. What a party later shares — gradients, updates,
the model itself — can reveal much about its training data; secure aggregation and DP
mechanisms elsewhere protect it. Initial weights come from a seeded numpy ``Generator``
supplied by the caller: they protect no data, and a seed makes runs reproducible.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError
from privstats.ml._checks import FloatArray, IntArray, Label
from privstats.ml._checks import _count as _count  # re-exported: privstats.ml.dp uses them
from privstats.ml._checks import _matrix as _matrix
from privstats.ml._checks import _rate as _rate
from privstats.ml._checks import _vector as _vector
from privstats.ml.classifier import FORMAT, FORMAT_VERSION, Model
from privstats.ml.networks import ACTIVATIONS, DEFAULT_POLY_COEFFICIENTS, MLP, LogisticRegression
from privstats.ml.standardizer import Standardizer

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

_M = TypeVar("_M", bound=Model)


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
