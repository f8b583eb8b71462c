"""MST's model: noisy marginals turned into a tree of conditional distributions.

Everything here is post-processing of the noisy measurements (no data, no budget): the
projection of noisy counts onto the scaled probability simplex, MST's domain compression
of rarely seen cells (:class:`Groups`), the inverse-variance reconciliation of every
measurement of a column (:func:`reconcile`), raking of the 2-way tables to those
distributions (:func:`rake`) and the oriented tree of P(child | parent) that sampling walks
(:func:`build_tree`). Step 5 of :mod:`privstats.synth.mst` explains the choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.crypto.random import SeededStream

__all__ = ["Edge", "Groups", "build_tree", "project_simplex", "rake", "reconcile"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_RAKE_ITERATIONS = 200
_COMPRESS_SIGMAS = 3.0  # MST's domain compression: cells below 3σ in the 1-way counts merge
_RAKE_TOLERANCE = 1e-9  # of the total: largest row-margin error at which raking stops


def project_simplex(values: npt.ArrayLike, total: float) -> FloatArray:
    """The Euclidean projection of ``values`` onto ``{x ≥ 0, Σx = total}``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if total <= 0 or not v.size:
        return np.zeros_like(v)
    u = np.sort(v)[::-1]
    excess = np.cumsum(u) - total
    k = np.arange(1, v.size + 1)
    positive = np.nonzero(u - excess / k > 0)[0]
    last = int(positive[-1])
    theta = excess[last] / (last + 1)
    out: FloatArray = np.maximum(v - theta, 0.0)
    return out


def reconcile(
    one: list[FloatArray],
    variance_one: list[FloatArray],
    two: Mapping[tuple[int, int], FloatArray],
    sigma_two: float,
    total: float,
) -> list[FloatArray]:
    """Each column's distribution from every noisy count that measures it.

    A column's cells are measured by its noisy 1-way counts (noise variance
    ``variance_one`` per cell: σ₁² times the number of cells merged into it) and by the
    row or column sums of the noisy 2-way table of each tree edge it is on (the sum of k
    cells: variance k·σ₂²). The estimates are averaged with inverse-variance weights (the
    best linear unbiased combination of independent measurements), then projected onto
    the simplex scaled to ``total`` and divided by it.
    """
    weighted = [noisy / variance for noisy, variance in zip(one, variance_one, strict=True)]
    precision = [1.0 / variance for variance in variance_one]
    for (a, b), table in two.items():
        for column, margin, summed in (
            (a, table.sum(axis=1), table.shape[1]),
            (b, table.sum(axis=0), table.shape[0]),
        ):
            weight = 1.0 / (summed * sigma_two**2)
            weighted[column] = weighted[column] + weight * margin
            precision[column] += weight
    return [
        project_simplex(values / weight, total) / total
        for values, weight in zip(weighted, precision, strict=True)
    ]


def rake(table: FloatArray, rows: FloatArray, columns: FloatArray) -> FloatArray:
    """``table`` scaled by iterative proportional fitting to the margins ``rows``, ``columns``.

    The margins have equal totals; a row or column whose margin is 0 becomes 0. Converges
    when the table is positive wherever both margins are (the callers smooth it so).
    """
    out = np.array(table, dtype=np.float64)
    tolerance = _RAKE_TOLERANCE * max(float(rows.sum()), 1.0)
    for _ in range(_RAKE_ITERATIONS):
        sums = out.sum(axis=1)
        out *= np.divide(rows, sums, out=np.zeros_like(rows), where=sums > 0)[:, None]
        sums = out.sum(axis=0)
        out *= np.divide(columns, sums, out=np.zeros_like(columns), where=sums > 0)[None, :]
        if np.abs(out.sum(axis=1) - rows).max() <= tolerance:
            break
    return out


