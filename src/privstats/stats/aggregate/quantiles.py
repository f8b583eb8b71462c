"""Quantiles on the fixed-point grid: local counts of values ≤ t, and the stopping rule.

A quantile search bisects the grid ``[GRID_LOW, GRID_HIGH]`` of fixed-point codes; in each
round every party counts (or sums the weights of) its values at or below the midpoint
(:meth:`QuantileIndex.below`) and the pooled count decides the side
(:func:`quantile_reached`). The result is an observed value, shown as the shortest decimal
with its code (:func:`shortest_decimal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from privstats.stats.aggregate.records import Records

__all__ = [
    "GRID_HIGH",
    "GRID_LOW",
    "QuantileIndex",
    "quantile_index",
    "quantile_reached",
    "shortest_decimal",
]

GRID_LOW = -(1 << 62) - 1
"""Below every fixed-point value a quantile search can meet (encoded |x| < 2^62)."""
GRID_HIGH = (1 << 62) - 1
"""At or above every such value; ``GRID_HIGH − GRID_LOW = 2^63``: 63 bisection steps."""


@dataclass(frozen=True)
class QuantileIndex:
    """A column's fixed-point values sorted within each group, to count values ≤ t."""

    values: npt.NDArray[np.int64]
    bounds: npt.NDArray[np.intp]
    cumulative: npt.NDArray[np.object_] | None
    """With weights: running Σw in sorted order (exact ints), else None."""

    def below(self, group: int, threshold: int) -> int:
        """The count (or Σw) of the group's values at or below ``threshold``."""
        lo, hi = int(self.bounds[group]), int(self.bounds[group + 1])
        k = int(np.searchsorted(self.values[lo:hi], threshold, side="right"))
        if self.cumulative is None:
            return k
        if k == 0:
            return 0
        before = int(self.cumulative[lo - 1]) if lo else 0
        return int(self.cumulative[lo + k - 1]) - before


def quantile_index(
    records: Records, codes: npt.NDArray[np.intp], groups: int, column: str
) -> QuantileIndex:
    """Sort ``column``'s present fixed-point values by group, to count values ≤ t."""
    rows = np.flatnonzero(records.present((column,)))
    encoded = records.grid[column][rows]
    order = np.lexsort((encoded, codes[rows]))
    sizes = np.bincount(codes[rows], minlength=groups)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    cumulative = None
    if records.weight is not None:
        weights = records.exact(records.weight, rows[order])
        cumulative = np.cumsum(weights) if rows.size else np.zeros(0, dtype=object)
    return QuantileIndex(encoded[order], bounds, cumulative)


def quantile_reached(below: int, total: int, q: Fraction) -> bool:
    """Whether a running count (or Σw) ``below`` reaches the share ``q`` of ``total``."""
    return below * q.denominator >= q.numerator * total


def shortest_decimal(code: int, frac_bits: int) -> float:
    """The shortest decimal whose fixed-point code is ``code``: an observed value such as
    3000.62 is shown as written, not as its grid point 3000.6200000001118."""
    exact = Fraction(code, 1 << frac_bits)
    for digits in range(16):
        candidate = round(float(exact), digits)
        if round(candidate * (1 << frac_bits)) == code:
            return candidate
    return float(exact)
