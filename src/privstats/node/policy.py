"""A node's approval policy applied to a job's manifest: approve, ask the data owner, or reject.

The policy in the node's config file is the data owner's standing answer to "may this job
use my data?": which kinds of computation, on which datasets and columns, with which
smallest released group (``min_cell``), spending at most which privacy budget
(``max_epsilon``, ``max_delta``), and who may receive the results. :func:`evaluate` checks a
manifest against it and returns every reason a job fails, each a sentence the data owner
can read in the hub or the node's log. It reads no data; only when neither the allow rule
nor the dataset lists columns is the file's header read, to learn which columns exist.

The hub writes the manifest, and the node runs with its ``parameters``; so every value the
policy checks is derived here from those parameters, parsed by the kind's own spec model:
the columns the node's role reads, whether the role reads data at all, whether the job
releases records, the disclosure settings (smallest group, privacy budget) and the budget
the job spends (the kind's ``budget`` of the parsed spec). The manifest's ``disclosure`` is
the hub's description of the same settings; a manifest whose description differs from what
its parameters imply is refused, naming both values, since the data owner would approve one
rule and run another.

Two more answers come from here: :func:`budget_use` (the dataset a job spends budget on,
the spend and the dataset's total caps, which the node's ledger checks when it approves:
:mod:`privstats.node.approval`) and :func:`owner_rules` (the owner's release rules and
the release guard bound to the dataset's history, handed to the role that runs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from privstats.disclosure import Budget
from privstats.disclosure.history import HistoryGuard, Release
from privstats.disclosure.owner import OwnerRules
from privstats.errors import DatasetError, PrivstatsError
from privstats.jobs.kinds import JobKind, get_kind
from privstats.node.config import DatasetConfig, NodeConfig, PolicyConfig
from privstats.node.ledger import Caps
from privstats.service.canonical import canonical_json
from privstats.service.manifest import DatasetUse, Manifest

__all__ = ["Decision", "budget_use", "evaluate", "owner_rules", "total_caps"]


@dataclass(frozen=True)
class Decision:
    """What the node does with a job, and why (every failed check when rejecting)."""

    action: Literal["approve", "ask", "reject"]
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The reasons as one text, as an approval or rejection states it."""
        return "; ".join(self.reasons)


def evaluate(manifest: Manifest, config: NodeConfig) -> Decision:
    """Check ``manifest`` against the node's policy.

    Everything checked is derived from the manifest's parameters as the node will run them
    (see the module docstring): the columns of the node's role, whether it reads data,
    whether the job releases records (then it must not read the dataset's key columns),
    the disclosure settings, which must also be what the manifest states, and the privacy
    budget the job spends on the node's dataset, which must fit under the cap. Any failed
    check rejects the job with all reasons; otherwise it is approved (``approval =
    "auto"``) or left to the data owner (``approval = "ask"``).
    """
    role = manifest.role_of(config.name)
    if role is None:
        return Decision(
            "reject",
            (
                f"this node ('{config.name}') is not a party of the job "
                f"(its parties are {_quoted(manifest.parties.values())})",
            ),
        )
    try:
        kind = get_kind(manifest.kind)
    except PrivstatsError as exc:
        return Decision("reject", (str(exc),))
    try:
        spec = kind.parse(manifest.parameters)
        required_columns = kind.columns(spec, role)
        implied = _as_json(kind.disclosure(spec))
        spend = kind.budget(spec)
    except (PrivstatsError, ValidationError) as exc:  # ValidationError: a Budget out of range
        return Decision("reject", (f"the job's parameters cannot be run: {exc}",))
    dataless = role in kind.dataless_roles
    policy = config.policy
    reasons = [
        *_check_stated_disclosure(manifest.disclosure, implied),
        *(
            _check_dataless(manifest, config, role)
            if dataless
            else _check_dataset(manifest, config, role, required_columns, kind)
        ),
        *_check_min_size(implied, policy),
        *([] if dataless else _check_budget(manifest.datasets.get(role), spend, config)),
        *_check_recipients(manifest, policy),
    ]
    if reasons:
        return Decision("reject", tuple(reasons))
    if policy.approval == "auto":
        return Decision("approve", ("the job meets this node's policy",))
    return Decision(
        "ask",
        ("the job meets this node's policy; the data owner approves each job (approval = ask)",),
    )


def _as_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from the manifest's JSON (tuples become lists, …)."""
    parsed: dict[str, Any] = json.loads(canonical_json(dict(value)))
    return parsed


def _check_stated_disclosure(stated: Mapping[str, Any], implied: Mapping[str, Any]) -> list[str]:
    """The manifest's disclosure must be exactly what its parameters imply."""
    reasons: list[str] = []
    for key in sorted(set(stated) | set(implied)):
        if key not in implied:
            reasons.append(
                f"the manifest's disclosure states {key} = {_shown(stated[key])}, which its "
                "parameters do not set; the node runs with the parameters"
            )
        elif key not in stated:
            reasons.append(
                f"the manifest's disclosure leaves out {key}, which its parameters set to "
                f"{_shown(implied[key])}"
            )
        elif canonical_json(stated[key]) != canonical_json(implied[key]):
            reasons.append(
                f"the manifest's disclosure states {key} = {_shown(stated[key])}, but its "
                f"parameters run the job with {key} = {_shown(implied[key])}"
            )
    return reasons


