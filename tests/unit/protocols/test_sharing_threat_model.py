"""What each party of a secure sum receives, checked against the semi-honest threat model.

Every frame a party received is recorded. A party must receive, from each peer, one share
vector that is uniformly random whatever the peer's input, and — if it is a recipient —
one partial sum per peer that is uniform too, the partial sums adding up to exactly the
total. With three or more parties, no combination of what one party saw and sent gives
away another party's input: the best it can form is still masked by shares it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare

from privstats.protocols.sharing import PartialChunk, Ring, ShareChunk, secure_sum
from privstats.transport.channel import Channel
from privstats.transport.codec import decode
from privstats.transport.memory import MemoryNetwork, run_parties

pytestmark = pytest.mark.slow

SIZE = 4096  # elements per vector: 32 KiB per one-limb frame, enough for byte statistics
ALPHA = 1e-6  # ~200 checks per run: a correct implementation fails about once in 5,000 runs


def _inputs(kind: str, ring: Ring, parties: int) -> dict[str, np.ndarray]:
    """Vectors with a structure that would show through any unmasked share."""
    limit = ring.bound(parties)
    values = {
        "zeros": [0] * SIZE,
        "large": [limit - i for i in range(SIZE)],
        "ramp": [i * 1_000_003 for i in range(SIZE)],
    }[kind]
    return {f"p{i}": ring.from_ints(values, parties=parties) for i in range(parties)}


def _recorded_sum(
    inputs: dict[str, np.ndarray], ring: Ring
) -> tuple[dict[str, list[int]], dict[str, list[tuple[str, object]]]]:
    """Run the sum recording frames: (results, party → [(peer, decoded message)])."""
    parties = list(inputs)
    network = MemoryNetwork(parties, timeout=60, record=True)

    def role(party: str):  # type: ignore[no-untyped-def]
        def run(channel: Channel) -> list[int]:
            total = secure_sum(channel, parties, inputs[party], ring)
            assert total is not None
            return ring.to_ints(total)

        return run

    results = run_parties(network, {p: role(p) for p in parties})
    views = {}
    for party in parties:
        received = network.channel(party).received
        assert received is not None
        views[party] = [(peer, decode(frame)) for peer, frame in received]
    return results, views


def _vector(messages: Sequence[object], kind: type, ring: Ring) -> np.ndarray:
    chunks = [m for m in messages if isinstance(m, kind)]
    return np.concatenate([ring.from_bytes(m.data) for m in chunks])  # type: ignore[attr-defined]


def _byte_histogram(elements: np.ndarray) -> np.ndarray:
    return np.bincount(np.frombuffer(elements.tobytes(), dtype=np.uint8), minlength=256)


def _assert_uniform_bytes(elements: np.ndarray) -> None:
    assert chisquare(_byte_histogram(elements)).pvalue > ALPHA


def _assert_uniform_bits(elements: np.ndarray, ring: Ring) -> None:
    """Every bit position of the ring elements is 1 about half the time."""
    bits = np.unpackbits(elements.astype("<u8").view(np.uint8).reshape(len(elements), -1), axis=1)
    ones = bits.sum(axis=0)
    n = len(elements)
    z = (ones - n / 2) / np.sqrt(n / 4)
    assert bits.shape[1] == ring.bits
    assert np.abs(z).max() < 6.0  # p ≈ 4·10⁻⁷ for the most extreme of 192 positions


@pytest.mark.parametrize("limbs", [1, 3])
@pytest.mark.parametrize("kind", ["zeros", "large", "ramp"])
def test_every_received_share_and_partial_is_uniform(kind: str, limbs: int) -> None:
    """Whatever the inputs, each share and each partial sum a party receives is uniform."""
    ring = Ring(limbs)
    inputs = _inputs(kind, ring, 3)

    results, views = _recorded_sum(inputs, ring)

    for party, view in views.items():
        peers = {peer for peer, _ in view}
        assert peers == set(inputs) - {party}
        for peer in peers:
            messages = [m for p, m in view if p == peer]
            assert {type(m) for m in messages} == {ShareChunk, PartialChunk}
            for kind_ in (ShareChunk, PartialChunk):
                vector = _vector(messages, kind_, ring)
                assert len(vector) == SIZE
                _assert_uniform_bytes(vector)
                _assert_uniform_bits(vector, ring)
    expected = [sum(col) for col in zip(*(ring.to_ints(v) for v in inputs.values()), strict=True)]
    assert all(result == expected for result in results.values())


def test_the_view_does_not_depend_on_the_senders_input() -> None:
    """The shares a party receives have the same distribution for zeros and for large
    values from its peers (two-sample chi-square on the bytes)."""
    ring = Ring(1)
    views = {}
    for kind in ("zeros", "large"):
        _, recorded = _recorded_sum(_inputs(kind, ring, 2), ring)
        shares = [m for _, m in recorded["p0"] if isinstance(m, ShareChunk)]
        views[kind] = _byte_histogram(_vector(shares, ShareChunk, ring))

    table = np.stack([views["zeros"], views["large"]])
    assert chi2_contingency(table).pvalue > ALPHA


def test_partial_sums_add_up_to_the_total_but_hide_each_input() -> None:
    """With three parties, p0's partial sum plus those it received is the total. Its best
    linear guess of p1's input — p1's partial minus what p0 sent p1, plus what p1 sent
    p0 — is still masked by the shares between p1 and p2, so it is uniform and unrelated
    to p1's input. (The recorded views of p1 supply what p0 sent, as p0 itself knows it.)"""
    ring = Ring(1)
    inputs = _inputs("ramp", ring, 3)

    results, views = _recorded_sum(inputs, ring)

    def received(party: str, peer: str, kind: type) -> np.ndarray:
        return _vector([m for p, m in views[party] if p == peer], kind, ring)

    partial = {p: received("p1" if p != "p1" else "p0", p, PartialChunk) for p in inputs}
    total = ring.reconstruct(list(partial.values()))
    assert ring.to_ints(total) == results["p0"]

    sent_to_p1 = received("p1", "p0", ShareChunk)  # known to p0: it drew this mask
    from_p1 = received("p0", "p1", ShareChunk)
    guess = ring.add(ring.sub(partial["p1"], sent_to_p1), from_p1)
    _assert_uniform_bytes(guess)
    residual = ring.sub(guess, inputs["p1"])  # what still masks p1's input
    _assert_uniform_bytes(residual)
    assert not np.array_equal(guess, inputs["p1"])


def test_two_parties_learn_each_others_input_only_through_the_total() -> None:
    """Control: with two parties the same guess gives the peer's input exactly — as the
    total minus one's own input does; the threat model promises nothing more for n = 2."""
    ring = Ring(1)
    inputs = _inputs("ramp", ring, 2)

    _, views = _recorded_sum(inputs, ring)

    def received(party: str, peer: str, kind: type) -> np.ndarray:
        return _vector([m for p, m in views[party] if p == peer], kind, ring)

    guess = ring.add(
        ring.sub(received("p0", "p1", PartialChunk), received("p1", "p0", ShareChunk)),
        received("p0", "p1", ShareChunk),
    )
    assert np.array_equal(guess, inputs["p1"])


@pytest.mark.parametrize("kind", ["zeros", "large", "ramp"])
def test_the_uniformity_checks_can_fail(kind: str) -> None:
    """Control: the checks reject the structured inputs themselves, unmasked."""
    ring = Ring(3)
    vector = _inputs(kind, ring, 3)["p0"]
    with pytest.raises(AssertionError):
        _assert_uniform_bytes(vector)
    with pytest.raises(AssertionError):
        _assert_uniform_bits(vector, ring)
