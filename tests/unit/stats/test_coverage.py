"""Tests for privstats.stats.coverage: proportion intervals and Chapman's dual-system estimate."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from privstats.errors import ParameterError
from privstats.stats.coverage import (
    Method,
    PopulationEstimate,
    Proportion,
    dual_system_estimate,
    proportion_interval,
)

METHODS: tuple[Method, ...] = ("wilson", "clopper-pearson")


def textbook_wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson (1927) in its usual proportion form, written independently of the module."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = k / n
    centre = p + z**2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    scale = 1 + z**2 / n
    return (centre - spread) / scale, (centre + spread) / scale


# --------------------------------------------------------------------------- known values


def test_wilson_known_value() -> None:
    result = proportion_interval(81, 263)
    low, high = textbook_wilson(81, 263, 0.95)
    assert result.estimate == pytest.approx(81 / 263)
    assert result.ci_low == pytest.approx(low, rel=1e-12)
    assert result.ci_high == pytest.approx(high, rel=1e-12)
    assert (round(result.ci_low, 4), round(result.ci_high, 4)) == (0.2553, 0.3662)
    assert result.confidence == 0.95
    assert result.method == "wilson"


@pytest.mark.parametrize(("k", "n"), [(81, 263), (1, 10), (3, 7), (499, 500), (12, 5000)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_textbook(k: int, n: int, confidence: float) -> None:
    result = proportion_interval(k, n, confidence=confidence)
    low, high = textbook_wilson(k, n, confidence)
    assert result.ci_low == pytest.approx(low, rel=1e-10, abs=1e-14)
    assert result.ci_high == pytest.approx(high, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize(
    ("k", "n"), [(81, 263), (0, 20), (20, 20), (1, 10), (3, 7), (499, 500), (12, 5000)]
)
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_clopper_pearson_matches_scipy(k: int, n: int, confidence: float) -> None:
    result = proportion_interval(k, n, confidence=confidence, method="clopper-pearson")
    expected = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    assert result.ci_low == pytest.approx(expected.low, rel=1e-9, abs=1e-12)
    assert result.ci_high == pytest.approx(expected.high, rel=1e-9, abs=1e-12)
    assert result.method == "clopper-pearson"


def test_chapman_hand_computed() -> None:
    # n1 = 100, n2 = 80, m = 60:
    #   N = 101·81/61 − 1 = 8181/61 − 1 = 8120/61 ≈ 133.115
    #   Var = 101·81·40·20 / (61²·62) = 6 544 800 / 230 702 ≈ 28.369
    result = dual_system_estimate(100, 80, 60)
    expected_n = Fraction(8120, 61)
    expected_var = Fraction(6_544_800, 230_702)
    assert result.estimate == pytest.approx(float(expected_n), rel=1e-14)
    assert result.variance == pytest.approx(float(expected_var), rel=1e-14)
    half = 1.959963984540054 * math.sqrt(float(expected_var))
    assert result.ci_low == pytest.approx(float(expected_n) - half, rel=1e-12)
    assert result.ci_high == pytest.approx(float(expected_n) + half, rel=1e-12)
    assert result.method == "chapman"
    assert result.confidence == 0.95


def test_chapman_lower_bound_clipped_to_observed() -> None:
    # Near-complete overlap: N = 105 + 25/96 and sd ≈ 0.53, so the normal interval would reach
    # below the 105 persons actually seen.
    result = dual_system_estimate(100, 100, 95)
    assert result.estimate == pytest.approx(105 + 25 / 96)
    assert result.estimate - 1.96 * math.sqrt(result.variance) < 105
    assert result.ci_low == 105.0
    assert result.ci_high > result.estimate


def test_chapman_complete_overlap_has_no_variance() -> None:
    result = dual_system_estimate(50, 50, 50)
    assert result.estimate == 50.0
    assert result.variance == 0.0
    assert (result.ci_low, result.ci_high) == (50.0, 50.0)


@pytest.mark.parametrize(("first", "second"), [(0, 0), (2000, 0), (0, 5), (2000, 1500)])
def test_chapman_without_matches_is_undefined(first: int, second: int) -> None:
    # (2000, 0, 0) used to give the degenerate interval 2,000 - 2,000
    with pytest.raises(ParameterError) as info:
        dual_system_estimate(first, second, 0)
    assert str(info.value).startswith(
        f"matched is 0: no person is in both lists (first={first}, second={second}), so the "
        "dual-system estimate of the population size is undefined"
    )
    assert info.value.parameter == "matched"


def test_as_dict() -> None:
    prop = proportion_interval(3, 10, confidence=0.9, method="clopper-pearson")
    assert prop.as_dict() == {
        "estimate": prop.estimate,
        "ci_low": prop.ci_low,
        "ci_high": prop.ci_high,
        "confidence": 0.9,
        "method": "clopper-pearson",
    }
    dse = dual_system_estimate(100, 80, 60)
    assert dse.as_dict() == {
        "estimate": dse.estimate,
        "variance": dse.variance,
        "ci_low": dse.ci_low,
        "ci_high": dse.ci_high,
        "confidence": 0.95,
        "method": "chapman",
    }


def test_results_are_frozen() -> None:
    prop = proportion_interval(1, 2)
    dse = dual_system_estimate(3, 3, 1)
    assert isinstance(prop, Proportion)
    assert isinstance(dse, PopulationEstimate)
    with pytest.raises(AttributeError):
        prop.estimate = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        dse.estimate = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("method", METHODS)
def test_zero_successes(method: Method) -> None:
    result = proportion_interval(0, 25, method=method)
    assert result.estimate == 0.0
    assert result.ci_low == 0.0
    assert 0.0 < result.ci_high < 1.0


@pytest.mark.parametrize("method", METHODS)
def test_all_successes(method: Method) -> None:
    result = proportion_interval(25, 25, method=method)
    assert result.estimate == 1.0
    assert result.ci_high == 1.0
    assert 0.0 < result.ci_low < 1.0


def test_clopper_pearson_one_sided_bounds_at_extremes() -> None:
    # With k = 0 the exact upper bound solves (1 − p)^n = α/2.
    n, alpha = 25, 0.05
    result = proportion_interval(0, n, method="clopper-pearson")
    assert result.ci_high == pytest.approx(1 - (alpha / 2) ** (1 / n), rel=1e-10)
    result = proportion_interval(n, n, method="clopper-pearson")
    assert result.ci_low == pytest.approx((alpha / 2) ** (1 / n), rel=1e-10)


def test_zero_trials() -> None:
    with pytest.raises(ParameterError, match="nothing to estimate") as info:
        proportion_interval(0, 0)
    assert info.value.parameter == "trials"


@pytest.mark.parametrize(("k", "n", "shown"), [(11, 10, "11"), (-1, 10, "-1")])
def test_successes_out_of_range(k: int, n: int, shown: str) -> None:
    with pytest.raises(ParameterError, match=shown) as info:
        proportion_interval(k, n)
    assert info.value.parameter == "successes"
    assert isinstance(info.value, ValueError)


def test_negative_trials() -> None:
    with pytest.raises(ParameterError, match="-5") as info:
        proportion_interval(0, -5)
    assert info.value.parameter == "trials"


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5, 95.0, math.nan])
def test_confidence_out_of_range(confidence: float) -> None:
    with pytest.raises(ParameterError, match="confidence") as info:
        proportion_interval(5, 10, confidence=confidence)
    assert repr(confidence) in str(info.value)
    with pytest.raises(ParameterError, match="confidence"):
        dual_system_estimate(10, 10, 5, confidence=confidence)


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(ParameterError, match="agresti") as info:
        proportion_interval(5, 10, method="agresti")  # type: ignore[arg-type]
    message = str(info.value)
    assert "'wilson'" in message
    assert "'clopper-pearson'" in message
    assert info.value.parameter == "method"


@pytest.mark.parametrize("bad", [True, 5.0, "5", None])
def test_non_int_counts_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError, match="successes"):
        proportion_interval(bad, 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trials"):
        proportion_interval(1, bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="matched"):
        dual_system_estimate(10, 10, bad)  # type: ignore[arg-type]


def test_non_number_confidence_is_type_error() -> None:
    with pytest.raises(TypeError, match="confidence"):
        proportion_interval(1, 10, confidence="0.95")  # type: ignore[arg-type]


def test_numpy_integers_are_accepted() -> None:
    result = proportion_interval(np.int64(81), np.int64(263))  # type: ignore[arg-type]
    assert result == proportion_interval(81, 263)


@pytest.mark.parametrize(
    ("args", "parameter", "shown"),
    [
        ((-1, 10, 0), "first", "-1"),
        ((10, -2, 0), "second", "-2"),
        ((10, 10, -3), "matched", "-3"),
        ((10, 20, 11), "matched", "11"),
        ((20, 10, 11), "matched", "11"),
    ],
)
def test_dual_system_invalid_counts(args: tuple[int, int, int], parameter: str, shown: str) -> None:
    with pytest.raises(ParameterError, match=shown) as info:
        dual_system_estimate(*args)
    assert info.value.parameter == parameter


# --------------------------------------------------------------------------- properties

counts = st.integers(min_value=1, max_value=1_000_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)
levels = st.floats(min_value=0.01, max_value=0.999)


@given(kn=counts, confidence=levels, method=st.sampled_from(METHODS))
def test_interval_brackets_estimate(kn: tuple[int, int], confidence: float, method: Method) -> None:
    k, n = kn
    result = proportion_interval(k, n, confidence=confidence, method=method)
    assert 0.0 <= result.ci_low <= result.estimate <= result.ci_high <= 1.0
    assert result.estimate == k / n


@given(
    kn=counts,
    confidence=st.floats(min_value=0.01, max_value=0.99),
    step=st.floats(min_value=0.001, max_value=0.5),
    method=st.sampled_from(METHODS),
)
def test_higher_confidence_is_wider(
    kn: tuple[int, int], confidence: float, step: float, method: Method
) -> None:
    k, n = kn
    higher = min(confidence + step, 0.999)
    narrow = proportion_interval(k, n, confidence=confidence, method=method)
    wide = proportion_interval(k, n, confidence=higher, method=method)
    assert wide.ci_low <= narrow.ci_low
    assert wide.ci_high >= narrow.ci_high
    assert wide.ci_high - wide.ci_low > narrow.ci_high - narrow.ci_low


@given(
    n1=st.integers(min_value=1, max_value=10**7),
    n2=st.integers(min_value=1, max_value=10**7),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    confidence=levels,
)
def test_dual_system_bounds(n1: int, n2: int, fraction: float, confidence: float) -> None:
    m = max(1, int(fraction * min(n1, n2)))
    result = dual_system_estimate(n1, n2, m, confidence=confidence)
    observed = n1 + n2 - m
    assert observed <= result.ci_low <= result.estimate <= result.ci_high
    assert result.variance >= 0.0
    assert result.estimate == pytest.approx((n1 + 1) * (n2 + 1) / (m + 1) - 1, rel=1e-12)


# --------------------------------------------------------------------------- simulation


def _coverage(p: float, n: int, draws: np.ndarray, method: Method) -> float:
    """Share of draws whose interval covers p; each distinct count is evaluated once."""
    values, times = np.unique(draws, return_counts=True)
    covered = 0
    for k, count in zip(values.tolist(), times.tolist(), strict=True):
        result = proportion_interval(k, n, method=method)
        if result.ci_low <= p <= result.ci_high:
            covered += count
    return covered / draws.size


@pytest.mark.slow
def test_interval_coverage_by_simulation() -> None:
    # At p = 0.2, n = 400 Wilson's exact coverage is 0.9476 and Clopper–Pearson's 0.9545;
    # with 4000 draws the Monte Carlo standard error is about 0.0035.
    p, n = 0.2, 400
    draws = np.random.default_rng(20240611).binomial(n, p, size=4000)
    wilson = _coverage(p, n, draws, "wilson")
    exact = _coverage(p, n, draws, "clopper-pearson")
    assert 0.93 <= wilson <= 0.97
    assert 0.93 <= exact <= 0.99


@pytest.mark.slow
def test_chapman_nearly_unbiased_and_covers() -> None:
    big_n, p1, p2, reps = 2000, 0.6, 0.5, 2000
    # Each person falls into one of: both lists, first only, second only, neither.
    cells = np.random.default_rng(1951).multinomial(
        big_n, [p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)], size=reps
    )
    estimates = []
    covered = 0
    for both, first_only, second_only, _ in cells.tolist():
        result = dual_system_estimate(both + first_only, both + second_only, both)
        estimates.append(result.estimate)
        covered += result.ci_low <= big_n <= result.ci_high
    assert abs(np.mean(estimates) - big_n) / big_n < 0.01
    assert 0.92 <= covered / reps <= 0.98