def _shown(value: Any) -> str:
    try:
        return canonical_json(value).decode("utf-8")
    except (TypeError, ValueError):
        return repr(value)


def _check_dataless(manifest: Manifest, config: NodeConfig, role: str) -> list[str]:
    """A role without data: none named, and some rule lets the node play it for the kind."""
    reasons: list[str] = []
    if role in manifest.datasets:
        reasons.append(f"the job names a dataset for role '{role}', which reads no data")
    if not any(r.kind == manifest.kind and not r.datasets for r in config.policy.allow):
        reasons.append(
            f"this node's policy has no rule letting it take part in '{manifest.kind}' jobs "
            f"without data (role '{role}'); add [[policy.allow]] kind = \"{manifest.kind}\" "
            "with datasets = []"
        )
    return reasons


def _check_dataset(
    manifest: Manifest,
    config: NodeConfig,
    role: str,
    required_columns: tuple[str, ...],
    kind: JobKind,
) -> list[str]:
    """The role's dataset: this node's, declared, allowed for the kind, with allowed columns
    (and no key column, when the job releases records)."""
    use = manifest.datasets.get(role)
    if use is None:
        return [f"the job names no dataset for this node's role '{role}'"]
    reasons: list[str] = []
    if use.party != config.name:
        reasons.append(
            f"the job's dataset for role '{role}' belongs to party '{use.party}', "
            f"not to this node ('{config.name}')"
        )
    if set(required_columns) != set(use.columns):
        reasons.append(
            f"the columns the manifest names for dataset '{use.dataset}' "
            f"({_quoted(use.columns)}) differ from those its parameters need "
            f"({_quoted(required_columns)})"
        )
    dataset = config.datasets.get(use.dataset)
    if dataset is None:
        offered = _quoted(sorted(config.datasets)) if config.datasets else "none"
        reasons.append(
            f"the job asks for dataset '{use.dataset}', which this node does not offer "
            f"(it offers: {offered})"
        )
        return reasons
    if kind.releases_records:
        keys = [column for column in use.columns if column in dataset.key_columns]
        if keys:
            what, them = ("a column", "it") if len(keys) == 1 else ("columns", "them")
            reasons.append(
                f"the job would release records with {_quoted(keys)}, {what} among the key "
                f"columns (identifiers) of dataset '{use.dataset}'; leave {them} out of its "
                "columns"
            )
    return [*reasons, *_check_rules(kind.name, use, dataset, config.policy)]


def _check_rules(
    kind: str, use: DatasetUse, dataset: DatasetConfig, policy: PolicyConfig
) -> list[str]:
    """Some allow rule for ``kind`` must name the dataset and allow every column used."""
    of_kind = [rule for rule in policy.allow if rule.kind == kind]
    if not of_kind:
        allowed = sorted({rule.kind for rule in policy.allow})
        which = f"it allows {_quoted(allowed)}" if allowed else "its policy allows no jobs"
        return [f"this node does not allow '{kind}' jobs ({which})"]
    rules = [rule for rule in of_kind if use.dataset in rule.datasets]
    if not rules:
        allowed = sorted({name for rule in of_kind for name in rule.datasets})
        return [
            f"'{kind}' jobs may not use dataset '{use.dataset}' (they may use {_quoted(allowed)})"
        ]
    best: tuple[list[str], tuple[str, ...]] | None = None
    for rule in rules:
        if rule.columns is not None:
            allowed_columns = rule.columns
        elif dataset.columns is not None:
            allowed_columns = dataset.columns
        else:
            try:
                allowed_columns = dataset.file_columns()
            except DatasetError as exc:
                return [f"dataset '{use.dataset}' cannot be read to check its columns: {exc}"]
        refused = [column for column in use.columns if column not in allowed_columns]
        if not refused:
            return []
        if best is None or len(refused) < len(best[0]):
            best = (refused, allowed_columns)
    assert best is not None  # rules is not empty
    refused, allowed_columns = best
    noun, verb = ("column", "is") if len(refused) == 1 else ("columns", "are")
    return [
        f"{noun} {_quoted(refused)} of dataset '{use.dataset}' {verb} not allowed for "
        f"'{kind}' jobs (allowed: {_quoted(allowed_columns)})"
    ]


