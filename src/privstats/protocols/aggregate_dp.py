"""Secure aggregates under differential privacy: noise added inside the secure sum.

The DP variant of ``privstats.protocols.aggregate`` (same parties, hello and secure sums,
imported from there). Every party ends with the same :class:`NoisyAggregate`: per agreed
group, the noisy record count, and per measured column the noisy sum, the noisy count of
records with a value, and the noisy histogram over the column's public bins. No value is
ever opened without noise, to any party or the hub.

Protocol (every party, in lockstep)::

    hello     the digest of the agreed terms (DP terms included) and the party list
    local     the groups are every combination of the agreed ``levels`` (public: no label
              exchange, and no group's existence is revealed by the data); with a person
              unit, each party keeps at most ``max_records_per_unit`` records per person
              (the first in file order); each value is clamped to its public bounds and
              rounded to integer steps; per group: the record count, per sum column Σ of
              the steps, per mean column the count of values present, per quantile column
              the counts in each public bin
    noise     each party adds its own discrete Gaussian share (OpenDP, exact) to every
              entry of that vector, of the scale ``dp_release.plan_release`` gives for its
              measurement and the collusion bound
    open      one secure sum (additive shares in Z/2^64) of the noisy vector, opened to
              all: the only values anyone learns

Threat model: parties semi-honest; any coalition of at most ``collusion`` parties
(default: all but one) learns nothing beyond the opened noisy totals — the shares each
party receives are uniformly random in Z/2^64, and the total it sees carries the noise of
every honest party, which alone makes the release ρ-zCDP (see ``dp_release`` and
``dp_noise``). The hub relays sealed messages and sees their sizes only. What is opened,
to every party: the noisy vector, nothing else — no exact count, no label set (levels are
agreed), no suppression pattern. Under DP no minimum-cell rule is needed or applied: the
noise protects small cells, and the budget, not suppression, bounds what a series of
releases reveals (the node's ledger charges it). A party that lies about its data or
skips its noise is out of scope (semi-honest): skipping its own noise does not weaken the
others' protection, only the accuracy of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.data.tables import Table
from privstats.disclosure.dp_noise import party_noise
from privstats.disclosure.dp_quantiles import bin_index
from privstats.disclosure.dp_release import (
    DpPlan,
    DpTerms,
    Query,
    clamp_codes,
    count_query,
    histogram_query,
    plan_release,
    sum_query,
)
from privstats.errors import DatasetError, ParameterError
from privstats.progress import Progress, no_progress
from privstats.protocols.aggregate import (
    AggregateTerms,
    PartyState,
    agree,
    check_levels,
    check_parties,
)
from privstats.stats.aggregate import Plan, group_labels, level_labels
from privstats.transport.channel import Channel

__all__ = [
    "DP_STATS",
    "DpAggregateTerms",
    "NoisyAggregate",
    "dp_plan",
    "dp_queries",
    "local_vector",
    "party",
]

DP_STATS = ("count", "sum", "mean", "median", "quantile")
"""The statistics an aggregate can release under DP."""

Label = tuple[str, ...]


@dataclass(frozen=True)
class DpAggregateTerms:
    """The aggregate's agreed terms (hello, groups) and its DP terms."""

    base: AggregateTerms
    dp: DpTerms


@dataclass(frozen=True)
class NoisyAggregate:
    """What the protocol opens, identical at every party: per measurement name, the noisy
    integer vector (group-major; histograms ``groups × bins``), the groups and the plan."""

    labels: list[Label]
    vectors: dict[str, list[int]]
    plan: DpPlan


def dp_queries(plan: Plan, dp: DpTerms, groups: int) -> list[Query]:
    """The measurements an aggregate plan needs under DP (ParameterError for the others)."""
    refused = [s.name for s in plan.stats if s.kind not in DP_STATS]
    if refused or plan.weighted or plan.formula is not None:
        extra = (["weight"] if plan.weighted else []) + (["ols"] if plan.formula else [])
        raise ParameterError(
            f"under DP an aggregate releases only {', '.join(DP_STATS)}; not "
            f"{', '.join(refused + extra)} (drop them or run without --dp-epsilon)",
            parameter="stats",
        )
    queries = [count_query(groups)]
    sums = dict.fromkeys(s.columns[0] for s in plan.stats if s.kind in ("sum", "mean"))
    means = dict.fromkeys(s.columns[0] for s in plan.stats if s.kind == "mean")
    for column in sums:
        dp.bound(column)
        queries.append(sum_query(column, groups))
    queries += [count_query(groups, name=f"count:{column}") for column in means]
    for column in dict.fromkeys(c for c, _ in plan.quantiles):
        dp.bound(column)
        queries.append(histogram_query(column, groups, dp.bins))
    return queries


