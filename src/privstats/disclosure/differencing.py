"""Linear recovery across releases: which new cells would let an analyst solve for a hidden one.

Every release of a dataset is a set of linear equations over *atoms*, the finest
cross-classification of all groupings released from the same records: a published cell
of a coarser release is the sum of the atoms in it. An analyst who knows the published
cells knows every linear combination of them, for every additive measure at once (counts,
sums, a coverage's matched records); so a *sensitive* group — a cell withheld by some
release, a margin of fewer than ``min_cell`` records, or an atom whose count the
published counts fix between 1 and ``min_cell`` − 1 — is disclosed when its vector lies
in the row span of the published cells. Non-negative counts tell more: atoms that are 0
in every solution of the published counts are found by one LP (HiGHS); on the remaining
atoms every solution can move in every direction the equations allow, so a group is
pinned exactly when its vector restricted to them is in the span there (one SVD).

Records of different populations (a peer's set) are different atoms, except that cells
with equal counts in two populations are taken to hold the same records (a link
equation); a filter on dimensions selects atoms of the dataset's own population; a
release whose counts contradict an earlier one of the same population (the data was
updated) starts a population of its own. All of these can only add equations an analyst
might use.

:func:`linear_check` withholds cells of the candidate release greedily, in rounds (per
disclosed group: a cell every combination needs first, else the smallest cell of the
sparsest combination) until no sensitive group is recoverable that was not already
recoverable from the earlier releases alone, and says for each why. A table of a few
hundred cells over a history of a few releases takes seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from privstats.disclosure.history import TOTAL, Release, describe_cell, parse_filter
from privstats.disclosure.owner import Label
from privstats.errors import ComputationError

__all__ = ["MAX_ATOMS", "linear_check"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

MAX_ATOMS = 4000
"""The most atoms the check solves for; beyond, it refuses (fails closed) and says why."""

_TOL = 1e-7


@dataclass(frozen=True)
class _Row:
    vector: FloatArray
    count: float
    text: str
    label: Label | None = None
    """The candidate's cell (only rows the guard may withhold)."""


@dataclass(frozen=True)
class _Sensitive:
    vector: FloatArray
    text: str
    label: Label | None = None
    """The candidate's cell, for a cell the candidate withholds."""


Filter = dict[str, frozenset[str]]
_OTHER = "\x00other"
"""A label of a filter's dimension that no release of the population names."""


def _filter(release: Release) -> Filter:
    return parse_filter(release.population) or {}


class _Atoms:
    """The atoms of every population, as columns of one equation matrix."""

    def __init__(self, releases: Sequence[Release], keys: Sequence[str]) -> None:
        self.columns: dict[str, tuple[tuple[str, ...], list[Label], int]] = {}
        offset = 0
        for key in dict.fromkeys(keys):
            members = [r for r, k in zip(releases, keys, strict=True) if k == key]
            dims, atoms = _join(members)
            self.columns[key] = (dims, atoms, offset)
            offset += len(atoms)
            _check_size(offset)
        self.size = offset

    def describe(self, column: int) -> str:
        """The group atom ``column`` holds: ``region=Islands,sex=M,age=other``."""
        for key, (dims, atoms, offset) in self.columns.items():
            if offset <= column < offset + len(atoms):
                labels = [v if v != _OTHER else "other" for v in atoms[column - offset]]
                shown = [(d, v) for d, v in zip(dims, labels, strict=True) if v]
                where = key.split("\x00")[0]
                group = describe_cell([d for d, _ in shown], [v for _, v in shown])
                return group + (f" (population {where})" if where else "")
        raise IndexError(column)

    def vector(
        self, key: str, dims: Sequence[str], label: Label, where: Filter | None = None
    ) -> FloatArray:
        """The 0/1 vector of cell ``label`` of grouping ``dims`` in population ``key``
        (among the records ``where`` selects)."""
        all_dims, atoms, offset = self.columns[key]
        fixed = [
            (all_dims.index(d), value)
            for d, value in zip(dims, label, strict=True)
            if value != TOTAL
        ]
        among = [(all_dims.index(d), values) for d, values in (where or {}).items()]
        out = np.zeros(self.size)
        for i, atom in enumerate(atoms):
            if all(atom[j] == value for j, value in fixed) and all(
                atom[j] in values for j, values in among
            ):
                out[offset + i] = 1.0
        return out


