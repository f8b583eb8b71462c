"""Tests for privstats.crypto: ristretto255 arithmetic, hashing to the group, permutations."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import rbcl
from scipy.stats import chisquare

from privstats.crypto import (
    POINT_BYTES,
    Scalar,
    hash_to_group,
    multiply,
    random_points,
    secure_permutation,
    shuffle_points,
)
from privstats.errors import CryptoError, ParameterError

CONTEXT = b"privstats.tests.group"
# order of the ristretto255 group, 2^252 + 27742317777372353535851937790883648493
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


def small_scalar(value: int) -> Scalar:
    """The scalar ``value`` (little-endian, as libsodium encodes scalars)."""
    return Scalar(value.to_bytes(32, "little"))


def split(points: bytes) -> list[bytes]:
    return [points[i : i + POINT_BYTES] for i in range(0, len(points), POINT_BYTES)]


# --------------------------------------------------------------------------- arithmetic


def test_scalar_multiplication_commutes() -> None:
    """(P^a)^b == (P^b)^a for several points at once, and the result differs from P."""
    points = hash_to_group([b"alice", b"bob", b"carol"], context=CONTEXT)
    a, b = Scalar.random(), Scalar.random()
    ab = multiply(b, multiply(a, points))
    ba = multiply(a, multiply(b, points))
    assert ab == ba
    assert len(ab) == len(points)
    assert ab != points
    assert multiply(a, points) != multiply(b, points)


def test_multiplication_by_small_scalars_matches_repeated_addition() -> None:
    """P^1 == P, P^2 == P + P and P^3 == P + P + P, using libsodium's point addition."""
    (point,) = split(hash_to_group([b"x"], context=CONTEXT))
    add = rbcl.crypto_core_ristretto255_add
    assert multiply(small_scalar(1), point) == point
    assert multiply(small_scalar(2), point) == add(point, point)
    assert multiply(small_scalar(3), point) == add(add(point, point), point)


def test_batch_multiplication_is_pointwise() -> None:
    """Multiplying a packed batch equals multiplying each point alone, in order."""
    points = random_points(5)
    key = Scalar.random()
    assert multiply(key, points) == b"".join(multiply(key, p) for p in split(points))


def test_inverse_undoes_multiplication() -> None:
    """(P^a)^(1/a) == P."""
    points = hash_to_group([b"1", b"2", b"3", b"4"], context=CONTEXT)
    a = Scalar.random()
    assert multiply(a.inverse(), multiply(a, points)) == points
    assert multiply(a, multiply(a.inverse(), points)) == points


def test_multiply_empty_batch() -> None:
    """An empty batch gives an empty result."""
    assert multiply(Scalar.random(), b"") == b""


# --------------------------------------------------------------------------- hashing


def test_hash_to_group_is_deterministic_and_packed_in_order() -> None:
    """Same input, same points; a batch is the concatenation of single hashes."""
    items = [b"a", b"b", "é".encode(), b""]
    first = hash_to_group(items, context=CONTEXT)
    assert first == hash_to_group(list(items), context=CONTEXT)
    assert len(first) == len(items) * POINT_BYTES
    assert first == b"".join(hash_to_group([item], context=CONTEXT) for item in items)
    assert len(set(split(first))) == len(items)
    assert hash_to_group([], context=CONTEXT) == b""


def test_hash_to_group_matches_documented_construction() -> None:
    """H(x) is Elligator over SHA-512(len(context) as 2 bytes || context || x)."""
    item = b"identifier-42"
    digest = hashlib.sha512(len(CONTEXT).to_bytes(2, "big") + CONTEXT + item).digest()
    assert hash_to_group([item], context=CONTEXT) == rbcl.crypto_core_ristretto255_from_hash(digest)


def test_hash_to_group_is_context_separated() -> None:
    """Different contexts give different points, even when context||item is the same."""
    item = b"identifier"
    assert hash_to_group([item], context=b"ctx-a") != hash_to_group([item], context=b"ctx-b")
    # the context length is framed, so shifting bytes between context and item changes H
    assert hash_to_group([b"bc"], context=b"a") != hash_to_group([b"c"], context=b"ab")


def test_hash_to_group_outputs_are_valid_points() -> None:
    """Every hashed point is a valid encoding that multiplication accepts."""
    points = hash_to_group([str(i).encode() for i in range(20)], context=CONTEXT)
    for point in split(points):
        assert rbcl.crypto_core_ristretto255_is_valid_point(point)
    multiply(Scalar.random(), points)


def test_hash_to_group_needs_a_context() -> None:
    """An empty context is refused."""
    with pytest.raises(ParameterError):
        hash_to_group([b"x"], context=b"")


# --------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize("bad", [b"\xff" * 32, bytes(32)], ids=["not-canonical", "identity"])
@pytest.mark.parametrize("index", [0, 2])
def test_invalid_point_is_rejected_with_its_index(bad: bytes, index: int) -> None:
    """A non-encoding (or the identity) among valid points raises CryptoError naming it."""
    good = random_points(3)
    packed = good[: index * POINT_BYTES] + bad + good[index * POINT_BYTES :]
    with pytest.raises(CryptoError) as info:
        multiply(Scalar.random(), packed)
    assert info.value.index == index
    assert str(index) in str(info.value)


