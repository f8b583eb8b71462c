"""Multi-key PSI: counts equal the plaintext union-of-rules matching; each party receives
only what the module's threat model says.

Plaintext reference: a register record matches when, for some rule j, its key j is
non-empty and equals key j of some source record; per-rule counts count every rule that
matched. Every frame a party received is recorded by the memory channel and decoded.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.crypto import POINT_BYTES, Scalar, hash_to_group, multiply
from privstats.errors import ComputationError, ProtocolError
from privstats.protocols import psi_multikey as pm
from privstats.protocols.psi import SENDER_SET, Points
from privstats.protocols.psi_multikey import (
    Counts,
    MultiKeyCounts,
    ReceiverHello,
    SenderHello,
    rule_context,
)
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

Record = tuple[str | None, ...]
KEY_R = Scalar.from_seed(hashlib.sha512(b"multikey receiver").digest())
KEY_S = Scalar.from_seed(hashlib.sha512(b"multikey sender").digest())


def plaintext(
    r_recs: Sequence[Record],
    groups: Sequence[int],
    n_groups: int,
    s_recs: Sequence[Record],
    n_rules: int,
) -> MultiKeyCounts:
    """The counts computed in the clear on the same records."""
    source = [{rec[j] for rec in s_recs if rec[j]} for j in range(n_rules)]
    sizes = [0] * n_groups
    matched = [0] * n_groups
    by_rule = [[0] * n_rules for _ in range(n_groups)]
    for rec, g in zip(r_recs, groups, strict=True):
        sizes[g] += 1
        hits = [bool(rec[j]) and rec[j] in source[j] for j in range(n_rules)]
        matched[g] += any(hits)
        for j, hit in enumerate(hits):
            by_rule[g][j] += hit
    return MultiKeyCounts(tuple(sizes), tuple(matched), tuple(map(tuple, by_rule)), len(s_recs))


def run(
    r_recs: Sequence[Record],
    s_recs: Sequence[Record],
    groups: Sequence[int] | None,
    n_groups: int,
    n_rules: int,
    *,
    keys: tuple[Scalar | None, Scalar | None] = (None, None),
    chunks: tuple[int, int] = (5, 3),
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Both roles over the memory channel; results and each party's decoded messages."""
    network = MemoryNetwork(["r", "s"], timeout=30, record=True)
    results = run_parties(
        network,
        {
            "r": lambda ch: pm.receiver(
                ch,
                "s",
                r_recs,
                groups,
                n_rules=n_rules,
                n_groups=n_groups,
                key=keys[0],
                chunk_size=chunks[0],
            ),
            "s": lambda ch: pm.sender(
                ch, "r", s_recs, n_rules=n_rules, key=keys[1], chunk_size=chunks[1]
            ),
        },
    )
    received: dict[str, list[Any]] = {}
    for party in ("r", "s"):
        frames = network.channel(party).received
        assert frames is not None
        received[party] = [decode(frame) for _, frame in frames]
    return results, received


# --------------------------------------------------------------------------- counts

key_text = st.sampled_from(["", "a", "b", "c", "Ünï", "x\x1fy", "0", "d"]) | st.text(max_size=4)


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    n_rules = draw(st.integers(1, 4))
    record = st.tuples(*[st.one_of(st.none(), key_text)] * n_rules)
    r_recs = draw(st.lists(record, max_size=30))
    s_recs = draw(st.lists(record, max_size=30))
    n_groups = draw(st.integers(1, 3))
    groups = draw(
        st.lists(st.integers(0, n_groups - 1), min_size=len(r_recs), max_size=len(r_recs))
    )
    return {"r": r_recs, "s": s_recs, "groups": groups, "n_groups": n_groups, "n_rules": n_rules}


@settings(max_examples=60, deadline=None)
@given(inputs())
def test_counts_equal_the_plaintext_matching(data: dict[str, Any]) -> None:
    """Per group: records, records matched by any rule, records matched by each rule —
    both parties get exactly the plaintext counts (empty and missing keys never match,
    duplicates on either side, unicode keys, empty files)."""
    expected = plaintext(data["r"], data["groups"], data["n_groups"], data["s"], data["n_rules"])
    results, _ = run(data["r"], data["s"], data["groups"], data["n_groups"], data["n_rules"])
    assert results == {"r": expected, "s": expected}


