"""Secure aggregates over horizontally split data: statistics of the pooled records.

Two to ten parties hold records of the same kind (same columns). Every party ends with
the same release: per group of the ``by`` columns the record count and the requested
statistics of the pooled records, exactly as if the files had been concatenated, and
optionally one OLS model over all records. No party sees another's records or subtotals.

This module is the job: the spec the parties agree on, the columns each party reads, its
data loading, the role function :func:`party_role` (roles party1 … partyN) and the local
runner. The protocol — hello, label agreement, the two-phase opening of counts then sums,
the secure bisection for quantiles — and its threat model are in
``privstats.protocols.aggregate``; the figures are made by ``privstats.stats.aggregate``.
The release holds, per group, ``by``, the figures (None where not opened),
``suppressed`` and ``status`` (``"safe"``, or ``"primary"``/``"secondary"`` with a
``"reason"``), and ``refused`` quantile levels with why; withheld groups carry no
figures. It also lists the ``rules`` applied, the ``margins`` of the group table (counts
where safe: the table rules treat them as published) and the ``audit`` of the withheld
cells (``privstats.disclosure.tables``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from privstats.data.tables import Table, read_table
from privstats.disclosure.dp_release import DpTerms
from privstats.disclosure.owner import NO_OWNER_RULES, OwnerRules
from privstats.disclosure.tables import TOTAL, parse_rule
from privstats.errors import ParameterError, ProtocolError
from privstats.jobs.aggregate_dp import dp_disclosure, dp_party_role, render_dp
from privstats.jobs.dp_options import dp_budget, dp_cli_fields
from privstats.jobs.kind import CliField, JobKind, RoleContext, RoleOutput
from privstats.jobs.local import ProgressSink
from privstats.jobs.local_run import LocalRun, run_kind_locally
from privstats.jobs.render import Column, Rendering, TableView, figure, groups_view
from privstats.jobs.roles import ROLE_PREFIX, numbered_parties
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.protocols import aggregate as protocol
from privstats.protocols.aggregate import MAX_PARTIES, AggregateTerms, PooledAggregate
from privstats.stats.aggregate import (
    Plan,
    group_figures,
    make_plan,
    ols_figures,
    parse_formula,
    parse_stat,
    record_warnings,
)
from privstats.transport.channel import Channel

__all__ = [
    "KIND",
    "MAX_PARTIES",
    "AggregateRun",
    "AggregateSpec",
    "aggregate_role",
    "columns_used",
    "load_role_data",
    "party_role",
    "release",
    "role_names",
    "run_local_aggregate",
    "run_role",
]


class AggregateSpec(Spec):
    """Everything the parties must agree on before an aggregate runs."""

    _option: ClassVar[str] = "aggregate option"
    _default_field: ClassVar[str] = "levels"

    stats: tuple[str, ...] = Field(
        ("count",),
        description="A statistic, repeatable: count, sum:COL, mean:COL, var:COL, sd:COL, "
        "median:COL, quantile:COL:Q, cov:A,B, corr:A,B.",
    )
    by: tuple[str, ...] = Field((), description="Group columns, e.g. region,sex.")
    weight: str | None = Field(None, description="Weight column (e.g. survey weights).")
    ols: str | None = Field(
        None, description="A linear model over all records, e.g. 'income ~ age + hours'."
    )
    min_cell: int = Field(10, ge=1, description="Groups with fewer records are suppressed.")
    frac_bits: int = Field(
        32,
        ge=0,
        le=52,
        description="Fixed-point fractional bits; each value is rounded to a multiple of 2^-bits.",
    )
    levels: dict[str, list[str]] | None = Field(
        None,
        description="The agreed labels of a group column, COL=A|B|C (repeatable); groups "
        "then come from this list, not from the data.",
    )
    dp: DpTerms | None = Field(None, description="Differential privacy terms (--dp-*).")
    rules: tuple[str, ...] = Field(
        (),
        description="A table rule on the released sums, repeatable: nk:N,K (the N largest "
        "records may hold at most K %), p:P (p % rule), freq:N (a larger minimum).",
    )
    secondary_cost: Literal["cells", "value"] = Field(
        "value",
        description="What secondary suppression minimises: withheld cells or their records.",
    )

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        for text in rules:
            parse_rule(text)
        return rules

    @field_validator("stats")
    @classmethod
    def _known_stats(cls, stats: tuple[str, ...]) -> tuple[str, ...]:
        for text in stats:
            parse_stat(text)
        return stats

    @field_validator("by")
    @classmethod
    def _distinct_columns(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(by)) != len(by) or any(not col for col in by):
            raise ValueError(f"group columns must be distinct and non-empty, got {list(by)}")
        return by

    @field_validator("weight")
    @classmethod
    def _weight_named(cls, weight: str | None) -> str | None:
        if weight is not None and not weight.strip():
            raise ValueError("the weight column name is empty")
        return weight

    @field_validator("ols")
    @classmethod
    def _formula(cls, ols: str | None) -> str | None:
        if ols is not None:
            parse_formula(ols)
        return ols

    @model_validator(mode="after")
    def _levels_match_by(self) -> AggregateSpec:
        if self.levels is None:
            return self
        if set(self.levels) != set(self.by):
            raise ValueError(
                f"levels must list the levels of exactly the group columns {list(self.by)}, "
                f"got levels for {sorted(self.levels)}"
            )
        for column, values in self.levels.items():
            if not values or any(not v for v in values) or len(set(values)) != len(values):
                raise ValueError(
                    f"the levels of {column!r} must be distinct non-empty values, got {values}"
                )
        return self

    @model_validator(mode="after")
    def _dp_release(self) -> AggregateSpec:
        if self.dp is not None:  # under DP: public groups, supported statistics, bounds
            if self.by and self.levels is None:
                raise ValueError(
                    "under DP the groups must be public: give the levels of every group "
                    "column (--level COL=A|B|C); groups taken from the data would reveal "
                    "which exist"
                )
            dp_disclosure(self.plan(), self.dp, self.by, self.levels, self.min_cell)
        return self

    def plan(self) -> Plan:
        return make_plan(self.stats, weight=self.weight, formula=self.ols, frac_bits=self.frac_bits)


def columns_used(spec: AggregateSpec) -> tuple[str, ...]:
    """Every column a party reads (the same at every party): group columns, then values."""
    return tuple(dict.fromkeys((*_categories(spec), *spec.plan().value_columns)))


def _categories(spec: AggregateSpec) -> tuple[str, ...]:
    """The text columns: the group columns, and the person column of a DP person unit."""
    person = spec.dp.person_column if spec.dp is not None else None
    return (*spec.by, *([person] if person and person not in spec.by else []))


def load_role_data(path: str | Path, spec: AggregateSpec) -> Table:
    """Read one party's group columns as text and value columns as numbers."""
    return read_table(path, categories=_categories(spec), values=spec.plan().value_columns)


