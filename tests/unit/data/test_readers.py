"""Tests of reading identifier files: formats, error messages, de-duplication and write_csv."""

from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privstats.data.identifiers import IdentifierRule
from privstats.data.readers import (
    IdentifierSet,
    _domain_codes,
    load_identifiers,
    missing_markers,
    read_columns,
    write_csv,
)
from privstats.errors import DatasetError, ParameterError

# --------------------------------------------------------------------------- helpers


def csv_file(path: Path, columns: dict[str, list[str]], delimiter: str = ",") -> Path:
    """Write string columns with pyarrow (gzip-compressed when the name ends in .gz)."""
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
    options = pa_csv.WriteOptions(delimiter=delimiter)
    if path.name.endswith(".gz"):
        with pa.CompressedOutputStream(str(path), "gzip") as out:
            pa_csv.write_csv(table, out, write_options=options)
    else:
        pa_csv.write_csv(table, str(path), write_options=options)
    return path


def text_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- read_columns


def test_csv_reads_only_named_columns_as_text_in_requested_order(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "person_id,age,region\n00123,41,N\n7,5,S\n")
    table = read_columns(path, ["region", "person_id"])
    assert table.column_names == ["region", "person_id"]
    assert table.schema.types == [pa.string(), pa.string()]
    assert table.to_pydict() == {"region": ["N", "S"], "person_id": ["00123", "7"]}


def test_csv_keeps_literal_na_and_reads_empty_cells_as_empty_text(tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", 'id,x\nNA,1\n,2\n"",3\n')
    assert read_columns(path, ["id"])["id"].to_pylist() == ["NA", "", ""]


def test_csv_quoted_values_may_contain_delimiters_and_newlines(tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", 'id,x\n"a,b",1\n"c\nd",2\n')
    assert read_columns(path, ["id"])["id"].to_pylist() == ["a,b", "c\nd"]


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", "\ufeffid,x\n1,2\n")
    assert read_columns(path, ["id"])["id"].to_pylist() == ["1"]


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("a.csv", ","), ("a.txt", ","), ("a.tsv", "\t"), ("a.csv.gz", ","), ("a.tsv.gz", "\t")],
)
def test_delimited_round_trips(tmp_path: Path, name: str, delimiter: str) -> None:
    columns = {"id": ["007", "b c", "ü"], "region": ["N", "S", "N"]}
    path = csv_file(tmp_path / name, columns, delimiter)
    assert read_columns(path, ["id", "region"]).to_pydict() == columns


