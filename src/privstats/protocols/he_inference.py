"""Encrypted inference: a querier's records scored by another party's model under CKKS.

Two parties. The *querier* (an office holding records it may not disclose) wants the
predictions of a classifier that the *model holder* (another office, or a consortium that
trained it federatedly) will not hand over. The querier encrypts its records with its own
CKKS key; the model holder evaluates its model on the ciphertexts; the querier decrypts the
class scores and takes the most probable class. The model holder's input is a
:class:`PlainModel`: weights, biases, activation polynomial and standardizer as numpy
arrays (``privstats.jobs.he_inference.plain_model`` converts a trained classifier).

Protocol (CKKS via :mod:`privstats.crypto.ckks`; one batch = up to ``N/2`` records)::

    M → Q   ModelInfo          features (names), classes, multiplicative depth
    Q → M   Query              number of records, CKKS parameters
    Q → M   ContextPart × k    the public context: public + relinearisation keys, no secret
    Q → M   Features           per batch, per feature: one ciphertext holding that feature
                               of every record of the batch (feature-major packing)
    M → Q   Scores             per batch, per class: one ciphertext of the class scores

Packing is feature-major, so a dense layer ``out_j = Σ_f w_fj·ct_f + b_j`` needs only
plaintext-scalar multiplications and additions, never a rotation (no Galois keys). The
model holder folds the model's standardizer into the first layer's weights and biases
(``w/scale``, ``b − (mean/scale)·W``), so the querier encrypts raw features. A polynomial
hidden activation ``Σ_p c_p h^p`` is evaluated by ciphertext powers of ``h`` and folded into
the next layer's weights (``c_p·W``, bias ``b + c_0·ΣW``): depth is one level per layer
plus ``⌈log₂ degree⌉`` per hidden activation (logistic regression 1; one hidden layer with
``"square"`` or the default ``"poly"`` 3). ReLU cannot be evaluated and is refused.

Threat model: both parties semi-honest; security of the records rests on CKKS (RLWE) at
the 128-bit parameters of :class:`~privstats.crypto.ckks.CkksParameters`.

- The **model holder** learns the number of records, the number of features and the CKKS
  parameters — nothing of the records' values: it sees only ciphertexts and a public
  context without the secret key. It learns no prediction.
- The **querier** learns the model's feature names, class labels and multiplicative depth
  (how many layers and the activation's degree), and for each of its records the class
  *scores* (logits), not just the label. Scores reveal much more than labels: with about
  as many well-chosen queries as the model has parameters (``(features + 1) × classes``
  for logistic regression) a querier can solve for the weights exactly, so repeated or
  bulk querying amounts to **model extraction**; scores also help membership inference
  against the model's training data. A deployment that must protect the model limits
  queries per querier or releases labels only (which this version does not do).
- No circuit privacy: result ciphertexts are not re-randomised or noise-flooded, so
  their CKKS noise, and the approximation error in the decrypted scores, may carry some
  further information about the weights to the secret-key holder.

A malicious model holder could return anything (wrong scores); a malicious querier could
send chosen inputs, which only gives it what chosen queries give. Both are out of scope.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.polynomial import polynomial as P  # noqa: N812 - numpy's own convention

from privstats.crypto import ckks
from privstats.crypto.ckks import CkksParameters
from privstats.errors import CryptoError, ParameterError, ProtocolError
from privstats.protocols._steps import Progress, no_progress, progress_counter
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "HePredictions",
    "ModelInfo",
    "PlainModel",
    "circuit_depth",
    "model_holder",
    "plaintext_scores",
    "querier",
    "receive_model_info",
]

CONTEXT_PART_BYTES = 8 * 1024 * 1024
MAX_CONTEXT_PARTS = 64
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Layer = tuple[FloatArray, FloatArray]


@message("he.model_info", 1)
class ModelInfo(Message):
    """What the model holder announces: enough for the querier to prepare its records."""

    n_features: int
    classes: list[str | int]
    feature_names: list[str] | None
    depth: int


@message("he.query", 1)
class Query(Message):
    records: int
    poly_modulus_degree: int
    coeff_mod_bit_sizes: list[int]
    scale_bits: int
    context_parts: int


@message("he.context_part", 1)
class ContextPart(Message):
    index: int
    data: bytes


@message("he.features", 1)
class Features(Message):
    batch: int
    feature: int
    ciphertext: bytes


@message("he.scores", 1)
class Scores(Message):
    batch: int
    index: int
    ciphertext: bytes


@dataclass(frozen=True)
class HePredictions:
    """The querier's output: class scores (logits) and the most probable class per record."""

    classes: tuple[str | int, ...]
    scores: FloatArray
    """Shape (records, classes): approximate logits, columns in ``classes`` order."""
    index: IntArray
    """Index into ``classes`` of each record's highest score."""

    @property
    def labels(self) -> list[str | int]:
        return [self.classes[i] for i in self.index.tolist()]


