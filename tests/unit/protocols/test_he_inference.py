"""Encrypted inference over the memory channel, against the plaintext model on the same data.

Proves: logistic regression under CKKS gives the plaintext predictions for every record;
square and poly MLPs agree on at least 99.9 % of records with scores within a small
tolerance; the standardizer is folded in correctly (raw features in); and what each party
receives fits the threat model — the model holder only a public context (no secret key)
and ciphertexts, the querier no weight in the clear.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.crypto import ckks
from privstats.crypto.ckks import CkksParameters
from privstats.errors import ComputationError, CryptoError, ParameterError
from privstats.jobs.he_inference import plain_model
from privstats.ml.models import MLP, LogisticRegression, Model, Standardizer, train_local
from privstats.protocols import he_inference as he
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

N_FEATURES = 20
CLASSES = ["walk", "sit", "stand", "lie"]


def _data(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(CLASSES), N_FEATURES))
    y = rng.integers(0, len(CLASSES), size=n)
    x = centres[y] + rng.normal(size=(n, N_FEATURES)) * 1.2
    return x * 4.0 + 50.0, y  # raw features: far from standardised


def _trained(model: Model, x: np.ndarray, y: np.ndarray) -> Model:
    return train_local(model, x, y, epochs=2, batch_size=64, lr=0.02, rng=np.random.default_rng(1))


def _run(model: Model, x: np.ndarray, *, record: bool = False) -> tuple[Any, MemoryNetwork]:
    net = MemoryNetwork(["querier", "model"], record=record)
    results = run_parties(
        net,
        {
            "querier": lambda ch: he.querier(ch, "model", x),
            "model": lambda ch: he.model_holder(ch, "querier", plain_model(model)),
        },
    )
    return results["querier"], net


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    # 4,500 records: two batches at N = 8192, the second partial
    return _data(4_500)


def test_logistic_regression_predictions_equal_plaintext(data) -> None:
    # Prepare
    x, y = data
    model = _trained(
        LogisticRegression(N_FEATURES, CLASSES, standardizer=Standardizer.fit(x)), x, y
    )
    # Execute
    predictions, _ = _run(model, x)
    # Assert
    np.testing.assert_array_equal(predictions.index, model.predict(x))
    logits = np.log(model.predict_proba(x))
    np.testing.assert_allclose(
        predictions.scores - predictions.scores.mean(axis=1, keepdims=True),
        logits - logits.mean(axis=1, keepdims=True),
        atol=1e-4,
    )
    assert predictions.labels[:3] == [CLASSES[i] for i in model.predict(x[:3])]


@pytest.mark.parametrize("activation", ["square", "poly"])
def test_mlp_agrees_with_plaintext(data, activation: str) -> None:
    # Prepare
    x, y = data
    model = _trained(
        MLP(
            N_FEATURES,
            CLASSES,
            rng=np.random.default_rng(2),
            hidden=(8,),
            activation=activation,
            standardizer=Standardizer.fit(x),
        ),
        x,
        y,
    )
    # Execute
    predictions, _ = _run(model, x)
    # Assert
    assert np.mean(predictions.index == model.predict(x)) >= 0.999
    np.testing.assert_allclose(
        predictions.scores, he.plaintext_scores(plain_model(model), x), atol=1e-2
    )


def test_circuit_folds_standardizer_and_polynomial() -> None:
    x, _ = _data(300)
    model = MLP(
        N_FEATURES,
        CLASSES,
        rng=np.random.default_rng(4),
        hidden=(5, 3),
        activation="poly",
        poly_coefficients=(0.1, 0.5, 0.2, 0.05),
        standardizer=Standardizer.fit(x),
    )
    logits = np.log(model.predict_proba(x))
    scores = he.plaintext_scores(plain_model(model), x)
    np.testing.assert_allclose(
        scores - scores.mean(axis=1, keepdims=True),
        logits - logits.mean(axis=1, keepdims=True),
        atol=1e-9,
    )
    assert he.circuit_depth(plain_model(model)) == 3 + 2 * 2  # three layers, two cubic activations


def test_deeper_cubic_network_under_ckks() -> None:
    # depth 5: N = 16384 parameters, cubic powers by ciphertext products
    x, _ = _data(200)
    model = MLP(
        N_FEATURES,
        CLASSES,
        rng=np.random.default_rng(4),
        hidden=(4,),
        activation="poly",
        poly_coefficients=(0.1, 0.5, 0.2, 0.05),
        standardizer=Standardizer.fit(x),
    )
    assert he.circuit_depth(plain_model(model)) == 4
    predictions, _ = _run(model, x)
    np.testing.assert_allclose(
        predictions.scores, he.plaintext_scores(plain_model(model), x), atol=1e-2
    )


def test_relu_network_is_refused() -> None:
    model = MLP(N_FEATURES, CLASSES, rng=np.random.default_rng(0), hidden=(4,))
    with pytest.raises(ParameterError, match="ReLU"):
        he.circuit_depth(plain_model(model))


def test_wrong_feature_count_fails_in_querier() -> None:
    x, _ = _data(10)
    model = LogisticRegression(N_FEATURES, CLASSES, rng=np.random.default_rng(0))
    with pytest.raises(ComputationError, match="querier"):
        _run(model, x[:, :5])


def test_threat_model_what_each_party_receives(data) -> None:
    # Prepare
    x, y = data
    x = x[:300]
    model = _trained(
        MLP(
            N_FEATURES,
            CLASSES,
            rng=np.random.default_rng(2),
            hidden=(8,),
            activation="square",
            standardizer=Standardizer.fit(x),
        ),
        x,
        y[:300],
    )
    # Execute
    predictions, net = _run(model, x, record=True)
    # Assert: the model holder got a public context (no secret key) and ciphertexts only
    to_model = [decode(frame) for _, frame in net.channel("model").received or []]
    kinds = [type(msg).__name__ for msg in to_model]
    assert kinds[0] == "Query" and set(kinds[1:]) == {"ContextPart", "Features"}
    context_bytes = b"".join(m.data for m in to_model if isinstance(m, he.ContextPart))
    public = ckks.load_public_context(context_bytes)
    assert not public.is_private()
    features = [m for m in to_model if isinstance(m, he.Features)]
    assert len(features) == N_FEATURES
    with pytest.raises(CryptoError):
        ckks.decrypt_vector(public, features[0].ciphertext)
    received = b"".join(frame for _, frame in net.channel("model").received or [])
    for value in x[:20].ravel():
        assert np.float64(value).tobytes() not in received
    # the querier got the model's announcement and score ciphertexts: no weight in clear
    to_querier = [frame for _, frame in net.channel("querier").received or []]
    kinds = [type(decode(frame)).__name__ for frame in to_querier]
    assert kinds[0] == "ModelInfo" and set(kinds[1:]) == {"Scores"}
    blob = b"".join(to_querier)
    params = model.get_params()
    for value in params[params != 0]:
        assert np.float64(value).tobytes() not in blob
    assert len(predictions.index) == 300


def test_secret_context_is_refused_as_public() -> None:
    secret = ckks.create_context(CkksParameters.for_depth(1))
    with pytest.raises(CryptoError, match="secret key"):
        ckks.load_public_context(secret.serialize(save_secret_key=True))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (CkksParameters(8192, (60, 40, 40, 40, 60)), "128-bit"),
        (CkksParameters(4096, (40, 20, 40)), "poly_modulus_degree"),
        (CkksParameters(8192, (60, 40, 60), scale_bits=50), "scale_bits"),
    ],
)
def test_insecure_or_broken_parameters_are_refused(params: CkksParameters, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        params.validate()


def test_parameters_for_depth_are_128_bit() -> None:
    for depth in range(1, 8):
        params = CkksParameters.for_depth(depth)
        params.validate()
        assert params.depth >= depth
        assert params.total_bits <= ckks.MAX_COEFF_MODULUS_BITS[params.poly_modulus_degree]
    with pytest.raises(ParameterError):
        CkksParameters.for_depth(8)


def test_plain_model_from_arrays_scores_like_numpy() -> None:
    """The protocol's input is plain arrays: a hand-made one-layer model scores as x·W + b."""
    rng = np.random.default_rng(5)
    weights, bias = rng.normal(size=(3, 2)), rng.normal(size=2)
    mean, scale = rng.normal(size=3), np.array([1.0, 2.0, 4.0])
    model = he.PlainModel((weights,), (bias,), ("a", "b"), mean=mean, scale=scale)
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(he.plaintext_scores(model, x), ((x - mean) / scale) @ weights + bias)
    assert he.circuit_depth(model) == 1


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"biases": ()}, "one bias vector per weight matrix"),
        ({"biases": (np.zeros(3),)}, "layer 0"),
        ({"classes": ("a", "b", "c")}, "2 outputs for 3 classes"),
        ({"mean": np.zeros(3)}, "both mean and scale"),
        ({"mean": np.zeros(2), "scale": np.ones(2)}, r"shape \(3,\)"),
        ({"mean": np.zeros(3), "scale": np.zeros(3)}, "scale must be positive"),
        ({"weights": (np.full((3, 2), np.nan),)}, "non-finite"),
        ({"feature_names": ("f1",)}, "1 feature names for 3 features"),
    ],
)
def test_plain_model_refuses_inconsistent_arrays(changes: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"weights": (np.ones((3, 2)),), "biases": (np.zeros(2),)}
    fields["classes"] = ("a", "b")
    with pytest.raises(ParameterError, match=match):
        he.PlainModel(**{**fields, **changes})


def test_protocol_module_does_not_import_ml() -> None:
    """Protocols are pure steps on plain inputs: the model arrives as arrays, not as ml's Model."""
    source = Path(he.__file__).read_text(encoding="utf-8")
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.startswith("privstats.ml")]