def _check_size(atoms: int) -> None:
    if atoms > MAX_ATOMS:
        raise ComputationError(
            f"the release history is too large to check for differencing (more than "
            f"{MAX_ATOMS} cross-classified groups); release coarser tables, or start a new "
            "history for the dataset",
            step="release guard",
        )


def _join(releases: Sequence[Release]) -> tuple[tuple[str, ...], list[Label]]:
    """The atoms of one population: label combinations every release that covers them
    has a record in (a filtered release covers only the records its filter selects)."""
    filters = [_filter(r) for r in releases]
    named = [*(d for r in releases for d in r.dims), *(d for f in filters for d in f)]
    dims = tuple(dict.fromkeys(named))
    seen: dict[str, set[str]] = {d: set() for d in dims}
    for release, where in zip(releases, filters, strict=True):
        for label in release.interior_labels():
            for d, value in zip(release.dims, label, strict=True):
                seen[d].add(value)
        for d, values in where.items():
            seen[d] |= values
    partial: list[dict[str, str]] = [{}]
    order = sorted(range(len(releases)), key=lambda i: (bool(filters[i]), -len(releases[i].dims)))
    for i in order:
        release, where = releases[i], filters[i]
        for d in where:  # a filter's dimension no release assigned yet: every label
            labels = [*sorted(seen[d]), _OTHER]
            partial = [
                {**have, d: value}
                for have in partial
                for value in ([have[d]] if d in have else labels)
            ]
        cells = [
            dict(zip(release.dims, label, strict=True))
            for label in release.interior_labels()
            if release.counts.get(label, 1) > 0  # a withheld cell of unknown count has records
        ]
        grown: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for have in partial:
            if not all(have[d] in values for d, values in where.items()):
                grown[tuple(sorted(have.items()))] = have  # outside this release's records
                continue
            for cell in cells:
                if all(have.get(d, v) == v for d, v in cell.items()):
                    merged = {**have, **cell}
                    grown[tuple(sorted(merged.items()))] = merged
        partial = list(grown.values())
        _check_size(len(partial))
    return dims, sorted(tuple(p.get(d, "") for d in dims) for p in partial)


def _projections(release: Release) -> dict[tuple[tuple[str, ...], Label], int]:
    """Every margin of ``release`` (over each subset of its dims) → its count; margins with
    a withheld cell of unknown count in them are left out."""
    out: dict[tuple[tuple[str, ...], Label], int] = {}
    unknown: set[tuple[tuple[str, ...], Label]] = set()
    interior = release.interior()
    for size in range(len(release.dims) + 1):
        for picked in combinations(range(len(release.dims)), size):
            sub = tuple(release.dims[i] for i in picked)
            for label in release.interior_labels():
                key = (sub, tuple(label[i] for i in picked))
                if label in interior:
                    out[key] = out.get(key, 0) + interior[label]
                else:
                    unknown.add(key)
    return {key: count for key, count in out.items() if key not in unknown}


def _margins(release: Release, common: Sequence[str], where: Filter) -> dict[Label, int | None]:
    """``release``'s counts over ``common``, among the records ``where`` selects (None
    where a withheld cell of unknown count falls in)."""
    index = [release.dims.index(d) for d in common]
    out: dict[Label, int | None] = {}
    for label in release.interior_labels():
        cell = dict(zip(release.dims, label, strict=True))
        count = release.counts.get(label)
        if count != 0 and all(cell[d] in values for d, values in where.items()):
            key = tuple(label[i] for i in index)
            have = out.get(key, 0)
            out[key] = None if have is None or count is None else have + count
    return out


def _agree(first: dict[Label, int | None], second: dict[Label, int | None]) -> bool:
    """Whether two margins agree wherever both are known."""
    for key in set(first) | set(second):
        a, b = first.get(key, 0), second.get(key, 0)
        if a is not None and b is not None and a != b:
            return False
    return True


