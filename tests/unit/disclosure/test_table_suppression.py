"""Tests for secondary suppression at scale: neighbourhood patterns, HYPERCUBE, ``keep``.

Every MILP result is checked by the exact LP audit (``audit()["protected"]``), and the fast
check :meth:`ProtectedTable.certify` is checked to agree with that audit, on random
hierarchical 3-D tables (hypothesis) and on a generated table of a few hundred cells. The
hypercube heuristic is audited the same way; on a 2-D table without hierarchies its
rectangle is worked by hand.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.disclosure.tables import (
    TOTAL,
    ProtectedTable,
    primary_suppression,
    protect,
    secondary_suppression,
    tabulate,
)
from privstats.disclosure.tables._patterns import Layout
from privstats.errors import ParameterError

REGIONS = ("North", "South", "East", "Islands")
ACTIVITIES = ("C", "G", "M")


def regional_table() -> Any:
    """4 regions × 3 activities, 5 firms of 20…24 per cell; Islands/M one firm of 50."""
    records = [
        {"region": r, "activity": a, "turnover": float(x)}
        for r in REGIONS
        for a in ACTIVITIES
        for x in ((50,) if (r, a) == ("Islands", "M") else range(20, 25))
    ]
    return tabulate(records, ["region", "activity"], value="turnover")


def hidden(protected: ProtectedTable) -> set[tuple[str, ...]]:
    """The labels of every withheld cell."""
    cells = protected.table.cells
    return {c.key for c, h in zip(cells, protected.suppressed, strict=True) if h}


def enterprise_records(seed: int, firms: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A small version of the benchmark's table: region 2 levels, activity 3 levels, size."""
    rng = random.Random(seed)
    region = {f"R{a}{b}": f"R{a}" for a in range(2) for b in range(2)}
    activity: dict[str, str] = {}
    for section in "AB":
        for d in (10, 11):
            activity[f"{section}{d}"] = section
            for g in (1, 2):
                activity[f"{section}{d}.{g}"] = f"{section}{d}"
    leaves = [k for k in activity if "." in k]
    records = [
        {
            "region": rng.choice(sorted(region)),
            "activity": rng.choice(leaves),
            "size": rng.choices(["S", "M", "L"], [0.7, 0.25, 0.05])[0],
            "turnover": float(rng.choice([1, 4, 10, 40, 200, 1500])),
        }
        for _ in range(firms)
    ]
    return records, {"region": region, "activity": activity}


# ------------------------------------------------------------------- hypercube by hand


def test_hypercube_protects_the_lone_cell_of_a_flat_table_with_a_rectangle() -> None:
    primary = primary_suppression(regional_table(), ["freq:3", "p:10"])
    protected = secondary_suppression(primary, method="hypercube")
    cells = hidden(protected)
    # On a flat 2-D table a hypercube is a rectangle; the cheapest by value uses three
    # inner cells of 110 (any margin holds 380 or more), so exactly four cells.
    rows, cols = {k[0] for k in cells}, {k[1] for k in cells}
    assert len(cells) == 4 and cells == {(r, c) for r in rows for c in cols}
    assert ("Islands", "M") in cells and TOTAL not in rows | cols
    audit = protected.audit()
    assert audit["protected"] is True
    assert protected.certify() == {"cells_checked": 1, "protected": True, "unprotected": []}


def test_an_unprotected_table_is_named_by_certify_as_by_the_audit() -> None:
    primary = primary_suppression(regional_table(), ["freq:3"])
    verdict = primary.certify()
    assert verdict["protected"] is False and primary.audit()["protected"] is False
    assert verdict["unprotected"] == [{"region": "Islands", "activity": "M"}]


# ---------------------------------------------------------------------------- keep


def test_keep_steers_the_pattern_away_from_published_cells() -> None:
    table = regional_table()
    primary = primary_suppression(table, ["freq:3", "p:10"])
    first = secondary_suppression(primary)
    keep = np.array([c.key in hidden(first) - {("Islands", "M")} for c in table.cells])
    assert keep.sum() == 3
    again = secondary_suppression(primary, keep=keep)
    assert not (again.suppressed & keep).any()
    assert ("Islands", "M") in hidden(again)
    assert again.audit()["protected"] is True
    # another rectangle of equal cost (every inner cell but Islands/M holds 110) is found
    values = table.values
    assert hidden(again) != hidden(first)
    assert values[again.suppressed].sum() == pytest.approx(values[first.suppressed].sum())


