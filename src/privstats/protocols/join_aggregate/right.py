"""The right party's steps of join-and-aggregate: B contributes values and learns no figure.

B re-keys, rerandomises and reshuffles the left party's records, sends its own records
(encrypted under its own key) while it does so, and serves the decryption of the cells
the left party releases, checking their number against the minimum cell size. What B
sends and learns is set out in the package docstring; its state through one run is a
:class:`RightParty`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from privstats.crypto import Scalar, elgamal, hash_to_group, multiply, secure_permutation
from privstats.crypto.elgamal import CIPHERTEXT_BYTES
from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError, ProtocolError
from privstats.protocols._steps import (
    Progress,
    encode_identifier,
    no_progress,
    progress_counter,
)
from privstats.protocols.join_aggregate.matching import Shuffled, check_columns, reordered
from privstats.protocols.join_aggregate.messages import (
    CONTEXT,
    DEFAULT_CHUNK_SIZE,
    MAX_COLUMNS,
    MAX_DECIMALS,
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
    protocol_error,
    records_per_message,
)
from privstats.protocols.join_aggregate.release import Approver, Candidate, Label, review
from privstats.transport.channel import Channel

__all__ = ["RightKeys", "RightParty", "RightRecords", "RightResult", "RightSettings", "right"]

_AHEAD = 64
"""Messages B's step-3 worker may prepare ahead of sending."""


@dataclass(frozen=True)
class RightKeys:
    """The right party's secrets: identifier key β and decryption key share b."""

    psi: Scalar = field(default_factory=Scalar.random)
    share: Scalar = field(default_factory=Scalar.random)


