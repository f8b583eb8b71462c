"""In-memory channels between parties that run as threads of one process.

Frames are still encoded and decoded, so every protocol test over memory exercises the
same wire form as a real deployment.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from privstats.errors import ChannelTimeoutError, ComputationError, ParameterError, TransportError
from privstats.transport.channel import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT, Channel

__all__ = ["MemoryChannel", "MemoryNetwork", "run_parties"]

_CLOSED = b""


class MemoryNetwork:
    """A set of parties joined pairwise by in-memory queues."""

    def __init__(
        self,
        parties: Sequence[str],
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        record: bool = False,
    ) -> None:
        if len(parties) < 2 or len(set(parties)) != len(parties):
            raise ParameterError(f"a network needs two or more distinct parties, got {parties}")
        self.parties = tuple(parties)
        self._queues: dict[tuple[str, str], queue.SimpleQueue[bytes]] = {
            (a, b): queue.SimpleQueue() for a in parties for b in parties if a != b
        }
        self._options: dict[str, Any] = {
            "max_message_bytes": max_message_bytes,
            "timeout": timeout,
            "record": record,
        }
        self._channels: dict[str, MemoryChannel] = {}

    def channel(self, party: str) -> MemoryChannel:
        """The channel of ``party`` (one per party; asking twice gives the same one)."""
        if party not in self.parties:
            raise ParameterError(f"{party!r} is not in this network ({', '.join(self.parties)})")
        if party not in self._channels:
            self._channels[party] = MemoryChannel(self, party)
        return self._channels[party]


class MemoryChannel(Channel):
    """One party's end of a :class:`MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork, party: str) -> None:
        peers = [p for p in network.parties if p != party]
        super().__init__(party, peers, **network._options)
        self._network = network
        self._closed = False

    def _send_frame(self, peer: str, frame: bytes) -> None:
        if self._closed:
            raise TransportError(f"channel of {self.party!r} is closed", peer=peer)
        self._network._queues[(self.party, peer)].put(frame)

    def _recv_frame(self, peer: str, timeout: float) -> bytes:
        try:
            frame = self._network._queues[(peer, self.party)].get(timeout=timeout)
        except queue.Empty:
            raise ChannelTimeoutError(
                f"{self.party!r} waited {timeout:g} s for a message from {peer!r}", peer=peer
            ) from None
        if frame == _CLOSED:
            self._network._queues[(peer, self.party)].put(_CLOSED)  # later recvs fail at once
            raise TransportError(f"{peer!r} closed its channel", peer=peer)
        return frame

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for peer in self.peers:
                self._network._queues[(self.party, peer)].put(_CLOSED)


def run_parties(
    network: MemoryNetwork, roles: Mapping[str, Callable[[Channel], Any]]
) -> dict[str, Any]:
    """Run each party's role in its own thread over ``network``; return their results.

    If a role raises, its channel is closed (so peers stop waiting) and a
    ComputationError naming the first failed party is raised from the original error.
    """
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(party: str, role: Callable[[Channel], Any]) -> None:
        channel = network.channel(party)
        try:
            results[party] = role(channel)
        except BaseException as exc:  # reported to the caller below
            errors[party] = exc
            channel.close()

    threads = [
        threading.Thread(target=run, args=(party, role), name=f"party-{party}", daemon=True)
        for party, role in roles.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        # a peer's TransportError is usually the echo of the party that really failed
        first = next(
            (p for p, e in errors.items() if not isinstance(e, TransportError)), next(iter(errors))
        )
        cause = errors[first]
        raise ComputationError(f"party {first!r} failed: {cause}", party=first) from cause
    return results
