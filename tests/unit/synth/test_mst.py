"""MST synthesizer: noise distribution, accounting, utility at large ε, schema fidelity, errors.

The privacy noise comes from OpenDP and the OS's randomness and cannot be seeded, so the
statistical tests use thresholds that a correct implementation fails with probability
below about 1e-6. Test data come from numpy generators with fixed seeds; samples from a
fitted model are reproducible from their seed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from privstats.crypto.random import SeededStream
from privstats.disclosure import dp as disclosure_dp
from privstats.errors import MissingExtraError, ParameterError
from privstats.synth import mst as mst_module
from privstats.synth.mst import (
    MST,
    Bound,
    MissingBoundsError,
    _discrete_gaussian,
    _Groups,
    _project_simplex,
)
from privstats.synth.release import synthesize
from privstats.synth.report import render_html, write_report
from privstats.synth.schema import Schema

LABELS = ["a", "b", "c", "d"]


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    """Four categories, a strongly dependent copy, a numeric shifted by the category,
    a small integer, a date, and a column with 10% missing values."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    copy = np.where(rng.random(n) < 0.9, group, rng.integers(0, 4, n))
    x = rng.normal(10.0 * group, 3.0, n)
    small = rng.binomial(6, 0.3, n).astype(float)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    maybe = np.array(["yes", "no"], dtype=object)[rng.integers(0, 2, n)]
    maybe[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "group": np.array(LABELS)[group],
            "copy": np.array(LABELS)[copy],
            "x": x,
            "small": small,
            "day": day,
            "maybe": maybe,
        }
    )


BOUNDS: dict[str, tuple[Bound, Bound]] = {
    "x": (-10.0, 40.0),
    "small": (0, 6),
    "day": ("2024-01-01", "2024-12-31"),
}