def _consistent(a: Release, b: Release) -> bool:
    """Whether two releases agree on every margin over the dims they share (a filtered
    release against the records of the other its filter selects, where it can tell)."""
    fa, fb = _filter(a), _filter(b)
    if fa and fb and fa != fb:
        return True  # two different subsets: nothing to compare
    if fa and not fb:
        a, b, fa, fb = b, a, fb, fa
    if fb and not fa:  # b filtered: compare with a's records in b's filter
        if not set(fb) <= set(a.dims):
            return True
        common = [d for d in b.dims if d in a.dims]
        return _agree(_margins(a, common, fb), _margins(b, common, {}))
    common = [d for d in a.dims if d in b.dims]
    return _agree(_margins(a, common, {}), _margins(b, common, {}))


def _population_keys(releases: Sequence[Release]) -> list[str]:
    """A population per release: its stated one (a filter: the dataset's), split where
    counts show updated data."""
    keys: list[str] = []
    for index, release in enumerate(releases):
        base = "" if _filter(release) else release.population
        chosen = None
        for key in dict.fromkeys(k for k in keys if k.split("\x00")[0] == base):
            members = [r for r, k in zip(releases, keys, strict=False) if k == key]
            if all(_consistent(release, m) for m in members):
                chosen = key
                break
        keys.append(chosen if chosen is not None else f"{base}\x00{index}")
    return keys


def _rows(
    releases: Sequence[Release], keys: Sequence[str], atoms: _Atoms, min_cell: int
) -> tuple[list[_Row], list[_Row], list[_Sensitive]]:
    """Published rows of earlier releases (with links), the candidate's, and sensitive cells."""
    earlier: list[_Row] = []
    candidate: list[_Row] = []
    sensitive: list[_Sensitive] = []
    margins: dict[tuple[str, str], dict[tuple[tuple[str, ...], Label], int]] = {}
    last = len(releases) - 1
    for index, (release, key) in enumerate(zip(releases, keys, strict=True)):
        where = _filter(release)
        cells = sorted({*release.counts, *release.withheld})
        for label in cells:
            count = release.counts.get(label, 0)
            vector = atoms.vector(key, release.dims, label, where)
            text = f"{describe_cell(release.dims, label)} of {release.source}"
            if label in release.withheld:
                mine = label if index == last else None
                sensitive.append(_Sensitive(vector, f"{text} (withheld)", mine))
            elif index == last:
                candidate.append(_Row(vector, float(count), text, label))
            else:
                earlier.append(_Row(vector, float(count), text))
        own = margins.setdefault((key, release.population), {})
        for (sub, label), count in _projections(release).items():
            own.setdefault((sub, label), count)
            if 0 < count < min_cell:
                sensitive.append(
                    _Sensitive(
                        atoms.vector(key, sub, label, where),
                        f"{describe_cell(sub, label)} of {release.source} (fewer than "
                        f"min_cell = {min_cell} records)",
                    )
                )
    for (a, pa), (b, pb) in combinations(list(margins), 2):
        shared = set(margins[(a, pa)]) & set(margins[(b, pb)])
        for cell in sorted(shared):
            if margins[(a, pa)][cell] == margins[(b, pb)][cell] > 0:
                link = atoms.vector(a, *cell, parse_filter(pa)) - atoms.vector(
                    b, *cell, parse_filter(pb)
                )
                if np.any(link):
                    earlier.append(
                        _Row(
                            link,
                            0.0,
                            f"[{describe_cell(*cell)} taken as the same records in two "
                            "populations]",
                        )
                    )
    return earlier, candidate, _unique(sensitive)


def _unique(sensitive: list[_Sensitive]) -> list[_Sensitive]:
    seen: dict[bytes, _Sensitive] = {}
    for s in sensitive:
        seen.setdefault(s.vector.tobytes(), s)
    return list(seen.values())


def _matrix(rows: Sequence[_Row], size: int) -> FloatArray:
    return np.array([r.vector for r in rows]) if rows else np.zeros((0, size))


def _in_span(vector: FloatArray, basis: FloatArray) -> bool:
    """Whether ``vector`` is a combination of the rows whose span ``basis`` (columns) is."""
    residual = vector - basis @ (basis.T @ vector) if basis.size else vector
    return bool(np.linalg.norm(residual) <= _TOL * max(1.0, float(np.linalg.norm(vector))))


