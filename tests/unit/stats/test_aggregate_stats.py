"""Sufficient statistics and their finalisation, on one party's data, against pandas/numpy.

Every figure is compared with the plaintext computation on the same records: counts and
sums of whole numbers exactly, real-valued figures within the documented fixed-point
bound (plus 10⁻⁹ relative for the floating-point error of pandas itself), quantiles
exactly on values of the fixed-point grid.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.data.tables import Table
from privstats.errors import DatasetError, ParameterError
from privstats.stats.aggregate import (
    GRID_HIGH,
    GRID_LOW,
    INTERCEPT,
    Plan,
    group_figures,
    group_labels,
    local_sums,
    make_plan,
    ols_figures,
    parse_formula,
    parse_stat,
    prepare_records,
    quantile_index,
    quantile_reached,
)

F = 32
DELTA = 2.0 ** -(F + 1)  # the largest encoding error of one value
REL = 1e-9  # pandas' own floating-point error, generously


def _table(df: pd.DataFrame, by: tuple[str, ...] = ()) -> Table:
    values = {c: df[c].to_numpy(dtype=float) for c in df.columns if c not in by}
    return Table(
        "data.csv",
        len(df),
        {c: df[c].astype(str).to_numpy() for c in by},
        values,
        {c: bool(np.all(v[~np.isnan(v)] % 1 == 0)) for c, v in values.items()},
    )


def _bisect(below: Any, total: int, q: Fraction) -> int:
    low, high = GRID_LOW, GRID_HIGH
    while high - low > 1:
        middle = (low + high) // 2
        if quantile_reached(below(middle), total, q):
            high = middle
        else:
            low = middle
    return high


def release(
    df: pd.DataFrame, plan: Plan, by: tuple[str, ...] = ()
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every group's figures from one party's sums, all blocks opened (no minimum)."""
    table = _table(df, by)
    records = prepare_records(table, plan)
    codes, labels = group_labels(table, by)
    local = local_sums(records, codes, len(labels), plan.blocks)
    out = {}
    for g, label in enumerate(labels):
        quantiles: dict[tuple[str, Fraction], int | None] = {}
        for column, q in plan.quantiles:
            index = quantile_index(records, codes, len(labels), column)
            total = index.below(g, GRID_HIGH)
            if total > 0:
                quantiles[(column, q)] = _bisect(partial(index.below, g), total, q)
        sums = [[int(s[g]) for s in block] for block in local.sums]
        out[label] = group_figures(plan, local.counts[g].tolist(), sums, quantiles)
    return out


def _close(got: float | None, want: float, bound: float) -> bool:
    if got is None:
        return bool(np.isnan(want))
    return abs(got - want) <= bound + REL * abs(want)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "name", "kind", "columns", "q"),
    [
        ("count", "count", "count", (), None),
        (" mean : income ", "mean:income", "mean", ("income",), None),
        ("SUM:gross pay", "sum:gross pay", "sum", ("gross pay",), None),
        ("median:age", "median:age", "median", ("age",), Fraction(1, 2)),
        ("quantile:age:0.9", "quantile:age:0.9", "quantile", ("age",), Fraction(9, 10)),
        ("quantile:a:b:1/3", "quantile:a:b:1/3", "quantile", ("a:b",), Fraction(1, 3)),
        ("cov:a, b,c", "cov:a,b,c", "cov", ("a", "b", "c"), None),
        ("corr:x,y", "corr:x,y", "corr", ("x", "y"), None),
    ],
)
def test_statistics_parse(
    text: str, name: str, kind: str, columns: tuple[str, ...], q: Fraction | None
) -> None:
    stat = parse_stat(text)
    assert (stat.name, stat.kind, stat.columns, stat.q) == (name, kind, columns, q)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("average:x", "unknown statistic"),
        ("mean", "needs a column"),
        ("count:x", "takes no column"),
        ("quantile:x", "needs a column and a probability"),
        ("quantile:x:1", "strictly between 0 and 1"),
        ("quantile:x:nan", "strictly between 0 and 1"),
        ("quantile:x:0", "strictly between 0 and 1"),
        ("cov:x", "two or more distinct columns"),
        ("corr:x,x", "two or more distinct columns"),
    ],
)
def test_bad_statistics_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        parse_stat(text)
    assert info.value.parameter == "stats"


