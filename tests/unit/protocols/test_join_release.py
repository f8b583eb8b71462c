"""The release rounds of join-and-aggregate: whatever the right party withholds, the cells
both agree on are exactly the ones decrypted, their sums are exact, and no withheld cell
is ever decrypted. Properties over random groups, matches and refusals (hypothesis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.errors import ComputationError, ParameterError
from privstats.protocols import join_aggregate as ja
from privstats.transport.memory import MemoryNetwork, run_parties


def margins_plan(n_groups: int) -> ja.Planner:
    """Each group and the total (the sum of all groups); a refused cell is withheld, and
    with it the total when a group is withheld (a crude secondary suppression)."""

    def plan(counts: Sequence[int], refused: Mapping[ja.Label, str]) -> ja.ReleasePlan:
        cells = [ja.ReleaseCell((str(g),), (g,)) for g in range(n_groups)]
        cells.append(ja.ReleaseCell(("Total",), tuple(range(n_groups))))
        out = [c for c in cells if c.key not in refused]
        if len(out) < len(cells):
            out = [c for c in out if c.key != ("Total",)]
        kept = {c.key for c in out}
        return ja.ReleasePlan(tuple(out), tuple(c.key for c in cells if c.key not in kept))

    return plan


@settings(max_examples=12, deadline=None)
@given(
    groups=st.lists(st.integers(0, 3), min_size=1, max_size=30),
    matched=st.sets(st.integers(0, 29)),
    refuse=st.sets(st.sampled_from(["0", "1", "2", "3", "Total"])),
)
def test_only_agreed_cells_are_decrypted_and_they_are_exact(
    groups: list[int], matched: set[int], refuse: set[str]
) -> None:
    left_ids = [f"p{i}" for i in range(len(groups))]
    right_ids = [f"p{i}" for i in sorted(matched)]
    values = [[7 * i + 1 for i in sorted(matched)]]
    rounds: list[tuple[ja.Label, ...]] = []

    def approve(candidate: ja.Candidate) -> dict[ja.Label, str]:
        rounds.append(candidate.keys)
        return {key: "no" for key in candidate.keys if key[0] in refuse}

    network = MemoryNetwork(["a", "b"], timeout=60)
    out = run_parties(
        network,
        {
            "a": lambda ch: ja.left(ch, "b", left_ids, groups, 4, release=margins_plan(4)),
            "b": lambda ch: ja.right(ch, "a", right_ids, values, approve=approve),
        },
    )
    result, bank = out["a"], out["b"]

    released = set(result.sums)
    assert all(key[0] not in refuse for key in released)
    assert bank.decrypted == len(released) and bank.agreed is not None
    assert set(bank.agreed.keys) == released
    assert len(rounds) <= 3  # one refusal round, then (maybe) the total, then agreement
    for key, (total,) in result.sums.items():
        members = range(4) if key == ("Total",) else [int(key[0])]
        want = sum(7 * i + 1 for i in matched if i < len(groups) and groups[i] in members)
        assert total == want
        assert bank.agreed.counts[bank.agreed.keys.index(key)] == sum(
            1 for i in matched if i < len(groups) and groups[i] in members
        )


def test_a_plan_that_releases_a_refused_cell_is_an_error() -> None:
    def stubborn(counts: Sequence[int], refused: Mapping[ja.Label, str]) -> ja.ReleasePlan:
        return ja.ReleasePlan((ja.ReleaseCell(("0",), (0,)),))

    network = MemoryNetwork(["a", "b"], timeout=10)
    with pytest.raises(ComputationError) as raised:
        run_parties(
            network,
            {
                "a": lambda ch: ja.left(ch, "b", ["x"], [0], 1, release=stubborn),
                "b": lambda ch: ja.right(ch, "a", ["x"], [[5]], min_cell=2),
            },
        )
    assert isinstance(raised.value.__cause__, ParameterError)
    assert "withholds" in str(raised.value.__cause__)