def _free_atoms(matrix: FloatArray, counts: FloatArray) -> BoolArray:
    """The atoms that can hold records given the published counts (the others are 0 in
    every solution), by one LP: maximise ``Σ y`` with ``A x = b t``, ``0 ≤ y ≤ min(x, 1)``,
    ``t ≥ 1``; an atom that can be positive at all reaches ``y = 1`` (scale ``t``).

    Equations that contradict each other (links between populations that are not in fact
    the same records) tell nothing: every atom counts as free.
    """
    m, n = matrix.shape
    if m == 0:
        return np.ones(n, dtype=bool)
    identity = sparse.identity(n, format="csr")
    equality = sparse.hstack(
        [sparse.csr_matrix(matrix), sparse.csr_matrix((m, n)), sparse.csr_matrix(-counts[:, None])]
    )
    below = sparse.hstack([-identity, identity, sparse.csr_matrix((n, 1))])
    result = linprog(
        np.concatenate([np.zeros(n), -np.ones(n), [0.0]]),
        A_ub=below,
        b_ub=np.zeros(n),
        A_eq=equality,
        b_eq=np.zeros(m),
        bounds=[(0, None)] * n + [(0, 1)] * n + [(1, None)],
        method="highs",
    )
    if result.status != 0:
        return np.ones(n, dtype=bool)
    free: BoolArray = result.x[n : 2 * n] > 0.5
    return free


class _System:
    """Published rows on the atoms that can hold records: which sensitive cells they
    disclose, by which combination, and which rows every combination needs (one SVD)."""

    def __init__(self, rows: Sequence[_Row], size: int) -> None:
        self.rows = list(rows)
        self.full = _matrix(rows, size)
        self.free = _free_atoms(self.full, np.array([r.count for r in rows], dtype=float))
        self.matrix = self.full[:, self.free]
        counts = np.array([r.count for r in rows], dtype=float)
        if self.matrix.size:
            u, singular, vt = np.linalg.svd(self.matrix, full_matrices=True)
            rank = int((singular > 1e-9 * max(1.0, float(singular[0]))).sum())
            self.basis: FloatArray = vt[:rank].T
            self.left_null: FloatArray = u[:, rank:]
            # the least-norm solution of the published counts (exact where they fix it)
            self.solution: FloatArray = self.basis @ ((u[:, :rank].T @ counts) / singular[:rank])
        else:
            self.basis = np.zeros((int(self.free.sum()), 0))
            self.left_null = np.eye(len(self.rows))
            self.solution = np.zeros(int(self.free.sum()))

    def small_atoms(self, min_cell: int) -> dict[int, float]:
        """Atoms whose count the rows fix at 1 … ``min_cell − 1`` → that count."""
        if not self.basis.size:
            return {}
        fixed = np.flatnonzero(np.linalg.norm(self.basis, axis=1) > 1 - 1e-7)
        if not fixed.size:
            return {}
        columns = np.flatnonzero(self.free)
        solution = self.solution
        return {
            int(columns[j]): float(solution[j]) for j in fixed if 0.5 < solution[j] < min_cell - 0.5
        }

    def discloses(self, vector: FloatArray) -> bool:
        """Whether the published rows fix ``vector``'s figures (its count: also through
        groups they show to be empty)."""
        return _in_span(vector[self.free], self.basis)

    def combination(self, vector: FloatArray) -> FloatArray:
        return _sparse_combination(vector[self.free], self.matrix)

    def needed(self, index: int) -> bool:
        """Whether row ``index`` is independent of the others (every combination that
        uses it needs it)."""
        return not self.left_null.size or float(np.linalg.norm(self.left_null[index])) < 1e-7

    def exactly(self, vector: FloatArray, coefficients: FloatArray) -> bool:
        """Whether the combination ``coefficients`` gives ``vector`` on every atom, not only
        on the atoms that can hold records."""
        return bool(np.abs(coefficients @ self.full - vector).max(initial=0.0) <= 1e-7)


def _expression(coefficients: FloatArray, rows: Sequence[_Row]) -> str:
    """A combination of ``rows`` in words: ``A of job 1 − B of this job``."""
    terms = sorted(
        ((float(c), r.text) for c, r in zip(coefficients, rows, strict=True) if abs(c) > 1e-6),
        key=lambda t: (t[0] < 0, -round(abs(t[0]), 6), t[1]),
    )
    parts = []
    for i, (c, text) in enumerate(terms[:6]):
        sign = ("− " if c < 0 else "") if i == 0 else ("− " if c < 0 else "+ ")
        size = abs(c)
        factor = "" if abs(size - 1) < 1e-6 else f"{size:.3g} × "
        parts.append(f"{sign}{factor}{text}")
    return " ".join(parts) + (" …" if len(terms) > 6 else "")


