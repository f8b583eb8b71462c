"""The contract every synthesizer keeps, checked once per method.

Schema kept (columns, order, types), missing values kept as missing, categories never
invented, equal seeds give equal tables, the requested number of rows, clear errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from privstats.errors import ParameterError
from privstats.synth.methods import METHODS, make_synthesizer
from privstats.synth.schema import Schema

OPTIONS: dict[str, dict[str, Any]] = {
    "cart": {},
    "copula": {},
    "mst": {"epsilon": 1e4, "bounds_from_data": True},
}


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    rng = np.random.default_rng(11)  # test data only
    n = 1_500
    age = rng.integers(16, 90, size=n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    region = rng.choice(["North", "South", "East", "West"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    sex = np.where(rng.random(n) < 0.5, "F", "M").astype(object)
    sex[rng.random(n) < 0.03] = None
    income = np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(9, 1, size=n)).round(2)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, size=n), "D")
    start = pd.Series(start).where(rng.random(n) > 0.04)
    return pd.DataFrame(
        {
            "age": pd.array(age, dtype="Float64").astype("Int64"),
            "region": region.astype(object),
            "sex": sex,
            "income": income,
            "start": start,
        }
    )


@pytest.fixture(scope="module", params=METHODS)
def fitted(request: pytest.FixtureRequest, real: pd.DataFrame) -> Any:
    method = str(request.param)
    return make_synthesizer(method, **OPTIONS[method]).fit(real, Schema.infer(real))


def test_the_schema_and_types_are_kept(fitted: Any, real: pd.DataFrame) -> None:
    synthetic = fitted.sample(800, seed=1)
    assert list(synthetic.columns) == list(real.columns)
    assert len(synthetic) == 800
    assert dict(synthetic.dtypes.astype(str)) == {
        "age": "Int64",
        "region": "object",
        "sex": "object",
        "income": "float64",
        "start": "datetime64[ns]",
    }
    assert Schema.infer(synthetic).of_kind("categorical") == ("region", "sex")


def test_missing_values_are_kept_as_missing(fitted: Any, real: pd.DataFrame) -> None:
    synthetic = fitted.sample(3_000, seed=2)
    for column in ("age", "sex", "start"):
        share = synthetic[column].isna().mean()
        assert 0 < share < 0.15, column
    assert synthetic["region"].notna().all()
    assert synthetic["income"].notna().all()


def test_categories_are_never_invented(fitted: Any, real: pd.DataFrame) -> None:
    synthetic = fitted.sample(3_000, seed=3)
    for column in ("region", "sex"):
        assert set(synthetic[column].dropna()) <= set(real[column].dropna()), column


def test_equal_seeds_give_equal_tables_and_other_seeds_other_tables(fitted: Any) -> None:
    first = fitted.sample(500, seed=7)
    pd.testing.assert_frame_equal(first, fitted.sample(500, seed=7))
    assert not first.equals(fitted.sample(500, seed=8))


@pytest.mark.parametrize("method", METHODS)
def test_sampling_before_fitting_and_bad_sizes_are_clear_errors(
    method: str, real: pd.DataFrame
) -> None:
    synthesizer = make_synthesizer(method, **OPTIONS[method])
    with pytest.raises(ParameterError, match="not fitted"):
        synthesizer.sample(10, seed=1)
    with pytest.raises(ParameterError, match="without records"):
        synthesizer.fit(real.iloc[:0])
    synthesizer.fit(real)
    with pytest.raises(ParameterError, match="positive number of rows"):
        synthesizer.sample(0, seed=1)


def test_an_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="cart, copula, mst"):
        make_synthesizer("gan")
