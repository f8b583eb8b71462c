"""Ring arithmetic, fixed point and the secure sum against plain Python integers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.data.fixed_point import FixedPoint
from privstats.errors import ComputationError, ParameterError
from privstats.protocols import sharing
from privstats.protocols.sharing import Ring, secure_sum
from privstats.transport.channel import Channel
from privstats.transport.memory import MemoryNetwork, run_parties

LIMBS = st.integers(1, 3)


def _elements(ring: Ring, values: Sequence[int]) -> np.ndarray:
    """Ring elements of arbitrary residues (no bound check: the residue is what counts)."""
    out = ring.zeros(len(values))
    for i, value in enumerate(values):
        value %= 1 << ring.bits
        for k in range(ring.limbs):
            out[i, k] = (value >> (64 * k)) & ((1 << 64) - 1)
    return out


def _residues(ring: Ring, elements: np.ndarray) -> list[int]:
    return [v % (1 << ring.bits) for v in ring.to_ints(elements)]


@st.composite
def ring_and_pairs(draw: st.DrawFn) -> tuple[Ring, list[int], list[int]]:
    ring = Ring(draw(LIMBS))
    top = (1 << ring.bits) - 1
    # edge residues (0, 1, all ones, limb boundaries) drive the carries
    residue = st.one_of(
        st.integers(0, top),
        st.sampled_from([0, 1, top, 1 << 63, (1 << 64) - 1, 1 << 64, top >> 1]).map(
            lambda v: v & top
        ),
    )
    size = draw(st.integers(0, 12))
    return (
        ring,
        draw(st.lists(residue, min_size=size, max_size=size)),
        draw(st.lists(residue, min_size=size, max_size=size)),
    )


@given(ring_and_pairs())
def test_add_sub_neg_agree_with_integers_modulo_the_ring(
    case: tuple[Ring, list[int], list[int]],
) -> None:
    """add, sub and neg are addition, subtraction and negation modulo 2^(64·limbs)."""
    ring, a, b = case
    modulus = 1 << ring.bits
    x, y = _elements(ring, a), _elements(ring, b)

    assert _residues(ring, ring.add(x, y)) == [(p + q) % modulus for p, q in zip(a, b, strict=True)]
    assert _residues(ring, ring.sub(x, y)) == [(p - q) % modulus for p, q in zip(a, b, strict=True)]
    assert _residues(ring, ring.neg(x)) == [(-p) % modulus for p in a]


@given(ring_and_pairs(), st.integers(1, 6))
def test_shares_reconstruct_and_all_but_one_are_fresh(
    case: tuple[Ring, list[int], list[int]], parties: int
) -> None:
    """Any number of shares add up to the value; the value is never one of the random ones."""
    ring, values, _ = case
    x = _elements(ring, values)

    shares = ring.share(x, parties)

    assert len(shares) == parties
    assert _residues(ring, ring.reconstruct(shares)) == _residues(ring, x)


@given(st.data())
def test_from_ints_and_to_ints_round_trip_within_the_bound(data: st.DataObject) -> None:
    ring = Ring(data.draw(LIMBS))
    parties = data.draw(st.integers(1, 10))
    limit = ring.bound(parties)
    values = data.draw(st.lists(st.integers(-limit, limit), max_size=10))

    assert ring.to_ints(ring.from_ints(values, parties=parties)) == values


def test_from_int64_matches_from_ints() -> None:
    values = [0, 1, -1, 2**62, -(2**62), 12345]
    for limbs in (1, 2, 3):
        ring = Ring(limbs)
        assert ring.to_ints(ring.from_int64(np.array(values))) == values
        assert np.array_equal(ring.from_int64(np.array(values)), ring.from_ints(values))


@pytest.mark.parametrize("limbs", [1, 2, 3])
@pytest.mark.parametrize("parties", [1, 2, 7])
def test_values_above_the_bound_are_refused(limbs: int, parties: int) -> None:
    """A value that could make a sum of ``parties`` values wrap is refused, naming it."""
    ring = Ring(limbs)
    limit = ring.bound(parties)
    assert limit * parties < 1 << (ring.bits - 1)  # n values at the bound cannot wrap

    ring.from_ints([limit, -limit], parties=parties)
    for bad in (limit + 1, -limit - 1):
        with pytest.raises(ParameterError, match="exceeds"):
            ring.from_ints([0, bad], parties=parties)


def test_one_limb_int64_encoding_refuses_values_above_the_bound() -> None:
    ring = Ring(1)
    limit = ring.bound(4)
    ring.from_int64(np.array([limit, -limit]), parties=4)
    with pytest.raises(ParameterError, match="exceeds"):
        ring.from_int64(np.array([limit + 1]), parties=4)


def test_ring_arguments_are_checked() -> None:
    with pytest.raises(ParameterError, match="1 to 8 limbs"):
        Ring(0)
    with pytest.raises(ParameterError, match="shape"):
        Ring(2).add(Ring(2).zeros(2), Ring(1).zeros(2))
    with pytest.raises(ParameterError, match="parties"):
        Ring(1).share(Ring(1).zeros(1), 0)


@given(
    st.integers(0, 52),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), max_size=20),
)
def test_fixed_point_error_is_at_most_half_a_step(frac_bits: int, values: list[float]) -> None:
    """|decode(encode(x)) − x| ≤ 2^−(f+1), and a sum of N values is within N·2^−(f+1)."""
    fixed = FixedPoint(frac_bits)
    encoded = fixed.encode_exact(values)
    scale = 1 << frac_bits

    for x, e in zip(values, encoded, strict=True):
        assert abs(e - x * scale) <= 0.5  # exact: x·2^f is exact in float64
    exact_sum = sum(e for e in encoded)
    real_sum = math.fsum(values)
    assert abs(exact_sum / scale - real_sum) <= len(values) * fixed.max_error + 1e-9 * abs(real_sum)
    if values and frac_bits <= 32:
        assert list(fixed.encode(values)) == list(encoded)


def test_fixed_point_is_still_importable_from_sharing() -> None:
    assert sharing.FixedPoint is FixedPoint


def test_fixed_point_limits() -> None:
    fixed = FixedPoint(32)
    assert fixed.max_error == 2.0**-33
    with pytest.raises(ParameterError, match="too large"):
        fixed.encode([2.0**31])
    big = fixed.encode_exact([2.0**40, -(2.0**40) - 0.5])
    assert list(big) == [2**72, -(2**72) - 2**31]
    with pytest.raises(ParameterError, match="finite"):
        fixed.encode_exact([float("nan")])
    with pytest.raises(ParameterError, match="frac_bits"):
        FixedPoint(53)


# --------------------------------------------------------------------------- secure sum


def _run_sum(
    inputs: dict[str, list[int]],
    ring: Ring,
    recipients: Sequence[str] | None = None,
    chunk_elements: int = 1 << 20,
) -> dict[str, list[int] | None]:
    parties = list(inputs)
    network = MemoryNetwork(parties, timeout=30)

    def role(party: str):  # type: ignore[no-untyped-def]
        def run(channel: Channel) -> list[int] | None:
            values = ring.from_ints(inputs[party], parties=len(parties))
            total = secure_sum(
                channel, parties, values, ring, recipients=recipients, chunk_elements=chunk_elements
            )
            return None if total is None else ring.to_ints(total)

        return run

    return run_parties(network, {party: role(party) for party in parties})


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_secure_sum_equals_the_plain_sum(data: st.DataObject) -> None:
    """For 2–5 parties, any ring and vectors within the bound, every party gets Σ inputs."""
    n = data.draw(st.integers(2, 5), label="parties")
    ring = Ring(data.draw(LIMBS, label="limbs"))
    size = data.draw(st.integers(0, 8), label="size")
    limit = ring.bound(n)
    value = st.one_of(st.integers(-limit, limit), st.sampled_from([0, limit, -limit]))
    inputs = {
        f"p{i}": data.draw(st.lists(value, min_size=size, max_size=size), label=f"p{i}")
        for i in range(n)
    }
    chunk = data.draw(st.integers(1, 4), label="chunk elements")

    results = _run_sum(inputs, ring, chunk_elements=chunk)

    expected = [sum(column) for column in zip(*inputs.values(), strict=True)] if size else []
    assert results == dict.fromkeys(inputs, expected)


def test_only_recipients_get_the_total() -> None:
    inputs = {"a": [1, 2, -3], "b": [10, 20, 30], "c": [100, -200, 300], "d": [0, 0, 0]}

    results = _run_sum(inputs, Ring(2), recipients=["b", "d"])

    assert results == {"a": None, "b": [111, -178, 327], "c": None, "d": [111, -178, 327]}


def test_empty_vectors_sum_to_an_empty_vector() -> None:
    results = _run_sum({"a": [], "b": [], "c": []}, Ring(3))

    assert results == {"a": [], "b": [], "c": []}


def test_secure_sum_refuses_bad_party_lists() -> None:
    network = MemoryNetwork(["a", "b"], timeout=5)
    channel = network.channel("a")
    with pytest.raises(ParameterError, match="two distinct parties"):
        secure_sum(channel, ["a"], Ring(1).zeros(1), Ring(1))
    with pytest.raises(ParameterError, match="recipients"):
        secure_sum(channel, ["a", "b"], Ring(1).zeros(1), Ring(1), recipients=["z"])


def test_vectors_of_different_lengths_fail_with_a_protocol_error() -> None:
    """A peer that sends a longer vector is caught instead of producing a wrong total."""
    inputs = {"a": [1, 2], "b": [1, 2, 3]}
    with pytest.raises(ComputationError, match="chunk"):
        _run_sum(inputs, Ring(1))
