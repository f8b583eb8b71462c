"""A job's manifest in plain words, from its kind's declaration and its spec.

What a methodologist approves and an analyst reads: what is computed (the kind's title and
description), with which settings (each spec field by its description), on which columns of
whose dataset, who receives the result, and which disclosure rules and privacy budget apply.
Shared by the hub's job page and the node's approval page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from privstats.errors import PrivstatsError
from privstats.jobs.kind import JobKind
from privstats.service.manifest import Manifest

__all__ = ["STATE_WORDS", "PlainManifest", "describe", "rule_sentence", "state_word"]

_RULES: Mapping[str, str] = {
    "min_cell": "cells with fewer than {v} persons (or records) are suppressed",
    "min_matched": "cells with fewer than {v} matched persons are suppressed",
    "epsilon": "differential privacy: ε = {v} is spent",
    "delta": "differential privacy: δ = {v}",
    "dominance": "the dominance rule applies ({v})",
    "p_percent": "the p% rule applies (p = {v})",
    "max_share": "no unit may hold more than {v} of a released total",
    "releases_records": "synthetic records are released",
    "review_max": "the register learns, for up to {v} persons of its clerical review, whether "
    "each was linked",
}


STATE_WORDS: Mapping[str, str] = {"proposed": "submitted", "succeeded": "completed"}
"""The words pages show for the job states whose API name reads less plainly; the other
states (awaiting_approval, approved, running, failed, rejected, cancelled) keep theirs."""


def state_word(state: str) -> str:
    """The word a page shows for a job's state: ``completed`` for ``succeeded``."""
    return STATE_WORDS.get(state, state)


@dataclass(frozen=True)
class PlainManifest:
    """A manifest told in sentences and labelled settings, ready to show."""

    title: str
    description: str
    settings: list[tuple[str, str]]
    data: list[str]
    receives: list[str]
    rules: list[str]


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    return str(value)


def _settings(
    model: type[BaseModel], values: Mapping[str, Any], prefix: str = ""
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        info = model.model_fields.get(name)
        label = info.description if info and info.description else name.replace("_", " ")
        annotation = info.annotation if info else None
        nested = _model_in(annotation)
        if nested is not None and isinstance(value, dict):
            out.extend(_settings(nested, value, prefix=f"{prefix}{label.rstrip('.')} — "))
        else:
            out.append((prefix + label.rstrip("."), _text(value)))
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def rule_sentence(name: str, value: Any) -> str:
    """One disclosure rule of a manifest as a sentence."""
    template = _RULES.get(name)
    if template is not None:
        return template.format(v=_text(value))
    return f"{name.replace('_', ' ')}: {_text(value)}"


def describe(kind: JobKind, manifest: Manifest) -> PlainManifest:
    """``manifest`` (a job of ``kind``) in plain words."""
    data = []
    for role, party in manifest.parties.items():
        use = manifest.datasets.get(role)
        holds = kind.role_help.get(role) or kind.role_help.get("party", "")
        if use is None:
            data.append(f"{party} takes part as {role} and brings no data.")
        else:
            data.append(
                f"{party} ({role}: {holds.rstrip('.') or 'its dataset'}) — dataset "
                f"{use.dataset!r}, columns read: {', '.join(use.columns) or 'none'}."
            )
    producer = manifest.parties.get(kind.result_role, kind.result_role)
    receives = [
        f"The released result is produced by {producer} (role {kind.result_role}) and goes "
        f"to {', '.join(manifest.recipients)}.",
        "No party sees another party's records; each learns only the released figures.",
    ]
    if kind.releases_records:
        receives.append(
            "Synthetic records are held at the node until its data owner reviews the "
            "utility and risk report and releases them."
        )
    rules = [rule_sentence(name, value) for name, value in manifest.disclosure.items()]
    try:
        budget = kind.budget(kind.parse(manifest.parameters))
    except PrivstatsError:
        budget = None
    if budget is not None:
        rules.append(f"privacy budget spent: {budget}")
    if not rules:
        rules.append("no disclosure rule is declared for this kind")
    return PlainManifest(
        title=kind.title,
        description=kind.description,
        settings=_settings(kind.spec_type, manifest.parameters),
        data=data,
        receives=receives,
        rules=rules,
    )
