"""Protection patterns for one primary cell, solved on a small part of a large table.

A primary cell ``p`` is protected when two *balanced patterns* exist — vectors ``z`` with
``A z = 0``, zero on every published cell, keeping every cell ≥ 0 — one moving ``p`` up by
its upper protection level and one moving it down by its lower level (Fischetti &
Salazar-González 2001). Such a pattern need not span the table: restricting ``z`` to a
*neighbourhood* ``C`` of ``p`` (the cells whose labels share an equation with ``p``'s, in
every dimension) and enforcing every equation that touches ``C`` gives a vector that is a
pattern of the whole table, zero outside ``C``. Solving on ``C`` is therefore sound: it
only loses patterns, never validity, and it is widened (labels two, then three equations away, then
the whole table) only when ``C`` holds none.

:func:`pattern_protects` checks whether the cells already withheld in ``C`` protect ``p``
(two LPs: the attacker's, with every cell outside ``C`` assumed known, a stronger attacker
than the real one). :func:`cheapest_pattern` finds the cheapest cells to add, by a MILP
with a time limit; should the limit pass without a solution, the LP relaxation's support
is used, which is always a valid (if costlier) choice: a relaxed solution with ``y`` rounded
up is feasible for the MILP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from privstats.disclosure.tables._audit import (
    BoolArray,
    FloatArray,
    IntArray,
    Interval,
    attacker_intervals,
    highs,
    solve_lp,
)
from privstats.disclosure.tables._table import Table

__all__ = ["Layout", "cheapest_pattern", "meets", "pattern_protects", "short_of", "tolerance"]


def tolerance(value: float) -> float:
    """The numerical slack allowed when a level is checked against an LP optimum."""
    return 1e-6 * max(1.0, abs(value))


def meets(interval: Interval, value: float, upper: float, lower: float) -> bool:
    """Whether ``interval`` reaches ``upper`` above and ``lower`` below ``value``."""
    slack = tolerance(value)
    return interval.high >= value + upper - slack and interval.low <= value - lower + slack


@dataclass(frozen=True)
class Layout:
    """Cell indices as a grid over the dimensions' labels, and which labels are related.

    Two labels of one dimension are *related* when one equation holds both: a parent and
    its children (so a label, its parent, its siblings and its children).
    """

    grid: np.ndarray[Any, np.dtype[np.intp]]
    positions: np.ndarray[Any, np.dtype[np.intp]]
    related: tuple[tuple[frozenset[int], ...], ...]
    values: FloatArray
    """The cells' values (``Table.values``, computed once)."""

    @classmethod
    def of(cls, table: Table) -> Layout:
        """The layout of ``table``'s cells."""
        where = [{label: i for i, label in enumerate(d.labels)} for d in table.dimensions]
        grid = np.full([len(d.labels) for d in table.dimensions], -1, dtype=np.intp)
        positions = np.zeros((len(table.cells), len(where)), dtype=np.intp)
        for index, cell in enumerate(table.cells):
            spot = tuple(w[label] for w, label in zip(where, cell.key, strict=True))
            grid[spot] = index
            positions[index] = spot
        related = []
        for dim, lookup in zip(table.dimensions, where, strict=True):
            near: list[set[int]] = [{i} for i in range(len(dim.labels))]
            for parent, children in dim.children.items():
                group = {lookup[parent], *(lookup[c] for c in children)}
                for member in group:
                    near[member] |= group
            related.append(tuple(frozenset(n) for n in near))
        return cls(grid, positions, tuple(related), table.values)

    def neighbourhood(self, cell: int, radius: int) -> IntArray | None:
        """The cells whose labels are within ``radius`` equations of ``cell``'s in every
        dimension; None once that is the whole table."""
        per_dim: list[list[int]] = []
        for related, start in zip(self.related, self.positions[cell], strict=True):
            seen = {int(start)}
            for _ in range(radius):
                seen = set().union(*(related[q] for q in seen))
            per_dim.append(sorted(seen))
        if all(len(s) == len(r) for s, r in zip(per_dim, self.related, strict=True)):
            return None
        cells: IntArray = self.grid[np.ix_(*per_dim)].ravel()
        return cells


def _restrict(by_column: sparse.csc_matrix, cells: IntArray) -> sparse.csr_matrix:
    """The equations touching ``cells``, over those cells' columns only."""
    block = by_column[:, cells]
    rows = np.unique(block.indices)
    return sparse.csr_matrix(block[rows])


def pattern_protects(
    by_column: sparse.csc_matrix,
    values: FloatArray,
    cells: IntArray,
    suppressed: BoolArray,
    target: int,
    levels: tuple[float, float],
) -> bool:
    """Whether the withheld cells among ``cells`` already let ``target`` move by ``levels``
    (every cell outside them taken as known: sound, possibly pessimistic)."""
    hidden = cells[suppressed[cells]]
    a_eq = _restrict(by_column, hidden)
    b_eq = a_eq @ values[hidden]
    position = int(np.flatnonzero(hidden == target)[0])
    value = float(values[target])
    objective = np.zeros(hidden.size)
    objective[position] = -1.0
    status, top = solve_lp(objective, a_eq, b_eq, np.full(hidden.size, np.inf))
    if status != "unbounded" and not (
        status == "optimal" and -top >= value + levels[0] - tolerance(value)
    ):
        return False
    objective[position] = 1.0
    status, bottom = solve_lp(objective, a_eq, b_eq, np.full(hidden.size, np.inf))
    return status == "optimal" and bottom <= value - levels[1] + tolerance(value)


