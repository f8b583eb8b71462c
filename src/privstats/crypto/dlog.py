"""Discrete logarithms of bounded integers in ristretto255, by baby-step giant-step.

Exponential ElGamal (:mod:`privstats.crypto.elgamal`) decrypts to the point ``S·G``; this
module finds the integer ``S`` when ``|S| <= bound`` (default ``2^40``; ``nonnegative``
halves the range). Points that hold a larger integer, or none at all, raise
:class:`~privstats.errors.CryptoError` naming the point, after the whole range has been
searched.

Method: a table of the *baby steps* ``j·G`` for ``0 <= j < m`` is kept in this process
(sorted 8-byte prefixes of the encodings in a numpy array, so that a batch of candidate
points is looked up in one vectorised ``searchsorted``). Each target ``T`` is then walked
in *giant steps* of ``m`` outward from a center ``c`` (default 0): ``T - s·G`` is looked up
for block starts ``s = c, c + m, …`` and ``c - m, c - 2m, …``; a prefix hit ``j`` gives the
candidate ``s + j``, which is confirmed by recomputing ``(s + j)·G`` in full, so a prefix
collision can never give a wrong answer. A good center (a guess of ``S``) makes a large
``S`` cheap.

The table starts at ``2^12`` entries and doubles, up to ``max_table`` (default ``2^20``,
8 MiB of prefixes and 8 MiB of indices), whenever the giant steps taken since the last
doubling outnumber its entries; that keeps the total work within a small factor of the
optimal ``2·sqrt(n·d)`` group operations for ``n`` targets at distance ``d`` from their
centers. Each group operation costs about 14 µs (libsodium through ``rbcl``), and the work
is shared by worker threads (libsodium runs outside Python's interpreter lock): ``d``
near ``2^34`` takes a few seconds, and proving that a point is *outside* ``±2^40`` takes up
to a minute. The table is built once per process and reused by later calls.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import rbcl

from privstats.crypto.elgamal import check_points, encode_plaintexts
from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError

__all__ = ["DEFAULT_BOUND", "MAX_TABLE", "discrete_log"]

DEFAULT_BOUND = 2**40
"""The largest ``|S|`` searched by default."""
INITIAL_TABLE = 2**12
MAX_TABLE = 2**20
"""Default upper limit on the baby-step table's entries."""
_BURST = 64
"""Most giant steps per target and direction between two vectorised look-ups."""

_add = rbcl.crypto_core_ristretto255_add
_sub = rbcl.crypto_core_ristretto255_sub
_GENERATOR: bytes = rbcl.crypto_scalarmult_ristretto255_base((1).to_bytes(32, "little"))