def test_keep_that_leaves_no_pattern_names_the_cell() -> None:
    table = regional_table()
    primary = primary_suppression(table, ["freq:3", "p:10"])
    # Islands' other activities and its total published: Islands/M = total − the rest.
    keep = np.array([c.key[0] == "Islands" and c.key[1] != "M" for c in table.cells])
    with pytest.raises(ParameterError, match=r"Islands \| M") as caught:
        secondary_suppression(primary, keep=keep)
    assert caught.value.parameter == "keep"


def test_keep_refuses_a_sensitive_cell_and_a_bad_mask() -> None:
    table = regional_table()
    primary = primary_suppression(table, ["freq:3"])
    keep = np.array([c.key == ("Islands", "M") for c in table.cells])
    with pytest.raises(ParameterError, match="sensitive"):
        secondary_suppression(primary, keep=keep)
    with pytest.raises(ParameterError, match="one entry per cell"):
        secondary_suppression(primary, keep=np.zeros(3, dtype=bool))
    with pytest.raises(ParameterError, match="method"):
        secondary_suppression(primary, method="hitas")  # type: ignore[arg-type]


# ----------------------------------------------------------------- neighbourhoods


def test_the_neighbourhood_holds_the_cells_sharing_an_equation() -> None:
    records, hierarchies = enterprise_records(seed=1, firms=300)
    table = tabulate(
        records, ["region", "activity", "size"], value="turnover", hierarchies=hierarchies
    )
    layout = Layout.of(table)
    cell = table.index[("R00", "A10.1", "S")]
    near = layout.neighbourhood(cell, 1)
    assert near is not None
    keys = {table.cells[i].key for i in near}
    # R00's parent and sibling; A10.1's parent and sibling; S's total and the other sizes
    assert keys == {
        (r, a, s)
        for r in ("R00", "R01", "R0")
        for a in ("A10.1", "A10.2", "A10")
        for s in ("S", "M", "L", TOTAL)
    }
    # every equation touching the cell lies inside its neighbourhood
    rows = table.equations[:, [cell]].nonzero()[0]
    assert set(table.equations[rows].nonzero()[1]) <= set(near.tolist())
    assert layout.neighbourhood(cell, 5) is None  # the whole table


# -------------------------------------------------------- a moderate generated table


def test_a_generated_hierarchical_table_is_certified_and_hypercube_audited() -> None:
    records, hierarchies = enterprise_records(seed=5, firms=260)
    table = tabulate(
        records, ["region", "activity", "size"], value="turnover", hierarchies=hierarchies
    )
    assert len(table.cells) == 7 * 15 * 4
    primary = primary_suppression(table, ["freq:3", "p:10"])
    assert primary.status.count("primary") > 40
    ours = secondary_suppression(primary)
    assert ours.certify()["protected"] is True
    assert ours.audit()["protected"] is True
    cube = secondary_suppression(primary, method="hypercube")
    assert set(np.flatnonzero(primary.suppressed)) <= set(np.flatnonzero(cube.suppressed))
    # the fast check and the exact audit agree, whichever way the heuristic came out
    assert cube.certify()["protected"] == cube.audit()["protected"]
    empty = np.array([s == "empty" for s in primary.status])
    assert not (ours.suppressed & empty).any() and not (cube.suppressed & empty).any()


