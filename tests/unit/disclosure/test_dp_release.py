"""DP release planning: terms, sensitivities, OpenDP accounting, distributed noise, quantiles.

The noise cannot be seeded, so every statistical check uses a threshold a correct sampler
fails with probability below about 1e-6 (chi-square and KS p-values, or 6 standard errors
of a sample variance computed from the exact pmf).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from privstats.disclosure.accounting import rho_for_epsilon
from privstats.disclosure.dp import require_opendp
from privstats.disclosure.dp_noise import (
    distributed_rho,
    noise_share,
    party_noise,
    total_error_95,
)
from privstats.disclosure.dp_quantiles import (
    bin_index,
    histogram_quantile,
    quantile_accuracy,
)
from privstats.disclosure.dp_release import (
    DpTerms,
    clamp_codes,
    count_query,
    histogram_query,
    noisy_mean,
    parse_bounds,
    plan_release,
    quantum_for,
    sum_query,
)
from privstats.errors import ParameterError

P_REJECT = 1e-6


def _dg_pmf(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    support = np.arange(-math.ceil(40 * sigma) - 10, math.ceil(40 * sigma) + 11)
    pmf = np.exp(-(support.astype(float) ** 2) / (2 * sigma**2))
    return support, pmf / pmf.sum()


def _chi_square_p(noise: np.ndarray, sigma: float, half_width: int) -> float:
    """p-value of ``noise`` against DG(σ) on −w..w with both tails pooled."""
    support, pmf = _dg_pmf(sigma)
    inner = np.arange(-half_width, half_width + 1)
    expected = [pmf[support < -half_width].sum(), *(pmf[support == k][0] for k in inner)]
    expected.append(pmf[support > half_width].sum())
    observed = [np.sum(noise < -half_width), *(np.sum(noise == k) for k in inner)]
    observed.append(np.sum(noise > half_width))
    return float(stats.chisquare(observed, np.array(expected) * noise.size).pvalue)


# --- terms ------------------------------------------------------------------------------


def test_terms_need_exactly_one_budget_and_a_well_formed_unit() -> None:
    assert DpTerms(epsilon=1).unit == "record"
    assert DpTerms(rho=0.1, unit="person: pid", max_records_per_unit=3).person_column == "pid"
    for bad in (
        {},
        {"epsilon": 1, "rho": 0.1},
        {"epsilon": 1, "unit": "household"},
        {"epsilon": 1, "unit": "person:"},
        {"epsilon": 1, "max_records_per_unit": 2},  # record unit: one record per unit
        {"epsilon": 1, "bounds": {"wage": (5, 5)}},
        {"epsilon": -1},
    ):
        with pytest.raises(ValidationError):
            DpTerms(**bad)


def test_bounds_parse_and_missing_bounds_name_the_column() -> None:
    assert parse_bounds(["income=0:200000", "age=-1:120,h=0:1.5"]) == {
        "income": (0.0, 200000.0),
        "age": (-1.0, 120.0),
        "h": (0.0, 1.5),
    }
    for bad in ("income", "income=5", "income=9:1", "=0:1", "x=a:b"):
        with pytest.raises(ParameterError, match="COLUMN=LOW:HIGH"):
            parse_bounds([bad])
    with pytest.raises(ParameterError, match="--dp-bounds wage=LOW:HIGH"):
        plan_release(DpTerms(epsilon=1), [sum_query("wage", 2)])


def test_clamped_codes_never_exceed_the_sensitivity_steps() -> None:
    bounds = (-3.0, 200_000.0)
    quantum = quantum_for(bounds)
    assert 2**20 <= 200_000 / quantum < 2**21
    codes = clamp_codes([-1e9, -3, 0, 12_345.678, 199_999.99, 1e12], bounds, quantum)
    plan = plan_release(DpTerms(epsilon=1, bounds={"w": bounds}), [sum_query("w", 1)])
    assert plan["sum:w"].sensitivity == math.ceil(200_000 / quantum)
    assert int(np.abs(codes).max()) <= plan["sum:w"].sensitivity
    assert codes[3] * quantum == pytest.approx(12_345.678, abs=quantum)


# --- accounting -------------------------------------------------------------------------


def _opendp_chain(sensitivity: int, sigma: float) -> object:
    """The test's own OpenDP measurement: a stability of ``sensitivity`` then DG(σ)."""
    dp = require_opendp()
    dp.enable_features("honest-but-curious")
    vectors = dp.vector_domain(dp.atom_domain(T="i64"))
    stable = dp.t.make_user_transformation(
        vectors,
        dp.symmetric_distance(),
        vectors,
        dp.l2_distance(T="i64"),
        lambda x: x,
        lambda d: sensitivity * d,
    )
    return stable >> dp.m.make_gaussian(vectors, dp.l2_distance(T="i64"), sigma)


