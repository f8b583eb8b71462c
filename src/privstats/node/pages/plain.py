"""A job's manifest and the node's policy in plain words, for the data owner's pages.

The data owner decides on a job from what its manifest says: what is computed, on which
of their columns, who receives the result, which disclosure rules apply and what privacy
budget it spends. :func:`manifest_in_words` turns a manifest into those sentences;
:func:`policy_in_words` says what the node's policy allows, and :func:`decision_in_words`
what the policy would do with the job and why. Everything is derived from the manifest as
the node would run it (its parameters, parsed by the kind's own spec model); nothing here
reads data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from pydantic import ValidationError

from privstats.disclosure import Budget
from privstats.errors import PrivstatsError
from privstats.jobs.kinds import get_kind
from privstats.node.config import NodeConfig
from privstats.node.ledger import Caps, exact, shown
from privstats.node.policy import Decision
from privstats.service.manifest import Manifest

__all__ = ["budget_in_words", "decision_in_words", "manifest_in_words", "policy_in_words"]

_DISCLOSURE_NAMES = {
    "min_cell": "smallest group a released cell may show",
    "epsilon": "privacy budget ε",
    "delta": "privacy budget δ",
    "rules": "table rules",
    "dp": "differential privacy",
    "review_max": "reviewed persons whose linkage the register is told (at most)",
}


def manifest_in_words(manifest: Manifest, *, party: str | None = None) -> list[str]:
    """Sentences saying what the job computes, on which data, for whom, under which rules.

    ``party`` (this node's name) marks the sentence about its own data with "your".
    """
    lines: list[str] = []
    try:
        kind = get_kind(manifest.kind)
    except PrivstatsError:
        kind = None
    title = f": {kind.title.rstrip('.')}" if kind is not None and kind.title else ""
    lines.append(f"Computation '{manifest.kind}'{title}.")
    for role, name in manifest.parties.items():
        use = manifest.datasets.get(role)
        whose = "your node" if name == party else f"party '{name}'"
        if use is None:
            lines.append(f"Role '{role}': {whose} takes part without reading any data.")
        else:
            columns = _listed(use.columns) if use.columns else "no columns"
            lines.append(
                f"Role '{role}': {whose} brings dataset '{use.dataset}' and the job reads "
                f"its columns {columns}."
            )
    recipients = _listed(manifest.recipients) if manifest.recipients else "nobody"
    lines.append(f"The result goes to {recipients}.")
    if manifest.disclosure:
        rules = "; ".join(
            f"{_DISCLOSURE_NAMES.get(key, key)} = {_value(value)}"
            for key, value in sorted(manifest.disclosure.items())
        )
        lines.append(f"Disclosure rules: {rules}.")
    else:
        lines.append("The manifest states no disclosure rules.")
    if kind is not None:
        try:
            spend = kind.budget(kind.parse(manifest.parameters))
        except (PrivstatsError, ValidationError):
            spend = None
            lines.append("Its parameters cannot be run by this version of privstats.")
        if spend is not None:
            lines.append(
                f"It spends a privacy budget of ε = {spend.epsilon:g}"
                + (f", δ = {spend.delta:g}" if spend.delta else "")
                + " on each dataset it reads."
            )
        if kind.releases_records:
            lines.append(
                "It releases record-level (synthetic) data: the result waits at this node "
                "for your review before anything leaves."
            )
    if manifest.parameters:
        settings = "; ".join(
            f"{key} = {_value(value)}" for key, value in sorted(manifest.parameters.items())
        )
        lines.append(f"Settings: {settings}.")
    lines.append(f"Made for privstats {manifest.code_version}.")
    return lines


def policy_in_words(config: NodeConfig) -> list[str]:
    """Sentences stating the node's standing policy, as its config file sets it."""
    policy = config.policy
    lines = [
        'Each job is approved by you (approval = "ask").'
        if policy.approval == "ask"
        else 'Jobs the policy allows are approved automatically (approval = "auto").',
        f"Smallest group a release may show: {policy.min_cell}.",
    ]
    caps = [
        f"{what} = {value:g}"
        for what, value in (
            ("ε per job", policy.max_epsilon),
            ("δ per job", policy.max_delta),
            ("ε in total per dataset", policy.max_epsilon_total),
            ("δ in total per dataset", policy.max_delta_total),
        )
        if value is not None
    ]
    lines.append("Budget caps: " + ("; ".join(caps) if caps else "none") + ".")
    if policy.recipients is None:
        lines.append("Results may go to any recipient.")
    else:
        lines.append(f"Results may go only to {_listed(policy.recipients)}.")
    if not policy.allow:
        lines.append("No kind of job is allowed: every job is rejected.")
    for rule in policy.allow:
        datasets = _listed(rule.datasets) if rule.datasets else "no dataset (a coordinator)"
        columns = "" if rule.columns is None else f", columns {_listed(rule.columns)}"
        lines.append(f"'{rule.kind}' jobs may use {datasets}{columns}.")
    return lines


def decision_in_words(decision: Decision) -> tuple[str, list[str]]:
    """A headline for what the policy would do with the job, and its reasons."""
    headline = {
        "approve": "The policy would approve this job.",
        "ask": "The policy allows this job and leaves the decision to you.",
        "reject": "The policy would reject this job.",
    }[decision.action]
    return headline, list(decision.reasons)


def budget_in_words(
    dataset: str, asked: Budget, caps: Caps, spent: tuple[Fraction, Fraction]
) -> str:
    """What the job would spend of ``dataset``'s total budget, beside what is spent so far
    (the node's ledger), so the owner sees the remaining budget before approving."""
    epsilon, _delta = spent
    head = (
        f"Dataset '{dataset}' has spent ε = {shown(epsilon)} so far; this job would spend "
        f"ε = {shown(asked.epsilon)}"
    )
    if caps.epsilon is None:
        return f"{head}. It has no total cap (max_epsilon_total is not set)."
    left = max(exact(caps.epsilon) - epsilon, Fraction(0))
    cap = f"the total cap of ε = {shown(caps.epsilon)} (set in {caps.epsilon_from})"
    if exact(asked.epsilon) > left:
        return (
            f"{head}, more than the {shown(left)} that remains of {cap}: an approval will be "
            "refused."
        )
    return f"{head}, leaving {shown(left - exact(asked.epsilon))} of {cap}."


def _listed(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."
