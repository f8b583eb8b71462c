"""What a synthesizer must keep: each column's name, type, categories, range and missingness.

A :class:`Schema` is inferred from the confidential table (or written by the data owner)
and travels with the synthesizer: ``sample`` returns a table with exactly these columns,
in this order and of these types, categorical values only among the observed categories
and missing values where the original had them. Types:

- ``categorical``: text labels (numbers listed as categorical are kept as text);
- ``integer``: whole numbers (pandas' nullable ``Int64``);
- ``continuous``: floating-point numbers;
- ``date``: calendar dates (``datetime64``), handled inside synthesizers as days since
  1970-01-01.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from privstats.data import inspect
from privstats.errors import DatasetError, ParameterError

__all__ = [
    "ColumnKind",
    "ColumnSpec",
    "Schema",
    "from_numeric",
    "read_microdata",
    "to_numeric",
]

ColumnKind = Literal["categorical", "integer", "continuous", "date"]
KINDS: tuple[ColumnKind, ...] = ("categorical", "integer", "continuous", "date")
_EPOCH = np.datetime64("1970-01-01", "D")
_MAX_INFERRED_CATEGORIES = 200


@dataclass(frozen=True)
class ColumnSpec:
    """One column: kind, observed categories (categorical) or range (others), missing share."""

    name: str
    kind: ColumnKind
    categories: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    missing: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "missing": self.missing}
        if self.kind == "categorical":
            out["categories"] = list(self.categories)
        else:
            out["low"], out["high"] = self.low, self.high
        return out


@dataclass(frozen=True)
class Schema:
    """The columns of a table, in order."""

    columns: tuple[ColumnSpec, ...]
    _index: dict[str, ColumnSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {column.name: column for column in self.columns}
        if len(index) != len(self.columns):
            raise ParameterError("a schema names each column once", parameter="schema")
        object.__setattr__(self, "_index", index)

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __getitem__(self, name: str) -> ColumnSpec:
        try:
            return self._index[name]
        except KeyError:
            raise ParameterError(
                f"no column {name!r}; columns are {', '.join(self.names)}", parameter="column"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def of_kind(self, *kinds: ColumnKind) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.kind in kinds)

    @classmethod
    def infer(
        cls,
        table: pd.DataFrame,
        *,
        categorical: Sequence[str] = (),
        dates: Sequence[str] = (),
    ) -> Schema:
        """Kinds from the table's dtypes; ``categorical`` and ``dates`` override them.

        Text, boolean and pandas categorical columns are categorical; datetime columns
        dates; integer columns (also floats holding only whole numbers and NaN) integers;
        other numbers continuous.
        """
        for name in (*categorical, *dates):
            if name not in table.columns:
                raise ParameterError(
                    f"column {name!r} is not in the table; it has {', '.join(map(str, table))}",
                    parameter="columns",
                )
        columns = []
        for name in table.columns:
            values = table[name]
            if name in categorical:
                kind: ColumnKind = "categorical"
            elif name in dates or pd.api.types.is_datetime64_any_dtype(values):
                kind = "date"
            elif pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
                kind = "categorical"
            elif pd.api.types.is_integer_dtype(values) or _whole(values):
                kind = "integer"
            else:
                kind = "continuous"
            columns.append(_describe(str(name), kind, values))
        return cls(tuple(columns))

    def conform(self, table: pd.DataFrame, what: str = "table") -> pd.DataFrame:
        """``table`` with this schema's columns, in order, of its types (checked)."""
        missing = [name for name in self.names if name not in table.columns]
        if missing:
            raise DatasetError(
                f"{what}: columns {', '.join(missing)} are missing; it has "
                f"{', '.join(map(str, table.columns)) or 'no columns'}",
                column=missing[0],
            )
        out = {}
        for column in self.columns:
            out[column.name] = from_numeric(to_numeric(table[column.name], column, what), column)
        return pd.DataFrame(out, index=pd.RangeIndex(len(table)))

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [column.to_dict() for column in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        try:
            return cls(
                tuple(
                    ColumnSpec(
                        name=str(c["name"]),
                        kind=c["kind"],
                        categories=tuple(str(v) for v in c.get("categories", ())),
                        low=c.get("low"),
                        high=c.get("high"),
                        missing=float(c.get("missing", 0.0)),
                    )
                    for c in data["columns"]
                )
            )
        except (KeyError, TypeError) as exc:
            raise ParameterError(f"not a schema description: {exc}", parameter="schema") from exc


def _whole(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numbers)) and bool(np.all(np.mod(numbers.to_numpy(dtype=float), 1) == 0))


def _describe(name: str, kind: ColumnKind, values: pd.Series) -> ColumnSpec:
    missing = float(values.isna().mean()) if len(values) else 0.0
    if kind == "categorical":
        present = values.dropna().astype(str)
        categories = tuple(sorted(present.unique()))
        return ColumnSpec(name, kind, categories=categories, missing=missing)
    numbers = to_numeric(values, ColumnSpec(name, kind), name)
    present = numbers[~np.isnan(numbers)]
    low = float(present.min()) if present.size else None
    high = float(present.max()) if present.size else None
    return ColumnSpec(name, kind, low=low, high=high, missing=missing)


