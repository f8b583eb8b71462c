"""What each PSI party receives, checked against the protocol's semi-honest threat model.

Every frame a party received is recorded by the channel. The sender must see only the
group sizes, the receiver's blinded points and the counts; the receiver only |S|, the
sender's blinded points and its own points re-keyed and reshuffled. No encoding of the
other party's identifiers may appear, and the order of the returned points must not
depend on the order of the receiver's input.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy.stats import chisquare

from privstats.crypto import POINT_BYTES, Scalar, hash_to_group, multiply
from privstats.protocols import psi
from privstats.protocols.psi import (
    SENDER_SET,
    Counts,
    IntersectionCounts,
    Points,
    ReceiverHello,
    SenderHello,
)
from privstats.transport.codec import decode, encode
from privstats.transport.memory import MemoryNetwork, run_parties

KEY_R = Scalar.from_seed(hashlib.sha512(b"receiver key").digest())
KEY_S = Scalar.from_seed(hashlib.sha512(b"sender key").digest())

_rng = random.Random(7)
SHARED = [f"Shared-Person-{i:04d}-{_rng.getrandbits(32):08x}" for i in range(20)]
R_ONLY = [f"Register-Ünit-{i:04d}-{_rng.getrandbits(32):08x}" for i in range(25)]
S_ONLY = [f"Telecom-Client-{i:04d}-{_rng.getrandbits(32):08x}" for i in range(15)]
R_IDS = SHARED[:10] + R_ONLY + SHARED[10:] + R_ONLY[:3]  # with duplicates
S_IDS = S_ONLY + SHARED[5:] + S_ONLY[:2]
R_GROUPS = [_rng.randrange(3) for _ in R_IDS]
N_GROUPS = 3


def H(item: str) -> bytes:
    """The unkeyed group element of an identifier, as the protocol hashes it."""
    return hash_to_group([item.encode()], context=psi.CONTEXT)


def split(points: bytes) -> list[bytes]:
    return [points[i : i + POINT_BYTES] for i in range(0, len(points), POINT_BYTES)]


def plaintext(
    r_ids: Sequence[str], groups: Sequence[int], n_groups: int, s_ids: Sequence[str]
) -> IntersectionCounts:
    first: dict[str, int] = {}
    for item, group in zip(r_ids, groups, strict=True):
        first.setdefault(item, group)
    sizes = tuple(sum(1 for g in first.values() if g == k) for k in range(n_groups))
    matched = tuple(
        sum(1 for x, g in first.items() if g == k and x in set(s_ids)) for k in range(n_groups)
    )
    return IntersectionCounts(sizes, matched, len(set(s_ids)))


def members(r_ids: Sequence[str], groups: Sequence[int], group: int) -> list[str]:
    """The distinct identifiers whose first occurrence is in ``group``."""
    first: dict[str, int] = {}
    for item, g in zip(r_ids, groups, strict=True):
        first.setdefault(item, g)
    return [x for x, g in first.items() if g == group]


def run_recorded(
    r_ids: Sequence[str],
    s_ids: Sequence[str],
    groups: Sequence[int] | None = None,
    *,
    n_groups: int = 1,
    keys: tuple[Scalar | None, Scalar | None] = (None, None),
    chunks: tuple[int, int] = (psi.DEFAULT_CHUNK_SIZE, psi.DEFAULT_CHUNK_SIZE),
) -> tuple[dict[str, Any], dict[str, list[bytes]]]:
    """Run the protocol recording frames; return results and each party's received frames."""
    network = MemoryNetwork(["r", "s"], timeout=30, record=True)
    results = run_parties(
        network,
        {
            "r": lambda ch: psi.receiver(
                ch, "s", r_ids, groups, n_groups=n_groups, key=keys[0], chunk_size=chunks[0]
            ),
            "s": lambda ch: psi.sender(ch, "r", s_ids, key=keys[1], chunk_size=chunks[1]),
        },
    )
    frames: dict[str, list[bytes]] = {}
    for party, peer in (("r", "s"), ("s", "r")):
        received = network.channel(party).received
        assert received is not None
        assert all(sender == peer for sender, _ in received)
        frames[party] = [frame for _, frame in received]
    return results, frames


