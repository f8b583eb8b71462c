"""Correctness of PSI cardinality by group, against plaintext set arithmetic, and its checks
of what a faulty or malicious peer sends."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.crypto import POINT_BYTES, Scalar, hash_to_group, multiply, random_points
from privstats.errors import ComputationError, ParameterError, ProtocolError
from privstats.protocols import psi
from privstats.protocols.psi import (
    SENDER_SET,
    Counts,
    IntersectionCounts,
    Points,
    ReceiverHello,
    SenderHello,
)
from privstats.transport.channel import Channel
from privstats.transport.codec import Message
from privstats.transport.memory import MemoryNetwork, run_parties

Identifier = str | bytes


def canonical(item: Identifier) -> bytes:
    return item.encode("utf-8") if isinstance(item, str) else item


def plaintext_counts(
    r_ids: Sequence[Identifier],
    groups: Sequence[int] | None,
    n_groups: int,
    s_ids: Sequence[Identifier],
) -> IntersectionCounts:
    """The intended result, by plain set arithmetic: a repeated identifier counts once, in
    the group of its first occurrence; a str and its UTF-8 bytes are the same identifier."""
    labels = [0] * len(r_ids) if groups is None else groups
    first: dict[bytes, int] = {}
    for item, group in zip(r_ids, labels, strict=True):
        first.setdefault(canonical(item), group)
    sender_set = {canonical(item) for item in s_ids}
    sizes = tuple(sum(1 for g in first.values() if g == k) for k in range(n_groups))
    matched = tuple(
        sum(1 for x, g in first.items() if g == k and x in sender_set) for k in range(n_groups)
    )
    return IntersectionCounts(sizes, matched, len(sender_set))


def run_psi(
    r_ids: Sequence[Identifier],
    s_ids: Sequence[Identifier],
    groups: Sequence[int] | None = None,
    *,
    n_groups: int | None = None,
    r_chunk: int = psi.DEFAULT_CHUNK_SIZE,
    s_chunk: int = psi.DEFAULT_CHUNK_SIZE,
) -> tuple[IntersectionCounts, IntersectionCounts]:
    """Run both honest parties over memory; return (receiver's result, sender's result)."""
    network = MemoryNetwork(["r", "s"], timeout=30)
    results = run_parties(
        network,
        {
            "r": lambda ch: psi.receiver(
                ch, "s", r_ids, groups, n_groups=n_groups, chunk_size=r_chunk
            ),
            "s": lambda ch: psi.sender(ch, "r", s_ids, chunk_size=s_chunk),
        },
    )
    return results["r"], results["s"]


# --------------------------------------------------------------------------- known answers


def test_known_answer_with_groups_and_duplicates() -> None:
    """A hand-checked case: duplicates count once, in the group of their first occurrence."""
    r_ids = ["anna", "bert", "anna", "cleo", "dora", "bert", "emil"]
    groups = [1, 0, 0, 2, 2, 1, 0]
    s_ids = ["bert", "cleo", "zora", "anna", "zora"]
    # group 0: bert, emil; group 1: anna; group 2: cleo, dora
    expected = IntersectionCounts(group_sizes=(2, 1, 2), matched=(1, 1, 1), sender_size=4)
    assert plaintext_counts(r_ids, groups, 3, s_ids) == expected
    r_result, s_result = run_psi(r_ids, s_ids, groups, n_groups=3)
    assert r_result == expected
    assert s_result == expected
    assert (r_result.receiver_size, r_result.total) == (5, 3)


def test_text_and_its_utf8_bytes_are_the_same_identifier() -> None:
    """Text "é" and its bytes match, across parties and as duplicates within one party."""
    r_ids: list[Identifier] = ["é", b"abc", "12345", "abc"]
    s_ids: list[Identifier] = ["é".encode(), "abc", b"12345", b"\xff"]
    expected = IntersectionCounts((3,), (3,), 4)
    assert run_psi(r_ids, s_ids) == (expected, expected)


def test_numbers_as_strings_are_compared_as_text() -> None:
    """Text "007" and "7" are different identifiers: PSI does no normalisation."""
    expected = IntersectionCounts((2,), (1,), 2)
    assert run_psi(["007", "7"], ["7", "7.0"]) == (expected, expected)


def test_empty_sets() -> None:
    """Empty sets on either or both sides give zero counts, with sizes still reported."""
    assert run_psi([], []) == (IntersectionCounts((0,), (0,), 0),) * 2
    assert run_psi(["a", "b"], []) == (IntersectionCounts((2,), (0,), 0),) * 2
    assert run_psi([], ["a"], [], n_groups=3) == (IntersectionCounts((0, 0, 0), (0, 0, 0), 1),) * 2


def test_n_groups_is_inferred_from_the_labels() -> None:
    """Without n_groups the groups are 0..max(label); unused groups have size 0."""
    expected = IntersectionCounts((1, 0, 2), (1, 0, 1), 2)
    assert run_psi(["a", "b", "c"], ["a", "c"], [0, 2, 2]) == (expected, expected)


# --------------------------------------------------------------------------- property


identifiers = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=8),
    st.integers(-(10**12), 10**12).map(str),
    st.binary(max_size=8),
)


@st.composite
def psi_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Two identifier lists that overlap, with duplicates, text sometimes given as bytes."""
    pool = draw(st.lists(identifiers, min_size=1, max_size=25))

    @st.composite
    def occurrence(draw: st.DrawFn) -> Identifier:
        item = draw(st.sampled_from(pool) | identifiers)
        if isinstance(item, str) and draw(st.booleans()):
            return item.encode("utf-8")
        return item

    r_ids = draw(st.lists(occurrence(), max_size=60))
    s_ids = draw(st.lists(occurrence(), max_size=60))
    n_groups = draw(st.integers(1, 4))
    groups = draw(st.lists(st.integers(0, n_groups - 1), min_size=len(r_ids), max_size=len(r_ids)))
    return {
        "r_ids": r_ids,
        "s_ids": s_ids,
        "groups": groups,
        "n_groups": n_groups,
        "r_chunk": draw(st.integers(1, 20)),
        "s_chunk": draw(st.integers(1, 20)),
    }


