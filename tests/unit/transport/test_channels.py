"""Contract tests of Channel, run over in-memory channels and over TCP on loopback."""

from __future__ import annotations

import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from privstats.errors import (
    ChannelTimeoutError,
    ComputationError,
    ParameterError,
    ProtocolError,
    TransportError,
)
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, encode, message
from privstats.transport.memory import MemoryNetwork, run_parties
from privstats.transport.tcp import TcpChannel, listen


@message("test.channels.blob", 1)
class Blob(Message):
    seq: int
    payload: bytes


@message("test.channels.note", 1)
class Note(Message):
    text: str


Pair = tuple[Channel, Channel]
MakePair = Callable[..., Pair]

MB = 1 << 20


def payload(direction: str, seq: int, size: int) -> bytes:
    """Deterministic bytes that differ per direction and sequence number."""
    return hashlib.shake_256(f"{direction}:{seq}".encode()).digest(size)


def close_all(channels: list[Channel]) -> None:
    """Close channels concurrently (a TCP close waits for its peer to close too)."""
    threads = [threading.Thread(target=c.close, daemon=True) for c in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads), "closing a channel hung"


def tcp_connect(
    listeners: list[socket.socket],
    options: dict[str, dict[str, Any]],
    tokens: dict[str, bytes] | None = None,
    connect_timeout: float = 10.0,
) -> dict[str, Any]:
    """Connect parties "a" and "b" over loopback; each result is a channel or the exception."""
    own = {party: listen() for party in options}
    listeners.extend(own.values())
    addresses = {party: sock.getsockname()[:2] for party, sock in own.items()}
    token = secrets.token_bytes(32)
    tokens = tokens or {party: token for party in options}
    results: dict[str, Any] = {}

    def join(party: str) -> None:
        try:
            results[party] = TcpChannel.connect(
                party,
                own[party],
                addresses,
                tokens[party],
                connect_timeout=connect_timeout,
                **options[party],
            )
        except BaseException as exc:  # handed to the test
            results[party] = exc

    threads = [threading.Thread(target=join, args=(p,), daemon=True) for p in options]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(connect_timeout + 10)
    assert set(results) == set(options), "connecting hung"
    return results


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


@pytest.fixture
def opened() -> Iterator[list[Channel]]:
    channels: list[Channel] = []
    yield channels
    close_all(channels)


@pytest.fixture(params=["memory", "tcp"])
def make_pair(
    request: pytest.FixtureRequest, listeners: list[socket.socket], opened: list[Channel]
) -> MakePair:
    """Builds two connected channels, parties "a" and "b", with the same options."""

    def make(**options: Any) -> Pair:
        if request.param == "memory":
            network = MemoryNetwork(["a", "b"], **options)
            pair: Pair = (network.channel("a"), network.channel("b"))
        else:
            results = tcp_connect(listeners, {"a": options, "b": options})
            for result in results.values():
                if isinstance(result, Channel):
                    opened.append(result)
            for result in results.values():
                if isinstance(result, BaseException):
                    raise result
            pair = (results["a"], results["b"])
        opened.extend(pair)
        return pair

    return make


# --------------------------------------------------------------------------- delivery


def test_ordered_delivery_both_ways_at_once(make_pair: MakePair) -> None:
    """Both parties send 200 messages (six of 1 MB) before reading; all arrive in order."""
    a, b = make_pair(timeout=30)
    big = {3, 40, 41, 100, 150, 199}
    count = 200

    def messages(direction: str) -> list[Blob]:
        return [
            Blob(seq, payload(direction, seq, MB if seq in big else seq % 97))
            for seq in range(count)
        ]

    outgoing = {"a": messages("a->b"), "b": messages("b->a")}
    received: dict[str, list[Blob]] = {}
    failures: list[BaseException] = []

    def run(channel: Channel, peer: str) -> None:
        try:
            for msg in outgoing[channel.party]:
                channel.send(peer, msg)
            received[channel.party] = [channel.recv(peer, Blob) for _ in range(count)]
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(a, "b"), daemon=True),
        threading.Thread(target=run, args=(b, "a"), daemon=True),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "deadlock: a party never finished"
    assert failures == []
    assert received["b"] == outgoing["a"]
    assert received["a"] == outgoing["b"]


def test_stats_count_bytes_and_messages(make_pair: MakePair) -> None:
    """Traffic stats equal the encoded sizes of the messages sent and received."""
    a, b = make_pair()
    to_b = [Blob(i, payload("x", i, 10 * i)) for i in range(5)]
    to_a = [Note("hello"), Note("wörld" * 50)]
    for msg in to_b:
        a.send("b", msg)
    for msg in to_a:
        b.send("a", msg)
    assert [b.recv("a", Blob) for _ in to_b] == to_b
    assert [a.recv("b", Note) for _ in to_a] == to_a
    size_to_b = sum(len(encode(m)) for m in to_b)
    size_to_a = sum(len(encode(m)) for m in to_a)
    assert (a.stats.bytes_sent, a.stats.messages_sent) == (size_to_b, 5)
    assert (b.stats.bytes_received, b.stats.messages_received) == (size_to_b, 5)
    assert (b.stats.bytes_sent, b.stats.messages_sent) == (size_to_a, 2)
    assert (a.stats.bytes_received, a.stats.messages_received) == (size_to_a, 2)


