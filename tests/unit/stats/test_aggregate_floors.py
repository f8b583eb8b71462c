"""The quantile and OLS floors, on hand-checked counts.

What it proves: a level is refused exactly when fewer than ``min_cell`` records lie on a
side of its rank ⌈q·N⌉, or when it is closer than ``min_cell/N`` to a kept level; an OLS
model is refused for each of DataSHIELD's reasons (too few records per parameter, a small
regressor level, a count one short of a released count) and released otherwise.
"""

from __future__ import annotations

from fractions import Fraction

from privstats.stats.aggregate import ols_refusal, quantile_refusals


def test_quantile_levels_need_min_cell_records_on_each_side() -> None:
    # N = 25, min_cell = 5: rank k = ⌈25q⌉ needs k − 1 ≥ 5 and 25 − k ≥ 5, so 6 ≤ k ≤ 20
    levels = [Fraction(k, 25) for k in (5, 6, 20, 21)]
    refused = quantile_refusals(25, levels, 5)
    assert set(refused) == {Fraction(5, 25), Fraction(21, 25)}
    assert "below" in refused[Fraction(5, 25)] and "above" in refused[Fraction(21, 25)]
    assert quantile_refusals(25, [Fraction(999, 1000)], 5).keys() == {Fraction(999, 1000)}


def test_quantile_levels_closer_than_min_cell_over_n_are_refused() -> None:
    levels = [Fraction(k, 25) for k in range(6, 21)]
    kept = set(levels) - set(quantile_refusals(25, levels, 5))
    assert kept == {Fraction(6, 25), Fraction(11, 25), Fraction(16, 25)}


def test_min_cell_one_asks_for_no_quantile_floor() -> None:
    assert quantile_refusals(3, [Fraction(1, 100), Fraction(1, 2)], 1) == {}


def test_ols_floors() -> None:
    assert ols_refusal(9, 2, 10, []) == "fewer than 10 complete records (9)"
    assert "per parameter" in (ols_refusal(25, 3, 10, []) or "")
    assert "flag=1" in (ols_refusal(40, 2, 10, [], ["flag=1"]) or "")
    assert "released count of 40" in (ols_refusal(39, 2, 10, [40]) or "")
    assert ols_refusal(39, 2, 10, [39, 49, 29, 0]) is None  # 0 or ≥ 10 apart
    assert ols_refusal(2, 2, 1, [3]) is None  # min_cell 1: only an empty model is refused
