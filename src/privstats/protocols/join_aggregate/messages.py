"""The wire of join-and-aggregate: its messages, their limits and the checks of their shape.

Every message crosses the party boundary, so each carries a kind and a version and is
checked on receipt: a chunk of records must hold whole records of the announced columns,
never more than the sender announced in its hello. Nothing here holds a secret; what each
party learns from these messages is set out in the package docstring.
"""

from __future__ import annotations

from collections.abc import Callable

from privstats.crypto import elgamal
from privstats.crypto.elgamal import CIPHERTEXT_BYTES
from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError, ProtocolError
from privstats.transport.codec import Message, message

__all__ = [
    "CONTEXT",
    "DEFAULT_CHUNK_SIZE",
    "MAX_COLUMNS",
    "MAX_DECIMALS",
    "MAX_GROUPS",
    "MAX_RECORDS",
    "CellContributions",
    "DecryptRequest",
    "DecryptShares",
    "LeftEntries",
    "LeftGo",
    "LeftHello",
    "ReleaseCandidate",
    "ReleaseVerdict",
    "RightEntries",
    "RightHello",
    "ShuffledEntries",
]

CONTEXT = b"privstats.join_aggregate.v1"
"""The hash-to-group context of this protocol's identifiers."""
DEFAULT_CHUNK_SIZE = 8192
MAX_GROUPS = 1_000_000
MAX_COLUMNS = 64
MAX_RECORDS = 2**31
MAX_DECIMALS = 6
PAYLOAD_BYTES = 15 * 2**20
"""Upper limit on the packed bytes of one message, below the channel's 16 MiB."""
DECRYPT_CHUNK = 65_536
"""Ciphertexts per decryption request."""


@message("join_aggregate.left_hello", 2)
class LeftHello(Message):
    size: int
    label_key: bytes
    key_share: bytes
    left_columns: int
    decimals: list[int]  # per left column: its decimal scale (B sizes DP noise by it)


@message("join_aggregate.right_hello", 2)
class RightHello(Message):
    size: int
    key_share: bytes
    integer: list[bool]
    decimals: list[int]
    nonnegative: list[bool]
    refused: str  # non-empty: B refuses the run (A's list is below B's floor), and why
    contributions: bool  # B asks for each candidate cell's matched values (dominance rules)
    noisy: bool  # B adds DP noise to the sums: any sum may be negative


@message("join_aggregate.left_go", 1)
class LeftGo(Message):
    refused: str  # non-empty: A refuses the run (B's list is below A's floor), and why


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


@message("join_aggregate.release_candidate", 1)
class ReleaseCandidate(Message):
    round: int
    keys: list[list[str]]  # the cells A proposes to release (group values or "Total")
    counts: list[int]  # their matched counts
    withheld: list[list[str]]  # the cells A withholds (no counts)


@message("join_aggregate.cell_contributions", 1)
class CellContributions(Message):
    cell: int  # index into the candidate's keys
    column: int  # right value column
    values: bytes  # rerandomised, shuffled ciphertexts of the cell's matched values (a part)


@message("join_aggregate.release_verdict", 1)
class ReleaseVerdict(Message):
    refused: list[list[str]]  # candidate cells B withholds
    reasons: list[str]  # why, one per refused cell


@message("join_aggregate.decrypt_request", 1)
class DecryptRequest(Message):
    total: int
    points: bytes


@message("join_aggregate.decrypt_shares", 1)
class DecryptShares(Message):
    shares: bytes


def check_chunk_size(chunk_size: int) -> None:
    """Refuse a number of records per message outside 1..262144."""
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= 262_144:
        raise ParameterError(
            f"chunk_size must be between 1 and 262144 records, got {chunk_size}",
            parameter="chunk_size",
        )


def records_per_message(chunk_size: int, record_bytes: int) -> int:
    """At most ``chunk_size`` records of ``record_bytes`` each, and no more than fit."""
    return max(1, min(chunk_size, PAYLOAD_BYTES // record_bytes))


def entries_in(msg: LeftEntries | ShuffledEntries, remaining: int, n_left: int) -> int | None:
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


def right_entries_in(msg: RightEntries, remaining: int, n_right: int) -> int | None:
    """The number of records in a chunk of B's records, or None if the chunk is malformed."""
    count, rest = divmod(len(msg.points), POINT_BYTES)
    if (
        rest
        or not 0 < count <= remaining
        or len(msg.values) != n_right
        or any(len(v) != count * CIPHERTEXT_BYTES for v in msg.values)
    ):
        return None
    return count


def check_point(key: bytes, peer: str, what: str) -> bytes:
    """``key`` if it is a valid public key; a ProtocolError blaming ``peer`` otherwise."""
    try:
        elgamal.combine_public_keys(key)
    except (CryptoError, TypeError) as exc:
        raise ProtocolError(f"{peer!r} sent an invalid {what}", peer=peer, step="hello") from exc
    return key


def protocol_error(peer: str, step: str, what: str) -> Callable[[Exception], ProtocolError]:
    """A maker of the ProtocolError for ``peer`` having sent ``what`` at ``step``."""

    def make(exc: Exception) -> ProtocolError:
        return ProtocolError(f"{step}: {peer!r} sent {what}: {exc}", peer=peer, step=step)

    return make
