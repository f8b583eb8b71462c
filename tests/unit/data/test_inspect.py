"""Tests of data.inspect: a file's format from its name, its header and its number of rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privstats.data import inspect
from privstats.data.readers import read_columns
from privstats.errors import DatasetError


def text_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- format


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.txt", "csv"),
        ("a.tsv", "tsv"),
        ("a.tsv.gz", "tsv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("A.PQ", "parquet"),
        ("a.xlsx", None),
        ("a.gz", None),
        ("parquet", None),
    ],
)
def test_format_of_tells_the_format_from_the_name(name: str, expected: str | None) -> None:
    assert inspect.format_of(name) == expected


def test_every_supported_suffix_has_a_format() -> None:
    assert set(inspect.SUPPORTED_SUFFIXES) == set(inspect.SUFFIXES)
    assert inspect.SUFFIXES[".pq"] == inspect.SUFFIXES[".parquet"] == "parquet"


def test_data_format_checks_the_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "absent.pq"
    with pytest.raises(DatasetError) as info:
        inspect.data_format(path, "register file")
    assert str(info.value) == f"{path}: register file not found"
    assert info.value.path == str(path)


def test_data_format_refuses_a_folder_and_names_it_with_a_label(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"^the holdout .*: file is a folder") as info:
        inspect.data_format(tmp_path, label=f"the holdout {tmp_path}")
    assert info.value.path == str(tmp_path)


def test_data_format_lists_the_known_endings(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.xlsx", "id\n1\n")
    with pytest.raises(DatasetError, match="unsupported file type") as info:
        inspect.data_format(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for suffix in inspect.SUPPORTED_SUFFIXES:
        assert suffix in message


# --------------------------------------------------------------------------- header


def test_csv_header_with_inferred_types(tmp_path: Path) -> None:
    path = text_file(tmp_path / "r.csv", "person_id,region,age\n1,N,3.5\n2,S,4\n")
    assert inspect.read_header(path) == [
        ("person_id", "int64"),
        ("region", "string"),
        ("age", "double"),
    ]
    assert inspect.column_names(path) == ["person_id", "region", "age"]


def test_tsv_header_is_split_on_tabs(tmp_path: Path) -> None:
    path = text_file(tmp_path / "r.tsv", "a\tb,c\n1\t2\n")
    assert inspect.column_names(path) == ["a", "b,c"]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_header_is_its_schema(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"r{suffix}"
    pq.write_table(pa.table({"id": ["a"], "x": pa.array([1.5], type=pa.float64())}), path)
    assert inspect.read_header(path) == [("id", "string"), ("x", "double")]


def test_an_explicit_format_wins_over_the_name(tmp_path: Path) -> None:
    path = text_file(tmp_path / "r.dat", "a\tb\n1\t2\n")
    assert inspect.column_names(path, "tsv") == ["a", "b"]
    with pytest.raises(DatasetError, match="unsupported file type"):
        inspect.column_names(path)


def test_an_empty_file_has_no_header(tmp_path: Path) -> None:
    path = text_file(tmp_path / "r.csv", "")
    with pytest.raises(DatasetError, match=r"r\.csv: file is empty; expected a header row"):
        inspect.read_header(path)


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    path = text_file(tmp_path / "r.pq", "id\n1\n")
    with pytest.raises(DatasetError, match=r"r\.pq: cannot read as Parquet") as info:
        inspect.read_header(path)
    assert info.value.path == str(path)
    with pytest.raises(DatasetError, match=r"r\.pq: cannot read as Parquet"):
        inspect.count_rows(path)


# --------------------------------------------------------------------------- rows


def test_csv_rows_are_counted_as_the_reader_reads_them(tmp_path: Path) -> None:
    text = 'id,note\n1,"two\nlines"\n\n2,x\n3,\n\n'  # a quoted newline, blank lines
    path = text_file(tmp_path / "r.csv", text)
    assert inspect.count_rows(path) == 3
    assert inspect.count_rows(path) == read_columns(path, ["id"]).num_rows


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    assert inspect.count_rows(text_file(tmp_path / "r.csv", "id,x\n")) == 0


def test_repeated_header_names_do_not_stop_the_count(tmp_path: Path) -> None:
    assert inspect.count_rows(text_file(tmp_path / "r.csv", "id,id\n1,2\n3,4\n")) == 2


def test_gzip_csv_is_counted_past_the_first_block(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.gz"
    rows = 200_000
    path.write_bytes(
        gzip.compress(("id,x\n" + "".join(f"{i},v{i}\n" for i in range(rows))).encode())
    )
    assert inspect.count_rows(path) == rows


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_rows_come_from_the_metadata(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"r{suffix}"
    pq.write_table(pa.table({"id": [str(i) for i in range(7)]}), path, row_group_size=3)
    assert inspect.count_rows(path) == 7


def test_a_malformed_csv_is_named_with_a_hint(tmp_path: Path) -> None:
    path = text_file(tmp_path / "r.csv", "id,x\n1,2\n3\n")
    with pytest.raises(DatasetError, match=r"r\.csv: cannot read as delimited text") as info:
        inspect.count_rows(path)
    assert "delimiter" in str(info.value)
    assert isinstance(info.value.__cause__, pa.ArrowInvalid)


def test_counting_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"gone\.csv: file not found"):
        inspect.count_rows(tmp_path / "gone.csv")