def encodings(item: str) -> dict[str, bytes]:
    """Ways an identifier could leak: raw, case variants, plain digests, unkeyed H(x)."""
    raw = item.encode()
    forms = {"utf-8": raw, "lower": item.lower().encode(), "upper": item.upper().encode()}
    for name in ("sha256", "sha512"):
        digest = hashlib.new(name, raw).digest()
        forms[name] = digest
        forms[f"{name}-hex"] = digest.hex().encode()
        forms[f"{name}-HEX"] = digest.hex().upper().encode()
    forms["H(x)"] = H(item)
    return forms


def leaks(frames: Sequence[bytes], ids: Sequence[str]) -> list[tuple[str, str]]:
    """(identifier, encoding) pairs found as a substring of any frame."""
    found = []
    for item in dict.fromkeys(ids):
        for form, needle in encodings(item).items():
            if any(needle in frame for frame in frames):
                found.append((item, form))
    return found


# --------------------------------------------------------------------------- leakage


def test_leak_check_can_fail() -> None:
    """Control: the substring search finds each kind of encoding when it is present."""
    item = S_ONLY[0]
    for form, needle in encodings(item).items():
        frame = b"prefix" + needle + b"suffix"
        assert (item, form) in leaks([b"other", frame], [item])
    assert leaks([encode(Points(0, H(item)))], [item]) == [(item, "H(x)")]
    assert leaks([encode(Points(0, multiply(KEY_R, H(item))))], [item]) == []


@pytest.mark.parametrize("keys", [(None, None), (KEY_R, KEY_S)], ids=["random", "fixed"])
def test_no_identifier_of_the_other_party_is_received(
    keys: tuple[Scalar | None, Scalar | None],
) -> None:
    """No frame a party received contains the other party's identifiers in any of the
    checked encodings, and both results equal the plaintext counts."""
    results, frames = run_recorded(
        R_IDS, S_IDS, R_GROUPS, n_groups=N_GROUPS, keys=keys, chunks=(7, 5)
    )
    expected = plaintext(R_IDS, R_GROUPS, N_GROUPS, S_IDS)
    assert results == {"r": expected, "s": expected}
    assert 0 < expected.total < expected.receiver_size
    assert leaks(frames["s"], R_IDS) == []
    assert leaks(frames["r"], S_IDS) == []


def test_sender_receives_hello_blinded_points_and_counts_only() -> None:
    """The sender gets one ReceiverHello (the group sizes), then the receiver's points keyed
    by the receiver's key group by group, then one Counts (the matches) — nothing else."""
    results, frames = run_recorded(
        R_IDS, S_IDS, R_GROUPS, n_groups=N_GROUPS, keys=(KEY_R, KEY_S), chunks=(7, 5)
    )
    expected = plaintext(R_IDS, R_GROUPS, N_GROUPS, S_IDS)
    messages = [decode(frame) for frame in frames["s"]]
    kinds = Counter(type(m) for m in messages)
    assert kinds[ReceiverHello] == 1
    assert kinds[Counts] == 1
    assert set(kinds) == {ReceiverHello, Points, Counts}
    first, *middle, last = messages
    assert first == ReceiverHello(list(expected.group_sizes))
    assert last == Counts(list(expected.matched))
    assert all(isinstance(m, Points) for m in middle)
    groups = [m.group for m in middle if isinstance(m, Points)]
    assert groups == sorted(groups)
    for group in range(N_GROUPS):
        got = b"".join(m.points for m in middle if isinstance(m, Points) and m.group == group)
        want = [multiply(KEY_R, H(x)) for x in members(R_IDS, R_GROUPS, group)]
        assert sorted(split(got)) == sorted(want)
    assert results["s"] == expected


def test_receiver_receives_hello_and_points_only() -> None:
    """The receiver gets one SenderHello (|S|), the sender's points keyed by the sender's
    key, then its own points keyed by both keys, group by group — nothing else."""
    results, frames = run_recorded(
        R_IDS, S_IDS, R_GROUPS, n_groups=N_GROUPS, keys=(KEY_R, KEY_S), chunks=(7, 5)
    )
    expected = plaintext(R_IDS, R_GROUPS, N_GROUPS, S_IDS)
    first, *rest = [decode(frame) for frame in frames["r"]]
    assert first == SenderHello(len(set(S_IDS)))
    assert all(isinstance(m, Points) for m in rest)
    points = [m for m in rest if isinstance(m, Points)]
    groups = [m.group for m in points]
    assert groups == sorted(groups)
    assert groups[0] == SENDER_SET
    own = b"".join(m.points for m in points if m.group == SENDER_SET)
    assert sorted(split(own)) == sorted(multiply(KEY_S, H(x)) for x in set(S_IDS))
    for group in range(N_GROUPS):
        got = b"".join(m.points for m in points if m.group == group)
        want = [multiply(KEY_S, multiply(KEY_R, H(x))) for x in members(R_IDS, R_GROUPS, group)]
        assert sorted(split(got)) == sorted(want)
    assert results["r"] == expected


