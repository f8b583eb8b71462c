"""Join-and-aggregate of vertically split data: per-group count, sum and mean, to one party.

Two roles. The *left* party (an NSO, holding person identifiers with group columns and
optionally value columns) receives the result; the *right* party (a bank, holding
identifiers and value columns such as income) contributes its values and learns only both
set sizes. For every group of the left party's categories, over the persons both hold,
the result gives the count and, per value column, the sum and the mean.

Before the protocol each party cleans its own file: identifiers are normalised alike
(:class:`~privstats.jobs.coverage.NormalizationSpec`); records with an empty identifier
(also one written as a missing-value marker such as ``NA`` or ``nan``, in any letter
case: :func:`~privstats.data.readers.missing_markers`), or with a missing value in a used
value column, are dropped with a warning; a file with no records, or none left, is an
error. On the left a repeated identifier keeps its first record, on the right the values
of a repeated identifier are summed (both with a warning). Values are fixed point:
``round(v·10^d)`` as exact integers with ``d = decimals`` (half to even, from the shortest
decimal text of the number); a column whose values are all whole numbers is kept at scale
1 and reported in integers. After matching, both parties agree on the released table —
the groups and every margin — under both parties' rules and floors
(:mod:`privstats.jobs.join_release`); the sums of withheld cells are never decrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from privstats.disclosure.dp_release import DpPlan, DpTerms
from privstats.disclosure.owner import NO_OWNER_RULES, OwnerRules
from privstats.disclosure.tables import TOTAL, parse_rule
from privstats.errors import DatasetError, ProtocolError
from privstats.jobs.coverage import NormalizationSpec
from privstats.jobs.dp_options import dp_budget, dp_cli_fields
from privstats.jobs.join_dp import (
    MECHANISM,
    cell_layer,
    check_terms,
    clamp_scaled,
    dp_plan,
    noisy_cell,
    right_noise,
)
from privstats.jobs.join_loading import LEFT, RIGHT, JoinData, Source, load_role_data
from privstats.jobs.join_release import (
    LeftPlanner,
    floor_rule,
    magnitude_rules,
    right_approver,
    right_candidate,
)
from privstats.jobs.kind import CliField, JobKind, RoleContext, RoleOutput
from privstats.jobs.local import ProgressSink
from privstats.jobs.local_run import LocalRun, run_kind_locally
from privstats.jobs.render import Column, TableView
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.protocols import join_aggregate as protocol
from privstats.protocols.join_aggregate import DEFAULT_CHUNK_SIZE, LeftResult
from privstats.transport.channel import Channel

__all__ = [
    "KIND",
    "LEFT",
    "RIGHT",
    "JoinAggregateRun",
    "JoinAggregateSpec",
    "JoinData",
    "columns_used",
    "left_role",
    "load_role_data",
    "right_role",
    "run_local_join_aggregate",
    "run_role",
]

_MAX_EXAMPLES = 5
_MAX_SCALED = 2**63


class JoinAggregateSpec(Spec):
    """Everything both parties must agree on before a join-and-aggregate runs."""

    _option: ClassVar[str] = "join-aggregate option"

    key: str = Field(min_length=1)
    """Identifier column of the left party's file (and of the right's, unless ``peer_key``)."""
    peer_key: str | None = None
    """Identifier column of the other party's file, if named differently (else ``key``)."""
    by: tuple[str, ...] = ()
    """Group columns of the left file, e.g. region,age_group."""
    left_values: tuple[str, ...] = ()
    """Value columns of the left file to sum and average."""
    right_values: tuple[str, ...] = ()
    """Value columns of the right file to sum and average."""
    min_cell: int = Field(10, ge=1)
    """Groups with fewer matched persons are suppressed."""
    rules: tuple[str, ...] = ()
    """Table rules on every released cell and margin: freq:N on the matched count,
    nk:n,k (dominance) and p:P (p %) on the right party's values, e.g. nk:1,80."""
    decimals: int = Field(2, ge=0, le=protocol.MAX_DECIMALS)
    """Decimal places kept of non-integer values; sums are exact at this scale."""
    normalization: NormalizationSpec = NormalizationSpec()
    """How identifiers are normalised before matching."""
    dp: DpTerms | None = None
    """Differential privacy of the released counts and sums (privstats.jobs.join_dp)."""
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=1, le=262_144)
    """Records per protocol message."""

    @model_validator(mode="before")
    @classmethod
    def _accept_right_key(cls, data: Any) -> Any:
        """Take ``right_key``, the old name of ``peer_key``, on input; refuse both at once."""
        if isinstance(data, Mapping) and "right_key" in data:
            if "peer_key" in data:
                raise ValueError(
                    "peer_key and right_key (its old name) are both given; give only peer_key"
                )
            data = {("peer_key" if name == "right_key" else name): v for name, v in data.items()}
        return data

    @model_validator(mode="after")
    def _known_rules(self) -> JoinAggregateSpec:
        for rule in self.rules:
            parse_rule(rule)  # a ParameterError naming the rule
        if self.dp is not None:  # the unit and every value column's bounds, up front
            check_terms(self.dp, self.peer_key or self.key, (*self.left_values, *self.right_values))
        return self

    @model_validator(mode="after")
    def _distinct_columns(self) -> JoinAggregateSpec:
        for name, columns in (
            ("by", self.by),
            ("left_values", self.left_values),
            ("right_values", self.right_values),
        ):
            if len(set(columns)) != len(columns) or any(not col for col in columns):
                raise ValueError(
                    f"{name} columns must be distinct and non-empty, got {list(columns)}"
                )
            if len(columns) > protocol.MAX_COLUMNS:
                raise ValueError(f"at most {protocol.MAX_COLUMNS} {name} columns")
        both = sorted(set(self.left_values) & set(self.right_values))
        if both:
            raise ValueError(
                f"value columns {both} are named on both sides; rename one, the result "
                "reports each value column under its name"
            )
        if self.key in self.by or self.key in self.left_values:
            raise ValueError(
                f"the identifier column {self.key!r} cannot be a group or value column"
            )
        if (self.peer_key or self.key) in self.right_values:
            raise ValueError(
                f"the identifier column {self.peer_key or self.key!r} cannot be a value column"
            )
        return self


