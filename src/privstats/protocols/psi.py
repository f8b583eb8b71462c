"""Private set intersection cardinality, overall and by group (ECDH, ristretto255).

Two parties. The *receiver* holds a set whose elements each carry a group index (an NSO's
register, grouped by domain); the *sender* holds a plain set (a telecom's customer list).
Both learn, for every group g, the receiver's group size |R_g| and the intersection size
|R_g ∩ S|, and the sender's set size |S| — and nothing else.

Protocol (α, β fresh secret scalars; H hashes an identifier to the group)::

    R → S   ReceiverHello  |R_g| for every group
    S → R   SenderHello    |S|
    R → S   Points         H(r)^α for r in R_g, group by group, each group in random order
    S → R   Points         H(s)^β for s in S, in random order
    S → R   Points         (H(r)^α)^β per group, each group in a fresh random order
    R → S   Counts         |R_g ∩ S| per group; R found them by looking up (H(s)^β)^α

Threat model: both parties semi-honest (they follow the steps but study what they see);
security rests on the decisional Diffie–Hellman assumption in ristretto255 with H as a
random oracle. What each party receives:

- the sender: the group sizes, pseudorandom points H(r)^α it cannot invert or link to any
  identifier without α, and the counts;
- the receiver: |S|, pseudorandom points H(s)^β, and its own points re-keyed and reshuffled
  by the sender, so it learns how many of each group matched but not which;
- a relay between them (the hub): message sizes and timing only, when messages are sealed.

What it leaks beyond the counts: the group sizes and |S|. Callers that must not reveal a
small group merge or pad it before calling (see ``privstats.jobs.coverage``). A
malicious party could cheat (e.g. send chosen points); that is out of scope for this version.

Two privacy options, explicit arguments of both roles:

- ``reveal_counts=False``: the receiver keeps the per-group counts; no ``Counts`` message
  is sent, and the sender learns only what its caller later chooses to tell it (a release
  with small groups withheld). The sender's result then has ``matched == ()``.
- *Dummy matches* (``dummy_pad`` at both roles, ``dummy_matches`` at the sender): so that
  the receiver never sees a noiseless count, the sender adds ``k_g`` guaranteed matches to
  group g (0 ≤ k_g ≤ ``dummy_pad``, e.g. a differential-privacy noise share with an offset
  the caller subtracts later). The receiver sends ``A = α·D`` for a fixed public point D
  (``DummyKey``); for each dummy the sender draws a fresh scalar t and puts ``t·D`` in its
  own set and ``t·A`` among group g's returned points, which the receiver's re-keying
  makes equal: ``α·(t·D) = t·A``. Each group's return is padded to ``|R_g| + dummy_pad``
  points with random points and the own set to ``|S| + n_groups·dummy_pad``, every
  message shuffled, so that the receiver sees neither which points are dummies nor how
  many there are. Revealing ``α·D`` is safe under DDH: telling ``α·H(x)`` from random
  given ``(D, α·D, H(x))`` is a DDH instance (H a random oracle, D's discrete log unknown).
  The receiver's result is then ``m_g + k_g`` per group and ``|S|`` (the announced size
  minus the padding).

Floors on the peer's input: ``min_peer_size`` stops the protocol at the hello, before any
point is sent, when the peer announces fewer identifiers (a one-person list; the data
owner's ``min_peer_rows``).
It could also announce a huge set to make the other party receive and hold points for it;
each side takes ``max_peer_size``, the most identifiers the peer may announce (its
dataset's declared row count), and stops at the hello if the peer announces more.

Messages stream in chunks of ``chunk_size`` points, so memory per party stays about
32 bytes per element of each set plus the identifiers themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.crypto import (
    POINT_BYTES,
    Scalar,
    hash_to_group,
    multiply,
    random_points,
    secure_permutation,
)
from privstats.crypto.random import shuffle_points
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
    "IntersectionCounts",
    "Progress",
    "receiver",
    "sender",
]

DEFAULT_CHUNK_SIZE = 16_384
MAX_GROUPS = 1_000_000
CONTEXT = b"privstats.psi.v1"
SENDER_SET = -1
"""Group index that marks the sender's own points in a ``Points`` message."""


