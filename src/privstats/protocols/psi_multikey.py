"""Multi-key PSI cardinality: a record matches when ANY of its match keys is the peer's.

Two parties, as :mod:`privstats.protocols.psi`. The *receiver* (the register) holds
records, each with a group index (its domain) and J match keys, one per rule
(:mod:`privstats.linkage.match_keys`; ``""`` or None where a rule has no key for it);
the *sender* (the source) holds records with keys under the same J rules. A receiver
record is *matched* when for at least one rule j its key j equals the key j of some
sender record. Both learn, per group g, the number of records |R_g|, the matched count
m_g, and the matched count per rule m_gj (a record matched by several rules counts once
in m_g and once in every m_gj); and the sender's record count |S|.

Key j of a record is hashed with the rule index j (context ``privstats.psi-multikey.v1``
and j), so that keys of different rules never match, even when their texts agree.

Protocol (α, β fresh secret scalars; H_j hashes a rule-j key to the group)::

    R → S   ReceiverHello  |R_g| for every group, J
    S → R   SenderHello    |S|, J
    R → S   Points         per group, records in random order, each record's J points
                           H_j(k_rj)^α in rule order (a random point where it has no key)
    S → R   Points         the distinct H_j(k_sj)^β over all its records and rules, padded
                           with random points to J·|S|, in random order
    S → R   Points         per group, the receiver's tuples re-keyed ^β, whole tuples in
                           a fresh random order (each tuple's rule order kept)
    R → S   Counts         m_g and m_gj per group (only with ``reveal_counts``)

The receiver re-keys the sender's points by α and looks up every point of every
returned tuple: point j of a tuple found means rule j matched that (anonymous) record.

Threat model: both parties semi-honest; security rests on DDH in ristretto255 with H_j
as random oracles (the same primitives as :mod:`.psi`, libsodium through
:mod:`privstats.crypto`). What each party receives:

- the sender: the group sizes and J; the receiver's points H_j(k)^α per group, tuple by
  tuple; the counts if revealed. It cannot invert a point without α; it *does* see
  which tuples share a point at the same position, i.e. how often a rule's key repeats
  among the register's records of a group (two persons with the same
  ``soundex(surname)+dob+sex``) — the pattern of repeats, never the keys. A random point
  stands in for a missing key, so it does not learn which records miss a field either.
- the receiver: |S| and J; J·|S| pseudorandom points (the source's distinct keys
  hidden among random padding, so it learns neither how many keys the source misses nor
  how often they repeat); and its own tuples re-keyed and shuffled as wholes. So it
  learns, per group, how many records matched and, for each of those anonymous records,
  which rules matched: the table of match patterns per group (how many records matched
  by rules 1 and 3 but not 2…), of which m_g and m_gj are margins. It does not learn
  which of its records matched, which source record matched it, nor which rules matched
  any given record of its own.
- a relay between them: message sizes and timing only, when messages are sealed.

Out of scope in this version: malicious parties (a sender could send chosen points),
dummy matches and differential-privacy noise (the single-key :mod:`.psi` has them).
Floors on the peer's input, ``max_peer_size`` / ``min_peer_size`` / ``peer_padding``,
work as in :mod:`.psi` and count records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.crypto import POINT_BYTES, Scalar, hash_to_group, multiply, random_points
from privstats.crypto.random import secure_permutation, shuffle_points
from privstats.errors import ParameterError, ProtocolError
from privstats.linkage.match_keys import MAX_RULES
from privstats.protocols._steps import Progress, encode_identifier, no_progress, progress_counter
from privstats.protocols.psi import (
    DEFAULT_CHUNK_SIZE,
    MAX_GROUPS,
    SENDER_SET,
    _check_announced,
    _check_chunk_size,
    _check_floor,
    _check_max_peer_size,
    _receive_points,
    _stream,
)
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "CONTEXT",
    "MultiKeyCounts",
    "receiver",
    "rule_context",
    "sender",
]

CONTEXT = b"privstats.psi-multikey.v1"

Keys = Sequence[str | bytes | None]
"""One record's keys, one per rule; ``""``/None where the rule has no key for it."""


@message("psi_multikey.receiver_hello", 1)
class ReceiverHello(Message):
    group_sizes: list[int]
    rules: int


@message("psi_multikey.sender_hello", 1)
class SenderHello(Message):
    size: int
    rules: int


@message("psi_multikey.counts", 1)
class Counts(Message):
    matched: list[int]
    by_rule: list[list[int]]


@dataclass(frozen=True)
class MultiKeyCounts:
    """What both parties know at the end: per group the records, the records matched by
    any rule and the records matched by each rule; the sender's record count."""

    group_sizes: tuple[int, ...]
    matched: tuple[int, ...]
    matched_by_rule: tuple[tuple[int, ...], ...]
    sender_size: int

    @property
    def total(self) -> int:
        return sum(self.matched)

    @property
    def total_by_rule(self) -> tuple[int, ...]:
        """Per rule, the matched records over all groups."""
        return tuple(int(sum(col)) for col in zip(*self.matched_by_rule, strict=True))


