"""Exponential ElGamal on ristretto255 and the discrete logarithm that completes decryption."""

from __future__ import annotations

import hashlib

import pytest
import rbcl
from hypothesis import given, settings
from hypothesis import strategies as st

from privstats.crypto import POINT_BYTES, Scalar, discrete_log, elgamal
from privstats.crypto.elgamal import CIPHERTEXT_BYTES, IDENTITY
from privstats.errors import CryptoError, ParameterError

GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
GENERATOR = rbcl.crypto_scalarmult_ristretto255_base((1).to_bytes(32, "little"))


def seeded(label: str) -> Scalar:
    return Scalar.from_seed(hashlib.sha512(label.encode()).digest())


def split(packed: bytes, size: int) -> list[bytes]:
    return [packed[i : i + size] for i in range(0, len(packed), size)]


def decrypt(ciphertexts: bytes, secret: Scalar, **options: object) -> list[int]:
    return discrete_log(elgamal.decrypt_points(ciphertexts, secret), **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- encoding


def test_plaintext_points_are_multiples_of_the_generator() -> None:
    """m·G for 0, 1, 2, -1 and a large m: identity, G, G+G, the negation, (m mod ℓ)·G."""
    zero, one, two, minus_one = split(elgamal.encode_plaintexts([0, 1, 2, -1]), POINT_BYTES)
    assert zero == IDENTITY
    assert one == GENERATOR
    assert two == rbcl.crypto_core_ristretto255_add(GENERATOR, GENERATOR)
    assert minus_one == rbcl.crypto_core_ristretto255_sub(IDENTITY, GENERATOR)
    big = 2**127 + 12345
    assert elgamal.encode_plaintexts([big]) == rbcl.crypto_scalarmult_ristretto255_base(
        (big % GROUP_ORDER).to_bytes(32, "little")
    )
    assert elgamal.encode_plaintexts([-big]) == rbcl.crypto_scalarmult_ristretto255_base(
        (-big % GROUP_ORDER).to_bytes(32, "little")
    )


def test_plaintexts_are_checked() -> None:
    """Non-integers are a TypeError, integers beyond ±2^128 a ParameterError."""
    with pytest.raises(TypeError):
        elgamal.encode_plaintexts([True])
    with pytest.raises(TypeError):
        elgamal.encode_plaintexts([1.0])  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="2\\^128"):
        elgamal.encrypt([2**128], elgamal.keygen()[1])


# --------------------------------------------------------------------------- encryption


def test_encrypt_then_decrypt_gives_the_plaintexts() -> None:
    """Zero, negative and large values survive encryption and decryption."""
    secret, public = elgamal.keygen()
    values = [0, 1, -1, 42, -9_999, 2**39, -(2**39)]
    ciphertexts = elgamal.encrypt(values, public)
    assert len(ciphertexts) == len(values) * CIPHERTEXT_BYTES
    centers = [0, 0, 0, 0, 0, 2**39 - 100, -(2**39) + 100]  # keeps the search short
    assert decrypt(ciphertexts, secret, centers=centers) == values
    assert elgamal.decrypt_points(ciphertexts, secret) == elgamal.encode_plaintexts(values)


def test_encryption_is_randomised() -> None:
    """The same plaintext twice gives unrelated ciphertexts, and no C2 is m·G itself."""
    _, public = elgamal.keygen()
    first, second = split(elgamal.encrypt([7, 7], public), CIPHERTEXT_BYTES)
    assert first[:POINT_BYTES] != second[:POINT_BYTES]
    assert first[POINT_BYTES:] != second[POINT_BYTES:]
    assert elgamal.encode_plaintexts([7]) not in (first[POINT_BYTES:], second[POINT_BYTES:])
    zero = elgamal.encrypt([0], public)
    assert IDENTITY not in split(zero, POINT_BYTES)


def test_encrypt_with_secret_decrypts_like_public_key_encryption() -> None:
    """The owner's shortcut (rG, (m + rx)G) is a ciphertext under xG."""
    secret, public = elgamal.keygen()
    values = [0, 5, -5, 10**6]
    ciphertexts = elgamal.encrypt_with_secret(values, secret)
    assert decrypt(ciphertexts, secret) == values
    # rerandomising under the public key keeps the plaintexts
    assert decrypt(elgamal.rerandomise(ciphertexts, public), secret) == values


