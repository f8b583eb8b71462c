"""Minimum-size rule for table cells, with complementary suppression.

A cell (a domain of a table) whose population is below ``minimum`` is *primarily*
suppressed. Because the table's total is released too, the suppressed cells' sum could be
recovered by subtraction; so while the suppressed cells are fewer than two, or together
hold fewer than ``minimum`` units, the smallest released cell is suppressed as well
(*secondary* suppression). What remains derivable is only the sum over a group of at least
two cells and ``minimum`` units.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

from privstats.errors import ParameterError

__all__ = ["withheld_cells"]

K = TypeVar("K", bound=Hashable)


def withheld_cells(sizes: Mapping[K, int], minimum: int) -> set[K]:
    """The cells to withhold under the minimum-size rule, primary and secondary."""
    if minimum < 1:
        raise ParameterError(f"the minimum cell size must be at least 1, got {minimum}")
    withheld = {cell for cell, size in sizes.items() if size < minimum}
    if not withheld:
        return withheld
    released = sorted((size, i, cell) for i, (cell, size) in enumerate(sizes.items()))
    released = [entry for entry in released if entry[2] not in withheld]
    pooled = sum(sizes[cell] for cell in withheld)
    while released and (len(withheld) < 2 or pooled < minimum):
        size, _, cell = released.pop(0)
        withheld.add(cell)
        pooled += size
    return withheld
