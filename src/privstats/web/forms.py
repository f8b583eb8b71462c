"""A kind's submit form, generated from its spec, and the form's answers back as a job.

Every field of the kind's spec (a pydantic model) becomes one labelled control: its label
is the field's description, a ``Literal`` a choice, a yes/no a choice, a number a number
input, a tuple of names a comma-separated text, a nested model a fieldset of its own
(``normalization.remove``), anything else JSON text. A blank control means "the spec's
default". Fields the kind hides from its command line are left out here too. The answers
are not validated here: :func:`job_request` only shapes them, and the hub's own submission
code validates them exactly as for the API.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from privstats.errors import ParameterError
from privstats.jobs.kind import JobKind

__all__ = ["MAX_NUMBERED_PARTIES", "FormField", "JobRequest", "form_fields", "job_request", "slots"]

Control = Literal["text", "number", "choice", "list", "json"]
MAX_NUMBERED_PARTIES = 8
"""The most ``party1`` … slots a form offers for a kind of many like parties."""


@dataclass(frozen=True)
class FormField:
    """One control of a submit form."""

    name: str
    """The spec path, dotted for nested models: ``normalization.remove``."""
    label: str
    control: Control
    required: bool = False
    default: str = ""
    choices: tuple[str, ...] = ()
    hint: str = ""
    group: str = ""
    """The nested model's description, for a fieldset legend ('' for top-level fields)."""
    parse: Callable[[list[str]], Any] | None = field(default=None, compare=False, repr=False)
    """The command line's parser of this option (``COL=LOW:HIGH``), for its comma-separated
    items; None to take the text as the control says."""

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass(frozen=True)
class Slot:
    """One role's party (and dataset) inputs of a submit form."""

    role: str
    help: str
    needs_dataset: bool
    optional: bool


@dataclass(frozen=True)
class JobRequest:
    """A submit form's answers, shaped as the API's job body."""

    parameters: dict[str, Any]
    parties: dict[str, str]
    datasets: dict[str, str]
    recipients: list[str] | None
    node_timeout: float | None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None``, and whether None was allowed."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, dict):
        return json.dumps(value) if value else ""
    return str(value)


def _field(name: str, info: FieldInfo, group: str) -> list[FormField]:
    annotation, optional = _unwrap(info.annotation)
    label = (info.description or name.replace("_", " ")).strip()
    required = info.is_required()
    default = "" if required else _shown(info.get_default(call_default_factory=True))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        legend = label + (" (optional: leave all blank for none)" if optional else "")
        return _fields(annotation, prefix=f"{name}.", group=legend)
    origin = get_origin(annotation)
    base = dict(name=name, label=label, required=required, default=default, group=group)
    if origin is Literal:
        choices = tuple(str(a) for a in get_args(annotation))
        return [FormField(control="choice", choices=choices, **base)]  # type: ignore[arg-type]
    if annotation is bool:
        return [FormField(control="choice", choices=("yes", "no"), **base)]  # type: ignore[arg-type]
    if annotation in (int, float):
        return [FormField(control="number", **base)]  # type: ignore[arg-type]
    if annotation is str:
        return [FormField(control="text", **base)]  # type: ignore[arg-type]
    if origin in (tuple, list) and all(a in (str, Ellipsis) for a in get_args(annotation)):
        return [FormField(control="list", hint="comma-separated", **base)]  # type: ignore[arg-type]
    return [FormField(control="json", hint="as JSON", **base)]  # type: ignore[arg-type]


def _fields(model: type[BaseModel], *, prefix: str = "", group: str = "") -> list[FormField]:
    out: list[FormField] = []
    for name, info in model.model_fields.items():
        out.extend(_field(prefix + name, info, group))
    return out


def form_fields(kind: JobKind) -> list[FormField]:
    """The controls of ``kind``'s submit form, in the spec's order (hidden fields left out)."""
    hidden = {path for path, cli in kind.cli.items() if cli.hidden}
    out = []
    for found in _fields(kind.spec_type):
        cli = kind.cli.get(found.name)
        if found.name in hidden:
            continue
        if cli is not None and cli.parse is not None:
            option = cli.option or "--" + found.name.rsplit(".", 1)[-1].replace("_", "-")
            hint = f"comma-separated, written as for {option} on the command line"
            found = replace(found, control="list", hint=hint, parse=cli.parse)
        out.append(found)
    return out


def slots(kind: JobKind) -> list[Slot]:
    """The roles a form asks a party (and a dataset) for."""
    out = [
        Slot(role, kind.role_help.get(role, ""), role not in kind.dataless_roles, False)
        for role in kind.roles
    ]
    if kind.parties is not None:
        least, most = kind.parties
        for i in range(1, min(most, MAX_NUMBERED_PARTIES) + 1):
            out.append(Slot(f"party{i}", kind.role_help.get("party", ""), True, i > least))
    return out


def _value(control: FormField, text: str) -> Any:
    if control.control == "list":
        items = [part.strip() for part in text.split(",") if part.strip()]
        return control.parse(items) if control.parse is not None else items
    if control.control == "choice" and control.choices == ("yes", "no"):
        return text == "yes"
    if control.control == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(
                f"option {control.name!r}: not valid JSON ({exc.msg})", parameter=control.name
            ) from None
    return text


def job_request(kind: JobKind, form: Mapping[str, str]) -> JobRequest:
    """The job a submitted form asks for: blank controls are left to the spec's defaults."""
    parameters: dict[str, Any] = {}
    for control in form_fields(kind):
        text = form.get(f"p.{control.name}", "").strip()
        if not text:
            continue
        target = parameters
        *parents, leaf = control.name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = _value(control, text)
    parties: dict[str, str] = {}
    datasets: dict[str, str] = {}
    for slot in slots(kind):
        party = form.get(f"party.{slot.role}", "").strip()
        dataset = form.get(f"dataset.{slot.role}", "").strip()
        if party:
            parties[slot.role] = party
        if dataset:
            datasets[slot.role] = dataset
    recipients = [r.strip() for r in form.get("recipients", "").split(",") if r.strip()]
    timeout_text = form.get("node_timeout", "").strip()
    try:
        node_timeout = float(timeout_text) if timeout_text else None
    except ValueError:
        raise ParameterError(
            f"node timeout {timeout_text!r} is not a number of seconds", parameter="node_timeout"
        ) from None
    return JobRequest(parameters, parties, datasets, recipients or None, node_timeout)