def rule_context(rule: int) -> bytes:
    """The hash context of rule ``rule``'s keys: rules never share a point."""
    return CONTEXT + b".rule." + str(rule).encode()


def _hash_keys(keys: Keys, rule: int) -> bytes:
    """H_j of every key of rule ``rule``, a random point where there is none."""
    present = [i for i, k in enumerate(keys) if k]
    hashed = hash_to_group(
        [encode_identifier(keys[i]) for i in present],  # type: ignore[arg-type]
        context=rule_context(rule),
    )
    if len(present) == len(keys):
        return hashed
    out = bytearray(random_points(len(keys)))
    for n, i in enumerate(present):
        out[i * POINT_BYTES : (i + 1) * POINT_BYTES] = hashed[
            n * POINT_BYTES : (n + 1) * POINT_BYTES
        ]
    return bytes(out)


def _tuples(records: Sequence[Keys], n_rules: int) -> bytes:
    """Each record's J unkeyed points, record after record (rule order within)."""
    columns = [_hash_keys([r[j] for r in records], j) for j in range(n_rules)]
    rows = [
        np.frombuffer(col, dtype=np.uint8).reshape(len(records), POINT_BYTES) for col in columns
    ]
    if not records:
        return b""
    return np.stack(rows, axis=1).tobytes()


