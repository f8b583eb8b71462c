"""The left party's steps of join-and-aggregate: A holds the groups and receives the result.

A sends its records encrypted, receives them back re-keyed and reshuffled, matches the
right party's records against them as they stream in, and jointly decrypts the sums of
the groups its release rule lets out. What A sends and learns is set out in the package
docstring; its state through one run is a :class:`LeftParty`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from privstats.crypto import Scalar, elgamal, hash_to_group, multiply, secure_permutation
from privstats.crypto.dlog import DEFAULT_BOUND, discrete_log
from privstats.crypto.elgamal import CIPHERTEXT_BYTES
from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError, ProtocolError
from privstats.protocols._steps import (
    Progress,
    encode_identifier,
    no_progress,
    progress_counter,
)
from privstats.protocols.join_aggregate.matching import (
    GroupTotals,
    Matcher,
    Partial,
    Shuffled,
    check_columns,
    record,
)
from privstats.protocols.join_aggregate.messages import (
    CONTEXT,
    DECRYPT_CHUNK,
    DEFAULT_CHUNK_SIZE,
    MAX_COLUMNS,
    MAX_DECIMALS,
    MAX_GROUPS,
    MAX_RECORDS,
    DecryptRequest,
    DecryptShares,
    LeftEntries,
    LeftGo,
    LeftHello,
    RightEntries,
    RightHello,
    ShuffledEntries,
    check_chunk_size,
    check_point,
    entries_in,
    records_per_message,
    right_entries_in,
)
from privstats.protocols.join_aggregate.release import Label, Planner, ReleaseCell, propose
from privstats.transport.channel import Channel

__all__ = ["LeftKeys", "LeftParty", "LeftRecords", "LeftResult", "LeftSettings", "left"]


@dataclass(frozen=True)
class LeftKeys:
    """The left party's secrets: identifier key α, label key λ, decryption key share a."""

    psi: Scalar = field(default_factory=Scalar.random)
    label: Scalar = field(default_factory=Scalar.random)
    share: Scalar = field(default_factory=Scalar.random)


@dataclass(frozen=True)
class LeftResult:
    """What the left party learns.

    ``counts[g]`` is the number of matched persons of group ``g`` (every group, also the
    withheld ones); ``cells`` the cells agreed with the right party and ``sums[key]``, for
    each of them only, the sums of the scaled integer values (plus the right party's noise,
    if it adds any): the left columns first, then the right columns. ``refused`` holds the
    cells the right party withheld, with its reasons.
    """

    left_size: int
    right_size: int
    counts: tuple[int, ...]
    cells: tuple[ReleaseCell, ...]
    sums: dict[Label, tuple[int, ...]]
    refused: dict[Label, str]
    withheld: tuple[Label, ...]
    right_integer: tuple[bool, ...]
    right_decimals: tuple[int, ...]

    @property
    def matched(self) -> int:
        return sum(self.counts)

    @property
    def released(self) -> tuple[Label, ...]:
        return tuple(cell.key for cell in self.cells)


@dataclass(frozen=True)
class LeftSettings:
    """How A runs: its keys, the decryptable bound, chunking, threads and progress sink."""

    keys: LeftKeys
    bound: int
    chunk_size: int
    workers: int
    report: Progress


