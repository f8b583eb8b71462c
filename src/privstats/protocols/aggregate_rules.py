"""The table rules inside a secure aggregate's release: which groups it withholds.

Run by every party in lockstep after the pooled group counts are opened (phase 1 of
``privstats.protocols.aggregate``) and before any sum is. Steps:

    owner    each party sends its owner's floor and rules (``OwnerRules.min_cell``,
             ``rules``); all apply the largest floor and the union of the rules
    table    the groups become the leaf cells of a table with every margin and the grand
             total (``privstats.disclosure.tables``), counts as values: an analyst gets
             margins from other jobs, so they are cells even when only groups are printed
    freq     a cell (margin or group) with 1 … min_cell − 1 records is a primary cell
    dominance (n,k) and p % rules on the sums of every column whose Σx the release opens,
             for every non-empty cell the frequency rule passes, by
             ``privstats.protocols.aggregate_sign``: only the fail / hold bit is opened
    guard    each party withholds, for its own owner, the cells its release guard names
             and those holding 1 … min_matched − 1 of its own records; it sends that set
             to every party and all take the union
    secondary MILP secondary suppression on the count table (cost "cells" or "value"),
             so that every withheld cell is protected within its own rows and columns;
             withheld groups' sums are never opened

The table is ``privstats.disclosure.release_table.count_table``'s, as every kind's. The
primary verdicts and the suppression are made here (:func:`protect_counts`) rather than by
``release_table.protect_counts``, because the aggregate needs: a frequency protection of
``[0, min_cell]`` (the former minimum-cell rule's guarantee: the withheld cells around a
small one hold, for all the attacker knows, a releasable number), several verdicts per
cell (dominance on several columns and rules), the ``cost`` choice, and an exact
one-dimensional path without a MILP (2,000 groups by one column in well under a second).

Threat model: as the aggregate's (semi-honest, the hub sees sizes), plus what the steps
open to every party: each party's owner floor and rules, the labels of the cells each
party's owner withholds (not why: its history or its few records in them — the latter
tells the others that this party has 1 … min_matched − 1 records there), and per tested
cell, column and rule one bit; the key holder of the sign test learns more, as stated in
``privstats.protocols.aggregate_sign``. The secondary suppression protects counts: the
same pattern withholds the sums, whose audit on the sum table is not run here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from scipy import sparse

from privstats.disclosure.owner import CandidateRelease, OwnerRules
from privstats.disclosure.release_table import (
    Cost,
    extra_verdict,
    frequency_verdict,
    withheld_groups,
)
from privstats.disclosure.release_table import count_table as shared_count_table
from privstats.disclosure.release_table import protect_count_table as protect_counts
from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    DominanceRule,
    FrequencyRule,
    ProtectedTable,
    Table,
    Verdict,
    parse_rule,
)
from privstats.errors import ParameterError, ProtocolError
from privstats.protocols.aggregate_sign import any_positive
from privstats.stats.aggregate.dominance import (
    CellContributions,
    MagnitudeRule,
    magnitude_rules,
    merge_contributions,
    party_terms,
)
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "Cost",
    "Decision",
    "Levels",
    "OwnerTerms",
    "ReleaseRules",
    "Withheld",
    "agree_rules",
    "count_table",
    "dominant_cells",
    "exchange_withheld",
    "extra_verdict",
    "frequency_verdict",
    "members",
    "owner_withheld",
    "protect_counts",
    "release_table",
    "small_levels",
    "withheld_groups",
]

Label = tuple[str, ...]


@message("aggregate.owner", 1)
class OwnerTerms(Message):
    min_cell: int
    rules: list[str]


@message("aggregate.withheld", 1)
class Withheld(Message):
    labels: list[list[str]]
    reasons: list[str]


@message("aggregate.levels", 1)
class Levels(Message):
    levels: dict[str, list[str] | None]


@dataclass(frozen=True)
class ReleaseRules:
    """The rules every party applies: the floor and the magnitude rules, agreed."""

    min_cell: int
    rules: tuple[str, ...]

    @property
    def magnitude(self) -> list[MagnitudeRule]:
        return magnitude_rules(self.rules)

    @property
    def names(self) -> list[str]:
        """Every rule applied, as in the release: ``freq:10``, then the others."""
        return [f"freq:{self.min_cell}", *(rule.name for rule in self.magnitude)]


def agree_rules(
    channel: Channel, parties: Sequence[str], min_cell: int, rules: Sequence[str], owner: OwnerRules
) -> ReleaseRules:
    """The job's rules with every party's owner rules: the largest floor, all the rules."""
    mine = OwnerTerms(owner.cell_floor(min_cell), sorted(set(owner.rules)))
    floors, texts = [mine.min_cell], set(rules) | set(mine.rules)
    for peer in parties:
        if peer != channel.party:
            channel.send(peer, mine)
    for peer in parties:
        if peer != channel.party:
            theirs = channel.recv(peer, OwnerTerms)
            floors.append(theirs.min_cell)
            texts |= set(theirs.rules)
    parsed = [parse_rule(text) for text in sorted(texts)]  # refuses an unknown rule
    for rule in parsed:
        if isinstance(rule, FrequencyRule):
            floors.append(rule.minimum)
    names = tuple(sorted({r.name for r in parsed if not isinstance(r, FrequencyRule)}))
    return ReleaseRules(max(floors), names)


def count_table(by: Sequence[str], counts: Mapping[Label, int]) -> Table:
    """The table of the groups' counts with every margin (one cell ``()`` without ``by``),
    built by ``privstats.disclosure.release_table.count_table`` as every kind's is."""
    if not by:
        total = sum(counts.values())
        cell = Cell((), total, float(total))
        return Table((), (cell,), sparse.csr_matrix((0, 1)), False, 0, {(): 0})
    for label in counts:
        for column, value in zip(by, label, strict=True):
            if value == TOTAL:
                raise ParameterError(
                    f"group column {column!r} has the value {TOTAL!r}, the label the table "
                    "rules give its margin; recode it (e.g. 'Total (reported)')",
                    parameter="by",
                )
    return shared_count_table(by, counts, None)


