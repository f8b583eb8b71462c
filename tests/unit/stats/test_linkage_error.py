"""The linkage-error-adjusted coverage estimator: formulas, rates, and its interval's coverage.

The acceptance check simulates linkage with planted false-match and missed-match processes:
the adjusted interval covers the true coverage in 93–97 % of replications; the unadjusted
one does not when the error rates are material.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from privstats.errors import ParameterError
from privstats.stats.linkage_error import (
    LinkageErrors,
    adjusted_coverage,
    errors_from_mixture,
    errors_from_review,
)

# planted: coverage p of the register by the source; missed-match rate g (a true match is
# not declared); tau, the chance a register person without a match is falsely declared one
N_REGISTER, COVERAGE, MISSED, FALSE_LINK, REVIEWED = 3_000, 0.6, 0.15, 0.07, 400


def _replication(rng: np.random.Generator, *, review_in_register: bool) -> tuple[bool, bool]:
    """One simulated linkage and review; whether each interval covers the true coverage."""
    truly = rng.random(N_REGISTER) < COVERAGE
    declared = np.where(
        truly, rng.random(N_REGISTER) >= MISSED, rng.random(N_REGISTER) < FALSE_LINK
    )
    if review_in_register:
        sample = rng.choice(N_REGISTER, REVIEWED, replace=False)
        labels = list(zip(declared[sample].tolist(), truly[sample].tolist(), strict=True))
    else:  # a separate clerical sample of the same linkage process
        t = rng.random(REVIEWED) < COVERAGE
        d = np.where(t, rng.random(REVIEWED) >= MISSED, rng.random(REVIEWED) < FALSE_LINK)
        labels = list(zip(d.tolist(), t.tolist(), strict=True))
    result = adjusted_coverage(
        int(declared.sum()),
        N_REGISTER,
        errors_from_review(labels),
        review_in_register=review_in_register,
    )
    _, low, high = result.adjusted
    _, plain_low, plain_high = result.unadjusted
    return low <= COVERAGE <= high, plain_low <= COVERAGE <= plain_high


@pytest.mark.parametrize("review_in_register", [True, False])
def test_adjusted_interval_covers_the_true_coverage_at_its_nominal_rate(
    review_in_register: bool,
) -> None:
    # 1,000 replications: the check's own binomial SE is 0.7 points
    rng = np.random.default_rng(17 + review_in_register)
    hits = [_replication(rng, review_in_register=review_in_register) for _ in range(1_000)]
    adjusted = sum(a for a, _ in hits) / len(hits)
    unadjusted = sum(u for _, u in hits) / len(hits)
    assert 0.93 <= adjusted <= 0.97, adjusted
    # the planted errors (15 % missed, 7 % of non-matches linked) bias m/n by ~4.6 points
    assert unadjusted < 0.5, unadjusted


def test_adjusted_estimate_is_matched_times_precision_over_recall() -> None:
    errors = LinkageErrors(false_match_rate=0.1, missed_match_rate=0.2)
    result = adjusted_coverage(800, 2_000, errors)
    assert result.adjusted_matches == pytest.approx(800 * 0.9 / 0.8)
    assert result.adjusted[0] == pytest.approx(900 / 2_000)
    assert result.unadjusted[0] == pytest.approx(0.4)
    # known rates: only the binomial term, scaled by the correction factor
    z = 1.959963984540054
    half = z * (0.9 / 0.8) * math.sqrt(0.4 * 0.6 / 2_000)
    assert result.adjusted[1] == pytest.approx(0.45 - half)
    assert result.adjusted[2] == pytest.approx(0.45 + half)


def test_rate_uncertainty_widens_the_interval() -> None:
    known = adjusted_coverage(800, 2_000, LinkageErrors(0.1, 0.2))
    estimated = adjusted_coverage(800, 2_000, LinkageErrors(0.1, 0.2, 0.02, 0.03))
    assert estimated.adjusted[0] == known.adjusted[0]
    assert estimated.adjusted[2] - estimated.adjusted[1] > known.adjusted[2] - known.adjusted[1]


def test_no_errors_gives_the_plain_share() -> None:
    result = adjusted_coverage(300, 1_000, LinkageErrors(0.0, 0.0))
    assert result.adjusted[0] == result.unadjusted[0] == 0.3


def test_estimate_never_exceeds_one() -> None:
    result = adjusted_coverage(950, 1_000, LinkageErrors(0.0, 0.3))
    assert result.adjusted[0] == 1.0
    assert result.adjusted[1] <= 1.0 and result.adjusted[2] == 1.0


def test_errors_from_review_counts_rates_among_declared_and_true() -> None:
    labels = (
        [(True, True)] * 80 + [(True, False)] * 20 + [(False, True)] * 10 + [(False, False)] * 90
    )
    errors = errors_from_review(labels)
    assert errors.false_match_rate == pytest.approx(20 / 100)
    assert errors.missed_match_rate == pytest.approx(10 / 90)
    assert errors.false_match_se == pytest.approx(math.sqrt(22 / 104 * 82 / 104 / 100))
    assert errors.source == "review"
    assert errors.covariance > 0  # both rates fall as the agreed matches rise


def test_a_clean_review_still_carries_uncertainty() -> None:
    errors = errors_from_review([(True, True)] * 30 + [(False, False)] * 30)
    assert errors.false_match_rate == errors.missed_match_rate == 0.0
    assert errors.false_match_se > 0.0 and errors.missed_match_se > 0.0


def test_review_without_matches_is_refused() -> None:
    with pytest.raises(ParameterError, match="review more records"):
        errors_from_review([(False, False)] * 10)
    with pytest.raises(TypeError, match="two bools"):
        errors_from_review([(1, 0)])  # type: ignore[list-item]


def test_mixture_recovers_planted_rates() -> None:
    rng = np.random.default_rng(5)
    matches = rng.normal(0.85, 0.05, 3_000)
    non_matches = rng.normal(0.55, 0.07, 2_000)
    threshold = 0.72
    errors = errors_from_mixture(np.concatenate([matches, non_matches]).tolist(), threshold)
    declared_false = (non_matches >= threshold).sum()
    declared = declared_false + (matches >= threshold).sum()
    assert errors.false_match_rate == pytest.approx(declared_false / declared, abs=0.01)
    assert errors.missed_match_rate == pytest.approx((matches < threshold).mean(), abs=0.01)
    assert 0 < errors.false_match_se < 0.01 and 0 < errors.missed_match_se < 0.01
    assert errors.source == "mixture"
    # deterministic: the bootstrap is seeded
    assert errors_from_mixture(np.concatenate([matches, non_matches]).tolist(), threshold) == errors


@pytest.mark.parametrize("shapes", [((18, 3), (4, 6), 0.7), ((30, 4), (6, 6), 0.75)])
def test_beta_mixture_recovers_planted_rates_of_dice_like_scores(
    shapes: tuple[tuple[int, int], tuple[int, int], float],
) -> None:
    (a1, b1), (a0, b0), threshold = shapes
    rng = np.random.default_rng(11)
    matches, non_matches = rng.beta(a1, b1, 4_000), rng.beta(a0, b0, 3_000)
    errors = errors_from_mixture(np.concatenate([matches, non_matches]).tolist(), threshold)
    declared_false = (non_matches >= threshold).sum()
    declared = declared_false + (matches >= threshold).sum()
    # within 3 SE of the planted rates (the SEs are about 0.002)
    assert abs(errors.false_match_rate - declared_false / declared) < 3 * errors.false_match_se
    assert (
        abs(errors.missed_match_rate - (matches < threshold).mean())
        < 3 * errors.missed_match_se + 0.002
    )
    # a normal mixture on the same bounded, skewed scores is far off: the family matters
    normal = errors_from_mixture(
        np.concatenate([matches, non_matches]).tolist(), threshold, family="normal"
    )
    assert abs(normal.missed_match_rate - (matches < threshold).mean()) > 0.005


def test_mixture_refuses_unusable_scores() -> None:
    with pytest.raises(ParameterError, match="at least 20"):
        errors_from_mixture([0.5] * 5, 0.5)
    with pytest.raises(ParameterError, match="all scores are equal"):
        errors_from_mixture([0.5] * 50, 0.5)
    # Dice scores of a Bloom linkage in 50 bins: most true pairs agree exactly (the top bin)
    piled = [0] * 23 + [3, 13, 11, 26, 24, 21, 26, 35, 43, 36, 30, 24, 12, 12, 10, 8, 5, 25]
    piled += [46, 37, 63, 45, 24, 47, 61, 61, 1390]
    scores = [(i + 0.5) / 50 for i, n in enumerate(piled) for _ in range(n)]
    with pytest.raises(ParameterError, match="pile up at one value"):
        errors_from_mixture(scores, 0.89)
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        errors_from_mixture([float(i) for i in range(50)], 10.0, family="beta")


def test_invalid_arguments_name_the_problem() -> None:
    with pytest.raises(ParameterError, match="below 1"):
        LinkageErrors(1.0, 0.1)
    with pytest.raises(ParameterError, match="source"):
        LinkageErrors(0.1, 0.1, source="guess")
    with pytest.raises(ParameterError, match="exceeds register"):
        adjusted_coverage(11, 10, LinkageErrors(0.1, 0.1))
    with pytest.raises(ParameterError, match="register is 0"):
        adjusted_coverage(0, 0, LinkageErrors(0.1, 0.1))
    with pytest.raises(ParameterError, match="errors_from_review only"):
        adjusted_coverage(5, 10, LinkageErrors(0.1, 0.1), review_in_register=True)
    with pytest.raises(TypeError, match="LinkageErrors"):
        adjusted_coverage(5, 10, (0.1, 0.1))  # type: ignore[arg-type]