@message("psi.receiver_hello", 1)
class ReceiverHello(Message):
    group_sizes: list[int]


@message("psi.sender_hello", 1)
class SenderHello(Message):
    size: int


@message("psi.points", 1)
class Points(Message):
    group: int
    points: bytes


@message("psi.counts", 1)
class Counts(Message):
    matched: list[int]


@message("psi.dummy_key", 1)
class DummyKey(Message):
    """``α·D``: lets the sender make dummy matches (see the module doc)."""

    point: bytes


DUMMY_BASE = hash_to_group([b"dummy matches"], context=CONTEXT + b".dummy-base")
"""The public point D of dummy matches; nobody knows its discrete logarithm."""


@dataclass(frozen=True)
class IntersectionCounts:
    """What both parties know at the end: sizes and intersection sizes per group."""

    group_sizes: tuple[int, ...]
    matched: tuple[int, ...]
    sender_size: int

    @property
    def receiver_size(self) -> int:
        return sum(self.group_sizes)

    @property
    def total(self) -> int:
        return sum(self.matched)


def _check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= 262_144:
        raise ParameterError(
            f"chunk_size must be between 1 and 262144 points, got {chunk_size}",
            parameter="chunk_size",
        )


def _blind_and_stream(
    channel: Channel,
    peer: str,
    items: Sequence[str | bytes],
    group: int,
    key: Scalar,
    chunk_size: int,
    tick: Callable[[int], None],
) -> None:
    """Send H(x)^key for ``items`` in a uniformly random order, chunk by chunk."""
    order = secure_permutation(len(items))
    for start in range(0, len(items), chunk_size):
        batch = [encode_identifier(items[i]) for i in order[start : start + chunk_size]]
        channel.send(peer, Points(group, multiply(key, hash_to_group(batch, context=CONTEXT))))
        tick(len(batch))


def _receive_points(
    channel: Channel,
    peer: str,
    group: int,
    count: int,
    step: str,
    tick: Callable[[int], None],
    key: Scalar | None = None,
) -> bytes:
    """Receive ``count`` points of ``group`` from ``peer``, multiplied by ``key`` if given."""
    parts = []
    received = 0
    while received < count:
        msg = channel.recv(peer, Points)
        n = _check_points(msg, group, count - received, peer, step)
        try:
            parts.append(msg.points if key is None else multiply(key, msg.points))
        except CryptoError as exc:
            raise ProtocolError(
                f"{step}: {peer!r} sent an invalid group element", peer=peer, step=step
            ) from exc
        received += n
        tick(n)
    return b"".join(parts)


def _check_points(msg: Points, group: int, remaining: int, peer: str, step: str) -> int:
    """The number of points in ``msg``, after checking it is a chunk the step expects."""
    n, rest = divmod(len(msg.points), POINT_BYTES)
    if msg.group != group or rest or n == 0 or n > remaining:
        raise ProtocolError(
            f"{step}: expected up to {remaining} points of group {group}, received "
            f"{len(msg.points)} bytes for group {msg.group}",
            peer=peer,
            step=step,
        )
    return n


def _as_rows(points: bytes) -> npt.NDArray[np.bytes_]:
    return np.frombuffer(points, dtype=f"S{POINT_BYTES}")


def _group_members(
    ids: Sequence[str | bytes], groups: Sequence[int], n_groups: int, distinct: bool
) -> list[list[str | bytes]]:
    """The identifiers of each group; unless ``distinct``, each counted once, first group wins."""
    labelled: Iterable[tuple[str | bytes, int]] = zip(ids, groups, strict=True)
    if not distinct:
        first_group: dict[bytes, int] = {}
        for item, group in labelled:
            first_group.setdefault(encode_identifier(item), group)
        labelled = first_group.items()
    members: list[list[str | bytes]] = [[] for _ in range(n_groups)]
    for item, group in labelled:
        members[group].append(item)
    return members