def cheapest_pattern(
    by_column: sparse.csc_matrix,
    values: FloatArray,
    cells: IntArray,
    fixed: BoolArray,
    allowed: BoolArray,
    weights: FloatArray,
    target: int,
    levels: tuple[float, float],
    big: float,
    time_limit: float,
) -> IntArray | None:
    """The cells of ``cells`` to withhold (``fixed`` ones withheld already, only ``allowed``
    ones may be added) so that ``target`` moves up and down by ``levels``; None when no
    pattern exists within ``cells`` and big-M ``big``.

    First one pattern ``w = w⁺ − w⁻`` (``A w = 0``, ``w_target = 1``) used both ways: ``u·w``
    moves the target up by its upper level ``u``, ``−l·w`` down by its lower level ``l``; a
    cell may then drop by ``u·w⁻`` or ``l·w⁺``, so ``w⁻ ≤ v/u · y`` and ``w⁺ ≤ v/l · y``.
    Half the size of the two-pattern model it falls back to when that finds nothing:
    per direction ``z⁺, z⁻ ≥ 0`` with ``A (z⁺ − z⁻) = 0``, ``z⁺ ≤ M y``, ``z⁻ ≤ v y``.
    """
    a = _restrict(by_column, cells)
    local = int(np.flatnonzero(cells == target)[0])
    v = values[cells]
    up, down = levels
    cap = big / max(up, down, 1e-9)
    rise = np.minimum(cap, v / down) if down > 0 else np.full(v.size, cap)
    fall = np.minimum(cap, v / up) if up > 0 else np.full(v.size, cap)
    rise[local], fall[local] = 1.0, 0.0
    caps = [rise, fall]
    balance = sparse.hstack([a, -a])
    found = _solve(a.shape[0], balance, caps, cells, local, fixed, allowed, weights, time_limit)
    if found is not None:
        return found
    caps = [np.full(v.size, big), v, np.full(v.size, big), v]
    for block, amount in enumerate((up, 0.0, 0.0, down)):
        caps[block] = caps[block].copy()
        caps[block][local] = amount
    balance = sparse.block_diag([sparse.hstack([a, -a]), sparse.hstack([a, -a])])
    return _solve(2 * a.shape[0], balance, caps, cells, local, fixed, allowed, weights, time_limit)


def _solve(
    rows: int,
    balance: sparse.spmatrix,
    caps: list[FloatArray],
    cells: IntArray,
    local: int,
    fixed: BoolArray,
    allowed: BoolArray,
    weights: FloatArray,
    time_limit: float,
) -> IntArray | None:
    """The MILP ``min Σ cost · y`` with ``balance · z = 0`` and, per block of ``z``,
    ``z ≤ cap · y``; a cap is also the block's bound (the target's own entry is fixed to
    it: ``cells[local]`` is the target). None when infeasible."""
    m = cells.size
    blocks = len(caps)
    linking = sparse.hstack(
        [
            sparse.vstack([-sparse.diags(cap) for cap in caps]),
            sparse.identity(blocks * m, format="csr"),
        ],
        format="csr",
    )
    balanced = sparse.hstack([sparse.csr_matrix((rows, m)), balance], format="csr")
    z_low = np.zeros(blocks * m)
    z_low[local + m * np.arange(blocks)] = [cap[local] for cap in caps]
    lower = np.concatenate([fixed[cells].astype(float), z_low])
    upper = np.concatenate([(fixed[cells] | allowed[cells]).astype(float), *caps])
    cost = np.concatenate([np.where(fixed[cells], 0.0, weights[cells]), np.zeros(blocks * m)])
    matrix = sparse.vstack([balanced, linking], format="csr")
    row_low = np.concatenate([np.zeros(rows), np.full(blocks * m, -np.inf)])
    row_high = np.zeros(rows + blocks * m)
    integral = np.arange(m + blocks * m) < m
    options = {"time_limit": time_limit, "mip_rel_gap": 0.05}
    status, x, _ = highs(cost, matrix, (row_low, row_high), (lower, upper), integral, options)
    if status in ("infeasible", "unbounded"):  # no pattern in these cells (all bounded)
        return None
    if x is not None:
        picked = x[:m] > 0.5
    else:  # out of time without a solution: the relaxation's support
        status, x, _ = highs(cost, matrix, (row_low, row_high), (lower, upper))
        if x is None:
            return None
        moved = np.abs(x[m:]).reshape(blocks, m).sum(axis=0)
        picked = (x[:m] > 1e-9) | (moved > 1e-9)
    chosen: IntArray = cells[picked & ~fixed[cells]]
    return chosen


def short_of(
    table: Table,
    suppressed: BoolArray,
    levels: Mapping[int, tuple[float, float]],
    layout: Layout | None = None,
) -> list[int]:
    """The primary cells of ``levels`` (cell → upper, lower) that ``suppressed`` leaves
    short of their levels. Each is first checked in its neighbourhood (a stronger attacker:
    passing there is a proof); only the rest take the exact LPs over their component."""
    layout = layout or Layout.of(table)
    by_column = sparse.csc_matrix(table.equations)
    values = table.values
    everything = np.arange(len(table.cells))
    doubtful = []
    for cell, wanted in levels.items():
        near = layout.neighbourhood(cell, 1)
        cells = everything if near is None else near
        if not pattern_protects(by_column, values, cells, suppressed, cell, wanted):
            doubtful.append(cell)
    exact = attacker_intervals(table, suppressed, only=set(doubtful))
    return [c for c in doubtful if not meets(exact[c], float(values[c]), *levels[c])]