def columns_used(spec: JoinAggregateSpec, role: str) -> tuple[str, ...]:
    """The columns of ``role``'s dataset that a join-aggregate job reads."""
    source = Source.of(role, "", spec)
    return tuple(dict.fromkeys((source.key, *source.by, *source.columns)))


# --------------------------------------------------------------------------- roles


def _clamped(spec: JoinAggregateSpec, data: JoinData) -> JoinData:
    """Under DP, the values clamped to their public bounds (by their owner, before use)."""
    if spec.dp is None:
        return data
    values = [
        clamp_scaled(column, spec.dp.bound(name), decimals)
        for column, name, decimals in zip(data.values, data.columns, data.decimals, strict=True)
    ]
    return replace(data, values=values)


def _plan(spec: JoinAggregateSpec, **cells: int) -> DpPlan | None:
    if spec.dp is None:
        return None
    columns = (*spec.left_values, *spec.right_values)
    return dp_plan(spec.dp, spec.peer_key or spec.key, spec.by, columns, **cells)


def _measures(spec: JoinAggregateSpec) -> tuple[str, ...]:
    return ("count", *(f"sum:{c}" for c in (*spec.left_values, *spec.right_values)))


def left_role(
    channel: Channel,
    peer: str,
    data: JoinData,
    spec: JoinAggregateSpec,
    progress: Progress | None = None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> dict[str, Any]:
    """The left party's side: run the protocol and return the released result.

    ``owner``: the rules the left dataset's owner imposes (floors, rules, release guard).
    """
    if not data.ids:
        raise DatasetError(
            f"{data.path}: no records left to join (after dropping empty identifiers and "
            "missing values)",
            path=data.path,
            column=data.key,
        )
    _plan(spec)  # refuse bad DP terms before anything runs
    data = _clamped(spec, data)
    planner = LeftPlanner(
        dims=spec.by,
        labels=data.group_labels,
        floor=floor_rule(spec.min_cell, spec.rules, owner),
        owner=owner,
        measures=_measures(spec),
    )
    outcome = protocol.left(
        channel,
        peer,
        data.ids,
        data.groups,
        len(data.group_labels),
        data.values,
        release=planner,
        right_columns=len(spec.right_values),
        min_peer_rows=owner.min_peer_rows,
        decimals=data.decimals,
        chunk_size=spec.chunk_size,
        progress=progress,
    )
    if any(d not in (0, spec.decimals) for d in outcome.right_decimals):
        raise ProtocolError(
            f"the right party scaled its values to {list(outcome.right_decimals)} decimals, "
            f"not {spec.decimals}",
            peer=peer,
            step="hello",
        )
    if owner.guard is not None:
        owner.guard.published(planner.candidate(), planner.candidate().withheld)
    return _result(spec, data, outcome, planner)


def _figures(
    spec: JoinAggregateSpec,
    data: JoinData,
    outcome: LeftResult,
    key: tuple[str, ...],
    count: int,
) -> dict[str, Any]:
    """A released cell's count, sums and means (None for a withheld cell)."""
    columns = [*data.columns, *spec.right_values]
    integer = [*data.integer, *outcome.right_integer]
    decimals = [*data.decimals, *outcome.right_decimals]
    sums = outcome.sums.get(key)
    entry: dict[str, Any] = {"count": None if sums is None else count}
    for c, name in enumerate(columns):
        if sums is None:
            entry[f"sum:{name}"] = entry[f"mean:{name}"] = None
            continue
        scale = 10 ** decimals[c]
        total = sums[c]
        entry[f"sum:{name}"] = total // scale if integer[c] else total / scale
        entry[f"mean:{name}"] = total / (scale * count) if count else None
    return entry


def _result(
    spec: JoinAggregateSpec, data: JoinData, outcome: LeftResult, planner: LeftPlanner
) -> dict[str, Any]:
    groups: list[dict[str, Any]] = []
    margins: list[dict[str, Any]] = []
    matched = None
    layers: dict[str, int] = {}
    for cell in planner.cells:
        name = cell_layer(spec.by, cell.key)
        layers[name] = layers.get(name, 0) + 1
    plan = _plan(spec, **layers)
    for cell in planner.cells:
        entry: dict[str, Any] = {"by": dict(zip(spec.by, cell.key, strict=True))}
        entry |= _figures(spec, data, outcome, cell.key, cell.count)
        if plan is not None and cell.key in outcome.sums:
            sums = {k[4:]: v for k, v in entry.items() if k.startswith("sum:")}
            entry |= noisy_cell(plan, spec.by, cell.key, cell.count, sums)
        withheld = cell.key not in outcome.sums
        entry["suppressed"] = withheld
        entry["status"] = cell.status
        entry["rules"] = list(cell.rules)
        if withheld:
            entry["reason"] = cell.reason
        if all(v == TOTAL for v in cell.key):
            matched = entry["count"]
        (margins if TOTAL in cell.key else groups).append(entry)
    result = {
        "computation": "join_aggregate",
        "left_size": outcome.left_size,
        "right_size": outcome.right_size,
        "matched": matched,
        "min_cell": spec.min_cell,
        "rules": [planner.floor.name, *spec.rules],
        "groups": groups,
        "margins": margins,
    }
    if plan is not None:
        result["privacy"] = plan.privacy_block() | {"mechanism": MECHANISM}
    return result


def right_role(
    channel: Channel,
    peer: str,
    data: JoinData,
    spec: JoinAggregateSpec,
    progress: Progress | None = None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> dict[str, Any]:
    """The right party's side: contribute the values; return both sizes, no figures.

    ``owner``: the rules the right dataset's owner imposes; B reviews every proposed cell
    under them and its release guard, and decrypts no cell it withholds.
    """
    rules = magnitude_rules(spec.rules, owner) if spec.right_values else []
    measures = _measures(spec)
    plan = _plan(spec)
    data = _clamped(spec, data)
    outcome = protocol.right(
        channel,
        peer,
        data.ids,
        data.values,
        integer=data.integer,
        decimals=data.decimals,
        left_columns=len(spec.left_values),
        approve=right_approver(
            floor_rule(spec.min_cell, spec.rules, owner),
            rules,
            owner,
            spec.right_values,
            spec.by,
            measures,
        ),
        contributions=bool(rules),
        min_peer_rows=owner.min_peer_rows,
        noise=None
        if plan is None
        else right_noise(plan, spec.by, (*spec.left_values, *spec.right_values)),
        chunk_size=spec.chunk_size,
        progress=progress,
    )
    agreed = outcome.agreed
    if owner.guard is not None and agreed is not None:
        owner.guard.published(right_candidate(agreed, spec.by, measures), agreed.withheld)
    return {
        "computation": "join_aggregate",
        "role": RIGHT,
        "left_size": outcome.left_size,
        "right_size": outcome.right_size,
    }


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: JoinAggregateSpec,
    progress: Progress | None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> tuple[dict[str, Any] | None, list[str]]:
    """A service node's runner: load ``path``, play ``role``; (result, data warnings)."""
    data = load_role_data(role, path, spec)
    if role == LEFT:
        result = left_role(channel, parties[RIGHT], data, spec, progress, owner)
    else:
        result = right_role(channel, parties[LEFT], data, spec, progress, owner)
    return result, data.warnings()


def _run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: JoinAggregateSpec,
    progress: Progress | None,
    context: RoleContext,
) -> RoleOutput:
    return RoleOutput(*run_role(role, channel, parties, path, spec, progress, context.owner))


# --------------------------------------------------------------------------- local runs

JoinAggregateRun = LocalRun
"""A local join-aggregate run's result (with ``seconds``), warnings and costs."""


def run_local_join_aggregate(
    left: str | Path,
    right: str | Path,
    spec: JoinAggregateSpec,
    *,
    progress: ProgressSink | None = None,
    owners: Mapping[str, OwnerRules] | None = None,
) -> LocalRun:
    """Run both roles, each in its own process on loopback; ``result`` includes ``seconds``.

    ``owners``: role → the rules its data owner imposes (picklable; a guard too)."""
    return run_kind_locally(
        KIND, {LEFT: left, RIGHT: right}, spec, progress=progress, owners=owners
    )


# --------------------------------------------------------------------------- the kind


def _number(value: Any, places: int) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{places}f}"


