"""Protect a released table of group counts the way :mod:`privstats.disclosure.tables` does.

Protocol kinds see their pooled group counts (opened to the parties, or learnt from PSI),
not contributor records; :func:`protect_counts` builds the table of those groups with every
margin and the grand total, makes each group below the minimum size a primary suppression
(and each group another rule or the data owner names: dominance verdicts computed in MPC,
the owner's floors, the release guard), and chooses secondary suppressions by MILP so that
no withheld group can be recovered from the published groups *and the margins*. Margins
count as published whether or not the job prints them: another job by fewer columns gives
them to the analyst (``--by region`` after ``--by region,sex``), so protecting within the
rows and columns of the full table is what closes that differencing.

A group withheld for its size must stay free to lie anywhere from 0 (she may not be
there) up to ``min_cell`` (for all the attacker knows, the withheld groups around it hold a
releasable number); a group withheld for another reason (a dominance verdict, the owner's
floor, the release guard) ± 10 % of its count, at least one record. Zero groups are empty,
never published as a disclosure of absence by themselves. One-column tables are solved
exactly without a MILP.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from privstats.disclosure.owner import Label
from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    ProtectedTable,
    Table,
    Verdict,
    secondary_suppression,
)
from privstats.disclosure.tables._protect import Status
from privstats.disclosure.tables._table import _dimension, _equations
from privstats.errors import ComputationError, ParameterError

__all__ = [
    "CountProtection",
    "count_table",
    "extra_verdict",
    "frequency_verdict",
    "protect_count_table",
    "protect_counts",
    "withheld_groups",
]

Cost = Literal["cells", "value"]


@dataclass(frozen=True)
class CountProtection:
    """Which groups of a release are withheld, and why; the protected table for the audit."""

    withheld: Mapping[Label, str]
    """Withheld cell → reason (``"3 contributor(s), fewer than 10"``, ``"secondary
    suppression"``). Keys are group labels; a margin's key has ``"Total"`` in the columns
    it sums over; the one cell of a table without columns is ``()``."""
    protected: ProtectedTable

    def audit(self) -> bool:
        """Whether every primary group keeps its protection given what is published."""
        return bool(self.protected.audit()["protected"])


def count_table(
    dims: Sequence[str], counts: Mapping[Label, int], levels: Mapping[str, Sequence[str]] | None
) -> Table:
    """The frequency table of ``counts`` (group labels → count) with every margin.

    Without ``dims`` the table is the one overall cell. ``levels`` (column → labels) adds
    groups that hold no record; otherwise the labels are those of ``counts``.
    """
    if not dims:
        total = sum(counts.values())
        cell = Cell((TOTAL,), total, float(total))
        dim = _dimension("all", (), None)
        return Table((dim,), (cell,), _equations((dim,), {(TOTAL,): 0}), False, 0, {(TOTAL,): 0})
    for label in counts:
        if len(label) != len(dims) or TOTAL in label:
            raise ParameterError(
                f"group {label!r} does not name one label per column of {list(dims)} "
                f"(or uses the reserved label {TOTAL!r})",
                parameter="by",
            )
    seen = [
        {label[axis] for label in counts} | set((levels or {}).get(dim, ()))
        for axis, dim in enumerate(dims)
    ]
    dimensions = tuple(_dimension(dim, seen[axis], None) for axis, dim in enumerate(dims))
    sums: dict[tuple[str, ...], int] = {}
    for label, count in counts.items():
        for key in itertools.product(*((part, TOTAL) for part in label)):
            sums[key] = sums.get(key, 0) + count
    cells = tuple(
        Cell(key, sums.get(key, 0), float(sums.get(key, 0)))
        for key in itertools.product(*(dim.labels for dim in dimensions))
    )
    index = {cell.key: i for i, cell in enumerate(cells)}
    return Table(dimensions, cells, _equations(dimensions, index), False, 0, index)


def protect_counts(
    dims: Sequence[str],
    counts: Mapping[Label, int],
    *,
    min_cell: int,
    extra: Mapping[Label, str] | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
    cost: Cost = "value",
) -> CountProtection:
    """The groups to withhold: below ``min_cell``, named in ``extra`` (group → reason), and
    the secondary suppressions that protect them within every row, column and margin."""
    if min_cell < 1:
        raise ParameterError(f"min_cell must be at least 1, got {min_cell}", parameter="min_cell")
    table = count_table(dims, counts, levels)
    named: dict[Label, list[Verdict]] = {}
    for label, why in (extra or {}).items():
        key = (TOTAL,) if not dims else label
        named[key] = [extra_verdict(table.cells[table.index[key]], "owner", why)]
    protected = protect_count_table(table, min_cell, named, cost)
    withheld = {
        (() if not dims else key): reason for key, reason in withheld_groups(protected).items()
    }
    return CountProtection(withheld, protected)


def frequency_verdict(cell: Cell, min_cell: int) -> Verdict | None:
    """The frequency rule on a count cell: 1 … min_cell − 1 records. The cell must be
    able to move down to 0 (she may not be there) and up to ``min_cell`` (the withheld
    cells around it hold, for all the attacker knows, a releasable number)."""
    if not 0 < cell.count < min_cell:
        return None
    reason = f"{cell.count} record(s), fewer than {min_cell}"
    return Verdict(f"freq:{min_cell}", reason, float(min_cell - cell.count), float(cell.count))


def extra_verdict(cell: Cell, rule: str, reason: str) -> Verdict:
    """A primary verdict for a cell withheld by another rule than the frequency rule; its
    protection, in the count table: ± 10 % of its count, at least one record."""
    level = max(0.1 * cell.value, 1.0)
    return Verdict(rule, reason, level, min(level, cell.value))


def protect_count_table(
    table: Table,
    min_cell: int,
    extra: Mapping[Label, Sequence[Verdict]],
    cost: Cost,
) -> ProtectedTable:
    """Primary (frequency and ``extra``) and MILP secondary suppression of the table.

    Should the MILP find no pattern, every non-empty cell is withheld (never less).
    """
    status: list[Status] = []
    verdicts: list[tuple[Verdict, ...]] = []
    for cell in table.cells:
        found = tuple(v for v in (frequency_verdict(cell, min_cell),) if v is not None)
        if cell.count > 0:
            found += tuple(extra.get(cell.key, ()))
        verdicts.append(found)
        status.append("primary" if found else "empty" if cell.count == 0 else "safe")
    primary = ProtectedTable(table, tuple(status), tuple(verdicts))
    if len(table.dimensions) == 1:
        return _one_dimension(primary)
    try:
        return secondary_suppression(primary, cost=cost)
    except ComputationError:
        everything: tuple[Status, ...] = tuple(
            s if s in ("primary", "empty") else "secondary" for s in status
        )
        return ProtectedTable(table, everything, tuple(verdicts))


def _one_dimension(primary: ProtectedTable) -> ProtectedTable:
    """Secondary suppression of a one-dimensional table, exactly and without a MILP.

    With the total published, the attacker knows only the withheld cells' sum ``R`` and
    that each is ≥ 0: each withheld cell lies in ``[0, R]`` once two or more are
    withheld. So the smallest released groups are added until two are withheld and
    ``R`` reaches every primary cell's value plus its upper level (the cost "value"
    optimum). A withheld total leaves no equation: every group is then withheld.
    """
    table, status = primary.table, list(primary.status)
    total = len(table.cells) - 1  # the total is the last label
    leaves = range(total)
    if status[total] == "primary":
        chosen = [i for i in leaves if status[i] == "safe"]
    else:
        hidden = [i for i in leaves if status[i] == "primary"]
        need = max((table.cells[i].count + primary.levels(i)[0] for i in hidden), default=0)
        spare = sorted((table.cells[i].count, i) for i in leaves if status[i] == "safe")
        withheld = sum(table.cells[i].count for i in hidden)
        chosen = []
        while hidden and spare and (len(hidden) + len(chosen) < 2 or withheld < need):
            count, index = spare.pop(0)
            chosen.append(index)
            withheld += count
    for index in chosen:
        status[index] = "secondary"
    return ProtectedTable(table, tuple(status), primary.verdicts)


def withheld_groups(protected: ProtectedTable) -> dict[Label, str]:
    """The withheld cells (margins included) and why: the rules failed, or "secondary"."""
    out = {}
    for cell, status, verdicts in zip(
        protected.table.cells, protected.status, protected.verdicts, strict=True
    ):
        if status == "primary":
            out[cell.key] = "; ".join(f"{v.rule}: {v.reason}" for v in verdicts)
        elif status == "secondary":
            out[cell.key] = "secondary suppression: protects a withheld cell of its row/column"
    return out