# --------------------------------------------------------------------------- order


ORDER_IDS = [f"subject-{i:02d}-{_rng.getrandbits(32):08x}" for i in range(8)]
ORDER_SENDER = [f"other-{i:02d}-{_rng.getrandbits(32):08x}" for i in range(4)] + ORDER_IDS[::-1]
RUNS = 300


def returned_points(frames: list[bytes]) -> list[bytes]:
    """The receiver's own points as the sender returned them (after the sender's set)."""
    messages = [decode(frame) for frame in frames]
    return split(b"".join(m.points for m in messages if isinstance(m, Points) and m.group == 0))


def sent_points(frames: list[bytes]) -> list[bytes]:
    """The receiver's blinded points in the order the sender received them."""
    messages = [decode(frame) for frame in frames]
    return split(b"".join(m.points for m in messages if isinstance(m, Points)))


@pytest.fixture(scope="module")
def positions() -> tuple[np.ndarray, np.ndarray]:
    """Over RUNS runs with fixed keys: where the receiver's FIRST identifier's point was
    among the points the sender received, and among the points returned to the receiver."""
    once = multiply(KEY_R, H(ORDER_IDS[0]))
    twice = multiply(KEY_S, once)
    sent, returned = [], []
    for _ in range(RUNS):
        results, frames = run_recorded(ORDER_IDS, ORDER_SENDER, keys=(KEY_R, KEY_S), chunks=(3, 3))
        assert results["r"] == IntersectionCounts((8,), (8,), 12)
        outgoing, back = sent_points(frames["s"]), returned_points(frames["r"])
        assert len(outgoing) == len(back) == 8
        assert outgoing.count(once) == 1
        assert back.count(twice) == 1
        sent.append(outgoing.index(once))
        returned.append(back.index(twice))
    return np.array(sent), np.array(returned)


@pytest.mark.slow
def test_returned_position_is_uniform(positions: tuple[np.ndarray, np.ndarray]) -> None:
    """The first input identifier's doubly-keyed point is returned at a uniformly random
    position among the 8 (chi-squared over 300 runs)."""
    _, returned = positions
    observed = np.bincount(returned, minlength=8)
    assert observed.sum() == RUNS
    assert chisquare(observed).pvalue > 1e-5  # a real bias gives p near 0; chance failure 1e-5


@pytest.mark.slow
def test_sent_position_is_uniform(positions: tuple[np.ndarray, np.ndarray]) -> None:
    """The receiver shuffles too: the sender sees the first identifier's point at a
    uniformly random position."""
    sent, _ = positions
    assert (
        chisquare(np.bincount(sent, minlength=8)).pvalue > 1e-5
    )  # a real bias gives p near 0; chance failure 1e-5


@pytest.mark.slow
def test_sender_reshuffles_independently(positions: tuple[np.ndarray, np.ndarray]) -> None:
    """The returned position is not tied to the sent one: their offset mod 8 is uniform
    (it would always be 0 if the sender returned the points in the order received)."""
    sent, returned = positions
    assert (
        chisquare(np.bincount((returned - sent) % 8, minlength=8)).pvalue > 1e-5
    )  # a real bias gives p near 0; chance failure 1e-5


def test_reversed_input_gives_the_same_returned_multiset() -> None:
    """With fixed keys, reversing the receiver's input order returns the same multiset of
    points, which is the plaintext set {H(x)^(a*b)} of its identifiers."""
    want = sorted(multiply(KEY_S, multiply(KEY_R, H(x))) for x in ORDER_IDS)
    got = []
    for ids in (ORDER_IDS, ORDER_IDS[::-1]):
        results, frames = run_recorded(ids, ORDER_SENDER, keys=(KEY_R, KEY_S), chunks=(3, 3))
        assert results["r"] == IntersectionCounts((8,), (8,), 12)
        got.append(sorted(returned_points(frames["r"])))
    assert got[0] == got[1] == want
