"""Reading identifier files (CSV, TSV, gzip CSV, Parquet) into normalised, de-duplicated sets.

Everything is read as text, so ``"00123"`` keeps its leading zeros and both parties see the
same characters whatever the file format. Reading, normalising and de-duplicating run in
pyarrow and numpy, so files of 10^6–10^7 rows load in seconds. Problems in the data are
reported as :class:`~privstats.errors.DatasetError` naming the file, the column and up to
five 1-based data row numbers (row 1 is the first row after the header; blank CSV lines are
skipped and not counted). A file's format, header and existence are checked by
:mod:`privstats.data.inspect` (``check_data_file``, ``column_names`` and
``SUPPORTED_SUFFIXES`` are re-exported from there).
"""

from __future__ import annotations

import difflib
import gzip
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from privstats.data.identifiers import IdentifierRule
from privstats.data.inspect import (
    DELIMITERS,
    SUFFIXES,
    SUPPORTED_SUFFIXES,
    DataFormat,
    check_data_file,
    column_names,
    csv_error_message,
    data_format,
    format_of,
)
from privstats.errors import DatasetError, ParameterError

__all__ = [
    "MISSING",
    "SUPPORTED_SUFFIXES",
    "IdentifierSet",
    "check_data_file",
    "column_names",
    "load_identifiers",
    "marker_texts",
    "missing_markers",
    "read_columns",
    "write_csv",
]

#: How many example row numbers a message shows.
_MAX_EXAMPLES = 5

MISSING: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", ".")
"""Cell texts that mean "no value": exactly these in a value column
(:func:`privstats.data.tables.read_table`); in an identifier column in any letter case and
with surrounding whitespace (:func:`missing_markers`)."""

_MARKERS_FOLDED = tuple(sorted({marker.lower() for marker in MISSING if marker}))
# Unicode lower-casing may change a text's UTF-8 length (e.g. "İ" to "i"): allow for it
_MARKER_BYTES = 3 * max(len(marker.encode()) for marker in MISSING)

# --------------------------------------------------------------------------- reading columns


def read_columns(path: str | Path, columns: Sequence[str]) -> pa.Table:
    """Read only ``columns`` of a CSV/TSV/Parquet file, every one as a pyarrow string column.

    Text is used even for numeric-looking columns so identifiers keep leading zeros and
    compare alike across parties. Columns come back in the requested order. The format is
    told from the file's name by :func:`privstats.data.inspect.data_format`.
    """
    wanted = _check_column_names(columns)
    file = Path(path)
    label = str(path)
    fmt = data_format(file)
    if fmt == "parquet":
        return _read_parquet(file, label, wanted)
    return _read_csv(file, label, wanted, fmt)


def _check_column_names(columns: Sequence[str]) -> tuple[str, ...]:
    """Validate the requested column names: a non-empty sequence of distinct strings."""
    if isinstance(columns, str):
        raise ParameterError(
            f"columns must be a list of column names, not the single string {columns!r}",
            parameter="columns",
        )
    wanted = tuple(columns)
    if not wanted:
        raise ParameterError("columns must name at least one column", parameter="columns")
    for name in wanted:
        if not isinstance(name, str):
            raise ParameterError(f"column names must be strings, not {name!r}", parameter="columns")
    repeated = sorted({name for name in wanted if wanted.count(name) > 1})
    if repeated:
        raise ParameterError(
            f"columns name {_quoted(repeated)} more than once", parameter="columns"
        )
    return wanted