def join_view(
    result: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    decimals: int = 2,
    *,
    max_suppressed: int = 10,
) -> TableView:
    """The result as one row per group, then one per margin; sum and mean per value column.

    Only the first ``max_suppressed`` suppressed groups get a row; the others are counted
    in one closing row (the JSON lists every group).
    """
    names = names or {LEFT: LEFT, RIGHT: RIGHT}
    groups = result["groups"]
    by = list(groups[0]["by"]) if groups else []
    values = [k[len("sum:") :] for k in groups[0] if k.startswith("sum:")] if groups else []
    columns = [Column(name) for name in by] + [Column("count", numeric=True)]
    for name in values:
        columns += [Column(f"sum {name}", numeric=True), Column(f"mean {name}", numeric=True)]
    rows: list[tuple[str, ...]] = []
    suppressed = sum(1 for entry in groups if entry["suppressed"])
    seen = 0
    for entry in groups:
        labels = [str(v) for v in entry["by"].values()]
        if entry["suppressed"]:
            seen += 1
            if seen <= max_suppressed:
                rows.append((*labels, "suppressed", *[""] * (2 * len(values))))
            continue
        cells = [_number(entry["count"], 0)]
        for name in values:
            cells.append(_number(entry[f"sum:{name}"], decimals))
            cells.append(_number(entry[f"mean:{name}"], max(2, decimals)))
        rows.append((*labels, *cells))
    hidden = suppressed - min(suppressed, max_suppressed)
    if hidden:  # one row marks the gap; the caption says how many are not shown
        rows.append(("…", *[""] * (len(by) + 2 * len(values))))
    for entry in result.get("margins", []):  # the margins and the total, after the groups
        labels = [str(v) for v in entry["by"].values()]
        if entry["suppressed"]:
            rows.append((*labels, "suppressed", *[""] * (2 * len(values))))
            continue
        cells = [_number(entry["count"], 0)]
        for name in values:
            cells += [_number(entry[f"sum:{name}"], decimals)]
            cells += [_number(entry[f"mean:{name}"], max(2, decimals))]
        rows.append((*labels, *cells))
    matched = result["matched"]
    caption = (
        f"{names[LEFT]} {result['left_size']:,} · {names[RIGHT]} {result['right_size']:,} · "
        f"matched {'suppressed' if matched is None else f'{matched:,}'} · "
        f"groups: {len(groups) - suppressed:,} released, {suppressed:,} suppressed · "
        + (
            f"{hidden:,} suppressed groups not shown (--json lists every group) · "
            if hidden
            else ""
        )
        + f"{result.get('seconds', 0.0):.1f} s"
    )
    title = f"Per-group totals over the persons in both files (min cell {result['min_cell']})"
    return TableView(title, tuple(columns), tuple(rows), caption)