# ------------------------------------------------------------------ the model as a circuit


@dataclass(frozen=True)
class PlainModel:
    """The model holder's input: a dense classifier as plain numpy arrays.

    Layer ``l`` computes ``a @ weights[l] + biases[l]`` (weights of shape inputs × outputs);
    the hidden layers' outputs pass through the polynomial ``activation`` (coefficients,
    lowest degree first; None for an activation CKKS cannot evaluate, such as ReLU). With
    ``mean`` and ``scale`` the model expects standardised inputs ``(x − mean) / scale``;
    the circuit folds them into the first layer, so the querier sends raw features. The
    last layer's outputs are the class scores (logits), in ``classes`` order.
    """

    weights: tuple[FloatArray, ...]
    biases: tuple[FloatArray, ...]
    classes: tuple[str | int, ...]
    activation: tuple[float, ...] | None = None
    mean: FloatArray | None = None
    scale: FloatArray | None = None
    feature_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.weights or len(self.weights) != len(self.biases):
            raise ParameterError(
                f"a model needs one bias vector per weight matrix and at least one layer, got "
                f"{len(self.weights)} weight matrices and {len(self.biases)} bias vectors",
                parameter="model",
            )
        inputs = self.n_features
        for layer, (weights, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            if weights.ndim != 2 or weights.shape[0] != inputs or bias.shape != weights.shape[1:]:
                raise ParameterError(
                    f"layer {layer}: weights {weights.shape} and bias {bias.shape} do not "
                    f"follow {inputs} inputs",
                    parameter="model",
                )
            inputs = weights.shape[1]
        if inputs != len(self.classes) or len(self.classes) < 2:
            raise ParameterError(
                f"the last layer has {inputs} outputs for {len(self.classes)} classes",
                parameter="model",
            )
        if (self.mean is None) != (self.scale is None):
            raise ParameterError(
                "give both mean and scale (the standardizer) or neither", parameter="scale"
            )
        standardizer = [v for v in (self.mean, self.scale) if v is not None]
        if any(v.shape != (self.n_features,) for v in standardizer):
            raise ParameterError(
                f"mean and scale must have shape ({self.n_features},)", parameter="scale"
            )
        arrays = [*self.weights, *self.biases, *standardizer]
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise ParameterError("the model has non-finite values", parameter="model")
        if self.scale is not None and np.any(self.scale <= 0):
            raise ParameterError("scale must be positive", parameter="scale")
        if self.feature_names is not None and len(self.feature_names) != self.n_features:
            raise ParameterError(
                f"{len(self.feature_names)} feature names for {self.n_features} features",
                parameter="feature_names",
            )

    @property
    def n_features(self) -> int:
        return int(self.weights[0].shape[0])


def _circuit(model: PlainModel) -> tuple[list[Layer], tuple[float, ...] | None]:
    """The model's dense layers, standardizer folded into the first, and its activation."""
    if not isinstance(model, PlainModel):
        raise TypeError(f"model must be a PlainModel, not {type(model).__name__}")
    hidden = len(model.weights) > 1
    if hidden and model.activation is None:
        raise ParameterError(
            "a network whose hidden activation is not a polynomial (such as ReLU) cannot be "
            'evaluated under CKKS; train the MLP with activation="square" or "poly"',
            parameter="model",
        )
    layers: list[Layer] = list(zip(model.weights, model.biases, strict=True))
    if model.mean is not None and model.scale is not None:
        weights, bias = layers[0]
        folded = weights / model.scale[:, None]
        layers[0] = (folded, bias - model.mean @ folded)
    return layers, model.activation if hidden else None


def circuit_depth(model: PlainModel) -> int:
    """Multiplicative depth of ``model`` under CKKS (see the module docstring)."""
    layers, poly = _circuit(model)
    degree = 1 if poly is None else len(poly) - 1
    return len(layers) + (len(layers) - 1) * math.ceil(math.log2(degree))


def _powers(h: Any, degree: int) -> list[Any]:
    """``[h, h², …, h^degree]`` by ciphertext products of depth ⌈log₂ degree⌉."""
    powers = [h]
    for p in range(2, degree + 1):
        half = p // 2
        powers.append(
            powers[half - 1].square()
            if half == p - half
            else powers[half - 1] * powers[p - half - 1]
        )
    return powers


def _dense(inputs: Sequence[Any], weights: FloatArray, bias: FloatArray, fresh: Any) -> list[Any]:
    """``out_j = Σ_i weights[i, j]·inputs[i] + bias[j]``; zero weights are skipped."""
    outputs: list[Any] = []
    for j in range(weights.shape[1]):
        total = None
        for i, ct in enumerate(inputs):
            w = float(weights[i, j])
            if w:  # TenSEAL refuses a product by zero (it would be a transparent ciphertext)
                if total is None:
                    total = ct * w
                else:
                    total += ct * w
        outputs.append(fresh(float(bias[j])) if total is None else total + float(bias[j]))
    return outputs


# ------------------------------------------------------------------ the model holder


def model_holder(
    channel: Channel, peer: str, model: PlainModel, *, progress: Progress | None = None
) -> None:
    """Run the model holder's side: evaluate ``model`` on the querier's ciphertexts."""
    layers, poly = _circuit(model)
    depth = circuit_depth(model)
    report = progress or no_progress
    channel.send(
        peer,
        ModelInfo(
            model.n_features,
            list(model.classes),
            None if model.feature_names is None else list(model.feature_names),
            depth,
        ),
    )
    query = channel.recv(peer, Query)
    params = _check_query(query, depth, peer)
    parts = []
    for index in range(query.context_parts):
        part = channel.recv(peer, ContextPart)
        if part.index != index:
            raise ProtocolError(
                f"context part {part.index} arrived, {index} expected", peer=peer, step="context"
            )
        parts.append(part.data)
    try:
        context = ckks.load_public_context(b"".join(parts))
    except CryptoError as exc:
        raise ProtocolError(f"unusable context: {exc}", peer=peer, step="context") from exc

    def fresh_constant(size: int) -> Callable[[float], Any]:
        def encrypt(value: float) -> Any:
            data = ckks.encrypt_vector(context, np.full(size, value), slots=params.slots)
            return ckks.load_ciphertext(context, data)

        return encrypt

    n_batches = -(-query.records // params.slots)
    tick = progress_counter(report, "evaluate the model", query.records)
    for batch in range(n_batches):
        size = min(params.slots, query.records - batch * params.slots)
        inputs = [
            _receive_feature(channel, peer, context, batch, feature, size)
            for feature in range(model.n_features)
        ]
        try:
            outputs = _evaluate(inputs, layers, poly, fresh_constant(size))
            blobs = [ct.serialize() for ct in outputs]
        except (ValueError, RuntimeError) as exc:
            raise ProtocolError(
                f"the querier's ciphertexts do not fit the circuit: {exc}",
                peer=peer,
                step="evaluate",
            ) from exc
        for index, blob in enumerate(blobs):
            channel.send(peer, Scores(batch, index, blob))
        tick(size)


def _check_query(query: Query, depth: int, peer: str) -> CkksParameters:
    params = CkksParameters(
        query.poly_modulus_degree, tuple(query.coeff_mod_bit_sizes), query.scale_bits
    )
    try:
        params.validate()
    except ParameterError as exc:
        raise ProtocolError(
            f"the querier's CKKS parameters: {exc}", peer=peer, step="query"
        ) from exc
    if params.depth < depth:
        raise ProtocolError(
            f"the querier's CKKS parameters allow depth {params.depth}, the model needs {depth}",
            peer=peer,
            step="query",
        )
    if query.records < 1 or not 1 <= query.context_parts <= MAX_CONTEXT_PARTS:
        raise ProtocolError(
            f"invalid query: {query.records} records in {query.context_parts} context parts",
            peer=peer,
            step="query",
        )
    return params


def _receive_feature(
    channel: Channel, peer: str, context: Any, batch: int, feature: int, size: int
) -> Any:
    msg = channel.recv(peer, Features)
    if (msg.batch, msg.feature) != (batch, feature):
        raise ProtocolError(
            f"ciphertext of batch {msg.batch}, feature {msg.feature} arrived; batch {batch}, "
            f"feature {feature} expected",
            peer=peer,
            step="features",
        )
    try:
        return ckks.load_ciphertext(context, msg.ciphertext, size=size)
    except CryptoError as exc:
        raise ProtocolError(str(exc), peer=peer, step="features") from exc


def _evaluate(
    inputs: list[Any],
    layers: list[Layer],
    poly: tuple[float, ...] | None,
    fresh: Callable[[float], Any],
) -> list[Any]:
    weights, bias = layers[0]
    values = _dense(inputs, weights, bias, fresh)
    for weights, bias in layers[1:]:
        assert poly is not None  # _circuit refuses hidden layers without a polynomial
        degree = len(poly) - 1
        expanded = [power for h in values for power in _powers(h, degree)]
        # row (i, p) of the expanded weights multiplies h_i^p: c_p·W[i]
        folded = np.repeat(weights, degree, axis=0) * np.tile(poly[1:], len(values))[:, None]
        values = _dense(expanded, folded, bias + poly[0] * weights.sum(axis=0), fresh)
    return values


# ------------------------------------------------------------------ the querier


def receive_model_info(channel: Channel, peer: str) -> ModelInfo:
    """The querier's first step: the model holder's announcement of features and classes.

    Call it before reading the records when the features' names decide which columns to
    read, then pass the result to :func:`querier` as ``info``.
    """
    info = channel.recv(peer, ModelInfo)
    if info.n_features < 1 or len(info.classes) < 2 or info.depth < 1:
        raise ProtocolError("the model holder announced an invalid model", peer=peer, step="info")
    if info.feature_names is not None and len(info.feature_names) != info.n_features:
        raise ProtocolError(
            "the model holder announced feature names that do not match its feature count",
            peer=peer,
            step="info",
        )
    return info


def querier(
    channel: Channel,
    peer: str,
    x: npt.ArrayLike,
    *,
    info: ModelInfo | None = None,
    params: CkksParameters | None = None,
    progress: Progress | None = None,
) -> HePredictions:
    """Run the querier's side: encrypt raw records ``x``, return their scores and classes.

    ``x`` has one row per record and the model's features as columns, in its order (raw,
    not standardised). ``params`` defaults to :meth:`CkksParameters.for_depth` of the
    model's depth.
    """
    if info is None:
        info = receive_model_info(channel, peer)
    records = _records(x, info.n_features)
    params = params or CkksParameters.for_depth(info.depth)
    if params.depth < info.depth:
        raise ParameterError(
            f"params allow depth {params.depth}; the model needs {info.depth}",
            parameter="params",
        )
    report = progress or no_progress
    context = ckks.create_context(params)
    _send_query(channel, peer, len(records), params, ckks.public_context_bytes(context))
    n = len(records)
    n_classes = len(info.classes)
    scores = np.empty((n, n_classes))
    n_batches = -(-n // params.slots)
    encrypted = progress_counter(report, "encrypt records", n)
    decrypted = progress_counter(report, "decrypt scores", n)

    def receive(batch: int) -> None:
        rows = slice(batch * params.slots, min(n, (batch + 1) * params.slots))
        size = rows.stop - rows.start
        for index in range(n_classes):
            msg = channel.recv(peer, Scores)
            if (msg.batch, msg.index) != (batch, index):
                raise ProtocolError(
                    f"scores of batch {msg.batch}, class {msg.index} arrived; batch {batch}, "
                    f"class {index} expected",
                    peer=peer,
                    step="scores",
                )
            try:
                scores[rows, index] = ckks.decrypt_vector(context, msg.ciphertext, size=size)
            except CryptoError as exc:
                raise ProtocolError(str(exc), peer=peer, step="scores") from exc
        decrypted(size)

    # one batch ahead: the model holder works on batch b while batch b + 1 is encrypted
    for batch in range(n_batches):
        block = records[batch * params.slots : (batch + 1) * params.slots]
        for feature in range(info.n_features):
            blob = ckks.encrypt_vector(context, block[:, feature], slots=params.slots)
            channel.send(peer, Features(batch, feature, blob))
        encrypted(len(block))
        if batch:
            receive(batch - 1)
    receive(n_batches - 1)
    index = np.argmax(scores, axis=1).astype(np.int64)
    return HePredictions(tuple(info.classes), scores, index)


def _records(x: npt.ArrayLike, n_features: int) -> FloatArray:
    """The querier's records as a finite float64 matrix with the model's feature count."""
    records = np.asarray(x)
    if records.dtype.kind not in "iuf":
        raise TypeError(f"x must hold numbers, not {records.dtype}")
    records = records.astype(np.float64, copy=False)
    if records.ndim != 2 or records.shape[1] != n_features or not len(records):
        raise ParameterError(
            f"x must have shape (rows >= 1, {n_features}) for this model, got {records.shape}",
            parameter="x",
        )
    if not np.all(np.isfinite(records)):
        raise ParameterError("x has NaN or infinite values", parameter="x")
    return records


def _send_query(
    channel: Channel, peer: str, records: int, params: CkksParameters, public: bytes
) -> None:
    """The query and the public context (no secret key), in parts of bounded size."""
    parts = [public[i : i + CONTEXT_PART_BYTES] for i in range(0, len(public), CONTEXT_PART_BYTES)]
    channel.send(
        peer,
        Query(
            records,
            params.poly_modulus_degree,
            list(params.coeff_mod_bit_sizes),
            params.scale_bits,
            len(parts),
        ),
    )
    for index, part in enumerate(parts):
        channel.send(peer, ContextPart(index, part))


def plaintext_scores(model: PlainModel, x: npt.ArrayLike) -> FloatArray:
    """The logits the circuit computes, in plaintext float64 (for checks and tests)."""
    layers, poly = _circuit(model)
    values = np.asarray(x, dtype=np.float64)
    for number, (weights, bias) in enumerate(layers):
        if number:
            assert poly is not None
            values = np.asarray(P.polyval(values, poly), dtype=np.float64)
        values = values @ weights + bias
    return values
