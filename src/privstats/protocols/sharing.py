"""Additive secret sharing in the ring Z/2^(64·L), and the secure sum built on it.

A value ``v`` is split among ``n`` parties as ``n`` ring elements that add up to ``v``
modulo ``2^(64·L)``; any ``n − 1`` of them are uniformly random and independent of ``v``.
``L = 1`` (the ring Z/2⁶⁴, one ``uint64`` per element) is the fast, vectorised case for
long vectors; ``L > 1`` limbs give room for exact sums of large integers, such as
second moments of fixed-point values, with carries propagated limb by limb in numpy.

Secure sum (every party holds a vector of the same length)::

    each party i   draws n−1 uniformly random vectors r_ij and sends r_ij to party j;
                   keeps s_ii = x_i − Σ_j r_ij
    each party j   adds what it kept and what it received: p_j = s_jj + Σ_i r_ij
    each party j   sends p_j to every recipient; a recipient adds all p_j = Σ_i x_i

Threat model: all parties semi-honest (they follow the steps but study what they see); the
hub relays sealed messages and sees only sizes. With ``n`` parties, any coalition of up
to ``n − 1`` learns nothing beyond the total and its own inputs: each share it receives
from an honest party is uniform, and the partial sums it sees are uniform subject to
adding up to the total. What each party receives: ``n − 1`` uniform share vectors, and,
if it is a recipient, ``n − 1`` partial sums. What is revealed: exactly the total.

Overflow: sums are exact only while the true total stays inside the signed range
``(−2^(64L−1), 2^(64L−1))``. Each party checks, before sharing and without telling
anyone, that every one of its values is below ``2^(64L−1) / n`` in absolute value, so the
total of ``n`` parties cannot wrap; a party whose data break the bound stops with a
ParameterError instead of returning a wrong total.

Fixed point: :class:`FixedPoint` (``privstats.data.fixed_point``, re-exported here) encodes
a real ``x`` as the integer ``round(x·2^f)``; the encoding error is at most ``2^−(f+1)`` per
value, so a sum of ``N`` encoded values is within ``N·2^−(f+1)`` of the real sum.
Randomness comes from ``secrets`` (the OS CSPRNG).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.data.fixed_point import FixedPoint
from privstats.errors import ParameterError, ProtocolError
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "FixedPoint",
    "Ring",
    "RingArray",
    "secure_sum",
]

RingArray = npt.NDArray[np.uint64]
"""Ring elements: shape ``(count, limbs)``, limb 0 the least significant 64 bits."""

DEFAULT_CHUNK_ELEMENTS = 1 << 16
"""Elements per message: 512 KiB messages move faster than 8 MiB ones (measured)."""
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Ring:
    """The ring Z/2^(64·limbs), its elements as ``uint64`` arrays of shape (count, limbs)."""

    limbs: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.limbs <= 8:
            raise ParameterError(f"a ring has 1 to 8 limbs of 64 bits, not {self.limbs}")

    @property
    def bits(self) -> int:
        return 64 * self.limbs

    def bound(self, parties: int) -> int:
        """The largest |value| a party may contribute so that ``parties`` values cannot wrap."""
        if parties < 1:
            raise ParameterError(f"parties must be at least 1, got {parties}", parameter="parties")
        return ((1 << (self.bits - 1)) - 1) // parties

    def zeros(self, count: int) -> RingArray:
        return np.zeros((count, self.limbs), dtype=np.uint64)

    def random(self, count: int) -> RingArray:
        """``count`` uniformly random elements, from the operating system's CSPRNG."""
        raw = secrets.token_bytes(8 * self.limbs * count)
        return np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(count, self.limbs)

    def from_int64(self, values: npt.ArrayLike, *, parties: int = 1) -> RingArray:
        """Encode signed 64-bit integers, refusing any |value| above :meth:`bound`."""
        array = np.asarray(values)
        if array.dtype.kind not in "iu":
            raise ParameterError(f"ring elements are made from integers, not {array.dtype}")
        array = array.astype(np.int64, copy=False).reshape(-1)
        if self.limbs == 1:
            limit = self.bound(parties)
            if array.size and max(-int(array.min()), int(array.max())) > limit:
                raise ParameterError(
                    f"a value exceeds {limit} in absolute value, the most that {parties} "
                    "parties can add exactly in Z/2^64; use a smaller fixed-point scale",
                    parameter="values",
                )
            return array.view(np.uint64).reshape(-1, 1).copy()
        out = self.zeros(array.size)
        out[:, 0] = array.view(np.uint64)
        out[:, 1:] = np.where(array < 0, np.uint64(_MASK), np.uint64(0))[:, None]
        return out

    def from_ints(self, values: Sequence[int], *, parties: int = 1) -> RingArray:
        """Encode Python integers of any size, refusing any |value| above :meth:`bound`."""
        limit = self.bound(parties)
        out = self.zeros(len(values))
        modulus = 1 << self.bits
        for i, value in enumerate(values):
            value = int(value)
            if abs(value) > limit:
                raise ParameterError(
                    f"value {value} exceeds {limit} in absolute value, the most that {parties} "
                    f"parties can add exactly in Z/2^{self.bits}",
                    parameter="values",
                )
            value %= modulus
            for k in range(self.limbs):
                out[i, k] = (value >> (64 * k)) & _MASK
        return out

    def to_ints(self, elements: RingArray) -> list[int]:
        """The signed integers (two's complement) that ``elements`` represent."""
        half, modulus = 1 << (self.bits - 1), 1 << self.bits
        values = []
        for row in self._check(elements).tolist():
            value = sum(int(limb) << (64 * k) for k, limb in enumerate(row))
            values.append(value - modulus if value >= half else value)
        return values

    def to_int64(self, elements: RingArray) -> npt.NDArray[np.int64]:
        """The signed values of single-limb elements, as an int64 array."""
        if self.limbs != 1:
            raise ParameterError("to_int64 is for the one-limb ring; use to_ints")
        return self._check(elements)[:, 0].view(np.int64).copy()

    def add(self, a: RingArray, b: RingArray) -> RingArray:
        a, b = self._check(a), self._check(b)
        total = a + b
        if self.limbs > 1:
            carry = total < a
            for k in range(1, self.limbs):
                total[:, k] += carry[:, k - 1]
                carry[:, k] |= total[:, k] < carry[:, k - 1]
        return total

    def neg(self, a: RingArray) -> RingArray:
        one = self.zeros(len(a))
        one[:, 0] = 1
        return self.add(~self._check(a), one)

    def sub(self, a: RingArray, b: RingArray) -> RingArray:
        if self.limbs == 1:
            return self._check(a) - self._check(b)
        return self.add(a, self.neg(b))

    def share(self, values: RingArray, parties: int) -> list[RingArray]:
        """Split ``values`` into ``parties`` additive shares; all but the last are uniform."""
        if parties < 1:
            raise ParameterError(f"parties must be at least 1, got {parties}", parameter="parties")
        values = self._check(values)
        shares = [self.random(len(values)) for _ in range(parties - 1)]
        last = values
        for share in shares:
            last = self.sub(last, share)
        return [*shares, last]

    def reconstruct(self, shares: Sequence[RingArray]) -> RingArray:
        total = self._check(shares[0]).copy()
        for share in shares[1:]:
            total = self.add(total, share)
        return total

    def to_bytes(self, elements: RingArray) -> bytes:
        return self._check(elements).astype("<u8", copy=False).tobytes()

    def from_bytes(self, data: bytes) -> RingArray:
        size = 8 * self.limbs
        if len(data) % size:
            raise ProtocolError(f"{len(data)} bytes is not a whole number of ring elements")
        # read-only view of the received bytes: ring arithmetic always makes new arrays
        return np.frombuffer(data, dtype="<u8").reshape(-1, self.limbs)

    def _check(self, elements: RingArray) -> RingArray:
        if elements.dtype != np.uint64 or elements.ndim != 2 or elements.shape[1] != self.limbs:
            raise ParameterError(
                f"expected ring elements of shape (count, {self.limbs}) and dtype uint64, got "
                f"{elements.shape} {elements.dtype}"
            )
        return elements


