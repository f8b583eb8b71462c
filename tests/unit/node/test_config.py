"""Tests of the node's config file: parsing, defaults, error messages, writing, dataset schemas."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privstats.errors import DatasetError, ParameterError
from privstats.node.config import (
    KEYED_KINDS,
    AllowRule,
    DatasetConfig,
    DatasetSchema,
    NodeConfig,
    PolicyConfig,
    load_config,
    write_config,
)

FULL = """\
[node]
name = "register"                 # party name, as enrolled at the hub
hub = "http://127.0.0.1:8700"     # hub base URL
keys = "keys"                     # folder with signing.key and box.key
poll_seconds = 0.5
heartbeat_seconds = 3

[datasets.population]
path = "register.csv"
format = "csv"
key_columns = ["person_id"]
columns = ["person_id", "region"]

[datasets.extra-data_2]
path = "data/extra.parquet"
key_columns = ["id"]

[policy]
approval = "auto"
min_cell = 20
recipients = ["analyst"]

[[policy.allow]]
kind = "coverage"
datasets = ["population"]
columns = ["person_id", "region"]

[[policy.allow]]
kind = "linkage"
datasets = ["population", "extra-data_2"]
"""

MINIMAL = """\
[node]
name = "register"
hub = "http://127.0.0.1:8700"
"""


def write(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    """Load ``text`` as a config file, expect a ParameterError, and return its message."""
    path = write(tmp_path, text)
    with pytest.raises(ParameterError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message  # every message names the file
    return message


# --------------------------------------------------------------------------- parsing


def test_full_example_is_parsed_with_paths_relative_to_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)

    config = load_config(path)

    assert config.name == "register"
    assert config.hub == "http://127.0.0.1:8700"
    assert config.keys == tmp_path / "keys"
    assert config.path == path
    assert config.poll_seconds == 0.5
    assert config.heartbeat_seconds == 3.0
    assert config.datasets == {
        "population": DatasetConfig(
            path=tmp_path / "register.csv",
            format="csv",
            key_columns=("person_id",),
            columns=("person_id", "region"),
        ),
        "extra-data_2": DatasetConfig(
            path=tmp_path / "data" / "extra.parquet", format="parquet", key_columns=("id",)
        ),
    }
    assert config.policy == PolicyConfig(
        approval="auto",
        min_cell=20,
        recipients=("analyst",),
        allow=(
            AllowRule(kind="coverage", datasets=("population",), columns=("person_id", "region")),
            AllowRule(kind="linkage", datasets=("population", "extra-data_2")),
        ),
    )


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    assert config.keys == tmp_path / "keys"
    assert config.poll_seconds == 1.0
    assert config.heartbeat_seconds == 2.0
    assert config.datasets == {}
    assert config.policy == PolicyConfig(approval="ask", min_cell=10, recipients=None, allow=())


def test_absolute_paths_are_kept_and_hub_trailing_slash_dropped(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere" / "r.csv"
    text = MINIMAL.replace("8700", "8700/") + (
        f'keys = "{tmp_path / "k"}"\n[datasets.pop]\npath = "{data}"\nkey_columns = ["id"]\n'
    )
    config = load_config(write(tmp_path, text, "sub.toml"))
    assert config.hub == "http://127.0.0.1:8700"
    assert config.keys == tmp_path / "k"
    assert config.datasets["pop"].path == data


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.tsv", "tsv"),
        ("a.tsv.gz", "tsv"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.txt", "csv"),
    ],
)
def test_format_is_inferred_from_the_file_name(tmp_path: Path, name: str, expected: str) -> None:
    text = MINIMAL + f'[datasets.d]\npath = "{name}"\nkey_columns = ["id"]\n'
    assert load_config(write(tmp_path, text)).datasets["d"].format == expected


def test_explicit_format_wins_over_the_file_name(tmp_path: Path) -> None:
    text = MINIMAL + '[datasets.d]\npath = "a.dat"\nformat = "tsv"\nkey_columns = ["id"]\n'
    assert load_config(write(tmp_path, text)).datasets["d"].format == "tsv"


def test_min_domain_is_read_as_min_cell_with_a_deprecation_warning(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[policy]\nmin_domain = 20\n")
    with pytest.warns(DeprecationWarning, match=r"\[policy\] min_domain .* write min_cell = 20"):
        config = load_config(path)
    assert config.policy.min_cell == 20
    assert config.policy.min_domain == 20  # the old attribute name still reads it


def test_min_domain_and_min_cell_together_are_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "[policy]\nmin_cell = 20\nmin_domain = 5\n")
    assert "[policy] sets both min_cell and min_domain, its old name; keep min_cell only" in (
        message
    )


def test_policy_config_still_takes_the_old_keyword() -> None:
    assert PolicyConfig(min_domain=7) == PolicyConfig(min_cell=7)


def test_max_epsilon_globally_and_per_dataset(tmp_path: Path) -> None:
    text = MINIMAL + (
        '[datasets.d]\npath = "a.csv"\nmax_epsilon = 0.5\nmax_delta = 1e-6\n'
        "[policy]\nmax_epsilon = 1\nmax_delta = 0.0\n"
    )
    config = load_config(write(tmp_path, text))
    assert (config.policy.max_epsilon, config.policy.max_delta) == (1.0, 0.0)
    assert (config.datasets["d"].max_epsilon, config.datasets["d"].max_delta) == (0.5, 1e-6)
    assert load_config(write(tmp_path, MINIMAL, "other.toml")).policy.max_epsilon is None


# --------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[policy]\napproval = "yes"\n', '[policy] approval must be "auto" or "ask", got "yes"'),
        ("[policy]\nmin_cell = 0\n", "[policy] min_cell must be >= 1, got 0"),
        ("[policy]\nmin_cell = 2.5\n", "[policy] min_cell must be a whole number, got 2.5"),
        ("[policy]\nmax_epsilon = 0\n", "[policy] max_epsilon must be > 0, got 0"),
        ('[policy]\nmax_epsilon = "1"\n', '[policy] max_epsilon must be a number, got "1"'),
        ("[policy]\nmax_epsilon = inf\n", "[policy] max_epsilon must be a finite number"),
        ("[policy]\nmax_delta = 1.0\n", "[policy] max_delta must be < 1, got 1"),
        (
            '[datasets.d]\npath = "a.csv"\nmax_epsilon = -1\n',
            "[datasets.d] max_epsilon must be > 0, got -1",
        ),
        ("[policy]\nrecipients = []\n", "[policy] recipients must name at least one recipient"),
        ('[policy]\nrecipients = "x"\n', "[policy] recipients must be a list of strings"),
        ("[policy]\nallow = 1\n", "[policy] allow must be one or more [[policy.allow]] tables"),
        ("[policy]\nfoo = 1\n", "[policy] has an unknown key 'foo'"),
        ("[[policy.allow]]\ndatasets = []\n", "[[policy.allow]] #1 kind is required"),
        (
            '[[policy.allow]]\nkind = "c"\ndatasets = ["nope"]\n',
            "[[policy.allow]] #1 datasets names 'nope', which is not declared",
        ),
        (
            '[datasets.d]\npath = "d.csv"\nkey_columns = ["id"]\ncolumns = ["id"]\n'
            '[[policy.allow]]\nkind = "c"\ndatasets = ["d"]\ncolumns = ["id", "age"]\n',
            "[[policy.allow]] #1 columns names 'age', which is not among the declared columns",
        ),
        (
            '[datasets.d]\npath = "d.csv"\n[[policy.allow]]\nkind = "coverage"\ndatasets = ["d"]\n',
            "[[policy.allow]] #1 allows 'coverage' jobs on dataset 'd', which declares no "
            "key_columns; 'coverage' jobs match records by their key (identifier) column: add "
            'key_columns = ["…"] to [datasets.d]',
        ),
        (
            '[datasets.d]\npath = "d.csv"\nkey_columns = []\n'
            '[[policy.allow]]\nkind = "aggregate"\ndatasets = ["d"]\n'
            '[[policy.allow]]\nkind = "join_aggregate"\ndatasets = ["d"]\n',
            "[[policy.allow]] #2 allows 'join_aggregate' jobs on dataset 'd', which declares no",
        ),
        ('[datasets.d]\nkey_columns = ["id"]\n', "[datasets.d] path is required"),
        (
            '[datasets.d]\npath = "d.xlsx"\nkey_columns = ["id"]\n',
            '[datasets.d] format cannot be told from the name "d.xlsx"',
        ),
        (
            '[datasets.d]\npath = "d.csv"\nformat = "xlsx"\nkey_columns = ["id"]\n',
            '[datasets.d] format must be "csv", "tsv", "parquet" or "model", got "xlsx"',
        ),
        (
            '[datasets.d]\npath = "d.csv"\nkey_columns = ["id"]\ncolumns = ["x", "x"]\n',
            "[datasets.d] columns names 'x' more than once",
        ),
        (
            '[datasets.d]\npath = "d.csv"\nkey_columns = ["id"]\ncolumns = ["x"]\n',
            "[datasets.d] key_columns 'id' must also be listed in columns",
        ),
        (
            '[datasets.d]\npath = "d.csv"\nkey_columns = ["id"]\nsep = ";"\n',
            "[datasets.d] has an unknown key 'sep'",
        ),
        (
            '[datasets.D]\npath = "d.csv"\nkey_columns = ["id"]\n',
            '[datasets] dataset name "D" may use only a-z, 0-9',
        ),
        ("[polcy]\n", "unknown table or key 'polcy' (did you mean 'policy'?)"),
    ],
)
def test_each_error_names_the_file_table_and_key(tmp_path: Path, extra: str, expected: str) -> None:
    message = config_error(tmp_path, MINIMAL + extra)
    assert expected in message


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ('hub = "https://h"\n', "[node] name is required"),
        ('name = "r"\n', "[node] hub is required"),
        ('name = "r"\nhub = "ftp://h"\n', "[node] hub must be an https:// URL such as"),
        ('name = ""\nhub = "https://h"\n', '[node] name must not be empty, got ""'),
        ('name = "r"\nhub = "https://h"\npoll_seconds = 0\n', "[node] poll_seconds must be > 0"),
        (
            'name = "r"\nhub = "https://h"\nheartbeat_seconds = "2"\n',
            '[node] heartbeat_seconds must be a number, got "2"',
        ),
        ('name = "r"\nhub = "https://h"\npoll_seconds = inf\n', "poll_seconds must be a finite"),
        ('name = "r"\nhub = "https://h"\nnmae = "x"\n', "[node] has an unknown key 'nmae'"),
        ('name = "r"\nhub = "https://h"\nkeys = 3\n', "[node] keys must be a path"),
    ],
)
def test_node_table_errors(tmp_path: Path, node: str, expected: str) -> None:
    assert expected in config_error(tmp_path, "[node]\n" + node)


def test_all_problems_are_reported_at_once_and_the_first_key_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[policy]\napproval = "yes"\nmin_cell = 0\n')
    with pytest.raises(ParameterError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: [policy] ") for line in lines)
    assert info.value.parameter == "policy.approval"


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[node]\nname = "register\n')
    assert "not valid TOML" in message
    assert "line 2" in message


def test_missing_node_table_and_missing_file(tmp_path: Path) -> None:
    assert "[node] table is missing" in config_error(tmp_path, "[policy]\n")
    with pytest.raises(ParameterError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_config_errors_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="approval"):
        load_config(write(tmp_path, MINIMAL + '[policy]\napproval = "yes"\n'))


# --------------------------------------------------------------------------- writing


def test_write_config_round_trips_with_comments(tmp_path: Path) -> None:
    datasets = {
        "population": DatasetConfig(
            path=Path("register.csv"), key_columns=("person_id",), columns=("person_id", "region")
        ),
        "other": DatasetConfig(path=Path('we"ird\\name.tsv.gz'), key_columns=("id",)),
    }
    policy = PolicyConfig(
        approval="auto",
        min_cell=15,
        recipients=("analyst",),
        allow=(AllowRule(kind="coverage", datasets=("population",), columns=("person_id",)),),
    )
    path = tmp_path / "node.toml"

    write_config(path, name="register", hub="https://h:8700", datasets=datasets, policy=policy)

    text = path.read_text(encoding="utf-8")
    assert "# party name, as enrolled at the hub" in text
    config = load_config(path)
    assert config.name == "register"
    assert config.keys == tmp_path / "keys"
    assert config.datasets["population"] == datasets["population"].model_copy(
        update={"path": tmp_path / "register.csv"}
    )
    assert config.datasets["other"].path == tmp_path / 'we"ird\\name.tsv.gz'
    assert config.datasets["other"].format == "tsv"
    assert config.policy == policy


def test_write_config_writes_min_cell_and_the_budget_caps(tmp_path: Path) -> None:
    datasets = {"d": DatasetConfig(path=Path("a.pq"), max_epsilon=0.25, max_delta=1e-7)}
    policy = PolicyConfig(min_cell=12, max_epsilon=2.0, max_delta=1e-5)
    path = tmp_path / "node.toml"

    write_config(path, name="register", hub="https://h", datasets=datasets, policy=policy)

    text = path.read_text(encoding="utf-8")
    assert "min_cell = 12" in text and "min_domain" not in text
    assert "max_epsilon = 2.0" in text and "max_epsilon = 0.25" in text
    config = load_config(path)
    assert config.policy == policy
    assert config.datasets["d"].format == "parquet"
    assert (config.datasets["d"].max_epsilon, config.datasets["d"].max_delta) == (0.25, 1e-7)


def test_write_config_without_a_cap_leaves_a_commented_example(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    write_config(path, name="register", hub="https://h")
    assert "# max_epsilon = 1.0" in path.read_text(encoding="utf-8")
    assert load_config(path).policy.max_epsilon is None


def test_write_config_with_defaults_gives_a_policy_that_allows_nothing(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    write_config(path, name="source", hub="https://hub.example.org")
    config = load_config(path)
    assert config.datasets == {}
    assert config.policy == PolicyConfig()
    assert "# [[policy.allow]]" in path.read_text(encoding="utf-8")


def test_write_config_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path, "keep me\n")
    with pytest.raises(ParameterError, match="already exists"):
        write_config(path, name="register", hub="https://h")
    assert path.read_text(encoding="utf-8") == "keep me\n"


def test_write_config_checks_values_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    with pytest.raises(ParameterError, match=r"\[node\] hub must be an http"):
        write_config(path, name="register", hub="hub:8700")
    with pytest.raises(ParameterError, match=r"\[node\] poll_seconds must be > 0"):
        write_config(path, name="register", hub="https://h", poll_seconds=0)
    with pytest.raises(TypeError, match="name must be a string"):
        write_config(path, name=3, hub="https://h")  # type: ignore[arg-type]
    assert not path.exists()


# --------------------------------------------------------------------------- dataset schemas


def dataset(path: Path, columns: tuple[str, ...] | None = None) -> DatasetConfig:
    return DatasetConfig(path=path, key_columns=("person_id",), columns=columns)


def test_csv_schema_has_header_types_and_row_count(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text("person_id,region,age\n001,N,41\n002,S,5\n\n003,N,77\n", encoding="utf-8")

    schema = dataset(path).schema()

    assert schema == DatasetSchema(
        columns=(("person_id", "int64"), ("region", "string"), ("age", "int64")), rows=3
    )
    assert schema.names == ("person_id", "region", "age")


def test_declared_columns_are_returned_in_declared_order(tmp_path: Path) -> None:
    path = tmp_path / "register.tsv"
    path.write_text("person_id\tregion\tage\nA\tN\t1\n", encoding="utf-8")
    config = DatasetConfig(path=path, key_columns=("person_id",), columns=("region", "person_id"))
    assert config.schema() == DatasetSchema(
        columns=(("region", "string"), ("person_id", "string")), rows=1
    )
    assert config.file_columns() == ("person_id", "region", "age")


def test_csv_gz_row_count_streams_past_the_first_block(tmp_path: Path) -> None:
    rows = 200_000  # > 1 MB of text: several blocks, and a type change after the first one
    lines = [f"{i},{'x' if i == rows - 1 else i % 7}" for i in range(rows)]
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(("person_id,region\n" + "\n".join(lines) + "\n").encode()))

    schema = dataset(path).schema()

    assert schema.rows == rows
    assert schema.names == ("person_id", "region")


def test_header_only_file_has_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("person_id,region\n", encoding="utf-8")
    assert dataset(path).schema().rows == 0


def test_parquet_schema_and_row_count(tmp_path: Path) -> None:
    path = tmp_path / "customers.parquet"
    table = pa.table(
        {
            "person_id": pa.array(["a", "b", "c", "d"], type=pa.string()),
            "spend": pa.array([1.5, 2.0, 0.0, 3.25], type=pa.float64()),
        }
    )
    pq.write_table(table, path, row_group_size=2)

    schema = dataset(path).schema()

    assert schema == DatasetSchema(columns=(("person_id", "string"), ("spend", "double")), rows=4)


def test_pq_is_parquet_too(tmp_path: Path) -> None:
    path = tmp_path / "customers.pq"
    pq.write_table(pa.table({"person_id": ["a", "b", "c"]}), path)
    assert dataset(path).schema() == DatasetSchema(columns=(("person_id", "string"),), rows=3)


def test_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DatasetError, match=r"absent\.csv: file not found") as info:
        dataset(path).schema()
    assert info.value.path == str(path)


def test_missing_key_column_is_named_with_the_available_ones(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text("personid,region\n1,N\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        dataset(path).schema()
    message = str(info.value)
    assert "key column 'person_id' is not in the file" in message
    assert "'personid', 'region'" in message
    assert "did you mean 'personid'?" in message
    assert info.value.column == "person_id"


def test_missing_declared_column_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"person_id": ["a"], "region": ["N"]}), path)
    config = dataset(path, columns=("person_id", "age"))
    with pytest.raises(DatasetError, match="column 'age' is not in the file") as info:
        config.schema()
    assert info.value.column == "age"


def test_unreadable_file_is_a_dataset_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.csv: file is empty"):
        dataset(empty).schema()
    not_parquet = tmp_path / "bad.parquet"
    not_parquet.write_text("person_id\n1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.parquet: cannot read as Parquet"):
        dataset(not_parquet).schema()


def test_node_config_can_be_built_directly() -> None:
    config = NodeConfig(name="register", hub="https://h", path=Path("node.toml"))
    assert config.keys == Path("keys")
    assert config.policy.allow == ()


# ------------------------------------------------------------------- models and coordinators


def _saved_model(path: Path, features: tuple[str, ...] | None = ("acc_mean", "acc_std")) -> Path:
    from privstats.ml.models import LogisticRegression

    model = LogisticRegression(
        2, ["sit", "walk"], feature_names=None if features is None else list(features)
    )
    model.save(path)
    return path


def test_a_model_is_a_dataset_whose_columns_are_its_features(tmp_path: Path) -> None:
    _saved_model(tmp_path / "activity-model.json")
    text = MINIMAL + (
        '\n[datasets.model]\npath = "activity-model.json"\n'
        '\n[[policy.allow]]\nkind = "he_inference"\ndatasets = ["model"]\n'
        '\n[[policy.allow]]\nkind = "fl_train"\n'
    )
    config = load_config(write(tmp_path, text))
    model = config.datasets["model"]
    assert (model.format, model.key_columns) == ("model", ())
    assert model.schema() == DatasetSchema(
        columns=(("acc_mean", "double"), ("acc_std", "double")), rows=0
    )
    assert config.policy.allow[1] == AllowRule(kind="fl_train", datasets=())

    path = tmp_path / "written.toml"
    write_config(
        path, name="n", hub="https://h:8700", datasets=config.datasets, policy=config.policy
    )
    assert "no data: only roles that read none" in path.read_text(encoding="utf-8")
    assert load_config(path).datasets["model"] == model
    assert load_config(path).policy == config.policy


def test_a_model_without_feature_names_or_with_key_columns_is_refused(tmp_path: Path) -> None:
    _saved_model(tmp_path / "anonymous.json", features=None)
    with pytest.raises(DatasetError, match="the model has no feature names"):
        DatasetConfig(path=tmp_path / "anonymous.json").schema()
    (tmp_path / "table.json").write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(DatasetError, match="not a valid model"):
        DatasetConfig(path=tmp_path / "table.json").schema()
    message = config_error(
        tmp_path, MINIMAL + '[datasets.m]\npath = "anonymous.json"\nkey_columns = ["id"]\n'
    )
    assert "a model has no key columns" in message


def test_a_dataset_offered_only_for_kinds_without_a_key_needs_no_key_columns(
    tmp_path: Path,
) -> None:
    """issue 13: a dataset offered only for aggregate had to declare key_columns."""
    text = MINIMAL + (
        '[datasets.trade]\npath = "trade.csv"\ncolumns = ["region", "exports"]\n'
        '[[policy.allow]]\nkind = "aggregate"\ndatasets = ["trade"]\n'
        '[[policy.allow]]\nkind = "synthesize"\ndatasets = ["trade"]\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.datasets["trade"].key_columns == ()
    out = tmp_path / "written.toml"
    write_config(out, name="n", hub="https://h", datasets=config.datasets, policy=config.policy)
    assert load_config(out).datasets["trade"].key_columns == ()


def test_the_kinds_that_need_key_columns_are_those_whose_spec_names_a_key() -> None:
    from privstats.jobs.kinds import KINDS

    keyed = {name for name, kind in KINDS.items() if "key" in kind.spec_type.model_fields}
    assert keyed == set(KEYED_KINDS)