def _disclosure(spec: JoinAggregateSpec) -> dict[str, Any]:
    """What a job discloses, shown before it runs: its floor and rules, and under DP ε, δ
    and the privacy block (the noise does not depend on the data)."""
    out: dict[str, Any] = {"min_cell": spec.min_cell, "rules": list(spec.rules)}
    plan = _plan(spec)
    if plan is not None:
        privacy = plan.privacy_block() | {"mechanism": MECHANISM}
        out |= {"epsilon": plan.epsilon, "delta": plan.delta, "privacy": privacy}
    return out


KIND = JobKind(
    name="join_aggregate",
    title="Per-group count, sum and mean over the persons both parties hold (private join).",
    description=(
        "The left party's groups and the right party's values meet only encrypted: neither "
        "side learns who is in both files, the right party learns no figure, and the left "
        "party learns only the released per-group figures. Groups below --min-cell matched "
        "persons are suppressed."
    ),
    roles=(LEFT, RIGHT),
    role_help={
        LEFT: "The party with the identifiers and group columns (it receives the result)",
        RIGHT: "The party with the identifiers and value columns",
    },
    result_role=LEFT,
    spec_type=JoinAggregateSpec,
    columns=columns_used,
    disclosure=lambda spec: _disclosure(spec),
    run_role=_run_role,
    budget=dp_budget,
    render=lambda result: [join_view(result)],
    cli={
        "left_values": CliField(option="--left-value"),
        "rules": CliField(option="--rule", split=False),
        "right_values": CliField(option="--right-value"),
        "normalization.strip": CliField(hidden=True),
        "normalization.unicode_form": CliField(hidden=True),
        "normalization.remove": CliField(option="--id-remove"),
        "chunk_size": CliField(hidden=True),
        **dp_cli_fields(),
    },
)