def _check_min_size(implied: Mapping[str, Any], policy: PolicyConfig) -> list[str]:
    """The job's smallest released group must be at least the node's ``min_cell``.

    ``implied`` is the disclosure the job's parameters imply, not what the manifest states;
    every kind states its smallest group as ``min_cell``.
    """
    if "min_cell" not in implied:
        return [
            "the job's parameters set no smallest group size (min_cell); this node requires "
            f"min_cell of at least {policy.min_cell}"
        ]
    value = implied["min_cell"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [
            f"the job's min_cell is {value!r}, not a number; "
            f"this node requires min_cell of at least {policy.min_cell}"
        ]
    if not value >= policy.min_cell:
        return [
            f"the job's smallest group size (min_cell = {value}) is smaller than this "
            f"node's min_cell of {policy.min_cell}"
        ]
    return []


def _check_budget(use: DatasetUse | None, spend: Budget | None, config: NodeConfig) -> list[str]:
    """The privacy budget the job spends on the role's dataset must fit under the node's cap.

    The cap is the dataset's own ``max_epsilon``/``max_delta`` where it sets one, else the
    ``[policy]`` one; ``spend`` comes from the job's parsed parameters (the kind's
    ``budget``), never from the manifest's description of them.
    """
    if spend is None or use is None or use.dataset not in config.datasets:
        return []  # spends nothing, or a dataset the node does not offer (refused already)
    dataset = config.datasets[use.dataset]
    reasons: list[str] = []
    for what, key, asked, own, default in (
        ("ε", "max_epsilon", spend.epsilon, dataset.max_epsilon, config.policy.max_epsilon),
        ("δ", "max_delta", spend.delta, dataset.max_delta, config.policy.max_delta),
    ):
        cap = default if own is None else own
        if cap is None or asked <= cap:
            continue
        where = f"[datasets.{use.dataset}]" if own is not None else "[policy]"
        reasons.append(
            f"the job would spend {what} = {_number(asked)} of dataset '{use.dataset}', more "
            f"than this node's cap of {key} = {_number(cap)} (set in {where})"
        )
    return reasons


def _number(value: float) -> str:
    """A budget for a message, exact: ``2``, ``0.5``, ``1e-06`` (never rounded to look equal)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _check_recipients(manifest: Manifest, policy: PolicyConfig) -> list[str]:
    """Every result recipient must be on the node's list, when it keeps one."""
    if policy.recipients is None:
        return []
    refused = [name for name in manifest.recipients if name not in policy.recipients]
    if not refused:
        return []
    noun, verb = ("recipient", "is") if len(refused) == 1 else ("recipients", "are")
    return [
        f"result {noun} {_quoted(refused)} {verb} not among this node's allowed recipients "
        f"({_quoted(policy.recipients)})"
    ]


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def owner_rules(
    manifest: Manifest,
    config: NodeConfig,
    role: str,
    *,
    job_id: str = "",
    history: Callable[[str], Sequence[Release]] | None = None,
) -> OwnerRules:
    """The release rules this node imposes on ``role``'s use of its dataset.

    The dataset's own ``rules``, ``min_peer_rows`` and ``min_matched`` where it sets them,
    else the ``[policy]`` ones. With ``history`` (dataset → its releases so far, the
    node's ledger), a :class:`~privstats.disclosure.history.HistoryGuard` for job
    ``job_id``, bound to the dataset: its ``pending`` releases are the node's to record.
    """
    policy = config.policy
    use = manifest.datasets.get(role)
    dataset = config.datasets.get(use.dataset) if use is not None else None
    if use is None or dataset is None:
        return OwnerRules(min_cell=policy.min_cell)
    name = use.dataset
    guard = (
        None
        if history is None
        else HistoryGuard(lambda: history(name), job_id=job_id, min_cell=policy.min_cell)
    )
    return OwnerRules(
        min_cell=policy.min_cell,
        rules=policy.rules if dataset.rules is None else dataset.rules,
        min_peer_rows=_own(dataset.min_peer_rows, policy.min_peer_rows),
        min_matched=_own(dataset.min_matched, policy.min_matched),
        guard=guard,
    )


def _own(own: int | None, default: int) -> int:
    return default if own is None else own


def budget_use(manifest: Manifest, config: NodeConfig) -> tuple[str, Budget, Caps] | None:
    """The dataset of this node the job spends budget on, the spend and its total caps.

    None when the job spends none here (no DP, a role without data, a dataset the node
    does not offer). The spend comes from the job's parameters (the kind's ``budget``).
    """
    role = manifest.role_of(config.name)
    use = manifest.datasets.get(role) if role is not None else None
    if use is None or use.dataset not in config.datasets:
        return None
    kind = get_kind(manifest.kind)
    if role in kind.dataless_roles:
        return None
    spend = kind.budget(kind.parse(manifest.parameters))
    if spend is None:
        return None
    return use.dataset, spend, total_caps(config, use.dataset)


def total_caps(config: NodeConfig, dataset: str) -> Caps:
    """The total (ε, δ) caps of ``dataset``: its own where it sets them, else the policy's."""
    own = config.datasets.get(dataset)
    here = f"[datasets.{dataset}]"
    own_epsilon = None if own is None else own.max_epsilon_total
    own_delta = None if own is None else own.max_delta_total
    return Caps(
        epsilon=_cap(own_epsilon, config.policy.max_epsilon_total),
        delta=_cap(own_delta, config.policy.max_delta_total),
        epsilon_from="[policy]" if own_epsilon is None else here,
        delta_from="[policy]" if own_delta is None else here,
    )


def _cap(own: float | None, default: float | None) -> float | None:
    return default if own is None else own