def test_message_over_the_limit_is_refused_on_send(make_pair: MakePair) -> None:
    """A frame of exactly max_message_bytes goes through; one byte more raises TransportError
    before anything is sent, and the channel keeps working."""
    limit = 1000
    a, b = make_pair(max_message_bytes=limit)
    n = next(n for n in range(limit) if len(encode(Blob(0, bytes(n)))) == limit)
    a.send("b", Blob(0, bytes(n)))
    with pytest.raises(TransportError) as info:
        a.send("b", Blob(1, bytes(n + 1)))
    assert info.value.peer == "b"
    a.send("b", Blob(2, b"after"))
    assert b.recv("a", Blob) == Blob(0, bytes(n))
    assert b.recv("a", Blob) == Blob(2, b"after")
    assert a.stats.messages_sent == 2
    assert a.stats.bytes_sent == limit + len(encode(Blob(2, b"after")))


def test_recv_times_out(make_pair: MakePair) -> None:
    """recv raises ChannelTimeoutError after the channel's (or the call's) timeout, then works."""
    a, b = make_pair(timeout=0.3)
    start = time.monotonic()
    with pytest.raises(ChannelTimeoutError) as info:
        b.recv("a", Blob)
    assert time.monotonic() - start >= 0.25
    assert info.value.peer == "a"
    start = time.monotonic()
    with pytest.raises(ChannelTimeoutError):
        b.recv("a", Blob, timeout=0.05)
    assert time.monotonic() - start < 0.25
    a.send("b", Blob(7, b"late"))
    assert b.recv("a", Blob) == Blob(7, b"late")


def test_closed_peer_is_a_transport_error(make_pair: MakePair) -> None:
    """Messages sent before a peer closes still arrive; then recv raises TransportError at
    once (not a timeout)."""
    a, b = make_pair(timeout=20)
    a.send("b", Blob(1, b"last words"))
    closer = threading.Thread(target=a.close, daemon=True)
    closer.start()
    assert b.recv("a", Blob) == Blob(1, b"last words")
    start = time.monotonic()
    with pytest.raises(TransportError) as info:
        b.recv("a", Blob)
    assert not isinstance(info.value, ChannelTimeoutError)
    assert time.monotonic() - start < 5
    assert info.value.peer == "a"
    b.close()
    closer.join(10)
    assert not closer.is_alive()


def test_send_after_close_is_a_transport_error(make_pair: MakePair) -> None:
    """A closed channel refuses to send."""
    a, b = make_pair()
    close_all([a, b])
    with pytest.raises(TransportError):
        a.send("b", Blob(0, b""))


def test_unknown_peer(make_pair: MakePair) -> None:
    """Sending to or receiving from a party that is not a peer raises ParameterError."""
    a, _ = make_pair()
    for name in ("c", "a", ""):
        with pytest.raises(ParameterError):
            a.send(name, Blob(0, b""))
        with pytest.raises(ParameterError):
            a.recv(name, Blob, timeout=0.1)
    assert a.stats.messages_sent == 0


def test_unexpected_message_type(make_pair: MakePair) -> None:
    """A message of another type than the receiver expects is a ProtocolError."""
    a, b = make_pair()
    a.send("b", Note("surprise"))
    with pytest.raises(ProtocolError) as info:
        b.recv("a", Blob)
    assert info.value.peer == "a"


def test_record_keeps_received_frames(make_pair: MakePair) -> None:
    """With record=True each party keeps (peer, frame) of every message it received."""
    a, b = make_pair(record=True)
    to_b = [Blob(1, b"one"), Blob(2, b"two")]
    for msg in to_b:
        a.send("b", msg)
    b.send("a", Note("back"))
    assert [b.recv("a", Blob) for _ in to_b] == to_b
    assert a.recv("b", Note) == Note("back")
    assert b.received == [("a", encode(m)) for m in to_b]
    assert a.received == [("b", encode(Note("back")))]


def test_no_recording_by_default(make_pair: MakePair) -> None:
    """Without record=True nothing is kept."""
    a, b = make_pair()
    a.send("b", Blob(1, b"x"))
    b.recv("a", Blob)
    assert b.received is None


# --------------------------------------------------------------------------- TCP only


