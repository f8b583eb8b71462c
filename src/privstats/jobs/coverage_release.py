"""Which coverage cells may be released: the table rules on both counts, with every margin.

A coverage release publishes, per domain (a cell of the ``--by`` table) and for every margin
and the overall total, two counts: the register's persons ``n`` and the matched persons
``m``. Both face the rules (:class:`CoverageTerms`: the job's ``min_cell`` and the
strictest of both data owners' ``min_cell``, ``min_matched`` and table rules), because
each identifies: a domain of one person tells her region and sex to a source that sent
one customer, and a matched count of 1 tells the register that its one target is a
customer. Primary cells of either table are withheld in both, and secondary suppression
(:mod:`privstats.disclosure.tables`, MILP) runs on both tables until one withheld set
protects every primary cell of each within its own rows and columns, margins and the
overall total treated as published. That is what stops differencing: ``--by region``
then ``--by region,sex`` cannot give Islands/F as Islands minus Islands/M, because the
region margin is a cell of the second table and Islands/M is withheld with Islands/F.

Without ``--by`` the one overall cell is a cell: it faces the same rules.
:func:`published_intervals` is the check anybody (the source, a reviewer) can run on a
release: the interval each withheld cell can lie in given the published cells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from privstats.disclosure.owner import OwnerRules
from privstats.disclosure.release_table import count_table as release_count_table
from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    ProtectedTable,
    Table,
    Verdict,
    attacker_intervals,
    parse_rule,
    primary_suppression,
    secondary_suppression,
)
from privstats.errors import ComputationError

__all__ = [
    "CellDecision",
    "CoverageTerms",
    "Decisions",
    "Label",
    "all_released",
    "count_table",
    "protect_release",
    "published_intervals",
    "withheld_by_size",
]

Label = tuple[str, ...]
Status = Literal["safe", "primary", "secondary", "empty"]
SECONDARY_REASON = "secondary suppression: protects a withheld cell in its row or column"


@dataclass(frozen=True)
class CoverageTerms:
    """The rules a coverage release obeys; both parties' terms merge into the strictest."""

    min_cell: int
    min_matched: int = 0
    rules: tuple[str, ...] = ()

    @classmethod
    def of(cls, job_min_cell: int, owner: OwnerRules) -> CoverageTerms:
        """The job's ``min_cell`` with one data owner's rules."""
        return cls(owner.cell_floor(job_min_cell), owner.min_matched, tuple(owner.rules))

    def merge(self, other: CoverageTerms) -> CoverageTerms:
        """The stricter of both: the larger floors, every rule of either."""
        rules = tuple(dict.fromkeys((*self.rules, *other.rules)))
        return CoverageTerms(
            max(self.min_cell, other.min_cell), max(self.min_matched, other.min_matched), rules
        )

    def table_rules(self) -> list[str]:
        """The primary rules of both tables: ``freq:min_cell``, ``freq:min_matched`` (a
        count of 1..min_matched−1 persons is withheld; 0 is not), then the owners'
        frequency rules. Dominance and p % rules read contributions: in a count of persons
        each contributes one, so they say no more than a frequency rule and are left out."""
        floors = [f"freq:{self.min_cell}"]
        if self.min_matched > self.min_cell:
            floors.append(f"freq:{self.min_matched}")
        counted = [r for r in self.rules if parse_rule(r).contributions_needed == 0]
        return list(dict.fromkeys((*floors, *counted)))

    def fails(self, count: int) -> list[Verdict]:
        """The rules a single cell of ``count`` persons fails (the table of one cell)."""
        cell = Cell((), count, float(count))
        found = (parse_rule(rule).check(cell) for rule in self.table_rules())
        return [verdict for verdict in found if verdict is not None]


@dataclass(frozen=True)
class CellDecision:
    """What happens to one cell (a domain, a margin or the total) and why."""

    status: Status
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()

    @property
    def withheld(self) -> bool:
        return self.status in ("primary", "secondary")


@dataclass(frozen=True)
class Decisions:
    """Every cell's decision (margins carry ``"Total"``; no ``--by``: the one cell ``()``)
    and the audit of the withheld cells against everything published."""

    cells: Mapping[Label, CellDecision]
    audit: Mapping[str, Any]

    def withheld(self, labels: Collection[Label]) -> frozenset[Label]:
        """Which of ``labels`` are withheld."""
        return frozenset(label for label in labels if self.cells[label].withheld)


