"""Linear recovery across releases: which new cells would let an analyst solve for a hidden one.

Every release of a dataset is a set of linear equations over *atoms*, the finest
cross-classification of all groupings released from the same records: a published cell
of a coarser release is the sum of the atoms in it. An analyst who knows the published
cells knows every linear combination of them, for every additive measure at once (counts,
sums, a coverage's matched records); so a *sensitive* cell — one withheld by some release,
or a margin of fewer than ``min_cell`` records — is disclosed when its vector lies in the
row span of the published cells. For counts, non-negativity tells more: an LP (HiGHS)
gives the lowest and highest count a sensitive cell can have given the published counts;
a width below one record pins it.

Records of different populations (another filter, another peer's set) are different
atoms, except that cells with equal counts in two populations are taken to hold the same
records (a link equation); a release whose counts contradict an earlier one of the same
population (the data was updated) starts a population of its own. Both are conservative:
they can only add equations an analyst might use.

:func:`linear_check` withholds cells of the candidate release greedily (a cell every
solution needs first, the smallest first) until no sensitive cell is recoverable that was
not already recoverable from the earlier releases alone, and says for each why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.linalg import null_space, orth
from scipy.optimize import linprog

from privstats.disclosure.history import TOTAL, Release, describe_cell, parse_filter
from privstats.disclosure.owner import Label
from privstats.errors import ComputationError

__all__ = ["MAX_ATOMS", "linear_check"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

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
        for label in release.interior():
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
            for label, count in release.interior().items()
            if count > 0
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
    """Every margin of ``release`` (over each subset of its dims) → its count."""
    out: dict[tuple[tuple[str, ...], Label], int] = {}
    interior = release.interior()
    for size in range(len(release.dims) + 1):
        for picked in combinations(range(len(release.dims)), size):
            sub = tuple(release.dims[i] for i in picked)
            for label, count in interior.items():
                key = (sub, tuple(label[i] for i in picked))
                out[key] = out.get(key, 0) + count
    return out


def _margins(release: Release, common: Sequence[str], where: Filter) -> dict[Label, int]:
    """``release``'s counts over ``common``, among the records ``where`` selects."""
    index = [release.dims.index(d) for d in common]
    out: dict[Label, int] = {}
    for label, count in release.interior().items():
        cell = dict(zip(release.dims, label, strict=True))
        if count and all(cell[d] in values for d, values in where.items()):
            key = tuple(label[i] for i in index)
            out[key] = out.get(key, 0) + count
    return out


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
        return _margins(a, common, fb) == _margins(b, common, {})
    common = [d for d in a.dims if d in b.dims]
    return _margins(a, common, {}) == _margins(b, common, {})


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
        for label, count in sorted(release.counts.items()):
            vector = atoms.vector(key, release.dims, label, where)
            text = f"{describe_cell(release.dims, label)} of {release.source}"
            if label in release.withheld:
                sensitive.append(_Sensitive(vector, f"{text} (withheld)"))
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


def _row_basis(rows: Sequence[_Row], size: int) -> FloatArray:
    matrix = _matrix(rows, size)
    return orth(matrix.T) if matrix.size else np.zeros((size, 0))


def _width(vector: FloatArray, rows: Sequence[_Row], size: int) -> float:
    """The range of counts ``vector`` can take given the published counts (inf: unbounded)."""
    matrix = _matrix(rows, size)
    counts = np.array([r.count for r in rows])
    ends = []
    for sign in (1.0, -1.0):
        result = linprog(
            sign * vector,
            A_eq=matrix if rows else None,
            b_eq=counts if rows else None,
            bounds=(0, None),
            method="highs",
        )
        if result.status == 3:
            return float("inf")
        if result.status != 0:  # the equations contradict each other: nothing is pinned
            return float("inf")
        ends.append(sign * float(result.fun))
    return ends[1] - ends[0]


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


def linear_check(earlier: Sequence[Release], candidate: Release, min_cell: int) -> dict[Label, str]:
    """The candidate's cells to withhold against linear recovery → why (see module doc)."""
    releases = [*earlier, candidate]
    keys = _population_keys(releases)
    atoms = _Atoms(releases, keys)
    if atoms.size == 0:
        return {}
    before, mine, sensitive = _rows(releases, keys, atoms, min_cell)
    old_basis = _row_basis(before, atoms.size)
    # a cell earlier releases already give away is no use to withhold: leave it out
    mine = [row for row in mine if not _in_span(row.vector, old_basis)]
    fresh = [s for s in sensitive if not _in_span(s.vector, old_basis)]
    old_width = {id(s): _width(s.vector, before, atoms.size) for s in fresh}
    fresh = [s for s in fresh if old_width[id(s)] >= 0.5]
    reasons: dict[Label, str] = {}
    for _ in range(len(mine) + 1):
        rows = [*before, *(r for r in mine if r.label not in reasons)]
        basis = _row_basis(rows, atoms.size)
        spanned = [s for s in fresh if _in_span(s.vector, basis)]
        if spanned:
            target = spanned[0]
            coefficients = _sparse_combination(target.vector, _matrix(rows, atoms.size))
            row = _needed(coefficients, rows, len(before))
            reasons[row.label] = (  # type: ignore[index]
                f"{target.text} would be computable as {_expression(coefficients, rows)}"
            )
            continue
        pinned = next((s for s in fresh if _width(s.vector, rows, atoms.size) < 0.5), None)
        if pinned is None:
            return reasons
        row = _unpinning(pinned.vector, rows, len(before), atoms.size)
        reasons[row.label] = (  # type: ignore[index]
            f"{pinned.text} would have its count fixed by the published counts "
            f"(with {row.text} among them)"
        )
    raise ComputationError(  # cannot happen: withholding every new cell restores the old span
        "the differencing guard could not protect the release", step="release guard"
    )


def _needed(coefficients: FloatArray, rows: Sequence[_Row], first: int) -> _Row:
    """A candidate row (index ≥ ``first``) of the combination ``coefficients`` to withhold.

    A row every combination uses (independent of the other rows) takes the target out of
    the span at once and is chosen first, the smallest count first; otherwise the
    smallest row the combination uses (another combination may remain: the loop goes on).
    """
    used = [i for i in range(first, len(rows)) if abs(coefficients[i]) > 1e-6]
    left_null = null_space(_matrix(rows, rows[0].vector.size).T)
    needed = [i for i in used if left_null.size == 0 or np.linalg.norm(left_null[i]) < 1e-7]
    return rows[min(needed or used, key=lambda i: (rows[i].count, i))]


def _unpinning(vector: FloatArray, rows: Sequence[_Row], first: int, size: int) -> _Row:
    """A candidate row whose withholding frees ``vector``'s count (else the smallest one
    that shares atoms with it, and the loop goes on)."""
    order = sorted(range(first, len(rows)), key=lambda i: (rows[i].count, i))
    for i in order:
        if _width(vector, [*rows[:i], *rows[i + 1 :]], size) >= 0.5:
            return rows[i]
    touching = [i for i in order if float(rows[i].vector @ vector) > 0]
    return rows[(touching or order)[0]]
