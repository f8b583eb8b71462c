"""The attacks of issue 15 on coverage, run through both roles: each is refused or withheld.

Both roles run as a node runs them (the kind's runner, each with its data owner's
``OwnerRules``) over in-memory channels; one test goes through ``run_local_coverage``
(real processes). Every released figure is compared with the plaintext computation, and
every withheld cell is solved for from the published cells, as an analyst would.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest

from privstats.disclosure.owner import CandidateRelease, Label, OwnerRules
from privstats.disclosure.tables import TOTAL
from privstats.errors import ComputationError, ProtocolError
from privstats.jobs.coverage import CoverageSpec, run_local_coverage
from privstats.jobs.coverage_figures import published_cells
from privstats.jobs.coverage_release import published_intervals
from privstats.jobs.kind import RoleContext
from privstats.jobs.kinds import KINDS
from privstats.transport.memory import MemoryNetwork, run_parties


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# A register where one woman ("T-0", the target) is alone in Islands/F.
PEOPLE = (
    [[f"N-{i}", "North", "F" if i % 2 else "M"] for i in range(40)]
    + [[f"S-{i}", "South", "F" if i % 2 else "M"] for i in range(30)]
    + [["T-0", "Islands", "F"]]
    + [[f"I-{i}", "Islands", "M"] for i in range(14)]
)
CUSTOMERS = ["T-0", *(f"N-{i}" for i in range(0, 40, 2)), *(f"S-{i}" for i in range(15))]
CUSTOMERS += [f"I-{i}" for i in range(12)] + [f"x-{i}" for i in range(8)]


def _run(
    tmp_path: Path,
    spec: CoverageSpec,
    people: list[list[str]] = PEOPLE,
    customers: list[str] = CUSTOMERS,
    owners: Mapping[str, OwnerRules] | None = None,
) -> dict[str, Any]:
    reg = _write(tmp_path / "reg.csv", ["pid", "region", "sex"], people)
    src = _write(tmp_path / "src.csv", ["cid"], [[c] for c in customers])
    kind = KINDS["coverage"]
    parties = {"register": "register", "source": "source"}
    paths = {"register": str(reg), "source": str(src)}
    owners = owners or {}
    return run_parties(
        MemoryNetwork(["register", "source"], timeout=20),
        {
            role: lambda ch, role=role: (
                kind.run_role(
                    role,
                    ch,
                    parties,
                    paths[role],
                    spec,
                    None,
                    RoleContext(owner=owners.get(role, OwnerRules())),
                ).result
            )
            for role in parties
        },
    )


def _plain(by: tuple[str, ...]) -> tuple[Counter[Label], Counter[Label]]:
    """Plaintext register sizes and matched counts of every cell, margins included."""
    columns = {"region": 1, "sex": 2}
    customers = set(CUSTOMERS)
    sizes: Counter[Label] = Counter()
    matched: Counter[Label] = Counter()
    for row in PEOPLE:
        label = tuple(row[columns[d]] for d in by)
        keys = {
            tuple(TOTAL if keep else lab for keep, lab in zip(mask, label, strict=True))
            for mask in _masks(len(by))
        }
        for key in keys:
            sizes[key] += 1
            matched[key] += row[0] in customers
    return sizes, matched


def _masks(n: int) -> list[tuple[bool, ...]]:
    return [tuple(bool(bits >> i & 1) for i in range(n)) for bits in range(2**n)]


def _spec(*by: str, **kwargs: Any) -> CoverageSpec:
    return CoverageSpec.build(key="pid", peer_key="cid", by=by, **({"min_cell": 10} | kwargs))


def _check_exact(result: dict[str, Any], by: tuple[str, ...]) -> None:
    """Every released count equals the plaintext one."""
    sizes, matched = _plain(by)
    for measure, truth in (("register_size", sizes), ("matched", matched)):
        for key, value in published_cells(result, measure).items():
            if value is not None:
                assert value == truth[key], (measure, key)


def _check_protected(result: dict[str, Any], by: tuple[str, ...], extra: Mapping = {}) -> None:
    """No withheld cell can be solved to within one person from the published cells
    (and ``extra`` cells published elsewhere, e.g. by an earlier job)."""
    for measure in ("register_size", "matched"):
        cells = published_cells(result, measure) | dict(extra.get(measure, {}))
        intervals = published_intervals(cells, by)
        assert intervals, "the test expects withheld cells"
        for key, (low, high) in intervals.items():
            assert high - low >= 1, (measure, key, low, high)


def test_differencing_by_region_then_region_and_sex_gives_nothing(tmp_path: Path) -> None:
    """Islands minus Islands/M no longer gives the target's cell: the second table's region
    margins are the first job's cells, and Islands/F is withheld with a cell of its row."""
    first = _run(tmp_path, _spec("region"))["register"]
    second = _run(tmp_path, _spec("region", "sex"))["register"]
    _check_exact(first, ("region",))
    _check_exact(second, ("region", "sex"))
    islands = {e["by"]["region"]: e for e in first["groups"]}["Islands"]
    assert islands["matched"] == 13 and not islands["suppressed"]  # released by job 1
    cells = {tuple(e["by"].values()): e for e in (*second["groups"], *second["margins"])}
    target = cells[("Islands", "F")]
    assert target["suppressed"] and target["status"] == "primary"
    assert "register size" in target["reason"]
    assert cells[("Islands", "M")]["suppressed"]  # the row is protected, not any cell
    assert cells[("Islands", TOTAL)]["matched"] == 13  # the margin the attack used
    earlier = {
        measure: {(e["by"]["region"], TOTAL): e[measure] for e in first["groups"]}
        for measure in ("register_size", "matched")
    }
    _check_protected(second, ("region", "sex"), earlier)
    assert second["audit"]["protected"] is True