@given(psi_inputs())
@settings(max_examples=60, deadline=None)
def test_counts_equal_plaintext_computation(case: dict[str, Any]) -> None:
    """For any inputs, groups and chunk sizes both parties get the plaintext counts."""
    expected = plaintext_counts(case["r_ids"], case["groups"], case["n_groups"], case["s_ids"])
    r_result, s_result = run_psi(
        case["r_ids"],
        case["s_ids"],
        case["groups"],
        n_groups=case["n_groups"],
        r_chunk=case["r_chunk"],
        s_chunk=case["s_chunk"],
    )
    assert r_result == expected
    assert s_result == expected


@st.composite
def sized_psi_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Sets of any size from 0 to 5,000 per side, drawn from a shared universe so they
    overlap, with duplicates and unicode, numeric and byte identifiers."""
    size = st.sampled_from([0, 1, 5000]) | st.integers(0, 5000)
    n_r = draw(size)
    n_s = draw(size)
    universe = max(1, (n_r + n_s) // 2)
    kinds = draw(st.sampled_from(["numeric", "unicode", "bytes"]))

    def ident(k: int) -> Identifier:
        if kinds == "numeric":
            return str(k)
        if kinds == "unicode":
            return f"persön-{k}-ß"
        return k.to_bytes(4, "big")

    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    r_ids = [ident(rng.randrange(universe)) for _ in range(n_r)]
    s_ids = [ident(rng.randrange(universe)) for _ in range(n_s)]
    n_groups = draw(st.integers(1, 3))
    return {
        "r_ids": r_ids,
        "s_ids": s_ids,
        "groups": [rng.randrange(n_groups) for _ in r_ids],
        "n_groups": n_groups,
    }


@pytest.mark.slow
@given(sized_psi_inputs())
@settings(max_examples=8, deadline=None)
def test_counts_equal_plaintext_for_sets_up_to_5000(case: dict[str, Any]) -> None:
    """Sizes 0–5,000 per side (hypothesis picks them): both get the plaintext counts."""
    expected = plaintext_counts(case["r_ids"], case["groups"], case["n_groups"], case["s_ids"])
    results = run_psi(
        case["r_ids"], case["s_ids"], case["groups"], n_groups=case["n_groups"], r_chunk=1000
    )
    assert results == (expected, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("n_r", "n_s"), [(5000, 5000), (5000, 0), (0, 5000), (1, 5000)])
def test_counts_equal_plaintext_at_the_size_bounds(n_r: int, n_s: int) -> None:
    """The largest sets of the property above, which hypothesis rarely draws."""
    rng = random.Random(n_r * 7 + n_s)
    r_ids = [f"{rng.randrange(7000):07d}" for _ in range(n_r)]
    s_ids = [f"{rng.randrange(7000):07d}" for _ in range(n_s)]
    groups = [rng.randrange(2) for _ in r_ids]
    expected = plaintext_counts(r_ids, groups, 2, s_ids)
    assert run_psi(r_ids, s_ids, groups, n_groups=2) == (expected, expected)


@pytest.mark.slow
def test_large_case_with_chunks_straddling_groups() -> None:
    """A few thousand identifiers in 3 groups, chunk sizes 97 and 61: plaintext counts."""
    rng = random.Random(20240917)
    universe: list[Identifier] = [f"person-{k:05d}" for k in range(3000)]
    universe += [f"üñí-{k}" for k in range(500)]
    universe += [rng.randbytes(12) for _ in range(500)]
    r_ids = [rng.choice(universe) for _ in range(3000)]
    s_ids = [rng.choice(universe) for _ in range(2500)]
    r_ids = [x.encode() if isinstance(x, str) and rng.random() < 0.2 else x for x in r_ids]
    groups = [rng.randrange(3) for _ in r_ids]
    expected = plaintext_counts(r_ids, groups, 3, s_ids)
    assert all(size > 97 and size % 97 for size in expected.group_sizes)
    assert 0 < expected.total < expected.receiver_size
    r_result, s_result = run_psi(r_ids, s_ids, groups, n_groups=3, r_chunk=97, s_chunk=61)
    assert r_result == expected
    assert s_result == expected


def test_progress_reaches_the_totals() -> None:
    """Progress callbacks count up to each step's total."""
    calls: dict[str, list[tuple[str, int, int]]] = {"r": [], "s": []}
    network = MemoryNetwork(["r", "s"], timeout=30)
    r_ids, s_ids = [f"id{i}" for i in range(10)], [f"id{i}" for i in range(5, 12)]
    run_parties(
        network,
        {
            "r": lambda ch: psi.receiver(
                ch, "s", r_ids, chunk_size=3, progress=lambda *a: calls["r"].append(a)
            ),
            "s": lambda ch: psi.sender(
                ch, "r", s_ids, chunk_size=4, progress=lambda *a: calls["s"].append(a)
            ),
        },
    )
    for party, own, peer in (("r", 10, 7), ("s", 7, 10)):
        by_step: dict[str, list[tuple[int, int]]] = {}
        for step, done, total in calls[party]:
            by_step.setdefault(step, []).append((done, total))
        assert by_step["blind own set"][-1] == (own, own)
        assert by_step["re-key peer set"][-1] == (peer, peer)
        for points in by_step.values():
            assert [d for d, _ in points] == sorted(d for d, _ in points)


