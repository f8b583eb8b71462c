"""Schema inference, conforming tables to it, and reading microdata files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from privstats.errors import DatasetError, ParameterError
from privstats.synth.schema import Schema, from_numeric, read_microdata, to_numeric


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41, None, 22],
            "sex": ["m", "f", "f", None],
            "income": [1.5, 0.0, 0.0, 3.25],
            "born": pd.to_datetime(["1990-01-02", None, "1985-05-05", "2000-12-31"]),
            "flag": [True, False, True, True],
        }
    )


def test_kinds_ranges_categories_and_missing_shares_are_inferred() -> None:
    schema = Schema.infer(_table())
    assert [(c.name, c.kind) for c in schema] == [
        ("age", "integer"),
        ("sex", "categorical"),
        ("income", "continuous"),
        ("born", "date"),
        ("flag", "categorical"),
    ]
    assert schema["sex"].categories == ("f", "m")
    assert (schema["age"].low, schema["age"].high, schema["age"].missing) == (22, 41, 0.25)
    assert Schema.from_dict(schema.to_dict()) == schema
    assert Schema.infer(_table(), categorical=["age"])["age"].categories == ("22.0", "30.0", "41.0")


def test_numeric_round_trip_keeps_values_and_missing() -> None:
    table = _table()
    schema = Schema.infer(table)
    for column in schema:
        back = from_numeric(to_numeric(table[column.name], column), column)
        expected = schema.conform(table)[column.name]
        pd.testing.assert_series_equal(back, expected, check_names=False)
    assert schema.conform(table)["born"].isna().tolist() == [False, True, False, False]


def test_values_outside_the_schema_are_named() -> None:
    schema = Schema.infer(_table())
    other = _table().assign(sex=["m", "x", "f", "f"])
    with pytest.raises(DatasetError, match="'sex' has values outside its categories: x"):
        schema.conform(other)
    with pytest.raises(DatasetError, match="columns income are missing"):
        schema.conform(_table().drop(columns="income"))
    with pytest.raises(ParameterError, match="no column 'wage'"):
        schema["wage"]


def test_read_microdata_finds_iso_dates_and_honours_categorical(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("id,code,day,x\n1,01,2026-01-02,1.5\n2,02,,\n3,01,2026-03-01,2\n")
    table, schema = read_microdata(path, categorical=["code"])
    assert schema["day"].kind == "date" and schema["code"].kind == "categorical"
    assert schema["x"].kind == "continuous" and schema["id"].kind == "integer"
    assert table["day"].isna().tolist() == [False, True, False]
    with pytest.raises(DatasetError, match="file not found"):
        read_microdata(tmp_path / "nope.csv")
    assert schema["x"].missing == pytest.approx(1 / 3)
    assert table["code"].tolist() == ["01", "02", "01"]


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "census-latin1.csv"
    path.write_bytes("name,age\nAnna,30\nJosé,41\n".encode("latin-1"))
    with pytest.raises(DatasetError) as caught:
        read_microdata(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 3: not UTF-8 text (byte 0xe9)")
    assert message.endswith("save the file with UTF-8 text encoding")
    assert caught.value.path == str(path)


@pytest.mark.parametrize("name", ["m.parquet", "m.pq", "m.tsv", "m.csv.gz", "m.txt"])
def test_read_microdata_tells_the_format_from_the_name_as_the_readers_do(
    tmp_path: Path, name: str
) -> None:
    frame = pd.DataFrame({"age": [31, 45], "region": ["N", "S"]})
    path = tmp_path / name
    if name.endswith(("parquet", ".pq")):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="\t" if ".tsv" in name else ",", index=False)
    table, schema = read_microdata(path)
    assert table.to_dict("list") == frame.to_dict("list")
    assert schema.names == ("age", "region")


def test_read_microdata_refuses_an_unknown_ending(tmp_path: Path) -> None:
    path = tmp_path / "m.xlsx"
    path.write_text("age\n1\n")
    with pytest.raises(DatasetError, match=r"^the holdout .*m\.xlsx: unsupported file type"):
        read_microdata(path, what="the holdout")


def test_errors_name_which_table_the_file_is(tmp_path: Path) -> None:
    path = tmp_path / "syn.csv"
    pd.DataFrame({"age": [1, 2], "region": ["N", "S"]}).to_csv(path, index=False)
    with pytest.raises(DatasetError) as caught:
        read_microdata(path, categorical=["sex", "region"], what="the synthetic table")
    assert str(caught.value) == (
        f"the synthetic table {path}: no column 'sex'; the file has columns 'age', 'region'"
    )
    assert caught.value.column == "sex"
    with pytest.raises(DatasetError, match=r"^the holdout .*: file is a folder, not a data file"):
        read_microdata(tmp_path, what="the holdout")
    schema = Schema.infer(_table())
    with pytest.raises(DatasetError, match=r"^the synthetic table: columns sex.* it has age"):
        schema.conform(pd.DataFrame({"age": [1]}), "the synthetic table")