def test_rerandomise_changes_every_point_and_keeps_the_plaintext() -> None:
    secret, public = elgamal.keygen()
    values = [3, 0, -8]
    ciphertexts = elgamal.encrypt(values, public)
    fresh = elgamal.rerandomise(ciphertexts, public)
    assert set(split(fresh, POINT_BYTES)).isdisjoint(split(ciphertexts, POINT_BYTES))
    assert decrypt(fresh, secret) == values
    assert elgamal.rerandomise(b"", public) == b""


def test_sums_are_homomorphic() -> None:
    """Pointwise addition and the sum of a batch encrypt the sums of the plaintexts."""
    secret, public = elgamal.keygen()
    a, b = [1, -2, 3], [10, 20, -30]
    added = elgamal.add(elgamal.encrypt(a, public), elgamal.encrypt(b, public))
    assert decrypt(added, secret) == [11, 18, -27]
    total = elgamal.sum_ciphertexts(elgamal.encrypt(a + b, public))
    assert decrypt(total, secret) == [sum(a + b)]
    # x + (-x) sums to the identity in C2 when the randomness cancels too: still decrypts
    assert decrypt(elgamal.sum_ciphertexts(elgamal.encrypt([5, -5], public)), secret) == [0]
    assert elgamal.sum_ciphertexts(b"") == IDENTITY * 2
    assert decrypt(IDENTITY * 2, secret) == [0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-(2**24), 2**24), min_size=1, max_size=12))
def test_sum_of_any_values_decrypts_under_the_joint_key(values: list[int]) -> None:
    """Two key holders: C2 - a·C1 - b·C1 of the summed ciphertexts is the sum's point."""
    a, b = seeded("a"), seeded("b")
    joint = elgamal.combine_public_keys(elgamal.public_key(a), elgamal.public_key(b))
    total = elgamal.sum_ciphertexts(elgamal.encrypt(values, joint))
    shares = elgamal.partial_decrypt(total, a), elgamal.partial_decrypt(total, b)
    assert discrete_log(elgamal.finish(total, *shares)) == [sum(values)]
    # one key alone is not enough
    assert elgamal.finish(total, shares[0]) != elgamal.encode_plaintexts([sum(values)])


def test_decryption_shares_need_only_the_first_components() -> None:
    secret, public = elgamal.keygen()
    ciphertexts = elgamal.encrypt([1, 2], public)
    first = elgamal.first_points(ciphertexts)
    assert first == b"".join(c[:POINT_BYTES] for c in split(ciphertexts, CIPHERTEXT_BYTES))
    assert elgamal.decryption_shares(first, secret) == elgamal.partial_decrypt(ciphertexts, secret)
    # the identity (the C1 of a sum of nothing) has the identity as its share
    assert elgamal.decryption_shares(IDENTITY, secret) == IDENTITY


def test_keys() -> None:
    """Public keys are xG; the joint key is their sum; bad keys are refused."""
    secret, public = elgamal.keygen()
    assert public == elgamal.public_key(secret)
    other = elgamal.public_key(seeded("other"))
    assert elgamal.combine_public_keys(public, other) == rbcl.crypto_core_ristretto255_add(
        public, other
    )
    with pytest.raises(CryptoError):
        elgamal.encrypt([1], IDENTITY)
    with pytest.raises(CryptoError):
        elgamal.combine_public_keys(b"\x01" * 32)
    with pytest.raises(TypeError):
        elgamal.encrypt([1], b"short")
    with pytest.raises(TypeError):
        elgamal.public_key(b"\x01" * 32)  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        elgamal.combine_public_keys()
    assert "secret" in repr(secret) and secret._value.hex() not in repr(secret)


