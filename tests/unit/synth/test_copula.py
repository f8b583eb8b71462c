"""Tests for privstats.synth.copula: the Gaussian copula with atoms, bounds and missingness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from privstats.errors import ParameterError
from privstats.synth.copula import GaussianCopula
from privstats.synth.schema import ColumnSpec, Schema

ROWS = 6_000


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    """Related columns from one latent normal vector (test data only, numpy's generator)."""
    rng = np.random.default_rng(20240611)
    latent = rng.multivariate_normal(
        np.zeros(4),
        [[1.0, 0.6, 0.5, 0.3], [0.6, 1.0, 0.4, 0.2], [0.5, 0.4, 1.0, 0.1], [0.3, 0.2, 0.1, 1.0]],
        size=ROWS,
    )
    level = norm.cdf(latent)
    age = np.round(16 + 74 * level[:, 0]).astype(float)
    age[rng.random(ROWS) < 0.04] = np.nan
    # 92 % zero, a lognormal amount for the others, larger with age.
    benefit = np.where(level[:, 1] < 0.92, 0.0, np.round(np.exp(6 + latent[:, 1]), 2))
    hours = np.clip(np.round(38 + 12 * latent[:, 2], 1), 0.0, 60.0)  # bounded, 3 % at 60
    share = level[:, 3]  # bounded in (0, 1)
    # Missing more often for the young: missingness depends on another column.
    share[rng.random(ROWS) < np.where(latent[:, 0] < 0, 0.18, 0.06)] = np.nan
    region = rng.choice(["North", "South", "East", "West"], size=ROWS, p=[0.4, 0.3, 0.2, 0.1])
    sex = np.where(latent[:, 3] + rng.normal(0, 1, ROWS) > 0, "F", "M").astype(object)
    sex[rng.random(ROWS) < 0.03] = None
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.floor(900 * level[:, 2]), "D")
    return pd.DataFrame(
        {
            "age": pd.array(age, dtype="Float64").astype("Int64"),
            "benefit": benefit,
            "hours": hours,
            "share": share,
            "region": region.astype(object),
            "sex": sex,
            "start": pd.Series(start).where(rng.random(ROWS) > 0.05),
        }
    )


@pytest.fixture(scope="module")
def fitted(real: pd.DataFrame) -> GaussianCopula:
    return GaussianCopula().fit(real)


@pytest.fixture(scope="module")
def synthetic(fitted: GaussianCopula) -> pd.DataFrame:
    return fitted.sample(ROWS, seed=5)


