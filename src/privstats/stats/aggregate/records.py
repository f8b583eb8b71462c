"""One party's records made ready for the sums: checked, masked, grouped.

:func:`prepare_records` checks the value columns and the weight (records without a weight
are left out, with a warning from :func:`record_warnings`) and encodes the columns whose
quantiles are searched. :func:`group_labels` gives every record the index of its ``by``
values among the sorted distinct label tuples; :func:`level_labels` gives the groups fixed
by declared levels instead. Local only: nothing here leaves the party.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import numpy.typing as npt

from privstats.data.fixed_point import FixedPoint
from privstats.data.tables import Table
from privstats.errors import DatasetError, ParameterError
from privstats.stats.aggregate.plan import Plan

__all__ = [
    "Records",
    "group_labels",
    "level_labels",
    "prepare_records",
    "record_warnings",
]

_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Records:
    """One party's records, checked, with presence masks; encoded chunk by chunk on use."""

    path: str
    rows: int
    keep: npt.NDArray[np.bool_]
    """Records that take part: all, or those with a weight."""
    values: dict[str, npt.NDArray[np.float64]]
    weight: str | None
    fixed: FixedPoint
    grid: dict[str, npt.NDArray[np.int64]]
    """Per quantile column, ``round(x·2^f)`` as int64 below 2^62 (0 where missing)."""
    warnings: tuple[str, ...] = ()

    def present(self, columns: Sequence[str]) -> npt.NDArray[np.bool_]:
        mask = self.keep.copy()
        for column in columns:
            mask &= ~np.isnan(self.values[column])
        return mask

    def exact(self, column: str, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
        """``round(x·2^f)`` of ``column`` at ``rows`` (present values only) as Python ints."""
        return self.fixed.encode_exact(self.values[column][rows])


def _rows_text(rows: npt.NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:_MAX_EXAMPLES])
    more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def prepare_records(table: Table, plan: Plan) -> Records:
    """Check the value columns of ``table``; leave out records without a weight."""
    missing = [c for c in plan.value_columns if c not in table.values]
    if missing:
        raise ParameterError(
            f"{table.path}: value column(s) {', '.join(map(repr, missing))} were not read",
            parameter="table",
        )
    keep = np.ones(table.rows, dtype=bool)
    if plan.weight is not None:
        w = table.values[plan.weight]
        negative = np.flatnonzero(w < 0)
        if negative.size:
            raise DatasetError(
                f"{table.path}: weight column '{plan.weight}' has {negative.size} negative "
                f"value(s) ({_rows_text(negative)}); weights must be zero or positive",
                path=table.path,
                column=plan.weight,
                rows=tuple(int(r) + 1 for r in negative[:_MAX_EXAMPLES]),
            )
        keep = ~np.isnan(w)
    grid = {}
    for column in dict.fromkeys(c for c, _ in plan.quantiles):
        values = table.values[column]
        try:
            grid[column] = plan.fixed.encode(np.where(np.isnan(values), 0.0, values))
        except ParameterError as exc:
            raise ParameterError(
                f"{table.path}: column '{column}' is too large for a quantile: {exc}",
                parameter="frac_bits",
            ) from exc
    warnings = tuple(record_warnings(table, plan))
    return Records(
        table.path, table.rows, keep, table.values, plan.weight, plan.fixed, grid, warnings
    )


def record_warnings(table: Table, plan: Plan) -> list[str]:
    """Sentences on a file without records and on records left out (those without a
    weight); empty when the file is clean."""
    if table.rows == 0:
        return [
            f"{table.path}: the file has a header but no records; this party adds nothing "
            "to the pooled figures (is it the right file?)"
        ]
    if plan.weight is None:
        return []
    rows = np.flatnonzero(np.isnan(table.values[plan.weight]))
    if not rows.size:
        return []
    return [
        f"{table.path}: {rows.size} record(s) without a value of weight column "
        f"'{plan.weight}' are left out ({_rows_text(rows)})"
    ]


def group_labels(
    table: Table, by: Sequence[str]
) -> tuple[npt.NDArray[np.intp], list[tuple[str, ...]]]:
    """Per record, the index of its ``by`` values among the sorted distinct label tuples."""
    if not by:
        return np.zeros(table.rows, dtype=np.intp), [()] if table.rows else []
    codes = []
    uniques = []
    for column in by:
        values = table.categories[column]
        empty = np.flatnonzero(values == "")
        if empty.size:
            raise DatasetError(
                f"{table.path}: column '{column}' has {empty.size} empty value(s) "
                f"({_rows_text(empty)}); every record needs a value in a 'by' column",
                path=table.path,
                column=column,
                rows=tuple(int(r) + 1 for r in empty[:_MAX_EXAMPLES]),
            )
        unique, inverse = np.unique(values, return_inverse=True)
        uniques.append(unique.tolist())
        codes.append(inverse.reshape(-1))
    if table.rows == 0:
        return np.zeros(0, dtype=np.intp), []
    if len(codes) == 1:
        return codes[0].astype(np.intp), [(u,) for u in uniques[0]]
    radices = [len(u) for u in uniques]
    if math.prod(radices) < 1 << 62:  # one integer per combination: a fast 1-d unique
        combined = np.zeros(table.rows, dtype=np.int64)
        for code, radix in zip(codes, radices, strict=True):
            combined = combined * radix + code
        distinct, inverse = np.unique(combined, return_inverse=True)
        rows = np.stack(np.unravel_index(distinct, radices), axis=1)
    else:
        rows, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    labels = [tuple(u[i] for u, i in zip(uniques, row, strict=True)) for row in rows.tolist()]
    return inverse.reshape(-1).astype(np.intp), labels


def level_labels(levels: Mapping[str, Sequence[str]], by: Sequence[str]) -> list[tuple[str, ...]]:
    """Every combination of the given levels of the ``by`` columns, sorted."""
    return sorted(product(*(sorted(set(levels[c])) for c in by)))