def role_names(parties: int) -> tuple[str, ...]:
    """The service's role names of an aggregate with ``parties`` parties: party1, party2, …"""
    return tuple(f"{ROLE_PREFIX}{i}" for i in range(1, parties + 1))


# --------------------------------------------------------------------------- the role


def _terms(spec: AggregateSpec) -> AggregateTerms:
    """What the protocol needs of the spec; the whole spec is what the parties agree on."""
    return AggregateTerms(
        plan=spec.plan(),
        by=spec.by,
        min_cell=spec.min_cell,
        levels=spec.levels,
        agreed=spec.model_dump(mode="json"),
        rules=spec.rules,
        cost=spec.secondary_cost,
    )


def party_role(
    channel: Channel,
    parties: Sequence[str],
    data: Table,
    spec: AggregateSpec,
    progress: Progress | None = None,
    owner: OwnerRules = NO_OWNER_RULES,
) -> dict[str, Any]:
    """One party's side: returns the release, identical at every party.

    ``parties`` lists every party (channel names), this one included, in the same order
    everywhere; ``owner`` the rules of this party's data owner.
    """
    terms = _terms(spec)
    if spec.dp is not None:
        return dp_party_role(channel, parties, data, terms, spec.dp, progress)
    pooled = protocol.party(channel, parties, data, terms, progress, owner)
    return release(spec, terms.plan, len(parties), pooled)


aggregate_role = party_role
"""The role function's former name; use :func:`party_role`."""