def test_tcp_wrong_token_is_refused(listeners: list[socket.socket], opened: list[Channel]) -> None:
    """A party offering the wrong session token is never accepted: the acceptor times out."""
    results = tcp_connect(
        listeners,
        {"a": {}, "b": {}},
        tokens={"a": secrets.token_bytes(32), "b": secrets.token_bytes(32)},
        connect_timeout=1.0,
    )
    opened.extend(r for r in results.values() if isinstance(r, Channel))
    # "a" sorts first, so it dials "b"; "b" must refuse it
    assert isinstance(results["b"], ChannelTimeoutError)
    assert "from a " in str(results["b"])


def test_tcp_right_token_with_short_timeout_connects(
    listeners: list[socket.socket], opened: list[Channel]
) -> None:
    """Control for the wrong-token test: the same short timeout suffices with equal tokens."""
    results = tcp_connect(listeners, {"a": {}, "b": {}}, connect_timeout=1.0)
    opened.extend(r for r in results.values() if isinstance(r, Channel))
    assert all(isinstance(r, TcpChannel) for r in results.values())


def test_tcp_incoming_frame_over_the_receivers_limit(
    listeners: list[socket.socket], opened: list[Channel]
) -> None:
    """A frame larger than the receiver's own limit is a TransportError on its side."""
    results = tcp_connect(
        listeners, {"a": {"max_message_bytes": 100_000}, "b": {"max_message_bytes": 1000}}
    )
    a, b = results["a"], results["b"]
    opened.extend([a, b])
    a.send("b", Blob(0, bytes(5000)))
    with pytest.raises(TransportError) as info:
        b.recv("a", Blob, timeout=5)
    assert not isinstance(info.value, ChannelTimeoutError)


# --------------------------------------------------------------------------- run_parties


def test_run_parties_returns_each_result() -> None:
    """run_parties gives each role's return value under its party's name."""
    network = MemoryNetwork(["r", "s"], timeout=10)

    def r(channel: Channel) -> int:
        channel.send("s", Blob(20, b""))
        return channel.recv("s", Blob).seq

    def s(channel: Channel) -> int:
        got = channel.recv("r", Blob).seq
        channel.send("r", Blob(got + 1, b""))
        return got * 2

    assert run_parties(network, {"r": r, "s": s}) == {"r": 21, "s": 40}


@pytest.mark.parametrize("failing", ["r", "s"])
def test_run_parties_reports_the_party_that_really_failed(failing: str) -> None:
    """A role raising ValueError is reported as that party, although its peer failed too
    (with the TransportError caused by the closed channel)."""
    network = MemoryNetwork(["r", "s"], timeout=10)
    waiting = "s" if failing == "r" else "r"
    peer_saw: list[BaseException] = []

    def fail(channel: Channel) -> None:
        time.sleep(0.05)  # let the peer start waiting
        raise ValueError("bad input")

    def wait(channel: Channel) -> None:
        try:
            channel.recv(failing, Blob)
        except BaseException as exc:
            peer_saw.append(exc)
            raise

    roles = {failing: fail, waiting: wait}
    ordered = {party: roles[party] for party in ("r", "s")}
    with pytest.raises(ComputationError) as info:
        run_parties(network, ordered)
    assert info.value.party == failing
    assert isinstance(info.value.__cause__, ValueError)
    assert failing in str(info.value)
    assert len(peer_saw) == 1
    assert isinstance(peer_saw[0], TransportError)
    assert not isinstance(peer_saw[0], ChannelTimeoutError)


def test_run_parties_prefers_the_real_failure_over_an_earlier_transport_error() -> None:
    """When a peer's TransportError is recorded first (it timed out waiting), the party
    whose role raised ValueError later is still the one reported."""
    network = MemoryNetwork(["r", "s"], timeout=10)
    peer_failed = threading.Event()

    def impatient(channel: Channel) -> None:
        try:
            channel.recv("s", Blob, timeout=0.05)
        finally:
            peer_failed.set()

    def fail_late(channel: Channel) -> None:
        assert peer_failed.wait(10)
        time.sleep(0.05)  # let run_parties record the peer's error first
        raise ValueError("bad input")

    with pytest.raises(ComputationError) as info:
        run_parties(network, {"r": impatient, "s": fail_late})
    assert info.value.party == "s"
    assert isinstance(info.value.__cause__, ValueError)


def test_run_parties_reports_a_timeout() -> None:
    """A role whose peer never answers fails with ChannelTimeoutError, reported as that party."""
    network = MemoryNetwork(["r", "s"], timeout=0.2)

    def silent(channel: Channel) -> str:
        return "done"

    def waiting(channel: Channel) -> None:
        channel.recv("s", Blob)

    with pytest.raises(ComputationError) as info:
        run_parties(network, {"r": waiting, "s": silent})
    assert info.value.party == "r"
    assert isinstance(info.value.__cause__, ChannelTimeoutError)
