"""The aggregate job: every party over in-memory channels, against pandas on the pooled data.

The release must equal the plaintext computation on the concatenated files — counts and
sums exactly, quantiles exactly on the fixed-point grid — for any number of parties from
two to five, parties without rows, single rows and groups that only one party has.
Withheld groups carry no figure, and their sums are never opened to anyone.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privstats.data.fixed_point import FixedPoint
from privstats.data.tables import Table
from privstats.errors import ComputationError, DatasetError, ParameterError, ProtocolError
from privstats.jobs import aggregate
from privstats.jobs.aggregate import AggregateSpec, columns_used, party_role
from privstats.protocols.sharing import PartialChunk, Ring
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties


def _table(name: str, df: pd.DataFrame, by: Sequence[str] = ("region",)) -> Table:
    """A party's records as read_table gives them: ``region`` is text, the rest numbers."""
    values = {c: df[c].to_numpy(dtype=float) for c in df.columns if c != "region"}
    return Table(
        name,
        len(df),
        {c: df[c].astype(str).to_numpy() for c in by},
        values,
        {c: bool(np.all(v[~np.isnan(v)] % 1 == 0)) for c, v in values.items()},
    )


def _run(
    frames: dict[str, pd.DataFrame],
    spec: AggregateSpec,
    *,
    record: bool = False,
    specs: dict[str, AggregateSpec] | None = None,
) -> tuple[dict[str, Any], MemoryNetwork]:
    """Run every party over memory channels; check all releases agree; return one."""
    parties = list(frames)
    network = MemoryNetwork(parties, timeout=60, record=record)
    tables = {p: _table(f"{p}.csv", df, spec.by) for p, df in frames.items()}

    def role(party: str):  # type: ignore[no-untyped-def]
        own = (specs or {}).get(party, spec)
        return lambda channel: party_role(channel, parties, tables[party], own)

    results = run_parties(network, {p: role(p) for p in parties})
    first = results[parties[0]]
    assert all(result == first for result in results.values())
    return first, network


# --------------------------------------------------------------------------- expectations


def _expected_figures(part: pd.DataFrame, stats: Sequence[str], weight: str | None) -> dict:
    """The figures pandas/numpy give for one group's pooled records."""
    if weight is not None:
        part = part[part[weight].notna()]
    out: dict[str, Any] = {"count": len(part)}
    if weight is not None:
        out["weighted_count"] = part[weight].sum()
    for text in stats:
        kind, _, rest = text.partition(":")
        if kind == "count":
            continue
        if kind in ("cov", "corr"):
            out[text] = _expected_matrix(part, kind, rest.split(","), weight)
            continue
        column = rest.split(":")[0]
        present = part[part[column].notna()]
        x = present[column].to_numpy()
        w = present[weight].to_numpy() if weight is not None else np.ones(len(x))
        total = w.sum()
        if not len(x):  # below the minimum of one value: not opened
            out[text] = None
        elif kind == "sum":
            out[text] = float(np.sum(w * x))
        elif kind == "mean":
            out[text] = np.sum(w * x) / total if total > 0 else None
        elif kind in ("var", "sd"):
            if total - 1 <= 0:
                out[text] = None
            else:
                mean = np.sum(w * x) / total
                var = np.sum(w * (x - mean) ** 2) / (total - 1)
                out[text] = var if kind == "var" else math.sqrt(var)
        else:
            q = 0.5 if kind == "median" else float(rest.split(":")[1])
            out[text] = (
                float(np.quantile(x, q, weights=w, method="inverted_cdf")) if total > 0 else None
            )
    return out


def _expected_matrix(
    part: pd.DataFrame, kind: str, columns: list[str], weight: str | None
) -> list[list[float | None]] | None:
    """pandas' cov/corr on complete cases (numpy with frequency weights); None if no case."""
    complete = part[[*columns, *([weight] if weight else [])]].dropna()
    w = complete[weight].to_numpy() if weight else np.ones(len(complete))
    k = len(columns)
    if not len(complete):  # below the minimum of one record: not opened
        return None
    if w.sum() - 1 <= 0:
        return [[None] * k for _ in range(k)]
    data = complete[columns].to_numpy().T
    cov = np.atleast_2d(np.cov(data, fweights=w.astype(int), ddof=1))
    if kind == "cov":
        return cov.tolist()
    out: list[list[float | None]] = []
    for i in range(k):
        row: list[float | None] = []
        for j in range(k):
            ok = cov[i, i] > 0 and cov[j, j] > 0
            row.append(cov[i, j] / math.sqrt(cov[i, i] * cov[j, j]) if ok else None)
        out.append(row)
    return out


