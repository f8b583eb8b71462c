"""Channels between separate OS processes over TCP, for local multi-process runs.

Each party listens on its own socket (loopback by default); for every pair the party whose
name sorts first connects to the other and opens with a handshake naming itself and a
shared session token, which the acceptor checks in constant time. Frames are length-
prefixed. A reader thread per peer drains the socket into a queue so that two parties
streaming to each other at once never deadlock on full socket buffers.

This link is neither encrypted nor authenticated beyond the token: it is meant for
processes of one machine on loopback. Between organisations, use the hub relay.
"""

from __future__ import annotations

import contextlib
import hmac
import queue
import socket
import struct
import threading
import time
from collections.abc import Mapping

import msgpack

from privstats.errors import ChannelTimeoutError, ParameterError, TransportError
from privstats.transport.channel import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT, Channel

__all__ = ["TcpChannel", "listen"]

_HEADER = struct.Struct(">I")
_HANDSHAKE_LIMIT = 4096
Address = tuple[str, int]


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket for one party (port 0: the system picks a free port)."""
    sock = socket.create_server((host, port), backlog=16)
    return sock


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_frame(sock: socket.socket, limit: int) -> bytes | None:
    header = _read_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise TransportError(f"incoming frame of {size} bytes exceeds the limit of {limit}")
    return _read_exact(sock, size)


class TcpChannel(Channel):
    """One party's TCP links to each peer."""

    def __init__(
        self,
        party: str,
        sockets: Mapping[str, socket.socket],
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        record: bool = False,
    ) -> None:
        super().__init__(
            party,
            sorted(sockets),
            max_message_bytes=max_message_bytes,
            timeout=timeout,
            record=record,
        )
        self._sockets = dict(sockets)
        self._send_locks = {peer: threading.Lock() for peer in sockets}
        self._inbox: dict[str, queue.SimpleQueue[bytes | BaseException]] = {
            peer: queue.SimpleQueue() for peer in sockets
        }
        self._readers = [
            threading.Thread(target=self._read_loop, args=(peer,), daemon=True, name=f"rx-{peer}")
            for peer in sockets
        ]
        for reader in self._readers:
            reader.start()
        self._closed = False

    @classmethod
    def connect(
        cls,
        party: str,
        listener: socket.socket,
        addresses: Mapping[str, Address],
        token: bytes,
        *,
        connect_timeout: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout: float = DEFAULT_TIMEOUT,
        record: bool = False,
    ) -> TcpChannel:
        """Join the mesh of ``addresses`` (every party, this one included) as ``party``."""
        if party not in addresses:
            raise ParameterError(f"{party!r} is not among the parties {sorted(addresses)}")
        peers = sorted(p for p in addresses if p != party)
        sockets: dict[str, socket.socket] = {}
        deadline = time.monotonic() + connect_timeout
        try:
            for peer in (p for p in peers if party < p):
                sockets[peer] = cls._dial(party, peer, addresses[peer], token, deadline)
            expected = {p for p in peers if p < party}
            listener.settimeout(1.0)
            while expected:
                if time.monotonic() > deadline:
                    raise ChannelTimeoutError(
                        f"{party!r}: no connection from {', '.join(sorted(expected))} "
                        f"within {connect_timeout:g} s"
                    )
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                joined = cls._accept_handshake(conn, expected, token)
                if joined is None:
                    conn.close()
                    continue
                expected.discard(joined)
                sockets[joined] = conn
        except BaseException:
            for sock in sockets.values():
                sock.close()
            raise
        return cls(
            party,
            sockets,
            max_message_bytes=max_message_bytes,
            timeout=timeout,
            record=record,
        )

    @staticmethod
    def _dial(
        party: str, peer: str, address: Address, token: bytes, deadline: float
    ) -> socket.socket:
        while True:
            try:
                sock = socket.create_connection(address, timeout=5.0)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ChannelTimeoutError(
                        f"{party!r} could not connect to {peer!r} at {address[0]}:{address[1]}: "
                        f"{exc}",
                        peer=peer,
                    ) from exc
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hello = msgpack.packb([party, token], use_bin_type=True)
        sock.sendall(_HEADER.pack(len(hello)) + hello)
        return sock

    @staticmethod
    def _accept_handshake(conn: socket.socket, expected: set[str], token: bytes) -> str | None:
        conn.settimeout(5.0)
        try:
            frame = _read_frame(conn, _HANDSHAKE_LIMIT)
            name, offered = msgpack.unpackb(frame or b"", raw=False)
        except (OSError, ValueError, TypeError, TransportError, msgpack.UnpackException):
            return None
        if not isinstance(name, str) or not isinstance(offered, bytes):
            return None
        if not hmac.compare_digest(offered, token) or name not in expected:
            return None
        conn.settimeout(None)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return name

    def _read_loop(self, peer: str) -> None:
        sock, inbox = self._sockets[peer], self._inbox[peer]
        try:
            while True:
                frame = _read_frame(sock, self.max_message_bytes)
                if frame is None:
                    inbox.put(TransportError(f"{peer!r} closed the connection", peer=peer))
                    return
                inbox.put(frame)
        except (OSError, TransportError) as exc:
            inbox.put(TransportError(f"connection to {peer!r} failed: {exc}", peer=peer))

    def _send_frame(self, peer: str, frame: bytes) -> None:
        if self._closed:
            raise TransportError(f"channel of {self.party!r} is closed", peer=peer)
        try:
            with self._send_locks[peer]:
                self._sockets[peer].sendall(_HEADER.pack(len(frame)) + frame)
        except OSError as exc:
            raise TransportError(f"could not send to {peer!r}: {exc}", peer=peer) from exc

    def _recv_frame(self, peer: str, timeout: float) -> bytes:
        try:
            item = self._inbox[peer].get(timeout=timeout)
        except queue.Empty:
            raise ChannelTimeoutError(
                f"{self.party!r} waited {timeout:g} s for a message from {peer!r}", peer=peer
            ) from None
        if isinstance(item, BaseException):
            self._inbox[peer].put(item)  # every later recv sees the same failure
            raise item
        return item

    def close(self, *, linger: float = 5.0) -> None:
        """Finish sending, wait briefly for peers to finish too, then close the sockets."""
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        for sock in self._sockets.values():
            sock.close()