# --------------------------------------------------------------------------- parameters


@pytest.fixture
def channel() -> Channel:
    return MemoryNetwork(["r", "s"], timeout=1).channel("r")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chunk_size": 0},
        {"chunk_size": 262_145},
        {"groups": [0]},  # fewer labels than identifiers
        {"groups": [0, 2], "n_groups": 2},
        {"groups": [0, -1]},
        {"n_groups": 0},
    ],
)
def test_receiver_rejects_bad_parameters(channel: Channel, kwargs: dict[str, Any]) -> None:
    """Invalid chunk sizes and group labels raise ParameterError before anything is sent."""
    groups = kwargs.pop("groups", None)
    with pytest.raises(ParameterError):
        psi.receiver(channel, "s", ["a", "b"], groups, **kwargs)
    assert channel.stats.messages_sent == 0


@pytest.mark.parametrize("chunk_size", [0, -1, 262_145])
def test_sender_rejects_bad_chunk_size(channel: Channel, chunk_size: int) -> None:
    """An invalid chunk size raises ParameterError before anything is sent."""
    with pytest.raises(ParameterError):
        psi.sender(channel, "s", ["a"], chunk_size=chunk_size)
    assert channel.stats.messages_sent == 0


def test_identifiers_must_be_text_or_bytes(channel: Channel) -> None:
    """An identifier of another type raises TypeError before anything is sent."""
    with pytest.raises(TypeError):
        psi.receiver(channel, "s", ["a", 7])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        psi.sender(channel, "s", [b"a", 7.5])  # type: ignore[list-item]
    assert channel.stats.messages_sent == 0


