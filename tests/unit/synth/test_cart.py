"""Sequential CART synthesis: what it keeps, what it reproduces, and its protections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privstats.errors import ParameterError
from privstats.synth.cart import CART
from privstats.synth.schema import Schema


def _table(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, n)
    y = 2 * x + rng.normal(0, 4, n)
    group = np.where(x > 55, rng.choice(["a", "b"], n), rng.choice(["c", "d", "e"], n))
    employed = rng.random(n) < 0.6
    income = np.where(employed, np.round(np.exp(rng.normal(10, 0.5, n)), 2), 0.0)
    rent = np.round(rng.normal(800, 150, n), 2)
    rent[rng.random(n) < 0.15] = np.nan
    tenure = rng.choice(["own", "rent", None], n, p=[0.6, 0.3, 0.1])
    age = rng.integers(18, 80, n)
    moved = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    moved = pd.Series(moved).where(rng.random(n) > 0.2)
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "group": group,
            "employed": np.where(employed, "yes", "no"),
            "income": income,
            "rent": rent,
            "tenure": tenure,
            "age": age,
            "moved": moved,
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return _table(3000)


@pytest.fixture(scope="module")
def synthetic(real: pd.DataFrame) -> pd.DataFrame:
    return CART().fit(real).sample(3000, seed=11)


def test_the_sample_has_the_schema_and_keeps_a_strong_dependence(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> None:
    assert list(synthetic.columns) == list(real.columns)
    assert len(synthetic) == 3000
    assert str(synthetic["age"].dtype) == "Int64"
    assert pd.api.types.is_datetime64_any_dtype(synthetic["moved"])
    real_r = np.corrcoef(real["x"], real["y"])[0, 1]
    synth_r = np.corrcoef(synthetic["x"], synthetic["y"])[0, 1]
    assert abs(real_r - synth_r) < 0.1
    # a categorical variable that depends on x keeps depending on it
    assert synthetic.loc[synthetic["group"].isin(["a", "b"]), "x"].min() > 50


def test_zeros_of_a_zero_inflated_column_and_missing_shares_are_kept(
    real: pd.DataFrame, synthetic: pd.DataFrame
) -> None:
    assert abs((synthetic["income"] == 0).mean() - (real["income"] == 0).mean()) < 0.02
    for name in ("rent", "tenure", "moved"):
        assert abs(synthetic[name].isna().mean() - real[name].isna().mean()) < 0.03, name
    # smoothed values stay in the observed range
    assert synthetic["income"].min() >= 0
    assert synthetic["income"].max() <= real["income"].max()


def test_categories_are_never_invented(real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    for name in ("group", "employed", "tenure"):
        assert set(synthetic[name].dropna()) <= set(real[name].dropna()), name


def test_equal_seeds_give_equal_tables_and_other_seeds_do_not(real: pd.DataFrame) -> None:
    model = CART().fit(real.head(800))
    first = model.sample(500, seed=3)
    pd.testing.assert_frame_equal(first, model.sample(500, seed=3))
    pd.testing.assert_frame_equal(first, CART().fit(real.head(800)).sample(500, seed=3))
    assert not first.equals(model.sample(500, seed=4))


@pytest.mark.parametrize("min_leaf", [5, 25])
def test_every_leaf_of_every_tree_holds_min_leaf_training_records(
    real: pd.DataFrame, min_leaf: int
) -> None:
    model = CART(min_leaf=min_leaf).fit(real)
    trees = [tree for column in model.trees.values() for tree in column]
    assert len(trees) >= len(real.columns) - 1
    for tree in trees:
        leaves = tree.tree_.children_left == -1
        assert tree.tree_.n_node_samples[leaves].min() >= min_leaf
        assert tree.get_params()["min_samples_leaf"] == min_leaf


def test_a_node_is_split_only_with_three_times_min_leaf_records(real: pd.DataFrame) -> None:
    # rpart's minsplit = 3 * minbucket, which synthpop's syn.cart inherits
    model = CART(min_leaf=7).fit(real)
    for tree in (tree for column in model.trees.values() for tree in column):
        inner = tree.tree_.children_left != -1
        assert inner.any()
        assert tree.tree_.n_node_samples[inner].min() >= 21


def test_smoothing_moves_only_the_released_numeric_values(real: pd.DataFrame) -> None:
    # Later trees are walked with the donor values, not the smoothed ones, so smoothing
    # cannot send a record into a leaf its values never reached in the training data:
    # with the same seed, every categorical value and every missing value is the same
    # with and without smoothing, and only numeric values move.
    smoothed = CART().fit(real).sample(2000, seed=5)
    plain = CART(smoothing=False).fit(real).sample(2000, seed=5)
    for name in ("group", "employed", "tenure"):
        pd.testing.assert_series_equal(smoothed[name], plain[name])
    for name in ("x", "y", "income", "rent", "age", "moved"):
        pd.testing.assert_series_equal(smoothed[name].isna(), plain[name].isna())
    assert (smoothed["x"] != plain["x"]).mean() > 0.9
    # zeros of the zero-inflated column are spikes: never smoothed
    zeros = plain["income"] == 0
    assert zeros.any()
    assert (smoothed.loc[zeros, "income"] == 0).all()


def _qi_table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    age = rng.integers(18, 90, n)
    return pd.DataFrame(
        {
            "age": age,
            "sex": rng.choice(["f", "m"], n),
            "region": rng.choice([f"r{i}" for i in range(15)], n),
            "income": np.round(np.exp(rng.normal(10, 0.5, n) + age / 100), 2),
        }
    )


def _real_uniques(real: pd.DataFrame, qi: list[str]) -> pd.DataFrame:
    return real.loc[~real.duplicated(qi, keep=False), qi]


@pytest.mark.parametrize("uniques", ["drop", "perturb"])
def test_no_synthetic_record_repeats_a_real_sample_unique_combination(uniques: str) -> None:
    real = _qi_table(1500)
    qi = ["age", "sex", "region"]
    unique = _real_uniques(real, qi)
    assert len(unique) > 200  # the check has something to catch
    model = CART(quasi_identifiers=qi, uniques=uniques).fit(real)  # type: ignore[arg-type]
    synthetic = model.sample(1500, seed=2)
    assert len(synthetic) == 1500
    assert synthetic.merge(unique, on=qi).empty
    # without the protection such records appear
    kept = CART(quasi_identifiers=qi, uniques="keep").fit(real).sample(1500, seed=2)
    assert len(kept.merge(unique, on=qi)) > 20


def test_drop_gives_up_when_nearly_every_record_is_a_real_unique() -> None:
    real = _qi_table(300)
    model = CART(quasi_identifiers=["income"], smoothing=False).fit(real)
    with pytest.raises(ParameterError, match="extra batches"):
        model.sample(100, seed=1)


def _full_copies(synthetic: pd.DataFrame, real: pd.DataFrame) -> float:
    return len(synthetic.merge(real.drop_duplicates(), on=list(real.columns))) / len(synthetic)


def test_smoothing_lowers_the_share_of_real_records_copied_whole() -> None:
    real = _table(150, seed=3)[["group", "x", "income", "age"]]
    unprotected = CART(smoothing=False).fit(real).sample(1000, seed=1)
    protected = CART().fit(real).sample(1000, seed=1)
    assert _full_copies(unprotected, real) > 0.02
    assert _full_copies(protected, real) < _full_copies(unprotected, real) / 2


def test_a_visit_sequence_orders_the_synthesis(real: pd.DataFrame) -> None:
    order = ["group", *(name for name in real.columns if name != "group")]
    model = CART(visit_sequence=order).fit(real.head(500))
    assert model.order == tuple(order)
    assert model.trees["group"] == ()
    assert list(model.sample(50, seed=1).columns) == list(real.columns)
    with pytest.raises(ParameterError, match="leaves out"):
        CART(visit_sequence=["x", "y"]).fit(real.head(100))
    with pytest.raises(ParameterError, match="no column"):
        CART(visit_sequence=[*real.columns, "nope"]).fit(real.head(100))


def test_a_given_schema_is_used_and_bad_options_are_refused(real: pd.DataFrame) -> None:
    schema = Schema.infer(real.head(400), categorical=["age"])
    sample = CART().fit(real.head(400), schema).sample(30, seed=0)
    assert set(sample["age"].dropna()) <= set(schema["age"].categories)
    for options in (
        {"min_leaf": 0},
        {"max_depth": 0},
        {"uniques": "hide"},
        {"smoothing": "yes"},
        {"quasi_identifiers": "age"},
        {"visit_sequence": ["x", "x"]},
    ):
        with pytest.raises(ParameterError):
            CART(**options)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="not fitted"):
        CART().sample(5, seed=0)