def count_table(counts: Mapping[Label, int], by: Sequence[str]) -> Table:
    """The frequency table of ``counts`` (domain → persons) with every margin
    (:func:`privstats.disclosure.release_table.count_table`, as every kind builds it)."""
    return release_count_table(by, counts, None)


def all_released(labels: Sequence[Label], by: Sequence[str]) -> Decisions:
    """Every domain, margin and the total released (a DP release: noise, no rules)."""
    keys = [cell.key for cell in count_table(dict.fromkeys(labels, 0), by).cells] if by else [()]
    audit = {"cells_checked": 0, "protected": True, "narrowest_width": None}
    return Decisions(dict.fromkeys(keys, CellDecision("safe")), audit)


def withheld_by_size(
    sizes: Mapping[Label, int], by: Sequence[str], terms: CoverageTerms
) -> set[Label]:
    """The domains withheld on their register sizes alone (primary and secondary), known
    before the protocol: the register pads them so that the source never learns their
    sizes."""
    if not by:
        return {()} if terms.fails(sizes[()]) else set()
    table = count_table(sizes, by)
    protected = secondary_suppression(primary_suppression(table, terms.table_rules()))
    return {label for label in sizes if protected.suppressed[table.index[label]]}


def _levels(value: float) -> tuple[float, float]:
    """The protection a count needs: ±10 % of it and at least one person (the frequency
    rule's level), never below 0."""
    level = max(0.1 * value, 1.0)
    return level, min(level, value)


def _also_primary(protected: ProtectedTable, extra: Mapping[int, list[Verdict]]) -> ProtectedTable:
    """``protected`` with more primary cells: index → the verdicts that make them so."""
    status = list(protected.status)
    verdicts = list(protected.verdicts)
    for index, found in extra.items():
        if found:
            status[index] = "primary"
            verdicts[index] = (*verdicts[index], *found)
    return ProtectedTable(protected.table, tuple(status), tuple(verdicts))


def _mark(protected: ProtectedTable, withheld: np.ndarray[Any, Any]) -> ProtectedTable:
    """``protected`` with every ``withheld`` cell that is not primary marked secondary."""
    status = tuple(
        "secondary" if hidden and s != "primary" else s
        for hidden, s in zip(withheld, protected.status, strict=True)
    )
    return ProtectedTable(protected.table, status, protected.verdicts)


def _joint(
    sizes: ProtectedTable, matched: ProtectedTable, keep: np.ndarray[Any, Any], rounds: int = 8
) -> tuple[ProtectedTable, ProtectedTable]:
    """Secondary suppression on both tables until one withheld set protects both; ``keep``
    cells are withheld whatever the rules say. Both orders are tried (the matched table,
    whose zeros cannot move down, often needs other partners than the sizes): the one that
    withholds fewer cells wins. Not jointly optimal, but each table's pass is."""
    first = _alternate(matched, sizes, keep, rounds)
    second = _alternate(sizes, matched, keep, rounds)
    if second[0].suppressed.sum() < first[0].suppressed.sum():
        return second[0], second[1]
    return first[1], first[0]


def _alternate(
    one: ProtectedTable, other: ProtectedTable, keep: np.ndarray[Any, Any], rounds: int
) -> tuple[ProtectedTable, ProtectedTable]:
    """Protect ``one``, then ``other`` with its withheld cells, until neither adds any."""
    withheld = one.suppressed | other.suppressed | keep
    for _ in range(rounds):
        one = secondary_suppression(_mark(one, withheld))
        other = secondary_suppression(_mark(other, withheld | one.suppressed))
        now = withheld | one.suppressed | other.suppressed
        if (now == withheld).all():
            break
        withheld = now
    return _mark(one, withheld), _mark(other, withheld)


