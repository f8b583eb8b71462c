"""Protecting a release of group counts within its rows, columns and margins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.disclosure.release_table import count_table, protect_counts
from privstats.disclosure.tables import TOTAL, attacker_intervals

REGION_SEX = {
    ("Islands", "F"): 1,
    ("Islands", "M"): 30,
    ("North", "F"): 40,
    ("North", "M"): 35,
    ("South", "F"): 22,
    ("South", "M"): 25,
}


def test_the_table_of_counts_has_every_margin_and_the_total() -> None:
    table = count_table(("region", "sex"), REGION_SEX, None)
    assert table.cell("Islands", TOTAL).count == 31
    assert table.cell(TOTAL, "F").count == 63
    assert table.cell(TOTAL, TOTAL).count == sum(REGION_SEX.values())
    assert np.allclose(table.equations @ table.values, 0)


def test_a_lone_person_is_protected_within_her_own_row_not_by_the_smallest_cell() -> None:
    """The old rule withheld Islands/F and the smallest other cell (South/F): Islands/M
    stayed published, so Islands (from a job --by region) minus Islands/M was her cell."""
    protection = protect_counts(("region", "sex"), REGION_SEX, min_cell=10)
    assert ("Islands", "F") in protection.withheld
    assert ("Islands", "M") in protection.withheld  # her row's other cell
    table = protection.protected.table
    intervals = attacker_intervals(table, protection.protected.suppressed)
    her = intervals[table.index[("Islands", "F")]]
    assert her.low <= 0 and her.high >= 10  # anywhere from 0 to min_cell, margins published
    assert protection.audit()


def test_a_table_without_groups_is_one_cell_under_the_same_rule() -> None:
    withheld = protect_counts((), {(): 3}, min_cell=10).withheld
    assert list(withheld) == [()] and "3 record(s), fewer than 10" in withheld[()]
    assert protect_counts((), {(): 30}, min_cell=10).withheld == {}


def test_groups_named_by_the_owner_are_withheld_and_protected() -> None:
    counts = {("a",): 50, ("b",): 60, ("c",): 70}
    protection = protect_counts(("r",), counts, min_cell=10, extra={("b",): "guard: job 3"})
    assert protection.withheld[("b",)] == "owner: guard: job 3"
    assert len([k for k in protection.withheld if TOTAL not in k]) == 2
    assert protection.audit()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=6, max_size=6),
    st.integers(2, 12),
)
def test_every_withheld_group_keeps_its_protection(sizes: list[int], min_cell: int) -> None:
    labels = [(r, s) for r in ("a", "b", "c") for s in ("x", "y")]
    counts = dict(zip(labels, sizes, strict=True))
    protection = protect_counts(("r", "s"), counts, min_cell=min_cell)
    assert protection.audit()
    for label, size in counts.items():
        if 0 < size < min_cell:
            assert label in protection.withheld
