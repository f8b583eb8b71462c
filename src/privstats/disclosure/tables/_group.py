"""Group disclosure: full cells, and the published zeros that would give them away.

A cell is *full* along a dimension when it holds every contributor of its parent there:
``Islands × M`` with as many contributors as ``Islands × Total``. Publishing the table then
says "every contributor in Islands is in activity M" — an attribute of each of them, learnt
without identifying anyone (Hundepool et al., *Statistical Disclosure Control*, 2012,
§5.2, "group disclosure"). What says it is the row's zeros: with ``Islands × C`` and
``Islands × G`` published as 0, the margin is all M whatever the counts.

So the full-cell rule protects a zero, not the full cell: for each full cell it picks one
empty sibling (the one in the largest category overall, preferring siblings whose cells
one level up are not empty) and asks that the audit leave it free to be at least one unit
above 0; an attacker then cannot rule out that one contributor of the group is elsewhere.
Secondary suppression never moves an empty cell no rule marked (it is known to be 0), so
the zero brings along the empty cells its equations need: one branch below it down to the
leaves (when it is a subtotal, or has subtotals or ``"Total"`` in other dimensions) and
any empty cell above it (N × G × Total when N has no G at all), each with its own branch.

Not flagged: a parent that is the grand total (the table's whole population sharing a
category is what the table is about), a parent with a single child (the hierarchy says so),
and siblings whose category is empty in the whole table (nobody anywhere is there).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence

from privstats.disclosure.tables._shape import TOTAL, Dimension

__all__ = ["revealing_zeros"]

Key = tuple[str, ...]


def revealing_zeros(
    dims: tuple[Dimension, ...],
    members: tuple[tuple[str, ...], ...],
    index: Mapping[Key, int],
    counts: Sequence[int],
) -> dict[Key, tuple[str, ...]]:
    """Each empty cell the full-cell rule marks, with the full cells it hides (as text)."""
    shape = _Shape(dims, index, counts)
    marked: dict[Key, dict[str, None]] = {}
    for key, position in index.items():
        if counts[position] == 0:
            continue
        for axis, dim in enumerate(dims):
            if key[axis] == TOTAL:
                continue
            holder = _put(key, axis, dim.parent[key[axis]])
            if holder == shape.grand or shape.count(holder) != counts[position]:
                continue
            siblings = [
                s
                for s in dim.children[holder[axis]]
                if s != key[axis] and shape.margin(axis, s) > 0
            ]
            if not siblings:
                continue
            best = min(siblings, key=functools.partial(shape.rank, key, axis))
            text = f"{' | '.join(key)} holds all {counts[position]} of {' | '.join(holder)}"
            for cell in _closure(dims, members, _put(key, axis, best), shape):
                marked.setdefault(cell, {})[text] = None
    return {key: tuple(texts) for key, texts in marked.items()}


class _Shape:
    """Counts of a table's cells by key, and the margins of single labels."""

    def __init__(
        self, dims: tuple[Dimension, ...], index: Mapping[Key, int], counts: Sequence[int]
    ) -> None:
        self.dims, self.index, self.counts = dims, index, counts
        self.grand: Key = (TOTAL,) * len(dims)

    def count(self, key: Key) -> int:
        return self.counts[self.index[key]]

    def margin(self, axis: int, label: str) -> int:
        """Contributors with ``label`` in dimension ``axis``, whatever the rest."""
        return self.count(_put(self.grand, axis, label))

    def rank(self, key: Key, axis: int, label: str) -> tuple[bool, int, str]:
        """Sort key of a candidate zero: first those whose cells one level up (in the other
        dimensions) are not empty, then the largest category, then by label."""
        zero = _put(key, axis, label)
        movable = all(
            self.count(_put(zero, e, d.parent[zero[e]])) > 0
            for e, d in enumerate(self.dims)
            if e != axis and zero[e] != TOTAL
        )
        return (not movable, -self.margin(axis, label), label)


def _put(key: Key, axis: int, label: str) -> Key:
    """``key`` with ``label`` in dimension ``axis``."""
    return (*key[:axis], label, *key[axis + 1 :])


def _closure(
    dims: tuple[Dimension, ...], members: tuple[tuple[str, ...], ...], zero: Key, shape: _Shape
) -> set[Key]:
    """``zero``, the branch below it, and every empty cell above these (one dimension at a
    time, with its own branch): then a pattern adding 1 to a leaf below ``zero`` and to
    all its margins only moves cells that are non-empty or marked, so secondary
    suppression can always protect the zero."""
    cells: set[Key] = set()
    todo = [zero]
    while todo:
        for cell in _branch(dims, members, todo.pop(), shape.margin) - cells:
            cells.add(cell)
            for axis, dim in enumerate(dims):
                if cell[axis] == TOTAL:
                    continue
                up = _put(cell, axis, dim.parent[cell[axis]])
                if up in shape.index and shape.count(up) == 0 and up not in cells:
                    todo.append(up)
    return cells


def _branch(
    dims: tuple[Dimension, ...],
    members: tuple[tuple[str, ...], ...],
    zero: Key,
    margin: Callable[[int, str], int],
) -> set[Key]:
    """``zero`` and the cells below it, one branch (the largest child) per dimension, in
    every member table that holds ``zero``: every equation of these cells that goes down
    then has another of them to balance it."""
    cells: set[Key] = set()
    for member in members:
        if any(label != TOTAL for d, label in zip(dims, zero, strict=True) if d.name not in member):
            continue
        chains = []
        for axis, dim in enumerate(dims):
            chain = [zero[axis]]
            while dim.name in member and chain[-1] in dim.children:
                kids = dim.children[chain[-1]]
                chain.append(min(kids, key=functools.partial(_largest_first, margin, axis)))
            chains.append(chain)
        cells.update(itertools.product(*chains))
    return cells


def _largest_first(margin: Callable[[int, str], int], axis: int, label: str) -> tuple[int, str]:
    """Sort key: the largest category first, then by label."""
    return (-margin(axis, label), label)
