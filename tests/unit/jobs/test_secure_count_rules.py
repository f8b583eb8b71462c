"""The data owners' release rules in the example kind: floors, a vote, the guard."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from privstats.disclosure.owner import CandidateRelease, Label, OwnerRules
from privstats.jobs.kind import RoleContext
from privstats.jobs.kinds import KINDS
from privstats.jobs.secure_count import SecureCountSpec
from privstats.transport.memory import MemoryNetwork, run_parties


class RecordingGuard:
    """A release history that withholds whatever it is told to, and records releases."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.seen: list[CandidateRelease] = []
        self.released: list[tuple[CandidateRelease, list[Label]]] = []

    def check(self, candidate: CandidateRelease) -> Mapping[Label, str]:
        self.seen.append(candidate)
        return {(): "the total differs by 1 from job 7's"} if self.refuse else {}

    def published(self, candidate: CandidateRelease, withheld: Collection[Label]) -> None:
        self.released.append((candidate, list(withheld)))


def _run(tmp_path: Path, rows: list[int], owners: dict[str, OwnerRules]) -> dict[str, Any]:
    paths = {}
    for i, n in enumerate(rows, start=1):
        path = tmp_path / f"p{i}.csv"
        path.write_text("x\n" + "".join(f"{j}\n" for j in range(n)), encoding="utf-8")
        paths[f"party{i}"] = str(path)
    kind = KINDS["secure_count"]
    spec = SecureCountSpec(min_cell=10)
    parties = {role: role for role in paths}
    results = run_parties(
        MemoryNetwork(list(parties), timeout=10),
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
    assert all(r == results["party1"] for r in results.values())  # one release for all
    return dict(results["party1"])


def test_the_plain_total_is_released(tmp_path: Path) -> None:
    assert _run(tmp_path, [12, 30], {})["count"] == 42


def test_an_owner_with_a_larger_minimum_withholds_the_total(tmp_path: Path) -> None:
    result = _run(tmp_path, [12, 30], {"party2": OwnerRules(min_cell=50)})
    assert result["suppressed"] and result["count"] is None
    assert result["reason"] == "withheld by the release rules of one or more parties"


def test_a_peer_padding_one_record_of_mine_with_its_own_is_withheld(tmp_path: Path) -> None:
    """party2 holds 1 record, party1 (the curious one) 29: the total passes min_cell,
    but party2's floor withholds it, so party1 cannot subtract its own 29."""
    result = _run(tmp_path, [29, 1], {"party2": OwnerRules(min_matched=5)})
    assert result["suppressed"]
    assert _run(tmp_path, [29, 6], {"party2": OwnerRules(min_matched=5)})["count"] == 35


def test_the_guard_sees_the_candidate_and_records_the_release(tmp_path: Path) -> None:
    quiet, refusing = RecordingGuard(False), RecordingGuard(True)
    assert _run(tmp_path, [12, 30], {"party1": OwnerRules(guard=quiet)})["count"] == 42
    assert quiet.seen[0].counts == {(): 42}
    assert quiet.released == [(quiet.seen[0], [])]
    result = _run(tmp_path, [12, 31], {"party2": OwnerRules(guard=refusing)})
    assert result["suppressed"]
    assert refusing.released[0][1] == [()]