def _sparse_combination(vector: FloatArray, matrix: FloatArray) -> FloatArray:
    """Coefficients ``c`` with ``c @ matrix = vector`` and the fewest, smallest terms (least
    L1 norm, by LP: usually whole cells added or taken away); least squares if that fails."""
    m = matrix.shape[0]
    result = linprog(
        np.ones(2 * m),
        A_eq=np.hstack([matrix.T, -matrix.T]),
        b_eq=vector,
        bounds=(0, None),
        method="highs",
    )
    if result.status == 0:
        out: FloatArray = result.x[:m] - result.x[m:]
        return out
    return np.asarray(np.linalg.lstsq(matrix.T, vector, rcond=None)[0], dtype=np.float64)


def linear_check(
    earlier: Sequence[Release],
    candidate: Release,
    min_cell: int,
    *,
    optional: Collection[Label] = (),
) -> tuple[dict[Label, str], set[Label]]:
    """The candidate's cells to withhold against linear recovery → why (see module doc);
    and those of its withheld cells in ``optional`` that earlier releases already disclose
    (withholding them protects nothing)."""
    releases = [*earlier, candidate]
    keys = _population_keys(releases)
    atoms = _Atoms(releases, keys)
    if atoms.size == 0:
        return {}, set()
    before, mine, sensitive = _rows(releases, keys, atoms, min_cell)
    old = _System(before, atoms.size)
    public: set[Label] = {
        s.label
        for s in sensitive
        if s.label is not None and s.label in optional and old.discloses(s.vector)
    }
    # a cell the earlier releases already give away is no use to withhold: leave it out
    mine = [row for row in mine if not old.discloses(row.vector)]
    fresh = [s for s in sensitive if not old.discloses(s.vector)]
    known_small = set(old.small_atoms(min_cell))
    reasons: dict[Label, str] = {}
    for _ in range(len(mine) + 1):
        system = _System([*before, *(r for r in mine if r.label not in reasons)], atoms.size)
        hit = [s for s in fresh if s.label not in public and system.discloses(s.vector)]
        hit += [
            _Sensitive(
                np.eye(1, atoms.size, column)[0],
                f"the group {atoms.describe(column)} (fewer than min_cell = {min_cell} records)",
            )
            for column in system.small_atoms(min_cell)
            if column not in known_small
        ]
        if not hit:
            return reasons, public
        now: set[Label] = set()
        for target in hit:
            found = _withhold(system, target, len(before), old.free)
            if found is None or found[0] in now:
                continue  # checked again in the next round
            if now and any(r.label in now for r in found[2]):
                continue
            reasons[found[0]] = found[1]
            now.add(found[0])
        if not now:
            break
    raise ComputationError(  # withholding every new cell restores what the history allowed
        "the differencing guard could not protect the release", step="release guard"
    )


def _withhold(
    system: _System, target: _Sensitive, first: int, old_free: BoolArray
) -> tuple[Label, str, list[_Row]] | None:
    """The candidate row (index ≥ ``first``) to withhold against ``target``, the reason, and
    the rows of the combination that disclosed it.

    A row every combination needs comes first, the smallest count first; otherwise the
    smallest row of the sparsest combination (another may remain: the caller goes on); if
    the combination uses earlier rows only, a new row that shows some atom to be empty.
    """
    rows = system.rows
    coefficients = system.combination(target.vector)
    used = [i for i in range(first, len(rows)) if abs(coefficients[i]) > 1e-6]
    combination = [r for c, r in zip(coefficients, rows, strict=True) if abs(c) > 1e-6]
    needed = [i for i in used if system.needed(i)]
    if not used:
        emptied = old_free & ~system.free
        used = [i for i in range(first, len(rows)) if float(rows[i].vector @ emptied) > 0]
    if not used:
        return None
    index = min(needed or used, key=lambda i: (rows[i].count, i))
    label = rows[index].label
    assert label is not None  # rows from ``first`` on are the candidate's
    reason = f"{target.text} would be computable as {_expression(coefficients, rows)}"
    if not system.exactly(target.vector, coefficients):
        reason += " (the published counts show the groups left out to be empty)"
    return label, reason, combination