@pytest.mark.parametrize(("unit", "records"), [("record", 1), ("person:pid", 4)])
def test_reported_epsilon_is_opendps_composition_of_the_measurements(
    unit: str, records: int
) -> None:
    terms = DpTerms(
        epsilon=1.0,
        delta=1e-8,
        unit=unit,
        max_records_per_unit=records,
        bounds={"wage": (0, 200_000), "age": (0, 120)},
    )
    queries = [
        count_query(6),
        sum_query("wage", 6, share=2.0),
        count_query(6, name="count:wage"),
        histogram_query("age", 6, 32),
    ]
    plan = plan_release(terms, queries, parties=3)

    dp = require_opendp()
    chains = [_opendp_chain(m.sensitivity, m.sigma) for m in plan.measurements]
    composed = dp.c.make_composition(chains)
    assert plan.rho == composed.map(1)
    assert plan.epsilon == dp.c.make_zCDP_to_approxDP(composed).map(1).epsilon(1e-8)
    assert plan.epsilon <= 1.0
    # and without our stability maps: each discrete Gaussian's own map at its sensitivity
    vectors = dp.vector_domain(dp.atom_domain(T="i64"))
    gaussians = [
        dp.m.make_gaussian(vectors, dp.l2_distance(T="i64"), m.sigma).map(m.sensitivity)
        for m in plan.measurements
    ]
    assert plan.rho == pytest.approx(sum(gaussians), rel=1e-12)
    assert plan.rho == pytest.approx(rho_for_epsilon(1.0, 1e-8), rel=1e-9)
    # sensitivities by hand: counts and histograms move by the unit's records, sums by
    # its records times the largest |bound| in integer steps
    assert plan["count"].sensitivity == records == plan["histogram:age"].sensitivity
    assert plan["sum:wage"].sensitivity == records * math.ceil(200_000 / quantum_for((0, 200_000)))
    # shares: the sum has twice the ρ of each other measurement
    assert plan["sum:wage"].rho == pytest.approx(2 * plan["count"].rho, rel=1e-9)
    for m in plan.measurements:
        assert m.rho == pytest.approx(m.sensitivity**2 / (2 * m.sigma**2), rel=1e-12)
    block = plan.privacy_block()
    assert block["epsilon"] == plan.epsilon and block["delta"] == 1e-8
    assert block["unit"] == unit and block["collusion"] == 2
    assert plan.budget().epsilon == plan.epsilon


def test_rho_terms_are_spent_exactly_and_reported_as_epsilon() -> None:
    terms = DpTerms(rho=1.0)
    plan = plan_release(terms, [count_query(3), count_query(1, name="n")])
    assert terms.budget().epsilon >= plan.epsilon == pytest.approx(terms.budget().epsilon)
    assert plan.rho == pytest.approx(1.0, rel=1e-12) and plan.rho <= 1.0
    assert plan["count"].sigma == pytest.approx(1.0, rel=1e-12)  # ρᵢ = ½ = 1/(2σ²)
    # OpenDP's accuracy of DG(1) at α = 5 %: the least a with P(|Z| ≥ a) ≤ 5 %, by hand
    support, pmf = _dg_pmf(1.0)
    least = next(a for a in range(10) if pmf[np.abs(support) >= a].sum() <= 0.05)
    assert plan["count"].error_95 == least == 3


# --- noise distributions ----------------------------------------------------------------


def test_each_party_noise_share_is_discrete_gaussian() -> None:
    sigma = 3.0
    noise = party_noise(20_000, sigma)
    assert noise.dtype == np.int64
    assert _chi_square_p(noise, sigma, 9) > P_REJECT


def test_large_scale_sum_noise_is_gaussian_by_ks() -> None:
    plan = plan_release(DpTerms(epsilon=1, bounds={"w": (0, 1000)}), [sum_query("w", 1)])
    sigma = plan["sum:w"].party_sigma
    quantum = plan["sum:w"].quantum
    # above OpenDP's exact range: the continuous 95 % accuracy plus one step
    assert plan["sum:w"].error_95 == (math.ceil(stats.norm.ppf(0.975) * sigma) + 1) * quantum
    noise = party_noise(5_000, sigma)
    # a discrete Gaussian of scale ≫ 1 is within 1e-300 of the normal in total variation
    assert stats.kstest(noise / sigma, "norm").pvalue > P_REJECT