def test_keys_of_different_rules_never_match() -> None:
    """The same text under rule 0 on one side and rule 1 on the other is no match."""
    results, _ = run([("k", "z")], [("y", "k")], None, 1, 2)
    assert results["r"].matched == (0,)


def test_a_record_matched_by_several_rules_counts_once_in_the_total() -> None:
    r_recs = [("a", "b", "c"), ("a", "-", "-"), ("-", "-", "c"), ("q", "r", "s")]
    s_recs = [("a", "b", "c"), ("zz", "zz", "zz")]
    results, _ = run(r_recs, s_recs, None, 1, 3)
    assert results["r"] == MultiKeyCounts((4,), (3,), ((2, 1, 2),), 2)
    assert results["r"].total_by_rule == (2, 1, 2)


def test_rule_count_mismatch_stops_at_the_hello() -> None:
    network = MemoryNetwork(["r", "s"], timeout=10)
    with pytest.raises(ComputationError, match="same rules") as caught:
        run_parties(
            network,
            {
                "r": lambda ch: pm.receiver(ch, "s", [("a", "b")], n_rules=2),
                "s": lambda ch: pm.sender(ch, "r", [("a",)], n_rules=1),
            },
        )
    assert isinstance(caught.value.__cause__, ProtocolError)


# --------------------------------------------------------------------------- threat model

_rng = random.Random(17)
N_RULES = 3
R_RECS: list[Record] = [
    tuple(f"reg-{i}-{j}-{_rng.getrandbits(32):08x}" if (i + j) % 7 else None for j in range(3))
    for i in range(24)
]
S_RECS: list[Record] = [
    *[
        tuple(r[j] if j == i % 3 else f"src-{i}-{j}" for j in range(3))
        for i, r in enumerate(R_RECS[:12])
    ],
    *[(f"only-{i}", None, f"only-{i}-c") for i in range(6)],
    R_RECS[0],  # a duplicate of a key tuple already in the source
]
R_GROUPS = [i % 3 for i in range(len(R_RECS))]


def H(key: str | None, rule: int) -> bytes:
    assert key
    return hash_to_group([key.encode()], context=rule_context(rule))


def split(points: bytes) -> list[bytes]:
    return [points[i : i + POINT_BYTES] for i in range(0, len(points), POINT_BYTES)]


def rows(points: bytes) -> list[tuple[bytes, ...]]:
    flat = split(points)
    return [tuple(flat[i : i + N_RULES]) for i in range(0, len(flat), N_RULES)]


def all_keys(records: Sequence[Record]) -> list[tuple[str, int]]:
    return [(k, j) for rec in records for j, k in enumerate(rec) if k]