def members(labels: Sequence[Label]) -> dict[Label, list[int]]:
    """Per cell of the table, the groups (indexes into ``labels``) it adds up: each group
    counts in the 2^d cells that keep or replace by the total each of its labels."""
    cells: dict[Label, list[int]] = {}
    for g, label in enumerate(labels):
        for key in itertools.product(*((value, TOTAL) for value in label)):
            cells.setdefault(key, []).append(g)
    return cells


def dominant_cells(
    channel: Channel,
    parties: Sequence[str],
    table: Table,
    labels: Sequence[Label],
    contributions: Mapping[str, Sequence[CellContributions]],
    rules: Sequence[MagnitudeRule],
    skip: Sequence[Label] = (),
) -> dict[Label, list[Verdict]]:
    """The cells failing a dominance or p % rule on some column (one opened bit each).

    ``contributions[column][g]`` is this party's largest contributions and total of group
    ``g``; every party passes the same columns, rules and table. Empty cells and those in
    ``skip`` (already withheld) are not tested.
    """
    if not rules or not contributions:
        return {}
    me, count = list(parties).index(channel.party), len(parties)
    top = max([2, *(rule.n for rule in rules if isinstance(rule, DominanceRule))])
    tests: list[list[int]] = []
    names: list[tuple[Label, str, MagnitudeRule]] = []
    skipped = set(skip)
    groups = members(labels)
    for cell in table.cells:
        if cell.count == 0 or cell.key in skipped:
            continue
        for column in sorted(contributions):
            parts = [contributions[column][g] for g in groups.get(cell.key, [])]
            largest, total = merge_contributions(parts, top)
            for rule in rules:
                tests.append(party_terms(rule, count, me, largest, total))
                names.append((cell.key, column, rule))
    bits = any_positive(channel, parties, tests)
    found: dict[Label, list[Verdict]] = {}
    for (key, column, rule), fails in zip(names, bits, strict=True):
        if fails:
            cell = table.cells[table.index[key]]
            reason = f"the sum of {column!r} is dominated ({rule.name} fails)"
            found.setdefault(key, []).append(extra_verdict(cell, rule.name, reason))
    return found


def owner_withheld(
    table: Table,
    labels: Sequence[Label],
    own_counts: Sequence[int],
    min_matched: int,
) -> dict[Label, str]:
    """Cells holding 1 … ``min_matched`` − 1 of this party's own records."""
    out: dict[Label, str] = {}
    if min_matched <= 1:
        return out
    groups = members(labels)
    for cell in table.cells:
        own = sum(int(own_counts[g]) for g in groups.get(cell.key, []))
        if 0 < own < min_matched:
            out[cell.key] = f"a party's owner requires at least {min_matched} of its records"
    return out


