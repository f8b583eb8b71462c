"""The primary rules on hand-checked cells: (n, k) dominance and p % on published data,
the zero rule and the full-cell (group disclosure) rule on small tables.

The magnitude cells are those of the ``magnitude1`` data printed in the GaussSuppression
vignette "Magnitude table suppression" (Statistics Norway, CRAN): 20 contributions by
sector × country. The rules are the definitions of Hundepool et al., *Statistical
Disclosure Control* (Wiley 2012) §4.2; each verdict and level below is worked by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    DominanceRule,
    FullCellRule,
    PPercentRule,
    ZeroRule,
    parse_rule,
    primary_suppression,
    protect,
    tabulate,
)
from privstats.errors import ParameterError

MAGNITUDE1 = [
    ("Agriculture", "Portugal", 75.9),
    ("Agriculture", "Portugal", 24.5),
    ("Agriculture", "Spain", 96.6),
    ("Agriculture", "Spain", 43.2),
    ("Entertainment", "Iceland", 16.8),
    ("Entertainment", "Portugal", 7.1),
    ("Entertainment", "Portugal", 2.3),
    ("Entertainment", "Spain", 77.4),
    ("Entertainment", "Spain", 11.5),
    ("Entertainment", "Spain", 16.4),
    ("Governmental", "Portugal", 21.6),
    ("Governmental", "Portugal", 2.0),
    ("Governmental", "Spain", 6.5),
    ("Governmental", "Spain", 2.7),
    ("Industry", "Iceland", 9.6),
    ("Industry", "Iceland", 8.8),
    ("Industry", "Iceland", 1.9),
    ("Industry", "Portugal", 25.7),
    ("Industry", "Portugal", 3.4),
    ("Industry", "Spain", 8.4),
]


def magnitude1() -> list[dict[str, Any]]:
    return [{"sector": s, "geo": g, "value": v} for s, g, v in MAGNITUDE1]


def test_dominance_1_80_on_magnitude1() -> None:
    table = tabulate(magnitude1(), ["sector", "geo"], value="value")
    rule = DominanceRule(1, 80)
    # largest / total, by hand: Gov/Portugal 21.6/23.6 = 91.5 %, Ind/Portugal 25.7/29.1 =
    # 88.3 %, single contributors 100 %; Agr/Portugal 75.9/100.4 = 75.6 % and Ent/Spain
    # 77.4/105.3 = 73.5 % stay under 80 %.
    sensitive = {
        (s, g)
        for s, g in {(s, g) for s, g, _ in MAGNITUDE1}
        if rule.check(table.cell(s, g)) is not None
    }
    assert sensitive == {
        ("Entertainment", "Iceland"),
        ("Governmental", "Portugal"),
        ("Industry", "Portugal"),
        ("Industry", "Spain"),
    }
    # Level 100/80 · x1 − X: Gov/Portugal 27.0 − 23.6 = 3.4; Ind/Spain alone 10.5 − 8.4 = 2.1.
    gov = rule.check(table.cell("Governmental", "Portugal"))
    assert gov is not None and gov.upper == pytest.approx(3.4)
    alone = rule.check(table.cell("Industry", "Spain"))
    assert alone is not None and alone.upper == pytest.approx(2.1)
    # Margins: Iceland = 16.8 + 9.6 + 8.8 + 1.9 = 37.1, largest 45 % → safe.
    assert rule.check(table.cell(TOTAL, "Iceland")) is None


def test_p_percent_10_on_magnitude1() -> None:
    table = tabulate(magnitude1(), ["sector", "geo"], value="value")
    rule = PPercentRule(10)
    # Two contributors: the second knows the first exactly (remainder 0 < 10 % of x1).
    agr = rule.check(table.cell("Agriculture", "Portugal"))
    assert agr is not None and agr.upper == pytest.approx(7.59)  # 10 % of 75.9 − 0
    # Ent/Spain: 105.3 − 77.4 − 16.4 = 11.5 ≥ 7.74 → safe.
    assert rule.check(table.cell("Entertainment", "Spain")) is None
    # Ind/Iceland: 20.3 − 9.6 − 8.8 = 1.9 ≥ 0.96 → safe.
    assert rule.check(table.cell("Industry", "Iceland")) is None
    # Spain's margin: 257.3 − 96.6 − 77.4 = 83.3 ≥ 9.66 → safe.
    assert rule.check(table.cell(TOTAL, "Spain")) is None
    # Portugal's margin: 162.6 − 75.9 − 25.7 = 61.0 → safe; Agriculture: 239.9 − 96.6 −
    # 75.9 = 67.4 → safe.
    assert rule.check(table.cell(TOTAL, "Portugal")) is None
    assert rule.check(table.cell("Agriculture", TOTAL)) is None


def test_p_percent_is_stricter_than_its_dominance_counterpart_on_two_contributors() -> None:
    # 60 and 40: (1, 80) finds 60 % dominance safe; p 10 % does not (the rest is 0).
    cell = Cell(("x",), 2, 100.0, (60.0, 40.0))
    assert DominanceRule(1, 80).check(cell) is None
    verdict = PPercentRule(10).check(cell)
    assert verdict is not None and verdict.upper == pytest.approx(6.0)


def test_zero_rule_marks_empty_cells_only() -> None:
    empty = Cell(("x",), 0, 0.0)
    verdict = ZeroRule().check(empty)
    assert verdict is not None and (verdict.upper, verdict.lower) == (1.0, 0.0)
    assert verdict.rule == "zero"
    assert ZeroRule().check(Cell(("x",), 1, 5.0, (5.0,))) is None
    wide = ZeroRule(25.0).check(empty)
    assert wide is not None and wide.upper == 25.0 and wide.rule == "zero:25"


@pytest.mark.parametrize(
    ("spec", "rule"),
    [("zero", ZeroRule()), ("zero:5", ZeroRule(5.0)), ("full", FullCellRule())],
)
def test_zero_and_full_rules_parse(spec: str, rule: object) -> None:
    assert parse_rule(spec) == rule
    assert parse_rule(spec).name == spec


@pytest.mark.parametrize("spec", ["zero:0", "full:1,2", "zero:", "freq"])
def test_bad_zero_and_full_rules_are_named(spec: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_rule(spec)
    assert caught.value.parameter == "rules"


def full_records() -> list[dict[str, Any]]:
    """Region A: all 4 contributors in M. B and C spread over C, G, M."""
    return (
        [{"r": "A", "a": "M"}] * 4
        + [{"r": "B", "a": x} for x in "MCCGG"]
        + [{"r": "C", "a": x} for x in "MMCCGG"]
    )


def test_a_full_cell_marks_one_zero_of_its_row() -> None:
    table = tabulate(full_records(), ["r", "a"])
    marked = {c.key for c in table.cells if c.reveals}
    # A | M holds all of A | Total; C and G are both size 4 overall: the tie goes to "C".
    assert marked == {("A", "C")}
    primary = primary_suppression(table, ["full"])
    verdicts = primary.verdicts[table.index[("A", "C")]]
    assert [v.rule for v in verdicts] == ["full"]
    assert "A | M holds all 4 of A | Total" in verdicts[0].reason
    # Published as is, the row's zeros show the group: A | C's interval is [0, 0].
    exposed = primary.audit()["intervals"]["A | C"]
    assert (exposed["low"], exposed["high"]) == (0.0, 0.0) and not exposed["protected"]

    protected = protect(table, ["full"], cost="cells")
    audit = protected.audit()
    assert audit["protected"] is True
    entry = audit["intervals"]["A | C"]
    assert entry["high"] >= 1.0  # one of A's contributors might be in C
    # And then "all of A is in M" is not certain: A | M < A | Total is possible.
    assert protected.status[table.index[("A", "M")]] != "primary"


def test_the_full_cell_rule_ignores_the_grand_total_and_structural_zeros() -> None:
    # Everyone is in M: the table's population, not a group of it.
    one = tabulate([{"r": x, "a": "M"} for x in "ABBCCC"], ["r", "a"])
    assert not any(c.reveals for c in one.cells)
    # A hierarchy node with a single child is equal to its child by construction.
    tree = tabulate([{"a": "10"}, {"a": "45"}, {"a": "46"}], ["a"], hierarchies={"a": {"10": "C"}})
    assert not any(c.reveals for c in tree.cells)


def test_the_full_cell_rule_in_a_hierarchy_descends_to_a_leaf() -> None:
    # Region A's 3 contributors are all in C (subtotal of 10, 11); G = 45 + 46 is empty
    # in A, so the zero to protect is A | G and one leaf below it (the larger, 46).
    nace = {"10": "C", "11": "C", "45": "G", "46": "G"}
    records = [{"r": "A", "a": a} for a in ("10", "10", "11")]
    records += [{"r": "B", "a": a} for a in ("10", "11", "45", "46", "46", "46")]
    table = tabulate(records, ["r", "a"], hierarchies={"a": nace})
    marked = {c.key: c.reveals for c in table.cells if c.reveals}
    assert "A | C holds all 3 of A | Total" in marked[("A", "G")]
    assert "A | C holds all 3 of A | Total" in marked[("A", "46")]
    # Along region, every G firm is in B (so are 45's and 46's): A's zeros say so too.
    assert "B | 45 holds all 1 of Total | 45" in marked[("A", "45")]
    assert set(marked) == {("A", "G"), ("A", "46"), ("A", "45")}
    protected = protect(table, ["full"], cost="cells")
    audit = protected.audit()
    assert audit["protected"] is True
    high = audit["intervals"]["A | G"]["high"]
    assert high is None or high >= 1.0  # None: no upper bound at all


def test_full_cells_in_three_dimensions_are_protected() -> None:
    records = []
    for region in ("N", "S"):
        for activity in ("C", "G"):
            for size in ("small", "large"):
                records += [{"r": region, "a": activity, "s": size}] * 3
    records += [{"r": "E", "a": "C", "s": "small"}] * 4  # E: all C, all small
    table = tabulate(records, ["r", "a", "s"])
    assert any(c.reveals for c in table.cells)
    protected = protect(table, ["full"], cost="cells")
    assert protected.audit()["protected"] is True


@st.composite
def sparse_tables(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    """A few contributors over 2 or 3 small dimensions: full cells and zeros abound."""
    names = ["r", "a", "s"][: draw(st.integers(2, 3))]
    labels = {"r": "NSE", "a": "CGM", "s": "xy"}
    records = draw(
        st.lists(
            st.fixed_dictionaries({n: st.sampled_from(labels[n]) for n in names}),
            min_size=2,
            max_size=14,
        )
    )
    return records, names


@settings(max_examples=10, deadline=None)
@given(case=sparse_tables())
def test_every_zero_the_full_cell_rule_marks_can_be_protected(
    case: tuple[list[dict[str, Any]], list[str]],
) -> None:
    records, names = case
    table = tabulate(records, names)
    protected = protect(table, ["full"], cost="cells")
    audit = protected.audit()
    assert audit["protected"] is True
    for index, cell in enumerate(table.cells):
        if cell.reveals:
            assert cell.count == 0 and protected.status[index] == "primary"
            entry = audit["intervals"][" | ".join(cell.key)]
            assert entry["high"] is None or entry["high"] >= 1.0 - 1e-9
