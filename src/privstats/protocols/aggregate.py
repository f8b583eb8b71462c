"""Secure aggregates over horizontally split data: pooled counts, sums and quantiles.

Two to ten parties hold records of the same kind (same columns). Every party ends with the
same :class:`PooledAggregate`: the agreed group labels, each group's pooled record count,
the groups the table rules withhold and, of the released groups only, the pooled
exact sums and quantiles from which ``privstats.stats.aggregate`` makes the figures —
exactly as if the files had been concatenated. No party sees another's records or
subtotals. :func:`party` runs one party's side; the steps it calls are below it in order.

Protocol (every party, in lockstep; ``secure_sum`` is additive sharing, see
``privstats.protocols.sharing``)::

    hello     each party sends a digest of the agreed terms and the party list; all must
              agree
    labels    with ``levels`` given: the groups are every combination of the levels, and
              nothing is exchanged; otherwise each party sends its sorted distinct label
              tuples to every other party and all use the sorted union
    phase 1   secure sum, opened to all, of every group's record count (and of the OLS
              model's complete records); the table rules
              (``privstats.protocols.aggregate_rules``: the owners' floors and rules,
              frequency on every cell of the table with its margins, dominance and p %
              in MPC, the owners' min_matched and release guards, MILP secondary
              suppression) decide the withheld groups on these pooled counts
    phase 1b  secure sum, opened to all, of the released groups' counts of records with
              each statistic's column(s) present
    phase 2   secure sum, opened to all, of the exact fixed-point sums (Σx, Σx², Σxy, with
              a weight Σw, Σwx, …) of the released groups only, and only of the statistics
              with at least ``min_cell`` complete records, plus the OLS sums over all
              records if their count reaches ``min_cell``
    phase 3   quantiles and medians by secure bisection over the fixed-point grid
              (x·2^f in [−2^62, 2^62)): 63 rounds, each one secure sum of the counts (or
              Σw) of values ≤ the midpoint, for every released (group, quantile) at once;
              a level with fewer than ``min_cell`` records on a side, or closer than
              ``min_cell/N`` to another, is refused from the pooled count alone
              (``privstats.stats.aggregate.floors``)

The OLS model is opened only if its complete records reach ``min_cell`` per parameter,
differ from every released count by 0 or at least ``min_cell``, and every level of a
regressor with few values holds ``min_cell`` records (one opened bit per level).

Threat model: all parties semi-honest; any coalition of up to n − 1 parties learns nothing
about the others' records beyond what is opened — with one exception when dominance, p %
or OLS level rules run: the first two parties (the sign test's key holder and blinder)
together would learn the rule sums (``privstats.protocols.aggregate_sign``). A party
that lies about its data or deviates can bias the release; that is out of scope. The hub
relays sealed messages and sees only sizes. What is opened, to every party:

- the label tuples that occur at each party (unless ``levels`` is given);
- the pooled record count of every group, withheld ones included (needed to apply the
  rule), and per released group the pooled count of records with each statistic's
  column(s) present (a statistic with fewer than ``min_cell`` of them is not released);
- the pooled sums of released groups (the release is computed from them); the sums of
  withheld groups and of statistics below the minimum are never opened to anyone;
- what the table rules open (``privstats.protocols.aggregate_rules``): the owners'
  floors and rules, the cells each owner withholds, one bit per dominance test and per
  regressor level, the regressors' distinct values where at most ten, and to the first
  party the blinded sums of ``privstats.protocols.aggregate_sign``;
- per quantile and released group, the pooled empirical CDF (count, or Σw, of values
  ≤ t) at the 63 points t on the bisection path — at most 63 counts per quantile per
  group, all around the quantile; the quantile itself is an observed value.

Overflow: sums live in Z/2^192 (``Ring(limbs=3)``). Before any sum is shared, each party
checks that each of its local sums stays below 2^191/n, so the pooled total cannot wrap;
otherwise it stops with a ParameterError naming the column (lower ``frac_bits``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.data.tables import Table
from privstats.disclosure.owner import NO_OWNER_RULES, OwnerRules
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.progress import Progress, no_progress
from privstats.protocols import aggregate_quantiles as quantiles_module
from privstats.protocols.aggregate_rules import (
    Cost,
    Decision,
    ReleaseRules,
    agree_rules,
    release_table,
    small_levels,
)
from privstats.protocols.sharing import Ring, RingArray, secure_sum
from privstats.stats.aggregate import (
    Block,
    CellContributions,
    LocalSums,
    Plan,
    QuantileIndex,
    Records,
    group_labels,
    level_labels,
    local_contributions,
    local_levels,
    local_sums,
    magnitude_columns,
    magnitude_rules,
    ols_refusal,
    prepare_records,
    quantile_index,
)
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "COUNT_RING",
    "LABELS_PER_MESSAGE",
    "MAX_PARTIES",
    "ROUNDS",
    "SUM_RING",
    "AggregateTerms",
    "Hello",
    "Labels",
    "LocalStatistics",
    "PartyState",
    "PooledAggregate",
    "agree",
    "agree_labels",
    "check_bounds",
    "check_levels",
    "check_parties",
    "exchange_labels",
    "local_statistics",
    "open_present_counts",
    "open_record_counts",
    "open_sums",
    "party",
    "search_quantiles",
]

MAX_PARTIES = 10
COUNT_RING = Ring(1)
"""Counts: Z/2^64."""
SUM_RING = Ring(3)
"""Exact fixed-point sums and their products: Z/2^192."""
ROUNDS = quantiles_module.ROUNDS
"""Bisection rounds per quantile: the grid spans exactly 2^63 steps."""
LABELS_PER_MESSAGE = 10_000

Label = tuple[str, ...]


@message("aggregate.hello", 1)
class Hello(Message):
    digest: bytes


@message("aggregate.labels", 1)
class Labels(Message):
    labels: list[list[str]]
    last: bool


@dataclass(frozen=True)
class AggregateTerms:
    """What every party must hold identically before any data moves.

    ``agreed`` is the JSON form of everything the parties agreed on (the job's spec); the
    hello compares its SHA-256, with the party list, so that a party with other options
    stops before any data is shared. The other fields are what the steps read.
    """

    plan: Plan
    by: tuple[str, ...]
    min_cell: int
    levels: Mapping[str, Sequence[str]] | None
    agreed: Mapping[str, Any]
    rules: tuple[str, ...] = ()
    """Table rules besides the minimum cell: ``nk:1,80``, ``p:10``."""
    cost: Cost = "value"
    """What secondary suppression minimises: withheld ``cells`` or their ``value``."""


@dataclass(frozen=True)
class PartyState:
    """One party's fixed context for every step: its channel, every party in the same
    order everywhere (this one included), the agreed terms, and where progress goes."""

    channel: Channel
    parties: tuple[str, ...]
    terms: AggregateTerms
    report: Progress = no_progress

    @property
    def others(self) -> list[str]:
        return [p for p in self.parties if p != self.channel.party]

    def open(self, values: Sequence[int], ring: Ring) -> list[int]:
        """The pooled totals of every party's ``values``, opened to all parties."""
        return ring.to_ints(self._open(ring.from_ints(values, parties=len(self.parties)), ring))

    def open_counts(self, counts: npt.NDArray[np.int64]) -> list[int]:
        """The pooled totals of every party's ``counts`` (in Z/2^64), opened to all."""
        ring = COUNT_RING
        total = self._open(ring.from_int64(counts, parties=len(self.parties)), ring)
        return [int(v) for v in ring.to_int64(total)]

    def _open(self, elements: RingArray, ring: Ring) -> RingArray:
        total = secure_sum(self.channel, self.parties, elements, ring)
        assert total is not None  # every party is a recipient
        return total


@dataclass(frozen=True)
class LocalStatistics:
    """One party's inputs to the secure sums, per agreed group: its counts and exact sums
    of every block, of the OLS block (over all records, as one group), and its quantile
    columns sorted by group."""

    labels: list[Label]
    sums: LocalSums
    ols: LocalSums | None
    indexes: dict[str, QuantileIndex]
    contributions: dict[str, list[CellContributions]]
    """Per column whose sums are opened: each group's largest |x| codes and total."""
    levels: dict[str, dict[str, int] | None]
    """Per OLS regressor: complete records per distinct value, None past ten values."""


@dataclass(frozen=True)
class PooledAggregate:
    """What the protocol opens, identical at every party.

    ``counts[g][b]`` is the pooled count of group ``g``'s records complete for block ``b``
    (blocks past the first stay 0 in withheld groups: never opened); ``sums[(g, b)]`` the
    pooled sums of a released group's block with at least ``min_cell`` complete records;
    ``quantiles[(g, column, q)]`` a fixed-point code; ``ols_sums`` None unless the model's
    ``ols_count`` complete records reach ``min_cell``.
    """

    labels: list[Label]
    counts: list[list[int]]
    withheld: set[Label]
    sums: dict[tuple[int, int], list[int]]
    quantiles: dict[tuple[int, str, Fraction], int]
    ols_count: int
    ols_sums: list[int] | None
    rules: ReleaseRules
    decision: Decision = field(compare=False)
    """The table rules' decision (its table holds a sparse matrix: not compared)."""
    refused: dict[tuple[int, str, Fraction], str]
    """Quantile levels of released groups not searched, and why."""
    ols_refused: str | None

    def group_sums(self, group: int, blocks: int) -> list[list[int] | None]:
        """Per block, the group's pooled sums, or None where they were not opened."""
        return [self.sums.get((group, b)) for b in range(blocks)]

    def group_quantiles(self, group: int) -> dict[tuple[str, Fraction], int | None]:
        """The group's quantiles found, keyed by (column, probability)."""
        return {(c, q): code for (g, c, q), code in self.quantiles.items() if g == group}


def party(
    channel: Channel,
    parties: Sequence[str],
    data: Table,
    terms: AggregateTerms,
    progress: Progress | None = None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> PooledAggregate:
    """One party's side of the whole protocol; the result is identical at every party.

    ``parties`` lists every party (channel names), this one included, in the same order
    everywhere. ``owner`` holds this party's owner rules (floors, rules, release guard).
    Everything local and checkable happens before the first message.
    """
    state = PartyState(channel, check_parties(channel, parties), terms, progress or no_progress)
    local = local_statistics(state, data)
    rules = agree_rules(channel, state.parties, terms.min_cell, terms.rules, owner)
    state = replace(state, terms=replace(terms, min_cell=rules.min_cell))
    state.report("secure sums", 0, 3)
    counts, ols_count = open_record_counts(state, local)
    decision = release_table(
        channel,
        state.parties,
        terms.by,
        local.labels,
        [c[0] for c in counts],
        local.sums.counts[:, 0].tolist(),
        local.contributions,
        rules,
        owner,
        terms.cost,
        [stat.name for stat in terms.plan.stats],
    )
    labels = local.labels
    withheld = {label for label in labels if label in decision.withheld}
    released = [g for g, label in enumerate(labels) if label not in withheld and counts[g][0] > 0]
    state.report("secure sums", 1, 3)
    open_present_counts(state, local, counts, released)
    ols_refused = _ols_refusal(state, local, counts, released, ols_count, decision)
    state.report("secure sums", 2, 3)
    sums, ols_sums = open_sums(state, local, counts, released, ols_count, ols_refused is None)
    state.report("secure sums", 3, 3)
    quantiles, refused = search_quantiles(state, local.indexes, released, counts, sums)
    if owner.guard is not None:
        owner.guard.published(decision.candidate, frozenset(decision.withheld))
    return PooledAggregate(
        labels,
        counts,
        withheld,
        sums,
        quantiles,
        ols_count,
        ols_sums,
        rules,
        decision,
        refused,
        ols_refused,
    )


def _ols_refusal(
    state: PartyState,
    local: LocalStatistics,
    counts: Sequence[Sequence[int]],
    released: Sequence[int],
    ols_count: int,
    decision: Decision,
) -> str | None:
    """Why the OLS model is not opened (``privstats.stats.aggregate.floors``), or None.

    The regressor-level test runs (in lockstep) only when the other floors pass."""
    plan, min_cell = state.terms.plan, state.terms.min_cell
    if plan.formula is None:
        return None
    table = decision.protected.table
    shown = [c.count for c in table.cells if c.key not in decision.withheld]
    shown += [n for g in released for n in counts[g]]
    parameters = len(plan.formula.terms) + 1
    reason = ols_refusal(ols_count, parameters, min_cell, shown)
    if reason is not None or min_cell <= 1:
        return reason
    small = small_levels(state.channel, state.parties, local.levels, min_cell)
    scale = 1 << plan.fixed.frac_bits
    names = [f"{term}={int(code) / scale:g}" for term, code in small]
    return ols_refusal(ols_count, parameters, min_cell, shown, names)


def check_parties(channel: Channel, parties: Sequence[str]) -> tuple[str, ...]:
    """The party list, checked: 2 to MAX_PARTIES distinct names including this party."""
    order = tuple(parties)
    if not 2 <= len(order) <= MAX_PARTIES or len(set(order)) != len(order):
        raise ParameterError(
            f"an aggregate needs 2 to {MAX_PARTIES} distinct parties, got {list(order)}",
            parameter="parties",
        )
    if channel.party not in order:
        raise ParameterError(
            f"this party {channel.party!r} is not among the parties {list(order)}",
            parameter="parties",
        )
    return order


# --------------------------------------------------------------------------- agreement


def local_statistics(state: PartyState, data: Table) -> LocalStatistics:
    """Check this party's records, agree on terms and groups, and make its local sums.

    The only messages are the hello and the labels; the sums are checked against the
    ring's bound before any of them is shared.
    """
    terms, plan = state.terms, state.terms.plan
    state.report("local statistics", 0, 1)
    records = prepare_records(data, plan)
    if terms.levels is not None:
        check_levels(data, terms.by, terms.levels)
    local_codes, local_labels = group_labels(data, terms.by)
    agree(state)
    labels = agree_labels(state, records, local_codes, local_labels)
    codes = _agreed_codes(labels, local_codes, local_labels)
    groups, parties = len(labels), len(state.parties)
    sums = local_sums(records, codes, groups, plan.blocks)
    check_bounds(plan, data.path, parties, sums, plan.blocks)
    ols = None
    if plan.ols is not None:
        ols = local_sums(records, np.zeros(data.rows, dtype=np.intp), 1, [plan.ols])
        check_bounds(plan, data.path, parties, ols, [plan.ols])
    indexes = {column: quantile_index(records, codes, groups, column) for column in records.grid}
    top = max([2, *(getattr(rule, "n", 0) for rule in magnitude_rules(terms.rules))])
    contributions = {
        column: local_contributions(records, codes, groups, column, top)
        for column in magnitude_columns(plan)
    }
    levels = local_levels(records, plan)
    state.report("local statistics", 1, 1)
    return LocalStatistics(labels, sums, ols, indexes, contributions, levels)


def agree(state: PartyState) -> None:
    """Hello: check that every party runs the same terms with the same ordered party list."""
    canonical = json.dumps(
        {"spec": dict(state.terms.agreed), "parties": list(state.parties)}, sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    for peer in state.others:
        state.channel.send(peer, Hello(digest))
    for peer in state.others:
        if not hmac.compare_digest(state.channel.recv(peer, Hello).digest, digest):
            raise ProtocolError(
                f"{peer!r} runs the aggregate with other options or another party list",
                peer=peer,
                step="hello",
            )


def agree_labels(
    state: PartyState,
    records: Records,
    local_codes: npt.NDArray[np.intp],
    local_labels: Sequence[Label],
) -> list[Label]:
    """The groups every party uses, sorted: from the levels, or the union of all labels."""
    terms = state.terms
    if terms.levels is not None:
        return level_labels(terms.levels, terms.by)
    if not terms.by:
        return [()]
    used = np.unique(local_codes[records.keep])  # records left out have no say
    own = [local_labels[i] for i in used.tolist()]
    return exchange_labels(state, own)


def exchange_labels(state: PartyState, own: Sequence[Label]) -> list[Label]:
    """Send own label tuples to every peer; return the sorted union of all parties'."""
    channel, width = state.channel, len(state.terms.by)
    chunks = [own[i : i + LABELS_PER_MESSAGE] for i in range(0, len(own), LABELS_PER_MESSAGE)]
    for peer in state.others:
        for i, chunk in enumerate(chunks or [[]]):
            channel.send(peer, Labels([list(t) for t in chunk], i == max(len(chunks) - 1, 0)))
    union = set(own)
    for peer in state.others:
        while True:
            msg = channel.recv(peer, Labels)
            if any(len(label) != width for label in msg.labels):
                raise ProtocolError(
                    f"{peer!r} sent group labels that do not have {width} values",
                    peer=peer,
                    step="labels",
                )
            union.update(tuple(label) for label in msg.labels)
            if msg.last:
                break
    return sorted(union)


def _agreed_codes(
    labels: Sequence[Label], local_codes: npt.NDArray[np.intp], local_labels: Sequence[Label]
) -> npt.NDArray[np.intp]:
    """Per record, the index of its group among the agreed ``labels``."""
    position = {label: g for g, label in enumerate(labels)}
    # a label only of records left out maps anywhere: those records are masked out
    mapping = np.array([position.get(label, 0) for label in local_labels], dtype=np.intp)
    return mapping[local_codes] if local_codes.size else local_codes


def check_levels(data: Table, by: Sequence[str], levels: Mapping[str, Sequence[str]]) -> None:
    """Refuse a record whose group value is not among the declared levels."""
    for column in by:
        allowed = set(levels[column])
        values = data.categories[column]
        outside = np.flatnonzero(~np.isin(values, list(allowed)) & (values != ""))
        if outside.size:
            rows = tuple(int(r) + 1 for r in outside[:5])
            raise DatasetError(
                f"{data.path}: column '{column}' has value {str(values[outside[0]])!r} "
                f"(row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}) that is not "
                f"among the levels given ({', '.join(map(repr, levels[column]))})",
                path=data.path,
                column=column,
                rows=rows,
            )


def check_bounds(
    plan: Plan, path: str, parties: int, sums: LocalSums, blocks: Sequence[Block]
) -> None:
    """Refuse, before anything is shared, a local sum that could make the total wrap."""
    limit = SUM_RING.bound(parties)
    for b, block in enumerate(blocks):
        for m, monomial in enumerate(block.monomials):
            largest = max((abs(int(v)) for v in sums.sums[b][m]), default=0)
            if largest > limit:
                columns = sorted({*monomial, *([plan.weight] if plan.weight else [])})
                raise ParameterError(
                    f"{path}: column(s) {', '.join(map(repr, columns))} too large for exact "
                    f"secure sums: {plan.describe(monomial)} exceeds 2^{SUM_RING.bits - 1}/"
                    f"{parties}, the most {parties} parties can add exactly, at frac_bits="
                    f"{plan.fixed.frac_bits}; use a smaller frac_bits or rescale the column",
                    parameter="frac_bits",
                )


# --------------------------------------------------------------------------- opening


def open_record_counts(state: PartyState, local: LocalStatistics) -> tuple[list[list[int]], int]:
    """Phase 1: every group's pooled record count (block 0 filled in), and the model's
    (0 without a model)."""
    labels, blocks = local.labels, len(state.terms.plan.blocks)
    records_count = local.sums.counts[:, 0]
    if local.ols is not None:
        records_count = np.concatenate([records_count, local.ols.counts[0]])
    opened = state.open_counts(records_count)
    counts = [[int(c)] + [0] * (blocks - 1) for c in opened[: len(labels)]]
    ols_count = int(opened[-1]) if local.ols is not None else 0
    return counts, ols_count


def open_present_counts(
    state: PartyState, local: LocalStatistics, counts: list[list[int]], released: Sequence[int]
) -> None:
    """Phase 1b: fill in ``counts`` of the released groups' other blocks (complete records)."""
    blocks = len(state.terms.plan.blocks)
    if blocks == 1 or not released:
        return
    opened = state.open_counts(local.sums.counts[list(released), 1:].reshape(-1))
    for i, g in enumerate(released):
        counts[g][1:] = opened[i * (blocks - 1) : (i + 1) * (blocks - 1)]


def open_sums(
    state: PartyState,
    local: LocalStatistics,
    counts: Sequence[Sequence[int]],
    released: Sequence[int],
    ols_count: int,
    ols_allowed: bool = True,
) -> tuple[dict[tuple[int, int], list[int]], list[int] | None]:
    """Phase 2: the pooled sums of released groups' blocks with ``min_cell`` complete
    records, and the model's sums if its floors pass (``ols_allowed``; else None)."""
    plan, min_cell = state.terms.plan, state.terms.min_cell
    entries = [
        (g, b) for g in released for b in range(len(plan.blocks)) if counts[g][b] >= min_cell
    ]
    vector = [
        int(local.sums.sums[b][m][g])
        for g, b in entries
        for m in range(len(plan.blocks[b].monomials))
    ]
    ols_open = local.ols is not None and ols_allowed and ols_count >= min_cell
    if local.ols is not None and ols_open:
        vector.extend(int(column[0]) for column in local.ols.sums[0])
    pooled = state.open(vector, SUM_RING)  # shared even when empty: every party in lockstep
    sums: dict[tuple[int, int], list[int]] = {}
    at = 0
    for g, b in entries:
        width = len(plan.blocks[b].monomials)
        sums[(g, b)] = pooled[at : at + width]
        at += width
    return sums, (pooled[at:] if ols_open else None)


def search_quantiles(
    state: PartyState,
    indexes: Mapping[str, QuantileIndex],
    released: Sequence[int],
    counts: Sequence[Sequence[int]],
    sums: Mapping[tuple[int, int], Sequence[int]],
) -> tuple[dict[tuple[int, str, Fraction], int], dict[tuple[int, str, Fraction], str]]:
    """Phase 3 (``privstats.protocols.aggregate_quantiles``): the released groups'
    quantiles found by secure bisection, and the levels the floors refuse, with why."""
    ring = SUM_RING if state.terms.plan.weighted else COUNT_RING
    return quantiles_module.search(
        lambda values: state.open(values, ring),
        state.terms.plan,
        state.terms.min_cell,
        indexes,
        released,
        counts,
        sums,
        state.report,
    )