def _prefixes(points: bytes) -> npt.NDArray[np.uint64]:
    """The first 8 bytes of each packed point, as unsigned integers."""
    return np.frombuffer(points, dtype="<u8").reshape(-1, POINT_BYTES // 8)[:, 0]


class _BabySteps:
    """``j·G`` for ``0 <= j < size``, as sorted prefixes with their ``j``."""

    def __init__(self) -> None:
        self.size = 0
        self.keys: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self.steps: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)

    def grow(self, size: int, pool: ThreadPoolExecutor | None, workers: int) -> None:
        """Extend the table to ``size`` entries (one group addition per new entry)."""
        if size <= self.size:
            return
        parts = _split(self.size, size, workers)
        points = b"".join(_map(pool, lambda part: _walk_up(part[0], part[1]), parts))
        keys = np.concatenate([self.keys, _prefixes(points)])
        steps = np.concatenate([self.steps, np.arange(self.size, size, dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        self.keys, self.steps = keys[order], steps[order]
        self.size = size

    def lookup(self, points: bytes) -> list[tuple[int, int]]:
        """``(row, j)`` for every packed point whose prefix equals that of ``j·G``."""
        prefixes = _prefixes(points)
        left = np.searchsorted(self.keys, prefixes, side="left")
        right = np.searchsorted(self.keys, prefixes, side="right")
        hits = []
        for row in np.flatnonzero(right > left).tolist():
            for k in range(int(left[row]), int(right[row])):
                hits.append((row, int(self.steps[k])))
        return hits


_TABLE = _BabySteps()
_LOCK = threading.Lock()
T = TypeVar("T")
R = TypeVar("R")


def _map(pool: ThreadPoolExecutor | None, func: Callable[[T], R], items: list[T]) -> list[R]:
    if pool is None or len(items) < 2:
        return [func(item) for item in items]
    return list(pool.map(func, items))


def _split(start: int, stop: int, workers: int) -> list[tuple[int, int]]:
    """``[start, stop)`` in one piece per worker: (first index, count)."""
    bounds = np.linspace(start, stop, workers + 1).astype(np.int64).tolist()
    return [(a, b - a) for a, b in itertools.pairwise(bounds) if b > a]


def _walk_up(first: int, count: int) -> bytes:
    """``j·G`` for ``first <= j < first + count``, packed: one fixed-base multiplication, then
    one addition per point."""
    point = encode_plaintexts([first])
    points = []
    for _ in range(count):
        points.append(point)
        point = _add(point, _GENERATOR)
    return b"".join(points)


def _walk(task: tuple[bytes, int, int, int]) -> bytes:
    """Giant steps of one target: ``T - s·G`` for ``s = first, first + step, …`` (count)."""
    target, first, step, count = task
    point = _add(target, encode_plaintexts([-first]))
    stride = encode_plaintexts([abs(step)])
    move = _sub if step > 0 else _add
    points = []
    for _ in range(count):
        points.append(point)
        point = move(point, stride)
    return b"".join(points)


def discrete_log(
    points: bytes,
    *,
    bound: int = DEFAULT_BOUND,
    nonnegative: bool = False,
    centers: Sequence[int] | None = None,
    max_table: int = MAX_TABLE,
    workers: int | None = None,
) -> list[int]:
    """The integers ``S`` with ``S·G`` equal to each packed point, for ``|S| <= bound``.

    ``nonnegative=True`` searches ``0..bound`` only (half the work when the caller knows
    the sign). ``centers`` are guesses, one per point, from which the search walks outward
    in both directions (default 0): the work grows with the square root of ``|S - guess|``,
    so a good guess makes a large ``S`` cheap, and a bad one costs at most twice the
    default. ``workers`` threads share the work (default: up to 2, as many as there are
    CPUs; libsodium runs without holding Python's interpreter lock). Raises CryptoError
    (``.index`` names the point) if a point's logarithm is outside the range.
    """
    count = check_points(points)
    if not isinstance(bound, int) or not 0 <= bound < 2**100:
        raise ParameterError(f"bound must be an int in 0..2^100, got {bound!r}", parameter="bound")
    if not 2 <= max_table <= 2**26:
        raise ParameterError(
            f"max_table must be in 2..2^26 entries, got {max_table}", parameter="max_table"
        )
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if not 1 <= workers <= 64:
        raise ParameterError(f"workers must be 1..64, got {workers}", parameter="workers")
    lower = 0 if nonnegative else -bound
    if centers is None:
        starts = [0] * count
    elif len(centers) != count:
        raise ParameterError(f"{len(centers)} centers for {count} points", parameter="centers")
    else:
        starts = [min(bound, max(lower, int(c))) for c in centers]
    targets = [points[i * POINT_BYTES : (i + 1) * POINT_BYTES] for i in range(count)]
    with _LOCK:
        if workers == 1:
            return _solve(targets, starts, lower, bound, max_table, None, 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="privstats-dlog") as pool:
            return _solve(targets, starts, lower, bound, max_table, pool, workers)


def _solve(
    targets: list[bytes],
    starts: list[int],
    lower: int,
    bound: int,
    max_table: int,
    pool: ThreadPoolExecutor | None,
    workers: int,
) -> list[int]:
    """Walk every target up and down from its start in blocks of the table's size.

    Per target, ``[low, high)`` is the range already searched. Each round searches the
    next ``burst`` blocks on each side, cut into one task per worker; the table doubles
    whenever the giant steps since its last growth outnumber its entries.
    """
    table = _TABLE
    table.grow(min(INITIAL_TABLE, max_table), pool, workers)
    found: list[int | None] = [None] * len(targets)
    low = list(starts)
    high = list(starts)
    burst = 1
    since_growth = 0
    while True:
        m = table.size
        open_targets = [t for t, value in enumerate(found) if value is None]
        if not open_targets:
            return [value for value in found if value is not None]
        tasks: list[tuple[bytes, int, int, int]] = []
        origin: list[tuple[int, int, int]] = []  # per task: target, first block start, step
        for t in open_targets:
            up = max(0, min(burst, (bound - high[t]) // m + 1))
            down = max(0, min(burst, (low[t] - 1 - lower) // m + 1))
            for first, count, step in _pieces(high[t], up, m, workers) + _pieces(
                low[t] - m, down, -m, workers
            ):
                tasks.append((targets[t], first, step, count))
                origin.append((t, first, step))
            high[t] += up * m
            low[t] -= down * m
            if up == 0 and down == 0:
                raise CryptoError(
                    f"point {t} does not hold an integer in {lower}..{bound}", index=t
                )
        walked = _map(pool, _walk, tasks)
        rows = [(k, i) for k, part in enumerate(walked) for i in range(len(part) // POINT_BYTES)]
        for row, j in table.lookup(b"".join(walked)):
            k, i = rows[row]
            t, first, step = origin[k]
            value = first + i * step + j
            if (
                found[t] is None
                and lower <= value <= bound
                and encode_plaintexts([value]) == targets[t]
            ):
                found[t] = value
        since_growth += len(rows)
        burst = min(_BURST, 2 * burst)
        if since_growth >= m and 2 * m <= max_table:
            table.grow(2 * m, pool, workers)
            since_growth = 0


def _pieces(first: int, blocks: int, step: int, workers: int) -> list[tuple[int, int, int]]:
    """``blocks`` consecutive block starts from ``first`` by ``step``, cut into ``workers``
    pieces: (first start, count, step)."""
    if blocks <= 0:
        return []
    size = -(-blocks // workers)
    return [(first + k * step, min(size, blocks - k), step) for k in range(0, blocks, size)]
