"""Disclosure-risk measures of synthetic data on constructed tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privstats.errors import DatasetError, ParameterError
from privstats.synth.risk import (
    RISK_KEYS,
    dcr_closer_to_train,
    distance_to_closest_record,
    exact_copies,
    replicated_uniques,
    risk_report,
    tcap,
)
from privstats.synth.schema import Schema


def population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, n),
            "age": pd.array(rng.integers(18, 90, n), dtype="Int64"),
            "score": rng.normal(size=n),
            "region": np.array(["n", "s", "e", "w"], dtype=object)[rng.integers(0, 4, n)],
        }
    )
    table.loc[rng.random(n) < 0.1, "score"] = np.nan
    return table


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame, Schema]:
    real, holdout = population(600, 1), population(400, 2)
    return real, holdout, Schema.infer(pd.concat([real, holdout], ignore_index=True))


# -- exact copies -------------------------------------------------------------------------


def test_a_copy_is_all_exact_copies(tables: tuple[pd.DataFrame, pd.DataFrame, Schema]) -> None:
    real, holdout, schema = tables
    assert exact_copies(real, real.sample(frac=1.0, random_state=1), schema) == 1.0
    assert exact_copies(real, holdout, schema) == 0.0
    half = pd.concat([real.head(100), holdout.head(100)], ignore_index=True)
    assert exact_copies(real, half, schema) == 0.5


def test_exact_copies_match_missing_to_missing_and_nothing_else() -> None:
    real = pd.DataFrame({"x": [1.0, np.nan, 3.0], "g": ["a", None, "b"]})
    synthetic = pd.DataFrame({"x": [np.nan, np.nan, 3.0, 1.0], "g": [None, "a", "a", "a"]})
    # (NA, NA) and (1, a) are real records; (NA, a) and (3, a) are not
    assert exact_copies(real, synthetic, Schema.infer(real)) == 0.5


# -- distance to closest record -----------------------------------------------------------


def test_gower_distances_on_a_hand_computed_example() -> None:
    reference = pd.DataFrame({"x": [0.0, 10.0, 5.0], "g": ["a", "b", "a"], "z": [0.0, np.nan, 4.0]})
    query = pd.DataFrame({"x": [5.0, 20.0], "g": ["b", "a"], "z": [np.nan, 2.0]})
    schema = Schema.infer(reference)
    # (5, b, NA): to (10, b, NA) .5 + 0 + 0 (both missing); to the others at least 2
    # (20, a, 2): x clipped to the range [0, 10] → 1; to (5, a, 4): .5 + 0 + .5 = 1
    distances = distance_to_closest_record(query, reference, schema)
    np.testing.assert_allclose(distances, [0.5 / 3, 1.0 / 3])


def test_nearest_records_across_tiles_agree_with_brute_force() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"x": rng.random(4500), "g": rng.choice(np.array(["a", "b", "c"], dtype=object), 4500)}
    )
    reference.loc[rng.random(4500) < 0.2, "x"] = np.nan
    query = pd.DataFrame(
        {"x": rng.random(300) * 1.2, "g": rng.choice(np.array(["a", "b"], dtype=object), 300)}
    )
    query.loc[rng.random(300) < 0.2, "x"] = np.nan
    schema = Schema.infer(reference)
    qx, rx = query["x"].to_numpy()[:, None], reference["x"].to_numpy()[None, :]
    low, high = np.nanmin(reference["x"]), np.nanmax(reference["x"])
    scaled_q = np.clip((qx - low) / (high - low), 0, 1)
    scaled_r = (rx - low) / (high - low)
    numeric = np.where(
        np.isnan(qx) & np.isnan(rx),
        0.0,
        np.where(np.isnan(qx) | np.isnan(rx), 1.0, np.abs(scaled_q - scaled_r)),
    )
    categorical = query["g"].to_numpy()[:, None] != reference["g"].to_numpy()[None, :]
    expected = ((numeric + categorical) / 2).min(axis=1)
    np.testing.assert_allclose(distance_to_closest_record(query, reference, schema), expected)


def test_dcr_of_a_training_copy_is_one_and_of_a_holdout_copy_zero(
    tables: tuple[pd.DataFrame, pd.DataFrame, Schema],
) -> None:
    real, holdout, schema = tables
    training = real.head(400)  # as many records as the holdout: no subsampling
    assert dcr_closer_to_train(training, training.copy(), schema, holdout) == 1.0
    assert dcr_closer_to_train(training, holdout.copy(), schema, holdout) == 0.0
    # a larger training table is subsampled to the holdout's size: a copy of it is
    # still much closer to the training records
    assert dcr_closer_to_train(real, real.copy(), schema, holdout) > 0.8


def test_dcr_of_an_independent_sample_is_near_one_half(
    tables: tuple[pd.DataFrame, pd.DataFrame, Schema],
) -> None:
    real, holdout, schema = tables
    value = dcr_closer_to_train(real, population(2000, 9), schema, holdout, seed=4)
    assert 0.4 < value < 0.6
    assert dcr_closer_to_train(real, population(2000, 9), schema, holdout, seed=4) == value


# -- replicated uniques and TCAP ----------------------------------------------------------

QI_REAL = pd.DataFrame(
    {
        "sex": ["m", "m", "f", "f", "m", "f"],
        "age": [1, 1, 1, 2, 3, 3],
        "disease": ["a", "b", "a", "b", "c", "a"],
    }
)
QI_SYNTHETIC = pd.DataFrame(
    {
        "sex": ["m", "m", "f", "f", "f", "m"],
        "age": [1, 1, 1, 1, 2, 3],
        "disease": ["a", "a", "a", "b", "a", "c"],
    }
)


def test_replicated_uniques_on_a_hand_made_table() -> None:
    schema = Schema.infer(QI_REAL)
    # real uniques on (sex, age): (f,1) (f,2) (m,3) (f,3); synthetic uniques: (f,2) (m,3)
    count, percent = replicated_uniques(QI_REAL, QI_SYNTHETIC, schema, ["sex", "age"])
    assert (count, percent) == (2, pytest.approx(100 * 2 / 6))
    # on sex alone nothing is unique
    assert replicated_uniques(QI_REAL, QI_SYNTHETIC, schema, ["sex"]) == (0, 0.0)


def test_tcap_on_a_hand_made_table() -> None:
    schema = Schema.infer(QI_REAL)
    # synthetic classes with one disease: (m,1) → a, (f,2) → a, (m,3) → c; (f,1) has a and b.
    # Real records in them: (m,1,a) right, (m,1,b) wrong, (f,2,b) wrong, (m,3,c) right.
    assert tcap(QI_REAL, QI_SYNTHETIC, schema, ["sex", "age"], "disease") == 0.5
    # on age alone: 1 → {a, b}, 2 → a, 3 → c; real (f,2,b) wrong, (m,3,c) right, (f,3,a) wrong
    assert tcap(QI_REAL, QI_SYNTHETIC, schema, ["age"], "disease") == pytest.approx(1 / 3)
    disjoint = QI_SYNTHETIC.assign(age=9)
    assert (
        tcap(QI_REAL, disjoint, Schema.infer(pd.concat([QI_REAL, disjoint])), ["age"], "disease")
        is None
    )


def test_missing_quasi_identifiers_match_each_other() -> None:
    real = pd.DataFrame({"q": ["a", None, "b"], "s": ["x", "y", "x"]})
    synthetic = pd.DataFrame({"q": [None, "b", "b"], "s": ["y", "x", "x"]})
    schema = Schema.infer(real)
    assert replicated_uniques(real, synthetic, schema, ["q"]) == (1, pytest.approx(100 / 3))
    assert tcap(real, synthetic, schema, ["q"], "s") == 1.0


# -- the report ---------------------------------------------------------------------------


def test_the_report_has_exactly_its_keys_and_none_where_not_computable(
    tables: tuple[pd.DataFrame, pd.DataFrame, Schema],
) -> None:
    real, holdout, schema = tables
    report = risk_report(real, real.copy(), schema)
    assert tuple(report) == RISK_KEYS
    assert report == {"exact_copies": 1.0, "dcr_closer_to_train": None, "repu": None, "tcap": None}
    only_qi = risk_report(real, holdout, schema, quasi_identifiers=["age", "region"])
    assert only_qi["repu"] is not None and only_qi["tcap"] is None
    full = risk_report(
        real,
        population(500, 5),
        schema,
        holdout=holdout,
        quasi_identifiers=("age", "region"),
        sensitive="income",
    )
    assert all(isinstance(value, float) for value in full.values() if value is not None)
    assert full["dcr_closer_to_train"] is not None


def test_the_report_explains_bad_parameters(
    tables: tuple[pd.DataFrame, pd.DataFrame, Schema],
) -> None:
    real, holdout, schema = tables
    with pytest.raises(ParameterError, match="postcode"):
        risk_report(real, holdout, schema, quasi_identifiers=["postcode"])
    with pytest.raises(ParameterError, match="also a quasi-identifier"):
        risk_report(real, holdout, schema, quasi_identifiers=["age"], sensitive="age")
    with pytest.raises(DatasetError, match="holdout table"):
        risk_report(real, holdout, schema, holdout=holdout.drop(columns=["age"]))
    with pytest.raises(DatasetError, match="no records"):
        risk_report(real, holdout.head(0), schema)
