"""The attacks of issue 15 on secure aggregates, run through the parties' role functions.

The data: two parties; one person (wage 4321.5) is alone in her region-and-sex cell,
Islands/M. Each test shows the figures the attack used on the old code path (computed
here in plaintext from the old rule), then runs the parties and shows that the cell is
withheld, or the quantile or model refused — and, for the tables, that no combination of
the release's published cells with all margins (what other jobs give) determines a
withheld cell: the attacker's LP on the sums leaves her cell an interval, not a point.
Everything still released equals the plaintext figure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.data.fixed_point import FixedPoint
from privstats.data.tables import Table
from privstats.disclosure.cells import withheld_cells
from privstats.disclosure.owner import CandidateRelease, OwnerRules
from privstats.disclosure.tables import TOTAL, attacker_intervals, tabulate
from privstats.errors import ProtocolError
from privstats.jobs.aggregate import AggregateSpec, party_role, run_local_aggregate, run_role
from privstats.jobs.kind import RoleContext
from privstats.transport.memory import MemoryNetwork, run_parties

HER_WAGE = 4321.5
Record = tuple[str, str, float]


def _records() -> dict[str, list[Record]]:
    def cell(region: str, sex: str, n: int, base: float) -> list[Record]:
        return [(region, sex, base + 17.25 * i) for i in range(n)]

    a = [
        *cell("North", "M", 20, 3000),
        *cell("North", "F", 18, 3100),
        *cell("South", "M", 6, 2900),
        *cell("South", "F", 14, 3050),
        *cell("Islands", "F", 8, 2800),
        ("Islands", "M", HER_WAGE),
    ]
    b = [
        *cell("North", "M", 10, 3300),
        *cell("North", "F", 12, 3200),
        *cell("South", "M", 6, 3150),
        *cell("South", "F", 11, 2950),
        *cell("Islands", "F", 7, 2750),
    ]
    return {"a": a, "b": b}


def _table(name: str, records: Sequence[Record]) -> Table:
    return Table(
        f"{name}.csv",
        len(records),
        {
            "region": np.array([r[0] for r in records], dtype=str),
            "sex": np.array([r[1] for r in records], dtype=str),
        },
        {"wage": np.array([r[2] for r in records], dtype=float)},
    )


def _run(
    data: Mapping[str, Table], spec: AggregateSpec, owners: Mapping[str, OwnerRules] | None = None
) -> dict[str, Any]:
    parties = list(data)
    network = MemoryNetwork(parties, timeout=60)
    results = run_parties(
        network,
        {
            p: (
                lambda ch, p=p: party_role(
                    ch, parties, data[p], spec, None, (owners or {}).get(p, OwnerRules())
                )
            )
            for p in parties
        },
    )
    first = results[parties[0]]
    assert all(result == first for result in results.values())
    return first


def _pooled() -> list[Record]:
    return [r for part in _records().values() for r in part]


def _groups(result: Mapping[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(g["by"].values()): g for g in result["groups"]}


def _exact_sum(wages: Sequence[float]) -> float:
    fixed = FixedPoint(32)
    return sum(int(c) for c in fixed.encode_exact(np.array(wages))) / 2**32


def _assert_released_exact(result: Mapping[str, Any], pooled: Sequence[Record]) -> None:
    for key, group in _groups(result).items():
        if group["suppressed"]:
            assert group["count"] is None and group["sum:wage"] is None
            continue
        wages = [w for r, s, w in pooled if (r, s) == key]
        assert group["count"] == len(wages)
        assert group["sum:wage"] == pytest.approx(_exact_sum(wages), rel=1e-12)


def _sum_intervals(result: Mapping[str, Any], pooled: Sequence[Record]) -> dict[str, Any]:
    """The attacker's interval of every withheld cell of the sum table, knowing every
    released group and every margin (from other jobs) that the release does not withhold."""
    records = [{"region": r, "sex": s, "wage": w} for r, s, w in pooled]
    table = tabulate(records, ("region", "sex"), value="wage", top=0)
    hidden = {k for k, g in _groups(result).items() if g["suppressed"]}
    hidden |= {tuple(m["by"].values()) for m in result["margins"] if m["count"] is None}
    mask = np.array([cell.key in hidden for cell in table.cells])
    intervals = attacker_intervals(table, mask)
    return {table.cells[i].key: interval for i, interval in intervals.items()}


# --------------------------------------------------------------------------- differencing


def test_differencing_by_region_then_region_and_sex_no_longer_gives_her_wage() -> None:
    pooled = _pooled()
    counts: dict[tuple[str, str], int] = {}
    for r, s, _ in pooled:
        counts[(r, s)] = counts.get((r, s), 0) + 1
    # the old rule withheld her cell and the smallest cell anywhere (South/M, 12) ...
    old = withheld_cells(counts, 10)
    assert old == {("Islands", "M"), ("South", "M")}
    # ... so Islands (from --by region) − Islands/F (released) was her exact wage
    islands = _exact_sum([w for r, _, w in pooled if r == "Islands"])
    islands_f = _exact_sum([w for r, s, w in pooled if (r, s) == ("Islands", "F")])
    assert islands - islands_f == pytest.approx(HER_WAGE)

    data = {p: _table(p, recs) for p, recs in _records().items()}
    spec = AggregateSpec.build(stats=("sum:wage",), by=("region", "sex"), min_cell=10)
    result = _run(data, spec)

    groups = _groups(result)
    assert groups[("Islands", "M")]["suppressed"] is True
    assert "freq:10" in groups[("Islands", "M")]["reason"]
    assert groups[("Islands", "F")]["suppressed"] is True  # her row is protected now
    assert groups[("Islands", "F")]["status"] == "secondary"
    margins = {tuple(m["by"].values()): m for m in result["margins"]}
    assert margins[("Islands", TOTAL)]["count"] == 16  # the margin is published
    assert result["audit"]["protected"] is True
    _assert_released_exact(result, pooled)
    # with every published cell and margin, her sum is an interval, not her wage
    intervals = _sum_intervals(result, pooled)
    hers = intervals[("Islands", "M")]
    assert hers.low == pytest.approx(0.0, abs=1e-6)
    assert hers.high > HER_WAGE + 1000


def test_without_groups_a_pooled_count_below_the_minimum_is_withheld() -> None:
    data = {
        "a": _table("a", [("X", "M", 1000.0 + i) for i in range(3)]),
        "b": _table("b", [("X", "F", 2000.0 + i) for i in range(4)]),
    }
    result = _run(data, AggregateSpec.build(stats=("sum:wage",), min_cell=10))
    (group,) = result["groups"]
    assert group["suppressed"] is True and group["sum:wage"] is None
    assert "7 record(s), fewer than 10" in group["reason"]


# --------------------------------------------------------------------------- dominance


def test_a_dominated_cell_is_withheld_with_the_rule_it_fails() -> None:
    records = _records()
    records["b"] = [*records["b"], ("North", "F", 1_200_000.0)]  # 92 % of North/F
    pooled = [r for part in records.values() for r in part]
    north_f = [w for r, s, w in pooled if (r, s) == ("North", "F")]
    assert max(north_f) / sum(north_f) > 0.9
    # the old rule: 31 records ≥ 10, released
    data = {p: _table(p, recs) for p, recs in records.items()}
    base = {"stats": ("sum:wage",), "by": ("region", "sex"), "min_cell": 10}

    old_style = _groups(_run(data, AggregateSpec.build(**base)))
    assert old_style[("North", "F")]["suppressed"] is False  # no dominance rule asked

    result = _run(data, AggregateSpec.build(**base, rules=("nk:1,80", "p:10")))
    groups = _groups(result)
    assert groups[("North", "F")]["suppressed"] is True
    assert "nk:1,80" in groups[("North", "F")]["reason"]
    assert result["rules"] == ["freq:10", "nk:1,80", "p:10"]
    assert result["audit"]["protected"] is True
    _assert_released_exact(result, pooled)
    intervals = _sum_intervals(result, pooled)
    assert intervals[("North", "F")].width > 0


def test_the_owners_rules_apply_even_when_the_job_asks_for_none() -> None:
    records = _records()
    records["b"] = [*records["b"], ("North", "F", 1_200_000.0)]
    data = {p: _table(p, recs) for p, recs in records.items()}
    spec = AggregateSpec.build(stats=("mean:wage",), by=("region", "sex"), min_cell=10)
    result = _run(data, spec, owners={"a": OwnerRules(rules=("nk:1,80",), min_cell=12)})
    groups = _groups(result)
    assert result["min_cell"] == 12 and "nk:1,80" in result["rules"]
    assert groups[("North", "F")]["suppressed"] is True


# --------------------------------------------------------------------------- quantiles


def test_quantiles_at_every_k_over_25_no_longer_list_every_value() -> None:
    wages = [2000.0 + 37.5 * i for i in range(25)]
    data = {
        "a": _table("a", [("X", "M", w) for w in wages[:13]]),
        "b": _table("b", [("X", "M", w) for w in wages[13:]]),
    }
    levels = [f"quantile:wage:{k / 25:g}" for k in range(1, 25)] + ["quantile:wage:0.999"]
    result = _run(data, AggregateSpec.build(stats=levels, min_cell=5))
    (group,) = result["groups"]

    released = {name: group[name] for name in levels if group[name] is not None}
    # the old path: every level found, i.e. all 24 sorted values below the maximum, and the
    # maximum itself at 0.999; now: ≥ 5 records on each side, levels ≥ 5/25 apart
    assert released == {
        "quantile:wage:0.24": wages[5],
        "quantile:wage:0.44": wages[10],
        "quantile:wage:0.64": wages[15],
    }
    assert "above" in group["refused"]["quantile:wage:0.999"]
    assert "closer than" in group["refused"]["quantile:wage:0.28"]
    assert "below" in group["refused"]["quantile:wage:0.04"]
    assert max(wages) not in released.values() and min(wages) not in released.values()


# --------------------------------------------------------------------------- OLS


def _ols_data(flag_ones: int, missing_x: int = 0) -> dict[str, Table]:
    def table(name: str, start: int, n: int) -> Table:
        i = np.arange(start, start + n)
        x = 1.0 + (i % 7) * 0.5 + i * 0.01
        x[: missing_x if start == 0 else 0] = np.nan
        flag = (i < flag_ones).astype(float)
        y = 1000.0 + 30 * x + 5 * (i % 3)
        y[0 if start == 0 else -1] = HER_WAGE
        return Table(f"{name}.csv", n, {}, {"y": y, "x": x, "flag": flag})

    return {"a": table("a", 0, 20), "b": table("b", 20, 20)}


def test_ols_with_a_flag_for_one_record_is_refused() -> None:
    data = _ols_data(flag_ones=1)
    # the old path: Intercept + flag = her value exactly
    y = np.concatenate([t.values["y"] for t in data.values()])
    flag = np.concatenate([t.values["flag"] for t in data.values()])
    beta, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(y), flag]), y, rcond=None)
    assert beta.sum() == pytest.approx(HER_WAGE)

    result = _run(data, AggregateSpec.build(stats=("count",), ols="y ~ flag", min_cell=10))
    assert result["ols"]["suppressed"] is True and result["ols"]["coef"] is None
    assert "flag=1" in result["ols"]["reason"]


def test_ols_one_record_short_of_a_released_count_is_refused() -> None:
    data = _ols_data(flag_ones=0, missing_x=1)
    spec = AggregateSpec.build(stats=("count", "sum:y"), ols="y ~ x", min_cell=10)
    result = _run(data, spec)
    assert result["groups"][0]["count"] == 40  # released, with Σy over all 40 …
    assert result["ols"]["suppressed"] is True  # … so a model on 39 would give her y
    assert "differ from a released count of 40" in result["ols"]["reason"]


def test_ols_that_passes_the_floors_equals_least_squares() -> None:
    data = _ols_data(flag_ones=20)
    result = _run(data, AggregateSpec.build(stats=("count",), ols="y ~ x + flag", min_cell=10))
    x = np.concatenate([t.values["x"] for t in data.values()])
    flag = np.concatenate([t.values["flag"] for t in data.values()])
    y = np.concatenate([t.values["y"] for t in data.values()])
    beta, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(y), x, flag]), y, rcond=None)
    assert result["ols"]["suppressed"] is False
    assert list(result["ols"]["coef"].values()) == pytest.approx(list(beta), rel=1e-8)


# --------------------------------------------------------------------------- owners


class _Guard:
    """A release history that names fixed cells and records what it is told."""

    def __init__(self, names: Mapping[tuple[str, ...], str]) -> None:
        self.names = names
        self.checked: list[CandidateRelease] = []
        self.told: list[tuple[CandidateRelease, frozenset[tuple[str, ...]]]] = []

    def check(self, candidate: CandidateRelease) -> Mapping[tuple[str, ...], str]:
        self.checked.append(candidate)
        return self.names

    def published(self, candidate: CandidateRelease, withheld: Collection[tuple[str, ...]]) -> None:
        self.told.append((candidate, frozenset(withheld)))


def test_the_release_guard_sees_counts_before_sums_and_is_told_the_final_withheld() -> None:
    guard = _Guard({("North", "M"): "a split of an earlier release"})
    data = {p: _table(p, recs) for p, recs in _records().items()}
    spec = AggregateSpec.build(stats=("sum:wage",), by=("region", "sex"), min_cell=10)
    result = _run(data, spec, owners={"b": OwnerRules(guard=guard)})

    groups = _groups(result)
    assert groups[("North", "M")]["suppressed"] is True
    assert "release history" in groups[("North", "M")]["reason"]
    (candidate,) = guard.checked  # once, with every cell's count and margins
    assert candidate.counts[("Islands", "M")] == 1
    assert candidate.counts[(TOTAL, TOTAL)] == len(_pooled())
    assert ("Islands", "M") in candidate.withheld
    ((final, withheld),) = guard.told
    assert {k for k, g in groups.items() if g["suppressed"]} <= withheld
    assert ("North", "M") in withheld and final.withheld == withheld
    assert result["audit"]["protected"] is True


def test_a_cell_holding_one_of_a_partys_records_is_withheld_by_its_owner(tmp_path: Path) -> None:
    records = _records()
    # b keeps one North/M record; a has 29: the cell (30) passes every table rule
    records["b"] = [r for r in records["b"] if (r[0], r[1]) != ("North", "M")]
    records["b"].append(("North", "M", 3999.0))
    records["a"] += [("North", "M", 3500.0 + i) for i in range(9)]
    files = {}
    for party, recs in records.items():
        path = tmp_path / f"{party}.csv"
        lines = ["region,sex,wage", *(f"{r},{s},{w}" for r, s, w in recs)]
        path.write_text("\n".join(lines) + "\n")
        files[party] = path
    spec = AggregateSpec.build(stats=("sum:wage",), by=("region", "sex"), min_cell=10)

    plain = _run({p: _table(p, recs) for p, recs in records.items()}, spec)
    assert _groups(plain)[("North", "M")]["suppressed"] is False  # 30 records: released

    run = run_local_aggregate(files, spec, owners={"party2": OwnerRules(min_matched=3)})
    groups = _groups(run.result)
    assert groups[("North", "M")]["suppressed"] is True
    assert "at least 3 of its records" in groups[("North", "M")]["reason"]
    assert run.result["audit"]["protected"] is True


def test_a_peer_smaller_than_the_owners_floor_is_refused_before_anything_runs() -> None:
    spec = AggregateSpec.build(stats=("count",), min_cell=10)
    context = RoleContext(peer_rows={"party2": 3}, owner=OwnerRules(min_peer_rows=10))
    with pytest.raises(ProtocolError, match="min_peer_rows = 10"):
        run_role("party1", None, {"party1": "a", "party2": "b"}, "", spec, None, context)  # type: ignore[arg-type]
