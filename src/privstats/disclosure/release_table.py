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

The protection level of a group withheld for its size is the frequency rule's (± 10 % of
its count, at least one unit); of a group withheld for another reason, the same. Zero
groups are empty, never published as a disclosure of absence by themselves.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from privstats.disclosure.owner import Label
from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    FrequencyRule,
    ProtectedTable,
    Table,
    Verdict,
    secondary_suppression,
)
from privstats.disclosure.tables._table import _dimension, _equations
from privstats.errors import ParameterError

__all__ = ["CountProtection", "count_table", "protect_counts"]


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
) -> CountProtection:
    """The groups to withhold: below ``min_cell``, named in ``extra`` (group → reason), and
    the secondary suppressions that protect them within every row, column and margin."""
    if min_cell < 1:
        raise ParameterError(f"min_cell must be at least 1, got {min_cell}", parameter="min_cell")
    table = count_table(dims, counts, levels)
    rule = FrequencyRule(min_cell)
    named = {((TOTAL,) if not dims else label): why for label, why in (extra or {}).items()}
    status: list[str] = []
    verdicts: list[tuple[Verdict, ...]] = []
    for cell in table.cells:
        verdict = rule.check(cell)
        if cell.key in named and cell.count > 0:
            level = max(0.1 * cell.count, 1.0)
            verdict = Verdict("owner", named[cell.key], level, min(level, cell.value))
        status.append("empty" if cell.count == 0 else "primary" if verdict else "safe")
        verdicts.append((verdict,) if verdict else ())
    primary = ProtectedTable(table, tuple(status), tuple(verdicts))  # type: ignore[arg-type]
    protected = secondary_suppression(primary, cost="value") if any(verdicts) else primary
    withheld: dict[Label, str] = {}
    for cell, state, found in zip(table.cells, protected.status, protected.verdicts, strict=True):
        if state in ("primary", "secondary"):
            label = () if not dims else cell.key
            withheld[label] = found[0].reason if found else "secondary suppression"
    return CountProtection(withheld, protected)