def _assert_same(got: Any, want: Any, key: str) -> None:
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), key
        for g, w in zip(got, want, strict=True):
            _assert_same(g, w, key)
    elif want is None:
        assert got is None, key
    elif key.startswith(("count", "median", "quantile")):
        assert got == want, key  # exact: counts, and quantiles of grid values
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), key


def _assert_release(result: dict[str, Any], pooled: pd.DataFrame, spec: AggregateSpec) -> None:
    by = list(spec.by)
    groups = {tuple(g["by"].values()): g for g in result["groups"]}
    labels = sorted({tuple(r) for r in pooled[by].astype(str).to_numpy()}) if by else [()]
    assert [tuple(g["by"].values()) for g in result["groups"]] == labels
    for label in labels:
        mask = np.ones(len(pooled), dtype=bool)
        for column, value in zip(by, label, strict=True):
            mask &= pooled[column].astype(str).to_numpy() == value
        want = _expected_figures(pooled[mask], spec.stats, spec.weight)
        got = groups[label]
        assert got["suppressed"] is False
        assert set(got) == {"by", "suppressed", "status", *want}
        for key, value in want.items():
            _assert_same(got[key], value, key)


# --------------------------------------------------------------------------- property test

GRID = st.integers(-800, 800).map(lambda k: k / 8)  # values exactly on the fixed-point grid
MAYBE = st.one_of(GRID, GRID, GRID, st.just(float("nan")))


@st.composite
def party_frames(draw: st.DrawFn, weighted: bool) -> dict[str, pd.DataFrame]:
    n = draw(st.integers(2, 5), label="parties")
    frames = {}
    for i in range(n):
        rows = draw(st.integers(0, 12), label=f"rows of p{i}")
        record = st.fixed_dictionaries(
            {
                "region": st.sampled_from(["A", "B", "Ç"]),
                "x": MAYBE,
                "y": MAYBE,
                "w": st.one_of(st.integers(0, 4).map(float), st.just(float("nan")))
                if weighted
                else st.just(1.0),
            }
        )
        data = draw(st.lists(record, min_size=rows, max_size=rows), label=f"p{i}")
        frames[f"p{i}"] = pd.DataFrame(data, columns=["region", "x", "y", "w"]).astype(
            {"x": float, "y": float, "w": float}
        )
    return frames