def test_invalid_encodings_are_refused() -> None:
    """libsodium's addition yields all zeros on bad input; that is caught, not summed."""
    secret, public = elgamal.keygen()
    good = elgamal.encrypt([1, 2], public)
    bad = good[:CIPHERTEXT_BYTES] + b"\xff" * CIPHERTEXT_BYTES
    with pytest.raises(CryptoError):
        elgamal.sum_ciphertexts(bad)
    with pytest.raises(CryptoError):
        elgamal.sum_ciphertexts(b"\xff" * CIPHERTEXT_BYTES)
    with pytest.raises(CryptoError):
        elgamal.rerandomise(bad, public)
    with pytest.raises(CryptoError):
        elgamal.add(good, bad)
    with pytest.raises(CryptoError, match="invalid"):
        elgamal.partial_decrypt(bad[CIPHERTEXT_BYTES:], secret)
    with pytest.raises(CryptoError):
        elgamal.finish(good[:CIPHERTEXT_BYTES], b"\xff" * POINT_BYTES)
    with pytest.raises(CryptoError):
        elgamal.check_ciphertexts(bad)
    with pytest.raises(CryptoError, match="multiple of 64"):
        elgamal.check_ciphertexts(good[:-1])
    with pytest.raises(ParameterError):
        elgamal.add(good, good[:CIPHERTEXT_BYTES])
    with pytest.raises(ParameterError):
        elgamal.finish(good, IDENTITY)
    assert elgamal.check_ciphertexts(good) == 2


# --------------------------------------------------------------------------- discrete logarithm


def test_discrete_log_of_small_and_signed_values() -> None:
    values = [0, 1, -1, 4095, 4096, -4097, 123_456_789, -987_654]
    assert discrete_log(elgamal.encode_plaintexts(values)) == values
    assert discrete_log(b"") == []


def test_discrete_log_at_the_edges_of_the_range() -> None:
    """±bound decrypt; one beyond raises CryptoError naming the point."""
    bound = 5_000
    inside = [bound, -bound, 0]
    assert discrete_log(elgamal.encode_plaintexts(inside), bound=bound) == inside
    with pytest.raises(CryptoError, match=r"-5000\.\.5000") as raised:
        discrete_log(elgamal.encode_plaintexts([3, bound + 1]), bound=bound)
    assert raised.value.index == 1
    with pytest.raises(CryptoError):
        discrete_log(elgamal.encode_plaintexts([-bound - 1]), bound=bound)


def test_discrete_log_nonnegative_searches_upwards_only() -> None:
    assert discrete_log(elgamal.encode_plaintexts([0, 77_777]), nonnegative=True) == [0, 77_777]
    with pytest.raises(CryptoError, match=r"0\.\.100000"):
        discrete_log(elgamal.encode_plaintexts([-1]), nonnegative=True, bound=100_000)


def test_discrete_log_outside_the_range_is_an_error_even_far_away() -> None:
    """A point that holds no small integer (a random point) is reported, not mistaken."""
    random_point = rbcl.crypto_core_ristretto255_random()
    with pytest.raises(CryptoError) as raised:
        discrete_log(elgamal.encode_plaintexts([12]) + random_point, bound=20_000)
    assert raised.value.index == 1


def test_discrete_log_centers_and_workers_do_not_change_the_answer() -> None:
    values = [2**33 + 17, 2**33 - 5_000, -(2**18)]
    points = elgamal.encode_plaintexts(values)
    assert discrete_log(points, centers=[2**33, 2**33, 0]) == values
    assert discrete_log(points[: 2 * POINT_BYTES], centers=[2**33] * 2, workers=1) == values[:2]
    # a bad guess only costs time
    assert discrete_log(points[2 * POINT_BYTES :], centers=[10**6], workers=2) == values[2:]


def test_discrete_log_arguments_are_checked() -> None:
    point = elgamal.encode_plaintexts([1])
    with pytest.raises(ParameterError):
        discrete_log(point, bound=-1)
    with pytest.raises(ParameterError):
        discrete_log(point, centers=[1, 2])
    with pytest.raises(ParameterError):
        discrete_log(point, workers=0)
    with pytest.raises(ParameterError):
        discrete_log(point, max_table=1)
    with pytest.raises(CryptoError):
        discrete_log(b"\xff" * POINT_BYTES)
    with pytest.raises(CryptoError):
        discrete_log(b"\x00" * 31)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(-(2**22), 2**22), min_size=1, max_size=6))
def test_discrete_log_inverts_encoding(values: list[int]) -> None:
    assert discrete_log(elgamal.encode_plaintexts(values)) == values
