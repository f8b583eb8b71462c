"""RelayChannel over an in-memory fake of the hub's mailbox: delivery, chunking, what the
hub sees, and that every kind of tampering by the hub is caught."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.crypto.keys import NodeKeys, seal, verify
from privstats.errors import ChannelTimeoutError, ParameterError, ProtocolError, TransportError
from privstats.transport.codec import Message, encode, message
from privstats.transport.relay import DEFAULT_ENVELOPE_BYTES, RelayChannel

KiB = 1 << 10
MiB = 1 << 20
JOB = "job-1"
DOMAIN = b"privstats.relay.v1\n"
KEYS = {name: NodeKeys.generate() for name in ("a", "b", "c")}
PUBLIC = {name: keys.public for name, keys in KEYS.items()}


@message("test.relay.ping", 1)
class Ping(Message):
    round: int
    text: str


@message("test.relay.pong", 1)
class Pong(Message):
    round: int
    values: list[int]


@message("test.relay.blob", 1)
class Blob(Message):
    payload: bytes


class FakeHub:
    """The hub's mailboxes of one job: lists of (seq, envelope) per (sender, recipient)."""

    def __init__(self, batch: int = 1000) -> None:
        self.boxes: dict[tuple[str, str], list[tuple[int, bytes]]] = {}
        self.posted: list[bytes] = []  # everything the hub ever stored: its view
        self.acked: dict[tuple[str, str], int] = {}
        self.batch = batch
        self.release_upto: int | None = None  # withhold envelopes with a higher seq
        self.ended: str | None = None
        self.cond = threading.Condition()

    def mailbox(self, me: str) -> FakeMailbox:
        return FakeMailbox(self, me)

    def end(self, reason: str) -> None:
        with self.cond:
            self.ended = reason
            self.cond.notify_all()

    def release(self) -> None:
        with self.cond:
            self.release_upto = None
            self.cond.notify_all()


class FakeMailbox:
    """One node's door to a FakeHub, with the Mailbox interface."""

    def __init__(self, hub: FakeHub, me: str) -> None:
        self.hub = hub
        self.me = me
        self.fetches = 0

    def post(self, recipient: str, seq: int, envelope: bytes) -> None:
        hub = self.hub
        with hub.cond:
            if hub.ended is not None:
                raise TransportError(f"job ended: {hub.ended}")
            hub.boxes.setdefault((self.me, recipient), []).append((seq, envelope))
            hub.posted.append(envelope)
            hub.cond.notify_all()

    def fetch(self, sender: str, after: int, wait: float) -> list[tuple[int, bytes]]:
        hub = self.hub
        self.fetches += 1
        key = (sender, self.me)
        deadline = time.monotonic() + wait

        def ready() -> list[tuple[int, bytes]]:
            box = hub.boxes.setdefault(key, [])
            box[:] = [(s, e) for s, e in box if s > after]  # acknowledged: dropped
            hub.acked[key] = max(hub.acked.get(key, 0), after)
            cap = hub.release_upto
            return [(s, e) for s, e in box if cap is None or s <= cap][: hub.batch]

        with hub.cond:
            while True:
                if hub.ended is not None:
                    raise TransportError(f"job ended: {hub.ended}")
                found = ready()
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                hub.cond.wait(remaining)


def make_pair(
    hub: FakeHub | None = None, *, job: str = JOB, **options: Any
) -> tuple[RelayChannel, RelayChannel, FakeHub]:
    hub = hub or FakeHub()
    options.setdefault("timeout", 10.0)
    options.setdefault("poll_wait", 0.5)
    a = RelayChannel("a", job, KEYS["a"], {"b": PUBLIC["b"]}, hub.mailbox("a"), **options)
    b = RelayChannel("b", job, KEYS["b"], {"a": PUBLIC["a"]}, hub.mailbox("b"), **options)
    return a, b, hub


def envelope(
    *,
    job: str = JOB,
    sender: str = "a",
    recipient: str = "b",
    seq: int = 1,
    last: bool = True,
    chunk: bytes | None = None,
    sealed_to: str = "b",
    signer: str = "a",
) -> bytes:
    """An envelope built by hand, following the documented wire form."""
    plain = encode(Blob(b"hand-made")) if chunk is None else chunk
    sealed = seal(PUBLIC[sealed_to].box, plain)
    body = [job, sender, recipient, seq, last, sealed]
    signature = KEYS[signer].sign(DOMAIN + msgpack.packb(body, use_bin_type=True))
    packed: bytes = msgpack.packb([*body, signature], use_bin_type=True)
    return packed