# --------------------------------------------------------------------------- faulty peers

Tamper = Callable[[str, list[Message]], list[Message]]


def no_tamper(stage: str, messages: list[Message]) -> list[Message]:
    return messages


def points_of(ids: Sequence[Identifier], key: Scalar) -> bytes:
    return multiply(key, hash_to_group([canonical(x) for x in ids], context=psi.CONTEXT))


def receive_points(channel: Channel, peer: str, count: int) -> bytes:
    got = b""
    while len(got) < count * POINT_BYTES:
        got += channel.recv(peer, Points).points
    return got


def scripted_sender(ids: Sequence[Identifier], tamper: Tamper) -> Callable[[Channel], Any]:
    """A hand-written sender whose messages pass through ``tamper`` before they go out."""

    def role(channel: Channel) -> list[int]:
        key = Scalar.random()
        for msg in tamper("hello", [SenderHello(len(ids))]):
            channel.send("r", msg)
        sizes = channel.recv("r", ReceiverHello).group_sizes
        rekeyed = [multiply(key, receive_points(channel, "r", size)) for size in sizes]
        out: list[Message] = [Points(SENDER_SET, points_of(ids, key))] if ids else []
        out += [Points(g, pts) for g, pts in enumerate(rekeyed) if pts]
        for msg in tamper("points", out):
            channel.send("r", msg)
        return channel.recv("r", Counts).matched

    return role


def scripted_receiver(ids: Sequence[Identifier], tamper: Tamper) -> Callable[[Channel], Any]:
    """A hand-written single-group receiver whose messages pass through ``tamper``."""

    def role(channel: Channel) -> int:
        key = Scalar.random()
        for msg in tamper("hello", [ReceiverHello([len(ids)])]):
            channel.send("s", msg)
        sender_size = channel.recv("s", SenderHello).size
        for msg in tamper("points", [Points(0, points_of(ids, key))] if ids else []):
            channel.send("s", msg)
        own = multiply(key, receive_points(channel, "s", sender_size))
        lookup = {own[i : i + POINT_BYTES] for i in range(0, len(own), POINT_BYTES)}
        returned = receive_points(channel, "s", len(ids))
        matched = sum(
            returned[i : i + POINT_BYTES] in lookup for i in range(0, len(returned), POINT_BYTES)
        )
        for msg in tamper("counts", [Counts([matched])]):
            channel.send("s", msg)
        return matched

    return role


R_IDS = ["alpha", "beta", "gamma"]
R_GROUPS = [0, 1, 1]
S_IDS = ["beta", "gamma", "delta"]


def honest_receiver(channel: Channel) -> IntersectionCounts:
    return psi.receiver(channel, "s", R_IDS, R_GROUPS, n_groups=2)


def honest_sender(channel: Channel) -> IntersectionCounts:
    return psi.sender(channel, "r", S_IDS)


def protocol_error_of(honest: str, roles: dict[str, Callable[[Channel], Any]]) -> ProtocolError:
    """Run the roles; the honest party must be the one that failed, with a ProtocolError."""
    with pytest.raises(ComputationError) as info:
        run_parties(MemoryNetwork(["r", "s"], timeout=10), roles)
    assert info.value.party == honest
    cause = info.value.__cause__
    assert isinstance(cause, ProtocolError), repr(cause)
    return cause


def test_scripted_peers_are_faithful() -> None:
    """Control: untampered scripted peers interoperate with the honest roles, correctly."""
    network = MemoryNetwork(["r", "s"], timeout=10)
    results = run_parties(network, {"r": honest_receiver, "s": scripted_sender(S_IDS, no_tamper)})
    assert results["r"] == plaintext_counts(R_IDS, R_GROUPS, 2, S_IDS)
    assert results["s"] == [0, 2]
    network = MemoryNetwork(["r", "s"], timeout=10)
    results = run_parties(network, {"r": scripted_receiver(R_IDS, no_tamper), "s": honest_sender})
    assert results["s"] == plaintext_counts(R_IDS, None, 1, S_IDS)
    assert results["r"] == 2


