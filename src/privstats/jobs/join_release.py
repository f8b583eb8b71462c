"""The release rules of a join-aggregate, at both parties: what each withholds and why.

The left party A plans the released table (:class:`LeftPlanner`): the table of matched
counts with every margin (:mod:`privstats.disclosure.release_table`), primary rules — the
job's ``min_cell`` and frequency rules, A's owner floor (``min_cell``, ``min_matched``),
the cells A's release guard names, and the cells the right party refused — then MILP
secondary suppression over the table with its margins, so that no withheld cell can be
computed from the published cells and margins. A proposes the result to the right party B.

B reviews each proposal (:func:`right_approver`): B's floor (the job's ``min_cell`` or its
owner's, and its ``min_matched``), the magnitude rules of the job and of its owner —
``nk:n,k`` dominance and ``p:p`` — on its own values of each proposed cell (the
contributions A sends when B asks, see :mod:`privstats.protocols.join_aggregate.release`
for what that reveals to B), and its release guard. B refuses to decrypt a cell it
withholds; A then plans again. So B, not only A, enforces B's rules, whatever list A
chose to bring.

Not covered here: magnitude rules on the *left* party's value columns (A would have to
learn which of its persons matched to evaluate them); the secondary suppression is
chosen on the count table (A never sees a withheld sum), so a cell withheld for
dominance is protected as a count, and its sum only through the same pattern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from privstats.disclosure.owner import CandidateRelease, OwnerRules
from privstats.disclosure.release_table import count_table, protect_counts
from privstats.disclosure.tables import (
    TOTAL,
    Cell,
    FrequencyRule,
    ProtectedTable,
    Rule,
    Table,
    parse_rule,
)
from privstats.errors import ComputationError, DatasetError
from privstats.protocols.join_aggregate import (
    Approver,
    Candidate,
    Label,
    ReleaseCell,
    ReleasePlan,
)

__all__ = [
    "KIND_NAME",
    "CellStatus",
    "LeftPlanner",
    "floor_rule",
    "magnitude_rules",
    "right_approver",
    "right_candidate",
]

KIND_NAME = "join_aggregate"
_SEPARATOR = " — "


def floor_rule(spec_min_cell: int, spec_rules: Sequence[str], owner: OwnerRules) -> FrequencyRule:
    """One frequency rule at the largest floor: the job's ``min_cell`` and ``freq`` rules,
    the owner's ``min_cell``, ``freq`` rules and ``min_matched``."""
    floors = [owner.cell_floor(spec_min_cell), owner.min_matched]
    for rule in (*spec_rules, *owner.rules):
        parsed = parse_rule(rule)
        if isinstance(parsed, FrequencyRule):
            floors.append(parsed.minimum)
    return FrequencyRule(max(1, *floors))


def magnitude_rules(spec_rules: Sequence[str], owner: OwnerRules) -> list[Rule]:
    """The job's and the owner's rules on magnitudes (all but frequency rules)."""
    parsed = [parse_rule(rule) for rule in (*spec_rules, *owner.rules)]
    return [rule for rule in parsed if not isinstance(rule, FrequencyRule)]


@dataclass(frozen=True)
class CellStatus:
    """One cell of A's released table: the groups it adds up, count, status and reasons."""

    key: Label
    groups: tuple[int, ...]
    count: int
    status: str  # "safe", "empty", "primary" or "secondary"
    rules: tuple[str, ...] = ()
    reason: str = ""


def _split(reason: str) -> tuple[str, str]:
    """(rule, text) of a refusal reason written ``"rule — text"``."""
    rule, sep, text = reason.partition(_SEPARATOR)
    return (rule, text) if sep else ("refused", reason)


