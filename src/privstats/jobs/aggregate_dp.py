"""The aggregate job under differential privacy: its terms, its release and its tables.

``privstats run aggregate … --dp-epsilon 1 --dp-bounds wage=0:200000 [--level
region=A|B]`` runs ``privstats.protocols.aggregate_dp`` instead of the exact protocol.
The release holds, per group (every combination of the agreed levels), the noisy figures
— counts, sums, means (noisy sum / noisy count) and quantiles (from the noisy histogram)
— and per figure its ``noise_sd`` and ``error_95`` (for a quantile: its ``bin_width`` and
``rank_error_95``), and one ``"privacy"`` block (ε, δ, ρ, mechanism, unit, bounds,
parties, collusion bound, accounting, each measurement's noise). No group is suppressed:
under DP the noise, not a minimum cell size, protects small groups. Counts may come out
negative or a quantile outside the data: the noisy figures are left unbiased.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from privstats.data.tables import Table
from privstats.disclosure.dp_quantiles import histogram_quantile, quantile_accuracy
from privstats.disclosure.dp_release import DpPlan, DpTerms, noisy_mean
from privstats.jobs.render import Column, Rendering, TableView, figure
from privstats.progress import Progress
from privstats.protocols import aggregate_dp
from privstats.protocols.aggregate import AggregateTerms
from privstats.protocols.aggregate_dp import DpAggregateTerms, NoisyAggregate
from privstats.stats.aggregate import Plan, level_labels
from privstats.transport.channel import Channel

__all__ = ["dp_disclosure", "dp_party_role", "dp_preview", "dp_release", "render_dp"]


def dp_preview(
    plan: Plan,
    dp: DpTerms,
    by: Sequence[str],
    levels: Mapping[str, Sequence[str]] | None,
    parties: int,
) -> DpPlan:
    """The noise plan of an aggregate before it runs (the groups come from the levels)."""
    groups = len(level_labels(levels, by)) if by and levels is not None else 1
    return aggregate_dp.dp_plan(plan, dp, groups, parties)


def dp_disclosure(
    plan: Plan, dp: DpTerms, by: Sequence[str], levels: Mapping[str, Sequence[str]] | None
) -> dict[str, Any]:
    """What a DP aggregate discloses, shown before it runs: the privacy block of a run
    with two parties, or one more than the collusion bound (each party's noise and the
    accuracy scale with the parties; ε does not)."""
    parties = max(2, (dp.collusion or 0) + 1)
    return {"privacy": dp_preview(plan, dp, by, levels, parties).privacy_block()}


def dp_party_role(
    channel: Channel,
    parties: Sequence[str],
    data: Table,
    terms: AggregateTerms,
    dp: DpTerms,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One party's side of a DP aggregate; returns the release, identical at every party."""
    noisy = aggregate_dp.party(channel, parties, data, DpAggregateTerms(terms, dp), progress)
    return dp_release(terms.plan, terms.by, dp, len(parties), noisy)


def dp_release(
    plan: Plan, by: Sequence[str], dp: DpTerms, parties: int, noisy: NoisyAggregate
) -> dict[str, Any]:
    """The release made from the noisy totals: post-processing only."""
    dpp = noisy.plan
    groups = []
    for g, label in enumerate(noisy.labels):
        figures: dict[str, Any] = {}
        sd: dict[str, Any] = {}
        error: dict[str, Any] = {}
        count = noisy.vectors["count"][g]
        figures["count"], sd["count"], error["count"] = count, *_accuracy(dpp, "count")
        for stat in plan.stats:
            if stat.kind == "count":
                continue
            column = stat.columns[0]
            if stat.kind == "sum":
                m = dpp[f"sum:{column}"]
                figures[stat.name] = noisy.vectors[m.query.name][g] * m.quantum
                sd[stat.name], error[stat.name] = m.noise_sd, m.error_95
            elif stat.kind == "mean":
                total = dpp[f"sum:{column}"]
                present = dpp[f"count:{column}"]
                mean = noisy_mean(
                    noisy.vectors[total.query.name][g] * total.quantum,
                    noisy.vectors[present.query.name][g],
                    total,
                    present,
                )
                figures[stat.name] = mean["value"]
                sd[stat.name], error[stat.name] = mean["noise_sd"], mean["error_95"]
            else:
                histogram = dpp[f"histogram:{column}"]
                bins, bounds = dp.bins, dp.bound(column)
                counts = noisy.vectors[histogram.query.name][g * bins : (g + 1) * bins]
                assert stat.q is not None
                figures[stat.name] = histogram_quantile(counts, bounds, stat.q)
                sd[stat.name] = None
                error[stat.name] = quantile_accuracy(histogram, bins, bounds)
        by_values = dict(zip(by, label, strict=True))
        groups.append(
            {"by": by_values, **figures, "noise_sd": sd, "error_95": error, "suppressed": False}
        )
    return {
        "computation": "aggregate",
        "parties": parties,
        "rules": ["differential privacy"],
        "groups": groups,
        "privacy": dpp.privacy_block(),
    }


def _accuracy(plan: DpPlan, name: str) -> tuple[float, float]:
    return plan[name].noise_sd, plan[name].error_95


def render_dp(result: Mapping[str, Any]) -> Rendering:
    """A DP release as one row per group, each figure beside its 95 % error bound."""
    groups = result["groups"]
    by = list(groups[0]["by"]) if groups else []
    names = [k for k in (groups[0] if groups else {}) if k not in _NOT_FIGURES]
    rows = []
    for group in groups:
        cells: list[str] = [str(v) for v in group["by"].values()]
        for name in names:
            error = group["error_95"].get(name)
            if isinstance(error, Mapping):
                error = error.get("rank_error_95")
            cells += [figure(group[name]), "" if error is None else f"± {figure(error)}"]
        rows.append(tuple(cells))
    columns = [Column(name) for name in by]
    for name in names:
        columns += [Column(name, numeric=True), Column("95 %", numeric=True)]
    privacy = result["privacy"]
    caption = (
        f"differential privacy: ε = {figure(privacy['epsilon'])}, δ = {privacy['delta']:g}, "
        f"unit {privacy['unit']}, {privacy['mechanism']} · parties {result['parties']} · "
        "quantiles: ± records of rank"
    )
    title = f"Noisy statistics of {result['parties']} parties"
    return [TableView(title, tuple(columns), tuple(rows), caption)]


_NOT_FIGURES = ("by", "noise_sd", "error_95", "suppressed")