def run_both(roles: dict[str, Callable[[], Any]], limit: float = 30.0) -> dict[str, Any]:
    """Run each role in its own thread; re-raise the first error."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(name: str, role: Callable[[], Any]) -> None:
        try:
            results[name] = role()
        except BaseException as exc:  # handed to the test
            errors[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in roles.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(limit)
    assert not any(thread.is_alive() for thread in threads), "a party hung"
    if errors:
        raise next(iter(errors.values()))
    return results


# --------------------------------------------------------------------------- delivery


def test_round_trip_of_messages_in_two_threads() -> None:
    """A few rounds of ping/pong between two threads arrive intact and in order."""
    a, b, _ = make_pair()
    rounds = 5

    def alice() -> list[Pong]:
        replies = []
        for r in range(rounds):
            a.send("b", Ping(r, f"héllo {r}"))
            replies.append(a.recv("b", Pong))
        return replies

    def bob() -> list[Ping]:
        pings = []
        for r in range(rounds):
            ping = b.recv("a", Ping)
            pings.append(ping)
            b.send("a", Pong(r, list(range(r * 100))))
        return pings

    results = run_both({"a": alice, "b": bob})

    assert results["b"] == [Ping(r, f"héllo {r}") for r in range(rounds)]
    assert results["a"] == [Pong(r, list(range(r * 100))) for r in range(rounds)]
    assert a.stats.messages_sent == b.stats.messages_received == rounds


def test_large_frame_is_chunked_and_reassembled_exactly() -> None:
    """3 MiB in 64 KiB envelopes: many envelopes, none above the limit, the same bytes back."""
    a, b, hub = make_pair(envelope_bytes=64 * KiB)
    data = hashlib.shake_256(b"large").digest(3 * MiB)

    a.send("b", Blob(data))
    received = b.recv("a", Blob)

    assert received.payload == data
    assert len(hub.posted) >= (3 * MiB) // (64 * KiB)
    assert all(len(e) <= 64 * KiB for e in hub.posted)
    assert max(len(e) for e in hub.posted) > 63 * KiB  # envelopes are filled, not padded out


def test_envelopes_follow_the_documented_wire_form() -> None:
    """Each stored envelope is [job, sender, recipient, seq, last, sealed, signature], seq
    counts 1, 2, 3 … per link, ``last`` ends each frame, and the signature verifies."""
    a, _, hub = make_pair(envelope_bytes=4 * KiB)
    a.send("b", Blob(b"x" * 10_000))  # three envelopes
    a.send("b", Ping(1, "one envelope"))

    stored = hub.boxes[("a", "b")]
    fields = [msgpack.unpackb(e, raw=False) for _, e in stored]

    assert [s for s, _ in stored] == [f[3] for f in fields] == [1, 2, 3, 4]
    assert [f[4] for f in fields] == [False, False, True, True]
    for job, sender, recipient, seq, last, sealed, signature in fields:
        assert (job, sender, recipient) == (JOB, "a", "b")
        body = msgpack.packb([job, sender, recipient, seq, last, sealed], use_bin_type=True)
        assert verify(PUBLIC["a"].sign, DOMAIN + body, signature)
    assert KEYS["b"].open(fields[3][5]) == encode(Ping(1, "one envelope"))


def test_several_frames_fetched_at_once_arrive_in_order() -> None:
    """Envelopes of later frames fetched in one batch are kept for the next recv."""
    a, b, _ = make_pair(envelope_bytes=1 * KiB)
    sent = [Blob(bytes([i]) * (i * 700)) for i in range(6)]
    for msg in sent:
        a.send("b", msg)

    assert [b.recv("a", Blob) for _ in sent] == sent


def test_hub_sees_no_plaintext() -> None:
    """The hub's store holds neither the payload, nor any piece of it, nor the message kind."""
    a, b, hub = make_pair(envelope_bytes=8 * KiB)
    canary = b"CANARY-" + secrets.token_bytes(16)
    payload = canary * 2000
    a.send("b", Blob(payload))
    a.send("b", Ping(7, "the secret text of ping"))
    assert b.recv("a", Blob).payload == payload

    view = b"".join(hub.posted)
    assert canary not in view
    assert b"CANARY" not in view
    assert b"test.relay" not in view
    assert b"the secret text" not in view


