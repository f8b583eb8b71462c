"""The aggregate's table rules as protocol steps, over memory channels in one process.

What it proves: the sign test opens the right bit per test, and the key holder sees only
what ``privstats.protocols.aggregate_sign`` states (blinded values within the stated
bounds, in a shuffled order); the per-party dominance and p % integers, summed securely,
give exactly the plaintext rule on the pooled contributions (hypothesis, against the
exact rule and the table package's rule objects); the count table holds every margin;
the frequency rule protects a small cell within its row and column, as the attacker's LP
confirms; owners' withheld cells are exchanged and united.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privstats.disclosure.owner import OwnerRules
from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    DominanceRule,
    PPercentRule,
    attacker_intervals,
    parse_rule,
)
from privstats.errors import ParameterError
from privstats.protocols import aggregate_sign
from privstats.protocols.aggregate_rules import (
    agree_rules,
    count_table,
    exchange_withheld,
    protect_counts,
    withheld_groups,
)
from privstats.protocols.aggregate_sign import any_positive
from privstats.stats.aggregate.dominance import (
    allocations,
    merge_contributions,
    party_terms,
    rule_fails,
)
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

KEY = 1024  # small keys keep the tests fast; the protocol's default is 2048


def _run(parties: Sequence[str], step: Any) -> dict[str, Any]:
    network = MemoryNetwork(list(parties), timeout=60)
    return run_parties(network, {p: (lambda ch, p=p: step(ch, p)) for p in parties})


# --------------------------------------------------------------------------- sign test


def test_sign_test_opens_any_positive_allocation_per_test() -> None:
    parties = ["a", "b", "c"]
    # per test, each party's integer per allocation; sums: [-1, 0], [5, -9], [0], [-3, 2, -1]
    own = {
        "a": [[-4, 3], [2, -3], [10], [-1, 1, 0]],
        "b": [[1, -3], [2, -3], [-10], [-1, 0, 0]],
        "c": [[2, 0], [1, -3], [0], [-1, 1, -1]],
    }
    results = _run(parties, lambda ch, p: any_positive(ch, parties, own[p], key_bits=KEY))
    assert results == {p: [False, True, False, True] for p in parties}


def test_the_key_holder_sees_only_blinded_values_within_the_stated_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    original = aggregate_sign._signed

    def record(private: Any, n: int, ciphertext: int) -> int:
        value = original(private, n, ciphertext)
        seen.append(value)
        return value

    monkeypatch.setattr(aggregate_sign, "_signed", record)
    sums = [7, -7, 0, 1, -1, 10**30, -(10**30)]
    own = {"a": [[s - 3] for s in sums], "b": [[3] for _ in sums]}
    _run(["a", "b"], lambda ch, p: any_positive(ch, ["a", "b"], own[p], key_bits=KEY))

    assert len(seen) == len(sums)  # one value per allocation, to the key holder only
    for total, value in zip(sums, seen, strict=True):
        assert (value > 0) == (total > 0)
        assert abs(total) <= abs(value)
        if total:
            assert abs(total) > abs(value) / 2**65
        else:
            assert -(2**64) < value <= 0
    blinded_twice = [v for v in seen if v not in (-7, 7)]
    assert len(blinded_twice) >= 5  # the sums themselves are not what H sees


def test_the_key_holder_learns_how_many_allocations_fail_not_which(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders: list[list[bool]] = []
    original = aggregate_sign._open

    def record(private: Any, n: int, values: Sequence[int], shape: Sequence[int]) -> list[bool]:
        orders.append([aggregate_sign._signed(private, n, c) > 0 for c in values])
        return original(private, n, values, shape)

    monkeypatch.setattr(aggregate_sign, "_open", record)
    width = 12
    own = {"a": [[1] + [-5] * (width - 1)], "b": [[0] * width]}
    for _ in range(6):
        _run(["a", "b"], lambda ch, p: any_positive(ch, ["a", "b"], own[p], key_bits=KEY))
    assert all(sum(order) == 1 for order in orders)
    assert len({order.index(True) for order in orders}) > 1  # shuffled: position varies


def test_an_integer_too_large_for_the_key_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ParameterError, match="frac_bits"):
        any_positive(None, ["a", "b"], [[1 << 1900]])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- dominance

CONTRIBUTIONS = st.lists(
    st.lists(st.integers(0, 10**6), max_size=6), min_size=2, max_size=3
)  # per party, the cell's contributions (fixed-point codes)
RULES = st.sampled_from(["nk:1,80", "nk:2,85", "nk:3,90", "p:10", "p:25", "nk:1,50.5"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=CONTRIBUTIONS, text=RULES)
def test_split_dominance_equals_the_plaintext_rule(parts: list[list[int]], text: str) -> None:
    rule = parse_rule(text)
    assert isinstance(rule, DominanceRule | PPercentRule)
    parties = [f"p{i}" for i in range(len(parts))]
    top = max(2, getattr(rule, "n", 0))

    def step(channel: Any, party: str) -> list[bool]:
        i = parties.index(party)
        largest, total = merge_contributions([(tuple(parts[i]), sum(parts[i]))], top)
        terms = party_terms(rule, len(parties), i, largest, total)
        return any_positive(channel, parties, [terms], key_bits=KEY)

    results = _run(parties, step)
    pooled = [c for part in parts for c in part]
    assert all(bits == [rule_fails(rule, pooled)] for bits in results.values())
    cell = Cell(("x",), len(pooled), float(sum(pooled)), tuple(sorted(pooled, reverse=True)[:3]))
    assert (rule.check(cell) is not None) == rule_fails(rule, pooled)  # same as the tables'


def test_allocations_cover_every_split_of_the_largest_contributions() -> None:
    assert allocations(DominanceRule(2, 80), 2) == [(0, 2), (1, 1), (2, 0)]
    assert len(allocations(DominanceRule(3, 80), 3)) == 10
    assert allocations(PPercentRule(10), 2) == [(0, 0), (0, 1), (1, 0), (1, 1)]


# --------------------------------------------------------------------------- the table


COUNTS = {
    ("Islands", "F"): 15,
    ("Islands", "M"): 1,
    ("North", "F"): 30,
    ("North", "M"): 30,
    ("South", "F"): 25,
    ("South", "M"): 12,
}


def test_the_count_table_holds_every_margin_and_the_total() -> None:
    table = count_table(("region", "sex"), COUNTS)
    assert len(table.cells) == 4 * 3
    assert table.cell("Islands", TOTAL).count == 16
    assert table.cell(TOTAL, "M").count == 43
    assert table.cell(TOTAL, TOTAL).count == sum(COUNTS.values())
    single = count_table((), {(): 7})
    assert [c.count for c in single.cells] == [7]


def test_a_group_labelled_total_is_refused_naming_the_column() -> None:
    with pytest.raises(ParameterError, match="group column 'sex' has the value 'Total'"):
        count_table(("region", "sex"), {("North", "Total"): 12})


def test_a_small_cell_is_protected_within_its_own_row_and_column() -> None:
    table = count_table(("region", "sex"), COUNTS)
    protected = protect_counts(table, 10, {}, "value")
    withheld = withheld_groups(protected)

    assert ("Islands", "M") in withheld and "freq:10" in withheld[("Islands", "M")]
    # the old rule's complement was South/M, the smallest cell anywhere; Islands/F then
    # gave her count (and sum) as Islands − Islands/F. Now her row holds a second cell:
    assert ("Islands", "F") in withheld
    audit = protected.audit()
    assert audit["protected"] is True
    islands_m = audit["intervals"]["Islands | M"]
    assert islands_m["low"] == 0 and islands_m["high"] >= 10  # 0 … at least min_cell


def test_one_cell_without_groups_below_the_minimum_is_withheld() -> None:
    protected = protect_counts(count_table((), {(): 7}), 10, {}, "cells")
    assert withheld_groups(protected) == {(): "freq:10: 7 record(s), fewer than 10"}
    assert withheld_groups(protect_counts(count_table((), {(): 12}), 10, {}, "cells")) == {}


# --------------------------------------------------------------------------- owners


def test_owner_floors_and_rules_are_agreed_as_the_strictest() -> None:
    owners = {"a": OwnerRules(min_cell=12, rules=("p:10",)), "b": OwnerRules(rules=("nk:1,80",))}
    results = _run(
        ["a", "b"], lambda ch, p: agree_rules(ch, ["a", "b"], 10, ("freq:5",), owners[p])
    )
    assert {r.min_cell for r in results.values()} == {12}
    assert {r.rules for r in results.values()} == {("nk:1,80", "p:10")}
    assert results["a"].names == ["freq:12", "nk:1,80", "p:10"]


def test_each_partys_withheld_cells_reach_every_party() -> None:
    table = count_table(("region", "sex"), COUNTS)
    mine = {"a": {("North", "F"): "history"}, "b": {("South", "F"): "few records"}}
    results = _run(["a", "b"], lambda ch, p: exchange_withheld(ch, ["a", "b"], table, mine[p]))
    union = {("North", "F"): "history", ("South", "F"): "few records"}
    assert results == {"a": union, "b": union}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(0, 30), min_size=6, max_size=6),
    cost=st.sampled_from(["cells", "value"]),
)
def test_every_small_cell_of_a_two_way_table_ranges_over_zero_to_the_minimum(
    counts: list[int], cost: str
) -> None:
    """Any 2 × 3 table: the attacker's LP, knowing every released cell and margin, leaves
    each cell with 1 … 9 records (margins included) free from 0 up to at least 10."""
    labels = [(r, s) for r in ("P", "Q") for s in ("x", "y", "z")]
    table = count_table(("r", "s"), dict(zip(labels, counts, strict=True)))
    protected = protect_counts(table, 10, {}, cost)  # type: ignore[arg-type]

    intervals = attacker_intervals(table, protected.suppressed)
    for index, cell in enumerate(table.cells):
        if 0 < cell.count < 10:
            assert protected.status[index] == "primary"
            assert intervals[index].low <= 1e-6 and intervals[index].high >= 10 - 1e-6
        elif protected.status[index] == "safe":
            assert cell.count >= 10


def test_each_party_of_the_sign_test_receives_what_its_threat_model_lists() -> None:
    """The key holder: ciphertexts from the blinder only; the blinder: the key and every
    other party's ciphertexts, then the bits; any other party: the key and the bits."""
    parties = ["h", "b", "o"]
    network = MemoryNetwork(parties, timeout=60, record=True)
    own = [[1, -2], [3]]
    run_parties(
        network, {p: (lambda ch: any_positive(ch, parties, own, key_bits=KEY)) for p in parties}
    )

    def seen(party: str) -> Counter[tuple[str, str]]:
        frames = network.channel(party).received or []
        return Counter((peer, type(decode(frame)).__name__) for peer, frame in frames)

    assert seen("h") == {("b", "Ciphertexts"): 1}
    assert seen("b") == {
        ("h", "PublicKey"): 1,
        ("h", "Ciphertexts"): 1,
        ("o", "Ciphertexts"): 1,
        ("h", "Bits"): 1,
    }
    assert seen("o") == {("h", "PublicKey"): 1, ("h", "Bits"): 1}