def test_formulas_parse() -> None:
    formula = parse_formula(" income ~ age + hours worked ")
    assert formula.response == "income"
    assert formula.terms == ("age", "hours worked")
    assert formula.names == (INTERCEPT, "age", "hours worked")
    assert formula.text == "income ~ age + hours worked"
    assert parse_formula("y ~ 1").terms == ()
    assert parse_formula("y ~ 1 + x").terms == ("x",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("y x", "exactly one '~'"),
        ("y ~ x ~ z", "exactly one '~'"),
        ("~ x", "one column"),
        ("y + z ~ x", "one column"),
        ("y ~ x +", "empty"),
        ("y ~ x + 0", "always included"),
        ("y ~ x * z", "'\\*' is not supported"),
        ("y ~ log(x)", "not supported"),
        ("y ~ x + x", "repeated"),
        ("y ~ y", "also a term"),
    ],
)
def test_bad_formulas_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message) as info:
        parse_formula(text)
    assert info.value.parameter == "ols"


def test_plan_shares_sums_between_statistics() -> None:
    """mean, var and sd of a column share one block; cov and corr of a set share another."""
    plan = make_plan(["mean:x", "var:x", "sd:x", "cov:x,y", "corr:x,y", "median:x", "mean:x"])
    assert [b.name for b in plan.blocks] == ["records", "column:x", "set:x,y"]
    assert plan.blocks[1].monomials == (("x",), ("x", "x"))
    assert plan.quantiles == (("x", Fraction(1, 2)),)
    assert len(plan.stats) == 6
    weighted = make_plan(["mean:x"], weight="w", formula="y ~ x")
    assert weighted.blocks[0].monomials == ((),)
    assert weighted.blocks[1].monomials == ((), ("x",))  # a mean needs no Σw·x²
    assert weighted.value_columns == ("x", "w", "y")
    assert weighted.ols is not None and weighted.ols.monomials[:3] == ((), ("x",), ("y",))


def test_plan_opens_only_the_sums_the_figures_need() -> None:
    """A quantile alone needs the count; a sum or mean Σx; a variance Σx and Σx²."""
    plan = make_plan(["median:a", "sum:b", "quantile:c:0.9", "var:c"])
    assert {b.name: b.monomials for b in plan.blocks} == {
        "records": (),
        "column:a": (),
        "column:b": (("b",),),
        "column:c": (("c",), ("c", "c")),
    }


# --------------------------------------------------------------------------- figures


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(40_000, 9_000, n)
    y = 0.3 * x + rng.normal(0, 2_000, n)
    z = rng.uniform(-1, 1, n)
    x[rng.random(n) < 0.1] = np.nan
    y[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {"region": rng.choice(["North", "South", "East"], n), "x": x, "y": y, "z": z}
    )


def test_real_valued_figures_are_within_the_documented_bound() -> None:
    """mean, var, sd, cov and corr of real data, by group, against pandas."""
    df = _frame(np.random.default_rng(1), 3_000)
    stats = ["count", "sum:x", "mean:x", "var:x", "sd:x", "mean:z", "cov:x,y,z", "corr:x,y,z"]
    plan = make_plan(stats, frac_bits=F)

    got = release(df, plan, ("region",))

    for region, part in df.groupby("region"):
        figures = got[(region,)]
        n = part["x"].count()
        s = part["x"].std()
        assert figures["count"] == len(part)
        assert _close(figures["sum:x"], part["x"].sum(), n * DELTA)
        assert _close(figures["mean:x"], part["x"].mean(), DELTA)
        assert _close(figures["mean:z"], part["z"].mean(), DELTA)
        assert _close(
            figures["var:x"], part["x"].var(), 2 * math.sqrt(2) * s * DELTA + 2 * DELTA**2
        )
        assert _close(figures["sd:x"], s, math.sqrt(2) * DELTA)
        complete = part[["x", "y", "z"]].dropna()
        sd = complete.std()
        for i, a in enumerate("xyz"):
            for j, b in enumerate("xyz"):
                cov_bound = math.sqrt(2) * (sd[a] + sd[b]) * DELTA + 2 * DELTA**2
                corr_bound = 2 * math.sqrt(2) * DELTA * (1 / sd[a] + 1 / sd[b])
                assert _close(figures["cov:x,y,z"][i][j], complete.cov().loc[a, b], cov_bound)
                assert _close(figures["corr:x,y,z"][i][j], complete.corr().loc[a, b], corr_bound)


