"""One party's exact sufficient statistics per group: counts and integer sums of products.

:func:`local_sums` computes, for every group and every block of a :class:`Plan`, the count
of complete records and the exact sum (Python ints) of each monomial of fixed-point codes.
These sums add across parties, so their secure sum is the pooled statistic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.stats.aggregate.plan import Block, Monomial
from privstats.stats.aggregate.records import Records

__all__ = ["CHUNK_ROWS", "LocalSums", "local_sums"]

CHUNK_ROWS = 1 << 16
"""Records per chunk of the exact sums: bounds the memory of Python-int products."""


@dataclass(frozen=True)
class LocalSums:
    """One party's per-group counts and exact sums for a tuple of blocks."""

    counts: npt.NDArray[np.int64]
    """Shape (groups, blocks): complete-case records per group and block."""
    sums: tuple[tuple[npt.NDArray[np.object_], ...], ...]
    """``sums[block][monomial]``: per group, the exact integer sum (scale 2^(f·degree))."""


def local_sums(
    records: Records,
    codes: npt.NDArray[np.intp],
    groups: int,
    blocks: Sequence[Block],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> LocalSums:
    """Per group, the count and every monomial's exact sum of each block.

    Exact products of fixed-point integers are Python ints, the costly part; they are made
    ``chunk_rows`` records at a time (memory stays bounded), and blocks over the same
    records in a chunk share the products they have in common.
    """
    order = np.argsort(codes, kind="stable")
    masks = [records.present(block.columns) for block in blocks]
    counts = np.zeros((groups, len(blocks)), dtype=np.int64)
    sums = [[np.full(groups, 0, dtype=object) for _ in block.monomials] for block in blocks]
    for start in range(0, max(len(order), 1), chunk_rows):
        chunk = order[start : start + chunk_rows]
        products: dict[tuple[bytes, Monomial], npt.NDArray[np.object_]] = {}
        for b, (block, mask) in enumerate(zip(blocks, masks, strict=True)):
            rows = chunk[mask[chunk]]
            sizes = np.bincount(codes[rows], minlength=groups)
            counts[:, b] += sizes
            key = rows.tobytes() if len(rows) < 64 else hashlib.blake2b(rows.tobytes()).digest()
            for m, monomial in enumerate(block.monomials):
                factors = tuple(sorted((*monomial, *([records.weight] if records.weight else []))))
                total = _product(records, rows, key, factors, products)
                sums[b][m] = sums[b][m] + _segment_sums(total, sizes)
    return LocalSums(counts, tuple(tuple(block) for block in sums))


def _product(
    records: Records,
    rows: npt.NDArray[np.intp],
    key: bytes,
    factors: Monomial,
    cache: dict[tuple[bytes, Monomial], npt.NDArray[np.object_]],
) -> npt.NDArray[np.object_]:
    """The exact product of the ``factors`` columns over ``rows``, memoised in ``cache``."""
    if (key, factors) not in cache:
        if len(factors) == 1:
            cache[(key, factors)] = records.exact(factors[0], rows)
        else:
            head = _product(records, rows, key, factors[:-1], cache)
            cache[(key, factors)] = head * _product(records, rows, key, factors[-1:], cache)
    return cache[(key, factors)]


def _segment_sums(
    values: npt.NDArray[np.object_], sizes: npt.NDArray[np.intp]
) -> npt.NDArray[np.object_]:
    """Sums of consecutive segments of ``values`` with the given sizes (empty ones are 0)."""
    out = np.full(len(sizes), 0, dtype=object)
    nonempty = np.flatnonzero(sizes)
    if nonempty.size:
        starts = (np.cumsum(sizes) - sizes)[nonempty]
        out[nonempty] = np.add.reduceat(values, starts)
    return out