def _check_max_peer_size(max_peer_size: int | None) -> None:
    if max_peer_size is not None and (
        isinstance(max_peer_size, bool) or not isinstance(max_peer_size, int) or max_peer_size < 0
    ):
        raise ParameterError(
            f"max_peer_size must be a whole number >= 0 or None, got {max_peer_size!r}",
            parameter="max_peer_size",
        )


def _check_announced(
    announced: int, max_peer_size: int | None, peer: str, min_peer_size: int = 0
) -> None:
    """Stop at the hello if ``peer`` announced more identifiers than it may hold, or fewer
    than the data owner's floor ``min_peer_size``."""
    if announced < min_peer_size:
        raise ProtocolError(
            f"hello: {peer!r} announced {announced} identifier{'' if announced == 1 else 's'}, "
            f"fewer than the {min_peer_size} this data owner requires of a peer "
            "(min_peer_rows); stopped before any identifier was exchanged",
            peer=peer,
            step="hello",
        )
    if max_peer_size is not None and announced > max_peer_size:
        raise ProtocolError(
            f"hello: {peer!r} announced {announced} identifier{'' if announced == 1 else 's'}, "
            "more than the "
            f"{max_peer_size} it may hold (the rows its dataset declares); stopped before "
            "receiving them",
            peer=peer,
            step="hello",
        )


def _check_floor(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"{name} must be a whole number >= 0, got {value!r}", parameter=name)


def _prepare_groups(
    ids: Sequence[str | bytes], groups: Sequence[int] | None, n_groups: int | None
) -> tuple[Sequence[int], int]:
    """The group of every identifier and the number of groups, checked."""
    if groups is None:
        groups = [0] * len(ids)
        n_groups = 1 if n_groups is None else n_groups
    if len(groups) != len(ids):
        raise ParameterError(
            f"{len(ids)} identifiers but {len(groups)} group labels", parameter="groups"
        )
    if n_groups is None:
        n_groups = max(groups, default=-1) + 1 or 1
    if not 1 <= n_groups <= MAX_GROUPS:
        raise ParameterError(f"n_groups must be 1..{MAX_GROUPS}, got {n_groups}")
    if len(groups) and not (min(groups) >= 0 and max(groups) < n_groups):
        bad = next(g for g in groups if not 0 <= g < n_groups)
        raise ParameterError(f"group index {bad} is outside 0..{n_groups - 1}", parameter="groups")
    return groups, n_groups


