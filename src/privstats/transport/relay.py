"""Channels through the hub's per-job mailboxes, sealed and signed end to end.

Between organisations the nodes never connect to each other: each party posts envelopes to
the hub's mailbox of the job and fetches the envelopes addressed to it. A frame is cut
into chunks; each chunk is sealed to the recipient's X25519 box key (libsodium's
``crypto_box_seal``) and travels in an envelope signed with the sender's Ed25519 key::

    envelope  = msgpack [job_id, sender, recipient, seq, last, sealed, signature]
    signature = Ed25519(b"privstats.relay.v1\\n"
                        + msgpack [job_id, sender, recipient, seq, last, sealed])

``seq`` counts the envelopes from one sender to one recipient in one job, from 1 upwards;
``last`` marks the final chunk of a frame. No envelope is larger than ``envelope_bytes``.

Threat model — semi-honest parties, an honest-but-curious hub:

- The hub sees the job, who sends to whom, the sequence numbers, the size of every
  envelope and when it is posted and fetched. It never sees plaintext: only the recipient
  can open a sealed chunk. Sizes and timing do leak; a protocol that must hide them pads.
- The hub cannot forge, alter, replay, reorder or drop-and-replace envelopes unnoticed:
  each is signed by its sender over the job, both parties, its sequence number and its
  sealed bytes, and the recipient accepts only the next sequence number of that link.
  Any such tampering raises :class:`~privstats.errors.ProtocolError` naming the peer.
- The hub can withhold or delay envelopes: the recipient then raises
  :class:`~privstats.errors.ChannelTimeoutError`. When the job ends (failed or
  cancelled), the mailbox raises :class:`~privstats.errors.TransportError` with the reason.
- Sealed boxes are anonymous; the sender is authenticated by its signature only. A
  malicious party could re-sign a sealed chunk it relays as its own (it still cannot read
  it); parties are assumed semi-honest, so this is outside the model.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from privstats.crypto.keys import SIGNATURE_BYTES, NodeKeys, PublicKeys, seal, verify
from privstats.errors import (
    ChannelTimeoutError,
    CryptoError,
    ParameterError,
    ProtocolError,
    TransportError,
)
from privstats.transport.channel import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT, Channel

__all__ = ["DEFAULT_ENVELOPE_BYTES", "Mailbox", "RelayChannel"]

DEFAULT_ENVELOPE_BYTES = 1 << 20

_DOMAIN = b"privstats.relay.v1\n"
_SEAL_OVERHEAD = 48  # crypto_box_seal: ephemeral public key (32 bytes) + MAC (16 bytes)
_MAX_SEQ = 2**64 - 1
_BIN_HEADER_SLACK = 3  # an empty msgpack bin has a 2-byte header; a large one has 5


class Mailbox(Protocol):
    """The hub's per-job mailbox as one node sees it (implemented over HTTP elsewhere)."""

    def post(self, recipient: str, seq: int, envelope: bytes) -> None: ...

    def fetch(self, sender: str, after: int, wait: float) -> list[tuple[int, bytes]]:
        """Envelopes from `sender` to me with seq > after, in seq order; waits up to `wait` s
        for at least one; [] if none. Fetching with `after` acknowledges all seq <= after.
        Raises TransportError when the job has ended (failed/cancelled), with the reason."""
        ...


def _pack(value: list[Any]) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _signed_bytes(
    job_id: str, sender: str, recipient: str, seq: int, last: bool, sealed: bytes
) -> bytes:
    return _DOMAIN + _pack([job_id, sender, recipient, seq, last, sealed])


@dataclass
class _Outbound:
    """Sending state of the link to one peer."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0  # last seq posted
    failure: BaseException | None = None


@dataclass
class _Inbound:
    """Receiving state of the link from one peer."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0  # last seq accepted (and acknowledged at the next fetch)
    pending: deque[tuple[Any, Any]] = field(default_factory=deque)  # fetched, not yet checked
    chunks: list[bytes] = field(default_factory=list)  # opened chunks of the current frame
    size: int = 0
    failure: ProtocolError | None = None