def test_a_delayed_frame_completes_once_the_hub_releases_it() -> None:
    """Withheld envelopes time out the recv; once released, the same frame arrives whole."""
    a, b, hub = make_pair(envelope_bytes=1 * KiB, poll_wait=0.05)
    hub.release_upto = 1  # the hub lets through the first envelope only
    data = hashlib.shake_256(b"delayed").digest(5 * KiB)
    a.send("b", Blob(data))

    with pytest.raises(ChannelTimeoutError):
        b.recv("a", Blob, timeout=0.2)
    hub.release()

    assert b.recv("a", Blob).payload == data


def test_fetch_acknowledges_what_was_received() -> None:
    """The next fetch tells the hub the last seq accepted, so it can drop those envelopes."""
    a, b, hub = make_pair(poll_wait=0.05)
    a.send("b", Ping(1, "x"))
    a.send("b", Ping(2, "y"))
    b.recv("a", Ping)
    b.recv("a", Ping)

    with pytest.raises(ChannelTimeoutError):
        b.recv("a", Ping, timeout=0.1)

    assert hub.acked[("a", "b")] == 2
    assert hub.boxes[("a", "b")] == []


# hypothesis draws short byte strings itself; long ones are expanded from a drawn seed
payload_bytes = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda seed, size: hashlib.shake_256(seed).digest(size),
        st.binary(max_size=8),
        st.integers(min_value=0, max_value=64 * KiB),
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    payloads=st.lists(payload_bytes, min_size=1, max_size=4),
    envelope_bytes=st.integers(min_value=200, max_value=16 * KiB),
)
def test_any_payloads_round_trip_with_any_envelope_size(
    payloads: list[bytes], envelope_bytes: int
) -> None:
    a, b, hub = make_pair(envelope_bytes=envelope_bytes)
    for payload in payloads:
        a.send("b", Blob(payload))

    assert [b.recv("a", Blob).payload for _ in payloads] == payloads
    assert all(len(e) <= envelope_bytes for e in hub.posted)


# --------------------------------------------------------------------------- tampering


def tamper_fields(stored: list[tuple[int, bytes]], index: int, **changes: Any) -> None:
    """Rewrite fields of a stored envelope without re-signing it."""
    names = ["job", "sender", "recipient", "seq", "last", "sealed", "signature"]
    seq, raw = stored[index]
    fields = msgpack.unpackb(raw, raw=False)
    for name, value in changes.items():
        fields[names.index(name)] = value(fields[names.index(name)]) if callable(value) else value
    stored[index] = (seq, msgpack.packb(fields, use_bin_type=True))


def flip_byte(data: bytes) -> bytes:
    return data[:40] + bytes([data[40] ^ 1]) + data[41:]


def resign(stored: list[tuple[int, bytes]], index: int, signer: str) -> None:
    seq, raw = stored[index]
    fields = msgpack.unpackb(raw, raw=False)
    body = DOMAIN + msgpack.packb(fields[:6], use_bin_type=True)
    fields[6] = KEYS[signer].sign(body)
    stored[index] = (seq, msgpack.packb(fields, use_bin_type=True))


def test_flipped_byte_in_sealed_part_is_refused() -> None:
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    tamper_fields(hub.boxes[("a", "b")], 0, sealed=flip_byte)

    with pytest.raises(ProtocolError, match="not signed by 'a'") as err:
        b.recv("a", Ping)
    assert err.value.peer == "a"


def test_signature_of_another_node_is_refused() -> None:
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    resign(hub.boxes[("a", "b")], 0, signer="c")

    with pytest.raises(ProtocolError, match="not signed by 'a'"):
        b.recv("a", Ping)


def test_garbled_signature_is_refused() -> None:
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    tamper_fields(hub.boxes[("a", "b")], 0, signature=flip_byte)

    with pytest.raises(ProtocolError, match="not signed by 'a'"):
        b.recv("a", Ping)


