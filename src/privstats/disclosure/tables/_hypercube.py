"""The hypercube heuristic of secondary suppression (τ-Argus HYPERCUBE, GHMITER).

Repsilber's method (*Preservation of confidentiality in aggregated data*, 1994; the
GHMITER program of the Statistical Offices of Hesse and Germany, 2002; τ-Argus 4.2 manual
§4.2.3 "HYPERCUBE"). A table with hierarchies is a set of *subtables*: in every dimension,
one parent with its children. In a subtable of k dimensions, a cell ``p`` lies on hypercubes
of 2^k corners: pick, per dimension, a partner label (a sibling, or the parent, or, when
``p`` holds the parent, a child). Withholding all corners lets ``p`` move while every
equation of the subtable still adds up: a corner's change has ``p``'s sign times −1 for
each dimension where it took a sibling. The hypercube *protects* ``p`` by its levels when
every corner that moves against ``p`` has a value of at least the upper level and every
other corner at least the lower one (no cell may fall below 0).

For each primary cell, and for each subtable it lies in, the cheapest protecting
hypercube whose corners are all non-empty and may be withheld is suppressed (none
protecting: the one that comes closest). A newly withheld corner that is a subtotal (or
a margin) of another subtable must be protected there in turn, with the level of the
primary that caused it; this is repeated until nothing changes.

No guarantee: a hypercube balances its own subtable, not the lower-level equations of a
corner that is a subtotal, and the propagation handles those only approximately. The
heuristic is known to over-suppress. Run the exact audit (:meth:`ProtectedTable.audit`)
on the result; it says whether every primary cell really is protected.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping

import numpy as np

from privstats.disclosure.tables._audit import BoolArray, FloatArray, IntArray
from privstats.disclosure.tables._patterns import Layout, tolerance
from privstats.disclosure.tables._table import Table

__all__ = ["hypercube_suppression"]


Group = tuple[int, tuple[int, ...]]
"""A parent's label position and its children's, in one dimension."""


def _groups(table: Table) -> list[list[list[Group]]]:
    """Per dimension, per label position: the (parent, children) groups holding it."""
    out = []
    for dim in table.dimensions:
        where = {label: i for i, label in enumerate(dim.labels)}
        holding: list[list[Group]] = [[] for _ in dim.labels]
        for parent, children in dim.children.items():
            group = (where[parent], tuple(where[c] for c in children))
            for member in (group[0], *group[1]):
                holding[member].append(group)
        out.append(holding)
    return out


def _partners(own: int, group: Group) -> tuple[IntArray, IntArray]:
    """The partner labels of ``own`` in a (parent, children) group and their signs: +1 for
    a parent or child (moves with ``own``), −1 for a sibling (moves against it)."""
    parent, children = group
    if own == parent:
        return np.array(children, dtype=np.intp), np.ones(len(children), dtype=np.intp)
    siblings = [c for c in children if c != own]
    labels = np.array([*siblings, parent], dtype=np.intp)
    return labels, np.array([-1] * len(siblings) + [1], dtype=np.intp)


def _best_corners(
    layout: Layout,
    cell: int,
    groups: tuple[Group, ...],
    usable: BoolArray,
    suppressed: BoolArray,
    values: FloatArray,
    weights: FloatArray,
    levels: tuple[float, float],
) -> IntArray | None:
    """The corners of the cheapest protecting hypercube of ``cell`` in one subtable (or of
    the one that comes closest); None when every hypercube has an unusable corner."""
    own = layout.positions[cell]
    options = [_partners(int(o), g) for o, g in zip(own, groups, strict=True)]
    k = len(options)
    shape = tuple(len(labels) for labels, _ in options)
    corners, signs = [], []
    for pick in itertools.product((False, True), repeat=k):
        index = []
        sign = np.ones(shape, dtype=np.intp)
        for d, (moved, (labels, label_signs)) in enumerate(zip(pick, options, strict=True)):
            view = [1] * k
            view[d] = shape[d]
            if moved:
                index.append(labels.reshape(view))
                sign = sign * label_signs.reshape(view)
            else:
                index.append(np.full(view, own[d], dtype=np.intp))
        corners.append(np.broadcast_to(layout.grid[tuple(index)], shape).ravel())
        signs.append(np.broadcast_to(sign, shape).ravel())
    corner = np.array(corners)  # (2^k, candidates); row 0 is the cell itself
    sign_of = np.array(signs)
    ok = (usable[corner] | suppressed[corner]).all(axis=0)
    if not ok.any():
        return None
    need = np.where(sign_of[1:] < 0, levels[0], levels[1])
    slack = values[corner[1:]] - need + tolerance(float(values[cell]))
    cost = np.where(suppressed[corner], 0.0, weights[corner]).sum(axis=0)
    protecting = ok & (slack >= 0).all(axis=0)
    if protecting.any():
        best = int(np.flatnonzero(protecting)[np.argmin(cost[protecting])])
    else:  # the closest: the largest worst shortfall, then the cheapest
        worst = np.where(ok, slack.min(axis=0), -np.inf)
        top = np.flatnonzero(worst == worst.max())
        best = int(top[np.argmin(cost[top])])
    chosen: IntArray = corner[:, best]
    return chosen


def hypercube_suppression(
    table: Table,
    suppressed: BoolArray,
    usable: BoolArray,
    weights: FloatArray,
    levels: Mapping[int, tuple[float, float]],
) -> BoolArray:
    """The cells the hypercube heuristic adds to ``suppressed`` to protect the primary
    cells in ``levels`` (cell → upper, lower), using only ``usable`` cells."""
    layout = Layout.of(table)
    holding = _groups(table)
    values = table.values
    hidden = suppressed.copy()
    done: dict[int, float] = {}
    queue = deque(sorted(levels.items(), key=lambda item: (-values[item[0]], item[0])))
    while queue:
        cell, wanted = queue.popleft()
        if done.get(cell, -1.0) >= max(wanted):
            continue
        done[cell] = max(wanted)
        per_dim = [holding[d][int(p)] for d, p in enumerate(layout.positions[cell])]
        subtables: list[tuple[Group, ...]] = list(itertools.product(*per_dim))
        for groups in subtables:
            corners = _best_corners(layout, cell, groups, usable, hidden, values, weights, wanted)
            if corners is None:
                continue
            for new in corners[~hidden[corners]].tolist():
                hidden[new] = True
                reach = max(wanted)
                queue.append((new, (reach, min(reach, float(values[new])))))
    added: BoolArray = hidden & ~suppressed
    return added