def replace(stage: str, make: Callable[[list[Message]], list[Message]]) -> Tamper:
    """A tamper that rewrites the messages of one stage."""
    return lambda s, msgs: make(msgs) if s == stage else msgs


def regroup(index: int, group: int) -> Callable[[list[Message]], list[Message]]:
    def make(msgs: list[Message]) -> list[Message]:
        out = list(msgs)
        msg = out[index]
        assert isinstance(msg, Points)
        out[index] = Points(group, msg.points)
        return out

    return make


def repoint(
    index: int, change: Callable[[bytes], bytes]
) -> Callable[[list[Message]], list[Message]]:
    def make(msgs: list[Message]) -> list[Message]:
        out = list(msgs)
        msg = out[index]
        assert isinstance(msg, Points)
        out[index] = Points(msg.group, change(msg.points))
        return out

    return make


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(replace("hello", lambda m: [SenderHello(-1)]), id="negative-size"),
        pytest.param(replace("hello", lambda m: [Counts([0])]), id="wrong-message"),
        pytest.param(replace("points", regroup(0, 0)), id="own-points-wrong-group"),
        pytest.param(replace("points", repoint(0, lambda p: b"\xff" * len(p))), id="invalid"),
        pytest.param(replace("points", repoint(0, lambda p: bytes(len(p)))), id="identity"),
        pytest.param(replace("points", repoint(0, lambda p: p[:-1])), id="partial-point"),
        pytest.param(replace("points", repoint(0, lambda p: p + random_points(1))), id="extra"),
        pytest.param(replace("points", lambda m: [Points(SENDER_SET, b""), *m]), id="empty-chunk"),
        pytest.param(replace("points", regroup(1, 1)), id="returned-wrong-group"),
        pytest.param(
            replace("points", repoint(1, lambda p: p + random_points(1))), id="returned-extra"
        ),
        pytest.param(
            replace("points", lambda m: [*m[:2], Counts([1]), *m[2:]]), id="returned-wrong-type"
        ),
    ],
)
def test_receiver_rejects_a_faulty_sender(tamper: Tamper) -> None:
    """Points of the wrong group, invalid or identity encodings, wrong sizes or message
    types from the sender are a ProtocolError on the receiver's side."""
    protocol_error_of("r", {"r": honest_receiver, "s": scripted_sender(S_IDS, tamper)})


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(replace("hello", lambda m: [ReceiverHello([])]), id="no-groups"),
        pytest.param(replace("hello", lambda m: [ReceiverHello([3, -1])]), id="negative-size"),
        pytest.param(replace("hello", lambda m: [SenderHello(3)]), id="wrong-message"),
        pytest.param(replace("points", regroup(0, 1)), id="wrong-group"),
        pytest.param(replace("points", repoint(0, lambda p: b"\xff" * len(p))), id="invalid"),
        pytest.param(replace("points", repoint(0, lambda p: bytes(len(p)))), id="identity"),
        pytest.param(replace("points", repoint(0, lambda p: p[:-1])), id="partial-point"),
        pytest.param(replace("points", repoint(0, lambda p: p + random_points(1))), id="extra"),
        pytest.param(replace("counts", lambda m: [Counts([4])]), id="more-than-group"),
        pytest.param(replace("counts", lambda m: [Counts([-1])]), id="negative"),
        pytest.param(replace("counts", lambda m: [Counts([])]), id="too-few"),
        pytest.param(replace("counts", lambda m: [Counts([1, 0])]), id="too-many"),
        pytest.param(replace("counts", lambda m: [ReceiverHello([1])]), id="wrong-message"),
    ],
)
def test_sender_rejects_a_faulty_receiver(tamper: Tamper) -> None:
    """Invalid group sizes, bad points or impossible counts from the receiver are a
    ProtocolError on the sender's side."""
    protocol_error_of("s", {"r": scripted_receiver(R_IDS, tamper), "s": honest_sender})


def test_sender_rejects_more_matches_than_its_own_set() -> None:
    """Counts within the group size but above the sender's own set size are impossible."""
    r_ids = ["a", "b", "c", "d", "e"]
    s_ids = ["a", "b", "c"]
    tamper = replace("counts", lambda m: [Counts([4])])
    error = protocol_error_of(
        "s",
        {"r": scripted_receiver(r_ids, tamper), "s": lambda ch: psi.sender(ch, "r", s_ids)},
    )
    assert error.step == "counts"