STATS = (
    "count",
    "sum:x",
    "mean:x",
    "var:x",
    "sd:y",
    "median:x",
    "quantile:y:0.25",
    "cov:x,y",
    "corr:x,y",
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_release_equals_pandas_on_the_pooled_records(data: st.DataObject) -> None:
    """Any 2–5 parties (some without rows), any groups: the release is the plaintext one."""
    weighted = data.draw(st.booleans(), label="weighted")
    frames = data.draw(party_frames(weighted), label="frames")
    by = data.draw(st.sampled_from([(), ("region",)]), label="by")
    spec = AggregateSpec.build(stats=STATS, by=by, weight="w" if weighted else None, min_cell=1)
    pooled = pd.concat(frames.values(), ignore_index=True)
    if weighted:
        pooled = pooled[pooled["w"].notna()]
    if not len(pooled) and by:
        return  # no group at all: nothing to compare

    result, _ = _run(frames, spec)

    assert result["computation"] == "aggregate"
    assert result["parties"] == len(frames)
    _assert_release(result, pooled, spec)


@settings(max_examples=20, deadline=None)
@given(party_frames(weighted=False))
def test_ols_equals_least_squares_on_the_pooled_records(frames: dict[str, pd.DataFrame]) -> None:
    spec = AggregateSpec.build(ols="y ~ x", min_cell=1)
    complete = pd.concat(frames.values(), ignore_index=True)[["x", "y"]].dropna()
    singular = len(complete) == 0 or complete["x"].nunique() < 2

    if len(complete) and singular:
        with pytest.raises(ComputationError, match="'x' is a linear combination"):
            _run(frames, spec)
        return
    result, _ = _run(frames, spec)

    ols = result["ols"]
    if not len(complete):
        assert ols == {
            "formula": "y ~ x",
            "coef": None,
            "se": None,
            "r2": None,
            "n": None,
            "suppressed": True,
            "reason": "fewer than 1 complete records (0)",
        }
        return
    X = np.column_stack([np.ones(len(complete)), complete["x"]])
    y = complete["y"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert ols["n"] == len(complete)
    assert ols["suppressed"] is False
    scale = np.abs(beta).max() + 1
    for got, want in zip(ols["coef"].values(), beta, strict=True):
        assert abs(got - want) <= 1e-6 * scale
    rss = float(np.sum((y - X @ beta) ** 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    if tss > 0:
        assert ols["r2"] == pytest.approx(1 - rss / tss, rel=1e-6, abs=1e-9)
    if len(complete) > 2:
        se = np.sqrt(np.diag(rss / (len(y) - 2) * np.linalg.inv(X.T @ X)))
        assert np.allclose(list(ols["se"].values()), se, rtol=1e-6, atol=1e-9)
    else:
        assert set(ols["se"].values()) == {None}


# --------------------------------------------------------------------------- disclosure


def _suppression_frames() -> dict[str, pd.DataFrame]:
    """A: 80 records over three parties, B: 3 (one party only), C: 12, D: 40."""
    rng = np.random.default_rng(11)

    def frame(counts: dict[str, int]) -> pd.DataFrame:
        regions = [r for r, k in counts.items() for _ in range(k)]
        n = len(regions)
        return pd.DataFrame(
            {"region": regions, "x": rng.normal(100, 15, n), "y": rng.normal(0, 1, n)}
        )

    return {
        "a": frame({"A": 50, "C": 6, "D": 20}),
        "b": frame({"A": 20, "B": 3, "C": 6, "D": 10}),
        "c": frame({"A": 10, "D": 10}),
    }


def test_small_groups_are_suppressed_with_a_complement_and_carry_no_figures() -> None:
    frames = _suppression_frames()
    spec = AggregateSpec.build(
        stats=("sum:x", "mean:x", "median:x", "corr:x,y"), by=("region",), min_cell=10
    )

    result, _ = _run(frames, spec)

    groups = {g["by"]["region"]: g for g in result["groups"]}
    assert list(groups) == ["A", "B", "C", "D"]
    # B (3) is below 10; C (12), the smallest other group, is withheld with it
    assert {r for r, g in groups.items() if g["suppressed"]} == {"B", "C"}
    for region in ("B", "C"):
        hidden = ("by", "suppressed", "status", "reason")
        assert {k: v for k, v in groups[region].items() if k not in hidden} == {
            "count": None,
            "sum:x": None,
            "mean:x": None,
            "median:x": None,
            "corr:x,y": None,
        }
    pooled = pd.concat(frames.values())
    for region in ("A", "D"):
        part = pooled[pooled["region"] == region]
        assert groups[region]["count"] == len(part)
        assert groups[region]["mean:x"] == pytest.approx(part["x"].mean(), rel=1e-9)


def _opened_phase2(network: MemoryNetwork, parties: Sequence[str]) -> list[int]:
    """The phase-2 total, rebuilt from the partial sums the parties received."""
    ring = Ring(3)
    partials = []
    for sender in parties:
        receiver = next(p for p in parties if p != sender)
        received = network.channel(receiver).received or []
        chunks = [decode(f) for peer, f in received if peer == sender]
        partial = [m for m in chunks if isinstance(m, PartialChunk)][-1]  # the last: phase 2
        partials.append(ring.from_bytes(partial.data))
    return ring.to_ints(ring.reconstruct(partials))


def test_withheld_groups_sums_are_never_opened() -> None:
    """The only sums opened are those of released groups: rebuilding phase 2's total from
    every partial sum any party received gives exactly the released groups' Σx and Σx²."""
    frames = _suppression_frames()
    spec = AggregateSpec.build(stats=("mean:x", "var:x"), by=("region",), min_cell=10)
    parties = list(frames)

    _, network = _run(frames, spec, record=True)

    opened = _opened_phase2(network, parties)
    fixed = FixedPoint(spec.frac_bits)
    pooled = pd.concat(frames.values())

    def moments(region: str) -> list[int]:
        codes = fixed.encode_exact(pooled.loc[pooled["region"] == region, "x"].to_numpy())
        return [sum(codes), sum(c * c for c in codes)]

    # per released group: block "column:x" (Σx, Σx²); the records block has no sums
    assert opened == moments("A") + moments("D")
    for region in ("B", "C"):
        assert not set(moments(region)) & set(opened)
    for party in parties:
        received = network.channel(party).received or []
        kinds = [type(decode(f)).__name__ for _, f in received]
        # three sums (group counts, released groups' column counts, sums), no more
        assert kinds.count("PartialChunk") == 3 * (len(parties) - 1)


def test_ols_below_the_minimum_is_suppressed_and_not_opened() -> None:
    frames = {
        "a": pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 7.0]}),
        "b": pd.DataFrame({"x": [4.0, np.nan], "y": [9.0, 1.0]}),
    }
    spec = AggregateSpec.build(stats=("count",), ols="y ~ x", min_cell=5)

    result, network = _run(frames, spec, record=True)

    # five records: the group is released, but only four are complete for the model
    assert result["groups"][0]["count"] == 5
    assert result["ols"]["suppressed"] is True
    assert result["ols"]["coef"] is None and result["ols"]["n"] is None
    assert _opened_phase2(network, ["a", "b"]) == []


def test_a_statistic_with_too_few_values_in_a_released_group_is_not_opened() -> None:
    """12 records but only 3 incomes: the group's count is released, its mean is not."""
    frames = {
        "a": pd.DataFrame({"income": [1000.0, np.nan, np.nan, np.nan, 2000.0, np.nan]}),
        "b": pd.DataFrame({"income": [np.nan] * 5 + [5000.0]}),
    }
    spec = AggregateSpec.build(stats=("mean:income", "median:income"), min_cell=5, by=())

    result, network = _run(frames, spec, record=True)

    assert result["groups"] == [
        {
            "by": {},
            "count": 12,
            "mean:income": None,
            "median:income": None,
            "suppressed": False,
            "status": "safe",
        }
    ]
    assert _opened_phase2(network, ["a", "b"]) == []


# --------------------------------------------------------------------------- labels and levels


def test_levels_fix_the_groups_and_no_labels_are_exchanged() -> None:
    frames = {
        "a": pd.DataFrame({"region": ["A", "A", "B"], "x": [1.0, 2.0, 3.0]}),
        "b": pd.DataFrame({"region": ["A"], "x": [4.0]}),
    }
    spec = AggregateSpec.build(
        stats=("sum:x",), by=("region",), min_cell=1, levels={"region": ["C", "B", "A"]}
    )

    result, network = _run(frames, spec, record=True)

    assert result["groups"] == [
        {"by": {"region": "A"}, "count": 3, "sum:x": 7, "suppressed": False, "status": "safe"},
        {"by": {"region": "B"}, "count": 1, "sum:x": 3, "suppressed": False, "status": "safe"},
        {"by": {"region": "C"}, "count": 0, "sum:x": None, "suppressed": False, "status": "empty"},
    ]
    for party in frames:
        kinds = {type(decode(f)).__name__ for _, f in network.channel(party).received or []}
        assert "Labels" not in kinds


def test_a_label_outside_the_levels_is_a_dataset_error() -> None:
    frames = {
        "a": pd.DataFrame({"region": ["A", "Z", "Z"], "x": [1.0, 2.0, 3.0]}),
        "b": pd.DataFrame({"region": ["A"], "x": [4.0]}),
    }
    spec = AggregateSpec.build(stats=("sum:x",), by=("region",), levels={"region": ["A", "B"]})

    with pytest.raises(ComputationError) as info:
        _run(frames, spec)

    cause = info.value.__cause__
    assert isinstance(cause, DatasetError)
    assert (cause.path, cause.column, cause.rows) == ("a.csv", "region", (2, 3))
    assert "'Z'" in str(cause) and "'A', 'B'" in str(cause)


def test_a_group_only_one_party_has_is_released_by_all() -> None:
    frames = {
        "a": pd.DataFrame({"region": ["Nord"] * 3, "x": [1.0, 2.0, 3.0]}),
        "b": pd.DataFrame({"region": ["Süd"] * 2, "x": [5.0, 7.0]}),
    }
    spec = AggregateSpec.build(stats=("mean:x",), by=("region",), min_cell=1)

    result, _ = _run(frames, spec)

    assert [(g["by"]["region"], g["count"], g["mean:x"]) for g in result["groups"]] == [
        ("Nord", 3, 2.0),
        ("Süd", 2, 6.0),
    ]


# --------------------------------------------------------------------------- failures


def test_parties_with_different_specs_stop_before_any_data_is_shared() -> None:
    frames = {"a": pd.DataFrame({"x": [1.0]}), "b": pd.DataFrame({"x": [2.0]})}
    spec = AggregateSpec.build(stats=("sum:x",))
    other = AggregateSpec.build(stats=("sum:x",), min_cell=3)

    with pytest.raises(ComputationError) as info:
        _run(frames, spec, specs={"b": other}, record=True)

    assert isinstance(info.value.__cause__, ProtocolError)
    assert "other options" in str(info.value)


def test_a_value_too_large_for_the_ring_is_refused_naming_the_column() -> None:
    frames = {
        "a": pd.DataFrame({"income": [1.0, 2.0]}),
        "b": pd.DataFrame({"income": [3.0, 1e27]}),
    }
    spec = AggregateSpec.build(stats=("var:income",), frac_bits=52, min_cell=1)

    with pytest.raises(ComputationError) as info:
        _run(frames, spec)

    assert info.value.party == "b"
    assert isinstance(info.value.__cause__, ParameterError)
    assert "b.csv: column(s) 'income' too large" in str(info.value)


def test_an_unsolvable_model_names_the_collinear_term() -> None:
    frames = {
        "a": pd.DataFrame({"x": [1.0, 2.0, 3.0], "z": [2.0, 4.0, 6.0], "y": [1.0, 0.0, 2.0]}),
        "b": pd.DataFrame({"x": [4.0], "z": [8.0], "y": [5.0]}),
    }
    with pytest.raises(ComputationError, match="'z' is a linear combination"):
        _run(frames, AggregateSpec.build(ols="y ~ x + z", min_cell=1))


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"min_cell": 0}, "min_cell"),
        ({"frac_bits": 60}, "frac_bits"),
        ({"stats": ("mean",)}, "stats"),
        ({"stats": ("median:x", "quantile:x:2")}, "stats"),
        ({"ols": "y x"}, "ols"),
        ({"by": ("r", "r")}, "by"),
        ({"weight": " "}, "weight"),
        ({"by": ("r",), "levels": {"s": ["a"]}}, "levels"),
        ({"by": ("r",), "levels": {"r": []}}, "levels"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_spec_errors_name_the_option(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        AggregateSpec.build(**values)
    assert field in str(info.value)
    assert info.value.parameter == field


def test_columns_used_lists_every_column_once() -> None:
    spec = AggregateSpec.build(
        stats=("mean:x", "cov:x,y", "median:income"), by=("region",), weight="w", ols="z ~ x"
    )
    assert columns_used(spec) == ("region", "x", "y", "income", "w", "z")


# --------------------------------------------------------------------------- runners


def _write(path: Path, df: pd.DataFrame) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(df.columns)
        writer.writerows(df.astype(object).where(df.notna(), "").to_numpy().tolist())
    return path


def test_run_role_orders_parties_by_role_number(tmp_path: Path) -> None:
    """The service's entry point: roles party1…partyN mapped to channel names."""
    frames = {
        "zeta": pd.DataFrame({"x": [1.0, 2.0], "w": [1.0, np.nan]}),
        "alpha": pd.DataFrame({"x": [3.0, 4.0, 5.0], "w": [2.0, 1.0, 1.0]}),
    }
    paths = {name: str(_write(tmp_path / f"{name}.csv", df)) for name, df in frames.items()}
    roles = {"party2": "alpha", "party1": "zeta"}
    spec = AggregateSpec.build(stats=("mean:x",), weight="w", min_cell=1)
    network = MemoryNetwork(list(frames), timeout=30)

    def role(name: str):  # type: ignore[no-untyped-def]
        return lambda ch: aggregate.run_role(name, ch, roles, paths[roles[name]], spec, None)

    outputs = run_parties(network, {party: role(name) for name, party in roles.items()})

    (result, warnings), (other, _) = outputs["zeta"], outputs["alpha"]
    assert result == other
    assert result["groups"][0]["mean:x"] == pytest.approx((1 + 6 + 4 + 5) / 5)
    assert result["groups"][0]["weighted_count"] == 5
    assert warnings == [
        f"{paths['zeta']}: 1 record(s) without a value of weight column 'w' are left out (row 2)"
    ]
    with pytest.raises(ParameterError, match="without gaps"):
        aggregate.run_role(
            "party1",
            network.channel("zeta"),
            {"party1": "a", "party3": "b"},
            paths["zeta"],
            spec,
            None,
        )
    assert aggregate.role_names(3) == ("party1", "party2", "party3")
    assert aggregate.aggregate_role is aggregate.party_role  # the former name, kept for now


def test_run_local_aggregate_in_separate_processes(tmp_path: Path) -> None:
    """Three real processes on loopback give the pandas figures, and "seconds"."""
    rng = np.random.default_rng(2)
    frames = {
        name: pd.DataFrame(
            {
                "sex": rng.choice(["F", "M"], n),
                "age": rng.integers(18, 90, n).astype(float),
                "hours": np.round(rng.normal(36, 6, n), 1),
            }
        )
        for name, n in (("north", 400), ("south", 250), ("islands", 0))
    }
    paths = {name: _write(tmp_path / f"{name}.csv", df) for name, df in frames.items()}
    spec = AggregateSpec.build(
        stats=("count", "sum:age", "mean:hours", "median:age"), by=("sex",), ols="hours ~ age"
    )

    run = aggregate.run_local_aggregate(paths, spec)

    pooled = pd.concat(frames.values(), ignore_index=True)
    assert run.result["seconds"] > 0
    assert set(run.outcomes) == set(frames)
    for group in run.result["groups"]:
        part = pooled[pooled["sex"] == group["by"]["sex"]]
        assert group["count"] == len(part)
        assert group["sum:age"] == int(part["age"].sum())
        assert group["mean:hours"] == pytest.approx(part["hours"].mean(), rel=1e-9)
        assert group["median:age"] == np.quantile(part["age"], 0.5, method="inverted_cdf")
    X = np.column_stack([np.ones(len(pooled)), pooled["age"]])
    beta = np.linalg.lstsq(X, pooled["hours"], rcond=None)[0]
    assert np.allclose(list(run.result["ols"]["coef"].values()), beta, rtol=1e-6)
    assert run.warnings == [
        f"{paths['islands']}: the file has a header but no records; this party adds nothing "
        "to the pooled figures (is it the right file?)"
    ]


def test_run_local_aggregate_checks_files_and_party_count(tmp_path: Path) -> None:
    spec = AggregateSpec.build()
    one = _write(tmp_path / "one.csv", pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DatasetError, match=r"missing\.csv: file of party 'b' not found"):
        aggregate.run_local_aggregate({"a": one, "b": tmp_path / "missing.csv"}, spec)
    with pytest.raises(ParameterError, match="2 to 10 parties"):
        aggregate.run_local_aggregate({"a": one}, spec)


def test_a_folder_given_as_a_party_file_is_named_a_folder(tmp_path: Path) -> None:
    one = _write(tmp_path / "one.csv", pd.DataFrame({"x": [1.0]}))
    (tmp_path / "south").mkdir()
    with pytest.raises(DatasetError) as info:
        aggregate.run_local_aggregate({"a": one, "b": tmp_path / "south"}, AggregateSpec.build())
    assert str(info.value).startswith(
        f"{tmp_path / 'south'}: file of party 'b' is a folder, not a data file"
    )


def test_one_file_under_two_party_names_is_refused(tmp_path: Path) -> None:
    spec = AggregateSpec.build()
    north = _write(tmp_path / "north.csv", pd.DataFrame({"x": [1.0, 2.0]}))
    south = _write(tmp_path / "south.csv", pd.DataFrame({"x": [1.0, 3.0]}))  # same size
    copy = tmp_path / "copy.csv"
    copy.write_bytes(north.read_bytes())
    with pytest.raises(DatasetError) as info:
        aggregate.run_local_aggregate({"n": north, "s": south, "again": north}, spec)
    assert str(info.value) == (
        f"parties 'n' and 'again' are given the same file ({north}, {north}); its records "
        "would be counted twice. Give each party the file of its own records"
    )
    with pytest.raises(DatasetError, match=r"'n' and 'c' are given files with identical con"):
        aggregate.run_local_aggregate({"n": north, "s": south, "c": copy}, spec)


def test_quantile_probability_is_exact() -> None:
    """A probability written as a fraction stays an exact rational through the spec."""
    plan = AggregateSpec.build(stats=("quantile:x:1/4",)).plan()
    assert plan.quantiles == (("x", Fraction(1, 4)),)
