"""What each join-and-aggregate party receives, checked against the semi-honest threat model.

Every frame a party received is recorded. With fixed keys the tests can recompute every
point a party *should not* be able to see — identifiers in clear or hashed, group labels
and values as ``m·G`` — and search the frames for them. They check that B receives only
pseudorandom points and ciphertexts it cannot decrypt, that whatever B sends back was
rerandomised (no point repeats), that B is asked to decrypt only the released cells, and
that nothing A receives decrypts to an individual value with A's key share alone.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from privstats.crypto import POINT_BYTES, Scalar, elgamal, hash_to_group, multiply
from privstats.crypto.elgamal import CIPHERTEXT_BYTES
from privstats.protocols import join_aggregate as ja
from privstats.protocols.join_aggregate import (
    DecryptRequest,
    DecryptShares,
    LeftEntries,
    LeftGo,
    LeftHello,
    LeftKeys,
    ReleaseCandidate,
    ReleaseVerdict,
    RightEntries,
    RightHello,
    RightKeys,
    ShuffledEntries,
)
from privstats.transport.codec import Message, decode
from privstats.transport.memory import MemoryNetwork, run_parties


def seeded(label: str) -> Scalar:
    return Scalar.from_seed(hashlib.sha512(label.encode()).digest())


LEFT_KEYS = LeftKeys(psi=seeded("alpha"), label=seeded("lambda"), share=seeded("a"))
RIGHT_KEYS = RightKeys(psi=seeded("beta"), share=seeded("b"))

SHARED = [f"Shared-Persön-{i:02d}" for i in range(20)]
LEFT_ONLY = [f"Register-{i:02d}" for i in range(10)]
RIGHT_ONLY = [f"Customer-{i:02d}" for i in range(8)]
LEFT_IDS = SHARED + LEFT_ONLY
RIGHT_IDS = RIGHT_ONLY[:4] + SHARED[::-1] + RIGHT_ONLY[4:]
N_GROUPS = 4
GROUPS = [0] * 7 + [1] * 7 + [2] * 5 + [3] * 1 + [i % 4 for i in range(10)]  # 3: few matches
LEFT_VALUES = [[5_000 + 17 * i for i in range(len(LEFT_IDS))]]
RIGHT_VALUES = [
    [1_000_000 + 1_009 * i for i in range(len(RIGHT_IDS))],
    [-(i**2) for i in range(len(RIGHT_IDS))],
]
MIN_CELL = 5
N_COLUMNS = 3


def release(counts: Sequence[int]) -> list[int]:
    return [g for g, n in enumerate(counts) if n >= MIN_CELL]


def split(packed: bytes, size: int = POINT_BYTES) -> list[bytes]:
    return [packed[i : i + size] for i in range(0, len(packed), size)]


def H(item: str) -> bytes:
    return hash_to_group([item.encode()], context=ja.CONTEXT)


def run_recorded() -> tuple[dict[str, Any], dict[str, list[Message]], dict[str, list[bytes]]]:
    network = MemoryNetwork(["nso", "bank"], timeout=60, record=True)
    results = run_parties(
        network,
        {
            "nso": lambda ch: ja.left(
                ch, "bank", LEFT_IDS, GROUPS, N_GROUPS, LEFT_VALUES,
                release=ja.per_group(release), keys=LEFT_KEYS, chunk_size=7,
            ),
            "bank": lambda ch: ja.right(
                ch, "nso", RIGHT_IDS, RIGHT_VALUES, keys=RIGHT_KEYS, min_cell=MIN_CELL,
                chunk_size=6,
            ),
        },
    )  # fmt: skip
    messages, frames = {}, {}
    for party, peer in (("nso", "bank"), ("bank", "nso")):
        received = network.channel(party).received
        assert received is not None
        assert all(sender == peer for sender, _ in received)
        frames[party] = [frame for _, frame in received]
        messages[party] = [decode(frame) for frame in frames[party]]
    return results, messages, frames


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, Any], dict[str, list[Message]], dict[str, list[bytes]]]:
    return run_recorded()


def of(messages: Iterable[Message], kind: type[Any]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def points_in(messages: Iterable[Message]) -> set[bytes]:
    """Every 32-byte point in the messages' point and ciphertext fields."""
    out: set[bytes] = set()
    for m in messages:
        for name in ("points", "labels", "shares"):
            out.update(split(getattr(m, name, b"")))
        for column in getattr(m, "values", []):
            out.update(split(column))
    return out


def encodings(item: str) -> list[bytes]:
    raw = item.encode()
    return [
        raw,
        item.lower().encode(),
        hashlib.sha256(raw).digest(),
        hashlib.sha256(raw).hexdigest().encode(),
        H(item),
    ]


def found(frames: Sequence[bytes], needles: Iterable[bytes]) -> list[bytes]:
    return [needle for needle in needles if any(needle in frame for frame in frames)]


def plain_points(values: Iterable[int]) -> set[bytes]:
    return set(split(elgamal.encode_plaintexts(sorted(set(values)))))