def test_without_by_the_one_cell_faces_the_rules(tmp_path: Path) -> None:
    """A register of one person: matched 1 is withheld, with its reason."""
    out = _run(tmp_path, _spec(), people=[["T-0", "Islands", "F"]])
    result = out["register"]
    assert out["source"] == result
    assert result["suppressed"] is True
    assert result["matched"] is None and result["register_size"] is None
    assert result["coverage"]["estimate"] is None
    assert result["population_estimate"]["estimate"] is None
    assert "register size: 1 contributor(s), fewer than 10" in result["reason"]


def test_invented_ids_meet_the_size_floor_but_not_the_matched_floor(tmp_path: Path) -> None:
    """The target plus 9 invented ids passes min_cell; the source's min_matched withholds
    the one match, and its min_peer_rows stops a small register before the PSI."""
    people = [["T-0", "Islands", "F"], *([f"fake-{i}", "Islands", "F"] for i in range(9))]
    plain = _run(tmp_path, _spec(), people=people)["register"]
    assert plain["suppressed"] is True and "matched: 1 contributor" in plain["reason"]
    owners = {"source": OwnerRules(min_matched=5)}
    big = [*people, *([f"fake-{i}", "Islands", "F"] for i in range(9, 40))]
    out = _run(tmp_path, _spec(min_cell=1), people=big, owners=owners)
    assert out["register"]["suppressed"] is True
    assert "matched: 1 contributor(s), fewer than 5" in out["register"]["reason"]
    with pytest.raises(ComputationError) as info:
        _run(tmp_path, _spec(), people=people, owners={"source": OwnerRules(min_peer_rows=100)})
    assert info.value.party == "source"
    cause = info.value.__cause__
    assert isinstance(cause, ProtocolError)
    assert "fewer than the 100 this data owner requires of a peer (min_peer_rows)" in str(cause)


def test_a_one_customer_list_learns_nothing_of_her_domain(tmp_path: Path) -> None:
    """The register's min_peer_rows stops it; without that floor, every cell with her one
    match (her domain, her margins, the total) is withheld."""
    with pytest.raises(ComputationError) as info:
        _run(
            tmp_path,
            _spec("region", "sex"),
            customers=["T-0"],
            owners={"register": OwnerRules(min_peer_rows=50)},
        )
    assert info.value.party == "register"
    assert "min_peer_rows" in str(info.value.__cause__)
    out = _run(tmp_path, _spec("region", "sex"), customers=["T-0"])
    result = out["register"]
    assert out["source"] == result
    for entry in (*result["groups"], *result["margins"]):
        assert entry["matched"] in (None, 0)
    assert result["matched"] is None  # the total is her too
    intervals = published_intervals(published_cells(result, "matched"), ("region", "sex"))
    assert all(high - low >= 1 for low, high in intervals.values())


