"""The node config file's schema: what each table and key may hold, and loading the file.

The pydantic models here check a node's TOML file once at start-up: :class:`NodeConfig`
(the ``[node]`` keys, lifted to the top), :class:`DatasetConfig` (one
``[datasets.<name>]`` table), :class:`PolicyConfig` (``[policy]``) and :class:`AllowRule`
(one ``[[policy.allow]]`` table). :func:`load_config` reads and checks a file; every
mistake becomes one sentence naming the file, table and key (:mod:`.messages`).

Nothing here reads data except :meth:`DatasetConfig.schema` (header and row count) and
:meth:`DatasetConfig.file_columns` (header only), both through
:mod:`privstats.data.inspect`, so a file's format, header and rows are told as every
other part of privstats tells them.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from privstats.data import inspect
from privstats.errors import DatasetError, ParameterError
from privstats.node.config.messages import (
    KnownKeys,
    config_error,
    hint,
    quoted,
    show,
    unknown_key,
)
from privstats.node.config.owner_keys import DatasetOwnerKeys, PolicyOwnerKeys
from privstats.service.http import is_loopback

__all__ = [
    "FORMAT_SUFFIXES",
    "JOB_ID",
    "KEYED_KINDS",
    "AllowRule",
    "DatasetConfig",
    "DatasetSchema",
    "Format",
    "NodeConfig",
    "PolicyConfig",
    "check_job_id",
    "format_of",
    "load_config",
    "parse_config",
]

Format = Literal["csv", "tsv", "parquet", "model"]

#: File name endings from which the format is inferred: the data formats of
#: :data:`privstats.data.inspect.SUFFIXES` (``.gz`` is decompressed on the fly) and ``.json``
#: for a model.
FORMAT_SUFFIXES: dict[str, Format] = {**inspect.SUFFIXES, ".json": "model"}
_DATASET_NAME = re.compile(r"[a-z0-9_-]+")
_NODE_KEYS = (
    "name",
    "hub",
    "insecure",
    "keys",
    "poll_seconds",
    "heartbeat_seconds",
    "web_port",
)
_TABLES = ("node", "datasets", "policy")

#: Kinds that match records across parties by their key (identifier) columns: a dataset
#: allowed for one of them must declare its key_columns. Others (aggregate, fl_train,
#: he_inference, synthesize) read no key, so a dataset offered only for them needs none.
KEYED_KINDS = ("coverage", "join_aggregate")

#: A job id as the hub makes them (``secrets.token_hex(8)``): 16 lowercase hex digits. The
#: node uses job ids as folder names (``results/<job id>``), so it accepts nothing else.
JOB_ID = re.compile(r"[0-9a-f]{16}")

#: ``[policy]`` keys renamed, old name → new name; the old name is still read, with a
#: DeprecationWarning when it comes from a config file.
_RENAMED_POLICY_KEYS = {"min_domain": "min_cell"}


# --------------------------------------------------------------------------- datasets


class DatasetSchema(BaseModel):
    """A dataset's columns as ``(name, type)`` pairs and its number of data rows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[tuple[str, str], ...]
    rows: int = Field(ge=0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


class DatasetConfig(DatasetOwnerKeys):
    """One dataset the node offers: its file, format, identifier columns and usable columns.

    ``columns`` is what jobs may read from the file (None: every column); the key columns
    are always among them. Key columns are needed only if a kind that matches records by
    key (:data:`KEYED_KINDS`) is allowed on the dataset. A ``model`` (a JSON file written
    by ``privstats run fl-train``) has its feature names as columns, no rows and no key
    columns. ``max_epsilon`` and ``max_delta``, when set, replace the ``[policy]`` caps of
    the same names for jobs on this dataset (see :class:`PolicyConfig`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    format: Format
    key_columns: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    max_epsilon: float | None = Field(None, gt=0, strict=True, allow_inf_nan=False)
    max_delta: float | None = Field(None, ge=0, lt=1, strict=True)

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
                    f"format cannot be told from the name {show(Path(path).name)} (known "
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
                    f"key_columns {quoted(missing)} must also be listed in columns "
                    f"({quoted(self.columns)})"
                )
        return self

    def file_columns(self) -> tuple[str, ...]:
        """The column names in the file's header (Parquet: its schema); no data is read."""
        return tuple(name for name, _ in self._header())

    def schema(self) -> DatasetSchema:  # type: ignore[override]  # BaseModel.schema is v1's
        """The dataset's columns with their types, and the file's number of data rows.

        Columns are the declared ones in declared order, or all columns of the file. Types
        are pyarrow's: a Parquet file's own, or for CSV/TSV those inferred from the first
        block (about 1 MB) of the file. Rows are counted as
        :func:`privstats.data.inspect.count_rows` counts them: by streaming a delimited
        file (blank lines are not rows), from a Parquet file's metadata.
        """
        header = self._header()
        names = [name for name, _ in header]
        self._check_present(names)
        rows = 0 if self.format == "model" else inspect.count_rows(self.path, self.format)
        if self.columns is None:
            columns = tuple(header)
        else:
            types = dict(header)
            columns = tuple((name, types[name]) for name in self.columns)
        return DatasetSchema(columns=columns, rows=rows)

    def _header(self) -> list[tuple[str, str]]:
        """The file's columns as (name, type) pairs; a model's are its feature names."""
        if self.format == "model":
            inspect.check_data_file(self.path)
            return self._read_model(str(self.path))
        return inspect.read_header(self.path, self.format)

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
                    quoted(names)
                )
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
                if close:
                    message += f" (did you mean '{close[0]}'?)"
                raise DatasetError(message, path=label, column=name)


