"""Phase 3 of the secure aggregate: quantiles by secure bisection, within the floors.

Every released (group, column, level) is searched at once over the fixed-point grid
(``x·2^f`` in ``[−2^62, 2^62)``): 63 rounds, each one secure sum (``open_counts``) of the
parties' counts (or Σw) of values ≤ the midpoint. Before any round, the levels that
``privstats.stats.aggregate.floors.quantile_refusals`` refuses (fewer than ``min_cell``
records on a side, or closer than ``min_cell/N`` to another level) are dropped: decided
from the pooled count, nothing more is opened. What the rounds open is stated in
``privstats.protocols.aggregate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

from privstats.progress import Progress
from privstats.stats.aggregate import (
    GRID_HIGH,
    GRID_LOW,
    Plan,
    QuantileIndex,
    quantile_reached,
    quantile_refusals,
)

__all__ = ["ROUNDS", "search"]

ROUNDS = (GRID_HIGH - GRID_LOW).bit_length() - 1
"""Bisection rounds per quantile: the grid spans exactly 2^63 steps."""


def search(
    open_counts: Callable[[Sequence[int]], list[int]],
    plan: Plan,
    min_cell: int,
    indexes: Mapping[str, QuantileIndex],
    released: Sequence[int],
    counts: Sequence[Sequence[int]],
    sums: Mapping[tuple[int, int], Sequence[int]],
    report: Progress,
) -> tuple[dict[tuple[int, str, Fraction], int], dict[tuple[int, str, Fraction], str]]:
    """Phase 3: every released (group, quantile) found by 63 rounds of secure bisection,
    and the levels refused by the floors (``quantile_refusals``) with why.

    Invariant per search: fewer than ``q·N`` values (or ``q·Σw``) are ≤ ``low`` and at
    least that many are ≤ ``high``; the answer, the smallest such grid point, is ``high``
    once ``high − low = 1`` — an observed value, as ``np.quantile(method="inverted_cdf")``.
    """
    searches, refused = _quantile_searches(plan, min_cell, released, counts, sums)
    if not searches:
        return {}, refused
    low = [GRID_LOW] * len(searches)
    high = [GRID_HIGH] * len(searches)
    for step in range(ROUNDS):
        middle = [(lo + hi) // 2 for lo, hi in zip(low, high, strict=True)]
        local = [
            indexes[column].below(g, t)
            for (g, column, _, _), t in zip(searches, middle, strict=True)
        ]
        for i, below in enumerate(open_counts(local)):
            _, _, q, total = searches[i]
            if quantile_reached(below, total, q):
                high[i] = middle[i]
            else:
                low[i] = middle[i]
        report("quantile search", step + 1, ROUNDS)
    found = {(g, column, q): high[i] for i, (g, column, q, _) in enumerate(searches)}
    return found, refused


def _quantile_searches(
    plan: Plan,
    min_cell: int,
    released: Sequence[int],
    counts: Sequence[Sequence[int]],
    sums: Mapping[tuple[int, int], Sequence[int]],
) -> tuple[list[tuple[int, str, Fraction, int]], dict[tuple[int, str, Fraction], str]]:
    """(group, column, q, pooled count or Σw) of every quantile to search: released
    groups, columns with at least ``min_cell`` values, a positive total, and levels the
    floors allow; and the refused levels with why."""
    searches: list[tuple[int, str, Fraction, int]] = []
    refused: dict[tuple[int, str, Fraction], str] = {}
    for g in released:
        for column in dict.fromkeys(c for c, _ in plan.quantiles):
            b = plan.block_index(f"column:{column}")
            if counts[g][b] < min_cell:
                continue
            levels = [q for c, q in plan.quantiles if c == column]
            floors = quantile_refusals(counts[g][b], levels, min_cell)
            refused.update({(g, column, q): why for q, why in floors.items()})
            total = int(sums[(g, b)][0]) if plan.weighted else counts[g][b]
            if total > 0:
                searches.extend((g, column, q, total) for q in levels if q not in floors)
    return searches, refused
