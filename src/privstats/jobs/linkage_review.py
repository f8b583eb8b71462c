"""A clerical-review sample for the linkage-coverage kind: which register persons are truly
in the source.

The register draws a random sample of its persons and establishes, by means outside the
linkage (a follow-up, a consented check against the source under agreement, a field
visit), whether each truly is in the source. The file has two columns: the register's
person column named by ``review_key`` (for instance ``person_id``) and ``in_source``
(1/0, true/false, yes/no; left empty when the clerk could not decide — such rows are left
out, not guessed). The linker then tells the register whether each reviewed record was
linked, and :func:`privstats.stats.linkage_error.errors_from_review` turns the two into
false- and missed-match rates (:mod:`privstats.protocols.linkage` states what this
discloses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privstats.data.inspect import column_names
from privstats.data.readers import read_columns
from privstats.errors import DatasetError
from privstats.stats.linkage_error import LinkageErrors, errors_from_review

__all__ = ["LABEL_COLUMN", "ReviewSample", "read_review", "review_block"]

LABEL_COLUMN = "in_source"
_YES = {"1", "true", "yes", "y", "t"}
_NO = {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class ReviewSample:
    """Reviewed register records (row indices into the register file) and their labels."""

    rows: list[int]
    in_source: list[bool]
    undecided: int


def _label(value: Any, path: str, row: int) -> bool | None:
    text = "" if value is None else str(value).strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise DatasetError(
        f"{path}: row {row}: {LABEL_COLUMN} is {value!r}; use 1 (truly in the source), "
        "0 (not in the source) or leave it empty when the clerk could not decide",
        path=path,
        column=LABEL_COLUMN,
        rows=(row,),
    )


def read_review(
    review: str | Path, register: str | Path, key: str, max_review: int
) -> ReviewSample:
    """The review file's decided rows, located in the register by ``key``.

    Raises:
        DatasetError: the file lacks ``key`` or ``in_source``, a label is not a yes/no, a
            person is reviewed twice, is not in the register or is there more than once,
            or more than ``max_review`` persons are reviewed.
    """
    label = str(review)
    names = column_names(review)
    missing = [c for c in (key, LABEL_COLUMN) if c not in names]
    if missing:
        raise DatasetError(
            f"{label}: a review file needs the columns {key!r} (the register's person "
            f"column, --review-key) and {LABEL_COLUMN!r}; it lacks {', '.join(map(repr, missing))}"
            f" (it has {', '.join(map(repr, names))})",
            path=label,
        )
    table = read_columns(review, (key, LABEL_COLUMN))
    persons = table.column(key).to_pylist()
    labels = table.column(LABEL_COLUMN).to_pylist()
    decided: dict[str, bool] = {}
    seen: set[str] = set()
    undecided = 0
    for row, (person, value) in enumerate(zip(persons, labels, strict=True), start=2):
        if person is None or not str(person).strip():
            raise DatasetError(f"{label}: row {row}: no {key}", path=label, column=key, rows=(row,))
        truth = _label(value, label, row)
        if person in seen:
            raise DatasetError(
                f"{label}: row {row}: {key} {person!r} is reviewed twice",
                path=label,
                column=key,
                rows=(row,),
            )
        seen.add(person)
        if truth is None:
            undecided += 1
        else:
            decided[person] = truth
    if len(decided) > max_review:
        raise DatasetError(
            f"{label}: {len(decided)} reviewed persons; the job allows at most {max_review} "
            "(--max-review, which the source approves: the register learns whether each was "
            "linked)",
            path=label,
        )
    return _located(decided, undecided, register, key)


def _located(
    decided: dict[str, bool], undecided: int, register: str | Path, key: str
) -> ReviewSample:
    ids: Sequence[Any] = read_columns(register, (key,)).column(key).to_pylist()
    where: dict[str, int] = {}
    twice: set[str] = set()
    for index, person in enumerate(ids):
        if person in decided:
            if person in where:
                twice.add(person)
            where[person] = index
    if twice:
        raise DatasetError(
            f"{register}: {key} {sorted(twice)[0]!r} (reviewed) is in the register more "
            "than once; a review needs one record per person",
            path=str(register),
            column=key,
        )
    absent = [p for p in decided if p not in where]
    if absent:
        raise DatasetError(
            f"{register}: {len(absent)} reviewed persons are not in the register's {key!r} "
            f"column, e.g. {absent[0]!r}: review a sample of the register's own records",
            path=str(register),
            column=key,
        )
    return ReviewSample([where[p] for p in decided], list(decided.values()), undecided)


def review_block(
    sample: ReviewSample, linked: Sequence[bool]
) -> tuple[dict[str, Any], LinkageErrors]:
    """The review's counts (for the result) and the error rates they give."""
    pairs = list(zip(linked, sample.in_source, strict=True))
    errors = errors_from_review(pairs)
    block = {
        "reviewed": len(pairs),
        "undecided": sample.undecided,
        "declared": sum(1 for d, _ in pairs if d),
        "truly_in_source": sum(1 for _, t in pairs if t),
        "false_matches": sum(1 for d, t in pairs if d and not t),
        "missed_matches": sum(1 for d, t in pairs if t and not d),
    }
    return block, errors