def test_swapped_envelopes_are_refused() -> None:
    """The hub delivers envelope 2 before envelope 1."""
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    a.send("b", Ping(2, "y"))
    stored = hub.boxes[("a", "b")]
    stored[0], stored[1] = stored[1], stored[0]

    with pytest.raises(ProtocolError, match="has seq 2, expected 1") as err:
        b.recv("a", Ping)
    assert err.value.peer == "a"


def test_rewritten_seq_is_refused() -> None:
    """The hub renumbers envelope 2 as 1 (and labels it so): the signature no longer fits."""
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    a.send("b", Ping(2, "y"))
    stored = hub.boxes[("a", "b")]
    del stored[0]
    tamper_fields(stored, 0, seq=1)
    stored[0] = (1, stored[0][1])

    with pytest.raises(ProtocolError, match="not signed by 'a'"):
        b.recv("a", Ping)


def test_mislabelled_envelope_is_refused() -> None:
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    stored = hub.boxes[("a", "b")]
    stored[0] = (5, stored[0][1])

    with pytest.raises(ProtocolError, match="labelled envelope 1"):
        b.recv("a", Ping)


def test_replayed_envelope_is_refused() -> None:
    """After envelope 1 was received, the hub delivers it again (as the next one)."""
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    first = hub.boxes[("a", "b")][0][1]
    assert b.recv("a", Ping) == Ping(1, "x")
    hub.boxes[("a", "b")].append((2, first))

    with pytest.raises(ProtocolError, match="has seq 1, expected 2"):
        b.recv("a", Ping)


def test_envelope_sealed_to_another_node_is_refused() -> None:
    """Signed by a and addressed to b, but sealed to c's key: b cannot open it."""
    _, b, hub = make_pair()
    hub.boxes[("a", "b")] = [(1, envelope(sealed_to="c"))]

    with pytest.raises(ProtocolError, match="does not open") as err:
        b.recv("a", Blob)
    assert err.value.peer == "a"


def test_envelope_of_another_job_is_refused() -> None:
    """An envelope of job-2, validly signed and sealed, replayed into job-1's mailbox."""
    other, _, other_hub = make_pair(job="job-2")
    other.send("b", Ping(1, "from job 2"))
    _, b, hub = make_pair()
    hub.boxes[("a", "b")] = list(other_hub.boxes[("a", "b")])

    with pytest.raises(ProtocolError, match="belongs to job 'job-2'"):
        b.recv("a", Ping)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"recipient": "c"}, "addressed from 'a' to 'c'"),
        ({"sender": "c", "signer": "c"}, "addressed from 'c' to 'b'"),
    ],
)
def test_misaddressed_envelope_is_refused(fields: dict[str, str], match: str) -> None:
    _, b, hub = make_pair()
    hub.boxes[("a", "b")] = [(1, envelope(**fields))]  # type: ignore[arg-type]

    with pytest.raises(ProtocolError, match=match):
        b.recv("a", Blob)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xc1 not msgpack",
        msgpack.packb({"job": JOB}),
        msgpack.packb([JOB, "a", "b", 1, True, b"sealed"]),
        msgpack.packb([JOB, "a", "b", True, True, b"sealed", b"sig"]),
        msgpack.packb([JOB, "a", "b", 1, 1, b"sealed", b"sig"]),
    ],
    ids=["garbage", "map", "six-fields", "bool-seq", "int-last"],
)
def test_malformed_envelope_is_refused(raw: bytes) -> None:
    _, b, hub = make_pair()
    hub.boxes[("a", "b")] = [(1, raw)]

    with pytest.raises(ProtocolError, match="not a relay envelope"):
        b.recv("a", Blob)


def test_link_stays_broken_after_a_protocol_error() -> None:
    a, b, hub = make_pair()
    a.send("b", Ping(1, "x"))
    tamper_fields(hub.boxes[("a", "b")], 0, sealed=flip_byte)
    with pytest.raises(ProtocolError):
        b.recv("a", Ping)
    a.send("b", Ping(2, "y"))

    with pytest.raises(ProtocolError, match="not signed"):
        b.recv("a", Ping)


