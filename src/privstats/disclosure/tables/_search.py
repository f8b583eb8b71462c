"""The pattern search for each primary cell, in batches spread over worker processes.

:class:`PatternSearch` holds what every search reads (the table's equations and values,
which cells may be withheld, their costs) and finds, for one primary cell and the cells
withheld so far, the cheapest cells to add with the patterns that prove them.

:func:`search_all` takes the primaries in their order in *batches* of up to ``BATCH`` cells
whose neighbourhoods do not overlap, solves every cell of a batch against the same
suppression (the one before the batch) and then withholds all they chose. That is sound:
withholding more only widens every interval, so each cell's patterns stay a proof. The
batches do not depend on the number of workers, so the result is the same on one core or
many. HiGHS holds the GIL, hence processes, not threads (forked, where the system has fork,
else none), and only for tables with enough primaries to repay starting them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from privstats.disclosure.tables._audit import BoolArray, FloatArray, IntArray
from privstats.disclosure.tables._patterns import (
    Certificate,
    Layout,
    cheapest_pattern,
    pattern_exists,
    pattern_protects,
)

__all__ = ["BATCH", "Found", "PatternSearch", "default_workers", "search_all"]

BATCH = 32
"""Primary cells solved against one suppression state (fixed: the result must not depend
on the machine)."""

LOOKAHEAD = 256
"""How far down the queue a batch looks for cells whose neighbourhoods are apart."""

PARALLEL_FROM = 400
"""Primary cells from which worker processes repay their start (about a second)."""

Found = tuple[IntArray, Certificate] | None
"""The cells to add and the proof, or None when no pattern exists anywhere."""


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PatternSearch:
    """What the search for every primary cell of one table reads."""

    layout: Layout
    by_column: sparse.csc_matrix
    allowed: BoolArray
    weights: FloatArray
    options: Mapping[str, float]

    def effort(self, index: int) -> int:
        """How large a search for ``index`` is likely to be: its neighbourhood's size."""
        near = self.layout.neighbourhood(index, 1)
        return self.layout.values.size if near is None else int(near.size)

    def protect_one(
        self, suppressed: BoolArray, index: int, levels: tuple[float, float], *, check: bool
    ) -> Found:
        """The cheapest cells to add to ``suppressed`` for primary ``index`` (none when
        those withheld already protect it, which ``check`` asks to test first), with the
        patterns that prove it: in its neighbourhood, then two and three equations out,
        then the whole table. None when the whole table holds no pattern."""
        values = self.layout.values
        scale = max(levels[0], levels[1], 1e-9)
        bigs = (scale, 4 * float(values.max()) + scale)
        everything = np.arange(values.size)
        for radius in (1, 2, 3, 0):
            near = self.layout.neighbourhood(index, radius) if radius else everything
            cells = everything if near is None else near
            if check:
                proof = pattern_protects(self.by_column, values, cells, suppressed, index, levels)
                if proof is not None:
                    return cells[:0], proof
            attempts = (
                (bigs[0], ("one",)),  # the usual find: one pattern, a small big-M
                (bigs[0], ("two",)),  # a tighter relaxation first, fewer solutions
                (bigs[1], ("one", "two")),
            )
            for attempt, (big, models) in enumerate(attempts):
                if attempt == 1 and not pattern_exists(
                    self.by_column, values, cells, suppressed, self.allowed, index, levels, bigs[1]
                ):
                    break  # the most permissive model has no solution here: widen
                found = cheapest_pattern(
                    self.by_column,
                    values,
                    cells,
                    suppressed,
                    self.allowed,
                    self.weights,
                    index,
                    levels,
                    big,
                    self.options,
                    models,
                )
                if found is not None:
                    return found
            if near is None:
                break
        return None


Task = tuple[int, tuple[float, float], bool, np.ndarray]

_WORKER_SEARCH: PatternSearch | None = None


def _start_worker(search: PatternSearch) -> None:
    global _WORKER_SEARCH
    _WORKER_SEARCH = search


def _run_task(task: Task) -> Found:
    index, levels, check, packed = task
    assert _WORKER_SEARCH is not None, "worker started without its search"
    size = _WORKER_SEARCH.layout.values.size
    suppressed = np.unpackbits(packed, count=size).astype(bool)
    return _WORKER_SEARCH.protect_one(suppressed, index, levels, check=check)


@contextmanager
def _pool(search: PatternSearch, workers: int) -> Iterator[Executor | None]:
    """Worker processes holding ``search``, or None to search in this process."""
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    # fork: a spawned worker would re-run the caller's script, which may lack a main guard;
    # the forked workers run only this module's numerical code
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(search,)
    ) as pool:
        yield pool


def _next_batch(queue: list[int], layout: Layout) -> list[int]:
    """Up to ``BATCH`` cells from the front of ``queue`` (removed from it) whose
    neighbourhoods share no cell; the first cell is always taken."""
    taken: list[int] = []
    used = np.zeros(layout.values.size, dtype=bool)
    position = 0
    while position < min(len(queue), LOOKAHEAD) and len(taken) < BATCH:
        cell = queue[position]
        near = layout.neighbourhood(cell, 1)
        cells = np.arange(used.size) if near is None else near
        if taken and used[cells].any():
            position += 1
            continue
        used[cells] = True
        taken.append(queue.pop(position))
    return taken


def search_all(
    search: PatternSearch,
    suppressed: BoolArray,
    wanted: Mapping[int, tuple[float, float]],
    order: Sequence[int],
    *,
    check: bool,
    workers: int,
) -> dict[int, Found]:
    """Every primary of ``order`` searched, batch by batch, widening ``suppressed`` in
    place with the cells each batch chose; each cell's result by cell."""
    queue = list(order)
    results: dict[int, Found] = {}
    use = workers if len(queue) >= PARALLEL_FROM else 1
    with _pool(search, use) as pool:
        while queue:
            batch = _next_batch(queue, search.layout)
            if pool is None:
                found = [search.protect_one(suppressed, i, wanted[i], check=check) for i in batch]
            else:  # the likely slowest first, so no worker idles long at the batch's end
                batch.sort(key=lambda i: (-search.effort(i), i))
                packed = np.packbits(suppressed)
                tasks = [(i, wanted[i], check, packed) for i in batch]
                found = list(pool.map(_run_task, tasks))
            for index, result in zip(batch, found, strict=True):
                results[index] = result
                if result is not None:
                    suppressed[result[0]] = True
    return results
