"""What a data file is, without reading its data: format, header and number of rows.

The one place that tells a file's format from its name, reads its header and counts its
rows, so that the readers (:mod:`privstats.data.readers`), the node's config
(:mod:`privstats.node.config`) and the synthesizers' reader
(:func:`privstats.synth.schema.read_microdata`) agree on every file:

- ``.csv``, ``.csv.gz`` and ``.txt`` are comma-separated, ``.tsv`` and ``.tsv.gz``
  tab-separated (``.gz`` is decompressed on the fly); ``.parquet`` and ``.pq`` are Parquet;
- the header is the first row of a delimited file (quoted values may span lines), the
  schema of a Parquet file;
- rows are data rows: a delimited file's rows after the header as the CSV reader reads
  them (blank lines are not rows), a Parquet file's row count from its metadata.

Every problem is a :class:`~privstats.errors.DatasetError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from privstats.errors import DatasetError

__all__ = [
    "DELIMITERS",
    "SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "DataFormat",
    "check_data_file",
    "column_names",
    "count_rows",
    "csv_error_message",
    "data_format",
    "format_of",
    "read_header",
]

DataFormat = Literal["csv", "tsv", "parquet"]

#: File name endings and the format each implies; ``.gz`` files are decompressed on the fly.
SUFFIXES: dict[str, DataFormat] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(SUFFIXES)

#: The field delimiter of each delimited format.
DELIMITERS: dict[str, str] = {"csv": ",", "tsv": "\t"}


def format_of(path: str | Path) -> DataFormat | None:
    """The format a file name implies (see :data:`SUFFIXES`), or None; the file is not read."""
    name = Path(path).name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):  # ".csv.gz" before ".gz"-less
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    return None


def check_data_file(path: str | Path, what: str = "file", *, label: str | None = None) -> None:
    """Raise a DatasetError unless ``path`` is an existing file (not a folder).

    ``what`` names the file in the message, e.g. ``"register file"`` or ``"file of party
    'north'"``: ``register.csv: register file not found (looked for /home/…/register.csv)``.
    ``label`` replaces the path at the start of the message (``"the holdout h.csv"``).
    """
    file, shown = Path(path), str(path) if label is None else label
    if file.is_dir():
        raise DatasetError(
            f"{shown}: {what} is a folder, not a data file; name a file in it", path=str(path)
        )
    if not file.exists():
        where = "" if file.is_absolute() else f" (looked for {file.absolute()})"
        raise DatasetError(f"{shown}: {what} not found{where}", path=str(path))
    if not file.is_file():
        raise DatasetError(f"{shown}: {what} is not a regular file", path=str(path))


def data_format(path: str | Path, what: str = "file", *, label: str | None = None) -> DataFormat:
    """Check that ``path`` is an existing file and tell its format from its name.

    ``what`` and ``label`` name the file in messages, as for :func:`check_data_file`.
    """
    check_data_file(path, what, label=label)
    fmt = format_of(path)
    if fmt is None:
        shown = str(path) if label is None else label
        raise DatasetError(
            f"{shown}: unsupported file type; use one of {', '.join(SUPPORTED_SUFFIXES)} "
            "(.tsv is tab-separated, .parquet and .pq are Parquet, the others "
            "comma-separated)",
            path=str(path),
        )
    return fmt


def read_header(path: str | Path, fmt: DataFormat | None = None) -> list[tuple[str, str]]:
    """The file's columns as ``(name, type)`` pairs; no data rows are read.

    Types are pyarrow's: a Parquet file's own; for a delimited file those inferred from its
    first block (about 1 MB). ``fmt`` overrides the format the name implies.
    """
    file, label = Path(path), str(path)
    fmt = _checked_format(file, fmt)
    try:
        if fmt == "parquet":
            schema = pq.read_schema(file)
        else:
            reader = pa_csv.open_csv(file, parse_options=_parse_options(fmt))
            try:
                schema = reader.schema
            finally:
                reader.close()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(_read_error(label, fmt, exc), path=label) from exc
    return [(field.name, str(field.type)) for field in schema]


def column_names(path: str | Path, fmt: DataFormat | None = None) -> list[str]:
    """The column names in the header of a CSV/TSV/Parquet file."""
    return [name for name, _ in read_header(path, fmt)]


def count_rows(path: str | Path, fmt: DataFormat | None = None) -> int:
    """The file's number of data rows: Parquet from its metadata, others by streaming.

    A delimited file is read as the CSV reader reads it (blank lines are not rows, quoted
    values may span lines), converting one column only, every value as text so that no
    type inference can fail half-way through the file; repeated header names do not matter.
    """
    file, label = Path(path), str(path)
    fmt = _checked_format(file, fmt)
    try:
        if fmt == "parquet":
            with pq.ParquetFile(file) as parquet:
                return int(parquet.metadata.num_rows)
        parse = _parse_options(fmt)
        header = pa_csv.open_csv(file, parse_options=parse)
        try:
            n_columns = len(header.schema.names)
        finally:
            header.close()
        names = [f"c{i}" for i in range(n_columns)]
        reader = pa_csv.open_csv(
            file,
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=parse,
            convert_options=pa_csv.ConvertOptions(
                include_columns=names[:1], column_types={names[0]: pa.string()}
            ),
        )
        try:
            return sum(batch.num_rows for batch in reader)
        finally:
            reader.close()
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(_read_error(label, fmt, exc), path=label) from exc


def csv_error_message(label: str, exc: Exception) -> str:
    """Translate a pyarrow CSV error into a sentence with a hint at the usual cause."""
    text = str(exc)
    if "Empty CSV file" in text:
        return f"{label}: file is empty; expected a header row naming the columns"
    hint = ""
    if "UTF8" in text or "UTF-8" in text:
        hint = "; save the file with UTF-8 text encoding"
    elif "Expected" in text and "columns" in text:
        hint = "; check the delimiter and that values containing it are quoted"
    return f"{label}: cannot read as delimited text: {text}{hint}"


def _checked_format(file: Path, fmt: DataFormat | None) -> DataFormat:
    if fmt is None:
        return data_format(file)
    check_data_file(file)
    return fmt


def _parse_options(fmt: DataFormat) -> pa_csv.ParseOptions:
    # newlines_in_values: a quoted value may span lines without breaking the block splitter
    return pa_csv.ParseOptions(delimiter=DELIMITERS[fmt], newlines_in_values=True)


def _read_error(label: str, fmt: DataFormat, exc: Exception) -> str:
    if fmt == "parquet":
        return f"{label}: cannot read as Parquet: {exc}"
    return csv_error_message(label, exc)