def test_result_is_correct_and_the_right_party_learns_sizes_only(recorded: Any) -> None:
    results, _, _ = recorded
    shared = set(SHARED)
    counts = [sum(1 for x, g in zip(LEFT_IDS, GROUPS, strict=True) if g == k and x in shared)
              for k in range(N_GROUPS)]  # fmt: skip
    assert list(results["nso"].counts) == counts
    assert set(results["nso"].sums) == {(str(g),) for g, n in enumerate(counts) if n >= MIN_CELL}
    assert counts[3] < MIN_CELL  # one group withheld
    assert results["bank"] == ja.RightResult(
        left_size=len(LEFT_IDS), right_size=len(RIGHT_IDS), decrypted=3 * N_COLUMNS
    )


def test_each_party_receives_only_the_protocol_messages(recorded: Any) -> None:
    _, messages, _ = recorded
    bank = [type(m) for m in messages["bank"]]
    assert bank[:2] == [LeftHello, LeftGo]
    assert [kind for kind, _ in itertools.groupby(bank[2:])] == [
        LeftEntries,
        ReleaseCandidate,
        DecryptRequest,
    ]
    nso = [type(m) for m in messages["nso"]]
    assert nso[0] is RightHello
    assert [kind for kind, _ in itertools.groupby(nso[1:])] == [
        ShuffledEntries,
        RightEntries,
        ReleaseVerdict,
        DecryptShares,
    ]


def test_leak_check_can_fail() -> None:
    """Control: the searches find each kind of needle when it is present."""
    item = LEFT_IDS[0]
    for needle in encodings(item):
        assert found([b"x" + needle + b"y"], encodings(item))
    assert found([b"." + elgamal.encode_plaintexts([7])], plain_points([7]))


def test_the_right_party_sees_no_identifier_group_or_value(recorded: Any) -> None:
    """B's frames hold no left identifier (raw, hashed, or H(x)), no g·G of any group
    index, and no v·G of any left value: only H(x)^α and ciphertexts."""
    _, _, frames = recorded
    needles = [e for x in LEFT_IDS for e in encodings(x)]
    assert found(frames["bank"], needles) == []
    assert found(frames["bank"], plain_points(range(N_GROUPS + 3))) == []
    left_values = LEFT_VALUES[0]
    assert found(frames["bank"], plain_points([*left_values, *(-v for v in left_values)])) == []


def test_the_right_party_cannot_decrypt_labels_or_left_values(recorded: Any) -> None:
    """With its own keys B gets nothing from the label and left-value ciphertexts, while
    the label key (A's) does decrypt the labels: the check itself works."""
    _, messages, _ = recorded
    entries = of(messages["bank"], LeftEntries)
    labels = b"".join(m.labels for m in entries)
    values = b"".join(m.values[0] for m in entries)
    groups = plain_points(range(N_GROUPS))
    for key in (RIGHT_KEYS.share, RIGHT_KEYS.psi):
        assert set(split(elgamal.decrypt_points(labels, key))).isdisjoint(groups)
        assert set(split(elgamal.decrypt_points(values, key))).isdisjoint(
            plain_points(LEFT_VALUES[0])
        )
    assert set(split(elgamal.decrypt_points(labels, LEFT_KEYS.label))) == groups


def test_the_left_party_sees_no_identifier_or_value_in_clear(recorded: Any) -> None:
    _, _, frames = recorded
    needles = [e for x in RIGHT_IDS for e in encodings(x)]
    assert found(frames["nso"], needles) == []
    values = [v for column in (*RIGHT_VALUES, *LEFT_VALUES) for v in column]
    assert found(frames["nso"], plain_points(values)) == []


def test_the_left_party_cannot_decrypt_any_single_value(recorded: Any) -> None:
    """No ciphertext A receives opens to an individual value with A's own keys; with both
    shares they do (so the check is not vacuous)."""
    _, messages, _ = recorded
    right = of(messages["nso"], RightEntries)
    shuffled = of(messages["nso"], ShuffledEntries)
    right_points = [plain_points(column) for column in RIGHT_VALUES]
    left_points = plain_points(LEFT_VALUES[0])
    for c in range(2):
        ciphertexts = b"".join(m.values[c] for m in right)
        for key in (LEFT_KEYS.share, LEFT_KEYS.label, LEFT_KEYS.psi):
            opened = set(split(elgamal.decrypt_points(ciphertexts, key)))
            assert opened.isdisjoint(right_points[c])
        assert set(split(elgamal.finish(ciphertexts))).isdisjoint(right_points[c])
        assert set(split(elgamal.decrypt_points(ciphertexts, RIGHT_KEYS.share))) == right_points[c]
    left = b"".join(m.values[0] for m in shuffled)
    shares = [elgamal.partial_decrypt(left, k) for k in (LEFT_KEYS.share, RIGHT_KEYS.share)]
    assert set(split(elgamal.finish(left, shares[0]))).isdisjoint(left_points)
    assert set(split(elgamal.finish(left, *shares))) == left_points