def test_sums_of_whole_numbers_are_exact_ints() -> None:
    """Sums of integer columns come out as Python ints, exact beyond float precision."""
    values = [2**52 + 1, 2**52 + 3, -7, 0, 9_007_199_254_740_000]
    df = pd.DataFrame({"k": values})
    plan = make_plan(["sum:k", "mean:k"], frac_bits=F)

    figures = release(df, plan)[()]

    assert figures["sum:k"] == sum(values)
    assert isinstance(figures["sum:k"], int)
    assert figures["mean:k"] == float(Fraction(sum(values), len(values)))


def test_missing_values_are_skipped_per_column_and_complete_cases_for_cov() -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "y": [2.0, 5.0, np.nan, 8.0]})
    plan = make_plan(["mean:x", "mean:y", "var:y", "cov:x,y"], frac_bits=F)

    figures = release(df, plan)[()]

    assert figures["count"] == 4
    assert figures["mean:x"] == pytest.approx(df["x"].mean(), rel=1e-15)
    assert figures["mean:y"] == pytest.approx(df["y"].mean(), rel=1e-15)
    assert figures["var:y"] == pytest.approx(df["y"].var(), rel=1e-15)
    assert figures["cov:x,y"][0][1] == pytest.approx(df[["x", "y"]].dropna().cov().iloc[0, 1])


def test_undefined_figures_are_none() -> None:
    """One value has no variance; a constant column no correlation (pandas: NaN)."""
    df = pd.DataFrame({"x": [5.0, 5.0, 5.0], "y": [1.0, 2.0, np.nan], "z": [1.0, np.nan, np.nan]})
    plan = make_plan(["var:z", "sd:z", "corr:x,y", "cov:x,z", "mean:z"], frac_bits=F)

    figures = release(df, plan)[()]

    assert figures["var:z"] is None and figures["sd:z"] is None
    assert figures["corr:x,y"] == [[None, None], [None, 1.0]]
    assert figures["cov:x,z"] == [[None, None], [None, None]]
    assert figures["mean:z"] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-(2**20), 2**20), min_size=1, max_size=60),
    st.sampled_from(
        [Fraction(1, 2), Fraction(1, 4), Fraction(3, 4), Fraction(1, 8), Fraction(7, 8)]
    ),
    st.integers(0, 10),
)
def test_quantiles_equal_numpy_inverted_cdf_on_the_grid(
    steps: list[int], q: Fraction, shift: int
) -> None:
    """Values on the fixed-point grid: the quantile is exactly numpy's inverted CDF."""
    values = np.array(steps, dtype=float) / 2**shift
    df = pd.DataFrame({"x": values})
    plan = make_plan([f"quantile:x:{q}", "median:x"], frac_bits=F)

    figures = release(df, plan)[()]

    assert figures[f"quantile:x:{q}"] == np.quantile(values, float(q), method="inverted_cdf")
    assert figures["median:x"] == np.quantile(values, 0.5, method="inverted_cdf")


def test_quantile_definition_is_exact_where_numpy_rounds() -> None:
    """q = 0.28 of 25 values: the seventh (F = 7/25 = 0.28 ≥ q). numpy computes 25·0.28 in
    floating point (7.000000000000001) and returns the eighth; we take q exactly."""
    values = np.arange(1.0, 26.0)
    plan = make_plan(["quantile:x:0.28"], frac_bits=F)

    figures = release(pd.DataFrame({"x": values}), plan)[()]

    assert figures["quantile:x:0.28"] == 7.0
    assert np.quantile(values, 0.28, method="inverted_cdf") == 8.0


def test_pandas_default_median_interpolates_and_ours_does_not() -> None:
    values = np.array([1.0, 2.0, 3.0, 10.0])
    figures = release(pd.DataFrame({"x": values}), make_plan(["median:x"]))[()]
    assert figures["median:x"] == 2.0
    assert pd.Series(values).median() == 2.5


# --------------------------------------------------------------------------- weights


