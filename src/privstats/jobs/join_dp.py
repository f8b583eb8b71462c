"""Differential privacy for join-aggregate: what is measured, who adds the noise, what A sees.

With ``spec.dp`` (:class:`~privstats.disclosure.dp_release.DpTerms`: ``--dp-epsilon``,
``--dp-delta``, ``--dp-bounds COL=LOW:HIGH``, ``--dp-unit``) every released figure is noisy:

Measurements
    The released table is the groups *and* every margin. Its cells fall in ``2^d`` layers
    for ``d`` group columns (each column either split or summed over); within a layer the
    cells are disjoint, so one person moves one cell of it. Each layer is one count
    measurement and one sum measurement per value column (:func:`dp_queries`), composed
    sequentially by :func:`~privstats.disclosure.dp_release.plan_release` (OpenDP's
    accounting). The unit is one identifier (``record``; ``person:KEY`` is the same here:
    each side keeps one record per identifier, the right side's repeated records summed
    first), and every value is clamped to its public bounds — by its owner, after that
    summing — before anything is encrypted.
Who adds the noise
    Sums: the right party B, inside the joint decryption (its share becomes ``b·C1 − η·G``):
    the left party A, which finishes the decryption, only ever sees ``S + η``. The noise is
    a discrete Gaussian of scale ``σ·10^d`` on the fixed-point integers (``d`` the column's
    decimals; ``σ`` the plan's scale in the column's units, for a sensitivity the plan
    rounds *up*, so the ρ spent is at most the plan's). Counts: A adds the noise, because
    A learns every matched count exactly in this protocol (it decrypts the matched labels).
What the guarantee covers
    Everyone but A — the analyst, the hub, the published table — sees only noisy figures
    and gets the (ε, δ) of the ``"privacy"`` block. A sees the exact matched counts
    (also of withheld cells) and is not covered for them; for the sums A is covered, as B
    adds their noise. The set of released cells is decided on exact counts (the floors and
    rules still apply), so which cells appear is not part of the DP claim; means are
    noisy sum / noisy count (post-processing); noisy counts below 0 are shown as 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from privstats.disclosure.dp_noise import party_noise
from privstats.disclosure.dp_release import (
    DpPlan,
    DpTerms,
    NoisePlan,
    Query,
    count_query,
    noisy_mean,
    plan_release,
)
from privstats.disclosure.tables import TOTAL
from privstats.errors import ParameterError
from privstats.protocols.join_aggregate import Label, Noise

__all__ = [
    "MECHANISM",
    "cell_layer",
    "check_terms",
    "clamp_scaled",
    "dp_plan",
    "dp_queries",
    "noisy_cell",
    "right_noise",
]

MECHANISM = (
    "discrete Gaussian (zCDP): sums noised by the right party inside the joint decryption, "
    "counts by the left party (which sees the exact counts; the guarantee is towards "
    "everyone else)"
)


def _layer_name(dims: Sequence[str], split: Sequence[bool]) -> str:
    shown = [d for d, s in zip(dims, split, strict=True) if s]
    return f"by {','.join(shown)}" if shown else "total"


def cell_layer(dims: Sequence[str], key: Label) -> str:
    """The name of the layer a cell belongs to (``"by region"``, ``"total"``)."""
    if not dims:
        return "total"
    return _layer_name(dims, [v != TOTAL for v in key])


def dp_queries(
    dims: Sequence[str], columns: Sequence[str], cells: Mapping[str, int] | None = None
) -> list[Query]:
    """One count and one sum per value column for each layer of the table; ``cells``
    (layer → number of cells) only describes the release, the noise does not depend on
    it (1 per layer when not known, as on the right party's side)."""
    queries = []
    for split in itertools.product((True, False), repeat=len(dims)):
        name = _layer_name(dims, split)
        n = max(1, (cells or {}).get(name, 1))
        queries.append(count_query(n, name=f"count [{name}]"))
        queries += [Query(f"sum:{c} [{name}]", "sum", n, c) for c in columns]
    return queries


def check_terms(terms: DpTerms, key: str, columns: Sequence[str]) -> None:
    """Refuse a unit other than one identifier, and a value column without bounds."""
    if terms.unit not in ("record", f"person:{key}"):
        raise ParameterError(
            f"join-aggregate's privacy unit is one identifier: use --dp-unit record (or "
            f"person:{key}), not {terms.unit!r}",
            parameter="dp.unit",
        )
    for column in columns:
        terms.bound(column)  # a ParameterError naming the column


def dp_plan(
    terms: DpTerms, key: str, dims: Sequence[str], columns: Sequence[str], **cells: int
) -> DpPlan:
    """The plan of a join-aggregate's release (the same at both parties)."""
    check_terms(terms, key, columns)
    return plan_release(terms, dp_queries(dims, columns, cells or None), parties=1)


def clamp_scaled(values: Sequence[int], bounds: tuple[float, float], decimals: int) -> list[int]:
    """Scaled integers clamped to the bounds at that scale (inside, never rounded out)."""
    scale = 10**decimals
    low, high = math.ceil(bounds[0] * scale), math.floor(bounds[1] * scale)
    return [min(max(v, low), high) for v in values]


def _sum_plan(plan: DpPlan, dims: Sequence[str], column: str) -> NoisePlan:
    return plan[f"sum:{column} [{_layer_name(dims, [True] * len(dims))}]"]


def right_noise(plan: DpPlan, dims: Sequence[str], columns: Sequence[str]) -> Noise:
    """B's noise for the protocol: per column, a discrete Gaussian of the plan's scale in
    that column's fixed-point units (every layer of a column has the same scale)."""

    def noise(column: int, cells: int, decimals: int) -> list[int]:
        measured = _sum_plan(plan, dims, columns[column])
        sigma = measured.sigma * measured.quantum * 10**decimals
        return [int(v) for v in party_noise(cells, sigma)] if cells else []

    return noise


def noisy_cell(
    plan: DpPlan,
    dims: Sequence[str],
    key: Label,
    count: int,
    sums: Mapping[str, float],
) -> dict[str, Any]:
    """A released cell's noisy count (A's noise), its noisy sums (B's, given), means, and
    each figure's ``noise_sd`` and ``error_95``."""
    layer = cell_layer(dims, key)
    counted = plan[f"count [{layer}]"]
    (noise,) = party_noise(1, counted.sigma)
    noisy = max(0, count + int(noise))
    entry: dict[str, Any] = {"count": noisy}
    noise_sd: dict[str, float | None] = {"count": counted.noise_sd}
    error_95: dict[str, float | None] = {"count": counted.error_95}
    for column, total in sums.items():
        measured = plan[f"sum:{column} [{layer}]"]
        mean = noisy_mean(total, noisy, measured, counted)
        entry[f"sum:{column}"] = total
        entry[f"mean:{column}"] = mean["value"]
        noise_sd[f"sum:{column}"], error_95[f"sum:{column}"] = (
            measured.noise_sd,
            measured.error_95,
        )
        noise_sd[f"mean:{column}"], error_95[f"mean:{column}"] = (
            mean["noise_sd"],
            mean["error_95"],
        )
    return entry | {"noise_sd": noise_sd, "error_95": error_95}
