"""DP primitives: the samplers' distributions, the zCDP conversions and the RDP accountant.

The noise comes from OpenDP and the OS CSPRNG and cannot be seeded, so every statistical
test uses a threshold that a correct sampler fails with probability below about 1e-6 per
check (1e-4 for the KS p-value): a variance is compared with the exact one of the
distribution, computed from its probability mass function, within 6 standard errors of
the sample variance (``√((μ₄ − σ⁴)/n)``) on a fixed number of draws.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from privstats.disclosure.accounting import (
    SubsampledGaussianAccountant,
    noise_multiplier_for_epsilon,
    require_accountant,
    rho_for_epsilon,
    subsampled_gaussian_epsilon,
    zcdp_epsilon,
    zcdp_epsilon_bound,
)
from privstats.disclosure.dp import (
    discrete_gaussian,
    discrete_laplace,
    gaussian_noise,
    noisy_argmax,
    poisson_sample,
    require_opendp,
    uniforms,
)
from privstats.errors import MissingExtraError, ParameterError

DRAWS = 4_000  # per variance check
SLOW = settings(max_examples=15, deadline=None)


def _moments(weights: np.ndarray, support: np.ndarray) -> tuple[float, float]:
    """Variance and fourth central moment of the symmetric pmf ∝ ``weights`` on ``support``."""
    pmf = weights / weights.sum()
    return float(pmf @ support.astype(float) ** 2), float(pmf @ support.astype(float) ** 4)


def _assert_variance(noisy: np.ndarray, variance: float, fourth: float) -> None:
    standard_error = math.sqrt((fourth - variance**2) / noisy.size)
    observed = float(np.mean(noisy.astype(float) ** 2))  # the mean is 0
    assert abs(observed - variance) < 6 * standard_error, (observed, variance)


# --- OpenDP samplers -------------------------------------------------------------------


def test_discrete_gaussian_noise_has_the_discrete_gaussian_distribution() -> None:
    sigma, draws = 3.0, 20_000
    noisy, rho = discrete_gaussian(np.zeros(draws, dtype=np.int64), sigma)
    assert noisy.dtype == np.int64 and noisy.shape == (draws,)
    assert rho == pytest.approx(1.0 / (2.0 * sigma**2), rel=1e-12)

    # chi-square against the discrete Gaussian pmf ∝ exp(−x²/2σ²) on −9..9, tails pooled
    support = np.arange(-60, 61)
    pmf = np.exp(-(support**2) / (2.0 * sigma**2))
    pmf /= pmf.sum()
    inner = np.arange(-9, 10)
    expected = [pmf[support < -9].sum()] + [pmf[support == k][0] for k in inner]
    expected += [pmf[support > 9].sum()]
    observed = [np.sum(noisy < -9)] + [np.sum(noisy == k) for k in inner]
    observed += [np.sum(noisy > 9)]
    _, p_value = stats.chisquare(observed, np.array(expected) * draws)
    assert p_value > 1e-6

    # variance σ² within 5% (its standard error is √(2/n) ≈ 1%), mean 0 within 5 SE
    variance = float(np.mean(noisy.astype(float) ** 2))
    assert variance == pytest.approx(sigma**2, rel=0.05)
    assert abs(float(noisy.mean())) < 5 * sigma / math.sqrt(draws)


@SLOW
@given(sigma=st.floats(min_value=0.5, max_value=50.0))
def test_discrete_gaussian_is_integer_with_the_theoretical_variance(sigma: float) -> None:
    noisy, rho = discrete_gaussian(np.zeros(DRAWS, dtype=np.int64), sigma)

    assert noisy.dtype == np.int64 and noisy.shape == (DRAWS,)
    assert rho == pytest.approx(1.0 / (2.0 * sigma**2), rel=1e-9)
    support = np.arange(-math.ceil(40 * sigma) - 10, math.ceil(40 * sigma) + 11)
    _assert_variance(noisy, *_moments(np.exp(-(support**2) / (2.0 * sigma**2)), support))


@SLOW
@given(scale=st.floats(min_value=0.5, max_value=50.0))
def test_discrete_laplace_is_integer_with_the_theoretical_variance(scale: float) -> None:
    noisy, epsilon = discrete_laplace(np.zeros(DRAWS, dtype=np.int64), scale)

    assert noisy.dtype == np.int64 and noisy.shape == (DRAWS,)
    assert epsilon == pytest.approx(1.0 / scale, rel=1e-9)
    support = np.arange(-math.ceil(60 * scale) - 10, math.ceil(60 * scale) + 11)
    weights = np.exp(-np.abs(support) / scale)
    variance, fourth = _moments(weights, support)
    closed_form = 2 * math.exp(-1 / scale) / (1 - math.exp(-1 / scale)) ** 2
    assert variance == pytest.approx(closed_form, rel=1e-9)
    _assert_variance(noisy, variance, fourth)


def test_noise_is_added_to_the_counts_and_is_not_reproducible() -> None:
    counts = np.full(5_000, 100, dtype=np.int64)
    first, _ = discrete_gaussian(counts, 2.0)
    second, _ = discrete_gaussian(counts, 2.0)
    assert abs(float(first.mean()) - 100.0) < 5 * 2.0 / math.sqrt(5_000)
    assert not np.array_equal(first, second)
    third, _ = discrete_laplace(counts, 2.0)
    assert abs(float(third.mean()) - 100.0) < 5 * 2.9 / math.sqrt(5_000)  # sd ≈ 2.83


def test_noisy_argmax_picks_a_clear_winner_and_accounts_rho() -> None:
    index, rho = noisy_argmax(np.array([0.0, 5.0, 1e6, 3.0]), 0.5)
    assert index == 2
    assert rho == pytest.approx(0.5, rel=1e-9)


def test_noisy_argmax_among_equal_scores_is_uniform() -> None:
    picks = np.bincount([noisy_argmax([1.0, 1.0, 1.0], 0.1)[0] for _ in range(600)], minlength=3)
    _, p_value = stats.chisquare(picks)
    assert p_value > 1e-6


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: discrete_gaussian([1, 2], 0.0), "sigma"),
        (lambda: discrete_gaussian([1, 2], math.inf), "sigma"),
        (lambda: discrete_laplace([1, 2], -1.0), "scale"),
        (lambda: noisy_argmax([1.0], 0.0), "rho"),
        (lambda: noisy_argmax([], 0.1), "scores"),
        (lambda: noisy_argmax([1.0, math.nan], 0.1), "scores"),
    ],
)
def test_samplers_reject_bad_parameters(call: object, parameter: str) -> None:
    with pytest.raises(ParameterError) as info:
        call()  # type: ignore[operator]
    assert info.value.parameter == parameter


def test_without_opendp_the_error_names_the_purpose_and_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opendp", None)
    monkeypatch.setitem(sys.modules, "opendp.prelude", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'privstats\[synth\]'"):
        discrete_gaussian([1], 1.0)
    with pytest.raises(MissingExtraError, match=r"^noisy tables needs the 'synth' extra"):
        require_opendp("noisy tables")


# --- the OS CSPRNG ---------------------------------------------------------------------


def test_uniforms_are_53_bit_values_in_the_half_open_unit_interval() -> None:
    u = uniforms(10_000)

    assert u.min() > 0 and u.max() <= 1
    assert np.all(u * 2.0**53 == np.round(u * 2.0**53))
    assert len(np.unique(u)) == u.size  # 53 random bits: collisions are astronomically rare


@pytest.mark.slow
def test_gaussian_noise_passes_a_ks_test() -> None:
    sigma = 2.5
    samples = gaussian_noise((100, 200), sigma)

    assert samples.shape == (100, 200)
    result = stats.kstest(samples.ravel(), "norm", args=(0.0, sigma))
    assert result.pvalue > 1e-4
    # mean and variance within 5 standard errors
    n = samples.size
    assert abs(samples.mean()) < 5 * sigma / math.sqrt(n)
    assert abs(samples.var() / sigma**2 - 1) < 5 * math.sqrt(2 / n)


def test_gaussian_noise_shapes_and_zero_sigma() -> None:
    assert gaussian_noise(7, 1.0).shape == (7,)  # odd size: one Box–Muller value unused
    assert gaussian_noise(0, 1.0).shape == (0,)
    np.testing.assert_array_equal(gaussian_noise((2, 3), 0.0), np.zeros((2, 3)))
    with pytest.raises(ParameterError):
        gaussian_noise(3, -1.0)


def test_poisson_sampling_takes_each_unit_with_probability_q() -> None:
    n, q = 200_000, 0.05
    taken = int(poisson_sample(n, q).sum())

    assert abs(taken - n * q) < 5 * math.sqrt(n * q * (1 - q))
    assert poisson_sample(1000, 1.0).all()
    assert not poisson_sample(1000, 0.0).any()
    with pytest.raises(ParameterError):
        poisson_sample(10, 1.5)


# --- zCDP ------------------------------------------------------------------------------

# δ well below √(ρ/π): at larger δ the (ε, δ) curve of ρ-zCDP reaches ε = 0 (and ε < ρ)
rhos = st.floats(min_value=1e-4, max_value=10.0)
deltas = st.floats(min_value=1e-12, max_value=1e-3)


@settings(max_examples=25, deadline=None)
@given(rho=rhos, factor=st.floats(min_value=1.01, max_value=10.0), delta=deltas)
def test_zcdp_epsilon_grows_with_rho_and_shrinks_with_delta(
    rho: float, factor: float, delta: float
) -> None:
    epsilon = zcdp_epsilon(rho, delta)

    assert 0 < epsilon < zcdp_epsilon(rho * factor, delta)
    assert zcdp_epsilon(rho, delta / factor) > epsilon
    # OpenDP's optimal conversion is never looser than Bun & Steinke's simple bound
    assert epsilon <= zcdp_epsilon_bound(rho, delta) * (1 + 1e-9)
    assert rho <= epsilon  # ε ≥ ρ at such δ (the search's upper end relies on it)


def test_zcdp_epsilon_of_nothing_is_zero_and_delta_is_checked() -> None:
    assert zcdp_epsilon(0.0, 1e-9) == 0.0 == zcdp_epsilon_bound(0.0, 1e-9)
    assert zcdp_epsilon(0.004, 0.0625) == 0.0  # δ above the loss's tail mass: no ε needed
    for delta in (0.0, 1.0, math.nan):
        with pytest.raises(ParameterError):
            zcdp_epsilon(0.1, delta)


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(
    epsilon=st.floats(min_value=0.05, max_value=10.0),
    delta=st.sampled_from([1e-12, 1e-9, 1e-6, 1e-3]),
)
def test_the_rho_search_meets_the_target_epsilon(epsilon: float, delta: float) -> None:
    rho = rho_for_epsilon(epsilon, delta)

    assert 0 < rho <= epsilon
    assert zcdp_epsilon(rho, delta) <= epsilon  # never over the budget
    assert zcdp_epsilon(rho, delta) == pytest.approx(epsilon, rel=1e-6)  # and not far under
    assert zcdp_epsilon(rho * (1 + 1e-6), delta) > epsilon  # the largest such ρ
    assert rho_for_epsilon(epsilon * 1.1, delta) > rho  # more budget, more ρ


def test_the_rho_search_beats_the_simple_bound_at_the_documented_point() -> None:
    simple = (math.sqrt(math.log(1e9) + 1.0) - math.sqrt(math.log(1e9))) ** 2
    assert zcdp_epsilon_bound(simple, 1e-9) == pytest.approx(1.0, rel=1e-12)
    assert simple == pytest.approx(0.0118, abs=1e-4)
    assert rho_for_epsilon(1.0, 1e-9) == pytest.approx(0.0150, abs=1e-4)
    with pytest.raises(ParameterError):
        rho_for_epsilon(0.0, 1e-9)


# --- Rényi DP --------------------------------------------------------------------------


def test_the_accountant_composes_rounds_like_one_run() -> None:
    accountant = SubsampledGaussianAccountant()
    assert accountant.epsilon(1e-5) == 0.0
    accountant.compose(1.1, 0.01, 300)
    accountant.compose(1.1, 0.01, 0)
    accountant.compose(1.1, 0.01, 300)

    assert accountant.steps == 600
    one_run = subsampled_gaussian_epsilon(1.1, 0.01, 600, 1e-5)
    assert accountant.epsilon(1e-5) == pytest.approx(one_run, rel=1e-9)
    with pytest.raises(ParameterError):
        accountant.compose(0.0, 0.01, 1)


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(
    sigma=st.floats(min_value=0.7, max_value=5.0),
    q=st.floats(min_value=0.001, max_value=1.0),
    steps=st.integers(min_value=1, max_value=500),
)
def test_rdp_epsilon_grows_with_steps_and_shrinks_with_noise(
    sigma: float, q: float, steps: int
) -> None:
    base = subsampled_gaussian_epsilon(sigma, q, steps, 1e-5)

    assert 0 < base < math.inf
    assert subsampled_gaussian_epsilon(sigma, q, 2 * steps, 1e-5) >= base
    assert subsampled_gaussian_epsilon(2 * sigma, q, steps, 1e-5) <= base


def test_rdp_edge_cases_and_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert subsampled_gaussian_epsilon(1.0, 0.1, 0, 1e-5) == 0.0
    assert subsampled_gaussian_epsilon(0.0, 0.1, 10, 1e-5) == math.inf
    monkeypatch.setitem(sys.modules, "dp_accounting", None)
    with pytest.raises(MissingExtraError, match=r"^noisy tables needs the 'ml' extra"):
        require_accountant("noisy tables")
    with pytest.raises(MissingExtraError, match=r"pip install 'privstats\[ml\]'"):
        SubsampledGaussianAccountant()


def test_the_noise_search_meets_the_target_with_the_least_noise_to_one_percent() -> None:
    q, steps, delta = 0.05, 400, 1e-5

    sigma = noise_multiplier_for_epsilon(2.0, q, steps, delta)

    assert subsampled_gaussian_epsilon(sigma, q, steps, delta) <= 2.0
    assert subsampled_gaussian_epsilon(sigma / 1.01, q, steps, delta) > 2.0
    with pytest.raises(ParameterError, match="cannot be reached") as info:
        noise_multiplier_for_epsilon(1e-4, 1.0, 10_000, delta)
    assert info.value.parameter == "epsilon"
