"""Reading statistical tables: category columns as text, value columns as numbers.

Secure aggregates need each party's records as numeric value columns (incomes, weights,
regressors) and category columns (region, product group). Missing values — an empty cell
or one of :data:`MISSING` — become NaN in value columns and stay "" in category columns; a
cell that is neither a number nor missing is a DatasetError naming the file, the column
and up to five 1-based row numbers, so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from privstats.data.readers import MISSING, column_names, read_columns
from privstats.errors import DatasetError

__all__ = ["MISSING", "Table", "read_table"]

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Table:
    """One party's records: ``categories`` as text arrays, ``values`` as float64 (NaN = missing)."""

    path: str
    rows: int
    categories: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)
    values: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    integer: dict[str, bool] = field(default_factory=dict)
    """Whether every present value of a value column is a whole number."""

    def missing(self, column: str) -> int:
        return int(np.isnan(self.values[column]).sum())


def read_table(
    path: str | Path,
    *,
    categories: Sequence[str] = (),
    values: Sequence[str] = (),
) -> Table:
    """Read ``categories`` (text) and ``values`` (numbers) of a CSV/TSV/Parquet file.

    A column may be named in both lists (a numeric code used as a category and a value).
    """
    label = str(path)
    wanted = list(dict.fromkeys([*categories, *values]))
    if not wanted:
        return Table(label, _count_rows(path))
    table = read_columns(path, wanted)
    out_categories = {
        name: np.asarray(pc.utf8_trim_whitespace(table[name]).to_pylist(), dtype=str)
        for name in categories
    }
    out_values: dict[str, npt.NDArray[np.float64]] = {}
    integer: dict[str, bool] = {}
    for name in values:
        out_values[name] = _numbers(label, name, table[name])
        present = out_values[name][~np.isnan(out_values[name])]
        integer[name] = bool(np.all(present == np.floor(present)))
    return Table(label, table.num_rows, out_categories, out_values, integer)


def _count_rows(path: str | Path) -> int:
    """The number of data rows, read through the file's first column."""
    names = column_names(path)
    if not names:
        raise DatasetError(f"{path}: the file has no columns", path=str(path))
    return int(read_columns(path, names[:1]).num_rows)


def _numbers(label: str, name: str, column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    text = pc.utf8_trim_whitespace(column.fill_null(""))
    missing = pc.is_in(text, value_set=pa.array(MISSING))
    numeric = pc.match_substring_regex(text, _NUMBER)
    bad = pc.and_(pc.invert(missing), pc.invert(numeric))
    if pc.any(bad).as_py():
        rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        examples = [str(column[int(i)]) for i in rows[:_MAX_EXAMPLES]]
        where = ", ".join(str(int(i) + 1) for i in rows[:_MAX_EXAMPLES])
        more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
        raise DatasetError(
            f"{label}: column '{name}' must hold numbers; row{'s' if len(rows) > 1 else ''} "
            f"{where}{more} hold{'' if len(rows) > 1 else 's'} "
            f"{', '.join(repr(e) for e in examples)} (write missing values as an empty cell or NA)",
            path=label,
            column=name,
            rows=tuple(int(i) + 1 for i in rows[:_MAX_EXAMPLES]),
        )
    cleaned = pc.if_else(missing, pa.scalar(None, pa.string()), text)
    floats = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    array = np.asarray(floats, dtype=np.float64)
    if np.isinf(array).any():
        row = int(np.flatnonzero(np.isinf(array))[0]) + 1
        raise DatasetError(
            f"{label}: column '{name}' row {row} is too large to be a number",
            path=label,
            column=name,
            rows=(row,),
        )
    return array
