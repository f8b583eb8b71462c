"""A node's configuration file: who the node is, its hub, the datasets it offers, its policy.

The data owner writes one TOML file (or lets :func:`write_config` start it) and the node
reads it once at start-up::

    [node]
    name = "register"                 # party name, as enrolled at the hub
    hub = "https://hub.example.org"   # hub base URL (http:// only to this machine,
                                      # or with insecure = true)
    keys = "keys"                     # folder with signing.key and box.key

    [datasets.population]             # one table per dataset; name = [a-z0-9_-]+
    path = "register.csv"             # format inferred from .csv(.gz) .tsv(.gz) .parquet
    key_columns = ["person_id"]       # needed where coverage or join_aggregate is allowed
    columns = ["person_id", "region"] # leave out for all columns of the file

    [datasets.activity-model]         # a model written by `privstats run fl-train`
    path = "activity-model.json"      # (format "model"): its columns are its features

    [policy]
    approval = "auto"                 # "auto" | "ask"
    min_domain = 10
    recipients = ["analyst"]          # leave out for any recipient

    [[policy.allow]]
    kind = "coverage"
    datasets = ["population"]

Relative paths are taken from the config file's folder. Every mistake is a
:class:`~privstats.errors.ParameterError` naming the file and the key, such as
``node.toml: [policy] approval must be "auto" or "ask", got "yes"``. Nothing here reads the
data except :meth:`DatasetConfig.schema` (header and row count) and
:meth:`DatasetConfig.file_columns` (header only); :mod:`privstats.node.policy` applies the
policy to a job's manifest.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from privstats.errors import DatasetError, ParameterError
from privstats.service.http import is_loopback

__all__ = [
    "JOB_ID",
    "KEYED_KINDS",
    "AllowRule",
    "DatasetConfig",
    "DatasetSchema",
    "NodeConfig",
    "PolicyConfig",
    "check_job_id",
    "load_config",
    "write_config",
]

Format = Literal["csv", "tsv", "parquet", "model"]

#: File name endings from which the format is inferred (``.gz`` is decompressed on the fly).
FORMAT_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".json": "model",
}
_DELIMITERS = {"csv": ",", "tsv": "\t"}
_DATASET_NAME = re.compile(r"[a-z0-9_-]+")
_NODE_KEYS = ("name", "hub", "insecure", "keys", "poll_seconds", "heartbeat_seconds")
_TABLES = ("node", "datasets", "policy")

#: Kinds that match records across parties by their key (identifier) columns: a dataset
#: allowed for one of them must declare its key_columns. Others (aggregate, fl_train,
#: he_inference, synthesize) read no key, so a dataset offered only for them needs none.
KEYED_KINDS = ("coverage", "join_aggregate")

#: A job id as the hub makes them (``secrets.token_hex(8)``): 16 lowercase hex digits. The
#: node uses job ids as folder names (``results/<job id>``), so it accepts nothing else.
JOB_ID = re.compile(r"[0-9a-f]{16}")


# --------------------------------------------------------------------------- models


class DatasetSchema(BaseModel):
    """A dataset's columns as ``(name, type)`` pairs and its number of data rows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[tuple[str, str], ...]
    rows: int = Field(ge=0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


class DatasetConfig(BaseModel):
    """One dataset the node offers: its file, format, identifier columns and usable columns.

    ``columns`` is what jobs may read from the file (None: every column); the key columns
    are always among them. Key columns are needed only if a kind that matches records by
    key (:data:`KEYED_KINDS`) is allowed on the dataset. A ``model`` (a JSON file written
    by ``privstats run fl-train``) has its feature names as columns, no rows and no key
    columns.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    format: Format
    key_columns: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer_format(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if data.get("format") is None:
            path = data.get("path")
            if not isinstance(path, str | Path):
                return data  # the path's own error is reported
            inferred = format_of(path)
            if inferred is None:
                raise ValueError(
                    f"format cannot be told from the name {_show(Path(path).name)} (known "
                    f'endings: {", ".join(FORMAT_SUFFIXES)}); add format = "csv", "tsv", '
                    '"parquet" or "model"'
                )
            data = {**data, "format": inferred}
        return data

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @field_validator("key_columns")
    @classmethod
    def _check_key_columns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _names(value, "key column", optional=False) if value else value

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _names(value, "column", optional=True)

    @model_validator(mode="after")
    def _keys_among_columns(self) -> DatasetConfig:
        if self.key_columns and self.format == "model":
            raise ValueError("a model has no key columns; leave key_columns out")
        if self.columns is not None:
            missing = [name for name in self.key_columns if name not in self.columns]
            if missing:
                raise ValueError(
                    f"key_columns {_quoted(missing)} must also be listed in columns "
                    f"({_quoted(self.columns)})"
                )
        return self

    def file_columns(self) -> tuple[str, ...]:
        """The column names in the file's header (Parquet: its schema); no data is read."""
        return tuple(name for name, _ in self._read(count=False)[0])

    def schema(self) -> DatasetSchema:  # type: ignore[override]  # BaseModel.schema is v1's
        """The dataset's columns with their types, and the file's number of data rows.

        Columns are the declared ones in declared order, or all columns of the file. Types
        are pyarrow's: a Parquet file's own, or for CSV/TSV those inferred from the first
        block (about 1 MB) of the file. Rows are counted by streaming the whole file; blank
        lines are not rows.
        """
        header, rows = self._read(count=True)
        names = [name for name, _ in header]
        self._check_present(names)
        if self.columns is None:
            columns = tuple(header)
        else:
            types = dict(header)
            columns = tuple((name, types[name]) for name in self.columns)
        return DatasetSchema(columns=columns, rows=rows)

    def _read(self, *, count: bool) -> tuple[list[tuple[str, str]], int]:
        """The header as (name, type) pairs and, if ``count``, the number of data rows."""
        label = str(self.path)
        if not self.path.exists():
            raise DatasetError(f"{label}: file not found", path=label)
        if not self.path.is_file():
            raise DatasetError(f"{label}: is a folder, not a data file", path=label)
        if self.format == "model":
            return self._read_model(label), 0
        try:
            if self.format == "parquet":
                with pq.ParquetFile(self.path) as parquet:
                    schema = parquet.schema_arrow
                    rows = int(parquet.metadata.num_rows)
            else:
                parse = pa_csv.ParseOptions(
                    delimiter=_DELIMITERS[self.format], newlines_in_values=True
                )
                reader = pa_csv.open_csv(self.path, parse_options=parse)
                try:
                    schema = reader.schema
                finally:
                    reader.close()
                rows = _count_csv_rows(self.path, parse, len(schema.names)) if count else 0
        except (pa.ArrowException, OSError) as exc:
            text = str(exc)
            if "Empty CSV file" in text:
                text = "file is empty; expected a header row naming the columns"
            else:
                text = f"cannot read as {self.format.upper()}: {text}"
            raise DatasetError(f"{label}: {text}", path=label) from exc
        return [(field.name, str(field.type)) for field in schema], rows

    def _read_model(self, label: str) -> list[tuple[str, str]]:
        from privstats.ml.models import Model  # only nodes that offer a model need numpy's

        model = Model.load(self.path)
        if model.feature_names is None:
            raise DatasetError(
                f"{label}: the model has no feature names; save it with feature_names so that "
                "jobs can name the columns it reads",
                path=label,
            )
        return [(name, "double") for name in model.feature_names]

    def _check_present(self, names: list[str]) -> None:
        """Raise if a declared key column or column is missing from the file or ambiguous."""
        label = str(self.path)
        for what, wanted in (("key column", self.key_columns), ("column", self.columns or ())):
            for name in wanted:
                count = names.count(name)
                if count == 1:
                    continue
                if count > 1:
                    raise DatasetError(
                        f"{label}: {what} '{name}' appears {count} times in the header; "
                        "rename the copies so the column is unambiguous",
                        path=label,
                        column=name,
                    )
                message = f"{label}: {what} '{name}' is not in the file; it has columns " + (
                    _quoted(names)
                )
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
                if close:
                    message += f" (did you mean '{close[0]}'?)"
                raise DatasetError(message, path=label, column=name)


class AllowRule(BaseModel):
    """Jobs of ``kind`` may use ``datasets``, reading only ``columns`` (None: declared ones).

    A rule with no datasets lets the node take part in ``kind`` jobs only in a role that
    reads no data (the coordinator of federated training).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1)
    datasets: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None

    @field_validator("datasets")
    @classmethod
    def _check_datasets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _names(value, "dataset", optional=False) if value else value

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _names(value, "column", optional=True)


class PolicyConfig(BaseModel):
    """The data owner's standing answer to jobs; without allow rules every job is rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval: Literal["auto", "ask"] = "ask"
    min_domain: int = Field(10, ge=1, strict=True)
    recipients: tuple[str, ...] | None = None
    allow: tuple[AllowRule, ...] = ()

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _names(value, "recipient", optional=True)


class NodeConfig(BaseModel):
    """A node's whole configuration, as read from ``path``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    insecure: bool = Field(False, strict=True)
    hub: str
    keys: Path = Field(Path("keys"), validate_default=True)
    poll_seconds: float = Field(1.0, gt=0, strict=True, allow_inf_nan=False)
    heartbeat_seconds: float = Field(2.0, gt=0, strict=True, allow_inf_nan=False)
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    policy: PolicyConfig = PolicyConfig()
    path: Path

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError(f"must not start or end with spaces, got {_show(value)}")
        return value

    @field_validator("hub")
    @classmethod
    def _check_hub(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        try:
            host = parts.hostname
        except ValueError:
            host = None
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError(
                f'must be an https:// URL such as "https://hub.example.org" (or http:// to '
                f"this machine), got {_show(value)}"
            )
        if parts.scheme == "http" and not is_loopback(host) and not info.data.get("insecure"):
            raise ValueError(
                f"is plain http:// to another machine ({host}), got {_show(value)}: tokens, "
                "signed requests and results would cross the network unencrypted; use "
                "https:// (the hub behind a TLS proxy), or add insecure = true to [node] for "
                "a trial on a network you trust"
            )
        return value.rstrip("/")

    @field_validator("keys")
    @classmethod
    def _resolve_keys(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @field_validator("datasets")
    @classmethod
    def _check_dataset_names(cls, value: dict[str, DatasetConfig]) -> dict[str, DatasetConfig]:
        for name in value:
            if not _DATASET_NAME.fullmatch(name):
                raise ValueError(f"dataset name {_show(name)} may use only a-z, 0-9, '_' and '-'")
        return value

    @model_validator(mode="after")
    def _check_allow_rules(self) -> NodeConfig:
        declared = self.datasets
        for number, rule in enumerate(self.policy.allow, start=1):
            where = f"[[policy.allow]] #{number}"
            for name in rule.datasets:
                if name not in declared:
                    offered = (
                        f"declared datasets are {_quoted(sorted(declared))}"
                        if declared
                        else f"add a [datasets.{name}] table"
                    )
                    raise ValueError(
                        f"{where} datasets names '{name}', which is not declared; {offered}"
                    )
            if rule.kind in KEYED_KINDS:
                for name in rule.datasets:
                    if not declared[name].key_columns:
                        raise ValueError(
                            f"{where} allows '{rule.kind}' jobs on dataset '{name}', which "
                            f"declares no key_columns; '{rule.kind}' jobs match records by "
                            f'their key (identifier) column: add key_columns = ["…"] to '
                            f"[datasets.{name}]"
                        )
            for column in rule.columns or ():
                if not any(_may_have(declared[name], column) for name in rule.datasets):
                    raise ValueError(
                        f"{where} columns names '{column}', which is not among the declared "
                        f"columns of {_quoted(rule.datasets)}"
                    )
        return self

    def results_folder(self, job_id: str) -> Path:
        """Where the node keeps a job's files that stay here (``results/<job id>``)."""
        return self.path.parent / "results" / check_job_id(job_id)


def check_job_id(job_id: object) -> str:
    """``job_id`` if it is a job id as the hub makes them; a ParameterError otherwise."""
    if isinstance(job_id, str) and JOB_ID.fullmatch(job_id):
        return job_id
    shown = repr(job_id) if len(repr(job_id)) <= 60 else repr(job_id)[:57] + "..."
    raise ParameterError(
        f"{shown} is not a job id; the hub's job ids are 16 lowercase hex digits "
        "(as 'privstats job list' shows them)",
        parameter="job_id",
    )


def format_of(path: str | Path) -> Format | None:
    """The format a file name implies (``.csv``, ``.csv.gz``, ``.tsv``, …), or None."""
    name = Path(path).name.lower()
    for suffix in sorted(FORMAT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMAT_SUFFIXES[suffix]
    return None


def _may_have(dataset: DatasetConfig, column: str) -> bool:
    return dataset.columns is None or column in dataset.columns


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """``value`` taken relative to the folder given as ``base`` in the validation context."""
    value = value.expanduser()
    base = info.context.get("base") if isinstance(info.context, dict) else None
    if base is None or value.is_absolute():
        return value
    return Path(base) / value


def _names(value: tuple[str, ...], what: str, *, optional: bool) -> tuple[str, ...]:
    """Check a list of names: non-empty, no blank names, no repeats."""
    if not value:
        tail = ", or be left out" if optional else ""
        raise ValueError(f"must name at least one {what}{tail}")
    if any(not name.strip() for name in value):
        raise ValueError(f"must not contain an empty {what} name")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"names {_quoted(repeated)} more than once")
    return value


def _count_csv_rows(path: Path, parse: Any, n_columns: int) -> int:
    """Stream a delimited file and count its data rows, converting one column only.

    Columns get generated names so that repeated header names do not matter; every value
    is read as text so that no type inference can fail half-way through the file.
    """
    names = [f"c{i}" for i in range(n_columns)]
    reader = pa_csv.open_csv(
        path,
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


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path) -> NodeConfig:
    """Read and check a node's TOML config file; paths in it are relative to its folder."""
    file = Path(path)
    label = str(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ParameterError(
            f"{label}: config file not found (looked for {file.absolute()})", parameter="path"
        ) from exc
    except IsADirectoryError as exc:
        raise ParameterError(f"{label}: is a folder, not a config file", parameter="path") from exc
    except OSError as exc:
        raise ParameterError(
            f"{label}: cannot read the config file: {exc.strerror or exc}", parameter="path"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ParameterError(
            f"{label}: is not UTF-8 text (byte {exc.start}); save it with UTF-8 encoding",
            parameter="path",
        ) from exc
    return _parse(text, label, file)


def _parse(text: str, label: str, file: Path) -> NodeConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{label}: not valid TOML: {exc}", parameter="path") from exc
    data = _flatten(raw, label)
    where = file.absolute()
    try:
        return NodeConfig.model_validate({**data, "path": where}, context={"base": where.parent})
    except ValidationError as exc:
        raise _config_error(label, exc) from exc


def _flatten(raw: dict[str, Any], label: str) -> dict[str, Any]:
    """Check the file's tables and lift the keys of [node] to the top, as NodeConfig has them."""
    for key in raw:
        if key not in _TABLES:
            raise ParameterError(
                f"{label}: unknown table or key '{key}'{_hint(key, _TABLES)}; a node config "
                "has the tables [node], [datasets.<name>] and [policy]",
                parameter=key,
            )
    node = raw.get("node")
    if node is None:
        raise ParameterError(
            f"{label}: [node] table is missing; it needs at least name and hub", parameter="node"
        )
    if not isinstance(node, dict):
        raise ParameterError(f"{label}: node must be a [node] table", parameter="node")
    for key in node:
        if key not in _NODE_KEYS:
            raise ParameterError(
                f"{label}: {_unknown_key('[node]', key, _NODE_KEYS)}", parameter=f"node.{key}"
            )
    data = dict(node)
    for table in ("datasets", "policy"):
        if table in raw:
            data[table] = raw[table]
    return data


# --------------------------------------------------------------------------- messages


def _config_error(label: str, exc: ValidationError) -> ParameterError:
    """One sentence per problem, each naming the file, the table and the key."""
    errors = exc.errors(include_url=False)
    bad_paths = {tuple(e["loc"][:-1]) for e in errors if e["loc"][-1:] == ("path",)}
    lines: list[str] = []
    first: tuple[str, str] | None = None
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "missing" and loc[-1:] == ("format",) and loc[:-1] in bad_paths:
            continue  # the format is inferred from the path, whose problem is reported
        section, key, allowed = _where(loc)
        lines.append(f"{label}: {_sentence(section, key, allowed, error)}")
        if first is None:
            first = (section, key)
    parameter = None
    if first is not None:
        section, key = first
        dotted = section.strip("[]").split(" ")[0]
        parameter = ".".join(part for part in (dotted, key.split(" ")[0]) if part) or None
    return ParameterError("\n".join(lines), parameter=parameter)


def _where(loc: tuple[int | str, ...]) -> tuple[str, str, tuple[str, ...]]:
    """(table, key, keys allowed in that table) for a pydantic error location."""
    head, rest = loc[:1], loc[1:]
    if not loc:
        return "", "", ()
    if head[0] in _NODE_KEYS:
        return "[node]", _key(loc), _NODE_KEYS
    if head == ("datasets",):
        if not rest:
            return "[datasets]", "", ()
        section = f"[datasets.{rest[0]}]"
        return section, _key(rest[1:]), tuple(DatasetConfig.model_fields)
    if head == ("policy",):
        if len(rest) >= 2 and rest[0] == "allow" and isinstance(rest[1], int):
            section = f"[[policy.allow]] #{rest[1] + 1}"
            return section, _key(rest[2:]), tuple(AllowRule.model_fields)
        return "[policy]", _key(rest), tuple(PolicyConfig.model_fields)
    return "", _key(loc), ()


def _key(loc: tuple[int | str, ...]) -> str:
    """``columns`` or ``columns item 2`` (list positions count from 1)."""
    parts = [str(part) if isinstance(part, str) else f"item {part + 1}" for part in loc]
    return " ".join(parts)


def _sentence(section: str, key: str, allowed: tuple[str, ...], error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    value = error.get("input")
    subject = " ".join(part for part in (section, key) if part)
    if kind == "extra_forbidden":
        return _unknown_key(section, key, allowed)
    if kind == "value_error":
        return f"{subject} {ctx.get('error', error['msg'])}".strip()
    if kind == "missing":
        return f"{subject} is required"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", '"')
        what = f"must be {expected}"
    elif kind in ("greater_than", "greater_than_equal"):
        sign, bound = (">", ctx.get("gt")) if kind == "greater_than" else (">=", ctx.get("ge"))
        what = f"must be {sign} {_show(bound)}"
    elif kind == "finite_number":
        what = "must be a finite number"
    elif kind in ("bool_type", "bool_parsing"):
        what = "must be true or false"
    elif kind == "string_type":
        what = "must be a string in double quotes"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        what = "must be a whole number"
    elif kind in ("float_type", "float_parsing"):
        what = "must be a number"
    elif kind in ("tuple_type", "list_type") and key == "allow":
        what = "must be one or more [[policy.allow]] tables (with double brackets)"
    elif kind in ("tuple_type", "list_type"):
        what = 'must be a list of strings such as ["a", "b"]'
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        what = "must be a table"
    elif kind in ("string_too_short", "too_short"):
        what = "must not be empty"
    elif kind == "path_type":
        what = "must be a path in double quotes"
    else:
        what = f"is not valid ({error['msg']})"
    return f"{subject} {what}, got {_show(value)}"


def _unknown_key(section: str, key: str, allowed: Sequence[str]) -> str:
    known = ", ".join(name for name in allowed if name != "path" or section != "[node]")
    return f"{section} has an unknown key '{key}'{_hint(key, allowed)}; known keys: {known}"


def _hint(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _show(value: object) -> str:
    """A value as TOML would write it, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


# --------------------------------------------------------------------------- writing


def write_config(
    path: str | Path,
    *,
    name: str,
    hub: str,
    keys: str | Path = "keys",
    datasets: Mapping[str, DatasetConfig] | None = None,
    policy: PolicyConfig | None = None,
    poll_seconds: float = 1.0,
    heartbeat_seconds: float = 2.0,
    insecure: bool = False,
) -> None:
    """Write a commented config file; refuses to overwrite one that exists.

    Paths are written as given, so relative ones are relative to the file's folder. The
    text is checked by loading it back before anything is written.
    """
    file = Path(path)
    label = str(path)
    for argument, value in (("name", name), ("hub", hub)):
        if not isinstance(value, str):
            raise TypeError(f"{argument} must be a string, not {type(value).__name__}")
    datasets = dict(datasets or {})
    for dataset_name, dataset in datasets.items():
        if not isinstance(dataset, DatasetConfig):
            raise TypeError(
                f"datasets[{dataset_name!r}] must be a DatasetConfig, not {type(dataset).__name__}"
            )
    policy = PolicyConfig() if policy is None else policy
    if not isinstance(policy, PolicyConfig):
        raise TypeError(f"policy must be a PolicyConfig, not {type(policy).__name__}")
    if file.exists():
        raise ParameterError(
            f"{label}: already exists; remove it or choose another file name "
            "(write_config never overwrites a config file)",
            parameter="path",
        )
    text = _render(
        name, hub, Path(keys), poll_seconds, heartbeat_seconds, datasets, policy, insecure
    )
    _parse(text, label, file)
    try:
        with file.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError as exc:
        raise ParameterError(f"{label}: already exists", parameter="path") from exc
    except OSError as exc:
        raise ParameterError(
            f"{label}: cannot write: {exc.strerror or exc}", parameter="path"
        ) from exc


def _render(
    name: str,
    hub: str,
    keys: Path,
    poll_seconds: float,
    heartbeat_seconds: float,
    datasets: Mapping[str, DatasetConfig],
    policy: PolicyConfig,
    insecure: bool = False,
) -> str:
    lines = [
        "# privstats node configuration: who this node is, which data it offers, and which",
        "# jobs it accepts. Relative paths are relative to this file's folder.",
        "",
        "[node]",
        _line(f"name = {_toml_str(name)}", "party name, as enrolled at the hub"),
        _line(f"hub = {_toml_str(hub)}", "hub base URL"),
        *(
            [_line("insecure = true", "plain http:// to another machine: trusted networks only")]
            if insecure
            else []
        ),
        _line(f"keys = {_toml_str(str(keys))}", "folder with signing.key and box.key"),
        _line(f"poll_seconds = {_toml_float(poll_seconds)}", "how often to ask the hub for jobs"),
        _line(
            f"heartbeat_seconds = {_toml_float(heartbeat_seconds)}",
            "how often to tell the hub this node is up",
        ),
        "",
        "# One [datasets.<name>] table per dataset offered; names use a-z, 0-9, _ and -.",
    ]
    if not datasets:
        lines += [
            "# [datasets.population]",
            '# path = "register.csv"',
            '# key_columns = ["person_id"]',
        ]
    for dataset_name, dataset in datasets.items():
        lines += [
            "",
            f"[datasets.{dataset_name}]",
            f"path = {_toml_str(str(dataset.path))}",
            _line(f"format = {_toml_str(dataset.format)}", "csv | tsv | parquet | model"),
            _line(f"key_columns = {_toml_list(dataset.key_columns)}", "identifier columns")
            if dataset.key_columns
            else "# key_columns = [...]             # none: no coverage or join_aggregate",
        ]
        if dataset.columns is None:
            lines.append("# columns = [...]                 # jobs may read all columns")
        else:
            lines.append(_line(f"columns = {_toml_list(dataset.columns)}", "columns jobs may read"))
    lines += [
        "",
        "[policy]",
        _line(
            f"approval = {_toml_str(policy.approval)}",
            '"auto": approve jobs this policy allows; "ask": the data owner decides',
        ),
        _line(f"min_domain = {policy.min_domain}", "smallest domain/cell size a job may use"),
    ]
    if policy.recipients is None:
        lines.append('# recipients = ["analyst"]        # who may receive results; now: anyone')
    else:
        lines.append(
            _line(f"recipients = {_toml_list(policy.recipients)}", "who may receive results")
        )
    lines += [
        "",
        "# One [[policy.allow]] table per kind of job allowed, with the datasets it may use.",
    ]
    if not policy.allow:
        lines += [
            "# No rules: every job is rejected until one is added, such as",
            "# [[policy.allow]]",
            '# kind = "coverage"',
            '# datasets = ["population"]',
        ]
    for rule in policy.allow:
        lines += [
            "",
            "[[policy.allow]]",
            f"kind = {_toml_str(rule.kind)}",
            f"datasets = {_toml_list(rule.datasets)}"
            if rule.datasets
            else _line("datasets = []", "no data: only roles that read none (a coordinator)"),
        ]
        if rule.columns is None:
            lines.append("# columns = [...]                 # now: the datasets' declared columns")
        else:
            lines.append(_line(f"columns = {_toml_list(rule.columns)}", "columns it may read"))
    return "\n".join(lines) + "\n"


def _line(text: str, comment: str) -> str:
    return f"{text:<34} # {comment}"


def _toml_str(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(value) for value in values) + "]"


def _toml_float(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"seconds must be a number, not {type(value).__name__}")
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)