@pytest.mark.parametrize("size", [1, 31, 33, 63, 65])
def test_wrong_length_is_rejected(size: int) -> None:
    """A byte string that is not a whole number of points raises CryptoError."""
    with pytest.raises(CryptoError):
        multiply(Scalar.random(), b"\x01" * size)


def test_points_must_be_bytes() -> None:
    """Points given as a non-bytes object raise TypeError, not a silent conversion."""
    with pytest.raises(TypeError):
        multiply(Scalar.random(), bytearray(random_points(1)))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- scalars


def test_scalar_repr_hides_the_secret() -> None:
    """repr and str of a Scalar show neither its bytes nor their hex or integer value."""
    seed = bytes(range(64))
    scalar = Scalar.from_seed(seed)
    value = rbcl.crypto_core_ristretto255_scalar_reduce(seed)
    for shown in (repr(scalar), str(scalar), f"{scalar!r}", repr([scalar])):
        assert "secret" in shown
        assert value.hex() not in shown
        assert str(int.from_bytes(value, "little")) not in shown
        assert repr(value) not in shown


def test_zero_scalar_is_rejected() -> None:
    """The zero scalar is never a key: directly, or from a seed that reduces to zero."""
    with pytest.raises(CryptoError):
        Scalar(bytes(32))
    with pytest.raises(CryptoError):
        Scalar.from_seed(bytes(64))
    with pytest.raises(CryptoError):
        Scalar.from_seed(GROUP_ORDER.to_bytes(64, "little"))


def test_scalar_size_is_checked() -> None:
    """A scalar needs exactly 32 bytes; a seed exactly 64."""
    with pytest.raises(TypeError):
        Scalar(b"\x01" * 31)
    with pytest.raises(TypeError):
        Scalar.from_seed(b"\x01" * 32)


def test_from_seed_is_deterministic_and_random_is_not() -> None:
    """Equal seeds give equal keys (same products); random scalars differ."""
    point = hash_to_group([b"p"], context=CONTEXT)
    seed = b"s" * 64
    assert multiply(Scalar.from_seed(seed), point) == multiply(Scalar.from_seed(seed), point)
    assert multiply(Scalar.from_seed(seed), point) != multiply(Scalar.from_seed(b"t" * 64), point)
    assert multiply(Scalar.random(), point) != multiply(Scalar.random(), point)


def test_random_points_are_valid_and_distinct() -> None:
    """random_points(n) gives n distinct valid points; n < 0 is refused."""
    points = random_points(10)
    assert len(points) == 10 * POINT_BYTES
    assert len(set(split(points))) == 10
    assert all(rbcl.crypto_core_ristretto255_is_valid_point(p) for p in split(points))
    assert random_points(0) == b""
    with pytest.raises(ParameterError):
        random_points(-1)


# --------------------------------------------------------------------------- permutations


@pytest.mark.parametrize("n", [0, 1, 2, 7, 100, 1000])
def test_secure_permutation_is_a_permutation(n: int) -> None:
    """secure_permutation(n) holds each of 0..n-1 exactly once, as integer indices."""
    perm = secure_permutation(n)
    assert perm.shape == (n,)
    assert np.issubdtype(perm.dtype, np.integer)
    assert sorted(perm.tolist()) == list(range(n))


def test_secure_permutation_rejects_negative_size() -> None:
    """A negative size is refused."""
    with pytest.raises(ParameterError):
        secure_permutation(-1)


def test_secure_permutation_varies() -> None:
    """Twenty permutations of 20 elements are not all equal (chance about 20 * 2^-61)."""
    perms = {tuple(secure_permutation(20).tolist()) for _ in range(20)}
    assert len(perms) > 1


@pytest.mark.slow
def test_secure_permutation_position_is_uniform() -> None:
    """Where element 0 lands in secure_permutation(6) is uniform (chi-squared, 6000 draws)."""
    draws = 6000
    positions = [int(np.flatnonzero(secure_permutation(6) == 0)[0]) for _ in range(draws)]
    observed = np.bincount(positions, minlength=6)
    assert observed.sum() == draws
    assert chisquare(observed).pvalue > 1e-5  # a real bias gives p near 0; chance failure 1e-5


def test_shuffle_points_preserves_the_multiset() -> None:
    """Shuffling keeps every point exactly once, and does change the order sometimes."""
    points = random_points(30)
    shuffled = [shuffle_points(points) for _ in range(5)]
    for result in shuffled:
        assert len(result) == len(points)
        assert sorted(split(result)) == sorted(split(points))
    assert any(result != points for result in shuffled)
    assert shuffle_points(b"") == b""


def test_shuffle_points_rejects_partial_points() -> None:
    """A byte string that is not a whole number of points raises CryptoError."""
    with pytest.raises(CryptoError):
        shuffle_points(b"\x00" * 33)