def test_weighted_figures_match_the_numpy_formulas() -> None:
    """Σw·x, Σw·x/Σw, Σw(x − x̄)²/(Σw − 1), weighted cov/corr and quantiles, weighted_count."""
    rng = np.random.default_rng(7)
    n = 500
    df = pd.DataFrame(
        {
            "x": rng.integers(-1000, 1000, n) / 16,
            "y": rng.normal(10, 3, n),
            "w": rng.integers(0, 20, n).astype(float),
        }
    )
    df.loc[rng.random(n) < 0.05, "w"] = np.nan
    df.loc[rng.random(n) < 0.05, "x"] = np.nan
    stats = ["count", "sum:x", "mean:x", "var:x", "sd:x", "cov:x,y", "corr:x,y", "median:x"]
    plan = make_plan([*stats, "quantile:x:0.9"], weight="w", frac_bits=F)

    figures = release(df, plan)[()]

    kept = df[df["w"].notna()]
    x, w = kept["x"].to_numpy(), kept["w"].to_numpy()
    px, pw = x[~np.isnan(x)], w[~np.isnan(x)]
    mean = np.sum(pw * px) / pw.sum()
    var = np.sum(pw * (px - mean) ** 2) / (pw.sum() - 1)
    assert figures["count"] == len(kept)
    assert figures["weighted_count"] == int(w.sum())
    assert figures["sum:x"] == np.sum(pw * px)  # grid values, whole weights: exact
    assert figures["mean:x"] == pytest.approx(mean, rel=1e-12)
    assert figures["var:x"] == pytest.approx(var, rel=1e-12)
    assert figures["sd:x"] == pytest.approx(math.sqrt(var), rel=1e-12)
    for q, key in ((0.5, "median:x"), (0.9, "quantile:x:0.9")):
        assert figures[key] == np.quantile(px, q, weights=pw, method="inverted_cdf")
    both = kept[["x", "y", "w"]].dropna()
    cov = np.cov(both["x"], both["y"], fweights=both["w"].astype(int), ddof=1)
    assert np.allclose(figures["cov:x,y"], cov, rtol=1e-9, atol=0)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.allclose(figures["corr:x,y"], corr, rtol=1e-9, atol=0)


def test_missing_weights_are_left_out_with_a_warning_and_negative_ones_refused() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "w": [1.0, np.nan, 2.0]})
    records = prepare_records(_table(df), make_plan(["mean:x"], weight="w"))
    assert records.keep.tolist() == [True, False, True]
    assert records.warnings == (
        "data.csv: 1 record(s) without a value of weight column 'w' are left out (row 2)",
    )
    bad = pd.DataFrame({"x": [1.0, 2.0], "w": [1.0, -0.5]})
    with pytest.raises(DatasetError, match=r"'w' has 1 negative value\(s\) \(row 2\)") as info:
        prepare_records(_table(bad), make_plan(["mean:x"], weight="w"))
    assert (info.value.column, info.value.rows) == ("w", (2,))


# --------------------------------------------------------------------------- OLS


def _ols_release(df: pd.DataFrame, formula: str, weight: str | None = None) -> dict[str, Any]:
    plan = make_plan([], formula=formula, weight=weight, frac_bits=F)
    table = _table(df)
    records = prepare_records(table, plan)
    assert plan.ols is not None
    local = local_sums(records, np.zeros(len(df), dtype=np.intp), 1, [plan.ols])
    return ols_figures(plan, int(local.counts[0, 0]), [int(s[0]) for s in local.sums[0]])


def _textbook(design: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> dict[str, Any]:
    w = np.ones(len(y)) if w is None else w
    root = np.sqrt(w)
    beta = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
    resid = y - design @ beta
    rss = np.sum(w * resid**2)
    ybar = np.sum(w * y) / w.sum()
    sigma2 = rss / (len(y) - design.shape[1])
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(design.T @ (design * w[:, None]))))
    return {"coef": beta, "se": se, "r2": 1 - rss / np.sum(w * (y - ybar) ** 2)}


