"""The matching and grouping pieces of join-and-aggregate: records in, per-group sums out.

The left party A matches the right party's records against its own records as the right
party returned them (re-keyed and reshuffled), decrypts the group label of each matched
record only, and adds up the matched pairs' value ciphertexts per group. The pieces here
hold no channel: a :class:`Matcher` is read-only, so worker threads share it, and each
chunk's :class:`Partial` is merged into the :class:`GroupTotals` by one thread. Both
parties check their value columns with :func:`check_columns`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.crypto import Scalar, elgamal, multiply
from privstats.crypto.elgamal import CIPHERTEXT_BYTES
from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError
from privstats.protocols.join_aggregate.messages import MAX_COLUMNS, RightEntries

__all__ = [
    "GroupTotals",
    "Matcher",
    "Partial",
    "Shuffled",
    "check_columns",
    "record",
    "reordered",
]


def check_columns(values: Sequence[Sequence[int]], n: int, what: str) -> list[list[int]]:
    """The value columns as lists, each checked: ``n`` scaled integers inside ±2^63."""
    if len(values) > MAX_COLUMNS:
        raise ParameterError(f"at most {MAX_COLUMNS} {what} columns, got {len(values)}")
    out = []
    for c, column in enumerate(values):
        if len(column) != n:
            raise ParameterError(
                f"{what} column {c} has {len(column)} values for {n} identifiers",
                parameter="values",
            )
        checked = list(column)
        for v in checked:
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{what} values must be int (scaled), not {type(v).__name__}")
            if not -(2**63) < v < 2**63:
                raise ParameterError(
                    f"{what} column {c} holds {v}, outside ±2^63", parameter="values"
                )
        out.append(checked)
    return out


def record(packed: bytes, index: int, size: int) -> bytes:
    """Record ``index`` of packed records of ``size`` bytes each."""
    return packed[index * size : (index + 1) * size]


def reordered(packed: bytes, size: int, order: npt.NDArray[np.intp]) -> bytes:
    """The packed records of ``size`` bytes in the given order."""
    if not packed:
        return packed
    return np.frombuffer(packed, dtype=np.uint8).reshape(-1, size)[order].tobytes()


@dataclass
class Shuffled:
    """A's own records as B returned them: re-keyed points, labels, left values."""

    points: bytes
    labels: bytes
    values: list[bytes]


@dataclass
class Partial:
    """One chunk's share of the per-group results: matches, counts and sum ciphertexts."""

    mine: npt.NDArray[np.intp]
    counts: dict[int, int]
    sums: dict[int, list[bytes]]
    values: dict[int, list[bytes]] | None = None  # per group, per right column: the ciphertexts