def receiver(
    channel: Channel,
    peer: str,
    ids: Sequence[str | bytes],
    groups: Sequence[int] | None = None,
    *,
    n_groups: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    key: Scalar | None = None,
    progress: Progress | None = None,
    distinct: bool = False,
    max_peer_size: int | None = None,
    min_peer_size: int = 0,
    peer_padding: int = 0,
    reveal_counts: bool = True,
    dummy_pad: int = 0,
) -> IntersectionCounts:
    """Run the receiver's side: returns group sizes and per-group intersection sizes.

    ``groups[i]`` is the group index (``0 <= g < n_groups``) of ``ids[i]``; without
    ``groups`` all elements form group 0. Repeated identifiers count once, in the group of
    their first occurrence. ``distinct=True`` promises that no identifier repeats (as
    ``IdentifierSet.ids`` guarantees) and skips the de-duplication, which for 10⁷
    identifiers saves about a gigabyte of transient memory. ``max_peer_size``: the most
    identifiers the sender may announce (None: no bound), plus ``peer_padding`` random ones
    it may add; more is a ProtocolError, and so is fewer than ``min_peer_size``.
    ``reveal_counts`` and ``dummy_pad``: see the module doc (with dummies, ``matched``
    holds ``m_g + k_g``).
    """
    _check_chunk_size(chunk_size)
    _check_max_peer_size(max_peer_size)
    _check_floor(min_peer_size, "min_peer_size")
    _check_floor(dummy_pad, "dummy_pad")
    report = progress or no_progress
    key = key or Scalar.random()
    groups, n_groups = _prepare_groups(ids, groups, n_groups)
    members = _group_members(ids, groups, n_groups, distinct)
    sizes = [len(m) for m in members]

    channel.send(peer, ReceiverHello(sizes))
    announced = channel.recv(peer, SenderHello).size
    padding = n_groups * dummy_pad
    if announced < padding:
        raise ProtocolError(
            f"hello: {peer!r} announced {announced} points, fewer than its {padding} dummies",
            peer=peer,
            step="hello",
        )
    sender_size = announced - padding
    bound = None if max_peer_size is None else max_peer_size + peer_padding
    _check_announced(sender_size, bound, peer, min_peer_size)
    if dummy_pad:
        channel.send(peer, DummyKey(multiply(key, DUMMY_BASE)))

    tick = progress_counter(report, "blind own set", sum(sizes))
    for group, items in enumerate(members):
        _blind_and_stream(channel, peer, items, group, key, chunk_size, tick)
    del members

    tick = progress_counter(report, "re-key peer set", announced)
    rekeyed = _receive_points(channel, peer, SENDER_SET, announced, "re-key sender set", tick, key)
    lookup = np.sort(_as_rows(rekeyed))
    del rekeyed

    matched = []
    tick = progress_counter(report, "count matches", sum(sizes) + padding)
    for group, size in enumerate(sizes):
        returned = _receive_points(channel, peer, group, size + dummy_pad, "count matches", tick)
        matched.append(_count_members(returned, lookup))
    if reveal_counts:
        channel.send(peer, Counts(matched))
    return IntersectionCounts(tuple(sizes), tuple(matched), sender_size)


def _count_members(points: bytes, lookup: npt.NDArray[np.bytes_]) -> int:
    if not points or lookup.size == 0:
        return 0
    rows = _as_rows(points)
    index = np.minimum(np.searchsorted(lookup, rows), lookup.size - 1)
    return int(np.count_nonzero(lookup[index] == rows))


@dataclass(frozen=True)
class _Dummies:
    """The sender's dummy points: those hidden in its own set, and those per group."""

    own: bytes
    groups: tuple[bytes, ...]


def _make_dummies(dummy_key: bytes, matches: Sequence[int], pad: int, peer: str) -> _Dummies:
    """``k_g`` pairs (t·D in the own set, t·A in group g) and random points up to ``pad``."""
    own: list[bytes] = []
    groups: list[bytes] = []
    try:
        for k in matches:
            scalars = [Scalar.random() for _ in range(k)]
            own += [multiply(t, DUMMY_BASE) for t in scalars]
            paired = b"".join(multiply(t, dummy_key) for t in scalars)
            groups.append(paired + random_points(pad - k))
            own.append(random_points(pad - k))
    except CryptoError as exc:
        raise ProtocolError(
            f"dummies: {peer!r} sent an invalid dummy key", peer=peer, step="dummies"
        ) from exc
    return _Dummies(b"".join(own), tuple(groups))


def _check_dummies(dummy_matches: Sequence[int] | None, pad: int, n_groups: int) -> list[int]:
    matches = list(dummy_matches) if dummy_matches is not None else [0] * n_groups
    if len(matches) != n_groups or any(
        isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= pad for k in matches
    ):
        raise ParameterError(
            f"dummy_matches must give, for each of the receiver's {n_groups} groups, a whole "
            f"number between 0 and dummy_pad={pad}",
            parameter="dummy_matches",
        )
    return matches