def exchange_withheld(
    channel: Channel, parties: Sequence[str], table: Table, mine: Mapping[Label, str]
) -> dict[Label, str]:
    """Send this party's extra withheld cells to every party; the union of all parties'."""
    msg = Withheld([list(key) for key in sorted(mine)], [mine[key] for key in sorted(mine)])
    for peer in parties:
        if peer != channel.party:
            channel.send(peer, msg)
    union = dict(mine)
    for peer in parties:
        if peer == channel.party:
            continue
        theirs = channel.recv(peer, Withheld)
        if len(theirs.labels) != len(theirs.reasons):
            raise ProtocolError(f"{peer!r} sent a malformed withheld list", peer=peer)
        for label, reason in zip(theirs.labels, theirs.reasons, strict=True):
            key = tuple(label)
            if key not in table.index:
                raise ProtocolError(f"{peer!r} withholds an unknown cell {key}", peer=peer)
            union.setdefault(key, reason)
    return union


@dataclass(frozen=True)
class Decision:
    """What the table rules decided: the protected table, every withheld cell (margins
    included) with its reason, and the candidate release the guards saw."""

    protected: ProtectedTable
    withheld: dict[Label, str]
    candidate: CandidateRelease


def release_table(
    channel: Channel,
    parties: Sequence[str],
    by: Sequence[str],
    labels: Sequence[Label],
    counts: Sequence[int],
    own_counts: Sequence[int],
    contributions: Mapping[str, Sequence[CellContributions]],
    rules: ReleaseRules,
    owner: OwnerRules,
    cost: Cost,
    measures: Sequence[str] = (),
) -> Decision:
    """Frequency, dominance, owner and guard rules, then secondary suppression (module)."""
    table = count_table(by, dict(zip(labels, counts, strict=True)))
    first = protect_counts(table, rules.min_cell, {}, cost)
    frequent = [c.key for c, s in zip(table.cells, first.status, strict=True) if s == "primary"]
    dominant = dominant_cells(
        channel, parties, table, labels, contributions, rules.magnitude, frequent
    )
    protected = protect_counts(table, rules.min_cell, dominant, cost) if dominant else first
    candidate = CandidateRelease(
        kind="aggregate",
        dims=tuple(by),
        counts={cell.key: cell.count for cell in table.cells},
        withheld=frozenset(withheld_groups(protected)),
        measures=tuple(measures),
    )
    mine = owner_withheld(table, labels, own_counts, owner.min_matched)
    if owner.guard is not None:
        for key, reason in owner.guard.check(candidate).items():
            if tuple(key) in table.index:  # a cell this table does not hold is not released
                mine.setdefault(tuple(key), f"release history: {reason}")
    extra = exchange_withheld(channel, parties, table, mine)
    if extra:
        verdicts = {key: list(found) for key, found in dominant.items()}
        for key, reason in extra.items():
            cell = table.cells[table.index[key]]
            verdicts.setdefault(key, []).append(extra_verdict(cell, "owner", reason))
        protected = protect_counts(table, rules.min_cell, verdicts, cost)
    withheld = withheld_groups(protected)
    return Decision(protected, withheld, replace(candidate, withheld=frozenset(withheld)))


def small_levels(
    channel: Channel,
    parties: Sequence[str],
    levels: Mapping[str, Mapping[str, int] | None],
    min_cell: int,
) -> list[tuple[str, str]]:
    """The (regressor, level code) pairs with 1 … min_cell − 1 pooled complete records.

    Each party sends its regressors' distinct values (or None past ``MAX_LEVELS``: the
    regressor is then not categorical); for each level of the union one bit is opened.
    """
    mine = Levels(
        {term: None if found is None else sorted(found) for term, found in levels.items()}
    )
    union: dict[str, set[str] | None] = {
        term: None if found is None else set(found) for term, found in mine.levels.items()
    }
    for peer in parties:
        if peer != channel.party:
            channel.send(peer, mine)
    for peer in parties:
        if peer == channel.party:
            continue
        theirs = channel.recv(peer, Levels)
        if set(theirs.levels) != set(union):
            raise ProtocolError(f"{peer!r} sent levels of other regressors", peer=peer)
        for term, found in theirs.levels.items():
            known = union[term]
            union[term] = None if found is None or known is None else known | set(found)
    first = list(parties).index(channel.party) == 0
    pairs = [(t, v) for t in sorted(union) for v in sorted(union[t] or ())]
    tests = []
    for term, value in pairs:
        own = (levels[term] or {}).get(value, 0)
        tests.append([(min_cell if first else 0) - own])
    bits = any_positive(channel, parties, tests)
    return [pair for pair, small in zip(pairs, bits, strict=True) if small]
