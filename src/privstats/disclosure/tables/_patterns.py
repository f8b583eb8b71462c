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
)
from privstats.disclosure.tables._table import Table

__all__ = [
    "Certificate",
    "Layout",
    "cheapest_pattern",
    "meets",
    "pattern_exists",
    "pattern_protects",
    "short_of",
    "tolerance",
]


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


@dataclass(frozen=True)
class Certificate:
    """Two balanced patterns over ``cells`` that move ``target`` up (``up``) and down
    (``down``) by its protection levels: the proof, checkable without an LP, that the
    cells withheld protect it. Withholding more cells keeps it a proof."""

    target: int
    cells: IntArray
    up: FloatArray
    down: FloatArray

    def holds(
        self,
        by_column: sparse.csc_matrix,
        values: FloatArray,
        suppressed: BoolArray,
        levels: tuple[float, float],
    ) -> bool:
        """Whether both patterns are, within HiGHS' tolerances, balanced in every equation,
        zero on every published cell, keep every cell ≥ 0 and reach the levels."""
        block = by_column[:, self.cells]
        shown = ~suppressed[self.cells]
        v = values[self.cells]
        scale = max(1.0, float(np.abs(v).max(initial=0.0)))
        value = float(values[self.target])
        at = int(np.flatnonzero(self.cells == self.target)[0])
        for pattern, sign, level in ((self.up, 1.0, levels[0]), (self.down, -1.0, levels[1])):
            move = np.where(shown, 0.0, pattern)  # a published cell cannot move
            if np.abs(block @ move).max(initial=0.0) > 1e-7 * scale:
                return False
            if (v + move).min(initial=0.0) < -1e-7 * scale:
                return False
            if sign * move[at] < level - tolerance(value):
                return False
        return True


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
) -> Certificate | None:
    """The patterns by which the withheld cells among ``cells`` already let ``target`` move
    by ``levels`` (every cell outside them taken as known: sound, possibly pessimistic), or
    None when they do not. Two LPs: the target pushed up to its upper level (its own bound,
    so the LP stays bounded) and down to its lower level."""
    hidden = cells[suppressed[cells]]
    a_eq = _restrict(by_column, hidden)
    b_eq = a_eq @ values[hidden]
    position = int(np.flatnonzero(hidden == target)[0])
    value = float(values[target])
    top = np.full(hidden.size, np.inf)
    top[position] = value + levels[0]
    moves = []
    for sign, reach in ((-1.0, value + levels[0]), (1.0, value - levels[1])):
        objective = np.zeros(hidden.size)
        objective[position] = sign
        status, x, _ = highs(objective, a_eq, (b_eq, b_eq), (np.zeros(hidden.size), top))
        if status != "optimal" or x is None or sign * (x[position] - reach) > tolerance(value):
            return None
        moves.append(x - values[hidden])
    return Certificate(target, hidden, moves[0], moves[1])


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
    options: Mapping[str, float],
    models: tuple[str, ...] = ("one", "two"),
) -> tuple[IntArray, Certificate] | None:
    """The cells of ``cells`` to withhold (``fixed`` ones withheld already, only ``allowed``
    ones may be added) so that ``target`` moves up and down by ``levels``, with the patterns
    that prove it; None when no pattern exists within ``cells`` and big-M ``big``.

    First one pattern ``w = w⁺ − w⁻`` (``A w = 0``, ``w_target = 1``) used both ways: ``u·w``
    moves the target up by its upper level ``u``, ``−l·w`` down by its lower level ``l``; a
    cell may then drop by ``u·w⁻`` or ``l·w⁺``, so ``w⁻ ≤ v/u · y`` and ``w⁺ ≤ v/l · y``.
    Half the size of the two-pattern model it falls back to when that finds nothing:
    per direction ``z⁺, z⁻ ≥ 0`` with ``A (z⁺ − z⁻) = 0``, ``z⁺ ≤ M y``, ``z⁻ ≤ v y``.
    ``models`` names which of the two to try (``"one"``, ``"two"``), in that order.
    """
    a = _restrict(by_column, cells)
    local = int(np.flatnonzero(cells == target)[0])
    up, down = levels
    if "one" in models:
        model = _one_pattern(a, values[cells], local, levels, big)
        found = _solve(*model, cells, local, fixed, allowed, weights, options)
        if found is not None:
            picked, z = found
            w = z[0] - z[1]
            return picked, Certificate(target, cells, up * w, -down * w)
    if "two" not in models:
        return None
    model = _two_patterns(a, values[cells], local, levels, big)
    found = _solve(*model, cells, local, fixed, allowed, weights, options)
    if found is None:
        return None
    picked, z = found
    return picked, Certificate(target, cells, z[0] - z[1], z[2] - z[3])