def _shuffle_tuples(points: bytes, n_rules: int) -> bytes:
    """Whole tuples of ``n_rules`` points in a uniformly random order."""
    width = n_rules * POINT_BYTES
    rows = np.frombuffer(points, dtype=np.uint8).reshape(len(points) // width, width)
    return rows[secure_permutation(rows.shape[0])].tobytes()


def _check_records(records: Sequence[Keys], n_rules: int, who: str) -> None:
    if not 1 <= n_rules <= MAX_RULES:
        raise ParameterError(f"n_rules must be 1..{MAX_RULES}, got {n_rules}", parameter="n_rules")
    bad = next((i for i, r in enumerate(records) if len(r) != n_rules), None)
    if bad is not None:
        raise ParameterError(
            f"{who} record {bad} has {len(records[bad])} keys, not one per rule ({n_rules})",
            parameter="records",
        )


def _check_groups(
    groups: Sequence[int] | None, n: int, n_groups: int | None
) -> tuple[list[int], int]:
    labels = [0] * n if groups is None else list(groups)
    if len(labels) != n:
        raise ParameterError(f"{n} records but {len(labels)} group labels", parameter="groups")
    count = n_groups if n_groups is not None else max(labels, default=-1) + 1 or 1
    if not 1 <= count <= MAX_GROUPS:
        raise ParameterError(f"n_groups must be 1..{MAX_GROUPS}, got {count}", parameter="n_groups")
    if any(not 0 <= g < count for g in labels):
        bad = next(g for g in labels if not 0 <= g < count)
        raise ParameterError(f"group index {bad} is outside 0..{count - 1}", parameter="groups")
    return labels, count


def _send_chunks(
    channel: Channel, peer: str, group: int, points: bytes, chunk: int, tick: Callable[[int], None]
) -> None:
    _stream(channel, peer, group, points, chunk)
    tick(len(points) // POINT_BYTES)


def receiver(
    channel: Channel,
    peer: str,
    records: Sequence[Keys],
    groups: Sequence[int] | None = None,
    *,
    n_rules: int,
    n_groups: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    key: Scalar | None = None,
    progress: Progress | None = None,
    max_peer_size: int | None = None,
    min_peer_size: int = 0,
    peer_padding: int = 0,
    reveal_counts: bool = True,
) -> MultiKeyCounts:
    """Run the receiver's side: per group, records matched by any rule and by each rule.

    ``records[i]`` holds record i's ``n_rules`` keys; ``groups[i]`` its group (all 0
    without ``groups``). Every record counts (the caller de-duplicates persons). The
    floors and ``reveal_counts`` are those of :func:`privstats.protocols.psi.receiver`.
    """
    _check_chunk_size(chunk_size)
    _check_max_peer_size(max_peer_size)
    _check_floor(min_peer_size, "min_peer_size")
    _check_records(records, n_rules, "register")
    labels, n_groups = _check_groups(groups, len(records), n_groups)
    report = progress or no_progress
    key = key or Scalar.random()
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for index, group in enumerate(labels):
        members[group].append(index)
    sizes = [len(m) for m in members]

    channel.send(peer, ReceiverHello(sizes, n_rules))
    hello = channel.recv(peer, SenderHello)
    if hello.rules != n_rules:
        raise ProtocolError(
            f"hello: {peer!r} builds {hello.rules} match keys per record, this side "
            f"{n_rules}; both must use the same rules",
            peer=peer,
            step="hello",
        )
    bound = None if max_peer_size is None else max_peer_size + peer_padding
    _check_announced(hello.size, bound, peer, min_peer_size)

    tick = progress_counter(report, "blind own keys", sum(sizes) * n_rules)
    for group, indices in enumerate(members):
        order = secure_permutation(len(indices))
        chosen = [records[indices[i]] for i in order]
        blinded = multiply(key, _tuples(chosen, n_rules)) if chosen else b""
        _send_chunks(channel, peer, group, blinded, chunk_size, tick)
    del members

    announced = hello.size * n_rules
    tick = progress_counter(report, "re-key peer keys", announced)
    rekeyed = _receive_points(channel, peer, SENDER_SET, announced, "re-key sender keys", tick, key)
    lookup = np.sort(np.frombuffer(rekeyed, dtype=f"S{POINT_BYTES}"))
    del rekeyed

    matched: list[int] = []
    by_rule: list[list[int]] = []
    tick = progress_counter(report, "count matches", sum(sizes) * n_rules)
    for group, size in enumerate(sizes):
        returned = _receive_points(channel, peer, group, size * n_rules, "count matches", tick)
        found = _found(returned, lookup).reshape(size, n_rules)
        matched.append(int(found.any(axis=1).sum()))
        by_rule.append([int(n) for n in found.sum(axis=0)])
    if reveal_counts:
        channel.send(peer, Counts(matched, by_rule))
    return MultiKeyCounts(tuple(sizes), tuple(matched), tuple(map(tuple, by_rule)), hello.size)


def _found(points: bytes, lookup: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
    """For every packed point, whether it is in the sorted ``lookup``."""
    rows = np.frombuffer(points, dtype=f"S{POINT_BYTES}")
    if rows.size == 0 or lookup.size == 0:
        return np.zeros(rows.size, dtype=bool)
    index = np.minimum(np.searchsorted(lookup, rows), lookup.size - 1)
    return np.asarray(lookup[index] == rows)


def _own_points(records: Sequence[Keys], n_rules: int, key: Scalar) -> bytes:
    """The distinct (rule, key) points keyed by ``key``, padded with random points to
    ``n_rules`` per record, shuffled."""
    distinct: list[bytes] = []
    for rule in range(n_rules):
        keys = list(dict.fromkeys(encode_identifier(r[rule]) for r in records if r[rule]))  # type: ignore[arg-type]
        if keys:
            distinct.append(hash_to_group(keys, context=rule_context(rule)))
    own = b"".join(distinct)
    blinded = multiply(key, own) if own else b""
    padding = random_points(len(records) * n_rules - len(own) // POINT_BYTES)
    return shuffle_points(blinded + padding)


def sender(
    channel: Channel,
    peer: str,
    records: Sequence[Keys],
    *,
    n_rules: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    key: Scalar | None = None,
    progress: Progress | None = None,
    max_peer_size: int | None = None,
    min_peer_size: int = 0,
    peer_padding: int = 0,
    reveal_counts: bool = True,
) -> MultiKeyCounts:
    """Run the sender's side: returns what the receiver reveals (``matched == ()`` and
    no per-rule counts without ``reveal_counts``). ``peer_padding``: records the receiver
    may add per group beyond ``max_peer_size``."""
    _check_chunk_size(chunk_size)
    _check_max_peer_size(max_peer_size)
    _check_floor(min_peer_size, "min_peer_size")
    _check_records(records, n_rules, "source")
    report = progress or no_progress
    key = key or Scalar.random()

    hello = channel.recv(peer, ReceiverHello)
    sizes = hello.group_sizes
    if not 1 <= len(sizes) <= MAX_GROUPS or any(size < 0 for size in sizes):
        raise ProtocolError("receiver announced invalid group sizes", peer=peer, step="hello")
    if hello.rules != n_rules:
        raise ProtocolError(
            f"hello: {peer!r} builds {hello.rules} match keys per record, this side "
            f"{n_rules}; both must use the same rules",
            peer=peer,
            step="hello",
        )
    bound = None if max_peer_size is None else max_peer_size + peer_padding * len(sizes)
    _check_announced(sum(sizes), bound, peer, min_peer_size)
    channel.send(peer, SenderHello(len(records), n_rules))

    tick = progress_counter(report, "blind own keys", len(records) * n_rules)
    _send_chunks(channel, peer, SENDER_SET, _own_points(records, n_rules, key), chunk_size, tick)

    tick = progress_counter(report, "re-key peer keys", sum(sizes) * n_rules)
    for group, size in enumerate(sizes):
        rekeyed = _receive_points(
            channel, peer, group, size * n_rules, "re-key receiver keys", tick, key
        )
        _stream(channel, peer, group, _shuffle_tuples(rekeyed, n_rules), chunk_size)

    if not reveal_counts:
        return MultiKeyCounts(tuple(sizes), (), (), len(records))
    counts = channel.recv(peer, Counts)
    if (
        len(counts.matched) != len(sizes)
        or len(counts.by_rule) != len(sizes)
        or any(
            not 0 <= m <= size
            or len(row) != n_rules
            or any(not 0 <= c <= m for c in row)
            or (m and max(row) == 0)
            or sum(row) < m
            for m, row, size in zip(counts.matched, counts.by_rule, sizes, strict=True)
        )
    ):
        raise ProtocolError("receiver reported impossible counts", peer=peer, step="counts")
    return MultiKeyCounts(
        tuple(sizes), tuple(counts.matched), tuple(map(tuple, counts.by_rule)), len(records)
    )