def release(
    spec: AggregateSpec, plan: Plan, parties: int, pooled: PooledAggregate
) -> dict[str, Any]:
    """The release made from what the protocol opened: figures of released groups only."""
    keys = ["count", *(["weighted_count"] if plan.weighted else [])]
    keys += [stat.name for stat in plan.stats if stat.kind != "count"]
    protected = pooled.decision.protected
    status = {cell.key: s for cell, s in zip(protected.table.cells, protected.status, strict=True)}
    refusals: dict[int, dict[str, str]] = {}
    for (g, column, q), reason in pooled.refused.items():
        refusals.setdefault(g, {})[f"quantile:{column}:{float(q):g}"] = reason
    groups = []
    for g, label in enumerate(pooled.labels):
        by = dict(zip(spec.by, label, strict=True))
        if label in pooled.withheld:
            why = {"status": status.get(label), "reason": pooled.decision.withheld[label]}
            groups.append({"by": by, **dict.fromkeys(keys), "suppressed": True, **why})
            continue
        figures = group_figures(
            plan,
            pooled.counts[g],
            pooled.group_sums(g, len(plan.blocks)),
            pooled.group_quantiles(g),
        )
        refused = refusals.get(g)
        extra = {"refused": refused} if refused else {}
        shown = status.get(label, "empty")
        groups.append({"by": by, **figures, "suppressed": False, "status": shown, **extra})
    result: dict[str, Any] = {
        "computation": "aggregate",
        "parties": parties,
        "min_cell": pooled.rules.min_cell,
        "rules": pooled.rules.names,
        "groups": groups,
    }
    if spec.by:
        result["margins"] = _margins(spec, pooled)
    result["audit"] = _audit(pooled)
    if plan.formula is not None:
        result["ols"] = _ols(plan, pooled)
    return result


AUDIT_LIMIT = 300
"""Withheld cells up to which a release carries the exact audit (two LPs per cell)."""


def _audit(pooled: PooledAggregate) -> dict[str, Any]:
    """Whether every withheld cell keeps its protection, by the attacker's LP
    (``privstats.disclosure.tables``); skipped, and said so, past ``AUDIT_LIMIT`` cells."""
    protected = pooled.decision.protected
    withheld = int(protected.suppressed.sum())
    if withheld > AUDIT_LIMIT:
        return {"cells_checked": 0, "protected": None, "note": f"{withheld} withheld cells"}
    audit = protected.audit()
    return {key: audit[key] for key in ("cells_checked", "protected")}


def _margins(spec: AggregateSpec, pooled: PooledAggregate) -> list[dict[str, Any]]:
    """The group table's margins and total: the count where safe, else the status."""
    protected = pooled.decision.protected
    margins: list[dict[str, Any]] = []
    for cell, status in zip(protected.table.cells, protected.status, strict=True):
        if TOTAL not in cell.key:
            continue
        by = dict(zip(spec.by, cell.key, strict=True))
        if cell.key in pooled.decision.withheld:
            reason = pooled.decision.withheld[cell.key]
            margins.append({"by": by, "count": None, "status": status, "reason": reason})
        else:
            margins.append({"by": by, "count": cell.count, "status": status})
    return margins


def _ols(plan: Plan, pooled: PooledAggregate) -> dict[str, Any]:
    assert plan.formula is not None
    if pooled.ols_sums is not None:
        return {**ols_figures(plan, pooled.ols_count, pooled.ols_sums), "suppressed": False}
    return {
        "formula": plan.formula.text,
        **dict.fromkeys(("coef", "se", "r2", "n")),
        "suppressed": True,
        "reason": pooled.ols_refused or f"fewer than {pooled.rules.min_cell} complete records",
    }


# --------------------------------------------------------------------------- runners


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: AggregateSpec,
    progress: Progress | None,
    context: RoleContext | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Run ``role`` (party1 … partyN) with ``parties`` mapping each role to its party name;
    ``context`` brings the owner's rules and the peers' declared sizes."""
    ordered = numbered_parties(parties, "aggregate")
    if role not in parties:
        raise ParameterError(
            f"unknown aggregate role {role!r}; roles are {sorted(parties)}", parameter="role"
        )
    owner = NO_OWNER_RULES if context is None else context.owner
    if context is not None and owner.min_peer_rows:
        floor = owner.min_peer_rows
        small = sorted((r, n) for r, n in context.peer_rows.items() if r != role and n < floor)
        if small:
            declared = ", ".join(f"{r} declares {n}" for r, n in small)
            raise ProtocolError(
                f"the owner's policy needs at least {floor} records per peer "
                f"(min_peer_rows = {floor}); {declared}",
                step="policy",
            )
    data = load_role_data(path, spec)
    result = party_role(channel, ordered, data, spec, progress, owner)
    return result, record_warnings(data, spec.plan())


def _run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: AggregateSpec,
    progress: Progress | None,
    context: RoleContext,
) -> RoleOutput:
    result, warnings = run_role(role, channel, parties, path, spec, progress, context)
    return RoleOutput(result, warnings)


AggregateRun = LocalRun
"""A local aggregate run's release (with ``seconds``), data warnings and costs."""