def to_numeric(values: pd.Series, column: ColumnSpec, what: str = "table") -> npt.NDArray[Any]:
    """Numbers for a synthesizer: category codes (−1 missing), floats (NaN missing), days.

    Categorical values become indices into ``column.categories``; a value outside them is
    an error naming the column.
    """
    if column.kind == "categorical":
        present = values.notna().to_numpy()
        text = (
            values.astype(object).where(present, None).map(lambda v: None if v is None else str(v))
        )
        index = {category: code for code, category in enumerate(column.categories)}
        mapped = text.map(index)
        unknown = mapped.isna().to_numpy() & present
        if unknown.any():
            examples = sorted({str(v) for v in text[unknown]})[:3]
            raise DatasetError(
                f"{what}: column {column.name!r} has values outside its categories: "
                f"{', '.join(examples)}",
                column=column.name,
            )
        codes: npt.NDArray[np.int64] = mapped.fillna(-1).to_numpy(dtype=np.int64)
        return codes
    if column.kind == "date":
        try:
            stamps = pd.to_datetime(values, errors="raise")
        except (ValueError, TypeError) as exc:
            raise DatasetError(
                f"{what}: column {column.name!r} holds values that are not dates: {exc}",
                column=column.name,
            ) from exc
        days = stamps.to_numpy(dtype="datetime64[D]")
        out: npt.NDArray[np.float64] = (days - _EPOCH).astype("timedelta64[D]").astype(np.float64)
        out[pd.isna(stamps).to_numpy()] = np.nan
        return out
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        examples = values[bad].astype(str).unique()[:3]
        raise DatasetError(
            f"{what}: column {column.name!r} holds values that are not numbers: "
            f"{', '.join(examples)}",
            column=column.name,
        )
    floats: npt.NDArray[np.float64] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return floats


def from_numeric(values: npt.ArrayLike, column: ColumnSpec) -> pd.Series:
    """The inverse of :func:`to_numeric`: a pandas column of the schema's type."""
    array = np.asarray(values)
    if column.kind == "categorical":
        codes = array.astype(np.int64)
        return (
            pd.Series(
                pd.Categorical.from_codes(codes, categories=list(column.categories)),
                name=column.name,
            )
            .astype(object)
            .where(codes >= 0, None)
        )
    numbers = array.astype(np.float64)
    if column.kind == "continuous":
        return pd.Series(numbers, name=column.name)
    if column.kind == "integer":
        return pd.Series(pd.array(np.round(numbers), dtype="Float64"), name=column.name).astype(
            "Int64"
        )
    days = np.where(np.isnan(numbers), 0, np.round(numbers)).astype("int64")
    stamps = (_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[ns]")
    out = pd.Series(stamps, name=column.name)
    out[np.isnan(numbers)] = pd.NaT
    return out


def read_microdata(
    path: str | Path,
    *,
    categorical: Sequence[str] = (),
    dates: Sequence[str] = (),
    what: str = "",
) -> tuple[pd.DataFrame, Schema]:
    """Read a CSV/TSV or Parquet file and infer its schema (``categorical``/``dates`` override).

    The file's format is told from its name as everywhere in privstats
    (:func:`privstats.data.inspect.data_format`: ``.csv``, ``.csv.gz``, ``.txt``, ``.tsv``,
    ``.tsv.gz``, ``.parquet``, ``.pq``; pandas also opens ``.csv.xz`` and ``.csv.bz2``); a
    missing file, a folder or another ending is a DatasetError naming it.

    Text columns whose every value is an ISO date (``2026-03-01``) are read as dates.
    ``what`` says which table the file is (``"the synthetic table"``); errors name it with
    the file.
    """
    file = Path(path)
    label = f"{what} {path}" if what else str(path)
    packed = file.name.endswith((".csv.xz", ".csv.bz2", ".tsv.xz", ".tsv.bz2"))
    if packed:  # pandas decompresses these; the pyarrow readers do not
        inspect.check_data_file(path, label=label)
        fmt = inspect.format_of(file.with_suffix("")) or "csv"
    else:
        fmt = inspect.data_format(path, label=label)
    try:
        if fmt == "parquet":
            table = pd.read_parquet(file)
        else:
            table = pd.read_csv(
                file,
                sep=inspect.DELIMITERS[fmt],
                dtype=dict.fromkeys(categorical, str),
                low_memory=False,
            )
    except UnicodeDecodeError as exc:
        raise DatasetError(_encoding_message(file, label, exc), path=str(path)) from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{label}: cannot read: {exc}", path=str(path)) from exc
    if table.empty:
        raise DatasetError(f"{label}: no records", path=str(path))
    absent = [name for name in (*categorical, *dates) if name not in table.columns]
    if absent:
        raise DatasetError(
            f"{label}: no column {', '.join(map(repr, absent))}; the file has columns "
            f"{', '.join(map(repr, map(str, table.columns)))}",
            path=str(path),
            column=absent[0],
        )
    iso = [
        str(name)
        for name in table.columns
        if name not in categorical
        and not pd.api.types.is_numeric_dtype(table[name])
        and not pd.api.types.is_datetime64_any_dtype(table[name])
        and table[name].dropna().astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        and table[name].notna().any()
    ]
    for name in (*dates, *iso):
        table[name] = pd.to_datetime(table[name], errors="coerce")
    return table, Schema.infer(table, categorical=categorical, dates=(*dates, *iso))


def _encoding_message(file: Path, label: str, exc: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8 text: its line, and the hint the other readers give."""
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    try:
        with opener(file, "rb") as stream:
            data = stream.read()
        data.decode("utf-8")
    except UnicodeDecodeError as found:
        line = data.count(b"\n", 0, found.start) + 1
        byte = data[found.start : found.start + 1].hex()
        return (
            f"{label}, line {line}: not UTF-8 text (byte 0x{byte}); save the file with "
            "UTF-8 text encoding"
        )
    except OSError:
        pass
    return f"{label}: not UTF-8 text ({exc.reason}); save the file with UTF-8 text encoding"