def test_gzip_file_is_really_compressed_and_read(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv.gz"
    path.write_bytes(gzip.compress(b"id\n001\n002\n"))
    assert read_columns(path, ["id"])["id"].to_pylist() == ["001", "002"]


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = text_file(tmp_path / "REGISTER.CSV", "id\n1\n")
    assert read_columns(str(path), ["id"])["id"].to_pylist() == ["1"]


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_parquet_columns_are_cast_to_text(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"register{suffix}"
    table = pa.table(
        {
            "num": pa.array([123, 7], type=pa.int64()),
            "id": pa.array(["00123", "x"]),
            "cat": pa.array(["N", "S"]).dictionary_encode(),
            "big": pa.array(["p", "q"], type=pa.large_string()),
            "other": pa.array([1.5, 2.5]),
        }
    )
    pq.write_table(table, path)
    out = read_columns(path, ["id", "num", "cat", "big"])
    assert out.column_names == ["id", "num", "cat", "big"]
    assert all(t == pa.string() for t in out.schema.types)
    assert out.to_pydict() == {
        "id": ["00123", "x"],
        "num": ["123", "7"],
        "cat": ["N", "S"],
        "big": ["p", "q"],
    }


def test_header_only_csv_gives_empty_table(tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", "id,x\n")
    table = read_columns(path, ["id"])
    assert table.num_rows == 0
    assert table.schema.types == [pa.string()]


# --------------------------------------------------------------------------- read errors


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "register.csv"
    with pytest.raises(DatasetError, match="file not found") as info:
        read_columns(path, ["id"])
    assert str(info.value) == f"{path}: file not found"
    assert info.value.path == str(path)


def test_missing_relative_file_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as info:
        read_columns("register.csv", ["id"])
    assert (
        str(info.value) == f"register.csv: file not found (looked for {tmp_path / 'register.csv'})"
    )


def test_folder_is_not_a_data_file(tmp_path: Path) -> None:
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(DatasetError, match="folder"):
        read_columns(folder, ["id"])


def test_unknown_extension_lists_supported_ones(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.xlsx", "id\n1\n")
    with pytest.raises(DatasetError, match="unsupported file type") as info:
        read_columns(path, ["id"])
    message = str(info.value)
    assert "register.xlsx" in message
    for suffix in (".csv", ".csv.gz", ".tsv", ".txt", ".parquet", ".pq"):
        assert suffix in message


def test_missing_column_lists_the_file_columns(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "person_id,age\n1,2\n")
    with pytest.raises(DatasetError) as info:
        read_columns(path, ["person_id", "region"])
    message = str(info.value)
    assert "register.csv" in message
    assert "no column 'region'" in message
    assert "'person_id', 'age'" in message
    assert info.value.column == "region"


def test_missing_column_suggests_a_near_name(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", " Person_ID ,age\n1,2\n")
    with pytest.raises(DatasetError, match=r"did you mean ' Person_ID '\?"):
        read_columns(path, ["person_id"])


def test_missing_parquet_column_lists_the_file_columns(tmp_path: Path) -> None:
    path = tmp_path / "register.parquet"
    pq.write_table(pa.table({"a": ["1"], "b": ["2"]}), path)
    with pytest.raises(DatasetError, match=r"register.parquet: no column 'id'.*'a', 'b'"):
        read_columns(path, ["id"])


def test_repeated_header_column_is_ambiguous(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id,id,x\n1,2,3\n")
    with pytest.raises(DatasetError, match="column 'id' appears 2 times"):
        read_columns(path, ["id"])


def test_malformed_csv_gives_pyarrow_message(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id,x\n1,2\n3\n")
    with pytest.raises(DatasetError, match=r"register\.csv: cannot read") as info:
        read_columns(path, ["id"])
    assert "Expected 2 columns" in str(info.value)
    assert "delimiter" in str(info.value)
    assert isinstance(info.value.__cause__, pa.ArrowInvalid)


def test_non_utf8_csv_asks_for_utf8(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes("id\nJosé\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="UTF-8 text encoding"):
        read_columns(path, ["id"])


def test_gz_file_that_is_not_gzip(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv.gz", "id\n1\n")
    with pytest.raises(DatasetError, match=r"register\.csv\.gz: cannot read") as info:
        read_columns(path, ["id"])
    assert isinstance(info.value.__cause__, OSError)


def test_zero_byte_file_needs_a_header(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "")
    with pytest.raises(DatasetError, match=r"register\.csv: file is empty"):
        read_columns(path, ["id"])


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.parquet", "id\n1\n")
    with pytest.raises(DatasetError, match=r"register\.parquet: cannot read as Parquet") as info:
        read_columns(path, ["id"])
    assert info.value.__cause__ is not None


def test_parquet_column_that_cannot_be_text(tmp_path: Path) -> None:
    path = tmp_path / "register.parquet"
    pq.write_table(pa.table({"id": pa.array([[1], [2]])}), path)
    with pytest.raises(DatasetError, match=r"column 'id' of type list<.*cannot be read as text"):
        read_columns(path, ["id"])


@pytest.mark.parametrize(("columns", "message"), [("id", "single string"), ([], "at least")])
def test_bad_column_arguments(tmp_path: Path, columns: list[str], message: str) -> None:
    path = text_file(tmp_path / "a.csv", "id\n1\n")
    with pytest.raises(ParameterError, match=message):
        read_columns(path, columns)


def test_repeated_column_argument(tmp_path: Path) -> None:
    path = text_file(tmp_path / "a.csv", "id\n1\n")
    with pytest.raises(ParameterError, match="'id' more than once"):
        read_columns(path, ["id", "id"])


# --------------------------------------------------------------------------- load_identifiers


def test_load_normalises_and_keeps_first_occurrence_order(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "person_id\n B2 \nａ1\nb2\n00123\nA1\n")
    ids = load_identifiers(path, "person_id")
    assert ids == IdentifierSet(
        path=str(path),
        key="person_id",
        by=(),
        ids=["b2", "a1", "00123"],
        domain_codes=None,
        domain_labels=[],
        rows=5,
        duplicates=2,
        duplicate_examples=(3, 5),
        conflicting_domains=0,
    )


def test_load_with_custom_rule(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id\n12.345-6\n123 456\n")
    rule = IdentifierRule(remove=r"[\s.-]")
    assert load_identifiers(path, "id", rule=rule).ids == ["123456"]


def test_duplicate_warning_names_file_column_and_rows(tmp_path: Path) -> None:
    values = ["a", "b", "a", "c", "b", "a", "a", "b", "a"]  # rows 3, 5, 6, 7, 8, 9 repeat
    path = csv_file(tmp_path / "register.csv", {"person_id": values})
    ids = load_identifiers(path, "person_id")
    assert ids.ids == ["a", "b", "c"]
    assert ids.duplicates == 6
    assert ids.duplicate_examples == (3, 5, 6, 7, 8)
    assert ids.warnings() == [
        f"{path}: 6 duplicate values of 'person_id' counted once (rows 3, 5, 6, 7, 8, …)"
    ]


def test_single_duplicate_warning_is_singular(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id\nx\nX\n")
    assert load_identifiers(path, "id").warnings() == [
        f"{path}: 1 duplicate value of 'id' counted once (row 2)"
    ]


def test_clean_file_has_no_warnings(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id,region\n1,N\n2,S\n")
    ids = load_identifiers(path, "id", by=["region"])
    assert ids.warnings() == []
    assert ids.duplicates == 0
    assert ids.duplicate_examples == ()


def test_domains_come_from_first_occurrence_and_conflicts_are_counted(tmp_path: Path) -> None:
    columns = {
        "id": ["1", "2", "1", "3", "2", "1", "3"],
        "region": ["N", "S", "N", "E", "W", " N ", "E"],
        "sex": ["f", "m", "m", "f", "m", "f", "f"],
    }
    path = csv_file(tmp_path / "register.csv", columns)
    ids = load_identifiers(path, "id", by=["region", "sex"])
    assert ids.by == ("region", "sex")
    assert ids.ids == ["1", "2", "3"]
    assert ids.domains == [("N", "f"), ("S", "m"), ("E", "f")]
    assert ids.duplicates == 4
    assert ids.duplicate_examples == (3, 5, 6, 7)
    # row 3 (sex differs) and row 5 (region differs); row 6 only differs by whitespace
    assert ids.conflicting_domains == 2
    assert ids.conflict_examples == (3, 5)
    warnings = ids.warnings()
    assert len(warnings) == 2
    assert warnings[1] == (
        f"{path}: 2 duplicated identifiers of 'id' have different values of 'region', 'sex' "
        "on later rows; the values of the first row are used (e.g. rows 3, 5)"
    )


def test_conflicts_count_identifiers_not_rows(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "r.csv", {"id": ["1", "1", "1"], "g": ["a", "b", "c"]})
    ids = load_identifiers(path, "id", by=["g"])
    assert ids.conflicting_domains == 1
    assert ids.conflict_examples == (2, 3)
    assert "1 duplicated identifier of 'id' has different values" in ids.warnings()[1]


def test_empty_identifiers_are_an_error_with_rows(tmp_path: Path) -> None:
    values = ["a", "b", "", "c", " ", "d", "", "", "e", "", "f"]  # empty: rows 3,5,7,8,10
    values += [""]  # and row 12
    path = csv_file(tmp_path / "register.csv", {"person_id": values})
    with pytest.raises(DatasetError) as info:
        load_identifiers(path, "person_id")
    assert str(info.value) == (
        f"{path}: column 'person_id' has 6 empty values (rows 3, 5, 7, 8, 10, …)"
        " after normalisation (strip,casefold,NFKC)"  # row 5 is a space, empty once stripped
    )
    assert info.value.path == str(path)
    assert info.value.column == "person_id"
    assert info.value.rows == (3, 5, 7, 8, 10)


def test_identifiers_empty_only_after_normalisation_say_so(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id\n1\n--\n")
    with pytest.raises(DatasetError) as info:
        load_identifiers(path, "id", rule=IdentifierRule(remove="-"))
    assert str(info.value) == (
        f"{path}: column 'id' has 1 empty value (row 2) "
        "after normalisation (strip,casefold,NFKC,remove=-)"
    )


def test_null_identifiers_in_parquet_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "register.parquet"
    pq.write_table(pa.table({"id": pa.array([1, None, 3], type=pa.int64())}), path)
    with pytest.raises(DatasetError, match=r"column 'id' has 1 empty value \(row 2\)") as info:
        load_identifiers(path, "id")
    assert info.value.rows == (2,)


def test_empty_domain_values_are_an_error(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "register.csv", {"id": ["1", "2", "3"], "region": ["N", "", "  "]})
    with pytest.raises(DatasetError) as info:
        load_identifiers(path, "id", by=["region"])
    message = str(info.value)
    assert message.startswith(f"{path}: column 'region' has 2 empty values (rows 2, 3)")
    assert "'by' column" in message
    assert info.value.column == "region"
    assert info.value.rows == (2, 3)


def test_null_domain_values_in_parquet_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "register.parquet"
    pq.write_table(pa.table({"id": ["1", "2"], "region": ["N", None]}), path)
    with pytest.raises(DatasetError, match=r"column 'region' has 1 empty value \(row 2\)"):
        load_identifiers(path, "id", by=["region"])


def test_key_in_by_is_a_parameter_error(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id,region\n1,N\n")
    with pytest.raises(ParameterError, match="'id' cannot also be a domain"):
        load_identifiers(path, "id", by=["region", "id"])


@pytest.mark.parametrize(
    ("by", "message"), [("region", r"by=\['region'\]"), (["region", "region"], "more than once")]
)
def test_bad_by_arguments(tmp_path: Path, by: list[str], message: str) -> None:
    path = text_file(tmp_path / "register.csv", "id,region\n1,N\n")
    with pytest.raises(ParameterError, match=message):
        load_identifiers(path, "id", by=by)


def test_empty_key_is_a_parameter_error(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id\n1\n")
    with pytest.raises(ParameterError, match="key"):
        load_identifiers(path, "")


def test_missing_key_column_propagates_dataset_error(tmp_path: Path) -> None:
    path = text_file(tmp_path / "register.csv", "id\n1\n")
    with pytest.raises(DatasetError, match="no column 'person_id'"):
        load_identifiers(path, "person_id")


@pytest.mark.parametrize("by", [(), ("region",)])
def test_file_without_data_rows_is_an_error_naming_it(tmp_path: Path, by: tuple[str, ...]) -> None:
    path = text_file(tmp_path / "source.csv", "id,region\n")
    with pytest.raises(DatasetError) as info:
        load_identifiers(path, "id", by=by)
    assert str(info.value).startswith(
        f"{path}: column 'id' has no identifiers: the file has a header but no data rows"
    )
    assert (info.value.path, info.value.column) == (str(path), "id")


def test_empty_parquet_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "register.parquet"
    pq.write_table(pa.table({"id": pa.array([], type=pa.string())}), path)
    with pytest.raises(DatasetError, match=r"register\.parquet: column 'id' has no identifiers"):
        load_identifiers(path, "id")


def test_missing_value_markers_are_missing_identifiers(tmp_path: Path) -> None:
    # the new user's register: real ids, then 10 NaN and 10 NA keys, in any case and padding
    values = [f"P{i}" for i in range(5)] + ["NaN"] * 10 + [" NA "] * 9 + ["na", "x"]
    path = csv_file(tmp_path / "register.csv", {"person_id": values})
    with pytest.raises(DatasetError) as info:
        load_identifiers(path, "person_id")
    assert str(info.value) == (
        f"{path}: column 'person_id' has 20 missing values (rows 6, 7, 8, 9, 10, …; 20 written "
        "as 'NA', 'NaN', 'na'); a record without an identifier cannot be matched: remove these "
        "records or fill in their identifiers"
    )
    assert (info.value.path, info.value.column) == (str(path), "person_id")
    assert info.value.rows == (6, 7, 8, 9, 10)


@pytest.mark.parametrize("marker", ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "."])
def test_every_missing_marker_in_any_case_is_refused(tmp_path: Path, marker: str) -> None:
    for spelling in {marker, marker.lower(), marker.upper(), f"  {marker.title()}\t"}:
        path = csv_file(tmp_path / "source.csv", {"id": ["a", spelling, "b"]})
        with pytest.raises(DatasetError, match=r"column 'id' has 1 (missing|empty) value \(row 2"):
            load_identifiers(path, "id")


def test_markers_and_empty_identifiers_are_reported_together(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "source.csv", {"id": ["a", "", "NULL", "b", "."]})
    with pytest.raises(DatasetError) as info:
        load_identifiers(path, "id")
    assert "has 3 missing values (rows 2, 3, 5; 2 written as '.', 'NULL', 1 empty)" in str(
        info.value
    )
    assert info.value.rows == (2, 3, 5)


def test_marker_like_identifiers_that_are_not_markers_are_kept(tmp_path: Path) -> None:
    values = ["NAN1", "n.a.", "none", "nil", "NA-7", "..", "0"]
    path = csv_file(tmp_path / "source.csv", {"id": values, "country": ["NA"] * len(values)})
    loaded = load_identifiers(path, "id", by=["country"])
    assert loaded.ids == [reference(value) for value in values]
    assert loaded.domain_labels == [("NA",)]  # in a domain column NA is a value (Namibia)


def test_missing_markers_mask() -> None:
    values = pa.array(["NA", " nan ", "N/A", "Null", ".", "", None, "NAa", "n a"])
    assert missing_markers(values).tolist() == [True] * 5 + [False] * 4
    chunked = pa.chunked_array([["x", "NA"], ["nan"]])
    assert missing_markers(chunked).tolist() == [False, True, True]


@pytest.mark.slow
def test_two_hundred_thousand_rows_load(tmp_path: Path) -> None:
    n = 200_000
    ids = [f" ID{i % 150_000:08d} " for i in range(n)]  # the last 50,000 repeat
    regions = ["ABCDEFG"[i % 7] for i in range(n)]
    path = csv_file(tmp_path / "big.csv.gz", {"id": ids, "region": regions})
    loaded = load_identifiers(path, "id", by=["region"])
    assert loaded.rows == n
    assert len(loaded.ids) == 150_000
    assert loaded.ids[:2] == ["id00000000", "id00000001"]
    assert loaded.duplicates == 50_000
    assert loaded.duplicate_examples == tuple(range(150_001, 150_006))
    assert loaded.domains is not None
    assert loaded.domains[:3] == [("A",), ("B",), ("C",)]
    # row i + 150,000 repeats row i with another region, as 150,000 % 7 != 0
    assert loaded.conflicting_domains == 50_000
    assert loaded.conflict_examples == loaded.duplicate_examples


# --------------------------------------------------------------------------- property


# The plain-Python reference of the documented rule. Python's str.lower() applies full case
# mappings and the final-sigma rule; pyarrow's utf8_lower (and the documented rule) uses the
# one-to-one simple mapping, so the reference lower-cases code point by code point and maps
# U+0130 to "i", the only code point whose full lowercase mapping has more than one.
_SIMPLE_LOWER = {"\u0130": "i"}


def _simple_lower(char: str) -> str:
    lowered = char.lower()
    return lowered if len(lowered) == 1 else _SIMPLE_LOWER[char]


def reference(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip()
    return "".join(_simple_lower(char) for char in value)


def first_occurrences(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


# Surrogates (Cs) cannot be stored as UTF-8. Unassigned code points (Cn) are excluded because
# Python 3.11's unicodedata (Unicode 14) and pyarrow's utf8proc (a newer Unicode) disagree on
# characters assigned since; that is a table-version difference, not a rule difference.
_ALPHABET = st.characters(exclude_categories=("Cs", "Cn"))
_MARKERS = {"na", "n/a", "nan", "null", "."}
_IDS = st.lists(st.text(_ALPHABET, min_size=1, max_size=8), min_size=1, max_size=25).filter(
    lambda values: all(reference(v) and v.strip().lower() not in _MARKERS for v in values)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(values=_IDS, use_parquet=st.booleans())
def test_ids_match_plain_python_reference(
    tmp_path_factory: pytest.TempPathFactory, values: list[str], use_parquet: bool
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    if use_parquet:
        path = folder / "ids.parquet"
        pq.write_table(pa.table({"id": pa.array(values, type=pa.string())}), path)
    else:
        path = folder / "ids.csv"
        write_csv(path, {"id": values})
    loaded = load_identifiers(path, "id")
    expected = first_occurrences([reference(value) for value in values])
    assert loaded.ids == expected
    assert loaded.rows == len(values)
    assert loaded.duplicates == len(values) - len(expected)


# --------------------------------------------------------------------------- write_csv


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.csv.gz", "out.txt"])
def test_write_csv_round_trips(tmp_path: Path, name: str) -> None:
    columns = {"id": ["007", "a,b", 'q"uote', "line\nbreak", ""], "g": ["1", "2", "3", "4", "5"]}
    path = tmp_path / name
    write_csv(path, columns)
    assert read_columns(path, ["id", "g"]).to_pydict() == columns
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_write_csv_tsv_uses_tabs_and_gz_compresses(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.tsv", {"x": ["1"], "y": ["2"]})
    assert "\t" in (tmp_path / "a.tsv").read_text()
    write_csv(tmp_path / "a.csv.gz", {"x": ["1"]})
    assert gzip.decompress((tmp_path / "a.csv.gz").read_bytes()).decode().splitlines() == [
        '"x"',
        '"1"',
    ]


def test_write_csv_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(path, {"id": ["old"]})
    write_csv(str(path), {"id": ["new", "newer"]})
    assert read_columns(path, ["id"])["id"].to_pylist() == ["new", "newer"]


def test_write_csv_failure_leaves_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.csv"
    write_csv(path, {"id": ["old"]})

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pa_csv, "write_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_csv(path, {"id": ["new"]})
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert path.read_text().splitlines() == ['"id"', '"old"']


def test_write_csv_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="same length"):
        write_csv(tmp_path / "a.csv", {"a": ["1"], "b": ["1", "2"]})
    with pytest.raises(ParameterError, match="at least one column"):
        write_csv(tmp_path / "a.csv", {})
    with pytest.raises(ParameterError, match="strings"):
        write_csv(tmp_path / "a.csv", {"a": [1]})  # type: ignore[list-item]
    with pytest.raises(ParameterError, match=r"\.csv"):
        write_csv(tmp_path / "a.parquet", {"a": ["1"]})
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- internals


def test_first_occurrences_fast_path_and_sort_fallback() -> None:
    from privstats.data.readers import _first_occurrences

    in_order = np.array([0, 1, 0, 2, 1], dtype=np.int32)
    first, order = _first_occurrences(in_order, 3)
    assert first.tolist() == [0, 1, 3]
    assert order is None
    # a numbering not in order of first appearance takes the sorting path
    shuffled = np.array([2, 0, 2, 1, 0], dtype=np.int32)
    first, order = _first_occurrences(shuffled, 3)
    assert first.tolist() == [1, 3, 0]  # first row of codes 0, 1, 2
    assert order is not None
    assert order.tolist() == [2, 0, 1]  # codes in file order
    first, order = _first_occurrences(np.array([], dtype=np.int32), 0)
    assert first.size == 0


@pytest.mark.parametrize(
    ("columns", "distinct"),
    [(2, 7), (3, 200), (7, 500)],  # a table of every combination; a sort; beyond 2^62
)
def test_domain_codes_number_the_sorted_value_tuples(columns: int, distinct: int) -> None:
    rows = 1_500
    generator = np.random.default_rng(columns)  # simulated test data, not protecting anything
    values = [
        [f"v{int(x)}" for x in generator.integers(0, distinct, size=rows)] for _ in range(columns)
    ]
    codes, labels = _domain_codes([pa.array(column) for column in values])
    tuples = list(zip(*values, strict=True))
    assert labels == sorted(set(tuples))
    assert [labels[code] for code in codes] == tuples
    assert codes.dtype == np.intp