def _read_csv(file: Path, label: str, wanted: tuple[str, ...], fmt: DataFormat) -> pa.Table:
    """Read the wanted columns of a delimited text file as strings."""
    _check_columns_present(label, wanted, column_names(file, fmt))
    # newlines_in_values: a quoted value may span lines without breaking the block splitter
    parse = pa_csv.ParseOptions(delimiter=DELIMITERS[fmt], newlines_in_values=True)
    convert = pa_csv.ConvertOptions(
        include_columns=list(wanted),
        column_types=dict.fromkeys(wanted, pa.string()),
        strings_can_be_null=False,  # an empty cell is "", a literal "NA" is the text NA
    )
    try:
        table = pa_csv.read_csv(file, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(csv_error_message(label, exc), path=label) from exc
    return table.select(list(wanted))


def _read_parquet(file: Path, label: str, wanted: tuple[str, ...]) -> pa.Table:
    """Read the wanted columns of a Parquet file and cast each one to string."""
    _check_columns_present(label, wanted, column_names(file, "parquet"))
    try:
        table = pq.read_table(file, columns=list(wanted))
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{label}: cannot read as Parquet: {exc}", path=label) from exc
    out: dict[str, pa.ChunkedArray] = {}
    for name in wanted:
        column = table[name]
        try:
            out[name] = column.cast(pa.string())
        except pa.ArrowException as exc:
            raise DatasetError(
                f"{label}: column '{name}' of type {column.type} cannot be read as text: {exc}",
                path=label,
                column=name,
            ) from exc
    return pa.table(out)


def _check_columns_present(label: str, wanted: Sequence[str], names: list[str]) -> None:
    """Raise if a wanted column is missing or ambiguous, listing the columns the file has."""
    for name in wanted:
        count = names.count(name)
        if count == 1:
            continue
        if count > 1:
            raise DatasetError(
                f"{label}: column '{name}' appears {count} times in the header; "
                "rename the copies so the column is unambiguous",
                path=label,
                column=name,
            )
        message = f"{label}: no column '{name}'; the file has columns {_quoted(names)}"
        close = _similar_name(name, names)
        if close is not None:
            message += f" (did you mean {close!r}?)"
        raise DatasetError(message, path=label, column=name)


def _similar_name(name: str, names: list[str]) -> str | None:
    """Find the column a user probably meant: same after trimming/lower-casing, or close."""
    folded = name.strip().lower()
    for candidate in names:
        if candidate.strip().lower() == folded:
            return candidate
    matches = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    return matches[0] if matches else None


# --------------------------------------------------------------------------- identifier sets


@dataclass(frozen=True)
class IdentifierSet:
    """The distinct normalised identifiers of one file, with their domain values.

    Identifiers are kept in file order of their first occurrence; a repeated identifier is
    counted once (its first row wins) and reported through :meth:`warnings`, because a
    statistician usually wants to know, but it need not stop a computation.
    """

    path: str  # the file, as given; used in messages
    key: str  # identifier column
    by: tuple[str, ...]  # domain columns, possibly none
    ids: list[str]  # normalised, distinct, in file order of first occurrence
    domain_codes: npt.NDArray[np.intp] | None  # per id, index of its first row's domain in
    #   domain_labels (None if no by); integer codes keep 10^7 rows to a few bytes each
    domain_labels: list[tuple[str, ...]]  # the distinct domains, sorted
    rows: int  # data rows in the file
    duplicates: int  # rows dropped because their identifier occurred earlier
    duplicate_examples: tuple[int, ...]  # up to 5 data row numbers (1-based) of dropped rows
    conflicting_domains: int  # duplicated ids whose later rows have other domain values
    conflict_examples: tuple[int, ...] = ()  # up to 5 data row numbers of such later rows

    @property
    def domains(self) -> list[tuple[str, ...]] | None:
        """Per id, its domain values (a convenience view of the codes; costly for big files)."""
        if self.domain_codes is None:
            return None
        return [self.domain_labels[code] for code in self.domain_codes]

    def warnings(self) -> list[str]:
        """Sentences on duplicates and conflicting domain values; empty when the file is clean."""
        out: list[str] = []
        if self.duplicates:
            noun = "value" if self.duplicates == 1 else "values"
            out.append(
                f"{self.path}: {self.duplicates} duplicate {noun} of '{self.key}' counted once "
                f"({_rows_text(self.duplicate_examples, self.duplicates)})"
            )
        if self.conflicting_domains:
            noun = "identifier" if self.conflicting_domains == 1 else "identifiers"
            verb = "has" if self.conflicting_domains == 1 else "have"
            where = (
                f" (e.g. {_rows_text(self.conflict_examples)})" if self.conflict_examples else ""
            )
            out.append(
                f"{self.path}: {self.conflicting_domains} duplicated {noun} of '{self.key}' "
                f"{verb} different values of {_quoted(self.by)} on later rows; the values of "
                f"the first row are used{where}"
            )
        return out


def load_identifiers(
    path: str | Path,
    key: str,
    *,
    by: Sequence[str] = (),
    rule: IdentifierRule = IdentifierRule(),
) -> IdentifierSet:
    """Read the ``key`` column (and ``by`` domain columns), normalise with ``rule``, de-duplicate.

    Missing identifiers are errors (a record that cannot be matched would silently bias the
    statistics): an empty cell, one that becomes empty through normalisation, or one holding
    a missing-value marker of :data:`MISSING` in any letter case (``NA``, ``nan``, ``NULL``,
    ``.``…; see :func:`missing_markers`). So are empty domain values, and a file with a
    header but no data rows. Domain values are trimmed of surrounding whitespace but
    otherwise kept as written (``NA`` there is a value, e.g. a country code).
    """
    label = str(path)
    by_columns = _check_key_and_by(key, by)
    table = read_columns(path, (key, *by_columns))
    n_rows = table.num_rows
    if n_rows == 0:
        raise DatasetError(
            f"{label}: column '{key}' has no identifiers: the file has a header but no data "
            "rows; a computation needs at least one identifier (is it the right file?)",
            path=label,
            column=key,
        )

    raw = table[key].cast(pa.large_string()).combine_chunks()  # no 2 GiB limit
    markers = missing_markers(raw)
    ids = rule.apply(raw)
    empty = _empty_mask(ids)
    if markers.any():
        _raise_missing(label, key, raw, markers, empty & ~markers)
    if empty.any():
        _raise_empty(label, key, empty, note=_normalisation_note(raw, empty, rule))
    domain_columns: list[pa.Array] = []
    for name in by_columns:
        values = pc.utf8_trim_whitespace(table[name].combine_chunks())
        empty = _empty_mask(values)
        if empty.any():
            _raise_empty(label, name, empty, note="; every row needs a value in a 'by' column")
        domain_columns.append(values)

    # Distinct identifiers via pyarrow's hash table; every row gets a dictionary code.
    encoded = ids.dictionary_encode()
    dictionary = encoded.dictionary
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    first_of_code, order = _first_occurrences(codes, len(dictionary))
    if order is not None:
        dictionary = dictionary.take(order)
        first_rows = first_of_code[order]
    else:
        first_rows = first_of_code
    first_row_of = first_of_code[codes]  # for every row, the first row of its identifier
    duplicate_rows = np.flatnonzero(first_row_of != np.arange(n_rows))

    domain_codes: npt.NDArray[np.intp] | None = None
    domain_labels: list[tuple[str, ...]] = []
    conflict_rows: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
    n_conflicting = 0
    if by_columns:
        domain_codes, domain_labels = _domain_codes(
            [column.take(first_rows) for column in domain_columns]
        )
        conflict_rows = _conflicting_rows(domain_columns, duplicate_rows, first_row_of)
        n_conflicting = int(np.unique(codes[conflict_rows]).size)

    return IdentifierSet(
        path=label,
        key=key,
        by=by_columns,
        ids=dictionary.to_pylist(),
        domain_codes=domain_codes,
        domain_labels=domain_labels,
        rows=n_rows,
        duplicates=int(duplicate_rows.size),
        duplicate_examples=_examples(duplicate_rows),
        conflicting_domains=n_conflicting,
        conflict_examples=_examples(conflict_rows),
    )


def _domain_codes(
    columns: Sequence[pa.Array],
) -> tuple[npt.NDArray[np.intp], list[tuple[str, ...]]]:
    """Integer codes of the combined domain values, and the sorted distinct domains.

    Each column's values are ranked in sorted order; the ranks are combined into one
    integer per row (mixed radix, first column most significant, so integer order is the
    order of the value tuples) and the combinations present are numbered in that order.
    """
    if not columns or len(columns[0]) == 0:
        return np.empty(0, dtype=np.intp), []
    dictionaries: list[list[str]] = []
    ranks: list[npt.NDArray[np.int64]] = []
    for column in columns:
        encoded = pa.chunked_array([column]).combine_chunks().dictionary_encode()
        dictionary = encoded.dictionary.to_pylist()
        rank = np.argsort(np.array(dictionary, dtype=object)).argsort()  # sorted order
        ranks.append(rank[encoded.indices.to_numpy(zero_copy_only=False)].astype(np.int64))
        dictionaries.append(sorted(dictionary))
    radix = math.prod(len(dictionary) for dictionary in dictionaries)
    if radix >= 2**62:  # the combined code would overflow: compare the rows instead
        rows, inverse = np.unique(np.stack(ranks, axis=1), axis=0, return_inverse=True)
        tuples = [tuple(d[i] for d, i in zip(dictionaries, row, strict=True)) for row in rows]
        return inverse.reshape(-1).astype(np.intp), tuples
    combined = ranks[0]
    for dictionary, rank in zip(dictionaries[1:], ranks[1:], strict=True):
        combined = combined * len(dictionary) + rank
    if radix <= max(4 * combined.size, 1 << 20):  # a table of every combination: no sort
        present = np.zeros(radix, dtype=bool)
        present[combined] = True
        unique = np.flatnonzero(present)
        number = np.cumsum(present) - 1
        inverse = number[combined]
    else:
        unique, inverse = np.unique(combined, return_inverse=True)
    labels: list[tuple[str, ...]] = []
    for code in unique.tolist():
        label: list[str] = []
        for dictionary in reversed(dictionaries):
            code, index = divmod(code, len(dictionary))
            label.append(dictionary[index])
        labels.append(tuple(reversed(label)))
    return inverse.reshape(-1).astype(np.intp, copy=False), labels


def _check_key_and_by(key: str, by: Sequence[str]) -> tuple[str, ...]:
    """Validate the identifier and domain column names before touching the file."""
    if not isinstance(key, str) or not key:
        raise ParameterError(f"key must be a column name, not {key!r}", parameter="key")
    if isinstance(by, str):
        raise ParameterError(
            f"by must be a list of column names; write by=[{by!r}], not by={by!r}",
            parameter="by",
        )
    by_columns = tuple(by)
    if key in by_columns:
        raise ParameterError(
            f"the identifier column '{key}' cannot also be a domain ('by') column",
            parameter="by",
        )
    repeated = sorted({name for name in by_columns if by_columns.count(name) > 1})
    if repeated:
        raise ParameterError(f"by names {_quoted(repeated)} more than once", parameter="by")
    return by_columns


def _empty_mask(values: pa.Array) -> npt.NDArray[np.bool_]:
    """True where a string value is null or has length zero."""
    is_empty = pc.fill_null(pc.equal(pc.binary_length(values), 0), True)
    mask: npt.NDArray[np.bool_] = is_empty.to_numpy(zero_copy_only=False)
    return mask


def missing_markers(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """True where a text is a missing-value marker: one of :data:`MISSING` other than the
    empty text, in any letter case, with surrounding whitespace ignored (``" NaN "``,
    ``"na"``, ``"Null"``). Nulls and empty texts are not markers (they are empty)."""
    trimmed = pc.utf8_trim_whitespace(values)
    if isinstance(trimmed, pa.ChunkedArray):
        trimmed = trimmed.cast(pa.large_string()).combine_chunks()
    # only short texts can be markers: fold and look up those alone (a few, if any)
    short = pc.fill_null(pc.less_equal(pc.binary_length(trimmed), _MARKER_BYTES), False)
    candidates = np.flatnonzero(short.to_numpy(zero_copy_only=False))
    mask = np.zeros(len(trimmed), dtype=bool)
    if candidates.size:
        folded = pc.utf8_lower(trimmed.take(pa.array(candidates)))
        hit = pc.fill_null(pc.is_in(folded, value_set=pa.array(_MARKERS_FOLDED)), False)
        mask[candidates] = hit.to_numpy(zero_copy_only=False)
    return mask


def marker_texts(values: pa.Array, markers: npt.NDArray[np.bool_]) -> str:
    """The distinct marker spellings found, as written (trimmed), e.g. ``'NA', 'nan'``."""
    found = pc.utf8_trim_whitespace(values.filter(pa.array(markers)))
    return _quoted(sorted(set(pc.unique(found).to_pylist())))


def _raise_missing(
    label: str,
    column: str,
    raw: pa.Array,
    markers: npt.NDArray[np.bool_],
    empty: npt.NDArray[np.bool_],
) -> None:
    """Raise the DatasetError for identifiers written as missing-value markers (or empty)."""
    rows = np.flatnonzero(markers | empty)
    examples = _examples(rows)
    count = int(rows.size)
    n_markers = int(markers.sum())
    how = f"{n_markers} written as {marker_texts(raw, markers)}"
    if empty.any():
        how += f", {int(empty.sum())} empty"
    raise DatasetError(
        f"{label}: column '{column}' has {count} missing {'value' if count == 1 else 'values'} "
        f"({_rows_text(examples, count)}; {how}); a record without an identifier cannot be "
        "matched: remove these records or fill in their identifiers",
        path=label,
        column=column,
        rows=examples,
    )


def _normalisation_note(raw: pa.Array, empty: npt.NDArray[np.bool_], rule: IdentifierRule) -> str:
    """Explain, when it applies, that values became empty only through normalisation."""
    was_empty = _empty_mask(raw)
    if (empty & ~was_empty).any():
        return f" after normalisation ({rule.describe()})"
    return ""


def _raise_empty(label: str, column: str, empty: npt.NDArray[np.bool_], note: str) -> None:
    """Raise the DatasetError for empty values in ``column``, with example rows."""
    rows = np.flatnonzero(empty)
    examples = _examples(rows)
    count = int(rows.size)
    noun = "value" if count == 1 else "values"
    raise DatasetError(
        f"{label}: column '{column}' has {count} empty {noun} "
        f"({_rows_text(examples, count)}){note}",
        path=label,
        column=column,
        rows=examples,
    )


def _first_occurrences(
    codes: npt.NDArray[np.integer[Any]], n_codes: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp] | None]:
    """First row of each dictionary code, and the codes' file order when not already 0, 1, 2….

    pyarrow numbers distinct values in order of first appearance, which makes this one O(n)
    pass: a row holds a first occurrence exactly when its code exceeds every earlier code. If
    that numbering ever differed, fewer than ``n_codes`` such rows exist and a sort is used.
    """
    if codes.size:
        is_new = np.empty(codes.size, dtype=bool)
        is_new[0] = True
        np.greater(codes[1:], np.maximum.accumulate(codes)[:-1], out=is_new[1:])
        first_rows = np.flatnonzero(is_new)
        if first_rows.size == n_codes:
            return first_rows, None
    _, first_of_code = np.unique(codes, return_index=True)
    first_of_code = first_of_code.astype(np.intp, copy=False)
    order = np.argsort(first_of_code, kind="stable").astype(np.intp, copy=False)
    return first_of_code, order


def _conflicting_rows(
    domain_columns: list[pa.Array],
    duplicate_rows: npt.NDArray[np.intp],
    first_row_of: npt.NDArray[np.intp],
) -> npt.NDArray[np.intp]:
    """Duplicate rows whose domain values differ from their identifier's first row."""
    if duplicate_rows.size == 0:
        return duplicate_rows
    firsts = pa.array(first_row_of[duplicate_rows])
    later = pa.array(duplicate_rows)
    differs = np.zeros(duplicate_rows.size, dtype=bool)
    for column in domain_columns:
        unequal = pc.not_equal(column.take(later), column.take(firsts))
        differs |= unequal.to_numpy(zero_copy_only=False)
    return duplicate_rows[differs]


def _examples(rows: npt.NDArray[np.intp]) -> tuple[int, ...]:
    """The first few 0-based row indices as 1-based data row numbers."""
    return tuple(int(row) + 1 for row in rows[:_MAX_EXAMPLES])


def _rows_text(examples: Sequence[int], total: int | None = None) -> str:
    """Format example rows as ``rows 4, 19, …`` (the ellipsis when there are more)."""
    total = len(examples) if total is None else total
    text = ", ".join(str(row) for row in examples)
    if total > len(examples):
        text += ", …"
    return f"{'row' if total == 1 else 'rows'} {text}"


def _quoted(names: Sequence[str]) -> str:
    """``'a', 'b', 'c'`` for messages."""
    return ", ".join(f"'{name}'" for name in names)


# --------------------------------------------------------------------------- writing


def write_csv(path: str | Path, columns: Mapping[str, Sequence[str]]) -> None:
    """Write text columns to a CSV (``.tsv``: tab-separated; ``.gz``: gzip) file atomically.

    The data go to a temporary file in the same folder which then replaces ``path`` in one
    step, so a reader never sees a half-written file. Like any new temporary file it is
    readable by its owner only, which suits register data.
    """
    file = Path(path)
    fmt = format_of(file)
    if fmt not in DELIMITERS:
        writable = [suffix for suffix, of in SUFFIXES.items() if of in DELIMITERS]
        raise ParameterError(
            f"{path}: write_csv writes {', '.join(writable)} files", parameter="path"
        )
    if not columns:
        raise ParameterError("columns must hold at least one column", parameter="columns")
    lengths = {column: len(values) for column, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ParameterError(
            f"all columns must have the same length, got {lengths}", parameter="columns"
        )
    try:
        table = pa.table(
            {column: pa.array(list(values), type=pa.string()) for column, values in columns.items()}
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ParameterError(f"column values must be strings: {exc}", parameter="columns") from exc
    options = pa_csv.WriteOptions(delimiter=DELIMITERS[fmt])

    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if file.name.lower().endswith(".gz"):
                # GzipFile leaves ``handle`` open (a pyarrow stream would close it)
                with gzip.GzipFile(fileobj=handle, mode="wb") as stream:
                    pa_csv.write_csv(table, stream, write_options=options)
            else:
                pa_csv.write_csv(table, handle, write_options=options)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
