"""``privstats run KIND`` and ``privstats submit KIND``, generated from a kind's declaration.

Every field of the kind's spec becomes an option (its description is the help; its
default is the spec's, so defaults live in one place); roles become file options
(``run``) or PARTY:DATASET options (``submit``). A :class:`~privstats.jobs.kind.CliField`
renames, hides or parses a field where the plain spelling does not fit.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from privstats.cli._console import (
    err,
    fail_on_error,
    party_files,
    party_progress,
    print_rendering,
    warn,
)
from privstats.cli._options import in_option_words
from privstats.errors import ParameterError
from privstats.jobs.kind import CliField, JobKind

__all__ = ["SpecOption", "run_command", "spec_options", "spec_values", "submit_command"]

_UNSET = object()


class SpecOption:
    """One spec field as a command-line option."""

    def __init__(self, path: str, info: FieldInfo, annotation: Any, hint: CliField) -> None:
        self.path = path
        self.param = path.replace(".", "__")
        self.info = info
        self.hint = hint
        self.annotation = annotation
        leaf = path.rsplit(".", 1)[-1]
        self.option = hint.option or "--" + leaf.replace("_", "-")

    @property
    def is_bool(self) -> bool:
        return self.annotation is bool

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.annotation) in (tuple, list) or self.hint.parse is not None

    def parameter(self) -> inspect.Parameter:
        required = self.info.is_required()
        help_text = self.hint.help or self.info.description or self.path.replace("_", " ")
        choices = _choices(self.annotation)
        if choices:
            help_text += f" One of: {', '.join(choices)}."
        if self.is_bool:
            default = self.info.default
            negative = "--no-" + self.option[2:]
            decls = [f"{self.option}/{negative}", *self.hint.aliases]
            return _param(self.param, bool, typer.Option(default, *decls, help=help_text))
        shown = self.info.get_default(call_default_factory=True)
        if not required and shown not in (None, (), [], {}):
            if isinstance(shown, BaseModel):
                shown = None
            elif isinstance(shown, tuple):
                shown = ",".join(map(str, shown))
            if shown is not None:
                help_text += f" [default: {shown}]"
        if self.is_list:
            kind: Any = list[str] | None
        else:
            base = _scalar(self.annotation)
            kind = base | None
        decls = [self.option, *self.hint.aliases]
        default = ... if required else None
        return _param(
            self.param, kind, typer.Option(default, *decls, help=help_text, show_default=False)
        )

    def value(self, raw: Any) -> Any:
        """The field's value from the option's value; _UNSET when not given."""
        if raw is None or (self.is_list and raw == []):
            return _UNSET
        if self.hint.parse is not None:
            return self.hint.parse(list(raw))
        if self.is_list:
            items = [
                part.strip()
                for text in raw
                for part in (text.split(",") if self.hint.split else [text])
            ]
            items = [item for item in items if item]
            element = (
                typing.get_args(self.annotation)[0] if typing.get_args(self.annotation) else str
            )
            if element in (int, float):
                try:
                    return [element(item) for item in items]
                except ValueError:
                    raise ParameterError(
                        f"{self.option}: expected numbers, got {', '.join(items)}",
                        parameter=self.option,
                    ) from None
            return items
        if self.is_bool and raw == self.info.default:
            return _UNSET
        return raw


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _unwrap_optional(annotation: Any) -> Any:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _choices(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    return []


def _scalar(annotation: Any) -> type:
    if annotation in (int, float, str):
        return annotation  # type: ignore[no-any-return]
    return str


def spec_options(kind: JobKind) -> list[SpecOption]:
    """The spec's fields as options, nested models' fields flattened, hidden ones left out."""

    def walk(model: type[BaseModel], prefix: str) -> Iterator[SpecOption]:
        for name, info in model.model_fields.items():
            path = prefix + name
            annotation = _unwrap_optional(info.annotation)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from walk(annotation, path + ".")
                continue
            hint = kind.cli.get(path, CliField())
            if not hint.hidden:
                yield SpecOption(path, info, annotation, hint)

    return list(walk(kind.spec_type, ""))


def spec_values(options: list[SpecOption], given: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's parameters from the options given (nested ones as nested dicts)."""
    values: dict[str, Any] = {}
    for option in options:
        value = option.value(given[option.param])
        if value is _UNSET:
            continue
        *parents, leaf = option.path.split(".")
        target = values
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return values


def _reworded(options: list[SpecOption]) -> dict[str, str]:
    return {option.path: option.option for option in options} | {
        option.path.rsplit(".", 1)[-1]: option.option for option in options
    }


def _command(
    name: str, params: list[inspect.Parameter], body: Callable[[dict[str, Any]], None], doc: str
) -> Callable[..., None]:
    def command(**kwargs: Any) -> None:
        body(kwargs)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    command.__name__ = name.replace("-", "_")
    return command


def _doc(kind: JobKind) -> str:
    return f"{kind.title}\n\n{kind.description}" if kind.description else kind.title


def _spec(kind: JobKind, options: list[SpecOption], given: Mapping[str, Any]) -> Any:
    try:
        return kind.spec_type.build(**spec_values(options, given))  # type: ignore[attr-defined]
    except ParameterError as exc:
        reworded = in_option_words(exc, _reworded(options))
        if reworded is None:
            raise
        raise reworded from exc