class RelayChannel(Channel):
    """One party's links to its peers through the hub's mailbox of job ``job_id``.

    ``keys`` are this node's secret keys; ``peers`` maps each peer to its public keys (as
    registered with the hub). Frames are cut so that no envelope exceeds
    ``envelope_bytes``; each fetch waits at most ``poll_wait`` seconds at the hub.
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        keys: NodeKeys,
        peers: Mapping[str, PublicKeys],
        mailbox: Mailbox,
        *,
        envelope_bytes: int = DEFAULT_ENVELOPE_BYTES,
        poll_wait: float = 10.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        record: bool = False,
    ) -> None:
        if not isinstance(keys, NodeKeys):
            raise TypeError(f"keys must be NodeKeys, got {type(keys).__name__}")
        if not isinstance(job_id, str) or not job_id:
            raise ParameterError("job_id must be a non-empty string", parameter="job_id")
        for peer, public in peers.items():
            if not isinstance(public, PublicKeys):
                raise TypeError(f"peers[{peer!r}] must be PublicKeys, got {type(public).__name__}")
        if not isinstance(envelope_bytes, int) or isinstance(envelope_bytes, bool):
            raise TypeError(f"envelope_bytes must be an int, got {type(envelope_bytes).__name__}")
        if not poll_wait > 0:
            raise ParameterError(
                f"poll_wait must be positive seconds, got {poll_wait!r}", parameter="poll_wait"
            )
        super().__init__(
            party,
            sorted(peers),
            max_message_bytes=max_message_bytes,
            timeout=timeout,
            record=record,
        )
        self.job_id = job_id
        self.envelope_bytes = envelope_bytes
        self.poll_wait = float(poll_wait)
        self._keys = keys
        self._public = dict(peers)
        self._mailbox = mailbox
        self._chunk_bytes = {peer: self._chunk_capacity(peer) for peer in self.peers}
        self._outbound = {peer: _Outbound() for peer in self.peers}
        self._inbound = {peer: _Inbound() for peer in self.peers}
        self._closed = False

    def _chunk_capacity(self, peer: str) -> int:
        """Plaintext bytes per envelope to ``peer`` so that the envelope fits the limit."""
        header = len(
            _pack([self.job_id, self.party, peer, _MAX_SEQ, False, b"", bytes(SIGNATURE_BYTES)])
        )
        overhead = header + _BIN_HEADER_SLACK + _SEAL_OVERHEAD
        if self.envelope_bytes <= overhead:
            raise ParameterError(
                f"envelope_bytes={self.envelope_bytes} leaves no room for data: an envelope "
                f"from {self.party!r} to {peer!r} in job {self.job_id!r} needs {overhead} bytes "
                f"of header, seal and signature; give more than that (the default is "
                f"{DEFAULT_ENVELOPE_BYTES})",
                parameter="envelope_bytes",
            )
        return self.envelope_bytes - overhead

    # ------------------------------------------------------------------------ sending

    def _send_frame(self, peer: str, frame: bytes) -> None:
        if self._closed:
            raise TransportError(f"channel of {self.party!r} is closed", peer=peer)
        link, box, size = self._outbound[peer], self._public[peer].box, self._chunk_bytes[peer]
        with link.lock:
            if link.failure is not None:
                raise TransportError(
                    f"an earlier send from {self.party!r} to {peer!r} failed part-way; "
                    f"the link cannot be resumed",
                    peer=peer,
                ) from link.failure
            for start in range(0, max(len(frame), 1), size):  # an empty frame: one envelope
                chunk = frame[start : start + size]
                last = start + size >= len(frame)
                seq = link.seq + 1
                sealed = seal(box, chunk)
                signature = self._keys.sign(
                    _signed_bytes(self.job_id, self.party, peer, seq, last, sealed)
                )
                envelope = _pack([self.job_id, self.party, peer, seq, last, sealed, signature])
                try:
                    self._mailbox.post(peer, seq, envelope)
                except Exception as exc:
                    link.failure = exc  # unknown whether the hub kept it: no resuming
                    raise
                link.seq = seq

    # ---------------------------------------------------------------------- receiving

    def _recv_frame(self, peer: str, timeout: float) -> bytes:
        link = self._inbound[peer]
        deadline = time.monotonic() + timeout
        with link.lock:
            if link.failure is not None:
                raise link.failure  # every later recv sees the same failure
            while True:
                try:
                    frame = self._assemble(peer, link)
                except ProtocolError as exc:
                    link.failure = exc
                    raise
                if frame is not None:
                    return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChannelTimeoutError(
                        f"{self.party!r} waited {timeout:g} s for a message from {peer!r} "
                        f"through the hub (job {self.job_id!r}); the peer is slow or the hub "
                        f"is holding its envelopes back",
                        peer=peer,
                    )
                batch = self._mailbox.fetch(peer, link.seq, min(self.poll_wait, remaining))
                link.pending.extend(batch)

    def _assemble(self, peer: str, link: _Inbound) -> bytes | None:
        """Open pending envelopes until a frame is complete; None if they run out first."""
        while link.pending:
            label, envelope = link.pending.popleft()
            chunk, last = self._open(peer, link.seq + 1, label, envelope)
            link.seq += 1
            if not chunk and not last:
                raise ProtocolError(
                    f"envelope {link.seq} from {peer!r} is an empty chunk that is not the last",
                    peer=peer,
                )
            link.size += len(chunk)
            if link.size > self.max_message_bytes:
                raise ProtocolError(
                    f"message from {peer!r} exceeds the limit of {self.max_message_bytes} "
                    f"bytes ({link.size} bytes after envelope {link.seq})",
                    peer=peer,
                )
            link.chunks.append(chunk)
            if last:
                frame = b"".join(link.chunks)
                link.chunks.clear()
                link.size = 0
                return frame
        return None

    def _open(self, peer: str, expected: int, label: Any, envelope: Any) -> tuple[bytes, bool]:
        """Check one envelope from ``peer`` and return its opened chunk and ``last`` flag."""
        fields: Any = None
        if isinstance(envelope, bytes):
            try:
                fields = msgpack.unpackb(envelope, raw=False, strict_map_key=True)
            except (ValueError, TypeError, msgpack.UnpackException):
                fields = None
        if not (
            isinstance(fields, list)
            and len(fields) == 7
            and all(isinstance(v, str) for v in fields[:3])
            and type(fields[3]) is int
            and type(fields[4]) is bool
            and all(isinstance(v, bytes) for v in fields[5:])
        ):
            raise ProtocolError(
                f"the mailbox from {peer!r} held something that is not a relay envelope "
                f"(envelope {expected} was due)",
                peer=peer,
            )
        job_id, sender, recipient, seq, last, sealed, signature = fields
        if job_id != self.job_id:
            raise ProtocolError(
                f"envelope from {peer!r} belongs to job {job_id!r}, not {self.job_id!r}",
                peer=peer,
            )
        if sender != peer or recipient != self.party:
            raise ProtocolError(
                f"envelope in the mailbox from {peer!r} to {self.party!r} is addressed from "
                f"{sender!r} to {recipient!r}",
                peer=peer,
            )
        if seq != expected:
            raise ProtocolError(
                f"envelope from {peer!r} has seq {seq}, expected {expected}: envelopes were "
                f"replayed, reordered or lost on the way",
                peer=peer,
            )
        if type(label) is not int or label != seq:
            raise ProtocolError(
                f"the mailbox labelled envelope {seq} from {peer!r} as seq {label!r}", peer=peer
            )
        signed = _signed_bytes(job_id, sender, recipient, seq, last, sealed)
        if not verify(self._public[peer].sign, signed, signature):
            raise ProtocolError(
                f"envelope {seq} from {peer!r} is not signed by {peer!r}", peer=peer
            )
        try:
            chunk = self._keys.open(sealed)
        except CryptoError as exc:
            raise ProtocolError(
                f"envelope {seq} from {peer!r} does not open with the box key of {self.party!r}",
                peer=peer,
            ) from exc
        return chunk, last

    def close(self) -> None:
        """Refuse further sends. Peers learn that a party stopped when the hub ends the job."""
        self._closed = True
