"""Private join-and-aggregate over vertically split data: per-group count, sum and mean.

Two parties hold different attributes of overlapping populations. The *left* party A
(a statistical office) holds, per person, an identifier, a group index (its categories,
e.g. region) and optionally value columns; the *right* party B (a bank) holds identifiers
and value columns (e.g. income). A obtains, for every group of its own, over the persons
*both* hold: the number of persons and the sum of each value column — left columns summed
over A's own matched records, right columns over B's. A generalisation of Google's
private join-and-compute (intersection-sum) to group-by and several columns.

Keys (fresh per run): A has α (identifiers), λ (labels, public Λ = λG) and a (share of
the joint key); B has β and b (public bG). The joint public key is P = aG + bG. H hashes
an identifier to ristretto255 (with this protocol's context); Enc_K is exponential
ElGamal (:mod:`privstats.crypto.elgamal`)::

    A → B  LeftHello        |A|, Λ, aG, number of left value columns
    B → A  RightHello       |B|, bG, per right column: integer-valued?, decimal scale,
                            non-negative?
    A → B  LeftEntries      in a random order, per record: H(x)^α, Enc_Λ(g), and Enc_P(v)
                            per left value column
    B → A  ShuffledEntries  per record: (H(x)^α)^β with every ciphertext rerandomised
                            (plus an encryption of 0), all in a fresh random order
    B → A  RightEntries     in a random order, per record: H(y)^β and Enc_bG(w) per right
                            value column
    A      computes (H(y)^β)^α as B's records stream in and looks each up among the
           shuffled entries; for a match it decrypts that entry's label g (only matched
           labels are decrypted) and adds, per group, the ciphertexts of the pair: left
           values from the shuffled entry, right values from B's record. It learns the
           matched count of every group.
    A      applies the caller's release rule to the counts (minimum cell size with
           secondary suppression in ``privstats.jobs.join_aggregate``)
    A → B  DecryptRequest   C1 of each released cell's sum, after rerandomising the sum
    B → A  DecryptShares    b·C1 for each; A computes C2 − b·C1 (and − a·C1 for left
                            columns) = S·G and finds S by a discrete logarithm
                            (|S| ≤ 2^40 by default, see :mod:`privstats.crypto.dlog`)

Why two keys for values: A's left values must stay hidden from B, which handles them, so
they are under the joint key; B's right values must stay hidden from A, and B's key alone
does that (B learns nothing from its own values), while it lets B encrypt with its
secret: two fixed-base multiplications per value instead of a variable-base one. A never
sends a ``C2``: B sees only the rerandomised first components, uniformly random points.

Threat model: both parties semi-honest (they follow the protocol but study all they
receive); security rests on the decisional Diffie–Hellman assumption in ristretto255
with H as a random oracle. What each party receives and learns:

- A receives |B|, bG, B's column flags, pseudorandom points H(y)^β, ciphertexts under bG
  it cannot decrypt, its own records re-keyed, rerandomised and reshuffled (so it cannot
  tell which of its records came back where), and the decryption shares of the cells it
  asked for. It learns |B|, the matched count of *every* group (also of groups it then
  withholds), which of B's pseudonymous, randomly ordered records matched one of its
  shuffled entries, and the released sums — no individual value, and not which of its
  own persons matched.
- B receives |A|, Λ, aG, pseudorandom points H(x)^α, ciphertexts under Λ (the groups) and
  P (the left values) that it cannot decrypt, and random points to multiply by b. It
  learns |A| and the number of decrypted sums (released cells × value columns) — not A's
  groups, not which of its persons matched, no figure of the result.
- A relay between them (the hub) sees sealed bytes, their sizes and timing only.

Leaks beyond the output: both sizes; to A the matched counts of withheld groups; to B
the number of released cells; to A B's column flags (integer-valued, non-negative) and
decimal scales. Not covered: malicious behaviour. A could, for example, send B the C1 of
a single record's ciphertext and so decrypt that record's value (B checks only the
number of requests against the minimum cell size, and cannot check their content); B
could return wrong shares, drop records or add fake ones. Messages stream in chunks
below the channel's 16 MiB limit.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

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
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "LeftKeys",
    "LeftResult",
    "RightKeys",
    "RightResult",
    "left",
    "right",
]

CONTEXT = b"privstats.join_aggregate.v1"
DEFAULT_CHUNK_SIZE = 8192
MAX_GROUPS = 1_000_000
MAX_COLUMNS = 64
MAX_RECORDS = 2**31
MAX_DECIMALS = 6
_PAYLOAD_BYTES = 15 * 2**20
"""Upper limit on the packed bytes of one message, below the channel's 16 MiB."""
_DECRYPT_CHUNK = 65_536
_AHEAD = 64
"""Messages B's step-3 worker may prepare ahead of sending."""


