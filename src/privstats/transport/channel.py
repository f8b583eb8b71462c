"""``Channel``: one party's connection to the other parties of one computation.

Protocols call :meth:`Channel.send` and :meth:`Channel.recv` with typed messages and never
know whether the bytes travel through memory, a loopback socket or the hub's relay.
Implementations move opaque frames (``_send_frame`` / ``_recv_frame``); this base class
encodes, enforces the size limit, checks message types and counts traffic.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from privstats.errors import ParameterError, ProtocolError, TransportError
from privstats.transport.codec import Message, decode, encode

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "DEFAULT_TIMEOUT", "Channel", "TrafficStats"]

M = TypeVar("M", bound=Message)

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 300.0


@dataclass
class TrafficStats:
    """Bytes and messages a party sent and received on one channel."""

    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_sent(self, size: int) -> None:
        with self._lock:
            self.bytes_sent += size
            self.messages_sent += 1

    def add_received(self, size: int) -> None:
        with self._lock:
            self.bytes_received += size
            self.messages_received += 1


class Channel(ABC):
    """A party's ordered, reliable message links to each of its peers.

    ``record=True`` keeps every received frame in :attr:`received` (peer, bytes) so tests
    can check what a party was shown against its protocol's threat model.
    """

    def __init__(
        self,
        party: str,
        peers: Sequence[str],
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        record: bool = False,
    ) -> None:
        if party in peers:
            raise ParameterError(f"party {party!r} cannot be its own peer", parameter="peers")
        if len(set(peers)) != len(peers):
            raise ParameterError(f"peers {list(peers)} name a party twice", parameter="peers")
        if max_message_bytes <= 0 or timeout <= 0:
            raise ParameterError("max_message_bytes and timeout must be positive")
        self.party = party
        self.peers = tuple(peers)
        self.max_message_bytes = max_message_bytes
        self.timeout = timeout
        self.stats = TrafficStats()
        self.received: list[tuple[str, bytes]] | None = [] if record else None

    def send(self, peer: str, msg: Message) -> None:
        """Send ``msg`` to ``peer``; raises TransportError if it cannot be delivered."""
        self._check_peer(peer)
        frame = encode(msg)
        if len(frame) > self.max_message_bytes:
            raise TransportError(
                f"{msg.KIND!r} message of {len(frame)} bytes exceeds the channel limit of "
                f"{self.max_message_bytes} bytes; send it in smaller chunks",
                peer=peer,
            )
        self._send_frame(peer, frame)
        self.stats.add_sent(len(frame))

    def recv(self, peer: str, expect: type[M], *, timeout: float | None = None) -> M:
        """The next message from ``peer``, which must be of type ``expect``."""
        self._check_peer(peer)
        frame = self._recv_frame(peer, self.timeout if timeout is None else timeout)
        if len(frame) > self.max_message_bytes:
            raise ProtocolError(
                f"message of {len(frame)} bytes exceeds the limit of {self.max_message_bytes}",
                peer=peer,
            )
        self.stats.add_received(len(frame))
        if self.received is not None:
            self.received.append((peer, frame))
        return decode(frame, expect, peer=peer)

    def _check_peer(self, peer: str) -> None:
        if peer not in self.peers:
            raise ParameterError(
                f"{peer!r} is not a peer of {self.party!r} on this channel "
                f"(peers: {', '.join(self.peers)})",
                parameter="peer",
            )

    @abstractmethod
    def _send_frame(self, peer: str, frame: bytes) -> None:
        """Deliver one frame to ``peer``, in order."""

    @abstractmethod
    def _recv_frame(self, peer: str, timeout: float) -> bytes:
        """The next frame from ``peer``; raise ChannelTimeoutError after ``timeout`` seconds."""

    @abstractmethod
    def close(self) -> None:
        """Release the channel's resources; peers waiting on this party are told."""

    def __enter__(self) -> Channel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