def protect_release(
    sizes: Mapping[Label, int],
    matched: Mapping[Label, int],
    by: Sequence[str],
    terms: CoverageTerms,
    extra: Mapping[Label, str] | None = None,
    keep_withheld: Collection[Label] = (),
) -> Decisions:
    """Every cell's decision under ``terms``; ``extra`` cells (a release guard's, a peer's
    objection) are withheld as primary cells with the reason given, ``keep_withheld``
    cells (withheld in a proposal the peer has judged) stay withheld."""
    extra = dict(extra or {})
    if not by:
        return _one_cell(sizes[()], matched[()], terms, extra.get(()))
    rules = terms.table_rules()
    size_table, matched_table = count_table(sizes, by), count_table(matched, by)
    size_primary = primary_suppression(size_table, rules)
    matched_primary = primary_suppression(matched_table, rules)
    more: dict[int, list[Verdict]] = {}
    for index, cell in enumerate(matched_table.cells):
        upper, lower = _levels(cell.value)
        found = [
            Verdict(v.rule, f"register size: {v.reason}", upper, lower)
            for v in size_primary.verdicts[index]
        ]
        found += [
            dataclasses.replace(v, reason=f"matched: {v.reason}")
            for v in matched_primary.verdicts[index]
        ]
        if cell.key in extra:
            found.append(Verdict("release history", extra[cell.key], upper, lower))
        more[index] = found
    matched_primary = ProtectedTable(
        matched_table, matched_primary.status, ((),) * len(matched_table.cells)
    )
    keep = np.array([cell.key in set(keep_withheld) for cell in size_table.cells], dtype=bool)
    size_final, matched_final = _joint(size_primary, _also_primary(matched_primary, more), keep)
    audits = (size_final.audit(), matched_final.audit())
    if not all(audit["protected"] for audit in audits):
        raise ComputationError(
            "coverage: secondary suppression could not protect every withheld cell; "
            "nothing is released (try fewer --by columns)",
            step="release",
        )
    cells = {}
    for index, cell in enumerate(size_table.cells):
        status = matched_final.status[index]
        if status == "empty" and size_final.status[index] != "empty":
            status = "safe"  # nobody matched in a domain that has persons: a released 0
        verdicts = matched_final.verdicts[index]
        reasons = tuple(dict.fromkeys(v.reason for v in verdicts))
        if status == "secondary":
            reasons = (SECONDARY_REASON,)
        failed = tuple(dict.fromkeys(v.rule for v in verdicts))
        cells[cell.key] = CellDecision(status, reasons, failed)
    return Decisions(cells, _audit_summary(audits))


def _one_cell(size: int, matched: int, terms: CoverageTerms, extra_reason: str | None) -> Decisions:
    """The decision on a release without ``--by``: one cell, the same rules."""
    found = [
        *(dataclasses.replace(v, reason=f"register size: {v.reason}") for v in terms.fails(size)),
        *(dataclasses.replace(v, reason=f"matched: {v.reason}") for v in terms.fails(matched)),
    ]
    reasons = tuple(v.reason for v in found)
    if extra_reason is not None:
        found.append(Verdict("release history", extra_reason, 1.0, 1.0))
        reasons = (*reasons, extra_reason)
    status: Status = "primary" if found else "safe"
    decision = CellDecision(status, reasons, tuple(dict.fromkeys(v.rule for v in found)))
    audit = {"cells_checked": 0, "protected": True, "narrowest_width": None}
    return Decisions({(): decision}, audit)


def _audit_summary(audits: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the release may say of its audit: only figures the published cells determine."""
    widths = [
        entry["width"]
        for audit in audits
        for entry in audit["intervals"].values()
        if entry["width"] is not None
    ]
    return {
        "cells_checked": sum(audit["cells_checked"] for audit in audits),
        "protected": all(audit["protected"] for audit in audits),
        "narrowest_width": min(widths, default=None),
    }


def published_intervals(
    cells: Mapping[Label, int | None], by: Sequence[str]
) -> dict[Label, tuple[float, float]]:
    """For a published table (every cell with margins; None where withheld), the lowest
    and highest value each withheld cell can take given the rest: what an analyst who
    solves for it learns."""
    labels = [label for label in cells if TOTAL not in label]
    shape = count_table(dict.fromkeys(labels, 0), by)
    values = [cells.get(cell.key, 0) for cell in shape.cells]
    hidden = np.array([v is None for v in values], dtype=bool)
    published = tuple(
        dataclasses.replace(cell, count=v or 0, value=float(v or 0))
        for cell, v in zip(shape.cells, values, strict=True)
    )
    table = dataclasses.replace(shape, cells=published)
    intervals = attacker_intervals(table, hidden)
    return {
        shape.cells[index].key: (interval.low, interval.high)
        for index, interval in intervals.items()
    }
