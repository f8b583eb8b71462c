"""The aggregate job under differential privacy: its terms, its release and its tables.

``privstats run aggregate … --dp-epsilon 1 --dp-bounds wage=0:200000 [--level
region=A|B]`` runs ``privstats.protocols.aggregate_dp`` instead of the exact protocol.
The release holds, per group (every combination of the agreed levels), the noisy figures
— counts, sums, means (noisy sum / noisy count) and quantiles (from the noisy histogram)
— and per figure its ``noise_sd`` and ``error_95`` (for a quantile: its ``bin_width`` and
``rank_error_95``), and one ``"privacy"`` block (ε, δ, ρ, mechanism, unit, bounds,
parties, collusion bound, accounting, each measurement's noise). Under DP the noise, not
a minimum cell size, protects small groups, so no suppression is needed; the job still
withholds the figures of a group whose *noisy* count is below ``min_cell``
(post-processing: it costs no budget and reveals nothing more), so that the release
honours the ``min_cell`` a node's policy requires (``--min-cell 1`` turns it off). Counts
may come out negative or a quantile outside the data: the noisy figures are unbiased.
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
    plan: Plan,
    dp: DpTerms,
    by: Sequence[str],
    levels: Mapping[str, Sequence[str]] | None,
    min_cell: int,
) -> dict[str, Any]:
    """What a DP aggregate discloses, shown before it runs: ``min_cell``, ε and δ, and the
    privacy block of a run
    with two parties, or one more than the collusion bound (each party's noise and the
    accuracy scale with the parties; ε does not)."""
    parties = max(2, (dp.collusion or 0) + 1)
    preview = dp_preview(plan, dp, by, levels, parties)
    return {
        "min_cell": min_cell,
        "epsilon": preview.epsilon,
        "delta": preview.delta,
        "privacy": preview.privacy_block(),
    }


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
    return dp_release(terms.plan, terms.by, dp, len(parties), noisy, terms.min_cell)


def dp_release(
    plan: Plan,
    by: Sequence[str],
    dp: DpTerms,
    parties: int,
    noisy: NoisyAggregate,
    min_cell: int = 1,
) -> dict[str, Any]:
    """The release made from the noisy totals: post-processing only."""
    dpp = noisy.plan
    groups: list[dict[str, Any]] = []
    for g, label in enumerate(noisy.labels):
        by_values = dict(zip(by, label, strict=True))
        if noisy.vectors["count"][g] < min_cell:
            names = ["count", *(s.name for s in plan.stats if s.kind != "count")]
            groups.append(
                {
                    "by": by_values,
                    **dict.fromkeys(names),
                    "suppressed": True,
                    "reason": f"noisy count below min_cell {min_cell}",
                }
            )
            continue
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
        groups.append(
            {"by": by_values, **figures, "noise_sd": sd, "error_95": error, "suppressed": False}
        )
    return {
        "computation": "aggregate",
        "parties": parties,
        "min_cell": min_cell,
        "rules": ["differential privacy", "min_cell on noisy counts"],
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
    rows: list[tuple[str, ...]] = []
    for group in groups:
        cells: list[str] = [str(v) for v in group["by"].values()]
        if group["suppressed"]:
            rows.append((*cells, "suppressed", *([""] * (2 * len(names) - 1))))
            continue
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


_NOT_FIGURES = ("by", "noise_sd", "error_95", "suppressed", "reason")
