"""A magnitude or frequency table with every margin, built from microdata contributions.

One record is one contributor (an enterprise, a person). Each record names a label in every
dimension and optionally a non-negative magnitude (turnover). The table holds every
combination of labels, including each dimension's inner hierarchy nodes (subtotals) and its
``"Total"``, so that all margins and the grand total are cells. Per cell it keeps the number
of contributors, the sum, and the largest contributions the primary rules need.

The additivity of the table (each parent or total = the sum of its children, along every
dimension) is kept as a sparse matrix ``A`` with ``A @ values == 0``: the equations an
attacker knows, and the ones the audit and the secondary suppression reason with.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from privstats.errors import ParameterError

__all__ = ["TOTAL", "Cell", "Table", "tabulate"]

TOTAL = "Total"
"""The label of a dimension's total."""


@dataclass(frozen=True)
class Cell:
    """One cell: its labels in dimension order, contributors, sum and largest contributions."""

    key: tuple[str, ...]
    count: int
    value: float
    top: tuple[float, ...] = ()
    """The largest contributions, largest first (as many as the rules need)."""


@dataclass(frozen=True)
class Dimension:
    """A dimension's labels (leaves, subtotals, ``"Total"``) and each label's children."""

    name: str
    labels: tuple[str, ...]
    children: Mapping[str, tuple[str, ...]]
    parent: Mapping[str, str]

    def ancestors(self, label: str) -> tuple[str, ...]:
        """``label`` and every node above it up to ``"Total"``."""
        chain = [label]
        while chain[-1] != TOTAL:
            chain.append(self.parent[chain[-1]])
        return tuple(chain)


@dataclass(frozen=True)
class Table:
    """Every cell of a table with its margins, and the additivity equations ``A @ x = 0``."""

    dimensions: tuple[Dimension, ...]
    cells: tuple[Cell, ...]
    equations: sparse.csr_matrix
    magnitude: bool
    """Whether values are magnitudes (True) or the counts themselves (a frequency table)."""
    top: int
    """How many largest contributions each cell keeps."""
    index: Mapping[tuple[str, ...], int] = field(repr=False)

    @property
    def values(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The cells' values in cell order."""
        return np.array([cell.value for cell in self.cells], dtype=float)

    def cell(self, *labels: str) -> Cell:
        """The cell with these labels, in dimension order."""
        try:
            return self.cells[self.index[tuple(labels)]]
        except KeyError:
            raise ParameterError(f"no cell {labels!r} in this table", parameter="labels") from None

    def by(self, cell: Cell) -> dict[str, str]:
        """The cell's labels keyed by dimension name."""
        return {dim.name: label for dim, label in zip(self.dimensions, cell.key, strict=True)}


def _dimension(name: str, seen: Iterable[str], hierarchy: Mapping[str, str] | None) -> Dimension:
    """A dimension from the labels seen in the data and an optional child → parent map."""
    parent: dict[str, str] = dict(hierarchy or {})
    if TOTAL in parent:
        raise ParameterError(f"{name}: {TOTAL!r} cannot have a parent", parameter="hierarchies")
    nodes = set(parent) | set(parent.values()) | set(seen)
    nodes.discard(TOTAL)
    for node in nodes:
        parent.setdefault(node, TOTAL)
    for node in nodes:  # every chain must reach the total without a cycle
        chain, current = {node}, node
        while current != TOTAL:
            current = parent[current]
            if current in chain:
                raise ParameterError(
                    f"{name}: hierarchy has a cycle at {node!r}", parameter="hierarchies"
                )
            chain.add(current)
    children: dict[str, list[str]] = {}
    for child, up in parent.items():
        children.setdefault(up, []).append(child)
    inner = set(children)
    leaves_in_data = set(seen) & inner
    if leaves_in_data:
        raise ParameterError(
            f"{name}: records use subtotal labels {sorted(leaves_in_data)}; give the leaf labels",
            parameter="records",
        )
    labels = (*sorted(nodes, key=lambda lab: (lab in inner, lab)), TOTAL)
    return Dimension(name, labels, {p: tuple(sorted(c)) for p, c in children.items()}, dict(parent))


def _check_records(
    records: Sequence[Mapping[str, Any]], dimensions: Sequence[str], value: str | None
) -> None:
    """Fail early, naming the record and column, on unusable input."""
    if not dimensions or len(set(dimensions)) != len(dimensions):
        raise ParameterError("give one or more distinct dimensions", parameter="dimensions")
    for row, record in enumerate(records):
        for dim in dimensions:
            label = record.get(dim)
            if not isinstance(label, str) or label == TOTAL:
                raise ParameterError(
                    f"record {row}: {dim!r} must be a label other than {TOTAL!r}, got {label!r}",
                    parameter="records",
                )
        if value is not None:
            amount = record.get(value)
            if not isinstance(amount, int | float) or not amount >= 0 or amount == float("inf"):
                raise ParameterError(
                    f"record {row}: {value!r} must be a finite number ≥ 0, got {amount!r}",
                    parameter="records",
                )


def tabulate(
    records: Sequence[Mapping[str, Any]],
    dimensions: Sequence[str],
    *,
    value: str | None = None,
    hierarchies: Mapping[str, Mapping[str, str]] | None = None,
    top: int = 2,
) -> Table:
    """The table of ``records`` (one per contributor) with every margin and subtotal.

    ``value`` names the magnitude column (a frequency table when None: each contributor
    counts 1). ``hierarchies`` maps a dimension to its child → parent map; nodes without a
    parent hang under ``"Total"``. ``top`` is how many largest contributions each cell keeps.
    """
    _check_records(records, dimensions, value)
    if top < 0:
        raise ParameterError(f"top must be ≥ 0, got {top}", parameter="top")
    unknown = set(hierarchies or {}) - set(dimensions)
    if unknown:
        raise ParameterError(
            f"hierarchies for unknown dimensions {sorted(unknown)}", parameter="hierarchies"
        )
    dims = tuple(
        _dimension(d, {r[d] for r in records}, (hierarchies or {}).get(d)) for d in dimensions
    )
    contributions: dict[tuple[str, ...], list[float]] = {}
    for record in records:
        amount = 1.0 if value is None else float(record[value])
        chains = [dim.ancestors(record[dim.name]) for dim in dims]
        for key in itertools.product(*chains):
            contributions.setdefault(key, []).append(amount)
    cells = []
    for key in itertools.product(*(dim.labels for dim in dims)):
        amounts = contributions.get(key, [])
        cells.append(
            Cell(key, len(amounts), float(sum(amounts)), tuple(heapq.nlargest(top, amounts)))
        )
    index = {cell.key: i for i, cell in enumerate(cells)}
    return Table(dims, tuple(cells), _equations(dims, index), value is not None, top, index)


def _equations(
    dims: tuple[Dimension, ...], index: Mapping[tuple[str, ...], int]
) -> sparse.csr_matrix:
    """Rows ``parent − Σ children = 0`` for every inner node of every dimension, crossed
    with every label (margins included) of the other dimensions."""
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    n_rows = 0
    for axis, dim in enumerate(dims):
        others = [d.labels for d in dims[:axis]], [d.labels for d in dims[axis + 1 :]]
        for parent, children in dim.children.items():
            for before in itertools.product(*others[0]):
                for after in itertools.product(*others[1]):
                    rows.append(n_rows)
                    cols.append(index[(*before, parent, *after)])
                    data.append(1.0)
                    for child in children:
                        rows.append(n_rows)
                        cols.append(index[(*before, child, *after)])
                        data.append(-1.0)
                    n_rows += 1
    return sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, len(index)))