@dataclass(frozen=True)
class RightResult:
    """What the right party learns: both sizes and how many ciphertexts it decrypted; also
    the candidate it agreed to (cells, counts, contributions if asked) and the noise it
    added to each decrypted sum (its own secret; not for release)."""

    left_size: int
    right_size: int
    decrypted: int
    agreed: Candidate | None = field(default=None, compare=False)
    noise: tuple[int, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class RightSettings:
    """How B runs: its keys, chunking, the minimum cell size it enforces, progress sink."""

    keys: RightKeys
    chunk_size: int
    min_cell: int | None
    report: Progress
    min_peer_rows: int = 0
    contributions: bool = False
    noisy: bool = False


@dataclass(frozen=True)
class RightRecords:
    """B's distinct records (a repeated identifier's values summed) and its column flags."""

    ids: list[bytes]
    columns: list[list[int]]  # right value columns, aligned with ids
    integer: list[bool]
    decimals: list[int]

    @classmethod
    def summed(
        cls,
        ids: Sequence[str | bytes],
        columns: list[list[int]],
        integer: list[bool],
        decimals: list[int],
    ) -> RightRecords:
        """The records with each repeated identifier's values summed, in first-seen order."""
        position: dict[bytes, int] = {}
        sums: list[list[int]] = [[] for _ in columns]
        for i, item in enumerate(ids):
            k = position.setdefault(encode_identifier(item), len(position))
            for c, column in enumerate(columns):
                if k == len(sums[c]):
                    sums[c].append(column[i])
                else:
                    sums[c][k] += column[i]
        return cls(list(position), sums, integer, decimals)

    @property
    def nonnegative(self) -> list[bool]:
        return [all(v >= 0 for v in column) for column in self.columns]


@dataclass(frozen=True)
class RightParty:
    """B's state through one run: channel and peer, settings, own records, what A said."""

    channel: Channel
    peer: str
    settings: RightSettings
    records: RightRecords
    hello: LeftHello  # A's announcement: |A|, Λ, aG and its number of value columns
    label_key: bytes  # Λ = λG
    joint: bytes  # the joint public key P = aG + bG

    @property
    def size(self) -> int:
        return len(self.records.ids)

    @property
    def n_right(self) -> int:
        return len(self.records.columns)


def right(
    channel: Channel,
    peer: str,
    ids: Sequence[str | bytes],
    values: Sequence[Sequence[int]] = (),
    *,
    integer: Sequence[bool] | None = None,
    decimals: Sequence[int] | None = None,
    left_columns: int | None = None,
    min_cell: int | None = None,
    approve: Approver | None = None,
    contributions: bool = False,
    min_peer_rows: int = 0,
    noise: Noise | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keys: RightKeys | None = None,
    progress: Progress | None = None,
) -> RightResult:
    """Run the right party's side; it learns both sizes and nothing of the result.

    ``values`` holds the right value columns (scaled integers, aligned with ``ids``); the
    values of a repeated identifier are summed. ``integer`` and ``decimals`` describe each
    column to the left party (how to present its sums); ``left_columns``, if given, is
    checked against the left party's announced number of value columns. A left list of
    fewer than ``min_peer_rows`` distinct records is refused (ProtocolError, told to A)
    before anything is matched.

    Before any decryption B reviews A's proposed cells (:mod:`~.release`):
    ``approve(candidate)`` names the cells B withholds; without it, cells of 1 to
    ``min_cell − 1`` matched persons are withheld. With ``contributions`` B asks for each
    proposed cell's matched values (for magnitude rules; see the leak stated there). B
    then decrypts exactly the agreed cells' sums; ``noise``, if given, returns the integers
    B adds to each column's agreed sums (:data:`Noise`), inside the decryption: A only
    ever sees the noisy sums.
    """
    check_chunk_size(chunk_size)
    report = progress or no_progress
    keys = keys or RightKeys()
    columns = check_columns(values, len(ids), "right value")
    flags = _column_flags(len(columns), integer, decimals)
    if min_cell is not None and min_cell < 1:
        raise ParameterError(f"min_cell must be at least 1, got {min_cell}", parameter="min_cell")
    records = RightRecords.summed(ids, columns, *flags)
    settings = RightSettings(
        keys, chunk_size, min_cell, report, min_peer_rows, contributions, noise is not None
    )
    party = _exchange_hellos(channel, peer, records, settings, left_columns=left_columns)
    _serve_left_entries(party)
    agreed = review(
        channel,
        peer,
        approve or _minimum(min_cell),
        max_count=min(party.hello.size, party.size),
        values=_value_tables(records) if contributions else None,
        open_values=lambda cts: elgamal.decrypt_points(cts, keys.share),
    )
    decrypted, added = _serve_decryption(party, len(agreed.keys), noise)
    return RightResult(
        left_size=party.hello.size,
        right_size=party.size,
        decrypted=decrypted,
        agreed=agreed,
        noise=added,
    )


Noise = Callable[[int, int, int], Sequence[int]]
"""``noise(column, cells, decimals)``: the integers B adds to one column's agreed sums
(columns: the left ones, then the right ones; ``decimals``: that column's scale)."""


def _minimum(min_cell: int | None) -> Approver:
    """The default review: withhold cells of 1 … ``min_cell − 1`` matched persons."""

    def approve(candidate: Candidate) -> dict[Label, str]:
        if min_cell is None:
            return {}
        return {
            key: f"{n} matched, fewer than {min_cell}"
            for key, n in zip(candidate.keys, candidate.counts, strict=True)
            if 0 < n < min_cell
        }

    return approve


def _value_tables(records: RightRecords) -> list[dict[bytes, int]]:
    """Per right column, B's distinct values keyed by their points ``v·G``."""
    tables = []
    for column in records.columns:
        distinct = sorted(set(column))
        points = elgamal.encode_plaintexts(distinct)
        tables.append(
            {points[i * POINT_BYTES : (i + 1) * POINT_BYTES]: v for i, v in enumerate(distinct)}
        )
    return tables


def _column_flags(
    n_right: int, integer: Sequence[bool] | None, decimals: Sequence[int] | None
) -> tuple[list[bool], list[int]]:
    """Per right column: integer-valued? and its decimal scale (defaults: yes, 0)."""
    integer = list(integer) if integer is not None else [True] * n_right
    decimals = list(decimals) if decimals is not None else [0] * n_right
    if len(integer) != n_right or len(decimals) != n_right:
        raise ParameterError("integer and decimals need one entry per value column")
    if any(not 0 <= d <= MAX_DECIMALS for d in decimals):
        raise ParameterError(f"decimals must be 0..{MAX_DECIMALS}", parameter="decimals")
    return integer, decimals


def _exchange_hellos(
    channel: Channel,
    peer: str,
    records: RightRecords,
    settings: RightSettings,
    *,
    left_columns: int | None,
) -> RightParty:
    """Read A's hello; announce |B|, bG, the column flags and whether B refuses A's list;
    read A's go (A may refuse B's list); return B's state."""
    share = elgamal.public_key(settings.keys.share)
    hello = channel.recv(peer, LeftHello)
    if (
        not 0 <= hello.size < MAX_RECORDS
        or not 0 <= hello.left_columns <= MAX_COLUMNS
        or len(hello.decimals) != hello.left_columns
        or any(not 0 <= d <= MAX_DECIMALS for d in hello.decimals)
    ):
        raise ProtocolError("left party announced an invalid hello", peer=peer, step="hello")
    refused = ""
    if hello.size < settings.min_peer_rows:
        refused = (
            f"the left party's list has {hello.size:,} distinct records, fewer than the right "
            f"owner's floor min_peer_rows = {settings.min_peer_rows:,}"
        )
    channel.send(
        peer,
        RightHello(
            len(records.ids),
            share,
            records.integer,
            records.decimals,
            records.nonnegative,
            refused,
            settings.contributions,
            settings.noisy,
        ),
    )
    if refused:
        raise ProtocolError(refused, peer=peer, step="floor")
    go = channel.recv(peer, LeftGo)
    if go.refused:
        raise ProtocolError(
            f"the left party refused the join: {go.refused}", peer=peer, step="floor"
        )
    if left_columns is not None and left_columns != hello.left_columns:
        raise ProtocolError(
            f"left party has {hello.left_columns} value columns, expected {left_columns}",
            peer=peer,
            step="hello",
        )
    label_key = check_point(hello.label_key, peer, "label key")
    joint = elgamal.combine_public_keys(check_point(hello.key_share, peer, "key share"), share)
    return RightParty(channel, peer, settings, records, hello, label_key, joint)


def _serve_left_entries(party: RightParty) -> None:
    """Steps 2 and 3 (B's side): return A's records re-keyed and reshuffled, send B's own.

    Step 3 does not depend on A's records: a worker thread prepares it while the main
    thread serves step 2 (libsodium runs outside the interpreter lock, so the two overlap
    whenever a core is free); the main thread sends what the worker made, in order.
    """
    per_message = records_per_message(
        party.settings.chunk_size, POINT_BYTES + CIPHERTEXT_BYTES * party.n_right
    )
    producer = _OwnEntries(party.records, party.settings.keys, per_message)
    try:
        _rekey_and_shuffle(party)
        tick = progress_counter(party.settings.report, "encrypt own records", party.size)
        for count, entries in producer:
            party.channel.send(party.peer, entries)
            tick(count)
    finally:
        producer.close()


class _OwnEntries:
    """B's step-3 messages, made by a worker thread, at most ``_AHEAD`` waiting."""

    def __init__(self, records: RightRecords, keys: RightKeys, per_message: int) -> None:
        self._ids, self._columns, self._keys = records.ids, records.columns, keys
        self._per_message = per_message
        self._queue: queue.Queue[tuple[int, RightEntries] | BaseException | None] = queue.Queue(
            maxsize=_AHEAD
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="privstats-join-right", daemon=True)
        self._thread.start()

    def _put(self, item: tuple[int, RightEntries] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            order = secure_permutation(len(self._ids)).tolist()
            for start in range(0, len(order), self._per_message):
                batch = order[start : start + self._per_message]
                ids = [self._ids[i] for i in batch]
                points = multiply(self._keys.psi, hash_to_group(ids, context=CONTEXT))
                values = [
                    elgamal.encrypt_with_secret([column[i] for i in batch], self._keys.share)
                    for column in self._columns
                ]
                if not self._put((len(batch), RightEntries(points, values))):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the main thread, which raises it
            self._put(exc)

    def __iter__(self) -> Iterator[tuple[int, RightEntries]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _rekey_and_shuffle(party: RightParty) -> None:
    """Step 2 (B's side): re-key A's points, rerandomise its ciphertexts, shuffle, return."""
    n, n_left, peer = party.hello.size, party.hello.left_columns, party.peer
    step = "left entries"
    error = protocol_error(peer, step, "an invalid record")
    points, labels = [], []
    values: list[list[bytes]] = [[] for _ in range(n_left)]
    received = 0
    tick = progress_counter(party.settings.report, "re-key peer records", n)
    while received < n:
        msg = party.channel.recv(peer, LeftEntries)
        count = entries_in(msg, n - received, n_left)
        if count is None:
            raise ProtocolError(f"{step}: malformed chunk", peer=peer, step=step)
        try:
            points.append(multiply(party.settings.keys.psi, msg.points))
            labels.append(elgamal.rerandomise(msg.labels, party.label_key))
            for c, v in enumerate(msg.values):
                values[c].append(elgamal.rerandomise(v, party.joint))
        except CryptoError as exc:
            raise error(exc) from exc
        received += count
        tick(count)
    perm = secure_permutation(n)
    shuffled = Shuffled(
        reordered(b"".join(points), POINT_BYTES, perm),
        reordered(b"".join(labels), CIPHERTEXT_BYTES, perm),
        [reordered(b"".join(v), CIPHERTEXT_BYTES, perm) for v in values],
    )
    _send_shuffled(party, shuffled)


def _send_shuffled(party: RightParty, entries: Shuffled) -> None:
    """Send all of A's re-keyed records back, in chunks below the message size limit."""
    n_left = len(entries.values)
    n = len(entries.points) // POINT_BYTES
    per_message = records_per_message(
        party.settings.chunk_size, POINT_BYTES + CIPHERTEXT_BYTES * (1 + n_left)
    )
    for start in range(0, n, per_message):
        end = start + per_message
        party.channel.send(
            party.peer,
            ShuffledEntries(
                entries.points[start * POINT_BYTES : end * POINT_BYTES],
                entries.labels[start * CIPHERTEXT_BYTES : end * CIPHERTEXT_BYTES],
                [v[start * CIPHERTEXT_BYTES : end * CIPHERTEXT_BYTES] for v in entries.values],
            ),
        )


def _serve_decryption(
    party: RightParty, cells: int, noise: Noise | None
) -> tuple[int, tuple[int, ...]]:
    """Step 5 (B's side): return b·C1 for each requested ciphertext, exactly the agreed
    cells × columns of them (with ``noise``: b·C1 − η·G, so that A finds S + η); the
    number decrypted and the noise added."""
    step, peer = "decryption", party.peer
    n_cols = party.hello.left_columns + party.n_right
    first = party.channel.recv(peer, DecryptRequest)
    total = first.total
    if total != cells * n_cols:
        raise ProtocolError(
            f"{step}: {total} ciphertexts to decrypt, but {cells} agreed cells of {n_cols} columns",
            peer=peer,
            step=step,
        )
    added: list[int] = []
    if noise is not None:
        scales = [*party.hello.decimals, *party.records.decimals]
        for c in range(n_cols):
            column = [int(v) for v in noise(c, cells, scales[c])]
            if len(column) != cells:
                raise ParameterError(f"noise gave {len(column)} values for {cells} cells")
            added += column
    tick = progress_counter(party.settings.report, "decrypt released cells", total)
    done = 0
    msg = first
    while True:
        count, extra = divmod(len(msg.points), POINT_BYTES)
        if extra or msg.total != total or done + count > total or (count == 0 and total):
            raise ProtocolError(f"{step}: malformed request", peer=peer, step=step)
        try:
            shares = elgamal.decryption_shares(msg.points, party.settings.keys.share)
        except CryptoError as exc:
            raise ProtocolError(f"{step}: invalid point", peer=peer, step=step) from exc
        if added:
            shares = _with_noise(shares, added[done : done + count])
        party.channel.send(peer, DecryptShares(shares))
        done += count
        tick(count)
        if done == total:
            return total, tuple(added)
        msg = party.channel.recv(peer, DecryptRequest)


def _with_noise(shares: bytes, noise: Sequence[int]) -> bytes:
    """``share − η·G`` for each share: A, subtracting it from ``C2``, finds ``S + η``."""
    n = len(shares) // POINT_BYTES
    packed = b"".join(
        bytes(POINT_BYTES) + shares[i * POINT_BYTES : (i + 1) * POINT_BYTES] for i in range(n)
    )
    return elgamal.finish(packed, elgamal.encode_plaintexts(list(noise)))
