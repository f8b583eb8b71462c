"""Utility measures of synthetic data on constructed tables with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from privstats.errors import DatasetError, ParameterError
from privstats.synth.schema import Schema
from privstats.synth.utility import (
    UTILITY_KEYS,
    ci_overlap,
    ci_overlap_detail,
    pmse,
    pmse_cart,
    tstr,
    tvd_1way,
    tvd_2way,
    utility_report,
)


def population(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Correlated numeric columns, an integer, a date, two categoricals and some missing."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    table = pd.DataFrame(
        {f"x{j}": z * 0.6 + rng.normal(size=n) + (shift if j == 0 else 0.0) for j in range(4)}
    )
    table.loc[rng.random(n) < 0.1, "x1"] = np.nan
    table["count"] = pd.array(rng.poisson(2 + (z > 0)), dtype="Int64")
    table["day"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D")
    table["region"] = np.array(["north", "south", "east", "west"], dtype=object)[
        np.minimum((rng.random(n) ** (1 + (z > 0)) * 4).astype(int), 3)
    ]
    sex = np.where(rng.random(n) < 0.5, "f", "m").astype(object)
    sex[rng.random(n) < 0.05] = None
    table["sex"] = sex
    return table


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return population(1500, 1)


@pytest.fixture(scope="module")
def schema(real: pd.DataFrame) -> Schema:
    return Schema.infer(real)


# -- pMSE ---------------------------------------------------------------------------------


def test_a_copy_of_the_real_table_cannot_be_told_apart(real: pd.DataFrame, schema: Schema) -> None:
    # the propensity model has nothing to separate: p̂ = c for every record, pMSE = 0, and
    # S_pMSE is far below the 1 of an independent sample (the copy is *too* close)
    logistic = pmse(real, real.copy(), schema)
    assert logistic.pmse < 1e-8
    assert logistic.s_pmse < 0.01
    cart = pmse_cart(real, real.copy(), schema, permutations=3)
    assert cart.pmse == pytest.approx(0.0, abs=1e-12)
    assert cart.null > 0


def test_an_independent_sample_of_the_same_population_has_s_pmse_near_1(
    real: pd.DataFrame, schema: Schema
) -> None:
    other = population(1500, 2)
    logistic = pmse(real, other, schema)
    # k − 1 = 4 numeric + 1 missing indicator + count + day + 3 region + 2 sex = 12
    assert logistic.null == pytest.approx(12 * 0.5 * 0.5 / 3000)
    assert 0.3 < logistic.s_pmse < 2.0
    cart = pmse_cart(real, other, schema, permutations=10, seed=3)
    assert 0.6 < cart.s_pmse < 1.5


def test_the_logistic_null_matches_an_average_over_samples() -> None:
    # the analytic null (k − 1) c (1 − c) / N: the mean S_pMSE over independent pairs is 1
    rng = np.random.default_rng(7)
    ratios = []
    for _ in range(30):
        a = pd.DataFrame(rng.normal(size=(600, 5)), columns=list("abcde"))
        b = pd.DataFrame(rng.normal(size=(300, 5)), columns=list("abcde"))
        ratios.append(pmse(a, b, Schema.infer(a)).s_pmse)
    assert 0.8 < float(np.mean(ratios)) < 1.2


def test_shifted_means_are_detected(real: pd.DataFrame, schema: Schema) -> None:
    shifted = population(1500, 2, shift=1.5)
    assert pmse(real, shifted, schema).s_pmse > 20
    # the tree has at most ~200 leaves, so its S_pMSE tops out near 0.25 / null: about 4
    # at 3,000 records (larger for more records); 1.9 here, against 1 for a fresh sample
    assert pmse_cart(real, shifted, schema, permutations=3).s_pmse > 1.5


def test_cart_pmse_is_reproducible_from_its_seed(real: pd.DataFrame, schema: Schema) -> None:
    other = population(1500, 2)
    first = pmse_cart(real, other, schema, permutations=3, seed=11)
    assert pmse_cart(real, other, schema, permutations=3, seed=11) == first


def test_pmse_rejects_bad_input(real: pd.DataFrame, schema: Schema) -> None:
    with pytest.raises(DatasetError, match="sex"):
        pmse(real, real.drop(columns=["sex"]), schema)
    with pytest.raises(DatasetError, match="two"):
        pmse(real, real.head(1), schema)
    with pytest.raises(ParameterError, match="permutations"):
        pmse_cart(real, real, schema, permutations=0)


# -- TVD ----------------------------------------------------------------------------------


def test_tvd_is_zero_for_identical_tables(real: pd.DataFrame, schema: Schema) -> None:
    assert set(tvd_1way(real, real.copy(), schema).values()) == {0.0}
    two_way = tvd_2way(real, real.copy(), schema)
    assert len(two_way) == 8 * 7 // 2
    assert set(two_way.values()) == {0.0}


def test_tvd_on_a_hand_computed_example() -> None:
    real = pd.DataFrame({"x": [1, 2, 3, 4], "g": ["a", "a", "b", "b"]})
    synthetic = pd.DataFrame({"x": [1, 1, None, 4], "g": ["a", "b", "b", "b"]})
    schema = Schema.infer(real)
    # g: ½(|.5 − .25| + |.5 − .75|) = .25
    # x: the real deciles put 1, 2, 3, 4 in four different bins (a quarter each); the
    #    synthetic has half in 1's bin, a quarter missing, a quarter in 4's bin:
    #    ½(|.25 − .5| + .25 + .25 + 0 + |0 − .25|) = .5
    assert tvd_1way(real, synthetic, schema) == {"x": 0.5, "g": 0.25}
    # (x, g): real (1,a) (2,a) (3,b) (4,b); synthetic (1,a) (1,b) (NA,b) (4,b): two of the
    # four quarters shared, ½(.25 + .25 + .25 + .25) = .5
    assert tvd_2way(real, synthetic, schema) == {("x", "g"): 0.5}


def test_tvd_of_disjoint_categories_is_one() -> None:
    real = pd.DataFrame({"g": ["a", "a", "b"]})
    synthetic = pd.DataFrame({"g": ["c", "c", "c"]})
    schema = Schema.infer(pd.concat([real, synthetic]))
    assert tvd_1way(real, synthetic, schema) == {"g": 1.0}


# -- CI overlap ---------------------------------------------------------------------------


def regression_table(n: int, seed: int, slope: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    group = np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, n)]
    y = 1.0 + slope * x + (group == "b") * 0.5 + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"y": y, "x": x, "group": group})


def test_ci_overlap_is_one_for_identical_data() -> None:
    real = regression_table(300, 1, 2.0)
    schema = Schema.infer(real)
    assert ci_overlap(real, real.copy(), schema, "y ~ x + group") == pytest.approx(1.0)


def test_ci_overlap_is_negative_for_disjoint_intervals() -> None:
    real = regression_table(300, 1, 2.0)
    synthetic = regression_table(300, 2, -2.0)
    schema = Schema.infer(real)
    detail = ci_overlap_detail(real, synthetic, schema, "y ~ x")
    assert list(detail["term"]) == ["(Intercept)", "x"]
    assert detail["overlap"].iloc[1] < -5
    assert ci_overlap(real, synthetic, schema, "y ~ x") == detail["overlap"].iloc[1]


def test_ci_overlap_detail_matches_classical_ols_and_the_karr_formula() -> None:
    real = regression_table(200, 1, 2.0)
    synthetic = regression_table(150, 2, 2.1)
    schema = Schema.infer(real)
    detail = ci_overlap_detail(real, synthetic, schema, "y ~ x").set_index("term")
    for table, prefix in ((real, "real"), (synthetic, "synthetic")):
        fit = stats.linregress(table["x"], table["y"])
        t = stats.t.ppf(0.975, len(table) - 2)
        assert detail.loc["x", f"{prefix}_estimate"] == pytest.approx(fit.slope)
        assert detail.loc["x", f"{prefix}_low"] == pytest.approx(fit.slope - t * fit.stderr)
        assert detail.loc["(Intercept)", f"{prefix}_high"] == pytest.approx(
            fit.intercept + t * fit.intercept_stderr
        )
    lo, uo = detail.loc["x", "real_low"], detail.loc["x", "real_high"]
    ls, us = detail.loc["x", "synthetic_low"], detail.loc["x", "synthetic_high"]
    inner = min(uo, us) - max(lo, ls)
    expected = 0.5 * (inner / (uo - lo) + inner / (us - ls))
    assert detail.loc["x", "overlap"] == pytest.approx(expected)
    assert ci_overlap(real, synthetic, schema, "y ~ x") == pytest.approx(expected)


def test_ci_overlap_expands_categorical_predictors_and_drops_incomplete_records() -> None:
    real = regression_table(200, 1, 2.0)
    real.loc[:9, "x"] = np.nan
    schema = Schema.infer(real)
    detail = ci_overlap_detail(real, real.copy(), schema, "y ~ x + group")
    assert list(detail["term"]) == ["(Intercept)", "x", "group[b]", "group[c]"]
    fit = np.linalg.lstsq(
        np.column_stack(
            [
                np.ones(190),
                real["x"][10:],
                real["group"][10:] == "b",
                real["group"][10:] == "c",
            ]
        ).astype(float),
        real["y"][10:],
        rcond=None,
    )[0]
    np.testing.assert_allclose(detail["real_estimate"], fit)


def test_ci_overlap_explains_unusable_formulas() -> None:
    real = regression_table(100, 1, 2.0)
    schema = Schema.infer(real)
    with pytest.raises(ParameterError, match="'z'"):
        ci_overlap(real, real, schema, "y ~ x + z")
    with pytest.raises(ParameterError, match="categorical"):
        ci_overlap(real, real, schema, "group ~ x")
    with pytest.raises(ParameterError, match="y ~ x1"):
        ci_overlap(real, real, schema, "y x")
    synthetic = real[real["group"] != "c"]
    with pytest.raises(DatasetError, match=r"group\[c\]"):
        ci_overlap(real, synthetic, schema, "y ~ x + group")


# -- TSTR ---------------------------------------------------------------------------------


def labelled(n: int, seed: int, classes: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    cut = np.digitize(x[:, 0], np.quantile(x[:, 0], np.arange(1, classes) / classes))
    label = np.array(["low", "mid", "high"], dtype=object)[cut] if classes == 3 else None
    table = pd.DataFrame(x, columns=["a", "b", "c"])
    table["label"] = label if label is not None else np.where(x[:, 0] > 0, "yes", "no")
    table["amount"] = 3 * x[:, 1] + rng.normal(scale=0.2, size=n)
    return table


def test_tstr_on_a_separable_target() -> None:
    real, synthetic = labelled(800, 1), labelled(800, 2)
    schema = Schema.infer(real)
    scored = tstr(real, synthetic, schema, "label")
    assert scored.task == "classification"
    assert scored.score > 0.9
    assert scored.auc is not None and scored.auc > 0.9


def test_tstr_on_a_multiclass_target_and_a_holdout() -> None:
    real, synthetic, holdout = labelled(900, 1, 3), labelled(900, 2, 3), labelled(300, 3, 3)
    schema = Schema.infer(real)
    scored = tstr(real, synthetic, schema, "label", test=holdout)
    assert scored.score > 0.85
    assert scored.auc is not None and scored.auc > 0.9


def test_tstr_on_a_numeric_target_reports_r_squared() -> None:
    real, synthetic = labelled(800, 1), labelled(800, 2)
    scored = tstr(real, synthetic, Schema.infer(real), "amount")
    assert scored.task == "regression"
    assert scored.score > 0.9
    assert scored.auc is None


def test_tstr_with_a_single_synthetic_class_predicts_it() -> None:
    real, synthetic = labelled(200, 1), labelled(200, 2)
    synthetic["label"] = "yes"
    scored = tstr(real, synthetic, Schema.infer(real), "label")
    assert scored.score == pytest.approx(float(np.mean(real["label"] == "yes")))
    assert scored.auc == 0.5


# -- the report ---------------------------------------------------------------------------


def test_the_report_has_exactly_its_keys_and_none_where_not_asked(
    real: pd.DataFrame, schema: Schema
) -> None:
    report = utility_report(real, real.copy(), schema, cart_permutations=2)
    assert tuple(report) == UTILITY_KEYS
    assert {key for key, value in report.items() if value is None} == {
        "ci_overlap",
        "tstr_accuracy",
        "tstr_auc",
    }
    assert report["tvd_1way"] == report["tvd_2way"] == report["tvd_2way_max"] == 0.0


def test_the_report_with_a_regression_and_a_target(real: pd.DataFrame, schema: Schema) -> None:
    other = population(1500, 2)
    report = utility_report(
        real, other, schema, target="sex", regression="x0 ~ x2 + region", cart_permutations=2
    )
    assert all(isinstance(report[key], float) for key in UTILITY_KEYS)
    assert report["ci_overlap"] is not None and 0 < report["ci_overlap"] <= 1
    assert report["tstr_auc"] is not None and not math.isnan(report["tstr_auc"])
    numeric = utility_report(real, other, schema, target="x0", cart_permutations=2)
    assert numeric["tstr_auc"] is None and numeric["tstr_accuracy"] is not None


def test_the_report_checks_its_names_first(real: pd.DataFrame, schema: Schema) -> None:
    with pytest.raises(ParameterError, match="income"):
        utility_report(real, real, schema, target="income")
    with pytest.raises(ParameterError, match="regression"):
        utility_report(real, real, schema, regression="x0 x1")