# --------------------------------------------------------------------------- messages


@message("join_aggregate.left_hello", 1)
class LeftHello(Message):
    size: int
    label_key: bytes
    key_share: bytes
    left_columns: int


@message("join_aggregate.right_hello", 1)
class RightHello(Message):
    size: int
    key_share: bytes
    integer: list[bool]
    decimals: list[int]
    nonnegative: list[bool]


@message("join_aggregate.left_entries", 1)
class LeftEntries(Message):
    points: bytes
    labels: bytes
    values: list[bytes]


@message("join_aggregate.shuffled_entries", 1)
class ShuffledEntries(Message):
    points: bytes
    labels: bytes
    values: list[bytes]


@message("join_aggregate.right_entries", 1)
class RightEntries(Message):
    points: bytes
    values: list[bytes]


@message("join_aggregate.decrypt_request", 1)
class DecryptRequest(Message):
    total: int
    points: bytes


@message("join_aggregate.decrypt_shares", 1)
class DecryptShares(Message):
    shares: bytes


# --------------------------------------------------------------------------- results and keys


@dataclass(frozen=True)
class LeftKeys:
    """The left party's secrets: identifier key α, label key λ, decryption key share a."""

    psi: Scalar = field(default_factory=Scalar.random)
    label: Scalar = field(default_factory=Scalar.random)
    share: Scalar = field(default_factory=Scalar.random)


@dataclass(frozen=True)
class RightKeys:
    """The right party's secrets: identifier key β and decryption key share b."""

    psi: Scalar = field(default_factory=Scalar.random)
    share: Scalar = field(default_factory=Scalar.random)


@dataclass(frozen=True)
class LeftResult:
    """What the left party learns.

    ``counts[g]`` is the number of matched persons of group ``g`` (every group, also the
    withheld ones); ``sums[g]`` holds, for each released group only, the exact sums of the
    scaled integer values: the left columns first, then the right columns.
    """

    left_size: int
    right_size: int
    counts: tuple[int, ...]
    sums: dict[int, tuple[int, ...]]
    right_integer: tuple[bool, ...]
    right_decimals: tuple[int, ...]

    @property
    def matched(self) -> int:
        return sum(self.counts)

    @property
    def released(self) -> tuple[int, ...]:
        return tuple(sorted(self.sums))


@dataclass(frozen=True)
class RightResult:
    """What the right party learns: both sizes and how many ciphertexts it decrypted."""

    left_size: int
    right_size: int
    decrypted: int


# --------------------------------------------------------------------------- helpers


def _entries_in(msg: LeftEntries | ShuffledEntries, remaining: int, n_left: int) -> int | None:
    """The number of records in a chunk of A's records, or None if the chunk is malformed."""
    count, rest = divmod(len(msg.points), POINT_BYTES)
    if (
        rest
        or not 0 < count <= remaining
        or len(msg.labels) != count * CIPHERTEXT_BYTES
        or len(msg.values) != n_left
        or any(len(v) != count * CIPHERTEXT_BYTES for v in msg.values)
    ):
        return None
    return count


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 262_144:
        raise ParameterError(
            f"chunk_size must be between 1 and 262144 records, got {chunk_size}",
            parameter="chunk_size",
        )