@dataclass(frozen=True)
class Groups:
    """MST's domain compression of one column: cells seen too rarely are merged into one.

    A cell whose noisy 1-way count is below ``3σ`` is indistinguishable from an empty one;
    all such cells of a column become a single cell (unless fewer than two cells would be
    left), which spreads the noise of many near-empty cells over one measurement. A merged
    cell is sampled as one of its members, in proportion to the members' noisy counts
    shrunk towards their mean (empirical Bayes: by the share of their spread that is not
    noise, ``1 − σ²/variance``; all equal, i.e. uniform, when the spread is no more than
    the noise). Decided from the noisy counts only: post-processing.
    """

    index: IntArray  # per original cell: its compressed cell
    sizes: FloatArray  # per compressed cell: how many original cells it holds
    weights: FloatArray  # per original cell: its probability within its compressed cell

    @classmethod
    def of(cls, noisy: IntArray, sigma: float) -> Groups:
        kept = noisy >= _COMPRESS_SIGMAS * sigma
        weights = np.ones(noisy.size, dtype=np.float64)
        if kept.sum() < 2 or (~kept).sum() < 2:  # nothing to merge
            index = np.arange(noisy.size, dtype=np.int64)
        else:
            index = np.where(kept, np.cumsum(kept) - 1, int(kept.sum())).astype(np.int64)
            weights[~kept] = _shrunk(noisy[~kept].astype(np.float64), sigma)
        sizes = np.bincount(index).astype(np.float64)
        totals = np.bincount(index, weights=weights)
        return cls(index, sizes, weights / totals[index])

    @property
    def cells(self) -> int:
        return int(self.sizes.size)

    @property
    def kept(self) -> int:
        """Cells left after compression."""
        return self.cells

    def compress(self, codes: IntArray) -> IntArray:
        out: IntArray = self.index[codes]
        return out

    def merge(self, noisy: IntArray) -> FloatArray:
        """Noisy counts of the compressed cells (a merged cell: the sum of its members)."""
        merged: FloatArray = np.bincount(
            self.index, weights=noisy.astype(np.float64), minlength=self.cells
        ).astype(np.float64)
        return merged

    def expand(self, codes: IntArray, stream: SeededStream) -> IntArray:
        """Original cells of compressed ``codes``: a merged cell as one of its members."""
        if self.cells == self.index.size:
            return codes
        out = np.argsort(self.index, kind="stable")[codes]  # kept cells: their one member
        merged = self.cells - 1
        rows = np.flatnonzero(codes == merged)
        if rows.size:
            members = np.flatnonzero(self.index == merged)
            out[rows] = members[stream.choice(self.weights[members], rows.size)]
        result: IntArray = out.astype(np.int64)
        return result


def _shrunk(noisy: FloatArray, sigma: float) -> FloatArray:
    """Noisy counts shrunk towards their mean by ``1 − σ²/variance`` (James–Stein), ≥ 0.

    Falls back to equal weights when nothing positive is left.
    """
    mean = float(noisy.mean())
    variance = float(noisy.var(ddof=1)) if noisy.size > 2 else 0.0
    keep = max(0.0, 1.0 - sigma**2 / variance) if variance > 0 else 0.0
    shrunk = np.maximum(mean + keep * (noisy - mean), 0.0)
    if shrunk.sum() <= 0:
        return np.ones_like(noisy)
    out: FloatArray = shrunk
    return out


@dataclass(frozen=True)
class Edge:
    """One tree edge: P(child | parent) as a table of the compressed cells."""

    parent: int
    child: int
    conditional: FloatArray  # (parent cells, child cells), rows sum to one


def build_tree(
    cells: list[int],
    marginals: list[FloatArray],
    noisy_two: dict[tuple[int, int], FloatArray],
    sigma: float,
    total: float,
) -> list[Edge]:
    """Orient the tree from column 0 (breadth first) and estimate P(child | parent).

    Each edge's table, smoothed towards independence, is raked to the reconciled
    distributions of its two columns (``marginals``), so the model's 1-way
    distributions are exactly those.
    """
    neighbours: dict[int, list[int]] = {i: [] for i in range(len(cells))}
    for a, b in noisy_two:
        neighbours[a].append(b)
        neighbours[b].append(a)
    edges: list[Edge] = []
    seen, queue = {0}, [0]
    while queue:
        node = queue.pop(0)
        for other in sorted(neighbours[node]):
            if other in seen:
                continue
            seen.add(other)
            queue.append(other)
            if (node, other) in noisy_two:
                table = noisy_two[node, other]
            else:
                table = noisy_two[other, node].T
            prior = marginals[other]
            weight = sigma * math.sqrt(cells[other])
            raked = rake(table + weight * prior, total * marginals[node], total * prior)
            sums = raked.sum(axis=1, keepdims=True)
            conditional = np.where(sums > 0, raked / np.where(sums > 0, sums, 1.0), prior)
            conditional /= conditional.sum(axis=1, keepdims=True)
            edges.append(Edge(node, other, conditional))
    return edges