def run_command(kind: JobKind) -> Callable[..., None]:
    """``privstats run KIND``: every role on this machine, each in its own process."""
    from privstats.jobs.local_run import run_kind_locally

    options = spec_options(kind)
    params: list[inspect.Parameter] = []
    for role in kind.file_roles():
        option = kind.role_options.get(role, "--" + role.replace("_", "-"))
        help_text = kind.role_help.get(role, f"The {role}'s file") + " (CSV or Parquet)"
        params.append(_param(f"role__{role}", Path, typer.Option(..., option, help=help_text)))
    if kind.parties is not None:
        least, most = kind.parties
        help_text = (
            kind.role_help.get("party", "A party's file") + f"; NAME=FILE, {least} to {most}."
        )
        params.append(_param("party", list[str], typer.Option(..., "--party", help=help_text)))
    params += [option.parameter() for option in options]
    for extra in kind.local_options:
        params.append(
            _param(
                f"local__{extra.name}",
                extra.type,
                typer.Option(extra.default, "--" + extra.name.replace("_", "-"), help=extra.help),
            )
        )
    params.append(
        _param(
            "as_json",
            bool,
            typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
        )
    )

    def body(given: dict[str, Any]) -> None:
        with fail_on_error():
            spec = _spec(kind, options, given)
            files: dict[str, Path] = {role: given[f"role__{role}"] for role in kind.file_roles()}
            if kind.parties is not None:
                files.update(party_files(given["party"]))
            local = {extra.name: given[f"local__{extra.name}"] for extra in kind.local_options}
            with party_progress() as progress:
                run = run_kind_locally(kind, files, spec, progress=progress)
            for warning in run.warnings:
                warn(warning)
            result = dict(run.result)
            if kind.finish_local is not None:
                kind.finish_local(result, files, spec, local)
            if given["as_json"]:
                typer.echo(json.dumps(result))
            else:
                print_rendering(kind.render(result))

    return _command(kind.command, params, body, _doc(kind))


def _party_dataset(text: str, option: str) -> tuple[str, str]:
    party, sep, dataset = text.partition(":")
    if not sep or not party or not dataset:
        raise ParameterError(f"{option} must be PARTY:DATASET, got {text!r}", parameter=option)
    return party, dataset


def submit_command(kind: JobKind, finish: Callable[..., None]) -> Callable[..., None]:
    """``privstats submit KIND``: the job to the hub, whose parties' nodes must approve it.

    ``finish(fed, job, wait, as_json, timeout, out_dir, kind)`` waits and prints.
    """
    from privstats.cli._hub import HUB, TOKEN, TOKEN_FILE, connect

    options = spec_options(kind)
    params: list[inspect.Parameter] = []
    for role in kind.roles:
        if role in kind.dataless_roles:
            help_text = kind.role_help.get(role, f"The {role}") + ": PARTY."
        else:
            help_text = kind.role_help.get(role, f"The {role}'s dataset") + " As PARTY:DATASET."
        option = "--" + role.replace("_", "-")
        params.append(_param(f"role__{role}", str, typer.Option(..., option, help=help_text)))
    if kind.parties is not None:
        least, most = kind.parties
        help_text = (
            kind.role_help.get("party", "A party's dataset")
            + f"; PARTY:DATASET, {least} to {most}."
        )
        params.append(_param("party", list[str], typer.Option(..., "--party", help=help_text)))
    params += [option.parameter() for option in options]
    params += [
        _param(
            "recipient",
            list[str],
            typer.Option([], "--recipient", help="Who receives the result (default: you)."),
        ),
        _param(
            "node_timeout",
            float | None,
            typer.Option(None, "--node-timeout", help="Seconds a silent node is waited for."),
        ),
        _param(
            "wait",
            bool,
            typer.Option(True, "--wait/--no-wait", help="Wait for the result and print it."),
        ),
        _param(
            "timeout",
            float | None,
            typer.Option(None, "--timeout", help="Give up waiting after this many seconds."),
        ),
        _param(
            "as_json",
            bool,
            typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
        ),
    ]
    if kind.releases_records:
        params.append(
            _param(
                "out_dir",
                Path | None,
                typer.Option(
                    None,
                    "--out",
                    help="Folder for the released files (default: synthetic-<job id>).",
                ),
            )
        )
    params += [
        _param("hub", str, HUB),
        _param("token", str | None, TOKEN),
        _param("token_file", Path | None, TOKEN_FILE),
    ]

    def body(given: dict[str, Any]) -> None:
        with fail_on_error(), connect(given["hub"], given["token"], given["token_file"]) as fed:
            parameters = spec_values(options, given)
            _spec(kind, options, given)  # the hub checks too; say it in the command's words
            parties: dict[str, str] = {}
            datasets: dict[str, str] = {}
            for role in kind.roles:
                text = given[f"role__{role}"]
                option = "--" + role.replace("_", "-")
                if role in kind.dataless_roles:
                    parties[role] = text
                else:
                    parties[role], datasets[role] = _party_dataset(text, option)
            if kind.parties is not None:
                for number, text in enumerate(given["party"], start=1):
                    party, dataset = _party_dataset(text, "--party")
                    if party in parties.values():
                        raise ParameterError(f"--party names {party!r} twice", parameter="--party")
                    parties[f"party{number}"], datasets[f"party{number}"] = party, dataset
            job = fed.submit(
                kind.name,
                parameters,
                parties,
                datasets,
                recipients=given["recipient"] or None,
                node_timeout=given["node_timeout"],
            )
            if given["wait"] and not given["as_json"]:
                err.print(f"submitted job {job.id}; waiting for the parties' approvals")
            finish(
                fed,
                job,
                given["wait"],
                given["as_json"],
                given["timeout"],
                given.get("out_dir"),
                kind,
            )

    return _command(kind.command, params, body, _doc(kind) + "\n\nThrough the hub.")