@dataclass
class LeftRecords:
    """A's distinct records (a repeated identifier keeps its first), with group and values."""

    ids: list[bytes]
    groups: list[int]
    columns: list[list[int]]  # left value columns, aligned with ids
    n_groups: int

    @classmethod
    def checked(
        cls,
        ids: Sequence[str | bytes],
        groups: Sequence[int],
        n_groups: int,
        values: Sequence[Sequence[int]],
    ) -> LeftRecords:
        """Check the caller's inputs and keep each identifier's first record."""
        if not 1 <= n_groups <= MAX_GROUPS:
            raise ParameterError(
                f"n_groups must be 1..{MAX_GROUPS}, got {n_groups}", parameter="n_groups"
            )
        if len(groups) != len(ids):
            raise ParameterError(
                f"{len(ids)} identifiers but {len(groups)} group labels", parameter="groups"
            )
        for g in groups:
            if not isinstance(g, int | np.integer) or not 0 <= g < n_groups:
                raise ParameterError(
                    f"group index {g!r} is outside 0..{n_groups - 1}", parameter="groups"
                )
        columns = check_columns(values, len(ids), "left value")
        first: dict[bytes, int] = {}
        for i, item in enumerate(ids):
            first.setdefault(encode_identifier(item), i)
        keep = list(first.values())
        return cls(
            ids=list(first),
            groups=[int(groups[i]) for i in keep],
            columns=[[column[i] for i in keep] for column in columns],
            n_groups=n_groups,
        )


@dataclass
class LeftParty:
    """A's state through one run: channel and peer, settings, own records, what B said."""

    channel: Channel
    peer: str
    settings: LeftSettings
    records: LeftRecords
    size: int  # |A|, after de-duplication
    hello: RightHello  # B's announcement: |B|, bG and its column flags
    joint: bytes  # the joint public key P = aG + bG

    @property
    def n_left(self) -> int:
        return len(self.records.columns)

    @property
    def n_right(self) -> int:
        return len(self.hello.integer)

    def error(self, step: str, text: str) -> ProtocolError:
        """A ProtocolError blaming the peer for ``text`` at ``step``."""
        return ProtocolError(f"{step}: {text}", peer=self.peer, step=step)