class FakeGuard:
    """A release history that names fixed cells, and records what it is told."""

    def __init__(self, names: Mapping[Label, str]) -> None:
        self.names = dict(names)
        self.checked: list[CandidateRelease] = []
        self.published_calls: list[tuple[CandidateRelease, frozenset[Label]]] = []

    def check(self, candidate: CandidateRelease) -> Mapping[Label, str]:
        self.checked.append(candidate)
        return {label: why for label, why in self.names.items() if label in candidate.counts}

    def published(self, candidate: CandidateRelease, withheld: Collection[Label]) -> None:
        self.published_calls.append((candidate, frozenset(withheld)))


def test_both_guards_withhold_what_they_name(tmp_path: Path) -> None:
    """The register's guard and the source's (by objection) each name a released cell:
    both are withheld with the reason, protected again, and recorded once per side."""
    register_guard = FakeGuard({("North",): "North was released by job 7 with a filter"})
    source_guard = FakeGuard({("South",): "South differs from job 3 by one person"})
    owners = {
        "register": OwnerRules(guard=register_guard),
        "source": OwnerRules(guard=source_guard),
    }
    out = _run(tmp_path, _spec("region"), owners=owners)
    result = out["register"]
    assert out["source"] == result
    cells = {e["by"]["region"]: e for e in result["groups"]}
    assert cells["North"]["suppressed"] and "job 7" in cells["North"]["reason"]
    assert cells["South"]["suppressed"]
    assert "the source's release history: South differs" in cells["South"]["reason"]
    (candidate,) = register_guard.checked
    assert candidate.kind == "coverage" and candidate.dims == ("region",)
    assert candidate.measures == ("matched",)
    assert dict(candidate.counts) == {("North",): 20, ("South",): 15, ("Islands",): 13}
    assert candidate.withheld == frozenset()
    (shown,) = source_guard.checked  # the proposal: North and a cell protecting it withheld
    assert shown.withheld == {("North",), ("Islands",)} and set(shown.counts) == {("South",)}
    ((_, final),) = register_guard.published_calls
    withheld = {(label,) for label, e in cells.items() if e["suppressed"]}
    assert final == withheld == {("North",), ("South",), ("Islands",)}
    ((_, source_final),) = source_guard.published_calls
    assert source_final == withheld
    assert result["matched"] == 48  # the total stays: three withheld cells protect each other
    assert cells["Islands"]["status"] == "secondary"  # withheld in the proposal: stays so
    _check_exact(result, ("region",))
    _check_protected(result, ("region",))


def test_owner_floors_raise_the_cell_minimum(tmp_path: Path) -> None:
    """The source's min_cell (20) applies although the job asked for 10: South (30) stays,
    Islands (15) goes, with a cell of its column."""
    out = _run(tmp_path, _spec("region"), owners={"source": OwnerRules(min_cell=20)})
    result = out["register"]
    assert result["rules"][0] == "freq:20"
    cells = {e["by"]["region"]: e for e in result["groups"]}
    assert cells["Islands"]["suppressed"] and cells["Islands"]["status"] == "primary"
    assert sum(e["suppressed"] for e in cells.values()) == 2
    _check_exact(result, ("region",))
    _check_protected(result, ("region",))


def test_run_local_coverage_passes_owner_rules_to_both_roles(tmp_path: Path) -> None:
    """Real processes: the source's min_peer_rows refuses a register of 10."""
    people = [["T-0", "Islands", "F"], *([f"fake-{i}", "Islands", "F"] for i in range(9))]
    reg = _write(tmp_path / "reg.csv", ["pid", "region", "sex"], people)
    src = _write(tmp_path / "src.csv", ["cid"], [[c] for c in CUSTOMERS])
    with pytest.raises(ComputationError, match="min_peer_rows"):
        run_local_coverage(reg, src, _spec(), owners={"source": OwnerRules(min_peer_rows=11)})