def leaks(messages: Sequence[Any], keys: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Keys found in clear text or as their unkeyed point H_j(k) in any received message."""
    blobs = [m.points for m in messages if isinstance(m, Points)] + [
        repr(m).encode() for m in messages
    ]
    found = []
    for key, rule in keys:
        for needle in (key.encode(), H(key, rule), hashlib.sha256(key.encode()).digest()):
            if any(needle in blob for blob in blobs):
                found.append((key, rule))
    return found


def test_the_leak_check_can_fail() -> None:
    """Control: an unkeyed point or a clear key inside a message is found."""
    key = ("reg-secret", 1)
    assert leaks([Points(0, H(*key))], [key]) == [key]
    assert leaks([Counts([1], [[0, 1, 0]]), Points(0, b"x" * 32 + b"reg-secret")], [key]) == [key]
    assert leaks([Points(0, multiply(KEY_R, H(*key)))], [key]) == []


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, Any], dict[str, list[Any]]]:
    return run(R_RECS, S_RECS, R_GROUPS, 3, N_RULES, keys=(KEY_R, KEY_S), chunks=(7, 5))


def test_counts_of_the_recorded_run(recorded: tuple[dict[str, Any], dict[str, list[Any]]]) -> None:
    results, _ = recorded
    expected = plaintext(R_RECS, R_GROUPS, 3, S_RECS, N_RULES)
    assert results == {"r": expected, "s": expected}
    assert 0 < expected.total < len(R_RECS)


def test_sender_receives_sizes_keyed_tuples_and_counts_only(
    recorded: tuple[dict[str, Any], dict[str, list[Any]]],
) -> None:
    """The sender gets the hello (group sizes, J), each group's records as tuples of
    points keyed by α in rule order (a random point for a missing key), then the counts;
    no key of the register in clear or unkeyed."""
    results, received = recorded
    messages = received["s"]
    first, *middle, last = messages
    assert first == ReceiverHello([8, 8, 8], N_RULES)
    assert last == Counts(
        list(results["r"].matched), [list(r) for r in results["r"].matched_by_rule]
    )
    assert Counter(type(m) for m in middle) == Counter({Points: len(middle)})
    assert leaks(messages, all_keys(R_RECS)) == []
    for group in range(3):
        got = b"".join(m.points for m in middle if m.group == group)
        tuples = rows(got)
        members = [r for r, g in zip(R_RECS, R_GROUPS, strict=True) if g == group]
        assert len(tuples) == len(members)
        want = {
            tuple(multiply(KEY_R, H(k, j)) if k else None for j, k in enumerate(rec))
            for rec in members
        }
        # each received tuple is some record's keyed tuple; a missing key is a point
        # that is no key's (random)
        for tup in tuples:
            match = [w for w in want if all(w[j] in (None, tup[j]) for j in range(N_RULES))]
            assert len(match) == 1
            assert all(
                p not in {x for w in want for x in w if x}
                for p, w in zip(tup, match[0], strict=True)
                if w is None
            )


def test_receiver_receives_size_padded_keys_and_its_reshuffled_tuples_only(
    recorded: tuple[dict[str, Any], dict[str, list[Any]]],
) -> None:
    """The receiver gets the hello (|S| records, J), J·|S| points of the sender (its
    distinct keys keyed by β, random padding), then per group its own tuples keyed by
    α and β; no key of the source in clear or unkeyed."""
    _, received = recorded
    first, *rest = received["r"]
    assert first == SenderHello(len(S_RECS), N_RULES)
    assert all(isinstance(m, Points) for m in rest)
    assert leaks(received["r"], all_keys(S_RECS)) == []
    own = split(b"".join(m.points for m in rest if m.group == SENDER_SET))
    assert len(own) == N_RULES * len(S_RECS)
    distinct = {multiply(KEY_S, H(k, j)) for k, j in set(all_keys(S_RECS))}
    assert distinct <= set(own)
    assert len(own) == len(set(own))  # repeats of a source key are not visible
    for group in range(3):
        back = rows(b"".join(m.points for m in rest if m.group == group))
        members = [r for r, g in zip(R_RECS, R_GROUPS, strict=True) if g == group]
        full = {
            tuple(multiply(KEY_S, multiply(KEY_R, H(k, j))) for j, k in enumerate(rec))
            for rec in members
            if all(rec)
        }
        assert full <= set(back)
        assert len(back) == len(members)


def test_returned_tuple_order_does_not_follow_the_input() -> None:
    """The sender shuffles whole tuples: over repeated runs the first record's tuple comes
    back at more than one position, always whole (its J points together)."""
    recs: list[Record] = [(f"p{i}", f"q{i}", f"r{i}") for i in range(6)]
    first = tuple(multiply(KEY_S, multiply(KEY_R, H(k, j))) for j, k in enumerate(recs[0]))
    seen = set()
    for _ in range(12):
        _, received = run(recs, recs[:2], None, 1, 3, keys=(KEY_R, KEY_S), chunks=(4, 4))
        back = rows(
            b"".join(m.points for m in received["r"] if isinstance(m, Points) and m.group == 0)
        )
        assert first in back
        seen.add(back.index(first))
    assert len(seen) > 1