def _records_per_message(chunk_size: int, record_bytes: int) -> int:
    return max(1, min(chunk_size, _PAYLOAD_BYTES // record_bytes))


def _check_columns(values: Sequence[Sequence[int]], n: int, what: str) -> list[list[int]]:
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


def _slice(packed: bytes, index: int, size: int) -> bytes:
    return packed[index * size : (index + 1) * size]


def _rows(packed: bytes, size: int, order: npt.NDArray[np.intp]) -> bytes:
    """The packed records of ``size`` bytes in the given order."""
    if not packed:
        return packed
    return np.frombuffer(packed, dtype=np.uint8).reshape(-1, size)[order].tobytes()


def _check_point(key: bytes, peer: str, what: str) -> bytes:
    try:
        elgamal.combine_public_keys(key)
    except (CryptoError, TypeError) as exc:
        raise ProtocolError(f"{peer!r} sent an invalid {what}", peer=peer, step="hello") from exc
    return key


def _protocol_error(peer: str, step: str, what: str) -> Callable[[Exception], ProtocolError]:
    def make(exc: Exception) -> ProtocolError:
        return ProtocolError(f"{step}: {peer!r} sent {what}: {exc}", peer=peer, step=step)

    return make


# --------------------------------------------------------------------------- left party


def left(
    channel: Channel,
    peer: str,
    ids: Sequence[str | bytes],
    groups: Sequence[int],
    n_groups: int,
    values: Sequence[Sequence[int]] = (),
    *,
    release: Callable[[Sequence[int]], Iterable[int]],
    right_columns: int | None = None,
    bound: int = DEFAULT_BOUND,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keys: LeftKeys | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> LeftResult:
    """Run the left party's side; return the matched counts and the released sums.

    ``groups[i]`` (``0 <= g < n_groups``) is the group of ``ids[i]``; ``values`` holds the
    left value columns (scaled integers, one sequence per column, aligned with ``ids``). A
    repeated identifier keeps its first record. ``release(counts)`` receives the matched
    count of every group and returns the groups whose sums may be decrypted; no other sum
    is ever decrypted. ``right_columns``, if given, is checked against the right party's
    announced number of value columns; ``bound`` is the largest absolute sum decryptable.
    ``workers`` threads match B's records and take the discrete logarithms (default: up to
    2, as many as there are CPUs).
    """
    _check_chunk_size(chunk_size)
    report = progress or no_progress
    keys = keys or LeftKeys()
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if not 1 <= workers <= 64:
        raise ParameterError(f"workers must be 1..64, got {workers}", parameter="workers")
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
    columns = _check_columns(values, len(ids), "left value")
    first: dict[bytes, int] = {}
    for i, item in enumerate(ids):
        first.setdefault(encode_identifier(item), i)
    keep = list(first.values())
    own = list(first)
    own_groups = [int(groups[i]) for i in keep]
    columns = [[column[i] for i in keep] for column in columns]
    n = len(own)
    n_left = len(columns)

    label_key = elgamal.public_key(keys.label)
    share = elgamal.public_key(keys.share)
    channel.send(peer, LeftHello(n, label_key, share, n_left))
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
    joint = elgamal.combine_public_keys(share, _check_point(hello.key_share, peer, "key share"))

    _send_own(
        channel, peer, own, own_groups, columns, keys.psi, keys.label, joint, chunk_size, report
    )
    del own

    shuffled = _receive_shuffled(channel, peer, n, n_left, report)
    counts, sums = _match_and_add(
        channel, peer, shuffled, hello.size, n_groups, n_left, n_right, keys, workers, report
    )

    chosen = sorted(set(release(tuple(counts))))
    if any(not isinstance(g, int) or not 0 <= g < n_groups for g in chosen):
        raise ParameterError(
            "release returned a group index outside the groups", parameter="release"
        )
    nonnegative = [all(v >= 0 for v in column) for column in columns] + list(hello.nonnegative)
    totals = _decrypt(
        channel,
        peer,
        sums,
        chosen,
        nonnegative,
        (joint, hello.key_share),
        keys.share,
        n_left,
        counts,
        bound,
        workers,
        report,
    )
    return LeftResult(
        left_size=n,
        right_size=hello.size,
        counts=tuple(counts),
        sums={g: totals[k] for k, g in enumerate(chosen)},
        right_integer=tuple(hello.integer),
        right_decimals=tuple(hello.decimals),
    )


def _send_own(
    channel: Channel,
    peer: str,
    ids: list[bytes],
    groups: list[int],
    columns: list[list[int]],
    psi_key: Scalar,
    label_key: Scalar,
    joint: bytes,
    chunk_size: int,
    report: Progress,
) -> None:
    """Step 1: H(x)^α, Enc_Λ(g) and Enc_P(v) per record, in a uniformly random order."""
    order = secure_permutation(len(ids)).tolist()
    per_message = _records_per_message(
        chunk_size, POINT_BYTES + CIPHERTEXT_BYTES * (1 + len(columns))
    )
    tick = progress_counter(report, "encrypt own records", len(ids))
    for start in range(0, len(ids), per_message):
        batch = order[start : start + per_message]
        points = multiply(psi_key, hash_to_group([ids[i] for i in batch], context=CONTEXT))
        labels = elgamal.encrypt_with_secret([groups[i] for i in batch], label_key)
        values = [elgamal.encrypt([column[i] for i in batch], joint) for column in columns]
        channel.send(peer, LeftEntries(points, labels, values))
        tick(len(batch))


@dataclass
class _Shuffled:
    """A's own records as B returned them: re-keyed points, labels, left values."""

    points: bytes
    labels: bytes
    values: list[bytes]


def _receive_shuffled(
    channel: Channel, peer: str, n: int, n_left: int, report: Progress
) -> _Shuffled:
    """Step 2 (A's side): receive all of A's records back, re-keyed and reshuffled."""
    points, labels = [], []
    values: list[list[bytes]] = [[] for _ in range(n_left)]
    received = 0
    tick = progress_counter(report, "receive re-keyed records", n)
    while received < n:
        msg = channel.recv(peer, ShuffledEntries)
        count = _entries_in(msg, n - received, n_left)
        if count is None:
            raise ProtocolError(
                "re-keyed records: malformed chunk", peer=peer, step="shuffled entries"
            )
        points.append(msg.points)
        labels.append(msg.labels)
        for c, v in enumerate(msg.values):
            values[c].append(v)
        received += count
        tick(count)
    return _Shuffled(b"".join(points), b"".join(labels), [b"".join(v) for v in values])


@dataclass
class _Partial:
    """One chunk's share of the per-group results: matches, counts and sum ciphertexts."""

    mine: npt.NDArray[np.intp]
    counts: dict[int, int]
    sums: dict[int, list[bytes]]


@dataclass(frozen=True)
class _Matcher:
    """What matching a chunk of B's records needs; read-only, so workers can share it."""

    shuffled: _Shuffled
    order: npt.NDArray[np.intp]  # sorts the shuffled points
    lookup: npt.NDArray[np.bytes_]  # the shuffled points, sorted
    label_points: dict[bytes, int]  # g·G → g
    keys: LeftKeys
    n_left: int

    def match(self, msg: RightEntries) -> _Partial:
        """Re-key B's points, find them among the shuffled entries, decrypt the matched
        labels and add up the matched pairs' ciphertexts per group."""
        rekeyed = np.frombuffer(multiply(self.keys.psi, msg.points), dtype=f"S{POINT_BYTES}")
        n = self.lookup.size
        if n == 0:
            return _Partial(np.empty(0, dtype=np.intp), {}, {})
        index = np.minimum(np.searchsorted(self.lookup, rekeyed), n - 1)
        hit = self.lookup[index] == rekeyed
        mine = self.order[index[hit]]
        theirs = np.flatnonzero(hit)
        labels = elgamal.decrypt_points(
            b"".join(_slice(self.shuffled.labels, i, CIPHERTEXT_BYTES) for i in mine.tolist()),
            self.keys.label,
        )
        by_group: dict[int, list[tuple[int, int]]] = {}
        for k, (i, j) in enumerate(zip(mine.tolist(), theirs.tolist(), strict=True)):
            g = self.label_points.get(_slice(labels, k, POINT_BYTES))
            if g is None:
                raise CryptoError(f"the label of record {i} is not a group index", index=i)
            by_group.setdefault(g, []).append((i, j))
        sums: dict[int, list[bytes]] = {}
        for g, pairs in by_group.items():
            sums[g] = []
            for c in range(self.n_left + len(msg.values)):
                if c < self.n_left:
                    source, rows = self.shuffled.values[c], [i for i, _ in pairs]
                else:
                    source, rows = msg.values[c - self.n_left], [j for _, j in pairs]
                parts = b"".join(_slice(source, r, CIPHERTEXT_BYTES) for r in rows)
                sums[g].append(elgamal.sum_ciphertexts(parts))
        return _Partial(mine, {g: len(p) for g, p in by_group.items()}, sums)


def _match_and_add(
    channel: Channel,
    peer: str,
    shuffled: _Shuffled,
    right_size: int,
    n_groups: int,
    n_left: int,
    n_right: int,
    keys: LeftKeys,
    workers: int,
    report: Progress,
) -> tuple[list[int], list[list[bytes | None]]]:
    """Steps 3 and 4: match B's records as they stream in and add them up per group.

    Chunks are matched by ``workers`` threads (libsodium runs outside the interpreter lock,
    and B is idle meanwhile); the main thread receives, and merges the partial results.
    """
    rows = np.frombuffer(shuffled.points, dtype=f"S{POINT_BYTES}")
    order = np.argsort(rows, kind="stable")
    encoded = elgamal.encode_plaintexts(range(n_groups))
    matcher = _Matcher(
        shuffled=shuffled,
        order=order,
        lookup=rows[order],
        label_points={_slice(encoded, g, POINT_BYTES): g for g in range(n_groups)},
        keys=keys,
        n_left=n_left,
    )
    taken = np.zeros(rows.size, dtype=bool)
    counts = [0] * n_groups
    sums: list[list[bytes | None]] = [[None] * (n_left + n_right) for _ in range(n_groups)]
    step = "right entries"
    tick = progress_counter(report, "match peer records", right_size)

    def merge(future: Future[_Partial], count: int) -> None:
        try:
            partial = future.result()
        except CryptoError as exc:
            raise ProtocolError(
                f"{step}: {peer!r} sent an invalid record: {exc}", peer=peer, step=step
            ) from exc
        if taken[partial.mine].any() or np.unique(partial.mine).size != partial.mine.size:
            raise ProtocolError(f"{step}: a record matched twice", peer=peer, step=step)
        taken[partial.mine] = True
        for g, n in partial.counts.items():
            counts[g] += n
            for c, part in enumerate(partial.sums[g]):
                previous = sums[g][c]
                sums[g][c] = part if previous is None else elgamal.add(previous, part)
        tick(count)

    received = 0
    pending: deque[tuple[Future[_Partial], int]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="privstats-join-left") as pool:
        while received < right_size:
            msg = channel.recv(peer, RightEntries)
            count, rest = divmod(len(msg.points), POINT_BYTES)
            if (
                rest
                or not 0 < count <= right_size - received
                or len(msg.values) != n_right
                or any(len(v) != count * CIPHERTEXT_BYTES for v in msg.values)
            ):
                raise ProtocolError(f"{step}: malformed chunk", peer=peer, step=step)
            received += count
            pending.append((pool.submit(matcher.match, msg), count))
            while len(pending) > 2 * workers:
                merge(*pending.popleft())
        while pending:
            merge(*pending.popleft())
    return counts, sums


def _decrypt(
    channel: Channel,
    peer: str,
    sums: list[list[bytes | None]],
    chosen: list[int],
    nonnegative: list[bool],
    keys: tuple[bytes, bytes],
    share_key: Scalar,
    n_left: int,
    counts: list[int],
    bound: int,
    workers: int,
    report: Progress,
) -> list[tuple[int, ...]]:
    """Step 5: jointly decrypt the released groups' sums, column by column.

    Left columns are under the joint key, right columns under B's key alone; either way B
    receives only the rerandomised first components ``C1`` (uniformly random points) and
    returns ``b·C1``; A subtracts its own share from the left columns' ``C2`` as well.
    """
    joint, right_key = keys
    n_cols = len(nonnegative)
    empty = bytes(CIPHERTEXT_BYTES)  # the sum of no ciphertexts: (identity, identity)
    ciphertexts = b"".join(
        elgamal.rerandomise(
            b"".join(sums[g][c] or empty for g in chosen), joint if c < n_left else right_key
        )
        for c in range(n_cols)
    )
    first = elgamal.first_points(ciphertexts)
    total = len(first) // POINT_BYTES
    tick = progress_counter(report, "decrypt released cells", total)
    shares = []
    step = "decryption"
    for start in range(0, max(total, 1), _DECRYPT_CHUNK):
        part = first[start * POINT_BYTES : (start + _DECRYPT_CHUNK) * POINT_BYTES]
        channel.send(peer, DecryptRequest(total, part))
        reply = channel.recv(peer, DecryptShares).shares
        if len(reply) != len(part):
            raise ProtocolError(f"{step}: wrong number of shares", peer=peer, step=step)
        shares.append(reply)
    k = len(chosen)
    left_part = ciphertexts[: n_left * k * CIPHERTEXT_BYTES]
    try:
        theirs = b"".join(shares)
        points = elgamal.finish(
            left_part,
            elgamal.partial_decrypt(left_part, share_key),
            theirs[: n_left * k * POINT_BYTES],
        ) + elgamal.finish(
            ciphertexts[n_left * k * CIPHERTEXT_BYTES :], theirs[n_left * k * POINT_BYTES :]
        )
    except CryptoError as exc:
        raise ProtocolError(
            f"{step}: {peer!r} sent an invalid share", peer=peer, step=step
        ) from exc
    by_column: list[list[int]] = []
    for c in range(n_cols):
        column = points[c * k * POINT_BYTES : (c + 1) * k * POINT_BYTES]
        try:
            by_column.append(
                _logarithms(column, [counts[g] for g in chosen], bound, nonnegative[c], workers)
            )
        except _OutOfRangeError as exc:
            group = chosen[exc.cell]
            raise ParameterError(
                f"the sum of value column {c} in group {group} is outside the decryptable "
                f"range ±{bound:,}; lower the number of decimals (--decimals) or the scale "
                "of the values",
                parameter="decimals",
            ) from exc
        tick(k)
    return [tuple(by_column[c][i] for c in range(n_cols)) for i in range(k)]


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
                b"".join(_slice(points, i, POINT_BYTES) for i in cells),
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


# --------------------------------------------------------------------------- right party


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
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    keys: RightKeys | None = None,
    progress: Progress | None = None,
) -> RightResult:
    """Run the right party's side; it learns both sizes and nothing of the result.

    ``values`` holds the right value columns (scaled integers, aligned with ``ids``); the
    values of a repeated identifier are summed. ``integer`` and ``decimals`` describe each
    column to the left party (how to present its sums); ``left_columns``, if given, is
    checked against the left party's announced number of value columns. The number of
    decryption requests is checked against ``min_cell`` if given (the left party's release
    rule must then withhold every group below it): at most ``min(|A|, |B|) / min_cell``
    cells.
    """
    _check_chunk_size(chunk_size)
    report = progress or no_progress
    keys = keys or RightKeys()
    columns = _check_columns(values, len(ids), "right value")
    n_right = len(columns)
    integer = list(integer) if integer is not None else [True] * n_right
    decimals = list(decimals) if decimals is not None else [0] * n_right
    if len(integer) != n_right or len(decimals) != n_right:
        raise ParameterError("integer and decimals need one entry per value column")
    if any(not 0 <= d <= MAX_DECIMALS for d in decimals):
        raise ParameterError(f"decimals must be 0..{MAX_DECIMALS}", parameter="decimals")
    if min_cell is not None and min_cell < 1:
        raise ParameterError(f"min_cell must be at least 1, got {min_cell}", parameter="min_cell")
    position: dict[bytes, int] = {}
    sums: list[list[int]] = [[] for _ in range(n_right)]
    for i, item in enumerate(ids):
        k = position.setdefault(encode_identifier(item), len(position))
        for c, column in enumerate(columns):
            if k == len(sums[c]):
                sums[c].append(column[i])
            else:
                sums[c][k] += column[i]
    own = list(position)
    m = len(own)
    nonnegative = [all(v >= 0 for v in column) for column in sums]

    share = elgamal.public_key(keys.share)
    channel.send(peer, RightHello(m, share, integer, decimals, nonnegative))
    hello = channel.recv(peer, LeftHello)
    if not 0 <= hello.size < MAX_RECORDS or not 0 <= hello.left_columns <= MAX_COLUMNS:
        raise ProtocolError("left party announced an invalid hello", peer=peer, step="hello")
    if left_columns is not None and left_columns != hello.left_columns:
        raise ProtocolError(
            f"left party has {hello.left_columns} value columns, expected {left_columns}",
            peer=peer,
            step="hello",
        )
    label_key = _check_point(hello.label_key, peer, "label key")
    joint = elgamal.combine_public_keys(_check_point(hello.key_share, peer, "key share"), share)

    # Step 3 does not depend on A's records: a worker thread prepares it while the main
    # thread serves step 2 (libsodium runs outside the interpreter lock, so the two overlap
    # whenever a core is free); the main thread sends what the worker made, in order.
    per_message = _records_per_message(chunk_size, POINT_BYTES + CIPHERTEXT_BYTES * n_right)
    producer = _OwnEntries(own, sums, keys, per_message)
    try:
        _rekey_and_shuffle(
            channel,
            peer,
            hello.size,
            hello.left_columns,
            keys.psi,
            label_key,
            joint,
            chunk_size,
            report,
        )
        tick = progress_counter(report, "encrypt own records", m)
        for count, entries in producer:
            channel.send(peer, entries)
            tick(count)
    finally:
        producer.close()

    n_cols = hello.left_columns + n_right
    decrypted = _serve_decryption(channel, peer, n_cols, min(hello.size, m), min_cell, keys, report)
    return RightResult(left_size=hello.size, right_size=m, decrypted=decrypted)


class _OwnEntries:
    """B's step-3 messages, made by a worker thread, at most ``_AHEAD`` waiting."""

    def __init__(
        self, ids: list[bytes], columns: list[list[int]], keys: RightKeys, per_message: int
    ) -> None:
        self._ids, self._columns, self._keys = ids, columns, keys
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


def _rekey_and_shuffle(
    channel: Channel,
    peer: str,
    n: int,
    n_left: int,
    psi_key: Scalar,
    label_key: bytes,
    joint: bytes,
    chunk_size: int,
    report: Progress,
) -> None:
    """Step 2 (B's side): re-key A's points, rerandomise its ciphertexts, shuffle, return."""
    step = "left entries"
    error = _protocol_error(peer, step, "an invalid record")
    points, labels = [], []
    values: list[list[bytes]] = [[] for _ in range(n_left)]
    received = 0
    tick = progress_counter(report, "re-key peer records", n)
    while received < n:
        msg = channel.recv(peer, LeftEntries)
        count = _entries_in(msg, n - received, n_left)
        if count is None:
            raise ProtocolError(f"{step}: malformed chunk", peer=peer, step=step)
        try:
            points.append(multiply(psi_key, msg.points))
            labels.append(elgamal.rerandomise(msg.labels, label_key))
            for c, v in enumerate(msg.values):
                values[c].append(elgamal.rerandomise(v, joint))
        except CryptoError as exc:
            raise error(exc) from exc
        received += count
        tick(count)
    perm = secure_permutation(n)
    all_points = _rows(b"".join(points), POINT_BYTES, perm)
    all_labels = _rows(b"".join(labels), CIPHERTEXT_BYTES, perm)
    all_values = [_rows(b"".join(v), CIPHERTEXT_BYTES, perm) for v in values]
    per_message = _records_per_message(chunk_size, POINT_BYTES + CIPHERTEXT_BYTES * (1 + n_left))
    for start in range(0, n, per_message):
        end = start + per_message
        channel.send(
            peer,
            ShuffledEntries(
                all_points[start * POINT_BYTES : end * POINT_BYTES],
                all_labels[start * CIPHERTEXT_BYTES : end * CIPHERTEXT_BYTES],
                [v[start * CIPHERTEXT_BYTES : end * CIPHERTEXT_BYTES] for v in all_values],
            ),
        )


def _serve_decryption(
    channel: Channel,
    peer: str,
    n_cols: int,
    common: int,
    min_cell: int | None,
    keys: RightKeys,
    report: Progress,
) -> int:
    """Step 5 (B's side): return b·C1 for each requested ciphertext; count them."""
    step = "decryption"
    first = channel.recv(peer, DecryptRequest)
    total = first.total
    cells, rest = divmod(total, n_cols) if n_cols else (0, total)
    if total < 0 or rest or (min_cell is not None and cells * min_cell > common):
        raise ProtocolError(
            f"{step}: {total} ciphertexts to decrypt is not a whole number of cells of "
            f"{n_cols} columns with at least {min_cell} persons each among {common}",
            peer=peer,
            step=step,
        )
    tick = progress_counter(report, "decrypt released cells", total)
    done = 0
    msg = first
    while True:
        count, extra = divmod(len(msg.points), POINT_BYTES)
        if extra or msg.total != total or done + count > total or (count == 0 and total):
            raise ProtocolError(f"{step}: malformed request", peer=peer, step=step)
        try:
            shares = elgamal.decryption_shares(msg.points, keys.share)
        except CryptoError as exc:
            raise ProtocolError(f"{step}: invalid point", peer=peer, step=step) from exc
        channel.send(peer, DecryptShares(shares))
        done += count
        tick(count)
        if done == total:
            return total
        msg = channel.recv(peer, DecryptRequest)