def test_sender_accepts_counts_it_cannot_refute() -> None:
    """Control: the largest possible count (min of group and sender size) is accepted."""
    r_ids = ["a", "b", "c", "d", "e"]
    s_ids = ["x", "y", "z"]
    tamper = replace("counts", lambda m: [Counts([3])])
    results = run_parties(
        MemoryNetwork(["r", "s"], timeout=10),
        {"r": scripted_receiver(r_ids, tamper), "s": lambda ch: psi.sender(ch, "r", s_ids)},
    )
    assert results["s"] == IntersectionCounts((5,), (3,), 3)


@given(psi_inputs())
@settings(max_examples=25, deadline=None)
def test_distinct_mode_equals_plaintext_on_distinct_inputs(case: dict[str, Any]) -> None:
    """With de-duplication skipped, distinct inputs still give the plaintext counts."""
    r_first: dict[bytes, tuple[Identifier, int]] = {}
    for item, group in zip(case["r_ids"], case["groups"], strict=True):
        r_first.setdefault(canonical(item), (item, group))
    r_ids = [item for item, _ in r_first.values()]
    groups = [group for _, group in r_first.values()]
    s_ids = list({canonical(item): item for item in case["s_ids"]}.values())
    n_groups = case["n_groups"]
    expected = plaintext_counts(r_ids, groups, n_groups, s_ids)
    network = MemoryNetwork(["r", "s"], timeout=30)
    results = run_parties(
        network,
        {
            "r": lambda ch: psi.receiver(
                ch, "s", r_ids, groups, n_groups=n_groups, chunk_size=7, distinct=True
            ),
            "s": lambda ch: psi.sender(ch, "r", s_ids, chunk_size=5, distinct=True),
        },
    )
    assert results == {"r": expected, "s": expected}


# --------------------------------------------------------------------------- announced sizes


def test_receiver_stops_at_a_sender_announcing_more_than_its_bound() -> None:
    """A sender that announces 10^12 identifiers is stopped at the hello, before any point."""
    lie = replace("hello", lambda m: [SenderHello(10**12)])
    error = protocol_error_of(
        "r",
        {
            "r": lambda ch: psi.receiver(ch, "s", R_IDS, R_GROUPS, n_groups=2, max_peer_size=3),
            "s": scripted_sender(S_IDS, lie),
        },
    )
    assert (error.peer, error.step) == ("s", "hello")
    assert "'s' announced 1000000000000 identifiers, more than the 3 it may hold" in str(error)


def test_sender_stops_at_a_receiver_announcing_more_than_its_bound() -> None:
    lie = replace("hello", lambda m: [ReceiverHello([2, 10**12])])
    error = protocol_error_of(
        "s",
        {
            "r": scripted_receiver(R_IDS, lie),
            "s": lambda ch: psi.sender(ch, "r", S_IDS, max_peer_size=3),
        },
    )
    assert (error.peer, error.step) == ("r", "hello")
    assert "'r' announced 1000000000002 identifiers, more than the 3" in str(error)


def test_peers_within_their_bounds_get_the_plaintext_counts() -> None:
    """Control: bounds equal to the true set sizes (duplicates counted once) let it run."""
    r_ids, s_ids = ["a", "b", "b", "c"], ["b", "c", "d", "d", "e"]
    results = run_parties(
        MemoryNetwork(["r", "s"], timeout=10),
        {
            "r": lambda ch: psi.receiver(ch, "s", r_ids, max_peer_size=4),
            "s": lambda ch: psi.sender(ch, "r", s_ids, max_peer_size=3),
        },
    )
    expected = plaintext_counts(r_ids, None, 1, s_ids)
    assert results["r"] == results["s"] == expected


@pytest.mark.parametrize("bound", [-1, 2.5, True, "10"])
def test_a_bound_that_is_not_a_count_is_refused(channel: Channel, bound: Any) -> None:
    with pytest.raises(ParameterError, match="max_peer_size must be a whole number"):
        psi.receiver(channel, "s", ["a"], max_peer_size=bound)
    with pytest.raises(ParameterError, match="max_peer_size must be a whole number"):
        psi.sender(channel, "s", ["a"], max_peer_size=bound)