def test_a_zero_inflated_column_keeps_its_share_of_zeros(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> None:
    assert (real["benefit"] == 0).mean() == pytest.approx(0.92, abs=0.01)
    assert (synthetic["benefit"] == 0).mean() == pytest.approx(0.92, abs=0.02)
    # The positive amounts stay positive amounts from the observed range, not smeared zeros.
    positive = synthetic["benefit"][synthetic["benefit"] > 0]
    assert positive.min() >= real["benefit"][real["benefit"] > 0].min()


def test_piles_at_the_bounds_are_kept_and_bounds_never_crossed(
    real: pd.DataFrame, synthetic: pd.DataFrame, fitted: GaussianCopula
) -> None:
    for name in ("age", "benefit", "hours", "share", "start"):
        spec = fitted.schema[name]
        values = synthetic[name].dropna()
        if spec.kind == "date":
            numbers = (values - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=float)
        else:
            numbers = values.to_numpy(dtype=float)
        assert spec.low is not None and spec.high is not None
        assert numbers.min() >= spec.low, name
        assert numbers.max() <= spec.high, name
    assert synthetic["hours"].between(0, 60).all()
    assert synthetic["share"].dropna().between(0, 1).all()
    at_most = (real["hours"] == 60).mean()
    assert at_most > 0.02
    assert (synthetic["hours"] == 60).mean() == pytest.approx(at_most, abs=0.01)


@pytest.mark.parametrize(
    ("first", "second"), [("age", "hours"), ("age", "benefit"), ("hours", "share")]
)
def test_rank_correlations_are_kept(
    real: pd.DataFrame, synthetic: pd.DataFrame, first: str, second: str
) -> None:
    def spearman(table: pd.DataFrame) -> float:
        pair = table[[first, second]].astype(float).dropna()
        return float(pair.corr(method="spearman").iloc[0, 1])

    assert spearman(real) > 0.1
    assert spearman(synthetic) == pytest.approx(spearman(real), abs=0.1)


def test_category_shares_are_kept_and_no_category_is_invented(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> None:
    for name in ("region", "sex"):
        observed = real[name].value_counts(normalize=True)
        drawn = synthetic[name].value_counts(normalize=True)
        assert set(drawn.index) <= set(observed.index), name
        for category, share in observed.items():
            assert drawn.get(category, 0.0) == pytest.approx(share, abs=0.03), (name, category)


def test_missing_shares_are_kept_and_follow_the_other_columns(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> None:
    for name in real.columns:
        assert synthetic[name].isna().mean() == pytest.approx(real[name].isna().mean(), abs=0.02), (
            name
        )
    assert synthetic["region"].notna().all()

    def missing_by_age(table: pd.DataFrame) -> float:
        young = table["age"].astype(float) < 53
        return float(table["share"][young].isna().mean() - table["share"][~young].isna().mean())

    assert missing_by_age(real) > 0.05
    assert missing_by_age(synthetic) > 0.03


def test_integers_are_whole_numbers_and_dates_are_dates_in_range(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> None:
    assert str(synthetic["age"].dtype) == "Int64"
    ages = synthetic["age"].dropna().to_numpy(dtype=float)
    assert np.all(ages == np.round(ages))
    assert str(synthetic["start"].dtype) == "datetime64[ns]"
    dates = synthetic["start"].dropna()
    assert (dates == dates.dt.normalize()).all()
    assert dates.min() >= real["start"].min()
    assert dates.max() <= real["start"].max()


def test_equal_seeds_give_equal_tables_other_seeds_other_tables(fitted: GaussianCopula) -> None:
    state = np.random.get_state()
    first = fitted.sample(400, seed=11)
    np.random.seed(0)  # the stream alone decides the draws
    pd.testing.assert_frame_equal(first, fitted.sample(400, seed=11))
    np.random.set_state(state)
    assert not first.equals(fitted.sample(400, seed=12))


def test_sampling_does_not_touch_numpys_global_generator(fitted: GaussianCopula) -> None:
    before = np.random.get_state()[1].copy()  # type: ignore[index]
    fitted.sample(200, seed=3)
    assert np.array_equal(np.random.get_state()[1], before)  # type: ignore[index]


def test_the_latent_correlation_is_recovered_through_atoms(fitted: GaussianCopula) -> None:
    correlation = fitted.correlation
    assert np.allclose(np.diag(correlation), 1.0)
    assert np.allclose(correlation, correlation.T)
    assert np.linalg.eigvalsh(correlation.to_numpy()).min() > 0
    # The latent age-benefit correlation is 0.6 although benefit is 92 % zero.
    assert correlation.loc["age", "benefit"] == pytest.approx(0.6, abs=0.08)
    assert "share (missing)" in correlation.index
    assert correlation.loc["share", "share (missing)"] == pytest.approx(0.0, abs=0.05)
    assert correlation.loc["age", "share (missing)"] < -0.1


def test_constant_all_missing_and_unseen_values_are_handled() -> None:
    table = pd.DataFrame(
        {
            "constant": [3.0] * 50,
            "empty": [np.nan] * 50,
            "colour": ["red", "blue"] * 25,
            "x": np.arange(50, dtype=float),
        }
    )
    schema = Schema(
        (
            ColumnSpec("constant", "continuous", low=3.0, high=3.0),
            ColumnSpec("empty", "continuous", missing=1.0),
            ColumnSpec("colour", "categorical", categories=("blue", "green", "red")),
            ColumnSpec("x", "integer", low=0.0, high=49.0),
        )
    )
    synthetic = GaussianCopula().fit(table, schema).sample(500, seed=1)
    assert (synthetic["constant"] == 3.0).all()
    assert synthetic["empty"].isna().all()
    assert set(synthetic["colour"]) == {"red", "blue"}  # "green" was never seen
    assert synthetic["x"].between(0, 49).all()


def test_a_single_record_is_reproduced() -> None:
    table = pd.DataFrame({"x": [2.5], "c": ["a"]})
    synthetic = GaussianCopula().fit(table).sample(5, seed=2)
    assert (synthetic["x"] == 2.5).all()
    assert (synthetic["c"] == "a").all()


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5, True])
def test_a_bad_atom_share_is_a_parameter_error(share: float) -> None:
    with pytest.raises(ParameterError, match="atom_share"):
        GaussianCopula(atom_share=share)


def test_the_correlation_needs_a_fitted_synthesizer() -> None:
    with pytest.raises(ParameterError, match="not fitted"):
        _ = GaussianCopula().correlation
