"""Flat-parameter models: exact gradients, learning, serialisation and pooled scaling.

Gradients are checked against central finite differences of the loss; per-example
gradients against the batch gradient; training against accuracy on separable blobs;
``Standardizer.from_sums`` against ``fit`` and against numpy's mean and std.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from privstats.errors import DatasetError, ParameterError
from privstats.ml import MLP, LogisticRegression, Model, Standardizer, train_local
from privstats.ml.models import FloatArray, IntArray

CLASSES = ["walk", "sit", "run"]


def _blobs(
    rng: np.random.Generator, per_class: int = 100, n_features: int = 4
) -> tuple[FloatArray, IntArray]:
    # unit-variance blobs around 10 + 5·e_c: centres 7 standard deviations apart
    centres = 10.0 + 5.0 * np.eye(len(CLASSES), n_features)
    x = np.concatenate([rng.normal(c, 1.0, size=(per_class, n_features)) for c in centres])
    y = np.repeat(np.arange(len(CLASSES)), per_class)
    return x, y


ModelFactory = Callable[[int, np.random.Generator], Model]

FACTORIES: dict[str, ModelFactory] = {
    "logreg": lambda d, rng: LogisticRegression(d, CLASSES, rng=rng),
    "mlp-relu": lambda d, rng: MLP(d, CLASSES, rng=rng, hidden=(6, 5)),
    "mlp-square": lambda d, rng: MLP(d, CLASSES, rng=rng, hidden=(6, 5), activation="square"),
    "mlp-poly": lambda d, rng: MLP(d, CLASSES, rng=rng, hidden=(6,), activation="poly"),
}


@pytest.fixture(params=sorted(FACTORIES))
def model_with_data(request: pytest.FixtureRequest) -> tuple[Model, FloatArray, IntArray]:
    rng = np.random.default_rng(7)
    x, y = _blobs(rng, per_class=4)
    model = FACTORIES[request.param](x.shape[1], rng)
    model.standardizer = Standardizer.fit(x)
    model.set_params(model.get_params() + rng.normal(0.0, 0.3, model.n_params))
    return model, x, y


# --- Standardizer -------------------------------------------------------------------


def test_standardizer_from_sums_equals_fit_and_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(50, 3))

    fitted = Standardizer.fit(x)
    pooled = Standardizer.from_sums(50, x.sum(axis=0), (x**2).sum(axis=0))
    parts = [x[:20], x[20:]]
    summed = Standardizer.from_sums(
        50, sum(p.sum(axis=0) for p in parts), sum((p**2).sum(axis=0) for p in parts)
    )

    np.testing.assert_array_equal(pooled.mean, fitted.mean)
    np.testing.assert_array_equal(pooled.scale, fitted.scale)
    np.testing.assert_allclose(summed.transform(x), fitted.transform(x), rtol=1e-12)
    np.testing.assert_allclose(fitted.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted.scale, x.std(axis=0), rtol=1e-10)


def test_standardizer_gives_constant_features_scale_one() -> None:
    big = 1e6 + 0.1  # constant, but its sums of squares do not cancel exactly in float64
    x = np.array([[1.0, big, 0.0], [3.0, big, 0.0], [5.0, big, 0.0]])

    standardizer = Standardizer.fit(x)
    z = standardizer.transform(x)

    np.testing.assert_array_equal(standardizer.scale[1:], [1.0, 1.0])
    np.testing.assert_allclose(z[:, 1:], 0.0, atol=1e-9)
    np.testing.assert_allclose(z[:, 0], [-(1.5**0.5), 0.0, 1.5**0.5])


def test_standardizer_refuses_bad_statistics() -> None:
    with pytest.raises(ParameterError, match="count"):
        Standardizer.from_sums(0, [1.0], [1.0])
    with pytest.raises(ParameterError, match="sums_sq"):
        Standardizer.from_sums(2, [1.0, 2.0], [1.0])
    with pytest.raises(ParameterError, match="negative"):
        Standardizer.from_sums(2, [1.0], [-1.0])
    with pytest.raises(ParameterError, match="NaN"):
        Standardizer.fit([[1.0], [np.nan]])


# --- gradients ----------------------------------------------------------------------


def test_gradient_matches_finite_differences(
    model_with_data: tuple[Model, FloatArray, IntArray],
) -> None:
    model, x, y = model_with_data
    params = model.get_params()

    def loss_at(w: FloatArray) -> float:
        model.set_params(w)
        return model.gradient(x, y, l2=0.1)[0]

    loss, grad = model.gradient(x, y, l2=0.1)
    eps = 1e-6
    numeric = np.array(
        [
            (loss_at(params + eps * e) - loss_at(params - eps * e)) / (2 * eps)
            for e in np.eye(model.n_params)
        ]
    )

    assert loss == pytest.approx(loss_at(params))
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_per_example_gradients_average_to_the_batch_gradient(
    model_with_data: tuple[Model, FloatArray, IntArray],
) -> None:
    model, x, y = model_with_data

    per_example = model.per_example_gradients(x, y)
    _, batch = model.gradient(x, y)

    assert per_example.shape == (len(x), model.n_params)
    np.testing.assert_allclose(per_example.mean(axis=0), batch, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(per_example[2], model.gradient(x[2:3], y[2:3])[1], rtol=1e-10)


def test_l2_penalises_weights_but_not_biases() -> None:
    model = LogisticRegression(2, CLASSES)
    model.set_params(np.arange(1.0, 10.0))  # W: 6 values, then b: 3 values
    x, y = np.zeros((1, 2)), np.array([0])

    loss0, grad0 = model.gradient(x, y)
    loss, grad = model.gradient(x, y, l2=2.0)

    assert loss - loss0 == pytest.approx(sum(w * w for w in range(1, 7)))
    np.testing.assert_allclose(grad - grad0, [2.0 * w for w in range(1, 7)] + [0.0] * 3)


def test_softmax_is_stable_for_huge_logits() -> None:
    model = LogisticRegression(1, ["a", "b"])
    model.set_params([1e300, -1e300, 0.0, 0.0])

    proba = model.predict_proba([[1.0], [-1.0]])
    loss, grad = model.gradient([[1.0]], [1])

    np.testing.assert_array_equal(proba, [[1.0, 0.0], [0.0, 1.0]])
    assert np.isfinite(loss) and np.all(np.isfinite(grad))


def test_polynomial_activation_is_exposed_for_encrypted_inference() -> None:
    rng = np.random.default_rng(0)

    assert MLP(2, CLASSES, rng=rng, activation="square").poly_coefficients == (0.0, 0.0, 1.0)
    assert MLP(2, CLASSES, rng=rng, activation="poly").poly_coefficients == (0.0, 0.5, 0.25)
    custom = MLP(2, CLASSES, rng=rng, activation="poly", poly_coefficients=[0.1, 1.0, 0.0, 0.2])
    assert custom.poly_coefficients == (0.1, 1.0, 0.0, 0.2)
    assert MLP(2, CLASSES, rng=rng).poly_coefficients is None


# --- training -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "lr"),
    [
        (lambda rng: LogisticRegression(4, CLASSES), 0.5),
        (lambda rng: MLP(4, CLASSES, rng=rng, hidden=(16,)), 0.1),
        (lambda rng: MLP(4, CLASSES, rng=rng, hidden=(16,), activation="poly"), 0.05),
        (lambda rng: MLP(4, CLASSES, rng=rng, hidden=(16,), activation="square"), 0.02),
    ],
    ids=["logreg", "mlp-relu", "mlp-poly", "mlp-square"],
)
def test_training_separates_gaussian_blobs(
    make: Callable[[np.random.Generator], Model], lr: float
) -> None:
    rng = np.random.default_rng(3)
    x, y = _blobs(rng, per_class=150)
    test_x, test_y = x[1::2], y[1::2]
    model = make(rng)
    model.standardizer = Standardizer.fit(x[0::2])
    loss_before = model.gradient(x[0::2], y[0::2])[0]

    train_local(model, x[0::2], y[0::2], epochs=20, batch_size=16, lr=lr, l2=1e-4, rng=rng)

    assert model.gradient(x[0::2], y[0::2])[0] < loss_before
    assert np.mean(model.predict(test_x) == test_y) >= 0.95


def test_train_local_takes_the_fedprox_step() -> None:
    rng = np.random.default_rng(5)
    x, y = _blobs(rng, per_class=5)
    model = MLP(4, CLASSES, rng=rng, hidden=(3,), standardizer=Standardizer.fit(x))
    w0 = model.get_params()
    center = w0 + 1.0
    _, grad = model.gradient(x, y, l2=0.01)

    train_local(
        model, x, y, epochs=1, batch_size=len(x), lr=0.1, l2=0.01, rng=rng,
        prox_mu=0.5, prox_center=center,
    )  # fmt: skip

    np.testing.assert_allclose(model.get_params(), w0 - 0.1 * (grad + 0.5 * (w0 - center)))


def test_train_local_reports_divergence() -> None:
    rng = np.random.default_rng(0)
    x, y = _blobs(rng, per_class=20)
    model = MLP(4, CLASSES, rng=rng, hidden=(8,), activation="square")

    with pytest.raises(ParameterError, match="diverged"):
        train_local(model, x * 1e3, y, epochs=50, batch_size=4, lr=10.0, rng=rng)


# --- serialisation ------------------------------------------------------------------


def test_save_and_load_give_identical_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    x, y = _blobs(rng, per_class=30)
    model = MLP(
        4,
        CLASSES,
        rng=rng,
        hidden=(5, 4),
        activation="poly",
        poly_coefficients=[0.0, 0.5, 0.25],
        feature_names=["a", "b", "c", "d"],
        standardizer=Standardizer.fit(x),
    )
    train_local(model, x, y, epochs=2, batch_size=8, lr=0.05, rng=rng)
    path = tmp_path / "model.json"

    model.save(path)
    loaded = Model.load(path)

    assert isinstance(loaded, MLP)
    assert loaded.to_dict() == model.to_dict()
    assert loaded.classes == ("walk", "sit", "run")
    assert loaded.feature_names == ("a", "b", "c", "d")
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert json.loads(path.read_text())["kind"] == "mlp"


def test_logistic_regression_round_trips_with_integer_classes() -> None:
    model = LogisticRegression(3, [0, 1, 7], rng=np.random.default_rng(2))

    loaded = LogisticRegression.from_dict(json.loads(json.dumps(model.to_dict())))

    assert loaded.classes == (0, 1, 7)
    np.testing.assert_array_equal(loaded.get_params(), model.get_params())


def test_from_dict_refuses_other_kinds_and_bad_descriptions(tmp_path: Path) -> None:
    mlp = MLP(2, CLASSES, rng=np.random.default_rng(0)).to_dict()

    with pytest.raises(ParameterError, match="not a LogisticRegression"):
        LogisticRegression.from_dict(mlp)
    with pytest.raises(ParameterError, match="unknown model kind"):
        Model.from_dict({**mlp, "kind": "forest"})
    with pytest.raises(ParameterError, match="version"):
        Model.from_dict({**mlp, "version": 99})
    with pytest.raises(ParameterError, match="params"):
        Model.from_dict({**mlp, "params": [0.0]})
    with pytest.raises(ParameterError, match="lacks"):
        Model.from_dict({k: v for k, v in mlp.items() if k != "hidden"})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"bad\.json") as caught:
        Model.load(tmp_path / "bad.json")
    assert caught.value.path == str(tmp_path / "bad.json")
    with pytest.raises(DatasetError, match="cannot read"):
        Model.load(tmp_path / "missing.json")


# --- validation at the edge ---------------------------------------------------------


def test_arguments_are_checked_and_named() -> None:
    rng = np.random.default_rng(0)
    model = MLP(3, CLASSES, rng=rng)

    with pytest.raises(ParameterError, match=r"shape \(rows, 3\)"):
        model.predict(np.zeros((2, 4)))
    with pytest.raises(ParameterError, match="y_index values"):
        model.gradient(np.zeros((2, 3)), [0, 3])
    with pytest.raises(TypeError, match="y_index"):
        model.gradient(np.zeros((2, 3)), [0.0, 1.0])
    with pytest.raises(ParameterError, match="params"):
        model.set_params(np.zeros(model.n_params + 1))
    with pytest.raises(ParameterError, match="activation"):
        MLP(3, CLASSES, rng=rng, activation="tanh")
    with pytest.raises(ParameterError, match="poly_coefficients"):
        MLP(3, CLASSES, rng=rng, poly_coefficients=[0.0, 1.0])
    with pytest.raises(ParameterError, match="hidden"):
        MLP(3, CLASSES, rng=rng, hidden=())
    with pytest.raises(ParameterError, match="distinct"):
        LogisticRegression(3, ["a", "a"])
    with pytest.raises(ParameterError, match="standardizer"):
        LogisticRegression(3, CLASSES, standardizer=Standardizer.fit(np.zeros((2, 2))))
    with pytest.raises(ParameterError, match="lr"):
        train_local(model, np.zeros((2, 3)), [0, 1], epochs=1, batch_size=1, lr=0.0, rng=rng)
    with pytest.raises(ParameterError, match="prox_center"):
        train_local(
            model, np.zeros((2, 3)), [0, 1], epochs=1, batch_size=1, lr=0.1, rng=rng,
            prox_mu=1.0, prox_center=np.zeros(3),
        )  # fmt: skip
