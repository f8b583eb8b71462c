"""What a data owner imposes on every release from its dataset, beyond the job's own terms.

A job's spec states the rules the analyst asked for (``min_cell``, table rules); the owner's
node adds its own from its policy, and they travel into the role that computes on the
owner's data as one :class:`OwnerRules`. The protocol of a kind applies the stricter of the
two, so that a party's choice of input (a one-person peer list, a register of the target
and nine invented ids) or an analyst's choice of jobs cannot be used against another
party's data:

* ``min_cell`` and ``rules`` — table rules (``freq:10``, ``nk:1,80``, ``p:10``) on every
  released cell, with secondary suppression;
* ``min_peer_rows`` — the smallest input a peer may bring (a PSI set, a join's list);
* ``min_matched`` — per released cell, the owner's records in it: none, or at least this
  many (a cell the owner fills with one record and a peer with invented ones is withheld);
* ``guard`` — the owner's release history: :meth:`ReleaseGuard.check` names the cells of a
  candidate release that earlier releases from the same dataset would make computable
  (differencing), and :meth:`ReleaseGuard.published` records what was released. The node
  keeps it in its ledger; local runs have none.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["NO_OWNER_RULES", "CandidateRelease", "Label", "OwnerRules", "ReleaseGuard"]

Label = tuple[str, ...]
"""A cell's labels, one per group column (``()`` for a release with no groups)."""


@dataclass(frozen=True)
class CandidateRelease:
    """A table a job is about to release from the owner's dataset, before any value opens.

    ``counts`` holds every group's record count as the parties see it (withheld groups
    included; for a join or coverage, the matched records); ``withheld`` the groups the
    job's own rules already withhold; ``measures`` what else each released group carries
    (``"sum:wage"``, ``"quantile:wage:0.5"``, ``"matched"``).
    """

    kind: str
    dims: tuple[str, ...]
    counts: Mapping[Label, int]
    withheld: frozenset[Label] = frozenset()
    measures: tuple[str, ...] = ()
    population: str = ""
    """What selects the records besides the dataset (a peer's set, a filter), if known."""


class ReleaseGuard(Protocol):
    """The owner's release history, consulted before a release and told after it."""

    def check(self, candidate: CandidateRelease) -> Mapping[Label, str]:
        """Cells of ``candidate`` that earlier releases would make computable → why."""
        ...

    def published(self, candidate: CandidateRelease, withheld: Collection[Label]) -> None:
        """``candidate`` was released with ``withheld`` withheld (recorded when the job
        completes)."""
        ...


@dataclass(frozen=True)
class OwnerRules:
    """The release rules a data owner's node imposes on a job's use of its dataset."""

    min_cell: int = 1
    rules: tuple[str, ...] = ()
    min_peer_rows: int = 0
    min_matched: int = 0
    guard: ReleaseGuard | None = field(default=None, compare=False)

    def cell_floor(self, job_min_cell: int) -> int:
        """The smallest released cell: the job's ``min_cell`` or the owner's, if larger."""
        return max(job_min_cell, self.min_cell)


NO_OWNER_RULES = OwnerRules()
"""No rules beyond the job's own (local runs, kinds that release no table)."""