def test_everything_sent_back_is_rerandomised(recorded: Any) -> None:
    """No point of the shuffled entries A gets back equals a point A sent, and no point B
    is asked to decrypt equals one B sent: the parties cannot link the returned values to
    their own."""
    _, messages, _ = recorded
    sent_by_left = points_in(of(messages["bank"], LeftEntries))
    returned = points_in(of(messages["nso"], ShuffledEntries))
    assert returned and sent_by_left
    assert returned.isdisjoint(sent_by_left)
    sent_by_right = points_in(of(messages["nso"], (ShuffledEntries, RightEntries)))
    requested = points_in(of(messages["bank"], DecryptRequest))
    assert len(requested) == 3 * N_COLUMNS  # 3 released groups × (1 left + 2 right) columns
    assert requested.isdisjoint(sent_by_right | sent_by_left)


def test_returned_records_are_reshuffled(recorded: Any) -> None:
    """The re-keyed points come back as exactly {H(x)^(αβ)}, in an order unrelated to the
    order in which A sent them."""
    _, messages, _ = recorded
    sent = split(b"".join(m.points for m in of(messages["bank"], LeftEntries)))
    back = split(b"".join(m.points for m in of(messages["nso"], ShuffledEntries)))
    want = [multiply(RIGHT_KEYS.psi, multiply(LEFT_KEYS.psi, H(x))) for x in LEFT_IDS]
    assert sorted(back) == sorted(want)
    assert Counter(multiply(RIGHT_KEYS.psi, p) for p in sent) == Counter(back)
    assert [multiply(RIGHT_KEYS.psi, p) for p in sent] != back  # 1 in 30! by chance
    # and A itself sent its records in a random order, not in file order
    assert sent != [multiply(LEFT_KEYS.psi, H(x)) for x in LEFT_IDS]


def test_a_withheld_group_is_never_sent_for_decryption(recorded: Any) -> None:
    """B decrypted exactly the released cells: each request point is the rerandomised C1
    of a released cell, and their number is released cells × columns."""
    results, messages, _ = recorded
    requested = b"".join(m.points for m in of(messages["bank"], DecryptRequest))
    assert len(requested) == len(results["nso"].sums) * N_COLUMNS * POINT_BYTES
    assert all(len(m.shares) % POINT_BYTES == 0 for m in of(messages["nso"], DecryptShares))
    assert CIPHERTEXT_BYTES == 2 * POINT_BYTES  # requests carry C1 only, never C2


# --------------------------------------------------------------------------- the release step


def test_the_right_party_sees_counts_of_proposed_cells_only(recorded: Any) -> None:
    """The candidate names the withheld group without its count, and no contribution is
    sent when the right party asked for none."""
    results, messages, _ = recorded
    (candidate,) = of(messages["bank"], ja.ReleaseCandidate)
    counts = results["nso"].counts
    released = [g for g, n in enumerate(counts) if n >= MIN_CELL]
    assert candidate.keys == [[str(g)] for g in released]
    assert candidate.counts == [counts[g] for g in released]
    assert candidate.withheld == [["3"]] and counts[3] not in candidate.counts
    assert of(messages["bank"], ja.CellContributions) == []


def test_with_magnitude_rules_the_right_party_learns_each_cells_value_multiset() -> None:
    """The stated price of dominance rules: B decrypts, per proposed cell, exactly the
    multiset of its own values over the cell's matched persons (rerandomised: no
    ciphertext equals one B sent); it refuses a dominated cell, which is never decrypted."""
    seen: list[ja.Candidate] = []

    def approve(candidate: ja.Candidate) -> dict[tuple[str, ...], str]:
        seen.append(candidate)
        assert candidate.contributions is not None
        return {
            key: "nk:1,50 — dominated"
            for key, (values,) in zip(candidate.keys, candidate.contributions, strict=True)
            if values and max(values) > sum(values) / 2
        }

    big = SHARED[0]  # in group 0, with 6 others
    right_values = [[1_000 if x == big else 10 for x in RIGHT_IDS]]
    network = MemoryNetwork(["nso", "bank"], timeout=60, record=True)
    out = run_parties(
        network,
        {
            "nso": lambda ch: ja.left(
                ch, "bank", LEFT_IDS, GROUPS, N_GROUPS, release=ja.per_group(release)
            ),
            "bank": lambda ch: ja.right(
                ch, "nso", RIGHT_IDS, right_values, approve=approve, contributions=True
            ),
        },
    )

    group_of = dict(zip(LEFT_IDS, GROUPS, strict=True))
    first = seen[0]
    assert first.contributions is not None
    for key, got in zip(first.keys, first.contributions, strict=True):
        members = [x for x in SHARED if group_of[x] == int(key[0])]
        assert got == (tuple(sorted(1_000 if x == big else 10 for x in members)),)
    dominated = (str(group_of[big]),)
    agreed = out["bank"].agreed
    assert agreed is not None and dominated in agreed.withheld
    assert dominated not in out["nso"].sums and out["nso"].refused[dominated]
    by_bank = [decode(frame) for _, frame in network.channel("nso").received or []]
    to_bank = [decode(frame) for _, frame in network.channel("bank").received or []]
    contributed = set(split(b"".join(m.values for m in of(to_bank, ja.CellContributions))))
    assert contributed and contributed.isdisjoint(points_in(of(by_bank, RightEntries)))
