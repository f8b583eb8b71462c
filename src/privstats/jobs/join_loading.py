"""Reading one party's file for a join-aggregate: distinct identifiers, groups, scaled values.

What is dropped and merged, and why, is in :mod:`privstats.jobs.join_aggregate`'s
docstring; this module does it and says so in the party's warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from privstats.data.readers import marker_texts, missing_markers, read_columns
from privstats.data.tables import read_table
from privstats.errors import DatasetError, ParameterError

if TYPE_CHECKING:
    from privstats.jobs.join_aggregate import JoinAggregateSpec

__all__ = ["JoinData", "Source", "load_role_data"]

LEFT, RIGHT = "left", "right"
_MAX_EXAMPLES = 5
_MAX_SCALED = 2**63


@dataclass(frozen=True)
class JoinData:
    """One party's cleaned records: distinct identifiers, group codes and scaled values."""

    path: str
    key: str
    ids: list[str]
    groups: list[int]  # per id, index into group_labels (left); all 0 on the right
    group_labels: list[tuple[str, ...]]  # sorted distinct combinations of the by columns
    columns: tuple[str, ...]  # value columns, in spec order
    values: list[list[int]]  # per column, per id: round(v·10^decimals) as exact integers
    integer: tuple[bool, ...]  # per column: every value a whole number (kept at scale 1)
    decimals: tuple[int, ...]  # per column: the decimal scale used (0 for integer columns)
    rows: int
    notes: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        """Sentences on dropped and merged records; empty when the file is clean."""
        return list(self.notes)


@dataclass(frozen=True)
class Source:
    """What one role reads from its file: the identifier, group and value columns."""

    role: str
    label: str  # the file, as named in messages
    key: str
    by: tuple[str, ...]
    columns: tuple[str, ...]

    @classmethod
    def of(cls, role: str, path: str | Path, spec: JoinAggregateSpec) -> Source:
        if role == LEFT:
            return cls(role, str(path), spec.key, spec.by, spec.left_values)
        if role == RIGHT:
            return cls(role, str(path), spec.peer_key or spec.key, (), spec.right_values)
        raise ParameterError(f"unknown join-aggregate role {role!r}; use 'left' or 'right'")


def load_role_data(role: str, path: str | Path, spec: JoinAggregateSpec) -> JoinData:
    """Read one party's file, clean it as the module docstring says, and scale its values."""
    source = Source.of(role, path, spec)
    label, key, by, columns = source.label, source.key, source.by, source.columns
    raw = read_columns(path, [key])[key].cast(pa.large_string()).combine_chunks()
    n_rows = len(raw)
    if n_rows == 0:
        raise DatasetError(
            f"{label}: the file has a header but no data rows; a join needs records "
            "(is it the right file?)",
            path=label,
            column=key,
        )
    ids = spec.normalization.rule().apply(raw)
    table = read_table(path, categories=by, values=columns) if by or columns else None
    numbers = table.values if table is not None else {}
    categories = table.categories if table is not None else {}
    missing = np.zeros(n_rows, dtype=bool)
    for name in columns:
        missing |= np.isnan(numbers[name])
    kept, notes = _kept_rows(source, raw, ids, missing)
    _check_group_values(source, categories, kept)

    codes = ids.take(pa.array(kept)).dictionary_encode()
    id_codes = codes.indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(id_codes, return_index=True)
    first.sort()  # positions (within kept) of each identifier's first record, in file order
    repeated = np.setdiff1d(np.arange(kept.size), first, assume_unique=True)
    distinct_ids: list[str] = ids.take(pa.array(kept[first])).to_pylist()
    scaled, integer, decimals = _scaled_columns(source, numbers, kept, spec.decimals)
    if role == LEFT:
        values = [[column[i] for i in first.tolist()] for column in scaled]
    else:
        values = _summed(scaled, id_codes, first)
    if repeated.size:
        notes.append(_repeated_note(source, kept[repeated]))
    groups, group_labels = _group_codes(
        [categories[name][kept[first]] for name in by], len(distinct_ids)
    )
    return JoinData(
        path=label,
        key=key,
        ids=distinct_ids,
        groups=groups,
        group_labels=group_labels,
        columns=tuple(columns),
        values=values,
        integer=tuple(integer),
        decimals=tuple(decimals),
        rows=n_rows,
        notes=tuple(notes),
    )


