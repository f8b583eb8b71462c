"""Tests for privstats.disclosure.cells: the minimum-size rule with complementary suppression."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.disclosure import withheld_cells
from privstats.errors import ParameterError


def reference(sizes: dict[str, int], minimum: int) -> set[str]:
    """The rule as stated, written independently: withhold every cell below ``minimum``;
    then, while fewer than two cells are withheld or they hold fewer than ``minimum``
    units, also withhold the smallest released cell (first in table order on ties)."""
    withheld = [cell for cell, size in sizes.items() if size < minimum]
    if not withheld:
        return set()
    released = [cell for cell in sizes if cell not in withheld]
    while released and (len(withheld) < 2 or sum(sizes[c] for c in withheld) < minimum):
        smallest = min(released, key=lambda c: sizes[c])  # min keeps the first of equals
        released.remove(smallest)
        withheld.append(smallest)
    return set(withheld)


# --------------------------------------------------------------------------- known cases


def test_no_small_cell_withholds_nothing() -> None:
    """A table whose cells all reach the minimum is released whole."""
    assert withheld_cells({"a": 5, "b": 9, "c": 100}, minimum=5) == set()
    assert withheld_cells({}, minimum=5) == set()


def test_single_small_cell_takes_the_smallest_released_one_with_it() -> None:
    """One cell below the minimum could be recovered from the total: the next smallest
    cell is withheld too."""
    sizes = {"north": 3, "south": 40, "east": 12, "west": 25}
    assert withheld_cells(sizes, minimum=5) == {"north", "east"}


def test_two_small_cells_that_pool_below_the_minimum() -> None:
    """Two small cells whose sum is below the minimum need a released cell to join them."""
    sizes = {"a": 2, "b": 2, "c": 7, "d": 8}
    assert withheld_cells(sizes, minimum=5) == {"a", "b", "c"}


def test_small_cells_that_pool_to_the_minimum_need_nothing_more() -> None:
    """Two or more small cells that together reach the minimum are enough on their own."""
    sizes = {"a": 2, "b": 3, "c": 70, "d": 80}
    assert withheld_cells(sizes, minimum=5) == {"a", "b"}


def test_everything_withheld_when_nothing_else_helps() -> None:
    """If all cells together stay below the minimum, the whole table is withheld."""
    sizes = {"a": 1, "b": 2, "c": 1}
    assert withheld_cells(sizes, minimum=10) == {"a", "b", "c"}
    assert withheld_cells({"only": 1}, minimum=10) == {"only"}


def test_zero_cells_are_small() -> None:
    """An empty cell is below any minimum and is withheld."""
    assert withheld_cells({"a": 0, "b": 50, "c": 60}, minimum=1) == {"a", "b"}


def test_ties_choose_one_cell() -> None:
    """Among equally small released cells exactly one is added, the same on every call."""
    sizes = {"small": 1, "x": 10, "y": 10, "z": 10}
    first = withheld_cells(sizes, minimum=5)
    assert "small" in first
    assert len(first) == 2
    assert all(withheld_cells(sizes, minimum=5) == first for _ in range(5))


def test_keys_of_any_hashable_type() -> None:
    """Cells may be keyed by tuples or numbers; the input mapping is not modified."""
    sizes = {(2024, "A"): 2, (2024, "B"): 30, 7: 11}
    copy = dict(sizes)
    assert withheld_cells(sizes, minimum=5) == {(2024, "A"), 7}
    assert sizes == copy


@pytest.mark.parametrize("minimum", [0, -1])
def test_minimum_must_be_positive(minimum: int) -> None:
    """A minimum below 1 is refused."""
    with pytest.raises(ParameterError):
        withheld_cells({"a": 1}, minimum=minimum)


# --------------------------------------------------------------------------- properties

tables = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3), st.integers(0, 60), max_size=12
)


@given(tables, st.integers(1, 30))
@settings(max_examples=300, deadline=None)
def test_matches_the_stated_rule(sizes: dict[str, int], minimum: int) -> None:
    """The result equals an independent implementation of the documented rule."""
    assert withheld_cells(sizes, minimum) == reference(sizes, minimum)


@given(tables, st.integers(1, 30))
@settings(max_examples=300, deadline=None)
def test_nothing_small_is_derivable(sizes: dict[str, int], minimum: int) -> None:
    """After suppression: every released cell reaches the minimum, and the withheld cells
    (whose sum follows from the total) are the whole table or at least two cells holding
    at least ``minimum`` units; no released cell is smaller than a secondary one; and no
    strictly smaller set of secondary cells would also satisfy the rule."""
    withheld = withheld_cells(sizes, minimum)
    assert withheld <= set(sizes)
    released = set(sizes) - withheld
    assert all(sizes[c] >= minimum for c in released)
    primary = {c for c, size in sizes.items() if size < minimum}
    assert primary <= withheld
    if not primary:
        assert withheld == set()
        return
    pooled = sum(sizes[c] for c in withheld)
    assert released == set() or (len(withheld) >= 2 and pooled >= minimum)
    secondary = withheld - primary
    if secondary and released:
        assert max(sizes[c] for c in secondary) <= min(sizes[c] for c in released)
    if released:  # minimal: fewer secondary cells never suffice
        others = [c for c in sizes if c not in primary]
        for k in range(len(secondary)):
            for extra in combinations(others, k):
                cells = primary | set(extra)
                assert len(cells) < 2 or sum(sizes[c] for c in cells) < minimum