@pytest.mark.parametrize(("parties", "collusion"), [(3, None), (4, 1)])
def test_the_sum_of_the_parties_noise_has_the_stated_variance(
    parties: int, collusion: int | None
) -> None:
    terms = DpTerms(rho=0.02, collusion=collusion)
    plan = plan_release(terms, [count_query(1)], parties=parties)
    share = plan["count"].party_sigma
    draws = 6_000
    total = sum(party_noise(draws, share) for _ in range(parties))
    support, pmf = _dg_pmf(share)
    var_one = float(pmf @ support**2.0)
    fourth_one = float(pmf @ support**4.0)
    variance = parties * var_one
    fourth = parties * fourth_one + 3 * parties * (parties - 1) * var_one**2
    observed = float(np.mean(total.astype(float) ** 2))
    assert abs(observed - variance) < 6 * math.sqrt((fourth - variance**2) / draws)
    assert plan["count"].noise_sd == pytest.approx(math.sqrt(variance), rel=1e-3)


# --- distributed noise ------------------------------------------------------------------


def test_full_collusion_bound_gives_every_party_the_full_scale() -> None:
    assert noise_share(7.0, 5) == 7.0 == noise_share(7.0, 5, 4)
    assert noise_share(7.0, 1) == 7.0
    with pytest.raises(ParameterError, match="collusion"):
        noise_share(7.0, 3, 3)
    with pytest.raises(ParameterError, match="collusion"):
        plan_release(DpTerms(epsilon=1, collusion=2), [count_query(1)], parties=2)


@pytest.mark.parametrize(("sigma", "honest", "cells"), [(0.8, 2, 1), (10.0, 3, 50), (40.0, 9, 4)])
def test_honest_parties_shares_meet_the_single_gaussians_rho(
    sigma: float, honest: int, cells: int
) -> None:
    share = noise_share(sigma, 10, 10 - honest, sensitivity=1.0, cells=cells)
    target = 1 / (2 * sigma**2)
    assert distributed_rho(share, honest, 1.0, cells) <= target
    assert share >= sigma / math.sqrt(honest)
    # KLS's τ vanishes once the shares are a few units: the calibration is then σ/√h
    if sigma / math.sqrt(honest) > 3:
        assert share == pytest.approx(sigma / math.sqrt(honest), rel=1e-6)
    assert distributed_rho(share * 0.99, honest, 1.0, cells) > target


def test_total_error_bound_covers_95_percent_of_the_total_noise() -> None:
    sigma, parties, draws = 2.5, 3, 4_000
    bound = total_error_95(sigma, parties)
    total = sum(party_noise(draws, sigma) for _ in range(parties))
    outside = int(np.sum(np.abs(total) > bound))
    # the bound is conservative; a binomial(4000, 0.05) exceeds 300 w.p. < 1e-6
    assert outside < 300


# --- quantiles and means ----------------------------------------------------------------


def test_quantiles_from_exact_histogram_are_within_one_bin() -> None:
    bounds, bins = (0.0, 100.0), 50
    values = np.array([3.0, 7.5, 11, 19.9, 42, 43, 44, 61, 77, 99.9, 150])
    counts = np.bincount(bin_index(values, bounds, bins), minlength=bins)
    assert counts.sum() == values.size
    for q in (Fraction(1, 10), Fraction(1, 2), Fraction(9, 10)):
        exact = float(np.quantile(np.clip(values, *bounds), float(q), method="inverted_cdf"))
        found = histogram_quantile(counts, bounds, q)
        assert found is not None and abs(found - exact) <= 2.0  # one bin width
    assert histogram_quantile(np.zeros(bins), bounds, Fraction(1, 2)) is None


def test_quantile_accuracy_and_noisy_mean_are_stated() -> None:
    terms = DpTerms(epsilon=1, bounds={"w": (0, 100)}, bins=16)
    plan = plan_release(
        terms, [count_query(1), sum_query("w", 1), histogram_query("w", 1, 16)], parties=2
    )
    accuracy = quantile_accuracy(plan["histogram:w"], 16, (0, 100))
    assert accuracy["bin_width"] == 100 / 16
    assert accuracy["rank_error_95"] == pytest.approx(
        plan["histogram:w"].party_sigma * math.sqrt(2 * 2 * 16 * math.log(40))
    )
    mean = noisy_mean(5_000.0, 100.0, plan["sum:w"], plan["count"])
    assert mean["value"] == 50.0
    assert mean["error_95"] == pytest.approx(
        (plan["sum:w"].error_95 + 50 * plan["count"].error_95) / 100
    )
    assert noisy_mean(5.0, 0.4, plan["sum:w"], plan["count"])["value"] is None