def _kept_rows(
    source: Source, raw: pa.Array, ids: pa.Array, missing: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.intp], list[str]]:
    """The rows with an identifier and every value; sentences on the rows dropped."""
    label, key = source.label, source.key
    markers = missing_markers(raw)
    empty_id = pc.fill_null(pc.equal(pc.binary_length(ids), 0), True).to_numpy(zero_copy_only=False)
    empty_id |= markers
    missing = missing & ~empty_id
    notes: list[str] = []
    if empty_id.any():
        spelled = f" or one written as {marker_texts(raw, markers)}" if markers.any() else ""
        notes.append(
            f"{label}: {_records(int(empty_id.sum()))} with an empty '{key}'{spelled} dropped "
            f"({_rows_text(np.flatnonzero(empty_id))})"
        )
    if missing.any():
        names = ", ".join(f"'{c}'" for c in source.columns)
        notes.append(
            f"{label}: {_records(int(missing.sum()))} with a missing value in {names} dropped "
            f"({_rows_text(np.flatnonzero(missing))})"
        )
    kept = np.flatnonzero(~(empty_id | missing))
    if kept.size == 0:
        raise DatasetError(
            f"{label}: no records left to join (after dropping empty identifiers and "
            "missing values)",
            path=label,
            column=key,
        )
    return kept, notes


def _check_group_values(
    source: Source, categories: Mapping[str, npt.NDArray[np.str_]], kept: npt.NDArray[np.intp]
) -> None:
    """Refuse a kept record with an empty group value, naming the column and rows."""
    for name in source.by:
        blank = np.flatnonzero(categories[name][kept] == "")
        if blank.size:
            raise DatasetError(
                f"{source.label}: column '{name}' has {blank.size} empty values "
                f"({_rows_text(kept[blank])}); every record needs a group value",
                path=source.label,
                column=name,
                rows=tuple(int(r) + 1 for r in kept[blank][:_MAX_EXAMPLES]),
            )


def _scaled_columns(
    source: Source,
    numbers: Mapping[str, npt.NDArray[np.float64]],
    kept: npt.NDArray[np.intp],
    decimals: int,
) -> tuple[list[list[int]], list[bool], list[int]]:
    """Per value column: the kept values scaled, whether all are whole, the scale used."""
    scaled: list[list[int]] = []
    integer: list[bool] = []
    scales: list[int] = []
    for name in source.columns:
        floats = numbers[name][kept]
        whole = bool(np.all(floats == np.floor(floats)))
        scale = 0 if whole else decimals
        scaled.append(_scaled(floats, scale, source.label, name, kept))
        integer.append(whole)
        scales.append(scale)
    return scaled, integer, scales


def _repeated_note(source: Source, rows: npt.NDArray[np.intp]) -> str:
    """The sentence on repeated identifiers: the first kept (left), values summed (right)."""
    what = f"{source.label}: {_records(int(rows.size))} with a repeated '{source.key}'"
    if source.role == LEFT:
        return f"{what} dropped; the first record of each identifier is used ({_rows_text(rows)})"
    return (
        f"{what} merged into the identifier's first record; their values are summed "
        f"({_rows_text(rows)})"
    )


def _scaled(
    floats: npt.NDArray[np.float64], scale: int, label: str, name: str, kept: npt.NDArray[np.intp]
) -> list[int]:
    """``round(v·10^scale)`` as exact integers, half to even on the shortest decimal text."""
    if scale == 0:
        out = [int(v) for v in floats.tolist()]
    else:
        out = [
            int(Decimal(repr(v)).scaleb(scale).to_integral_value(rounding=ROUND_HALF_EVEN))
            for v in floats.tolist()
        ]
    for k, v in enumerate(out):
        if not -_MAX_SCALED < v < _MAX_SCALED:
            row = int(kept[k]) + 1
            raise DatasetError(
                f"{label}: column '{name}' row {row} is too large: at {scale} decimals it "
                "exceeds 2^63; lower the number of decimals",
                path=label,
                column=name,
                rows=(row,),
            )
    return out


def _summed(
    scaled: list[list[int]], id_codes: npt.NDArray[np.intp], first: npt.NDArray[np.intp]
) -> list[list[int]]:
    """Per column, the sum of each identifier's values, identifiers in first-record order."""
    if first.size == id_codes.size:
        return scaled
    position = {int(id_codes[k]): p for p, k in enumerate(first.tolist())}
    out = []
    for column in scaled:
        sums = [0] * len(position)
        for code, value in zip(id_codes.tolist(), column, strict=True):
            sums[position[code]] += value
        out.append(sums)
    return out


def _group_codes(
    columns: Sequence[npt.NDArray[np.str_]], n: int
) -> tuple[list[int], list[tuple[str, ...]]]:
    """Integer codes of the combined group values and the sorted distinct combinations."""
    if not columns:
        return [0] * n, [()]
    if n == 0:
        return [], []
    uniques, inverses = [], []
    for column in columns:
        unique, inverse = np.unique(column, return_inverse=True)
        uniques.append(unique.tolist())
        inverses.append(inverse.reshape(-1))
    combos, codes = np.unique(np.stack(inverses, axis=1), axis=0, return_inverse=True)
    labels = [tuple(uniques[c][k] for c, k in enumerate(row)) for row in combos.tolist()]
    return codes.reshape(-1).tolist(), labels


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _rows_text(rows: npt.NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:_MAX_EXAMPLES])
    more = ", …" if rows.size > _MAX_EXAMPLES else ""
    return f"{'row' if rows.size == 1 else 'rows'} {shown}{more}"