def sender(
    channel: Channel,
    peer: str,
    ids: Sequence[str | bytes],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    key: Scalar | None = None,
    progress: Progress | None = None,
    distinct: bool = False,
    max_peer_size: int | None = None,
    min_peer_size: int = 0,
    peer_padding: int = 0,
    reveal_counts: bool = True,
    dummy_pad: int = 0,
    dummy_matches: Sequence[int] | Callable[[int], Sequence[int]] | None = None,
) -> IntersectionCounts:
    """Run the sender's side: returns the same counts the receiver learns.

    ``distinct=True`` promises that no identifier repeats and skips the de-duplication.
    ``max_peer_size``: the most identifiers the receiver may announce over all its groups
    (None: no bound), plus ``peer_padding`` random ones per group; more is a ProtocolError,
    and so is fewer than ``min_peer_size``. ``dummy_matches``: the dummy matches per
    group, or a function of the number of groups that gives them (see the module doc).
    Without ``reveal_counts`` the result's ``matched`` is ``()``.
    """
    _check_chunk_size(chunk_size)
    _check_max_peer_size(max_peer_size)
    _check_floor(min_peer_size, "min_peer_size")
    _check_floor(dummy_pad, "dummy_pad")
    report = progress or no_progress
    key = key or Scalar.random()
    own: Sequence[str | bytes] = (
        ids if distinct else list(dict.fromkeys(map(encode_identifier, ids)))
    )
    own_size = len(own)

    sizes = channel.recv(peer, ReceiverHello).group_sizes
    if not 1 <= len(sizes) <= MAX_GROUPS or any(size < 0 for size in sizes):
        raise ProtocolError("receiver announced invalid group sizes", peer=peer, step="hello")
    bound = None if max_peer_size is None else max_peer_size + peer_padding * len(sizes)
    _check_announced(sum(sizes), bound, peer, min_peer_size)
    chosen = dummy_matches(len(sizes)) if callable(dummy_matches) else dummy_matches
    matches = _check_dummies(chosen, dummy_pad, len(sizes))
    channel.send(peer, SenderHello(own_size + len(sizes) * dummy_pad))
    dummies = _Dummies(b"", ())
    if dummy_pad:
        dummies = _make_dummies(channel.recv(peer, DummyKey).point, matches, dummy_pad, peer)

    tick = progress_counter(report, "blind own set", own_size)
    if dummies.own:
        blinded = multiply(key, hash_to_group(map(encode_identifier, own), context=CONTEXT))
        tick(own_size)
        _stream(channel, peer, SENDER_SET, shuffle_points(blinded + dummies.own), chunk_size)
    else:
        _blind_and_stream(channel, peer, own, SENDER_SET, key, chunk_size, tick)
    del own

    tick = progress_counter(report, "re-key peer set", sum(sizes))
    step = "re-key receiver set"
    for group, size in enumerate(sizes):
        rekeyed = _receive_points(channel, peer, group, size, step, tick, key)
        extra = dummies.groups[group] if dummy_pad else b""
        _stream(channel, peer, group, shuffle_points(rekeyed + extra), chunk_size)

    if not reveal_counts:
        return IntersectionCounts(tuple(sizes), (), own_size)
    matched = channel.recv(peer, Counts).matched
    real = [m - k for m, k in zip(matched, matches, strict=False)]  # without the dummies
    if (
        len(matched) != len(sizes)
        or any(not 0 <= m <= size for m, size in zip(real, sizes, strict=True))
        or sum(real) > own_size
    ):
        raise ProtocolError("receiver reported impossible counts", peer=peer, step="counts")
    return IntersectionCounts(tuple(sizes), tuple(matched), own_size)


def _stream(channel: Channel, peer: str, group: int, points: bytes, chunk_size: int) -> None:
    """Send packed ``points`` of ``group`` in chunks of ``chunk_size``."""
    step = chunk_size * POINT_BYTES
    for start in range(0, len(points), step):
        channel.send(peer, Points(group, points[start : start + step]))