def _epsilon(rho: float, delta: float) -> float:
    """(ε, δ) of ρ-zCDP by OpenDP's conversion, asked of a Gaussian mechanism with that ρ."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    gaussian = dp.m.make_gaussian(
        dp.atom_domain(T=float, nan=False),
        dp.absolute_distance(T=float),
        scale=1.0 / math.sqrt(2.0 * rho),
    )
    assert gaussian.map(1.0) == pytest.approx(rho, rel=1e-12)
    return float(dp.c.make_zCDP_to_approxDP(gaussian).map(1.0).epsilon(delta))


def test_the_budget_uses_opendps_conversion_not_the_looser_bound() -> None:
    report = MST(epsilon=1.0, delta=1e-9, bounds=BOUNDS, public_categories=True)
    report = report.fit(_table(500)).privacy
    assert report is not None
    simple_bound_rho = (math.sqrt(math.log(1e9) + 1.0) - math.sqrt(math.log(1e9))) ** 2
    assert simple_bound_rho == pytest.approx(0.0118, abs=1e-4)
    assert report["rho"] == pytest.approx(0.0150, abs=1e-4)  # 27 % more budget, same ε
    assert _epsilon(report["rho"], 1e-9) == pytest.approx(1.0, rel=1e-9)


# 1. the noise -------------------------------------------------------------------------


# the samplers' distributions are tested with them, in tests/unit/disclosure/test_dp.py


def test_simplex_projection_is_non_negative_with_the_requested_total() -> None:
    projected = _project_simplex(np.array([5.0, -3.0, 2.0, 0.5]), 6.0)
    assert projected.min() >= 0 and projected.sum() == pytest.approx(6.0)
    assert np.all(np.diff(projected[[1, 3, 2, 0]]) >= 0)  # order kept
    assert _project_simplex(np.array([1.0, 2.0]), 3.0) == pytest.approx([1.0, 2.0])


# 2. accounting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("epsilon", "delta", "columns"),
    [(1.0, 1e-9, None), (0.3, 1e-6, None), (2.0, 1e-9, ["group", "x"]), (1.0, 1e-9, ["x"])],
)
def test_reported_epsilon_is_the_composition_of_the_measurements(
    epsilon: float, delta: float, columns: list[str] | None
) -> None:
    table = _table(2_000)
    if columns is not None:
        table = table[columns]
    bounds = {name: pair for name, pair in BOUNDS.items() if name in table}
    synth = MST(epsilon=epsilon, delta=delta, bounds=bounds).fit(table)
    report = synth.privacy
    assert report is not None
    measurements = report["measurements"]
    total_rho = math.fsum(m["rho"] for m in measurements)
    # categories taken from the data (every categorical column here) are released by a
    # noisy threshold with a δ of its own; the zCDP conversion gets the other half of δ
    thresholds = math.fsum(m.get("delta", 0.0) for m in measurements)
    delta_zcdp = delta / 2 if any("threshold" in m for m in measurements) else delta
    composed = _epsilon(total_rho, delta_zcdp)
    assert report["rho"] == pytest.approx(total_rho, rel=1e-12)
    assert report["delta_categories"] == pytest.approx(thresholds, rel=1e-12)
    assert report["epsilon"] == pytest.approx(composed, rel=1e-9)
    assert report["epsilon"] == pytest.approx(epsilon, rel=1e-9)
    assert report["delta"] == pytest.approx(delta_zcdp + thresholds, rel=1e-12)
    assert report["delta"] <= delta

    d = table.shape[1]
    one_way = [m for m in measurements if m["what"].startswith("1-way")]
    two_way = [m for m in measurements if m["what"].startswith("2-way")]
    selections = [m for m in measurements if m["what"].startswith("select")]
    assert len(one_way) == d
    assert len(two_way) == d - 1 == len(report["tree"])
    assert len(selections) == (d - 1 if d >= 3 else 0)
    for m in one_way + two_way:  # discrete Gaussian: ρ = 1/(2σ²) at sensitivity 1
        assert m["rho"] == pytest.approx(1.0 / (2.0 * m["sigma"] ** 2), rel=1e-9)
    for m in selections:  # exponential mechanism: ρ = ε²/8
        assert m["rho"] == pytest.approx(m["epsilon"] ** 2 / 8.0, rel=1e-9)
    if d >= 3:  # MST's split: a third each for 1-way, selection and 2-way
        for part in (one_way, two_way, selections):
            assert math.fsum(m["rho"] for m in part) == pytest.approx(total_rho / 3, rel=1e-9)


def test_privacy_is_none_before_fit_and_a_copy_after() -> None:
    synth = MST(bounds=BOUNDS)
    assert synth.privacy is None and synth.privacy_report is None
    synth.fit(_table(500))
    report = synth.privacy
    assert report is not None
    report["measurements"].clear()
    report["outside_epsilon"].clear()
    report["noisy_total"].clear()
    assert synth.privacy is not None and synth.privacy["measurements"]
    assert synth.privacy["outside_epsilon"] and synth.privacy["noisy_total"]
    assert "OpenDP" in synth.privacy["mechanism"]
    assert any("public" in caveat for caveat in synth.privacy["caveats"])
    checked = synth.privacy_report
    assert checked is not None and checked.to_dict() == synth.privacy
    assert checked.spent is not None and checked.spent.delta <= synth.delta
    # the keys MST's report has always had, in their order, then the PrivacyReport's new ones
    assert list(synth.privacy) == [
        "method", "mechanism", "epsilon", "delta", "rho", "delta_categories", "accounting",
        "neighbouring", "bins",
        "bounds_from_data", "bounds", "noisy_total", "outside_epsilon", "tree", "measurements",
        "caveats", "unit", "covers",
    ]  # fmt: skip


def test_the_bounds_are_cells_of_their_own_so_point_masses_there_are_kept() -> None:
    rng = np.random.default_rng(5)  # test data only
    n = 20_000
    gain = np.where(rng.random(n) < 0.9, 0, rng.integers(1, 30_000, n)).astype(float)
    gain[rng.random(n) < 0.01] = 99_999  # top-coded
    share = rng.random(n)
    real = pd.DataFrame({"gain": gain, "share": np.where(share < 0.3, 0.0, share)})
    bounds: dict[str, tuple[Bound, Bound]] = {"gain": (0, 99_999), "share": (0.0, 1.0)}
    fake = MST(epsilon=1e4, bounds=bounds).fit(real).sample(20_000, seed=4)
    for name, value in (("gain", 0), ("gain", 99_999), ("share", 0)):  # 89 %, 1 %, 30 %
        expected = (real[name] == value).mean()
        assert (fake[name] == value).mean() == pytest.approx(expected, abs=0.01), (name, value)
    assert fake["gain"].between(0, 99_999).all() and fake["share"].between(0.0, 1.0).all()


def test_cells_below_three_sigma_are_merged_and_sampled_among_their_members() -> None:
    groups = _Groups.of(np.array([500, 2, -4, 300, 7, 1]), sigma=10.0)
    assert groups.index.tolist() == [0, 2, 2, 1, 2, 2] and groups.kept == 3
    assert groups.merge(np.array([500, 2, -4, 300, 7, 1])).tolist() == [500.0, 300.0, 6.0]
    drawn = groups.expand(np.full(4_000, 2), SeededStream(1, "test"))
    assert set(drawn.tolist()) == {1, 2, 4, 5}
    assert groups.expand(np.array([0, 1]), SeededStream(1, "test")).tolist() == [0, 3]
    single = _Groups.of(np.array([500, 300, 2]), sigma=10.0)  # one rare cell: nothing merged
    assert single.index.tolist() == [0, 1, 2]
    # members' spread (2, −4, 7, 1) is below the noise: they are drawn uniformly
    assert groups.weights[[1, 2, 4, 5]].tolist() == [0.25] * 4


def test_merged_members_that_differ_beyond_the_noise_keep_their_order() -> None:
    noisy = np.array([1_000, 0, 2, 90, 100, 5, 800])
    groups = _Groups.of(noisy, sigma=40.0)  # 3σ = 120: cells 1–5 merged
    members = [1, 2, 3, 4, 5]
    weights = groups.weights[members]
    assert weights.sum() == pytest.approx(1.0)
    assert weights[3] > 1 / 5 and weights[3] > weights[2] > weights[4] > weights[1] > weights[0]
    assert weights[3] < 100 / 197  # shrunk towards the mean, not taken at face value
    drawn = groups.expand(np.full(40_000, 2), SeededStream(2, "test"))
    shares = np.bincount(drawn, minlength=7)[members] / drawn.size
    assert np.abs(shares - weights).max() < 0.01


# 2b. the number of records is not released ---------------------------------------------


def _two_columns(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(8)  # test data only
    return pd.DataFrame({"g": rng.choice(list("abcd"), n), "x": rng.normal(0.0, 1.0, n)})


def test_the_default_sample_size_is_a_noisy_count_with_the_stated_noise() -> None:
    real, fits = _two_columns(400), 80
    sizes, sigmas = [], set()
    for _ in range(fits):
        synth = MST(bounds={"x": (-3.0, 3.0)}, public_categories=True).fit(real)
        report = synth.privacy
        assert report is not None and report["noisy_total"]["records"] == synth.default_rows
        sizes.append(synth.default_rows)
        sigmas.add(report["noisy_total"]["sigma"])
    (sigma,) = sigmas  # fixed by the budget and the public cells, not by the data
    # 1-way marginals of 4 and 18 cells, and a missing cell each (every column has one,
    # whatever the data hold), at σ₁ = √(2 / (2ρ/2)): the weighted total's sd
    sigma_one = math.sqrt(2.0 / (mst_module._rho_for(1.0, 1e-9)))
    assert sigma == pytest.approx(sigma_one / math.sqrt(1 / 5 + 1 / 19), rel=1e-9)
    z = (np.array(sizes, dtype=float) - len(real)) / sigma
    assert stats.kstest(z, "norm").pvalue > 1e-6  # N + noise of the stated sd: not N
    assert abs(float(z.mean())) < 5 / math.sqrt(fits)
    assert 0.5 < float(z.std()) < 1.6
    assert sum(size == len(real) for size in sizes) < fits / 4


def test_the_sample_size_is_post_processing_of_the_listed_measurements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    measured: list[tuple[np.ndarray, float]] = []

    def recording(counts: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
        noisy, rho = _discrete_gaussian(counts, sigma)
        measured.append((noisy, rho))
        return noisy, rho

    monkeypatch.setattr(mst_module, "_discrete_gaussian", recording)
    real = _table(1_000)
    synth = MST(epsilon=0.7, bounds=BOUNDS, public_categories=True).fit(real)
    report = synth.privacy
    assert report is not None
    counted = [m for m in report["measurements"] if "sigma" in m]
    assert len(measured) == len(counted)  # every count the data gave is listed
    for (_, rho), listed in zip(measured, counted, strict=True):
        assert listed["rho"] == rho
    ones = [noisy for noisy, _ in measured[: real.shape[1]]]
    weights = np.array([1.0 / noisy.size for noisy in ones])
    expected = float(weights @ np.array([noisy.sum() for noisy in ones]) / weights.sum())
    assert synth.default_rows == max(1, round(expected))
    composed = _epsilon(math.fsum(m["rho"] for m in report["measurements"]), 1e-9)
    assert report["epsilon"] == pytest.approx(composed, rel=1e-9)
    assert report["epsilon"] == pytest.approx(0.7, rel=1e-9)
    release = synthesize(real, Schema.infer(real), method="mst", seed=1,
                         options={"epsilon": 0.7, "bounds": BOUNDS, "public_categories": True},
                         evaluate=False)  # fmt: skip
    assert len(release.synthetic) == release.report["privacy"]["noisy_total"]["records"]


def _with_unique_maximum(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(21)  # test data only
    income = rng.lognormal(9.0, 1.0, n).round(3)
    income[17] = 987654.321
    return pd.DataFrame(
        {"age": rng.integers(16, 90, n), "sex": rng.choice(["F", "M"], n), "income": income}
    )


def test_a_dp_release_report_shows_no_real_extreme_quantile_or_count(tmp_path: Path) -> None:
    real = _with_unique_maximum(1_500)
    schema = Schema.infer(real)
    bounds = {"age": (0, 120), "income": (0, 1_000_000)}
    release = synthesize(real, schema, method="mst", seed=2,
                         options={"bounds": bounds}, rows=1_000)  # fmt: skip
    assert release.report["fitted_records"] == 1_500 and "utility" in release.report
    conformed = schema.conform(real)
    released = [render_html(release.report, conformed, release.synthetic, schema)]
    for name in ("r.html", "r.json"):
        write_report(tmp_path / name, release.report, conformed, release.synthetic, schema)
        released.append((tmp_path / name).read_text(encoding="utf-8"))
    owner = render_html(release.report, conformed, release.synthetic, schema, audience="owner")
    assert "987,654" in owner  # the owner's page shows the real deciles, maximum included
    for text in released:
        for shown in ("987654", "987,654", "9.877e+05", "1,500 real", "fitted_records"):
            assert shown not in text
        for figure in ("s_pmse", "tvd_1way", "exact_copies", "dcr_closer_to_train"):
            assert figure not in text and figure in owner
    summary = json.loads(released[2])
    assert not {"fitted_records", "holdout_records", "seconds", "utility", "risk"} & set(summary)
    assert summary["records"] == 1_000
    assert "not covered by ε" in summary["owner_only"]
    outside = summary["privacy"]["outside_epsilon"]
    assert any("column names and kinds" in item for item in outside)
    assert not any("category lists" in item for item in outside)  # sex's: by a threshold
    assert any("categories of sex (threshold" in c for c in summary["privacy"]["caveats"])
    assert "not covered by ε" in released[0] and "column names and kinds" in released[0]


# 3. utility at large ε ----------------------------------------------------------------


def _shares(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "<NA>").value_counts(normalize=True)


def test_large_epsilon_keeps_marginals_and_a_strong_dependence() -> None:
    real = _table(5_000, seed=1)
    synth = MST(epsilon=1e4, bounds=BOUNDS).fit(real)
    fake = synth.sample(20_000, seed=3)

    for name in ("group", "copy", "maybe", "small"):
        shares = pd.concat([_shares(real[name]), _shares(fake[name])], axis=1).fillna(0.0)
        assert np.abs(shares.iloc[:, 0] - shares.iloc[:, 1]).max() < 0.02, name
    for name, edges in (
        ("x", np.linspace(-10.0, 40.0, 17)),
        ("day", pd.date_range("2024-01-01", "2025-01-01", periods=9)),
    ):
        real_hist = np.histogram(real[name].clip(edges[0], edges[-1]), bins=edges)[0]
        fake_hist = np.histogram(fake[name], bins=edges)[0]
        gap = np.abs(real_hist / len(real) - fake_hist / len(fake)).max()
        assert gap < 0.02, name

    # the copy equals the group 92.5% of the time; independence would give 25%
    real_match = float((real["group"] == real["copy"]).mean())
    fake_match = float((fake["group"] == fake["copy"]).mean())
    assert abs(real_match - fake_match) < 0.03
    report = synth.privacy
    assert report is not None
    assert ["group", "copy"] in report["tree"] or ["copy", "group"] in report["tree"]


# 4. fidelity to the schema ------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.5, 1e4])
def test_samples_respect_categories_missingness_bounds_and_seed(epsilon: float) -> None:
    real = _table(3_000, seed=2)
    real.loc[:9, "x"] = 1e6  # outside the public bounds: clamped, never released
    schema = Schema.infer(real)
    synth = MST(epsilon=epsilon, bounds=BOUNDS).fit(real, schema)
    fake = synth.sample(4_000, seed=11)

    assert list(fake.columns) == list(real.columns)
    for name in ("group", "copy", "maybe"):
        assert set(fake[name].dropna()) <= set(schema[name].categories)
    for name in ("group", "copy", "x", "small", "day"):  # never missing in the data
        assert not fake[name].isna().any(), name
    assert fake["x"].between(-10.0, 40.0).all()
    assert fake["small"].between(0, 6).all()
    assert (fake["small"] == fake["small"].round()).all()
    assert fake["day"].between(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-31")).all()
    if epsilon > 100:
        assert fake["maybe"].isna().mean() == pytest.approx(real["maybe"].isna().mean(), abs=0.02)

    pd.testing.assert_frame_equal(fake, synth.sample(4_000, seed=11))
    assert not fake.equals(synth.sample(4_000, seed=12))


# 5. errors ----------------------------------------------------------------------------


def test_missing_bounds_name_the_columns_in_the_python_words() -> None:
    real = _table(300)
    with pytest.raises(ParameterError, match="'small'") as caught:
        MST(bounds={"x": (-10.0, 40.0), "day": BOUNDS["day"]}).fit(real)
    assert caught.value.parameter == "bounds"
    assert "bounds={'small': (low, high)}" in str(caught.value)
    assert "bounds_from_data=True" in str(caught.value)
    with pytest.raises(MissingBoundsError) as every:
        MST().fit(real)
    assert every.value.columns == ("x", "small", "day")


def test_without_opendp_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disclosure_dp, "_OPENDP_READY", False)
    monkeypatch.setitem(sys.modules, "opendp", None)
    monkeypatch.setitem(sys.modules, "opendp.prelude", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'privstats\[synth\]'"):
        MST(bounds=BOUNDS).fit(_table(100))


def test_bounds_from_data_are_used_and_reported_as_not_covered() -> None:
    real = _table(1_000)
    synth = MST(bounds={"x": (-10.0, 40.0)}, bounds_from_data=True).fit(real)
    report = synth.privacy
    assert report is not None
    assert report["bounds_from_data"] == ["small", "day"]
    assert any("small, day" in c and "not covered" in c for c in report["caveats"])
    fake = synth.sample(500, seed=1)
    assert fake["small"].between(real["small"].min(), real["small"].max()).all()


def test_other_parameter_errors() -> None:
    rng = np.random.default_rng(4)
    wide = pd.DataFrame({"code": [f"k{i}" for i in rng.integers(0, 100, 2_000)]})
    with pytest.raises(ParameterError, match=r"'code'.*coarsen"):
        MST().fit(wide)
    MST(max_categories=128).fit(wide)
    with pytest.raises(ParameterError, match="'nope'"):
        MST(bounds={**BOUNDS, "nope": (0, 1)}).fit(_table(100))
    with pytest.raises(ParameterError, match="'x'"):
        MST(bounds={**BOUNDS, "x": (5.0, 1.0)}).fit(_table(100))
    for kwargs in ({"epsilon": 0.0}, {"delta": 1.0}, {"bins": 1}, {"epsilon": math.inf}):
        with pytest.raises(ParameterError):
            MST(**kwargs)
    with pytest.raises(ParameterError, match="not fitted"):
        MST().sample(10, seed=1)


def test_a_release_shows_synthetic_shares_within_the_public_bounds() -> None:
    from privstats.synth.report import synthetic_shares
    from privstats.synth.schema import ColumnSpec

    values = pd.Series([0.0, 5.0, 12.5, 99.0, 100.0, None])
    spec = ColumnSpec("x", "continuous", low=0.0, high=100.0, missing=1 / 6)
    rows = synthetic_shares(values, spec, (0, 100))
    assert [label for label, _ in rows[:2]] == ["0–10", "10–20"] and rows[-2][0] == "90–100"
    assert [share for _, share in rows] == pytest.approx(
        [2 / 6, 1 / 6] + [0.0] * 7 + [2 / 6, 1 / 6]
    )
    small = ColumnSpec("k", "integer", low=0.0, high=3.0)
    counted = synthetic_shares(pd.Series([0, 3, 3, 1], dtype="Int64"), small, (0, 3))
    assert counted == [("0", 0.25), ("1", 0.25), ("2", 0.0), ("3", 0.5)]
    day = ColumnSpec("d", "date")
    dated = synthetic_shares(pd.Series(pd.to_datetime(["2024-01-01", "2024-12-31"])), day,
                             ("2024-01-01", "2024-12-31"))  # fmt: skip
    assert dated[0][0].startswith("2024-01-01–") and dated[-1][0].endswith("–2024-12-31")
    assert dated[0][1] == dated[-1][1] == 0.5
    labels = synthetic_shares(
        pd.Series(["b", "a", "b", None]), ColumnSpec("c", "categorical"), None
    )
    assert labels == [("b", 0.5), ("a", 0.25), ("(missing)", 0.25)]


def test_category_shares_are_of_all_records_missing_included() -> None:
    from privstats.synth.report import column_shares
    from privstats.synth.schema import ColumnSpec

    real = pd.Series(["a", "a", "b", None])
    synthetic = pd.Series(["a", None, None, None])
    rows = column_shares(real, synthetic, ColumnSpec("c", "categorical", ("a", "b"), missing=0.25))
    assert rows == [("a", 0.5, 0.25), ("b", 0.25, 0.0), ("(missing)", 0.25, 0.75)]
    assert sum(r for _, r, _ in rows) == pytest.approx(1.0)
