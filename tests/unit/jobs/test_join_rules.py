"""The attacks of issue 15 on join-aggregate, run through both roles: each is withheld or
refused, with its reason, and what is released stays exact.

Every release is audited as an attacker would: the published cells of the count table
and of each sum table (margins included, and the cells of earlier releases where the
attack combines two), the additivity of the table and non-negativity; each withheld cell's
lowest and highest value is solved by linear programming (HiGHS) on the true table, and
must not be pinned down.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privstats.disclosure.owner import CandidateRelease, Label, OwnerRules
from privstats.disclosure.tables import TOTAL, attacker_intervals, tabulate
from privstats.errors import ComputationError, ProtocolError
from privstats.jobs import join_aggregate as job
from privstats.jobs.join_aggregate import LEFT, RIGHT, JoinAggregateSpec
from privstats.transport.memory import MemoryNetwork, run_parties

REGIONS = ["Coast", "Hills", "Islands", "Plain"]


def write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@dataclass
class People:
    """A register (id, region, sex) and a bank (id, income); ``target`` is alone in her
    region-and-sex cell."""

    rows: list[list[str]]
    income: dict[str, int]
    target: str = "p-target"


def people(n_per_cell: int = 8, dominant: bool = False, target: bool = True) -> People:
    rows: list[list[str]] = []
    income: dict[str, int] = {}
    k = 0
    for region in REGIONS:
        for sex in ("F", "M"):
            count = 0 if (region, sex) == ("Islands", "F") else n_per_cell
            for _ in range(count):
                pid = f"p{k:03d}"
                rows.append([pid, region, sex])
                income[pid] = 20_000 + 1_000 * (k % 13)
                k += 1
    if target:
        rows.append(["p-target", "Islands", "F"])
        income["p-target"] = 61_000
    if dominant:  # one Coast woman holds 92 % of her cell's income
        income["p000"] = 23 * sum(income[r[0]] for r in rows[1:n_per_cell])
    return People(rows, income)


def files(
    tmp_path: Path, data: People, left_ids: Collection[str] | None = None
) -> tuple[Path, Path]:
    keep = [r for r in data.rows if left_ids is None or r[0] in left_ids]
    left = write(tmp_path / "office.csv", ["id", "region", "sex"], keep)
    right = write(tmp_path / "bank.csv", ["id", "income"], [[k, v] for k, v in data.income.items()])
    return left, right


def run(
    left: Path,
    right: Path,
    spec: JoinAggregateSpec,
    owners: Mapping[str, OwnerRules] | None = None,
) -> dict[str, Any]:
    """Both roles over memory channels with their owners' rules; the left party's result."""
    owners = owners or {}
    network = MemoryNetwork(["office", "bank"], timeout=60)
    parties = {LEFT: "office", RIGHT: "bank"}

    def play(role: str, path: Path) -> Any:
        owner = owners.get(role, OwnerRules())
        return lambda ch: job.run_role(role, ch, parties, str(path), spec, None, owner)

    out = run_parties(network, {"office": play(LEFT, left), "bank": play(RIGHT, right)})
    result: dict[str, Any] = out["office"][0]
    return result


def spec_by(*by: str, **options: Any) -> JoinAggregateSpec:
    return JoinAggregateSpec.build(key="id", by=by, right_values=("income",), **options)


def cells(result: Mapping[str, Any]) -> dict[Label, dict[str, Any]]:
    """Every cell of a result (groups and margins) by its labels."""
    out = {}
    for entry in (*result["groups"], *result["margins"]):
        out[tuple(entry["by"].values())] = entry
    return out


def truth(data: People, left_ids: Collection[str], by: tuple[str, ...]) -> Any:
    """The plaintext tables of the matched persons (counts, income) with every margin."""
    position = {"region": 1, "sex": 2}
    records = [
        {**{d: r[position[d]] for d in by}, "income": data.income[r[0]]}
        for r in data.rows
        if r[0] in left_ids and r[0] in data.income
    ]
    return tabulate(records, by), tabulate(records, by, value="income")


def audit(
    result: Mapping[str, Any],
    data: People,
    left_ids: Collection[str],
    earlier: Mapping[Label, Mapping[str, Any]] = {},
) -> dict[Label, float]:
    """Each withheld cell's interval width in the count and income tables, given every
    published cell of ``result`` and of an ``earlier`` release (cells by labels); checks
    that every published figure is exact. A combination of group values that no matched
    person has is known to be empty (0), as the office's table assumes. Returns the
    narrowest width per withheld cell."""
    counts, sums = truth(data, left_ids, tuple(result["groups"][0]["by"]))
    released = cells(result)
    widths: dict[Label, float] = {}
    for table, name in ((counts, "count"), (sums, "sum:income")):
        published = np.array([counts.cells[i].count == 0 for i in range(len(table.cells))])
        for i, cell in enumerate(table.cells):
            entry = released.get(cell.key) or {"suppressed": True}
            before = earlier.get(cell.key, {"suppressed": True})
            for seen in (entry, before):
                if not seen["suppressed"]:
                    assert seen[name] == pytest.approx(cell.value), (cell.key, name)
                    published[i] = True
        for i, interval in attacker_intervals(table, ~published).items():
            key = table.cells[i].key
            widths[key] = min(widths.get(key, np.inf), interval.width)
    return widths


# --------------------------------------------------------------------------- differencing


def test_by_region_then_by_region_and_sex_does_not_give_her_income(tmp_path: Path) -> None:
    """The issue's attack: Islands − Islands/M. Her cell is withheld, and secondary
    suppression over the table with its margins leaves her count and income undetermined
    even with the first job's released regions added to the second's."""
    data = people()
    left, right = files(tmp_path, data)
    everyone = {r[0] for r in data.rows}

    first = run(left, right, spec_by("region", min_cell=5))
    second = run(left, right, spec_by("region", "sex", min_cell=5))

    her = cells(second)[("Islands", "F")]
    assert her["suppressed"] and her["status"] == "primary" and "freq:5" in her["rules"]
    assert "fewer than 5" in her["reason"]
    assert any(c["status"] == "secondary" for c in cells(second).values())
    widths = audit(second, data, everyone, earlier=cells(first))
    assert widths[("Islands", "F")] > 0
    assert all(width > 0 for width in widths.values())
    assert audit(first, data, everyone) == {}  # every region has 8 or more: all released


def test_without_by_the_floor_applies_too(tmp_path: Path) -> None:
    data = people()
    left, right = files(tmp_path, data, {"p-target", "p000", "p001"})
    result = run(left, right, JoinAggregateSpec.build(key="id", right_values=("income",)))
    (only,) = result["groups"]
    assert only["by"] == {} and only["suppressed"] and only["count"] is None
    assert only["sum:income"] is None and "freq:10" in only["rules"]
    assert result["matched"] is None and result["margins"] == []


# --------------------------------------------------------------------------- dominance


@pytest.mark.parametrize(
    ("spec_rules", "owner_rules", "rule"),
    [(("nk:1,80",), (), "nk:1,80"), ((), ("p:10",), "p:10")],
)
def test_a_dominated_cell_is_withheld_by_the_bank(
    tmp_path: Path, spec_rules: tuple[str, ...], owner_rules: tuple[str, ...], rule: str
) -> None:
    """One woman of Coast holds 92 % of the cell's income: the bank, evaluating the job's
    (n, k) rule or its owner's p % rule on its own values, withholds the cell; its sum is
    never decrypted, and the published cells do not pin it down."""
    data = people(dominant=True, target=False)
    left, right = files(tmp_path, data)
    owners = {RIGHT: OwnerRules(rules=owner_rules)}

    result = run(left, right, spec_by("region", "sex", min_cell=3, rules=spec_rules), owners)

    coast = cells(result)[("Coast", "F")]
    assert coast["suppressed"] and coast["status"] == "primary"
    assert coast["rules"] == [rule]
    assert coast["reason"] == f"{rule}: income: its largest values dominate the cell"
    widths = audit(result, data, {r[0] for r in data.rows})
    assert widths[("Coast", "F")] > 0 and all(w > 0 for w in widths.values())
    assert not cells(result)[("Coast", "M")]["suppressed"] or widths[("Coast", "M")] > 0


def test_without_magnitude_rules_the_bank_asks_for_no_values(tmp_path: Path) -> None:
    data = people(dominant=True, target=False)
    left, right = files(tmp_path, data)
    result = run(left, right, spec_by("region", "sex", min_cell=3))
    assert not any(c["suppressed"] for c in cells(result).values())  # no rule asked


# --------------------------------------------------------------------------- input choice


def test_the_bank_refuses_a_list_below_its_floor(tmp_path: Path) -> None:
    data = people()
    left, right = files(tmp_path, data, {r[0] for r in data.rows[:30]})
    owners = {RIGHT: OwnerRules(min_peer_rows=50)}
    with pytest.raises(ComputationError) as raised:
        run(left, right, spec_by("region"), owners)
    cause = raised.value.__cause__
    assert isinstance(cause, ProtocolError) and "min_peer_rows = 50" in str(cause)


def test_the_office_refuses_a_bank_list_below_its_floor(tmp_path: Path) -> None:
    data = people()
    left, right = files(tmp_path, data)
    owners = {LEFT: OwnerRules(min_peer_rows=10_000)}
    with pytest.raises(ComputationError, match="min_peer_rows = 10,000"):
        run(left, right, spec_by("region"), owners)


def test_the_banks_floors_bind_whatever_the_job_asks(tmp_path: Path) -> None:
    """The job asks min_cell 1; the bank's owner floor (min_cell 9, min_matched 9) withholds
    every cell of 1 to 8 matched persons all the same, and secondary suppression follows."""
    data = people()
    left, right = files(tmp_path, data)
    owners = {RIGHT: OwnerRules(min_cell=6, min_matched=9)}

    result = run(left, right, spec_by("region", "sex", min_cell=1), owners)

    for key, entry in cells(result).items():
        if entry["status"] == "primary":
            assert entry["reason"].startswith("freq:9: "), key
    assert cells(result)[("Islands", "F")]["suppressed"]
    assert all(c["suppressed"] for c in result["groups"])  # 8 per cell: all below 9
    widths = audit(result, data, {r[0] for r in data.rows})
    assert widths and all(w > 0 for w in widths.values())


@dataclass
class History:
    """A test double of the owner's release guard (the node's ledger decides in earnest):
    a cell whose count differs from an earlier release of the same cell by 1 … min_cell − 1
    is named; every call is kept."""

    min_cell: int
    releases: list[dict[Label, int]] = field(default_factory=list)
    checked: list[CandidateRelease] = field(default_factory=list)
    published_withheld: list[frozenset[Label]] = field(default_factory=list)

    def check(self, candidate: CandidateRelease) -> dict[Label, str]:
        self.checked.append(candidate)
        named = {}
        for key, n in candidate.counts.items():
            for earlier in self.releases:
                if key in earlier and 0 < abs(earlier[key] - n) < self.min_cell:
                    named[key] = f"differs by {abs(earlier[key] - n)} from an earlier release"
        return named

    def published(self, candidate: CandidateRelease, withheld: Collection[Label]) -> None:
        self.releases.append({k: n for k, n in candidate.counts.items() if k not in withheld})
        self.published_withheld.append(frozenset(withheld))


def test_thirty_persons_then_the_same_plus_the_target(tmp_path: Path) -> None:
    """The office's choice of input: 30 persons, then the same 30 and the target. The
    bank's guard, given the candidate counts before any share, names the cells that moved
    by one; the bank refuses to decrypt them, the office plans again, and every cell
    released twice is released with the same figures: no difference gives her away."""
    data = people()
    islanders = [r[0] for r in data.rows if r[1] == "Islands" and r[0] != "p-target"]
    others = sorted(r[0] for r in data.rows if r[1] != "Islands")
    thirty = set(islanders[:4] + others[:26])
    guard = History(min_cell=5)
    owners = {RIGHT: OwnerRules(guard=guard)}
    spec = spec_by("region", min_cell=3)

    first = run(*files(tmp_path, data, thirty), spec, owners)
    second = run(*files(tmp_path, data, thirty | {"p-target"}), spec, owners)

    assert first["matched"] == 30 and all(not g["suppressed"] for g in first["groups"])
    moved = {("Islands",), ("Total",)}
    for key in moved:
        entry = cells(second)[key]
        assert entry["suppressed"] and entry["rules"] == ["guard"]
        assert entry["reason"] == "guard: differs by 1 from an earlier release"
    for key, entry in cells(second).items():
        if not entry["suppressed"]:
            assert key not in moved
            assert entry["sum:income"] == cells(first)[key]["sum:income"]
    widths = audit(second, data, thirty | {"p-target"})
    assert widths[("Islands",)] > 0 and widths[("Total",)] > 0
    # the bank recorded each release once, and saw no count of a cell withheld before
    assert guard.published_withheld[0] == frozenset()
    assert moved <= guard.published_withheld[1]
    assert all(not moved & set(c.counts) for c in guard.checked[2:])


def test_the_offices_guard_sees_every_cell_before_values_open(tmp_path: Path) -> None:
    data = people()
    left, right = files(tmp_path, data)
    guard = History(min_cell=5)
    owners = {LEFT: OwnerRules(guard=guard)}
    result = run(left, right, spec_by("region", "sex", min_cell=3), owners)
    (candidate,) = guard.checked
    assert candidate.counts[("Islands", "F")] == 1  # its own dataset: every count
    assert ("Islands", "F") in candidate.withheld
    assert candidate.counts[(TOTAL, TOTAL)] == len(data.rows)
    assert guard.published_withheld == [
        frozenset(k for k, c in cells(result).items() if c["suppressed"])
    ]


def test_owner_rules_reach_both_roles_in_real_processes(tmp_path: Path) -> None:
    data = people()
    left, right = files(tmp_path, data)
    run_ = job.run_local_join_aggregate(
        left, right, spec_by("region", min_cell=1), owners={RIGHT: OwnerRules(min_matched=10)}
    )
    by_region = cells(run_.result)
    islands = by_region[("Islands",)]  # 8 men and her: 9 matched
    assert islands["suppressed"] and islands["reason"].startswith("freq:10: 9 matched")
    released = [e for e in run_.result["groups"] if not e["suppressed"]]
    assert released and all(e["count"] == 16 for e in released)