# --------------------------------------------------------------------------- policy


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


class PolicyConfig(PolicyOwnerKeys):
    """The data owner's standing answer to jobs; without allow rules every job is rejected.

    - ``min_cell``: the smallest group a release may show; a job whose own minimum (its
      ``min_cell``, ``min_domain`` or ``min_records``) is smaller is refused. The key was
      called ``min_domain``: that name is still read (from a file with a
      DeprecationWarning), and :attr:`min_domain` still reads the value.
    - ``max_epsilon``, ``max_delta``: the most privacy budget (ε, δ) one job may spend on a
      dataset of this node (None: no cap). A ``[datasets.<name>]`` table may set its own
      ``max_epsilon``/``max_delta``, which then replace these for jobs on that dataset. The
      cap is per job (totals: ``max_epsilon_total`` below). A role that reads no
      data (a training coordinator) spends none of this node's budget.
    - ``max_epsilon_total``, ``max_delta_total``, ``rules``, ``min_peer_rows``,
      ``min_matched``: the owner's total caps and release rules (:mod:`.owner_keys`); the
      node's ledger keeps the running totals.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval: Literal["auto", "ask"] = "ask"
    min_cell: int = Field(10, ge=1, strict=True)
    max_epsilon: float | None = Field(None, gt=0, strict=True, allow_inf_nan=False)
    max_delta: float | None = Field(None, ge=0, lt=1, strict=True)
    recipients: tuple[str, ...] | None = None
    allow: tuple[AllowRule, ...] = ()

    if TYPE_CHECKING:
        # The signature the pydantic mypy plugin builds (values are checked at run time),
        # plus the old keyword min_domain, read by _renamed_keys, so that callers written
        # before the rename still type-check.
        def __init__(
            self,
            *,
            approval: Any = "ask",
            min_cell: Any = 10,
            min_domain: Any = None,
            max_epsilon: Any = None,
            max_delta: Any = None,
            recipients: Any = None,
            allow: Any = (),
            max_epsilon_total: Any = None,
            max_delta_total: Any = None,
            rules: Any = (),
            min_peer_rows: Any = 0,
            min_matched: Any = 0,
        ) -> None: ...

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        """Read ``min_domain`` as ``min_cell``; both at once is an error."""
        if not isinstance(data, Mapping):
            return data
        for old, new in _RENAMED_POLICY_KEYS.items():
            if old in data:
                if new in data:
                    raise ValueError(f"sets both {new} and {old}, its old name; keep {new} only")
                data = {**{k: v for k, v in data.items() if k != old}, new: data[old]}
        return data

    @field_validator("recipients")
    @classmethod
    def _check_recipients(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _names(value, "recipient", optional=True)

    @property
    def min_domain(self) -> int:
        """The old name of :attr:`min_cell`, for callers written before the rename."""
        return self.min_cell


# --------------------------------------------------------------------------- node


class NodeConfig(BaseModel):
    """A node's whole configuration, as read from ``path``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    insecure: bool = Field(False, strict=True)
    hub: str
    keys: Path = Field(Path("keys"), validate_default=True)
    poll_seconds: float = Field(1.0, gt=0, strict=True, allow_inf_nan=False)
    heartbeat_seconds: float = Field(2.0, gt=0, strict=True, allow_inf_nan=False)
    web_port: int | None = Field(None, ge=0, le=65535, strict=True)
    """The port of the data owner's pages on 127.0.0.1 (0: any free port); None: no pages."""
    datasets: dict[str, DatasetConfig] = Field(default_factory=dict)
    policy: PolicyConfig = PolicyConfig()
    path: Path

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError(f"must not start or end with spaces, got {show(value)}")
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
                f"this machine), got {show(value)}"
            )
        if parts.scheme == "http" and not is_loopback(host) and not info.data.get("insecure"):
            raise ValueError(
                f"is plain http:// to another machine ({host}), got {show(value)}: tokens, "
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
                raise ValueError(f"dataset name {show(name)} may use only a-z, 0-9, '_' and '-'")
        return value

    @model_validator(mode="after")
    def _check_allow_rules(self) -> NodeConfig:
        declared = self.datasets
        for number, rule in enumerate(self.policy.allow, start=1):
            where = f"[[policy.allow]] #{number}"
            for name in rule.datasets:
                if name not in declared:
                    offered = (
                        f"declared datasets are {quoted(sorted(declared))}"
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
                        f"columns of {quoted(rule.datasets)}"
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
    """The format a file name implies (``.csv``, ``.csv.gz``, ``.pq``, ``.json``…), or None."""
    if Path(path).name.lower().endswith(".json"):
        return "model"
    return inspect.format_of(path)


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
        raise ValueError(f"names {quoted(repeated)} more than once")
    return value


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
    return parse_config(text, file, label=label)


def parse_config(text: str, path: str | Path, *, label: str | None = None) -> NodeConfig:
    """Check a node config given as TOML ``text``, as if read from the file ``path``.

    Relative paths in it are taken from ``path``'s folder; messages name ``label``
    (default: ``path``).
    """
    file = Path(path)
    label = str(path) if label is None else label
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{label}: not valid TOML: {exc}", parameter="path") from exc
    data = _flatten(raw, label)
    where = file.absolute()
    try:
        return NodeConfig.model_validate({**data, "path": where}, context={"base": where.parent})
    except ValidationError as exc:
        raise config_error(label, exc, _KNOWN_KEYS) from exc


_KNOWN_KEYS = KnownKeys(
    node=_NODE_KEYS,
    dataset=tuple(DatasetConfig.model_fields),
    policy=tuple(PolicyConfig.model_fields),
    allow=tuple(AllowRule.model_fields),
)


def _flatten(raw: dict[str, Any], label: str) -> dict[str, Any]:
    """Check the file's tables and lift the keys of [node] to the top, as NodeConfig has them."""
    for key in raw:
        if key not in _TABLES:
            raise ParameterError(
                f"{label}: unknown table or key '{key}'{hint(key, _TABLES)}; a node config "
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
                f"{label}: {unknown_key('[node]', key, _NODE_KEYS)}", parameter=f"node.{key}"
            )
    _warn_renamed(raw.get("policy"), label)
    data = dict(node)
    for table in ("datasets", "policy"):
        if table in raw:
            data[table] = raw[table]
    return data


def _warn_renamed(policy: object, label: str) -> None:
    """A DeprecationWarning for each old ``[policy]`` key name the file uses alone."""
    if not isinstance(policy, dict):
        return
    for old, new in _RENAMED_POLICY_KEYS.items():
        if old in policy and new not in policy:  # both: the model says to keep the new one
            warnings.warn(
                f"{label}: [policy] {old} is the old name of {new} (the smallest group a "
                f"release may show); write {new} = {show(policy[old])} instead",
                DeprecationWarning,
                stacklevel=5,  # the caller of load_config
            )