def test_worker_processes_give_the_same_suppression_as_one_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches do not depend on the workers: two forked workers withhold exactly the cells
    one process does, and the result is certified by the exact audit."""
    from privstats.disclosure.tables import _search

    monkeypatch.setattr(_search, "PARALLEL_FROM", 1)  # workers even for this small table
    records, hierarchies = enterprise_records(seed=5, firms=260)
    table = tabulate(
        records, ["region", "activity", "size"], value="turnover", hierarchies=hierarchies
    )
    primary = primary_suppression(table, ["freq:3", "p:10"])
    alone = secondary_suppression(primary, workers=1)
    shared = secondary_suppression(primary, workers=2)
    assert shared.status == alone.status
    assert shared.audit()["protected"] is True
    with pytest.raises(ParameterError, match="workers must be ≥ 1"):
        secondary_suppression(primary, workers=0)


def test_patterns_narrowed_to_their_relaxations_cells_still_protect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every MILP solved only over the cells its LP relaxation moves (as on large
    neighbourhoods): the table is still certified, and by the exact audit."""
    from privstats.disclosure.tables import _patterns

    monkeypatch.setattr(_patterns, "NARROW_FROM", 0)
    records, hierarchies = enterprise_records(seed=7, firms=260)
    table = tabulate(
        records, ["region", "activity", "size"], value="turnover", hierarchies=hierarchies
    )
    primary = primary_suppression(table, ["freq:3", "p:10"])
    narrowed = secondary_suppression(primary, workers=1)
    assert narrowed.status.count("secondary") > 0
    assert narrowed.certify()["protected"] is True
    assert narrowed.audit()["protected"] is True


# ---------------------------------------------------------------------------- property


@st.composite
def hierarchical_tables(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records of a 3-D table: a (2 groups of 2 leaves) × b (2–3) × c (2), 0–4 per cell."""
    records: list[dict[str, Any]] = []
    for a in ("x1", "x2", "y1", "y2"):
        for b in range(draw(st.integers(2, 3))):
            for c in ("p", "q"):
                for amount in draw(st.lists(st.integers(1, 60), max_size=4)):
                    records.append({"a": a, "b": f"b{b}", "c": c, "v": float(amount)})
    return records


@settings(max_examples=10, deadline=None)
@given(records=hierarchical_tables(), cost=st.sampled_from(["value", "cells"]))
def test_suppression_on_hierarchical_3d_tables_is_certified_by_the_audit(
    records: list[dict[str, Any]], cost: Any
) -> None:
    if len({r["b"] for r in records}) < 2:
        return
    table = tabulate(
        records,
        ["a", "b", "c"],
        value="v",
        hierarchies={"a": {"x1": "x", "x2": "x", "y1": "y", "y2": "y"}},
    )
    protected = protect(table, ["freq:3", "p:15"], cost=cost)
    assert protected.audit()["protected"] is True
    assert protected.certify()["protected"] is True
    cube = secondary_suppression(primary_suppression(table, ["freq:3", "p:15"]), method="hypercube")
    assert cube.certify()["protected"] == cube.audit()["protected"]


def test_a_pattern_certificate_holds_and_fails_where_it_should() -> None:
    """The certificate of Islands/M: its two patterns balance every equation, move only
    withheld cells, keep cells ≥ 0 and reach the levels; tampered, it no longer holds."""
    from scipy import sparse

    from privstats.disclosure.tables._patterns import cheapest_pattern

    table = regional_table()
    primary = primary_suppression(table, ["freq:3"])
    target = primary.status.index("primary")
    levels = primary.levels(target)
    by_column = sparse.csc_matrix(table.equations)
    values = table.values
    cells = np.arange(len(table.cells))
    allowed = values > 0
    found = cheapest_pattern(
        by_column, values, cells, primary.suppressed, allowed, values + 1.0, target, levels,
        4 * float(values.max()), {"mip_rel_gap": 0.0},
    )  # fmt: skip
    assert found is not None
    chosen, proof = found
    withheld = primary.suppressed.copy()
    withheld[chosen] = True
    assert proof.holds(by_column, values, withheld, levels)
    # the exact audit agrees that this suppression protects the cell
    status = tuple(
        "secondary" if w and s != "primary" else s
        for w, s in zip(withheld, primary.status, strict=True)
    )
    protected = ProtectedTable(table, status, primary.verdicts)
    assert protected.audit()["protected"]
    # a pattern needs its cells withheld: publish one of them and the proof fails
    moved = np.flatnonzero((np.abs(proof.up) > 1e-9) & (proof.cells != target))
    published = withheld.copy()
    published[proof.cells[moved[0]]] = False
    assert not proof.holds(by_column, values, published, levels)
    # and it proves no more than it moves: a larger upper level fails
    assert not proof.holds(by_column, values, withheld, (levels[0] * 2 + 1, levels[1]))