def left(
    channel: Channel,
    peer: str,
    ids: Sequence[str | bytes],
    groups: Sequence[int],
    n_groups: int,
    values: Sequence[Sequence[int]] = (),
    *,
    release: Planner,
    right_columns: int | None = None,
    min_peer_rows: int = 0,
    decimals: Sequence[int] | None = None,
    bound: int = DEFAULT_BOUND,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keys: LeftKeys | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> LeftResult:
    """Run the left party's side; return the matched counts and the released sums.

    ``groups[i]`` (``0 <= g < n_groups``) is the group of ``ids[i]``; ``values`` holds the
    left value columns (scaled integers, one sequence per column, aligned with ``ids``). A
    repeated identifier keeps its first record. ``release(counts, refused)`` receives the
    matched count of every group and the cells the right party withheld so far, and
    returns the cells to propose (:mod:`~.release`); only the cells both agree on are ever
    decrypted. ``right_columns``, if given, is checked against the right party's announced
    number of value columns; a right party with fewer than ``min_peer_rows`` distinct
    records is refused (ProtocolError) before anything is matched; ``bound`` is the largest
    absolute sum decryptable. ``decimals`` (per left column, default 0) tells the right
    party the scale of the left values (it sizes DP noise by it).
    ``workers`` threads match B's records and take the discrete logarithms (default: up to
    2, as many as there are CPUs).
    """
    check_chunk_size(chunk_size)
    report = progress or no_progress
    keys = keys or LeftKeys()
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if not 1 <= workers <= 64:
        raise ParameterError(f"workers must be 1..64, got {workers}", parameter="workers")
    records = LeftRecords.checked(ids, groups, n_groups, values)
    settings = LeftSettings(keys, bound, chunk_size, workers, report)
    scales = list(decimals) if decimals is not None else [0] * len(records.columns)
    if len(scales) != len(records.columns) or any(not 0 <= d <= MAX_DECIMALS for d in scales):
        raise ParameterError("decimals need one entry 0..6 per left column", parameter="decimals")
    party = _exchange_hellos(
        channel, peer, records, settings, right_columns=right_columns, decimals=scales
    )
    _go_or_refuse(party, min_peer_rows)

    _send_own(party)
    party.records.ids = []  # sent; no longer needed
    shuffled = _receive_shuffled(party)
    totals = _match_and_add(party, shuffled)
    counts = tuple(totals.counts)
    wanted = party.hello.contributions
    agreed, refused = propose(
        channel,
        peer,
        counts,
        release,
        (lambda cell, c: totals.cell_values(cell.groups, c)) if wanted else None,
        party.hello.key_share,
        party.n_right,
    )
    sums = _decrypt(party, totals, agreed.released)
    return LeftResult(
        left_size=party.size,
        right_size=party.hello.size,
        counts=counts,
        cells=agreed.released,
        sums={cell.key: sums[k] for k, cell in enumerate(agreed.released)},
        refused=refused,
        withheld=agreed.withheld,
        right_integer=tuple(party.hello.integer),
        right_decimals=tuple(party.hello.decimals),
    )


def _go_or_refuse(party: LeftParty, min_peer_rows: int) -> None:
    """Stop if B refused the run; refuse it (and tell B) if B's list is below the floor."""
    if party.hello.refused:
        raise ProtocolError(
            f"the right party refused the join: {party.hello.refused}",
            peer=party.peer,
            step="floor",
        )
    reason = ""
    if party.hello.size < min_peer_rows:
        reason = (
            f"the right party's list has {party.hello.size:,} distinct records, fewer than "
            f"the left owner's floor min_peer_rows = {min_peer_rows:,}"
        )
    party.channel.send(party.peer, LeftGo(reason))
    if reason:
        raise ProtocolError(reason, peer=party.peer, step="floor")


def _exchange_hellos(
    channel: Channel,
    peer: str,
    records: LeftRecords,
    settings: LeftSettings,
    *,
    right_columns: int | None,
    decimals: list[int],
) -> LeftParty:
    """Announce |A|, Λ, aG and the left columns; check B's hello; return A's state."""
    n = len(records.ids)
    label_key = elgamal.public_key(settings.keys.label)
    share = elgamal.public_key(settings.keys.share)
    channel.send(peer, LeftHello(n, label_key, share, len(records.columns), decimals))
    hello = channel.recv(peer, RightHello)
    n_right = len(hello.integer)
    if (
        not 0 <= hello.size < MAX_RECORDS
        or not n_right <= MAX_COLUMNS
        or len(hello.decimals) != n_right
        or len(hello.nonnegative) != n_right
        or any(not 0 <= d <= MAX_DECIMALS for d in hello.decimals)
    ):
        raise ProtocolError("right party announced an invalid hello", peer=peer, step="hello")
    if right_columns is not None and right_columns != n_right:
        raise ProtocolError(
            f"right party has {n_right} value columns, expected {right_columns}",
            peer=peer,
            step="hello",
        )
    joint = elgamal.combine_public_keys(share, check_point(hello.key_share, peer, "key share"))
    return LeftParty(channel, peer, settings, records, n, hello, joint)


def _send_own(party: LeftParty) -> None:
    """Step 1: H(x)^α, Enc_Λ(g) and Enc_P(v) per record, in a uniformly random order."""
    ids, groups, columns = party.records.ids, party.records.groups, party.records.columns
    keys = party.settings.keys
    order = secure_permutation(len(ids)).tolist()
    per_message = records_per_message(
        party.settings.chunk_size, POINT_BYTES + CIPHERTEXT_BYTES * (1 + len(columns))
    )
    tick = progress_counter(party.settings.report, "encrypt own records", len(ids))
    for start in range(0, len(ids), per_message):
        batch = order[start : start + per_message]
        points = multiply(keys.psi, hash_to_group([ids[i] for i in batch], context=CONTEXT))
        labels = elgamal.encrypt_with_secret([groups[i] for i in batch], keys.label)
        values = [elgamal.encrypt([column[i] for i in batch], party.joint) for column in columns]
        party.channel.send(party.peer, LeftEntries(points, labels, values))
        tick(len(batch))


def _receive_shuffled(party: LeftParty) -> Shuffled:
    """Step 2 (A's side): receive all of A's records back, re-keyed and reshuffled."""
    n, n_left = party.size, party.n_left
    points, labels = [], []
    values: list[list[bytes]] = [[] for _ in range(n_left)]
    received = 0
    tick = progress_counter(party.settings.report, "receive re-keyed records", n)
    while received < n:
        msg = party.channel.recv(party.peer, ShuffledEntries)
        count = entries_in(msg, n - received, n_left)
        if count is None:
            raise ProtocolError(
                "re-keyed records: malformed chunk", peer=party.peer, step="shuffled entries"
            )
        points.append(msg.points)
        labels.append(msg.labels)
        for c, v in enumerate(msg.values):
            values[c].append(v)
        received += count
        tick(count)
    return Shuffled(b"".join(points), b"".join(labels), [b"".join(v) for v in values])


def _match_and_add(party: LeftParty, shuffled: Shuffled) -> GroupTotals:
    """Steps 3 and 4: match B's records as they stream in and add them up per group.

    Chunks are matched by ``workers`` threads (libsodium runs outside the interpreter lock,
    and B is idle meanwhile); the main thread receives, and merges the partial results.
    """
    keys, workers = party.settings.keys, party.settings.workers
    keep = party.hello.contributions
    matcher = Matcher.over(shuffled, party.records.n_groups, keys.psi, keys.label, keep_values=keep)
    totals = GroupTotals.empty(
        party.records.n_groups,
        party.n_left + party.n_right,
        len(shuffled.points) // POINT_BYTES,
        party.n_right if keep else None,
    )
    right_size = party.hello.size
    step = "right entries"
    error = party.error
    tick = progress_counter(party.settings.report, "match peer records", right_size)

    def merge(future: Future[Partial], count: int) -> None:
        try:
            partial = future.result()
        except CryptoError as exc:
            raise error(step, f"{party.peer!r} sent an invalid record: {exc}") from exc
        if totals.matched_twice(partial):
            raise error(step, "a record matched twice")
        totals.add(partial)
        tick(count)

    received = 0
    pending: deque[tuple[Future[Partial], int]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="privstats-join-left") as pool:
        while received < right_size:
            msg = party.channel.recv(party.peer, RightEntries)
            count = right_entries_in(msg, right_size - received, party.n_right)
            if count is None:
                raise error(step, "malformed chunk")
            received += count
            pending.append((pool.submit(matcher.match, msg), count))
            while len(pending) > 2 * workers:
                merge(*pending.popleft())
        while pending:
            merge(*pending.popleft())
    return totals


def _decrypt(
    party: LeftParty, totals: GroupTotals, chosen: Sequence[ReleaseCell]
) -> list[tuple[int, ...]]:
    """Step 5: jointly decrypt the agreed cells' sums, column by column.

    Left columns are under the joint key, right columns under B's key alone; either way B
    receives only the rerandomised first components ``C1`` (uniformly random points) and
    returns ``b·C1``; A subtracts its own share from the left columns' ``C2`` as well.
    """
    n_left = party.n_left
    empty = bytes(CIPHERTEXT_BYTES)  # the sum of no ciphertexts: (identity, identity)
    ciphertexts = b"".join(
        elgamal.rerandomise(
            b"".join(totals.cell_sums(cell.groups, c) or empty for cell in chosen),
            party.joint if c < n_left else party.hello.key_share,
        )
        for c in range(n_left + party.n_right)
    )
    first = elgamal.first_points(ciphertexts)
    total = len(first) // POINT_BYTES
    tick = progress_counter(party.settings.report, "decrypt released cells", total)
    theirs = _request_shares(party, first, total)
    points = _finish(party, ciphertexts, theirs, len(chosen))
    counts = [sum(totals.counts[g] for g in cell.groups) for cell in chosen]
    return _column_sums(party, points, counts, [cell.key for cell in chosen], tick)


def _request_shares(party: LeftParty, first: bytes, total: int) -> bytes:
    """Send B the first components in chunks; return its shares ``b·C1``, in order."""
    shares = []
    for start in range(0, max(total, 1), DECRYPT_CHUNK):
        part = first[start * POINT_BYTES : (start + DECRYPT_CHUNK) * POINT_BYTES]
        party.channel.send(party.peer, DecryptRequest(total, part))
        reply = party.channel.recv(party.peer, DecryptShares).shares
        if len(reply) != len(part):
            raise party.error("decryption", "wrong number of shares")
        shares.append(reply)
    return b"".join(shares)


def _finish(party: LeftParty, ciphertexts: bytes, theirs: bytes, cells: int) -> bytes:
    """The points ``S·G`` of the sums: B's shares taken off, and A's off the left columns."""
    left_cells = party.n_left * cells
    left_part = ciphertexts[: left_cells * CIPHERTEXT_BYTES]
    try:
        return elgamal.finish(
            left_part,
            elgamal.partial_decrypt(left_part, party.settings.keys.share),
            theirs[: left_cells * POINT_BYTES],
        ) + elgamal.finish(
            ciphertexts[left_cells * CIPHERTEXT_BYTES :], theirs[left_cells * POINT_BYTES :]
        )
    except CryptoError as exc:
        raise party.error("decryption", f"{party.peer!r} sent an invalid share") from exc


def _column_sums(
    party: LeftParty,
    points: bytes,
    counts: list[int],
    chosen: list[Label],
    tick: Callable[[int], None],
) -> list[tuple[int, ...]]:
    """The released cells' sums by discrete logarithm, one tuple of columns per cell."""
    bound, workers = party.settings.bound, party.settings.workers
    nonnegative = [all(v >= 0 for v in column) for column in party.records.columns]
    nonnegative += list(party.hello.nonnegative)
    if party.hello.noisy:  # DP noise may take any sum below 0
        nonnegative = [False] * len(nonnegative)
    k = len(chosen)
    by_column: list[list[int]] = []
    for c, positive in enumerate(nonnegative):
        column = points[c * k * POINT_BYTES : (c + 1) * k * POINT_BYTES]
        try:
            by_column.append(_logarithms(column, counts, bound, positive, workers))
        except _OutOfRangeError as exc:
            group = chosen[exc.cell]
            raise ParameterError(
                f"the sum of value column {c} in cell {group} is outside the decryptable "
                f"range ±{bound:,}; lower the number of decimals (--decimals) or the scale "
                "of the values",
                parameter="decimals",
            ) from exc
        tick(k)
    return [tuple(column[i] for column in by_column) for i in range(k)]


class _OutOfRangeError(Exception):
    def __init__(self, cell: int) -> None:
        super().__init__(cell)
        self.cell = cell


def _logarithms(
    points: bytes, counts: list[int], bound: int, nonnegative: bool, workers: int
) -> list[int]:
    """The sums of one column's cells: the cell with the fewest persons first, from 0; the
    others searched outward from its mean times their count (cheap when means are alike).
    """
    if not counts:
        return []
    first = min(range(len(counts)), key=lambda i: (counts[i], i))
    rest = [i for i in range(len(counts)) if i != first]

    def solve(cells: list[int], centers: list[int] | None) -> list[int]:
        try:
            return discrete_log(
                b"".join(record(points, i, POINT_BYTES) for i in cells),
                bound=bound,
                nonnegative=nonnegative,
                centers=centers,
                workers=workers,
            )
        except CryptoError as exc:
            raise _OutOfRangeError(cells[exc.index or 0]) from exc

    (total,) = solve([first], None)
    out = [0] * len(counts)
    out[first] = total
    scale = total / counts[first] if counts[first] else 0.0
    for i, value in zip(rest, solve(rest, [round(counts[i] * scale) for i in rest]), strict=True):
        out[i] = value
    return out