def test_oversized_frame_is_refused_before_it_is_all_fetched() -> None:
    """The receiver stops at the first envelope that takes the frame over its limit."""
    hub = FakeHub(batch=1)
    a = RelayChannel("a", JOB, KEYS["a"], {"b": PUBLIC["b"]}, hub.mailbox("a"), envelope_bytes=KiB)
    b = RelayChannel(
        "b", JOB, KEYS["b"], {"a": PUBLIC["a"]}, hub.mailbox("b"), max_message_bytes=4 * KiB
    )
    a.send("b", Blob(bytes(64 * KiB)))
    total = len(hub.posted)

    with pytest.raises(ProtocolError, match="exceeds the limit of 4096"):
        b.recv("a", Blob)
    assert hub.acked[("a", "b")] <= 5 < total


# --------------------------------------------------------------------------- failures


def test_timeout_when_nothing_arrives() -> None:
    _, b, _ = make_pair(poll_wait=0.05)
    start = time.monotonic()

    with pytest.raises(ChannelTimeoutError, match=r"waited 0\.2 s for a message from 'a'") as err:
        b.recv("a", Ping, timeout=0.2)
    assert err.value.peer == "a"
    assert time.monotonic() - start < 2.0


def test_fetch_waits_no_longer_than_the_timeout() -> None:
    """A long poll_wait is cut to what is left of the timeout."""
    _, b, _ = make_pair(poll_wait=30.0)
    start = time.monotonic()

    with pytest.raises(ChannelTimeoutError):
        b.recv("a", Ping, timeout=0.2)
    assert time.monotonic() - start < 2.0


def test_ended_job_propagates_from_fetch_and_post() -> None:
    a, b, hub = make_pair()
    hub.end("cancelled by the analyst")

    with pytest.raises(TransportError, match="cancelled by the analyst") as err:
        b.recv("a", Ping)
    assert not isinstance(err.value, ChannelTimeoutError)
    with pytest.raises(TransportError, match="cancelled by the analyst"):
        a.send("b", Ping(1, "x"))
    with pytest.raises(TransportError, match="failed part-way"):
        a.send("b", Ping(2, "y"))


def test_send_after_close_fails() -> None:
    a, _, hub = make_pair()
    with a:
        a.send("b", Ping(1, "x"))

    with pytest.raises(TransportError, match="closed"):
        a.send("b", Ping(2, "y"))
    assert len(hub.posted) == 1


# --------------------------------------------------------------------------- parameters


def test_default_envelope_size_is_one_mebibyte() -> None:
    a, _, _ = make_pair()
    assert a.envelope_bytes == DEFAULT_ENVELOPE_BYTES == MiB


def test_envelope_size_must_leave_room_for_data() -> None:
    """Header, seal and signature of an a→b envelope in job-1 take 140 bytes: 140 is refused,
    141 carries one byte of data per envelope, and no envelope exceeds it."""
    with pytest.raises(ParameterError, match="envelope_bytes=140 leaves no room") as err:
        make_pair(envelope_bytes=140)
    assert err.value.parameter == "envelope_bytes"

    a, b, hub = make_pair(envelope_bytes=141)
    a.send("b", Ping(1, "tiny"))
    assert b.recv("a", Ping) == Ping(1, "tiny")
    assert len(hub.posted) == len(encode(Ping(1, "tiny")))
    assert all(len(e) <= 141 for e in hub.posted)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"poll_wait": 0}, ParameterError),
        ({"job": ""}, ParameterError),
        ({"envelope_bytes": 1.5}, TypeError),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_pair(**options)


def test_bad_keys_are_refused() -> None:
    hub = FakeHub()
    with pytest.raises(TypeError, match="peers\\['b'\\] must be PublicKeys"):
        RelayChannel("a", JOB, KEYS["a"], {"b": b"key"}, hub.mailbox("a"))  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="keys must be NodeKeys"):
        RelayChannel("a", JOB, PUBLIC["a"], {"b": PUBLIC["b"]}, hub.mailbox("a"))  # type: ignore[arg-type]


def test_unknown_peer_is_refused() -> None:
    a, _, _ = make_pair()
    with pytest.raises(ParameterError, match="'c' is not a peer of 'a'"):
        a.send("c", Ping(1, "x"))
