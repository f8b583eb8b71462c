"""MST releases attacked: one person holds a unique maximum; what can an intruder read?

The intruder reads everything an MST release carries — the hub job's released result (its
JSON, ``report.html`` and ``synthetic.csv``) and the command line's written report (JSON
and HTML) — and looks for any figure of the real table that ε does not cover: the exact
number of records (of the table, of the fitted part, of the holdout), the person's exact
maximum and the real decile edges the owner's page shows. Every number in the released
text is parsed and compared with those. The owner's page, which stays at the node, must
show them (so the detector can fail). The reported ε is checked against OpenDP's own
composition of the measurements the fit actually made.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from privstats.jobs.synthesize import SynthesizeSpec, disclosure, run_role
from privstats.synth.release import split_holdout, synthesize
from privstats.synth.report import render_html, write_report
from privstats.synth.schema import Schema, read_microdata

N = 3_141  # the true number of records; every other real count below is above 600 too
HOLDOUT = round(N * 0.2)
MAXIMUM = 987_654.321  # one person's income, the unique maximum
BOUNDS = {"age": (0.0, 120.0), "income": (0.0, 1_000_000.0)}
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:[eE][+-]?\d+)?")


def _people() -> pd.DataFrame:
    """Incomes all above 20,000 (no real figure can hide among SVG sizes or shares)."""
    rng = np.random.default_rng(15)  # test data only
    income = (20_000 + rng.lognormal(9.0, 1.0, N)).round(3)
    income[17] = MAXIMUM
    assert (income < MAXIMUM).sum() == N - 1
    return pd.DataFrame(
        {
            "region": rng.choice(["North", "South", "East"], N),
            "sex": rng.choice(["F", "M"], N),
            "age": rng.integers(16, 90, N),
            "income": income,
        }
    )


@pytest.fixture(scope="module")
def census(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("owner") / "census.csv"
    _people().to_csv(path, index=False)
    return path


def _numbers(text: str) -> Iterator[float]:
    for match in _NUMBER.finditer(text):
        yield float(match.group().replace(",", ""))


def _deciles(values: pd.Series) -> list[float]:
    return [float(v) for v in np.quantile(values.to_numpy(dtype=float), np.linspace(0, 1, 11))]


def _assert_no_real_figure(text: str, counts: set[int], noisy: int, real: pd.Series) -> None:
    """No exact count (unless the noisy count hit it by chance), no real maximum or decile.

    Counts and the maximum are compared within ±1 (a report rounds); the decile edges, all
    above 20,000, within ±0.5 (shown rounded to whole numbers on the owner's page).
    """
    numbers = list(_numbers(text))
    for count in counts - {noisy}:
        assert not [x for x in numbers if abs(x - count) < 1], f"the real count {count}"
    for top in (MAXIMUM, float(real.max())):
        assert not [x for x in numbers if abs(x - top) < 1], f"the real maximum {top}"
    for shown in ("9.877e+05", "9.88e+05", "987654", "987,654"):
        assert shown not in text
    for edge in _deciles(real):
        assert not [x for x in numbers if abs(x - edge) < 0.5], f"the real decile edge {edge}"


def test_the_job_releases_no_real_count_maximum_or_decile(census: Path) -> None:
    built = SynthesizeSpec.build(
        columns=("region", "sex", "age", "income"),
        method="mst",
        bounds=BOUNDS,
        quasi_identifiers=["region", "sex", "age"],
        sensitive="income",
    )
    result, warnings, kept = run_role("owner", None, {"owner": "nso"}, str(census), built, None)  # type: ignore[arg-type]
    owner = json.loads(kept["report.json"])
    train, _holdout = split_holdout(_people(), 0.2, owner["seed"])
    assert (owner["fitted_records"], owner["holdout_records"]) == (N - HOLDOUT, HOLDOUT)

    files = result["files"]
    summary = {key: value for key, value in result.items() if key != "files"}
    noisy = summary["privacy"]["noisy_total"]["records"]
    synthetic = pd.read_csv(pd.io.common.StringIO(files["synthetic.csv"]))
    assert len(synthetic) == summary["records"] == noisy  # the noisy count, not N − holdout
    counts = {N, N - HOLDOUT, HOLDOUT}
    for text in (json.dumps(summary), files["report.html"], "\n".join(warnings)):
        _assert_no_real_figure(text, counts, noisy, train["income"])
    # the synthetic file: no real income value at all (they are drawn within public bins)
    assert not set(synthetic["income"].dropna()) & set(_people()["income"])
    assert synthetic["income"].max() <= BOUNDS["income"][1]
    assert not {"fitted_records", "holdout_records", "seconds", "utility", "risk"} & set(summary)
    assert "seed" not in json.dumps(result)
    privacy = summary["privacy"]
    assert {"epsilon", "delta", "mechanism", "unit"} <= set(privacy)
    assert privacy["unit"] == "one record" and privacy["epsilon"] == pytest.approx(1.0)
    # the detector works: the owner's page, kept at the node, shows the real figures (the
    # maximum of the fitted records: the person is in the holdout one time in five)
    page = kept["owner-report.html"]
    assert f"{train['income'].max():,.0f}" in page and f"{N - HOLDOUT:,} real records" in page
    assert "For the data owner only" in page


def test_the_written_release_report_has_no_real_figure(census: Path, tmp_path: Path) -> None:
    table, schema = read_microdata(census)
    release = synthesize(table, schema, method="mst", seed=3, options={"bounds": BOUNDS})
    noisy = release.report["privacy"]["noisy_total"]["records"]
    assert len(release.synthetic) == release.report["records"] == noisy
    real = schema.conform(table)
    texts = [render_html(release.report, real, release.synthetic, schema)]
    for name in ("release.json", "release.html"):
        write_report(tmp_path / name, release.report, real, release.synthetic, schema)
        texts.append((tmp_path / name).read_text(encoding="utf-8"))
    for text in texts:
        _assert_no_real_figure(text, {N}, noisy, table["income"])
        assert "not covered by" in text
    owner = tmp_path / "owner.html"
    write_report(owner, release.report, real, release.synthetic, schema, audience="owner")
    assert "987,654" in owner.read_text(encoding="utf-8")


def test_bounds_from_data_are_shouted_in_the_release_and_stated_in_the_manifest(
    census: Path,
) -> None:
    table, schema = read_microdata(census)
    options = {"bounds": {"age": (0, 120)}, "bounds_from_data": True}
    release = synthesize(table, schema, method="mst", seed=4, options=options, evaluate=False)
    page = render_html(release.report, schema.conform(table), release.synthetic, schema)
    # the real maximum is released (that is what bounds from data means) and said loudly
    assert "987654.321" in page
    warning = page.index("NOT COVERED BY ε: the bounds of income were taken from the")
    assert warning < page.index("<h2>")  # before anything else
    shown = json.loads(json.dumps(release.report, default=str))
    from privstats.synth.report import released_report

    assert "income" in released_report(shown)["not_covered_warning"]
    stated = disclosure(
        SynthesizeSpec.build(columns=("income",), method="mst", bounds_from_data=True)
    )
    assert stated["bounds_from_data"] is True and "not covered by ε" in stated["outside_epsilon"]
    assert "bounds_from_data" not in disclosure(
        SynthesizeSpec.build(columns=("income",), method="mst")
    )


def test_the_default_path_never_takes_bounds_from_the_data(census: Path) -> None:
    from privstats.synth.mst import MissingBoundsError

    table, schema = read_microdata(census)
    with pytest.raises(MissingBoundsError, match=r"'age'.*'income'"):
        synthesize(table, schema, method="mst", seed=5, evaluate=False)
    assert SynthesizeSpec.build(columns=("income",), method="mst").bounds_from_data is False


def test_the_reported_epsilon_is_opendps_composition_of_the_measurements_made(
    monkeypatch: pytest.MonkeyPatch, census: Path
) -> None:
    """Every OpenDP measurement the fit builds is recorded, composed by OpenDP, converted.

    The table's region and sex have no public category lists: they are released by
    OpenDP's Gaussian threshold, whose δ adds to the δ of the zCDP conversion.
    """
    import opendp.prelude as dp

    from privstats.disclosure.dp import require_opendp

    require_opendp()
    made: list[Any] = []
    counts = dp.vector_domain(dp.atom_domain(T="i64"))

    def recording(name: str) -> Any:
        original = getattr(dp.m, name)

        def build(*args: Any, **kwargs: Any) -> Any:
            measurement = original(*args, **kwargs)
            if name != "make_gaussian" or measurement.input_domain == counts:
                made.append(measurement)  # not the accounting's scalar Gaussians
            return measurement

        return build

    for name in ("make_gaussian", "make_noisy_max", "make_gaussian_threshold"):
        monkeypatch.setattr(dp.m, name, recording(name))
    table, schema = read_microdata(census)
    release = synthesize(
        table, schema, method="mst", seed=6, evaluate=False,
        options={"epsilon": 0.8, "delta": 1e-7, "bounds": BOUNDS},
    )  # fmt: skip
    privacy = release.report["privacy"]
    d = len(schema.columns)
    # the threshold search builds measurements only to read their map: the last two of
    # that kind are the ones applied to region and sex
    thresholds = [m for m in made if "L02Inf" in str(m.input_metric)]
    others = [m for m in made if "L02Inf" not in str(m.input_metric)]
    listed = privacy["measurements"]
    assert len(others) + 2 == len(listed) == d + 2 * (d - 1)
    assert len(thresholds) >= 2

    # OpenDP composes measurements on one input: each reads a transformation of the same
    # count vector (one record changes one count by one: 1 in L2, L∞ and L0)
    dp.enable_features("honest-but-curious")
    scores = dp.t.make_user_transformation(
        counts,
        dp.l2_distance(T="i64"),
        dp.vector_domain(dp.atom_domain(T=float, nan=False)),
        dp.linf_distance(T=float),
        lambda values: [float(v) for v in values],
        float,
    )
    keyed = dp.t.make_user_transformation(
        counts,
        dp.l2_distance(T="i64"),
        dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64")),
        dp.l02inf_distance(dp.absolute_distance(T="i64")),
        lambda values: {str(k): int(v) for k, v in enumerate(values)},
        lambda d_in: (math.ceil(d_in * d_in), d_in, d_in),
    )
    parts = [dp.c.make_approximate(m if m.input_domain == counts else scores >> m) for m in others]
    parts += [keyed >> m for m in thresholds[-2:]]
    composed = dp.c.make_composition(parts)
    rho, delta_categories = composed.map(1)
    delta_zcdp = 1e-7 / 2
    # OpenDP's conversion keeps the thresholds' δ apart: (ε(δ'), δ' + delta_categories)
    profile, delta_apart = dp.c.make_zCDP_to_approxDP(composed).map(1)
    assert delta_apart == pytest.approx(delta_categories, rel=1e-12)
    epsilon = profile.epsilon(delta_zcdp)
    assert privacy["rho"] == pytest.approx(rho, rel=1e-12)
    assert privacy["delta_categories"] == pytest.approx(delta_categories, rel=1e-9)
    assert privacy["epsilon"] == pytest.approx(epsilon, rel=1e-9)
    assert privacy["delta"] == pytest.approx(delta_zcdp + delta_categories, rel=1e-12)
    assert privacy["delta"] <= 1e-7 and privacy["epsilon"] <= 0.8 * (1 + 1e-12)
    assert math.isclose(privacy["epsilon"], 0.8, rel_tol=1e-6)  # the whole budget, no more


def test_the_released_count_is_not_the_real_one(census: Path) -> None:
    """The checks above let the noisy count equal N by chance (about 2 % at σ ≈ 20): here
    ten fits show it is not N itself (at most three hits: chance below 1e-4)."""
    from privstats.synth.mst import MST

    table, schema = read_microdata(census)
    sizes = [MST(bounds=BOUNDS).fit(table, schema).default_rows for _ in range(10)]
    assert sum(size == N for size in sizes) <= 3
    assert len(set(sizes)) > 1


def test_a_category_or_a_missing_value_only_one_person_has_is_not_released() -> None:
    """The schema is inferred from the data, so it lists her category and says the column
    has missing values; the release must look as it would without her."""
    from privstats.synth.mst import MST

    people = _people()
    people["job"] = np.where(np.arange(N) % 2 == 0, "clerk", "nurse").astype(object)
    her = people.iloc[[5]].assign(job="astronaut", income=np.nan)
    with_her = pd.concat([people, her], ignore_index=True)
    schema = Schema.infer(with_her)
    assert "astronaut" in schema["job"].categories and schema["income"].missing > 0
    fits = {
        name: MST(bounds=BOUNDS).fit(table, Schema.infer(table))
        for name, table in (("with her", with_her), ("without her", people))
    }
    cells = {}
    for name, fit in fits.items():
        assert fit.privacy is not None
        cells[name] = [m["cells"] for m in fit.privacy["measurements"][:5]]  # the 1-way ones
    assert cells["with her"] == cells["without her"] == [4, 3, 19, 19, 3]  # kept + missing
    synthetic = fits["with her"].sample(20_000, seed=7)
    assert "astronaut" not in set(synthetic["job"].dropna())
    assert not synthetic["income"].isna().any()
    text = json.dumps(fits["with her"].privacy)
    assert "astronaut" not in text


def test_public_code_lists_are_declared_and_reported_outside_epsilon(census: Path) -> None:
    from privstats.errors import ParameterError
    from privstats.synth.mst import MST

    built = SynthesizeSpec.build(
        columns=("region", "sex", "income"), method="mst", public_categories=["sex"]
    )
    assert built.options()["public_categories"] == ("sex",)
    assert disclosure(built)["public_categories"] == ["sex"]
    with pytest.raises(ParameterError, match="public_categories names 'job'"):
        SynthesizeSpec.build(columns=("sex",), method="mst", public_categories=["job"])
    with pytest.raises(ParameterError, match=r"\['sex'\]"):
        MST(public_categories="sex")
    table, schema = read_microdata(census)
    with pytest.raises(ParameterError, match="public_categories given for columns not in"):
        MST(bounds=BOUNDS, public_categories=["job"]).fit(table, schema)
    privacy = MST(bounds=BOUNDS, public_categories=["sex"]).fit(table, schema).privacy
    assert privacy is not None
    assert any("category lists of sex" in item for item in privacy["outside_epsilon"])
    assert any("categories of region (threshold" in c for c in privacy["caveats"])
    one_way = {m["what"]: m for m in privacy["measurements"][:4]}
    assert "threshold" not in one_way["1-way sex"]
    assert one_way["1-way region (categories above a noisy threshold)"]["delta"] > 0