def dp_plan(plan: Plan, dp: DpTerms, groups: int, parties: int) -> DpPlan:
    """The noise plan of an aggregate: a person's records may be at every party, each
    party keeps at most ``max_records_per_unit`` of them, so one person moves the pooled
    data by at most that many records times the parties (one record: the record unit)."""
    contributions = dp.max_records_per_unit * (parties if dp.person_column else 1)
    return plan_release(
        dp, dp_queries(plan, dp, groups), parties=parties, contributions=contributions
    )


def party(
    channel: Channel,
    parties: Sequence[str],
    data: Table,
    terms: DpAggregateTerms,
    progress: Progress | None = None,
) -> NoisyAggregate:
    """One party's side; the result is identical at every party.

    Everything local and checkable (groups, bounds, the plan, this party's records)
    happens before the first message."""
    base = terms.base
    state = PartyState(channel, check_parties(channel, parties), base, progress or no_progress)
    labels = _groups(base)
    plan = dp_plan(base.plan, terms.dp, len(labels), len(state.parties))
    state.report("local statistics", 0, 1)
    vectors = local_vector(data, base, terms.dp, plan, labels)
    agree(state)
    state.report("noise and secure sum", 0, 1)
    names = list(vectors)
    noisy = np.concatenate(
        [vectors[name] + party_noise(len(vectors[name]), plan[name].party_sigma) for name in names]
    )
    opened = state.open_counts(noisy.astype(np.int64))
    state.report("noise and secure sum", 1, 1)
    out, at = {}, 0
    for name in names:
        out[name] = opened[at : at + len(vectors[name])]
        at += len(vectors[name])
    return NoisyAggregate(labels, out, plan)


def _groups(terms: AggregateTerms) -> list[Label]:
    if not terms.by:
        return [()]
    if terms.levels is None:
        raise ParameterError(
            "under DP the groups must be public: give the levels of every 'by' column "
            "(--level COL=A|B|C); groups taken from the data would reveal which exist",
            parameter="levels",
        )
    return level_labels(terms.levels, terms.by)


def _kept(data: Table, dp: DpTerms) -> npt.NDArray[np.bool_]:
    """Records that count: all (record unit), or each person's first ``max`` records."""
    column = dp.person_column
    if column is None:
        return np.ones(data.rows, dtype=bool)
    if column not in data.categories:
        raise DatasetError(
            f"{data.path}: the privacy unit's column {column!r} was not read",
            path=data.path,
            column=column,
        )
    ids = data.categories[column]
    _, inverse = np.unique(ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    sorted_ids = inverse[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_ids) != 0]) if ids.size else order
    rank = np.arange(ids.size) - np.repeat(starts, np.diff(np.r_[starts, ids.size]))
    keep = np.zeros(data.rows, dtype=bool)
    keep[order] = rank < dp.max_records_per_unit
    return keep


def local_vector(
    data: Table, terms: AggregateTerms, dp: DpTerms, plan: DpPlan, labels: Sequence[Label]
) -> dict[str, npt.NDArray[np.int64]]:
    """This party's exact vector per measurement (before its noise), from its records."""
    if terms.levels is not None:
        check_levels(data, terms.by, terms.levels)
    codes = _codes(data, terms.by, labels)
    keep = _kept(data, dp)
    groups = len(labels)
    vectors: dict[str, npt.NDArray[np.int64]] = {}
    for measurement in plan.measurements:
        query = measurement.query
        column = query.column
        if column is None:
            present = keep
            if query.name != "count":
                present = keep & ~np.isnan(data.values[query.name.partition(":")[2]])
            vectors[query.name] = np.bincount(codes[present], minlength=groups).astype(np.int64)
            continue
        present = keep & ~np.isnan(data.values[column])
        bounds = dp.bound(column)
        if query.kind == "sum":
            steps = clamp_codes(data.values[column][present], bounds, measurement.quantum)
            sums = np.zeros(groups, dtype=np.int64)
            np.add.at(sums, codes[present], steps)  # exact: |step| ≤ 2²¹
            vectors[query.name] = sums
        else:
            bins = bin_index(data.values[column][present], bounds, dp.bins)
            cells = codes[present] * dp.bins + bins
            vectors[query.name] = np.bincount(cells, minlength=groups * dp.bins).astype(np.int64)
    return vectors


def _codes(data: Table, by: Sequence[str], labels: Sequence[Label]) -> npt.NDArray[np.intp]:
    """Per record, the index of its group among the agreed labels."""
    local_codes, local_labels = group_labels(data, by)
    position: Mapping[Label, int] = {label: g for g, label in enumerate(labels)}
    mapping = np.array([position[label] for label in local_labels], dtype=np.intp)
    return mapping[local_codes] if local_codes.size else local_codes
