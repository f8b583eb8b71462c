"""DP-SGD: accounting against reference values, noise distribution, clipping, training.

ε is checked against a value computed once with dp-accounting for the Abadi et al. MNIST
setting and against the published range for it, and, without subsampling, against an
independent computation of the Gaussian mechanism's Rényi DP. The CSPRNG noise passes a
Kolmogorov–Smirnov test; clipped contributions are bounded; without noise and with q = 1
DP-SGD is exactly full-batch clipped SGD; with noise it still learns separable blobs.

The noise and the sampling come from the OS CSPRNG and cannot be seeded, so the
statistical tests use thresholds that a correct implementation fails with probability
below 1e-6 (or 1e-4 for the KS p-value).
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest

from privstats.errors import MissingExtraError, ParameterError
from privstats.ml import LogisticRegression, Standardizer
from privstats.ml.dp import (
    DPConfig,
    PrivacyLedger,
    _poisson_sample,
    _uniforms,
    clip_rows,
    dp_sgd_report,
    epsilon,
    gaussian_noise,
    train_local_dp,
)
from privstats.ml.models import FloatArray, IntArray

CLASSES = ["walk", "sit", "run"]


def _blobs(
    rng: np.random.Generator, per_class: int = 100, n_features: int = 4
) -> tuple[FloatArray, IntArray]:
    centres = 10.0 + 5.0 * np.eye(len(CLASSES), n_features)
    x = np.concatenate([rng.normal(c, 1.0, size=(per_class, n_features)) for c in centres])
    y = np.repeat(np.arange(len(CLASSES)), per_class)
    return x, y


def _model(x: FloatArray) -> LogisticRegression:
    model = LogisticRegression(x.shape[1], CLASSES)
    model.standardizer = Standardizer.fit(x)
    return model


# --- accounting -----------------------------------------------------------------------

# Abadi et al. (2016) / TF Privacy MNIST tutorial: σ = 1.1, batch 256 of 60,000, 60 epochs.
MNIST_Q = 256 / 60_000
MNIST_STEPS = 60 * 60_000 // 256  # 14,062
MNIST_EPSILON = 2.5965558697943036  # dp-accounting 0.6.0 RdpAccountant, default orders


def test_epsilon_matches_the_mnist_reference() -> None:
    eps = epsilon(1.1, MNIST_Q, MNIST_STEPS, 1e-5)

    assert eps == pytest.approx(MNIST_EPSILON, rel=1e-6)
    # published: ≈ 3.0 with the classic RDP conversion (TF Privacy), ≈ 2.6 with the
    # improved one (Canonne, Kamath & Steinke 2020) that dp-accounting uses
    assert 2.5 < eps < 3.3


def test_epsilon_without_subsampling_is_the_gaussian_mechanism() -> None:
    # q = 1: each step is the Gaussian mechanism, RDP(α) = α/(2σ²), composing additively.
    # Reproduce dp-accounting's conversion (arXiv:2004.00010 Prop. 12) over its orders:
    #   ε = min_α  T·α/(2σ²) + log(1 − 1/α) − log(δ·α)/(α − 1)
    # and check it is below the classic bound min_α T·α/(2σ²) + log(1/δ)/(α − 1),
    # whose continuous minimum is c + 2√(c·log(1/δ)) with c = T/(2σ²).
    from dp_accounting.rdp.rdp_privacy_accountant import DEFAULT_RDP_ORDERS

    sigma, steps, delta = 5.0, 40, 1e-6
    orders = np.array([a for a in DEFAULT_RDP_ORDERS if a > 1.01])
    rdp = steps * orders / (2 * sigma**2)
    improved = np.min(rdp + np.log1p(-1 / orders) - np.log(delta * orders) / (orders - 1))
    c = steps / (2 * sigma**2)
    classic = c + 2 * math.sqrt(c * math.log(1 / delta))

    eps = epsilon(sigma, 1.0, steps, delta)

    assert eps == pytest.approx(improved, rel=1e-12)
    assert 0 < classic - eps < 1  # the improvement is a modest constant (here ≈ 0.62)


def test_epsilon_edge_cases_and_monotonicity() -> None:
    assert epsilon(1.0, 0.01, 0, 1e-5) == 0.0
    assert epsilon(0.0, 0.01, 10, 1e-5) == math.inf
    base = epsilon(1.0, 0.01, 1000, 1e-5)
    assert epsilon(1.0, 0.01, 2000, 1e-5) > base  # more steps
    assert epsilon(2.0, 0.01, 1000, 1e-5) < base  # more noise
    assert epsilon(1.0, 0.02, 1000, 1e-5) > base  # larger batches
    assert epsilon(1.0, 0.01, 1000, 1e-3) < base  # larger δ


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"noise_multiplier": -1.0}, "noise_multiplier"),
        ({"clip_norm": 0.0}, "clip_norm"),
        ({"sample_rate": 0.0}, "sample_rate"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"delta": 0.0}, "delta"),
        ({"delta": 1.0}, "delta"),
    ],
)
def test_dpconfig_rejects_bad_parameters(kwargs: dict[str, float], parameter: str) -> None:
    values = {"noise_multiplier": 1.0, "clip_norm": 1.0, "sample_rate": 0.1, "delta": 1e-5}

    with pytest.raises(ParameterError) as info:
        DPConfig(**(values | kwargs))

    assert info.value.parameter == parameter


def test_ledger_composes_rounds_like_one_run() -> None:
    config = DPConfig(noise_multiplier=1.1, clip_norm=1.0, sample_rate=MNIST_Q, delta=1e-5)
    ledger = PrivacyLedger(config)

    spent = [ledger.record(MNIST_STEPS // 2), ledger.record(0), ledger.record(MNIST_STEPS // 2)]

    assert ledger.steps == MNIST_STEPS
    assert spent[0] == spent[1] < spent[2]
    assert spent[2] == pytest.approx(MNIST_EPSILON, rel=1e-6)
    assert ledger.epsilon == spent[2] == config.epsilon(MNIST_STEPS)
    assert ledger.history == [
        (MNIST_STEPS // 2, spent[0]),
        (MNIST_STEPS // 2, spent[1]),
        (MNIST_STEPS, spent[2]),
    ]


# --- randomness -----------------------------------------------------------------------


def test_the_noise_and_sampling_are_disclosure_dps() -> None:
    # moved to privstats.disclosure.dp (tested in tests/unit/disclosure/test_dp.py); the
    # old names stay importable from here and are the same functions
    from privstats.disclosure import dp as samplers

    assert gaussian_noise is samplers.gaussian_noise
    assert _uniforms is samplers.uniforms
    assert _poisson_sample is samplers.poisson_sample


# --- clipping -------------------------------------------------------------------------


def test_clipping_bounds_every_contribution_and_keeps_short_rows() -> None:
    rng = np.random.default_rng(3)
    grads = rng.normal(0.0, 1.0, size=(500, 12)) * rng.uniform(0.0, 3.0, size=(500, 1))
    grads[0] = 0.0
    norms = np.linalg.norm(grads, axis=1)

    clipped = clip_rows(grads, 1.5)

    assert np.all(np.linalg.norm(clipped, axis=1) <= 1.5 * (1 + 1e-12))
    short = norms <= 1.5
    np.testing.assert_array_equal(clipped[short], grads[short])
    # long rows keep their direction
    cosine = np.sum(clipped[~short] * grads[~short], axis=1) / (1.5 * norms[~short])
    np.testing.assert_allclose(cosine, 1.0, rtol=1e-12)


# --- training -------------------------------------------------------------------------


def _clipped_sgd(
    model: LogisticRegression,
    x: FloatArray,
    y: IntArray,
    subjects: IntArray | None,
    *,
    steps: int,
    lr: float,
    clip: float,
) -> FloatArray:
    """Full-batch SGD on the mean of clipped per-unit gradients, written out plainly."""
    params = model.get_params()
    for _ in range(steps):
        model.set_params(params)
        grads = model.per_example_gradients(x, y)
        units = (
            list(grads)
            if subjects is None
            else [grads[subjects == s].sum(axis=0) for s in np.unique(subjects)]
        )
        total = np.zeros_like(params)
        for g in units:
            norm = float(np.sqrt(g @ g))
            total += g if norm <= clip else g * (clip / norm)
        params = params - lr * total / len(units)
    return params


@pytest.mark.parametrize("by_subject", [False, True])
def test_without_noise_and_sampling_dp_sgd_is_clipped_sgd(by_subject: bool) -> None:
    rng = np.random.default_rng(5)
    x, y = _blobs(rng, per_class=10)
    subjects = rng.integers(0, 8, size=len(y)) if by_subject else None
    expected = _clipped_sgd(_model(x), x, y, subjects, steps=15, lr=0.5, clip=0.3)

    model, steps = train_local_dp(
        _model(x),
        x,
        y,
        lr=0.5,
        clip_norm=0.3,
        noise_multiplier=0.0,
        sample_rate=1.0,
        steps=15,
        subjects=subjects,
    )

    assert steps == 15
    np.testing.assert_allclose(model.get_params(), expected, rtol=1e-10, atol=1e-12)


def test_one_record_per_subject_is_record_level_dp_sgd() -> None:
    rng = np.random.default_rng(6)
    x, y = _blobs(rng, per_class=5)
    common = {"lr": 0.3, "clip_norm": 0.5, "noise_multiplier": 0.0, "sample_rate": 1.0}

    by_record, _ = train_local_dp(_model(x), x, y, steps=5, **common)
    ids = np.array([f"person-{i}" for i in range(len(y))])
    by_subject, _ = train_local_dp(_model(x), x, y, steps=5, subjects=ids, **common)

    np.testing.assert_allclose(by_subject.get_params(), by_record.get_params(), rtol=1e-12)


def test_dp_sgd_with_noise_still_learns_separable_blobs() -> None:
    rng = np.random.default_rng(11)
    x, y = _blobs(rng, per_class=100)
    q = 0.1  # expected batch 30; noise std per coordinate σC/(qn) ≈ 0.033

    model, steps = train_local_dp(
        _model(x), x, y, lr=1.0, clip_norm=1.0, noise_multiplier=1.0, sample_rate=q, epochs=10
    )

    assert steps == 100  # ⌈epochs / q⌉
    assert np.mean(model.predict(x) == y) > 0.9  # chance is 1/3
    assert 0 < epsilon(1.0, q, steps, 1e-5) < math.inf


def test_train_local_dp_validates_its_arguments() -> None:
    rng = np.random.default_rng(2)
    x, y = _blobs(rng, per_class=3)
    common = {"lr": 0.1, "clip_norm": 1.0, "noise_multiplier": 1.0, "sample_rate": 0.5}

    with pytest.raises(ParameterError, match="exactly one of steps and epochs"):
        train_local_dp(_model(x), x, y, **common)
    with pytest.raises(ParameterError, match="exactly one of steps and epochs"):
        train_local_dp(_model(x), x, y, steps=1, epochs=1, **common)
    with pytest.raises(ParameterError) as info:
        train_local_dp(_model(x), x, y, steps=1, subjects=[1, 2], **common)
    assert info.value.parameter == "subjects"
    with pytest.raises(TypeError, match="privstats Model"):
        train_local_dp(object(), x, y, steps=1, **common)  # type: ignore[type-var]


def test_divergence_is_reported() -> None:
    rng = np.random.default_rng(4)
    x, y = _blobs(rng, per_class=3)

    # noise of std ≈ 11 per coordinate, times lr, overflows float64
    with pytest.raises(ParameterError, match="diverged") as info:
        train_local_dp(
            _model(x),
            x,
            y,
            lr=1e308,
            clip_norm=1.0,
            noise_multiplier=100.0,
            sample_rate=1.0,
            steps=3,
        )
    assert info.value.parameter == "lr"


def test_the_accountants_non_convergence_warning_stays_out_of_the_output(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # these parameters make dp-accounting give up on some fractional orders (σ = 1, q ≈ 0.21)
    spent = epsilon(1.0, 32 / 150, 150, 1e-5)
    assert 0 < spent < math.inf
    assert "failed to converge" not in capfd.readouterr().err
    assert not [r for r in caplog.records if "failed to converge" in r.getMessage()]
    # other warnings of the same logger still reach the user
    logging.getLogger("absl").warning("something else went wrong")
    assert "something else went wrong" in caplog.text


def test_without_the_ml_extra_the_accountant_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dp_accounting", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'privstats\[ml\]'"):
        epsilon(1.0, 0.1, 10, 1e-5)


# --- report ---------------------------------------------------------------------------


def test_the_dp_sgd_report_carries_federated_trainings_keys() -> None:
    config = DPConfig(noise_multiplier=1.1, clip_norm=1.0, sample_rate=0.01, delta=1e-5)
    spent = config.epsilon(500)

    report = dp_sgd_report(
        spent,
        1e-5,
        unit="one respondent",
        outside_epsilon=["records: the exact number of training records"],
        config=config,
        steps=500,
    )
    out = report.to_dict()

    assert out["epsilon"] == spent and out["delta"] == 1e-5  # fl_train's keys and values
    assert out["outside_epsilon"] == ["records: the exact number of training records"]
    assert out["steps"] == 500 and out["sample_rate"] == 0.01
    assert out["noise_multiplier"] == 1.1 and out["clip_norm"] == 1.0
    assert "500 steps" in out["accounting"] and "RDP" in out["accounting"]
    assert out["unit"] == "one respondent"
    assert out["neighbouring"] == "add or remove one respondent"
    assert "respondent" in str(report)
    bare = dp_sgd_report(0.0, 1e-5).to_dict()  # no step taken: nothing spent
    assert bare["epsilon"] == 0.0 and "steps" not in bare
