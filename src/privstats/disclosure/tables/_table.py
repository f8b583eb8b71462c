"""A magnitude or frequency table with every margin, built from microdata contributions.

One record is one contributor (an enterprise, a person). Each record names a label in every
dimension and optionally a non-negative magnitude (turnover). The table holds every
combination of labels, including each dimension's inner hierarchy nodes (subtotals) and its
``"Total"``, so that all margins and the grand total are cells. Per cell it keeps the number
of contributors, the sum, and the largest contributions the primary rules need.

The additivity of the table (each parent or total = the sum of its children, along every
dimension) is kept as a sparse matrix ``A`` with ``A @ values == 0``: the equations an
attacker knows, and the ones the audit and the secondary suppression reason with.

*Linked tables* (:func:`tabulate_linked`) are several tables of the same records that share
dimensions, e.g. region × activity and region × size. They are held as one table over the
union of the dimensions: a member table's cell has ``"Total"`` in every dimension the member
lacks, so a margin the members share (region × Total × Total) is one cell, and the equations
are those of every member, stacked. Protecting that one table protects the members jointly.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from privstats.disclosure.tables._group import revealing_zeros
from privstats.disclosure.tables._shape import TOTAL, Dimension
from privstats.errors import ParameterError

__all__ = ["TOTAL", "Cell", "Dimension", "Table", "tabulate", "tabulate_linked"]


@dataclass(frozen=True)
class Cell:
    """One cell: its labels in dimension order, contributors, sum and largest contributions."""

    key: tuple[str, ...]
    count: int
    value: float
    top: tuple[float, ...] = ()
    """The largest contributions, largest first (as many as the rules need)."""
    reveals: tuple[str, ...] = ()
    """For an empty cell: the full cells whose group its published 0 would give away (as
    text, see :mod:`._group`); read by the full-cell rule."""
    ckm_key: int = 0
    """The sum of its contributors' record keys modulo 2⁶⁴ (cell-key method, see
    :mod:`privstats.disclosure.cell_key`); 0 unless tabulated with record keys."""


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
    members: tuple[tuple[str, ...], ...] = ()
    """The dimensions of each linked member table (empty or one member: a single table)."""

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
    record_keys: Sequence[int] | None = None,
) -> Table:
    """The table of ``records`` (one per contributor) with every margin and subtotal.

    ``value`` names the magnitude column (a frequency table when None: each contributor
    counts 1). ``hierarchies`` maps a dimension to its child → parent map; nodes without a
    parent hang under ``"Total"``. ``top`` is how many largest contributions each cell keeps.
    ``record_keys`` (one 64-bit key per record) gives each cell its :attr:`Cell.ckm_key`.
    """
    return tabulate_linked(
        records,
        [dimensions],
        value=value,
        hierarchies=hierarchies,
        top=top,
        record_keys=record_keys,
    )


def tabulate_linked(
    records: Sequence[Mapping[str, Any]],
    tables: Sequence[Sequence[str]],
    *,
    value: str | None = None,
    hierarchies: Mapping[str, Mapping[str, str]] | None = None,
    top: int = 2,
    record_keys: Sequence[int] | None = None,
) -> Table:
    """Linked tables of the same ``records`` as one table (see the module doc).

    ``tables`` lists each member's dimensions, e.g. ``[["region", "activity"], ["region",
    "size"]]``; a cell the members share (a common margin) is one cell with one status.
    Arguments otherwise as :func:`tabulate`.
    """
    if not tables:
        raise ParameterError("give one or more tables of dimensions", parameter="dimensions")
    for member in tables:
        if not member or len(set(member)) != len(member):
            raise ParameterError(
                f"give one or more distinct dimensions per table, got {list(member)}",
                parameter="dimensions",
            )
    names = tuple(dict.fromkeys(name for member in tables for name in member))
    members = tuple(dict.fromkeys(tuple(member) for member in tables))
    _check_records(records, names, value)
    if top < 0:
        raise ParameterError(f"top must be ≥ 0, got {top}", parameter="top")
    if record_keys is not None and len(record_keys) != len(records):
        raise ParameterError(
            f"{len(record_keys)} record keys for {len(records)} records", parameter="record_keys"
        )
    unknown = set(hierarchies or {}) - set(names)
    if unknown:
        raise ParameterError(
            f"hierarchies for unknown dimensions {sorted(unknown)}", parameter="hierarchies"
        )
    dims = tuple(_dimension(d, {r[d] for r in records}, (hierarchies or {}).get(d)) for d in names)
    keys = list(dict.fromkeys(k for member in members for k in _member_keys(dims, member)))
    contributions: dict[tuple[str, ...], list[float]] = {}
    key_sums: dict[tuple[str, ...], int] = {}
    for row, record in enumerate(records):
        amount = 1.0 if value is None else float(record[value])
        chains = [dim.ancestors(record[dim.name]) for dim in dims]
        mine = {k for member in members for k in _member_keys(dims, member, chains)}
        for key in mine:
            contributions.setdefault(key, []).append(amount)
            if record_keys is not None:
                key_sums[key] = (key_sums.get(key, 0) + record_keys[row]) % 2**64
    index = {key: i for i, key in enumerate(keys)}
    counts = [len(contributions.get(key, ())) for key in keys]
    reveals = revealing_zeros(dims, members, index, counts)
    cells = []
    for key in keys:
        amounts = contributions.get(key, [])
        largest = tuple(heapq.nlargest(top, amounts))
        cells.append(
            Cell(
                key,
                len(amounts),
                float(sum(amounts)),
                largest,
                reveals.get(key, ()),
                key_sums.get(key, 0),
            )
        )
    equations = _equations(dims, index, members)
    return Table(dims, tuple(cells), equations, value is not None, top, index, members)


def _member_keys(
    dims: tuple[Dimension, ...],
    member: tuple[str, ...],
    chains: Sequence[tuple[str, ...]] | None = None,
) -> Iterable[tuple[str, ...]]:
    """The keys of a member table (``"Total"`` in the dimensions it lacks); with ``chains``
    (each dimension's labels of one record), only the cells that record falls in."""
    choices = chains if chains is not None else [dim.labels for dim in dims]
    return itertools.product(
        *(
            labels if dim.name in member else (TOTAL,)
            for dim, labels in zip(dims, choices, strict=True)
        )
    )


def _equations(
    dims: tuple[Dimension, ...],
    index: Mapping[tuple[str, ...], int],
    members: tuple[tuple[str, ...], ...] | None = None,
) -> sparse.csr_matrix:
    """Rows ``parent − Σ children = 0`` for every inner node of every member's dimensions
    (one member of all ``dims`` when None), crossed with every label (margins included) of
    its other dimensions; an equation two members share is kept once."""
    seen: dict[tuple[int, tuple[int, ...]], None] = {}
    for member in members or (tuple(dim.name for dim in dims),):
        for axis, dim in enumerate(dims):
            if dim.name not in member:
                continue
            for key in _member_keys(dims, member):
                children = dim.children.get(key[axis])
                if children is None:
                    continue
                kids = tuple(index[(*key[:axis], c, *key[axis + 1 :])] for c in children)
                seen.setdefault((index[key], kids), None)
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    for row, (parent, kids) in enumerate(seen):
        rows += [row] * (1 + len(kids))
        cols += [parent, *kids]
        data += [1.0] + [-1.0] * len(kids)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(seen), len(index)))
