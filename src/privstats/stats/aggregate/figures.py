"""A released group's figures from its pooled counts and sums, exactly.

Pooled sums are turned into rationals in real units (:func:`moments`), and the figures —
sum, mean, variance, standard deviation, covariance and correlation matrices, quantiles —
are computed with :class:`fractions.Fraction` and rounded once to float
(:func:`group_figures`). Whole numbers stay exact ints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from privstats.stats.aggregate.plan import Block, Monomial, Plan, Stat
from privstats.stats.aggregate.quantiles import shortest_decimal

__all__ = ["covariance", "group_figures", "moments", "number"]


def number(value: Fraction) -> int | float:
    """Whole numbers as exact ints, others rounded once to float."""
    return int(value) if value.denominator == 1 else float(value)


def moments(plan: Plan, block: Block, count: int, sums: Sequence[int]) -> dict[Monomial, Fraction]:
    """The block's pooled sums in real units, keyed by sorted monomial; () is n or Σw."""
    scale = plan.fixed.frac_bits
    pooled: dict[Monomial, Fraction] = {(): Fraction(count)}
    for monomial, total in zip(block.monomials, sums, strict=True):
        pooled[tuple(sorted(monomial))] = Fraction(int(total), 1 << (scale * plan.degree(monomial)))
    return pooled


def covariance(m: Mapping[Monomial, Fraction], a: str, b: str) -> Fraction | None:
    n = m[()]
    if n - 1 <= 0:
        return None
    return (m[tuple(sorted((a, b)))] - m[(a,)] * m[(b,)] / n) / (n - 1)


def _correlation(m: Mapping[Monomial, Fraction], a: str, b: str) -> float | None:
    cab, caa, cbb = covariance(m, a, b), covariance(m, a, a), covariance(m, b, b)
    if cab is None or caa is None or cbb is None or caa <= 0 or cbb <= 0:
        return None
    return math.copysign(math.sqrt(float(cab * cab / (caa * cbb))), cab)


def group_figures(
    plan: Plan,
    counts: Sequence[int],
    sums: Sequence[Sequence[int] | None],
    quantiles: Mapping[tuple[str, Fraction], int | None],
) -> dict[str, Any]:
    """A released group's figures from its pooled counts and sums.

    ``counts[b]`` and ``sums[b]`` belong to ``plan.blocks[b]``; ``sums[b]`` is None when the
    block was not opened (fewer complete records than the minimum), and its statistics are
    None. ``quantiles`` maps (column, q) to the fixed-point quantile found, or None.
    """
    by_block = {
        block.name: None if total is None else moments(plan, block, counts[b], total)
        for b, (block, total) in enumerate(zip(plan.blocks, sums, strict=True))
    }
    figures: dict[str, Any] = {"count": int(counts[0])}
    if plan.weighted:
        records = by_block["records"]
        figures["weighted_count"] = (
            0 if counts[0] == 0 else None if records is None else number(records[()])
        )
    for stat in plan.stats:
        if stat.kind == "count":
            continue
        if stat.kind in ("median", "quantile"):
            found = quantiles.get((stat.columns[0], stat.q)) if stat.q is not None else None
            figures[stat.name] = (
                None if found is None else shortest_decimal(found, plan.fixed.frac_bits)
            )
            continue
        if stat.kind in ("cov", "corr"):
            m = by_block["set:" + ",".join(stat.columns)]
            figures[stat.name] = None if m is None else _matrix(stat, m)
            continue
        m = by_block[f"column:{stat.columns[0]}"]
        figures[stat.name] = None if m is None else _univariate(stat.kind, stat.columns[0], m)
    return figures


def _univariate(kind: str, column: str, m: Mapping[Monomial, Fraction]) -> int | float | None:
    n = m[()]
    if kind == "sum":
        return number(m[(column,)])
    if kind == "mean":
        return float(m[(column,)] / n) if n > 0 else None
    variance = covariance(m, column, column)
    if variance is None:
        return None
    return float(variance) if kind == "var" else math.sqrt(float(variance))


def _matrix(stat: Stat, m: Mapping[Monomial, Fraction]) -> list[list[float | None]]:
    rows: list[list[float | None]] = []
    for a in stat.columns:
        row: list[float | None] = []
        for b in stat.columns:
            if stat.kind == "corr":
                row.append(_correlation(m, a, b))
            else:
                value = covariance(m, a, b)
                row.append(None if value is None else float(value))
        rows.append(row)
    return rows
