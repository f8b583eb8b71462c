"""A data owner's release history and the differencing guard that checks new releases.

Each non-DP table a job released from a dataset is kept as a :class:`Release`: the kind,
the grouping (``dims``), what selected the records (``population``: a filter, a peer's
set), every group's record count (withheld ones too: the parties saw them) and which
groups were withheld. :class:`HistoryGuard` is the :class:`~privstats.disclosure.owner.
ReleaseGuard` a node binds to one dataset: before a job opens any value, its
:meth:`~HistoryGuard.check` names the cells of the candidate table that, together with
the earlier releases, would let an analyst compute a withheld or below-minimum cell, each
with a reason the analyst can read. The kind withholds those cells too.

Two checks, both on exact counts (the guard never sees a released sum or value):

* **Small differences** (:func:`small_differences`): the same cell (same grouping and
  labels, or the sum of released finer cells) released earlier with a count that differs
  by 1 … ``min_cell − 1``: overlapping populations, updated data, a peer's padded input.
  Subtracting the two releases would describe those few records.
* **Linear recovery** (:mod:`privstats.disclosure.differencing`): every release is a set
  of linear equations over *atoms* (the finest cross-classification of the groupings
  involved); a withheld cell, a margin of fewer than ``min_cell`` records or an atom
  fixed below it must not be a linear combination of published cells (nested groupings
  ``region`` and ``region × sex``; a total with one category split off), also given the
  groups the published counts show to be empty. Cells are withheld greedily until none
  is. A combination that only the earlier releases already allowed is not charged to the
  new job, and a cell they already disclose is never withheld.

What is not covered: releases of other datasets (the guard is per dataset), DP releases
(they spend budget instead), category recodings the labels do not show (``North`` in one
job, ``North-East`` and ``North-West`` in another), and combinations of more than one
small group that is neither a cell nor a margin of some release.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

from privstats.disclosure.owner import CandidateRelease, Label
from privstats.errors import ParameterError

__all__ = [
    "THIS_JOB",
    "HistoryGuard",
    "Release",
    "describe_cell",
    "differencing_check",
    "known_cells",
    "parse_filter",
    "population_filter",
    "small_differences",
]

THIS_JOB = ""
"""The job id under which a candidate release is checked before it has one in the history."""

#: A margin label: the cell sums every category of that dimension (as
#: :data:`privstats.disclosure.tables.TOTAL` marks margins).
TOTAL = "Total"

CellKey = tuple[tuple[str, ...], Label]
"""A cell as ``(dims, labels)``; the grand total is ``((), ())``."""


@dataclass(frozen=True)
class Release:
    """One table released from a dataset (or a candidate about to be)."""

    job_id: str
    kind: str
    dims: tuple[str, ...]
    counts: Mapping[Label, int]
    withheld: frozenset[Label] = frozenset()
    measures: tuple[str, ...] = ()
    population: str = ""
    at: str = ""

    @classmethod
    def of(
        cls, job_id: str, candidate: CandidateRelease, withheld: Collection[Label], at: str = ""
    ) -> Release:
        """``candidate`` as released by job ``job_id`` with ``withheld`` withheld."""
        return cls(
            job_id=job_id,
            kind=candidate.kind,
            dims=tuple(candidate.dims),
            counts={tuple(label): int(count) for label, count in candidate.counts.items()},
            withheld=frozenset(tuple(label) for label in withheld),
            measures=tuple(candidate.measures),
            population=candidate.population,
            at=at,
        )

    def __post_init__(self) -> None:
        for label, count in self.counts.items():
            if len(label) != len(self.dims):
                raise ParameterError(
                    f"release of job {self.job_id or '(this job)'}: cell {label!r} has "
                    f"{len(label)} labels for {len(self.dims)} dimensions {self.dims!r}",
                    parameter="counts",
                )
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ParameterError(
                    f"release of job {self.job_id or '(this job)'}: cell {label!r} has count "
                    f"{count!r}; counts are whole numbers ≥ 0",
                    parameter="counts",
                )

    @property
    def unknown(self) -> frozenset[Label]:
        """Withheld cells whose count this party was not told (a peer's withheld cells)."""
        return frozenset(label for label in self.withheld if label not in self.counts)

    def interior_labels(self) -> list[Label]:
        """Every cell that is not a margin, with or without a known count."""
        return sorted(label for label in {*self.counts, *self.withheld} if TOTAL not in label)

    @property
    def source(self) -> str:
        """How a reason names this release: ``job 0123…`` or ``this job``."""
        return f"job {self.job_id}" if self.job_id else "this job"

    def published(self) -> list[Label]:
        """The released cells, in a stable order."""
        return sorted(label for label in self.counts if label not in self.withheld)

    def interior(self) -> dict[Label, int]:
        """The cells that are not margins (no ``Total`` label)."""
        return {label: n for label, n in self.counts.items() if TOTAL not in label}

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible record (the ledger stores it; ``node releases`` shows it)."""
        return {
            "job": self.job_id,
            "kind": self.kind,
            "dims": list(self.dims),
            "measures": list(self.measures),
            "population": self.population,
            "at": self.at,
            "cells": [
                {
                    "by": list(label),
                    "count": self.counts.get(label),
                    "withheld": label in self.withheld,
                }
                for label in sorted({*self.counts, *self.withheld})
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Release:
        """The release :meth:`to_json` wrote."""
        cells = data["cells"]
        return cls(
            job_id=str(data["job"]),
            kind=str(data["kind"]),
            dims=tuple(data["dims"]),
            counts={
                tuple(cell["by"]): int(cell["count"]) for cell in cells if cell["count"] is not None
            },
            withheld=frozenset(tuple(cell["by"]) for cell in cells if cell["withheld"]),
            measures=tuple(data.get("measures", ())),
            population=str(data.get("population", "")),
            at=str(data.get("at", "")),
        )


FILTER = "filter:"


def population_filter(filters: Mapping[str, Collection[str]]) -> str:
    """The ``population`` of a release restricted to records whose ``dim`` has one of the
    given labels (every dim given): ``filter:{"region": ["Islands", "North"]}``.

    A kind that states its filter this way lets the guard model the release exactly (as a
    subset of the dataset's atoms); any other text is a population of its own, linked to
    others only where counts agree.
    """
    if not filters or any(not values for values in filters.values()):
        raise ParameterError(
            "a population filter needs at least one dimension, each with at least one label",
            parameter="population",
        )
    body = {dim: sorted(set(values)) for dim, values in sorted(filters.items())}
    return FILTER + json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def parse_filter(population: str) -> dict[str, frozenset[str]] | None:
    """The filter :func:`population_filter` wrote, or None for any other population."""
    if not population.startswith(FILTER):
        return None
    try:
        body = json.loads(population[len(FILTER) :])
    except ValueError:
        return None
    if not isinstance(body, dict) or not body:
        return None
    out: dict[str, frozenset[str]] = {}
    for dim, values in body.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return None
        out[str(dim)] = frozenset(values)
    return out


def describe_cell(dims: Sequence[str], labels: Sequence[str]) -> str:
    """``region=Islands,sex=F``; ``the total`` for a table without groups."""
    if not dims:
        return "the total"
    return ",".join(f"{dim}={label}" for dim, label in zip(dims, labels, strict=True))


def known_cells(release: Release) -> dict[CellKey, tuple[int, list[Label]]]:
    """Every cell an analyst can add up from ``release``'s published cells.

    For each subset of the release's dims: a coarser cell is known when every finer cell
    in it is published (or it was published itself). Value: the count and the release's
    cells it is the sum of. Margins (``Total`` labels) count as published cells of the
    coarser grouping.
    """
    known: dict[CellKey, tuple[int, list[Label]]] = {}
    interior = release.interior()
    dims = release.dims
    for size in range(len(dims) + 1):
        for picked in combinations(range(len(dims)), size):
            sub = tuple(dims[i] for i in picked)
            groups: dict[Label, list[Label]] = {}
            for label in release.interior_labels():
                groups.setdefault(tuple(label[i] for i in picked), []).append(label)
            for coarse, members in groups.items():
                if all(member not in release.withheld for member in members):
                    known[(sub, coarse)] = (sum(interior[m] for m in members), members)
    for label, count in release.counts.items():  # published margins
        if TOTAL in label and label not in release.withheld:
            kept = [i for i, value in enumerate(label) if value != TOTAL]
            sub = tuple(dims[i] for i in kept)
            known.setdefault((sub, tuple(label[i] for i in kept)), (count, [label]))
    return known


def small_differences(
    earlier: Iterable[Release], candidate: Release, min_cell: int
) -> dict[Label, str]:
    """Candidate cells whose count differs from an earlier release's same cell by 1 … min−1.

    The cell may be one the analyst adds up (see :func:`known_cells`) on either side; the
    candidate's smallest cell in the sum is withheld, which makes the sum unknown.
    """
    reasons: dict[Label, str] = {}
    theirs = [
        (release, known_cells(release))
        for release in earlier
        if _may_nest(release.population, candidate.population)
    ]
    while True:
        current = replace(candidate, withheld=candidate.withheld | set(reasons))
        found = _first_difference(known_cells(current), theirs, min_cell)
        if found is None:
            return reasons
        key, members, release = found
        smallest = min(members, key=lambda m: (candidate.counts[m], m))
        cell = describe_cell(*key)
        reasons[smallest] = (
            f"{cell} would differ from {cell} of {release.source} by fewer than "
            f"min_cell = {min_cell} records (overlapping populations or updated data); "
            "the difference would describe those records"
        )


def _may_nest(a: str, b: str) -> bool:
    """Whether one population may hold the other (then a difference is a set of records):
    the dataset (``""``) holds every filter, a filter holds a narrower one; populations
    stated otherwise may nest for all the guard knows."""
    first, second = (parse_filter(a) if a else {}), (parse_filter(b) if b else {})
    if first is None or second is None:
        return True

    def within(inner: dict[str, frozenset[str]], outer: dict[str, frozenset[str]]) -> bool:
        return all(dim in inner and inner[dim] <= values for dim, values in outer.items())

    return within(first, second) or within(second, first)


def _first_difference(
    mine: Mapping[CellKey, tuple[int, list[Label]]],
    theirs: Sequence[tuple[Release, Mapping[CellKey, tuple[int, list[Label]]]]],
    min_cell: int,
) -> tuple[CellKey, list[Label], Release] | None:
    """The finest cell known on both sides whose counts differ by 1 … ``min_cell − 1``."""
    for key in sorted(mine, key=lambda k: (-len(k[0]), k)):
        count, members = mine[key]
        for release, known in theirs:
            if key in known and 0 < abs(count - known[key][0]) < min_cell:
                return key, members, release
    return None


def differencing_check(
    earlier: Sequence[Release], candidate: CandidateRelease, *, min_cell: int
) -> dict[Label, str]:
    """The cells of ``candidate`` to withhold so that no earlier or new withheld cell, and
    no margin of fewer than ``min_cell`` records, becomes computable → why (see module doc).
    """
    from privstats.disclosure.differencing import linear_check  # scipy, on first use

    if min_cell < 1:
        raise ParameterError(f"min_cell must be ≥ 1, got {min_cell}", parameter="min_cell")
    release = Release.of(THIS_JOB, candidate, candidate.withheld)
    reasons = small_differences(earlier, release, min_cell)
    if reasons:
        release = Release.of(THIS_JOB, candidate, candidate.withheld | set(reasons))
    found, public = linear_check(earlier, release, min_cell, optional=set(reasons))
    reasons = {label: why for label, why in reasons.items() if label not in public}
    for label, reason in found.items():
        reasons.setdefault(label, reason)
    return {label: reason for label, reason in reasons.items() if label not in candidate.withheld}


@dataclass
class HistoryGuard:
    """The :class:`~privstats.disclosure.owner.ReleaseGuard` of one dataset's history.

    ``earlier`` gives the dataset's releases so far (read at each :meth:`check`, so a
    release committed meanwhile counts). :meth:`published` only buffers the release in
    :attr:`pending`; whoever keeps the history (the node's ledger) stores it once the job
    has released it.
    """

    earlier: Callable[[], Sequence[Release]]
    job_id: str
    min_cell: int
    pending: list[Release] = field(default_factory=list)

    def check(self, candidate: CandidateRelease) -> Mapping[Label, str]:
        return differencing_check(self.earlier(), candidate, min_cell=self.min_cell)

    def published(self, candidate: CandidateRelease, withheld: Collection[Label]) -> None:
        self.pending.append(Release.of(self.job_id, candidate, withheld))