def run_local_aggregate(
    parties: Mapping[str, str | Path],
    spec: AggregateSpec,
    progress: ProgressSink | None = None,
    *,
    owners: Mapping[str, OwnerRules] | None = None,
) -> LocalRun:
    """Run every party in its own process on loopback; ``result`` includes ``seconds``.

    Every party ends with the same release; a local run checks that they do. ``owners``
    maps a role (``party1`` …) to its data owner's rules.
    """
    if any(not name for name in parties):
        raise ParameterError("a party name is empty", parameter="parties")
    run = run_kind_locally(KIND, parties, spec, progress=progress, owners=owners)
    releases = [outcome.output.result for outcome in run.outcomes.values()]
    if any(release != releases[0] for release in releases[1:]):
        raise ProtocolError("the parties ended with different releases", step="release")
    return run


# --------------------------------------------------------------------------- the kind


def _pairwise(group: Mapping[str, Any]) -> dict[str, Any]:
    """A group's cov/corr matrices spread into one figure per pair of columns, for display."""
    spread: dict[str, Any] = {}
    for key, value in group.items():
        kind, _, columns = key.partition(":")
        if kind not in ("cov", "corr") or not columns:
            spread[key] = value
            continue
        names = columns.split(",")
        first = 0 if kind == "cov" else 1  # a correlation's diagonal is always 1
        for i, a in enumerate(names):
            for j in range(i + first, len(names)):
                spread[f"{kind}({a},{names[j]})"] = None if value is None else value[i][j]
    return spread


def parse_levels(items: list[str]) -> dict[str, list[str]]:
    """``COL=A|B|C`` texts as each group column's agreed labels."""
    levels: dict[str, list[str]] = {}
    for item in items:
        name, sep, labels = (part.strip() for part in item.partition("="))
        if not sep or not name or not labels:
            raise ParameterError(
                f"--level {item!r}: write COLUMN=A|B|C, e.g. region=North|South",
                parameter="levels",
            )
        levels[name] = [label.strip() for label in labels.split("|")]
    return levels


def render_result(result: Mapping[str, Any]) -> Rendering:
    """The release as tables: one row per group, then the OLS model if any."""
    if "privacy" in result:
        return render_dp(result)
    hidden = ("status", "reason", "refused")
    plain = [{k: v for k, v in group.items() if k not in hidden} for group in result["groups"]]
    shown = {**result, "groups": [_pairwise(group) for group in plain]}
    tables: Rendering = [
        groups_view(shown, title=f"Pooled statistics of {result['parties']} parties")
    ]
    model = result.get("ols")
    if model is not None:
        if model["suppressed"]:
            rows: tuple[tuple[str, ...], ...] = (("suppressed", "", ""),)
            caption = model.get("reason") or f"fewer than {result['min_cell']} records"
        else:
            rows = tuple(
                (term, figure(coef), figure(model["se"][term]))
                for term, coef in model["coef"].items()
            )
            caption = f"n = {model['n']:,} · R² = {figure(model['r2'])}"
        columns = (Column("term"), Column("coef", numeric=True), Column("se", numeric=True))
        tables.append(TableView(f"OLS {model['formula']}", columns, rows, caption))
    return tables


KIND = JobKind(
    name="aggregate",
    title="Statistics of the parties' pooled records, by secure sums.",
    description=(
        "Each party holds records with the same columns. All parties learn the released "
        "figures — counts, sums, means, variances, quantiles, covariances, an OLS model — of "
        "their records taken together, and nothing of another's records or subtotals. Groups "
        "below --min-cell records are suppressed, with complementary suppression."
    ),
    roles=(),
    role_help={"party": "A party and its records (all parties with the same columns)"},
    result_role="party1",
    spec_type=AggregateSpec,
    columns=lambda spec, _role: columns_used(spec),
    disclosure=lambda spec: (
        dp_disclosure(spec.plan(), spec.dp, spec.by, spec.levels, spec.min_cell)
        if spec.dp is not None
        else {"min_cell": spec.min_cell}
    ),
    budget=dp_budget,
    run_role=_run_role,
    parties=(2, MAX_PARTIES),
    render=render_result,
    cli={
        "stats": CliField(option="--stat", split=False),
        "levels": CliField(option="--level", parse=parse_levels),
        "rules": CliField(option="--rule", split=False),
        **dp_cli_fields(),
    },
)