@message("sharing.share", 1)
class ShareChunk(Message):
    start: int
    data: bytes


@message("sharing.partial", 1)
class PartialChunk(Message):
    start: int
    data: bytes


def secure_sum(
    channel: Channel,
    parties: Sequence[str],
    values: RingArray,
    ring: Ring,
    *,
    recipients: Sequence[str] | None = None,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> RingArray | None:
    """Add every party's ``values`` (same length everywhere); recipients get the total.

    ``parties`` lists every party of the sum, this one included, in the same order at
    every party. ``recipients`` defaults to all of them; the others get None. The caller
    encodes with :meth:`Ring.from_ints`/:meth:`Ring.from_int64` and ``parties=len(parties)``
    so that the total cannot wrap.
    """
    me = channel.party
    if me not in parties or len(set(parties)) != len(parties) or len(parties) < 2:
        raise ParameterError(
            f"secure_sum needs at least two distinct parties including {me!r}, got {list(parties)}",
            parameter="parties",
        )
    targets = list(parties if recipients is None else recipients)
    if not set(targets) <= set(parties):
        raise ParameterError(f"recipients {targets} are not all parties of the sum")
    values = ring._check(values)
    count = len(values)
    step = max(1, chunk_elements // ring.limbs)
    others = [p for p in parties if p != me]

    kept = values
    for peer in others:
        mask = ring.random(count)
        kept = ring.sub(kept, mask)
        _send_chunked(channel, peer, ShareChunk, ring, mask, step)
    partial = kept
    for peer in others:
        partial = ring.add(partial, _recv_chunked(channel, peer, ShareChunk, ring, count, step))
    for peer in targets:
        if peer != me:
            _send_chunked(channel, peer, PartialChunk, ring, partial, step)
    if me not in targets:
        return None
    total = partial
    for peer in others:
        total = ring.add(total, _recv_chunked(channel, peer, PartialChunk, ring, count, step))
    return total


def _send_chunked(
    channel: Channel,
    peer: str,
    kind: type[ShareChunk] | type[PartialChunk],
    ring: Ring,
    elements: RingArray,
    step: int,
) -> None:
    if len(elements) == 0:
        channel.send(peer, kind(0, b""))
    for start in range(0, len(elements), step):
        channel.send(peer, kind(start, ring.to_bytes(elements[start : start + step])))


def _recv_chunked(
    channel: Channel,
    peer: str,
    kind: type[ShareChunk] | type[PartialChunk],
    ring: Ring,
    count: int,
    step: int,
) -> RingArray:
    parts = []
    received = 0
    while True:
        msg = channel.recv(peer, kind)
        part = ring.from_bytes(msg.data)
        if msg.start != received or len(part) > step or received + len(part) > count:
            raise ProtocolError(
                f"{peer!r} sent a {kind.KIND} chunk at {msg.start} with {len(part)} elements; "
                f"expected one at {received} of a vector of {count}",
                peer=peer,
                step=kind.KIND,
            )
        parts.append(part)
        received += len(part)
        if received == count:
            break
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