def pattern_exists(
    by_column: sparse.csc_matrix,
    values: FloatArray,
    cells: IntArray,
    fixed: BoolArray,
    allowed: BoolArray,
    target: int,
    levels: tuple[float, float],
    big: float,
) -> bool:
    """Whether any pattern within ``cells`` and big-M ``big`` protects ``target``: the LP
    relaxation of the most permissive model of :func:`cheapest_pattern` (a relaxed solution
    with every ``y`` rounded up is an integral one, so the LP decides it). One LP instead
    of the four MILPs that would each find nothing."""
    a = _restrict(by_column, cells)
    local = int(np.flatnonzero(cells == target)[0])
    model = _two_patterns(a, values[cells], local, levels, big)
    weights = np.zeros(values.size)
    return _solve(*model, cells, local, fixed, allowed, weights, None) is not None


Model = tuple[int, sparse.spmatrix, list[FloatArray]]

NARROW_FROM = 1000
"""Cells from which a pattern MILP is solved only over the cells its LP relaxation uses:
its root node over a whole large neighbourhood costs more than the time limit allows."""


def _one_pattern(
    a: sparse.csr_matrix, v: FloatArray, local: int, levels: tuple[float, float], big: float
) -> Model:
    """Rows, balance and caps of the one-pattern model (blocks ``w⁺``, ``w⁻``)."""
    up, down = levels
    cap = big / max(up, down, 1e-9)
    rise = np.minimum(cap, v / down) if down > 0 else np.full(v.size, cap)
    fall = np.minimum(cap, v / up) if up > 0 else np.full(v.size, cap)
    rise[local], fall[local] = 1.0, 0.0
    return a.shape[0], sparse.hstack([a, -a]), [rise, fall]


def _two_patterns(
    a: sparse.csr_matrix, v: FloatArray, local: int, levels: tuple[float, float], big: float
) -> Model:
    """Rows, balance and caps of the two-pattern model (blocks up⁺, up⁻, down⁺, down⁻)."""
    up, down = levels
    caps = [np.full(v.size, big), v.copy(), np.full(v.size, big), v.copy()]
    for block, amount in enumerate((up, 0.0, 0.0, down)):
        caps[block][local] = amount
    balance = sparse.block_diag([sparse.hstack([a, -a]), sparse.hstack([a, -a])])
    return 2 * a.shape[0], balance, caps


def _solve(
    rows: int,
    balance: sparse.spmatrix,
    caps: list[FloatArray],
    cells: IntArray,
    local: int,
    fixed: BoolArray,
    allowed: BoolArray,
    weights: FloatArray,
    options: Mapping[str, float] | None,
) -> tuple[IntArray, list[FloatArray]] | None:
    """The MILP ``min Σ cost · y`` with ``balance · z = 0`` and, per block of ``z``,
    ``z ≤ cap · y``; a cap is also the block's bound (the target's own entry is fixed to
    it: ``cells[local]`` is the target). The cells it adds and each block of ``z`` (zero
    where no cell is withheld); None when infeasible. ``options`` None: the LP relaxation
    only (whether any solution exists)."""
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
    row_bounds = (
        np.concatenate([np.zeros(rows), np.full(blocks * m, -np.inf)]),
        np.zeros(rows + blocks * m),
    )
    bounds = (lower, upper)
    if options is None:
        status, x, _ = highs(cost, matrix, row_bounds, bounds)
        return None if x is None or status != "optimal" else (cells[:0], [])
    relaxed = None
    if m > NARROW_FROM:  # a large MILP: only over the cells its relaxation moves
        status, relaxed, _ = highs(cost, matrix, row_bounds, bounds)
        if relaxed is None:
            return None
        idle = ~_support(relaxed, m, blocks)
        upper = upper.copy()
        upper[np.flatnonzero(idle)] = 0.0
        for block in range(blocks):
            upper[m * (block + 1) + np.flatnonzero(idle)] = 0.0
        bounds = (lower, upper)
    integral = np.arange(m + blocks * m) < m
    status, x, _ = highs(cost, matrix, row_bounds, bounds, integral, dict(options))
    if status in ("infeasible", "unbounded") and relaxed is None:  # no pattern here
        return None
    if x is not None:
        picked = x[:m] > 0.5
    else:  # out of time or nodes without a solution: the relaxation's support
        if relaxed is None:
            status, relaxed, _ = highs(cost, matrix, row_bounds, bounds)
            if relaxed is None:
                return None
        x = relaxed
        picked = _support(relaxed, m, blocks)
    withheld = picked | fixed[cells]
    z = [np.where(withheld, block, 0.0) for block in x[m:].reshape(blocks, m)]
    chosen: IntArray = cells[picked & ~fixed[cells]]
    return chosen, z


def _support(x: FloatArray, m: int, blocks: int) -> BoolArray:
    """The cells a (relaxed) solution withholds or moves."""
    moved = np.abs(x[m:]).reshape(blocks, m).sum(axis=0)
    support: BoolArray = (x[:m] > 1e-9) | (moved > 1e-9)
    return support


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