@dataclass
class LeftPlanner:
    """A's release rule, called by the protocol with the counts and B's refusals so far.

    ``labels[g]`` are group ``g``'s values of the ``by`` columns. The table and its
    protection are :func:`privstats.disclosure.release_table.protect_counts` (the same for
    every kind). After the protocol, :attr:`cells` holds the last (agreed) plan's cells
    with their status, and :attr:`guarded` the cells A's release guard withheld.
    """

    dims: tuple[str, ...]
    labels: Sequence[Label]
    floor: FrequencyRule
    owner: OwnerRules
    measures: tuple[str, ...]
    cells: list[CellStatus] = field(default_factory=list)
    guarded: dict[Label, str] = field(default_factory=dict)
    _checked: bool = False

    def __call__(self, counts: Sequence[int], refused: Mapping[Label, str]) -> ReleasePlan:
        by_label = self._by_label(counts)
        if not self._checked:
            self._check_guard(by_label)
        extra = {**{k: f"guard{_SEPARATOR}{r}" for k, r in self.guarded.items()}, **refused}
        try:
            protection = protect_counts(
                self.dims, by_label, min_cell=self.floor.minimum, extra=extra
            )
            protected = protection.protected
        except ComputationError:  # no pattern protects a cell: withhold every cell
            protected = _all_withheld(count_table(self.dims, by_label, None))
        self.cells = self._statuses(protected, extra)
        released = tuple(
            ReleaseCell(c.key, c.groups) for c in self.cells if c.status in ("safe", "empty")
        )
        withheld = tuple(c.key for c in self.cells if c.status in ("primary", "secondary"))
        return ReleasePlan(released, withheld)

    def _by_label(self, counts: Sequence[int]) -> dict[Label, int]:
        if any(TOTAL in label for label in self.labels):
            raise DatasetError(
                f"a group value is {TOTAL!r}, the name of a margin; rename that category",
                column=self.dims[0] if self.dims else None,
            )
        return {label: int(n) for label, n in zip(self.labels, counts, strict=True)}

    def _key(self, cell_key: Label) -> Label:
        """The cell's labels in results and messages (``()`` for the one cell without by)."""
        return cell_key if self.dims else ()

    def _members(self) -> dict[Label, list[int]]:
        members: dict[Label, list[int]] = {}
        for g, label in enumerate(self.labels):
            for key in _ancestors(label) if self.dims else [()]:
                members.setdefault(key, []).append(g)
        return members

    def _statuses(self, protected: ProtectedTable, extra: Mapping[Label, str]) -> list[CellStatus]:
        """Each cell that adds up at least one group: status, rules and reason."""
        members = self._members()
        out = []
        for cell, status, verdicts in zip(
            protected.table.cells, protected.status, protected.verdicts, strict=True
        ):
            key = self._key(cell.key)
            if not members.get(key):
                continue  # a combination no group has: known empty, not reported
            rules = tuple(v.rule for v in verdicts)
            reason = "; ".join(f"{v.rule}: {v.reason}" for v in verdicts)
            if key in extra and status == "primary":
                rule, text = _split(extra[key])
                rules, reason = (rule,), f"{rule}: {text}"
            elif rules and status == "primary":
                rules = (self.floor.name,)
                reason = f"{self.floor.name}: {verdicts[0].reason}"
            if status == "secondary":
                reason = "secondary suppression: withheld so that no withheld cell can be "
                reason += "computed from the published cells and margins"
            out.append(CellStatus(key, tuple(members[key]), cell.count, str(status), rules, reason))
        return out

    def _check_guard(self, by_label: Mapping[Label, int]) -> None:
        """Ask A's release guard once, with every cell's count, before any sum opens."""
        self._checked = True
        if self.owner.guard is None:
            return
        table = count_table(self.dims, by_label, None)
        candidate = CandidateRelease(
            kind=KIND_NAME,
            dims=self.dims,
            counts={self._key(cell.key): cell.count for cell in table.cells},
            withheld=frozenset(
                self._key(cell.key) for cell in table.cells if 0 < cell.count < self.floor.minimum
            ),
            measures=self.measures,
            population="matched with the right party's dataset",
        )
        self.guarded = {tuple(k): str(r) for k, r in self.owner.guard.check(candidate).items()}

    def candidate(self) -> CandidateRelease:
        """The release as agreed, for the guard's record (every cell's count)."""
        return CandidateRelease(
            kind=KIND_NAME,
            dims=self.dims,
            counts={c.key: c.count for c in self.cells},
            withheld=frozenset(c.key for c in self.cells if c.status in ("primary", "secondary")),
            measures=self.measures,
            population="matched with the right party's dataset",
        )


def _ancestors(label: Label) -> list[Label]:
    """The leaf ``label`` and every margin it adds to (each column its value or Total)."""
    keys: list[Label] = [()]
    for value in label:
        keys = [(*key, v) for key in keys for v in (value, TOTAL)]
    return keys


def _all_withheld(table: Table) -> ProtectedTable:
    """Every non-empty cell withheld (when secondary suppression finds no pattern)."""
    status = tuple("empty" if cell.count == 0 else "secondary" for cell in table.cells)
    verdicts = tuple(() for _ in table.cells)
    return ProtectedTable(table, status, verdicts)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the right party


def right_candidate(
    candidate: Candidate, dims: tuple[str, ...], measures: tuple[str, ...]
) -> CandidateRelease:
    """B's view of A's proposal for B's guard: the proposed cells' counts (B learns no
    count of a withheld cell) and the withheld cells' names."""
    return CandidateRelease(
        kind=KIND_NAME,
        dims=dims,
        counts=dict(zip(candidate.keys, candidate.counts, strict=True)),
        withheld=frozenset(candidate.withheld),
        measures=measures,
        population="matched with the left party's list",
    )


def right_approver(
    floor: FrequencyRule,
    rules: Sequence[Rule],
    owner: OwnerRules,
    columns: Sequence[str],
    dims: tuple[str, ...],
    measures: tuple[str, ...],
) -> Approver:
    """B's review of a proposal: its floor on counts, ``rules`` on its values of each
    cell (by absolute value), and its release guard; proposed cells → why withheld."""
    needed = max((rule.contributions_needed for rule in rules), default=0)

    def approve(candidate: Candidate) -> dict[Label, str]:
        refused: dict[Label, str] = {}
        for i, (key, n) in enumerate(zip(candidate.keys, candidate.counts, strict=True)):
            if 0 < n < floor.minimum:
                refused[key] = f"{floor.name}{_SEPARATOR}{n} matched, fewer than {floor.minimum}"
            elif n and candidate.contributions is not None:
                found = _magnitude(key, n, candidate.contributions[i], rules, columns, needed)
                if found:
                    refused[key] = found
        if owner.guard is not None:
            checked = owner.guard.check(right_candidate(candidate, dims, measures))
            for key, reason in checked.items():
                label = tuple(key)
                if label in candidate.keys and label not in refused:
                    refused[label] = f"guard{_SEPARATOR}{reason}"
        return refused

    return approve


def _magnitude(
    key: Label,
    count: int,
    per_column: Sequence[Sequence[int]],
    rules: Sequence[Rule],
    columns: Sequence[str],
    needed: int,
) -> str:
    """The first magnitude rule a cell fails on one of B's columns, as a reason; or ''."""
    for name, values in zip(columns, per_column, strict=True):
        magnitudes = np.abs(np.asarray(values, dtype=float))
        top = tuple(sorted(magnitudes.tolist(), reverse=True)[: max(needed, 1)])
        cell = Cell(key, count, float(magnitudes.sum()), top)
        for rule in rules:
            if rule.check(cell) is not None:  # the figures stay with B: they would tell A
                return f"{rule.name}{_SEPARATOR}{name}: its largest values dominate the cell"
    return ""