@pytest.mark.parametrize("weighted", [False, True])
def test_ols_matches_least_squares_and_the_textbook_formulas(weighted: bool) -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    df = pd.DataFrame({"age": rng.uniform(18, 80, n), "hours": rng.normal(35, 8, n)})
    df["income"] = 500 + 30 * df["age"] + 12 * df["hours"] + rng.normal(0, 400, n)
    df["w"] = rng.integers(1, 5, n).astype(float)
    df.loc[rng.random(n) < 0.05, "hours"] = np.nan

    got = _ols_release(df, "income ~ age + hours", weight="w" if weighted else None)

    complete = df.dropna()
    X = np.column_stack([np.ones(len(complete)), complete["age"], complete["hours"]])
    want = _textbook(
        X, complete["income"].to_numpy(), complete["w"].to_numpy() if weighted else None
    )
    names = [INTERCEPT, "age", "hours"]
    assert got["n"] == len(complete)
    assert got["formula"] == "income ~ age + hours"
    assert np.allclose([got["coef"][k] for k in names], want["coef"], rtol=1e-6, atol=0)
    assert np.allclose([got["se"][k] for k in names], want["se"], rtol=1e-6, atol=0)
    assert got["r2"] == pytest.approx(want["r2"], rel=1e-9)


def test_collinear_terms_are_named() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "z": [7.0] * 4, "y": [1.0, 3.0, 2.0, 5.0]})
    df["x2"] = 2 * df["x"] + 1
    with pytest.raises(ParameterError, match="'x2' is a linear combination") as info:
        _ols_release(df, "y ~ x + x2")
    assert info.value.parameter == "ols"
    with pytest.raises(ParameterError, match="'z' is a linear combination of the intercept"):
        _ols_release(df, "y ~ z + x")


def test_rounded_collinear_terms_are_still_caught() -> None:
    """0.1·k and 0.3·k are exactly proportional, their fixed-point codes not quite."""
    k = np.arange(1.0, 50.0)
    df = pd.DataFrame({"a": 0.1 * k, "b": 0.3 * k, "y": np.sin(k)})
    with pytest.raises(ParameterError, match="'b' is a linear combination"):
        _ols_release(df, "y ~ a + b")


def test_exact_fit_has_no_standard_errors() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 5.0]})
    got = _ols_release(df, "y ~ x")
    assert got["coef"] == {INTERCEPT: 1.0, "x": 2.0}
    assert got["se"] == {INTERCEPT: None, "x": None}
    assert got["r2"] == 1.0


# --------------------------------------------------------------------------- local data


def test_group_labels_are_sorted_tuples_and_chunking_does_not_change_sums() -> None:
    rng = np.random.default_rng(5)
    df = _frame(rng, 1_000)
    df["sex"] = rng.choice(["F", "M"], len(df))
    table = _table(df, ("region", "sex"))
    codes, labels = group_labels(table, ("region", "sex"))
    assert labels == sorted({(r, s) for r, s in zip(df["region"], df["sex"], strict=True)})
    assert [labels[c] for c in codes] == list(zip(df["region"], df["sex"], strict=True))

    plan = make_plan(["var:x", "cov:x,y"], weight="z")
    table = _table(df.assign(z=df["z"].abs()), ("region", "sex"))
    records = prepare_records(table, plan)
    whole = local_sums(records, codes, len(labels), plan.blocks)
    chunked = local_sums(records, codes, len(labels), plan.blocks, chunk_rows=37)
    assert np.array_equal(whole.counts, chunked.counts)
    assert [[list(m) for m in b] for b in whole.sums] == [
        [list(m) for m in b] for b in chunked.sums
    ]


def test_empty_group_values_are_refused_naming_rows() -> None:
    table = Table("f.csv", 3, {"region": np.array(["A", "", ""])}, {}, {})
    with pytest.raises(
        DatasetError, match=r"f.csv: column 'region' has 2 empty value\(s\) \(rows 2, 3\)"
    ):
        group_labels(table, ("region",))


def test_a_table_without_rows_gives_zero_sums() -> None:
    plan = make_plan(["mean:x", "cov:x,y"], weight="w", formula="y ~ x")
    table = Table("e.csv", 0, {}, {c: np.zeros(0) for c in "xyw"}, {})
    records = prepare_records(table, plan)
    local = local_sums(records, np.zeros(0, dtype=np.intp), 1, plan.blocks)
    assert local.counts.tolist() == [[0, 0, 0]]
    assert all(int(m[0]) == 0 for block in local.sums for m in block)
