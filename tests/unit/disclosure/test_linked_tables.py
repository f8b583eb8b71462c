"""Linked tables: two tables of the same records that share a dimension are protected as
one, so a margin they share has one status and no table gives away what the other hides.

The attack is shown by hand: region × activity protected alone withholds the region margin
that region × size, protected alone, publishes; together they pin the sensitive cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from privstats.disclosure.tables import (
    TOTAL,
    ProtectedTable,
    primary_suppression,
    protect,
    tabulate,
    tabulate_linked,
)
from privstats.errors import ParameterError

MEMBERS = [["region", "activity"], ["region", "size"]]


def firms() -> list[dict[str, Any]]:
    """N × C is one firm (turnover 50); every other region × activity cell has 5 firms;
    each region × size cell has 3 or more firms."""
    records: list[dict[str, Any]] = []
    for region in ("N", "S", "E"):
        for activity in ("C", "G"):
            n = 1 if (region, activity) == ("N", "C") else 5
            for i in range(n):
                size = "small" if i % 2 == 0 else "large"
                if (region, activity) == ("N", "C"):
                    size = "large"
                amount = 50.0 if n == 1 else 10.0 + i
                records.append(
                    {"region": region, "activity": activity, "size": size, "turnover": amount}
                )
    return records


def test_linked_tables_share_their_common_cells_once() -> None:
    records = firms()
    linked = tabulate_linked(records, MEMBERS, value="turnover")
    assert [d.name for d in linked.dimensions] == ["region", "activity", "size"]
    assert linked.members == (("region", "activity"), ("region", "size"))
    # 4 × 3 cells + 4 × 3 cells − the 4 region margins they share
    assert len(linked.cells) == 12 + 12 - 4
    assert np.allclose(linked.equations @ linked.values, 0.0)
    for member in MEMBERS:
        alone = tabulate(records, member, value="turnover")
        for cell in alone.cells:
            labels = dict(zip(member, cell.key, strict=True))
            key = tuple(labels.get(d.name, TOTAL) for d in linked.dimensions)
            twin = linked.cell(*key)
            assert (twin.count, twin.value, twin.top) == (cell.count, cell.value, cell.top)
    # no equation twice: the region margins' sum is in both members
    rows = {tuple(row.indices) + tuple(row.data) for row in linked.equations}
    assert len(rows) == linked.equations.shape[0]


def test_protected_apart_the_tables_leak_and_protected_together_they_do_not() -> None:
    records = firms()
    # Region × activity alone: N | C (one firm) hidden with a valid pattern through the
    # margins — N | C, N | Total, Total | C, Total | Total all move together.
    alone = primary_suppression(tabulate(records, MEMBERS[0], value="turnover"), ["freq:3"])
    hidden = {("N", "C"), ("N", TOTAL), (TOTAL, "C"), (TOTAL, TOTAL)}
    status = tuple(
        s if s == "primary" else "secondary" if c.key in hidden else s
        for c, s in zip(alone.table.cells, alone.status, strict=True)
    )
    first = ProtectedTable(alone.table, status, alone.verdicts)
    assert first.audit()["protected"] is True
    # Region × size alone has no sensitive cell and publishes N | Total and Total | Total.
    second = primary_suppression(tabulate(records, MEMBERS[1], value="turnover"), ["freq:3"])
    assert not second.suppressed.any()

    # Both published: what the attacker holds is the linked table with only the cells
    # both withhold withheld, and there N | C = N | Total − N | G exactly.
    linked = tabulate_linked(records, MEMBERS, value="turnover")
    both = tuple(
        "primary"
        if c.key == ("N", "C", TOTAL)
        else "secondary"
        if c.key == (TOTAL, "C", TOTAL)  # N | Total and Total | Total: table 2 shows them
        else "empty"
        if c.count == 0
        else "safe"
        for c in linked.cells
    )
    verdicts = tuple(
        first.verdicts[first.table.index[c.key[:2]]] if c.key[2] == TOTAL else ()
        for c in linked.cells
    )
    leak = ProtectedTable(linked, both, verdicts).audit()
    entry = leak["intervals"]["N | C | Total"]
    assert (entry["low"], entry["high"]) == pytest.approx((50.0, 50.0))
    assert leak["protected"] is False

    joint = protect(linked, ["freq:3"])
    audit = joint.audit()
    assert audit["protected"] is True
    assert audit["intervals"]["N | C | Total"]["width"] > 0


def test_joint_protection_on_three_members_with_a_hierarchy() -> None:
    nace = {"C1": "C", "C2": "C", "G1": "G"}
    records = []
    for i, (region, activity, size) in enumerate(
        (r, a, s) for r in ("N", "S") for a in nace for s in ("small", "large")
    ):
        records += [
            {"region": region, "activity": activity, "size": size, "v": float(1 + i % 4)}
        ] * (1 + i % 5)
    records.append({"region": "N", "activity": "G1", "size": "small", "v": 1000.0})  # dominant
    linked = tabulate_linked(
        records,
        [["region", "activity"], ["region", "size"], ["activity", "size"]],
        value="v",
        hierarchies={"activity": nace},
    )
    assert np.allclose(linked.equations @ linked.values, 0.0)
    protected = protect(linked, ["freq:3", "p:10"])
    assert protected.status.count("primary") > 0
    assert protected.audit()["protected"] is True


def test_linked_input_is_checked() -> None:
    with pytest.raises(ParameterError, match="distinct"):
        tabulate_linked([{"a": "x"}], [["a", "a"]])
    with pytest.raises(ParameterError, match="one or more tables"):
        tabulate_linked([{"a": "x"}], [])
    with pytest.raises(ParameterError, match="record 0"):
        tabulate_linked([{"a": "x"}], [["a"], ["b"]])