@dataclass(frozen=True)
class Matcher:
    """What matching a chunk of B's records needs; read-only, so workers can share it."""

    shuffled: Shuffled
    order: npt.NDArray[np.intp]  # sorts the shuffled points
    lookup: npt.NDArray[np.bytes_]  # the shuffled points, sorted
    label_points: dict[bytes, int]  # g·G → g
    psi_key: Scalar  # α
    label_key: Scalar  # λ
    keep_values: bool = False  # keep each matched right value ciphertext (for B's rules)

    @classmethod
    def over(
        cls,
        shuffled: Shuffled,
        n_groups: int,
        psi_key: Scalar,
        label_key: Scalar,
        *,
        keep_values: bool = False,
    ) -> Matcher:
        """A matcher of B's records against ``shuffled``, with labels ``0..n_groups-1``."""
        rows = np.frombuffer(shuffled.points, dtype=f"S{POINT_BYTES}")
        order = np.argsort(rows, kind="stable")
        encoded = elgamal.encode_plaintexts(range(n_groups))
        return cls(
            shuffled=shuffled,
            order=order,
            lookup=rows[order],
            label_points={record(encoded, g, POINT_BYTES): g for g in range(n_groups)},
            psi_key=psi_key,
            label_key=label_key,
            keep_values=keep_values,
        )

    @property
    def n_left(self) -> int:
        return len(self.shuffled.values)

    def match(self, msg: RightEntries) -> Partial:
        """Re-key B's points, find them among the shuffled entries, decrypt the matched
        labels and add up the matched pairs' ciphertexts per group."""
        rekeyed = np.frombuffer(multiply(self.psi_key, msg.points), dtype=f"S{POINT_BYTES}")
        n = self.lookup.size
        if n == 0:
            return Partial(np.empty(0, dtype=np.intp), {}, {})
        index = np.minimum(np.searchsorted(self.lookup, rekeyed), n - 1)
        hit = self.lookup[index] == rekeyed
        mine = self.order[index[hit]]
        by_group = self._pairs_by_group(mine, np.flatnonzero(hit))
        sums = {g: self._sums(pairs, msg) for g, pairs in by_group.items()}
        values = None
        if self.keep_values:
            values = {
                g: [b"".join(record(v, j, CIPHERTEXT_BYTES) for _, j in pairs) for v in msg.values]
                for g, pairs in by_group.items()
            }
        return Partial(mine, {g: len(p) for g, p in by_group.items()}, sums, values)

    def _pairs_by_group(
        self, mine: npt.NDArray[np.intp], theirs: npt.NDArray[np.intp]
    ) -> dict[int, list[tuple[int, int]]]:
        """The matched (own record, B's record) pairs by group, decrypting only their labels."""
        labels = elgamal.decrypt_points(
            b"".join(record(self.shuffled.labels, i, CIPHERTEXT_BYTES) for i in mine.tolist()),
            self.label_key,
        )
        by_group: dict[int, list[tuple[int, int]]] = {}
        for k, (i, j) in enumerate(zip(mine.tolist(), theirs.tolist(), strict=True)):
            g = self.label_points.get(record(labels, k, POINT_BYTES))
            if g is None:
                raise CryptoError(f"the label of record {i} is not a group index", index=i)
            by_group.setdefault(g, []).append((i, j))
        return by_group

    def _sums(self, pairs: list[tuple[int, int]], msg: RightEntries) -> list[bytes]:
        """One group's sum ciphertext per column: left columns, then right columns."""
        out = []
        for c in range(self.n_left + len(msg.values)):
            if c < self.n_left:
                source, rows = self.shuffled.values[c], [i for i, _ in pairs]
            else:
                source, rows = msg.values[c - self.n_left], [j for _, j in pairs]
            parts = b"".join(record(source, r, CIPHERTEXT_BYTES) for r in rows)
            out.append(elgamal.sum_ciphertexts(parts))
        return out


@dataclass
class GroupTotals:
    """A's running results: matched count and sum ciphertext per group and column."""

    counts: list[int]
    sums: list[list[bytes | None]]  # None: no record of the group yet
    taken: npt.NDArray[np.bool_]  # which of A's shuffled records matched
    values: list[list[list[bytes]]] | None = None  # per group, per right column: parts

    @classmethod
    def empty(
        cls, n_groups: int, n_columns: int, n_records: int, n_kept: int | None = None
    ) -> GroupTotals:
        """No record yet; ``n_kept`` right columns' matched ciphertexts are kept if given."""
        kept: list[list[list[bytes]]] | None = None
        if n_kept is not None:
            kept = [[[] for _ in range(n_kept)] for _ in range(n_groups)]
        return cls(
            counts=[0] * n_groups,
            sums=[[None] * n_columns for _ in range(n_groups)],
            taken=np.zeros(n_records, dtype=bool),
            values=kept,
        )

    def cell_sums(self, groups: Sequence[int], column: int) -> bytes | None:
        """The sum ciphertext of ``column`` over ``groups`` (None: no record in any)."""
        parts = [s for g in groups if (s := self.sums[g][column]) is not None]
        return elgamal.sum_ciphertexts(b"".join(parts)) if parts else None

    def cell_values(self, groups: Sequence[int], column: int) -> bytes:
        """The matched right-value ciphertexts of ``column`` over ``groups``."""
        assert self.values is not None
        return b"".join(part for g in groups for part in self.values[g][column])

    def matched_twice(self, partial: Partial) -> bool:
        """Whether ``partial`` matches a record already matched (or one record twice)."""
        mine = partial.mine
        return bool(self.taken[mine].any()) or np.unique(mine).size != mine.size

    def add(self, partial: Partial) -> None:
        """Merge one chunk's results (after :meth:`matched_twice` said no)."""
        self.taken[partial.mine] = True
        for g, n in partial.counts.items():
            self.counts[g] += n
            for c, part in enumerate(partial.sums[g]):
                previous = self.sums[g][c]
                self.sums[g][c] = part if previous is None else elgamal.add(previous, part)
        if self.values is not None and partial.values is not None:
            for g, columns in partial.values.items():
                for c, part in enumerate(columns):
                    self.values[g][c].append(part)
