"""Writing a node's config file: :func:`write_config` starts one, with a comment on every key.

``privstats node init`` and the local federation write a node's first ``node.toml`` here;
the data owner edits it afterwards. The text is checked by loading it back
(:func:`.schema.parse_config`) before anything is written, and an existing file is never
overwritten.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from privstats.errors import ParameterError
from privstats.node.config.messages import toml_str
from privstats.node.config.schema import DatasetConfig, PolicyConfig, parse_config

__all__ = ["render_config", "write_config"]


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
    web_port: int | None = None,
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
    text = render_config(
        name, hub, Path(keys), poll_seconds, heartbeat_seconds, datasets, policy, insecure, web_port
    )
    parse_config(text, file, label=label)
    try:
        with file.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError as exc:
        raise ParameterError(f"{label}: already exists", parameter="path") from exc
    except OSError as exc:
        raise ParameterError(
            f"{label}: cannot write: {exc.strerror or exc}", parameter="path"
        ) from exc


def render_config(
    name: str,
    hub: str,
    keys: Path,
    poll_seconds: float,
    heartbeat_seconds: float,
    datasets: Mapping[str, DatasetConfig],
    policy: PolicyConfig,
    insecure: bool = False,
    web_port: int | None = None,
) -> str:
    """The text of a commented config file with these settings (not checked here)."""
    lines = [
        "# privstats node configuration: who this node is, which data it offers, and which",
        "# jobs it accepts. Relative paths are relative to this file's folder.",
        "",
        "[node]",
        _line(f"name = {toml_str(name)}", "party name, as enrolled at the hub"),
        _line(f"hub = {toml_str(hub)}", "hub base URL"),
        *(
            [_line("insecure = true", "plain http:// to another machine: trusted networks only")]
            if insecure
            else []
        ),
        _line(f"keys = {toml_str(str(keys))}", "folder with signing.key and box.key"),
        _line(f"poll_seconds = {_toml_float(poll_seconds)}", "how often to ask the hub for jobs"),
        _line(
            f"heartbeat_seconds = {_toml_float(heartbeat_seconds)}",
            "how often to tell the hub this node is up",
        ),
        _line(f"web_port = {web_port}", "the data owner's pages on http://127.0.0.1:<port>")
        if web_port is not None
        else "# web_port = 8470                 # the data owner's pages on 127.0.0.1; now: off",
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
        lines += _dataset_lines(dataset_name, dataset)
    lines += ["", *_policy_lines(policy)]
    return "\n".join(lines) + "\n"


def _dataset_lines(name: str, dataset: DatasetConfig) -> list[str]:
    lines = [
        "",
        f"[datasets.{name}]",
        f"path = {toml_str(str(dataset.path))}",
        _line(f"format = {toml_str(dataset.format)}", "csv | tsv | parquet | model"),
        _line(f"key_columns = {_toml_list(dataset.key_columns)}", "identifier columns")
        if dataset.key_columns
        else "# key_columns = [...]             # none: no coverage or join_aggregate",
    ]
    if dataset.columns is None:
        lines.append("# columns = [...]                 # jobs may read all columns")
    else:
        lines.append(_line(f"columns = {_toml_list(dataset.columns)}", "columns jobs may read"))
    if dataset.max_epsilon is not None:
        lines.append(
            _line(
                f"max_epsilon = {_toml_float(dataset.max_epsilon)}",
                "most ε one job may spend on it (replaces [policy]'s)",
            )
        )
    if dataset.max_delta is not None:
        lines.append(
            _line(
                f"max_delta = {_toml_float(dataset.max_delta)}",
                "most δ one job may spend on it (replaces [policy]'s)",
            )
        )
    return lines + _owner_lines(dataset, "(replaces [policy]'s)")


def _owner_lines(keys: DatasetConfig | PolicyConfig, scope: str) -> list[str]:
    """The owner's total caps and release rules, where set (``scope`` ends each comment)."""
    lines: list[str] = []
    for key, what in (
        ("max_epsilon_total", "most ε all jobs together may spend"),
        ("max_delta_total", "most δ all jobs together may spend"),
    ):
        value = getattr(keys, key)
        if value is not None:
            lines.append(_line(f"{key} = {_toml_float(value)}", f"{what} {scope}".rstrip()))
    if keys.rules is not None and (keys.rules or isinstance(keys, DatasetConfig)):
        comment = f"table rules on every release {scope}".rstrip()
        lines.append(_line(f"rules = {_toml_list(keys.rules)}", comment))
    for key, what in (
        ("min_peer_rows", "smallest input a peer may bring"),
        ("min_matched", "fewest of our records a released cell may hold (else 0)"),
    ):
        value = getattr(keys, key)
        if value is not None and (value or isinstance(keys, DatasetConfig)):
            lines.append(_line(f"{key} = {value}", f"{what} {scope}".rstrip()))
    return lines


def _policy_lines(policy: PolicyConfig) -> list[str]:
    lines = [
        "[policy]",
        _line(
            f"approval = {toml_str(policy.approval)}",
            '"auto": approve jobs this policy allows; "ask": the data owner decides',
        ),
        _line(f"min_cell = {policy.min_cell}", "smallest group a release may show"),
    ]
    if policy.max_epsilon is None:
        lines.append("# max_epsilon = 1.0                # most ε one job may spend; now: no cap")
    else:
        lines.append(
            _line(f"max_epsilon = {_toml_float(policy.max_epsilon)}", "most ε one job may spend")
        )
    if policy.max_delta is not None:
        lines.append(
            _line(f"max_delta = {_toml_float(policy.max_delta)}", "most δ one job may spend")
        )
    if policy.max_epsilon_total is None:
        lines.append("# max_epsilon_total = 3.0          # most ε all jobs may spend; now: no cap")
    lines += _owner_lines(policy, "")
    if not policy.rules:
        lines.append('# rules = ["nk:1,80", "p:10"]     # table rules added to every release')
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
            f"kind = {toml_str(rule.kind)}",
            f"datasets = {_toml_list(rule.datasets)}"
            if rule.datasets
            else _line("datasets = []", "no data: only roles that read none (a coordinator)"),
        ]
        if rule.columns is None:
            lines.append("# columns = [...]                 # now: the datasets' declared columns")
        else:
            lines.append(_line(f"columns = {_toml_list(rule.columns)}", "columns it may read"))
    return lines


def _line(text: str, comment: str) -> str:
    return f"{text:<34} # {comment}"


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(toml_str(value) for value in values) + "]"


def _toml_float(value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"seconds must be a number, not {type(value).__name__}")
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)
