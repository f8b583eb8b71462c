"""Exponential ElGamal on ristretto255: additively homomorphic encryption of small integers.

``Enc_K(m) = (rG, mG + rK)`` with a fresh random scalar ``r`` for public key ``K = xG``.
Adding two ciphertexts point by point encrypts the sum of their plaintexts; adding an
encryption of 0 *rerandomises* a ciphertext (a fresh-looking ciphertext of the same
plaintext). Decryption gives the point ``mG = C2 - x·C1``, not ``m``: the integer is found
by a discrete logarithm over a bounded range (:mod:`privstats.crypto.dlog`), so this scheme
suits sums of bounded integers, and the keys may be *joint*: for ``K = aG + bG`` each key
holder returns its partial decryption ``a·C1``, ``b·C1`` and ``C2`` minus both is ``mG``.

The API is batch-oriented over *packed* bytes: a ciphertext is 64 bytes (``C1 || C2``, two
canonical point encodings), ``n`` ciphertexts are ``n * 64`` bytes. Plaintexts are Python
integers taken modulo the group order; negative integers are encoded as ``ℓ - |m|``.
Security is IND-CPA under the decisional Diffie–Hellman assumption; ciphertexts are
malleable by design. All arithmetic is libsodium's (through ``rbcl``); this module only
loops, checks lengths and encodings, and keeps secret scalars out of sight.

Invalid encodings: libsodium's point addition leaves its output as the identity (all zero
bytes) when an input does not decode, so every sum that comes out as the identity is
checked and an invalid input raises :class:`~privstats.errors.CryptoError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import rbcl

from privstats.crypto.group import POINT_BYTES, Scalar
from privstats.errors import CryptoError, ParameterError

__all__ = [
    "CIPHERTEXT_BYTES",
    "IDENTITY",
    "MAX_PLAINTEXT",
    "add",
    "check_ciphertexts",
    "check_points",
    "combine_public_keys",
    "decrypt_points",
    "decryption_shares",
    "encode_plaintexts",
    "encrypt",
    "encrypt_with_secret",
    "finish",
    "first_points",
    "keygen",
    "partial_decrypt",
    "public_key",
    "rerandomise",
    "sum_ciphertexts",
]

CIPHERTEXT_BYTES = 2 * POINT_BYTES
MAX_PLAINTEXT = 2**128
"""Plaintexts must satisfy ``|m| < MAX_PLAINTEXT``, far below the group order."""

IDENTITY = bytes(POINT_BYTES)
"""The encoding of the group's identity element, ``0·G``: 32 zero bytes."""

_add = rbcl.crypto_core_ristretto255_add
_sub = rbcl.crypto_core_ristretto255_sub
_base = rbcl.crypto_scalarmult_ristretto255_base
_base0 = rbcl.crypto_scalarmult_ristretto255_base_allow_scalar_zero
_mul = rbcl.crypto_scalarmult_ristretto255
_mul0 = rbcl.crypto_scalarmult_ristretto255_allow_scalar_zero
_random_scalar = rbcl.crypto_core_ristretto255_scalar_random
_valid = rbcl.crypto_core_ristretto255_is_valid_point


def _secret(key: Scalar) -> bytes:
    if not isinstance(key, Scalar):
        raise TypeError(f"a secret key must be a Scalar, not {type(key).__name__}")
    return key._value


def _count(data: bytes, size: int, what: str) -> int:
    if not isinstance(data, bytes):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    count, rest = divmod(len(data), size)
    if rest:
        raise CryptoError(f"{what} has {len(data)} bytes, not a multiple of {size}")
    return count


def check_points(points: bytes, what: str = "points") -> int:
    """The number of packed points, after checking each is a valid ristretto255 encoding."""
    count = _count(points, POINT_BYTES, what)
    for i in range(count):
        if not _valid(points[i * POINT_BYTES : (i + 1) * POINT_BYTES]):
            raise CryptoError(f"{what}: element {i} is not a valid ristretto255 encoding", index=i)
    return count


def check_ciphertexts(ciphertexts: bytes, what: str = "ciphertexts") -> int:
    """The number of packed ciphertexts, after checking both points of each are valid."""
    count = _count(ciphertexts, CIPHERTEXT_BYTES, what)
    for i in range(2 * count):
        if not _valid(ciphertexts[i * POINT_BYTES : (i + 1) * POINT_BYTES]):
            raise CryptoError(
                f"{what}: ciphertext {i // 2} holds an invalid ristretto255 encoding", index=i // 2
            )
    return count


def _public(key: bytes, what: str = "public key") -> bytes:
    if not isinstance(key, bytes) or len(key) != POINT_BYTES:
        raise TypeError(f"a {what} is a 32-byte point encoding")
    if key == IDENTITY or not _valid(key):
        raise CryptoError(f"the {what} is not a valid non-identity ristretto255 point")
    return key


def _plus(p: bytes, q: bytes, index: int) -> bytes:
    """``p + q``; an identity result is accepted only if both inputs are valid points."""
    out: bytes = _add(p, q)
    if out == IDENTITY and not (_valid(p) and _valid(q)):
        raise CryptoError(_invalid(index), index=index)
    return out


def _minus(p: bytes, q: bytes, index: int) -> bytes:
    out: bytes = _sub(p, q)
    if out == IDENTITY and not (_valid(p) and _valid(q)):
        raise CryptoError(_invalid(index), index=index)
    return out


def _invalid(index: int) -> str:
    return f"an input at or before element {index} is not a valid ristretto255 encoding"


def _scalar(m: int) -> bytes:
    """The scalar ``m mod ℓ`` (libsodium's little-endian encoding); ``m`` may be negative."""
    if not isinstance(m, int) or isinstance(m, bool):
        raise TypeError(f"plaintexts must be int, not {type(m).__name__}")
    if not -MAX_PLAINTEXT < m < MAX_PLAINTEXT:
        raise ParameterError(
            f"plaintext {m} is outside the supported range ±2^128", parameter="values"
        )
    reduced: bytes = rbcl.crypto_core_ristretto255_scalar_reduce(abs(m).to_bytes(64, "little"))
    if m < 0:
        reduced = rbcl.crypto_core_ristretto255_scalar_negate(reduced)
    return reduced


def encode_plaintexts(values: Sequence[int]) -> bytes:
    """The packed points ``m·G`` of integers ``m`` (0 gives the identity, all zero bytes)."""
    cache: dict[int, bytes] = {}
    out = []
    for m in values:
        point = cache.get(m)
        if point is None:
            point = cache[m] = _base0(_scalar(m))
        out.append(point)
    return b"".join(out)


def keygen() -> tuple[Scalar, bytes]:
    """A fresh secret key and its public key ``xG``."""
    secret = Scalar.random()
    return secret, public_key(secret)


def public_key(secret: Scalar) -> bytes:
    """The public key ``xG`` of a secret scalar ``x``."""
    point: bytes = _base(_secret(secret))
    return point


def combine_public_keys(*keys: bytes) -> bytes:
    """The joint public key ``Σ x_i G``; decrypting under it needs every ``x_i``."""
    if not keys:
        raise ParameterError("combine_public_keys needs at least one key", parameter="keys")
    joint = _public(keys[0])
    for i, key in enumerate(keys[1:], start=1):
        joint = _plus(joint, _public(key), i)
    return _public(joint, "joint public key")


def encrypt(values: Sequence[int], public: bytes) -> bytes:
    """Encrypt every integer under ``public`` with fresh randomness; packed ciphertexts."""
    key = _public(public)
    points = encode_plaintexts(values)
    out = []
    for i in range(len(values)):
        r = _random_scalar()
        message = points[i * POINT_BYTES : (i + 1) * POINT_BYTES]
        out.append(_base(r))
        out.append(_add(message, _mul(r, key)))
    return b"".join(out)


def encrypt_with_secret(values: Sequence[int], secret: Scalar) -> bytes:
    """Encrypt under the public key ``xG`` by its owner, who knows ``x``: ``(rG, (m + rx)G)``.

    The ciphertexts are distributed exactly as those of :func:`encrypt` under ``xG``, at the
    cost of two fixed-base multiplications instead of a variable-base one and an addition.
    """
    key = _secret(secret)
    out = []
    for m in values:
        r = _random_scalar()
        exponent = rbcl.crypto_core_ristretto255_scalar_add(
            _scalar(m), rbcl.crypto_core_ristretto255_scalar_mul(r, key)
        )
        out.append(_base(r))
        out.append(_base0(exponent))
    return b"".join(out)


def rerandomise(ciphertexts: bytes, public: bytes) -> bytes:
    """The same plaintexts under fresh randomness: each ciphertext plus an encryption of 0."""
    count = _count(ciphertexts, CIPHERTEXT_BYTES, "ciphertexts")
    key = _public(public)
    out = []
    for i in range(count):
        r = _random_scalar()
        start = i * CIPHERTEXT_BYTES
        out.append(_plus(ciphertexts[start : start + POINT_BYTES], _base(r), i))
        out.append(
            _plus(ciphertexts[start + POINT_BYTES : start + CIPHERTEXT_BYTES], _mul(r, key), i)
        )
    return b"".join(out)


def add(a: bytes, b: bytes) -> bytes:
    """Pairwise sums: ciphertext ``i`` of the result encrypts ``a_i + b_i``."""
    count = _count(a, CIPHERTEXT_BYTES, "ciphertexts")
    if _count(b, CIPHERTEXT_BYTES, "ciphertexts") != count:
        raise ParameterError(
            f"cannot add {count} ciphertexts to {len(b) // CIPHERTEXT_BYTES}", parameter="b"
        )
    out = []
    for i in range(2 * count):
        out.append(
            _plus(
                a[i * POINT_BYTES : (i + 1) * POINT_BYTES],
                b[i * POINT_BYTES : (i + 1) * POINT_BYTES],
                i // 2,
            )
        )
    return b"".join(out)


def sum_ciphertexts(ciphertexts: bytes) -> bytes:
    """One ciphertext of the sum of all plaintexts (of no ciphertexts: the identity pair)."""
    count = _count(ciphertexts, CIPHERTEXT_BYTES, "ciphertexts")
    if count == 0:
        return IDENTITY * 2
    c1 = ciphertexts[:POINT_BYTES]
    c2 = ciphertexts[POINT_BYTES:CIPHERTEXT_BYTES]
    if count == 1:
        check_ciphertexts(ciphertexts)
    for i in range(1, count):
        start = i * CIPHERTEXT_BYTES
        c1 = _plus(c1, ciphertexts[start : start + POINT_BYTES], i)
        c2 = _plus(c2, ciphertexts[start + POINT_BYTES : start + CIPHERTEXT_BYTES], i)
    return c1 + c2


def first_points(ciphertexts: bytes) -> bytes:
    """The first components ``C1 = rG`` of the ciphertexts, packed: all a key holder needs
    to compute its decryption share, and independent of the plaintexts."""
    count = _count(ciphertexts, CIPHERTEXT_BYTES, "ciphertexts")
    rows = [
        ciphertexts[i * CIPHERTEXT_BYTES : i * CIPHERTEXT_BYTES + POINT_BYTES] for i in range(count)
    ]
    return b"".join(rows)


def decryption_shares(points: bytes, secret: Scalar) -> bytes:
    """The shares ``x·C1`` for packed first components ``C1`` (32 bytes each)."""
    count = _count(points, POINT_BYTES, "first components")
    key = _secret(secret)
    out = []
    for i in range(count):
        point = points[i * POINT_BYTES : (i + 1) * POINT_BYTES]
        # rbcl's zero-scalar variant returns the identity, silently, for an invalid point
        share: bytes = _mul0(key, point)
        if share == IDENTITY and not _valid(point):
            raise CryptoError(f"ciphertext {i} holds an invalid ristretto255 encoding", index=i)
        out.append(share)
    return b"".join(out)


def partial_decrypt(ciphertexts: bytes, secret: Scalar) -> bytes:
    """The decryption shares ``x·C1`` of each ciphertext, packed (32 bytes each)."""
    return decryption_shares(first_points(ciphertexts), secret)


def finish(ciphertexts: bytes, *shares: bytes) -> bytes:
    """The plaintext points ``C2 - Σ shares`` (``mG``), packed; one share per key holder."""
    count = _count(ciphertexts, CIPHERTEXT_BYTES, "ciphertexts")
    for share in shares:
        if _count(share, POINT_BYTES, "decryption shares") != count:
            raise ParameterError(
                f"{len(share) // POINT_BYTES} decryption shares for {count} ciphertexts",
                parameter="shares",
            )
    out = []
    for i in range(count):
        point = ciphertexts[i * CIPHERTEXT_BYTES + POINT_BYTES : (i + 1) * CIPHERTEXT_BYTES]
        for share in shares:
            point = _minus(point, share[i * POINT_BYTES : (i + 1) * POINT_BYTES], i)
        out.append(point)
    return b"".join(out)


def decrypt_points(ciphertexts: bytes, secret: Scalar) -> bytes:
    """The plaintext points ``mG`` under a single (not joint) key."""
    return finish(ciphertexts, partial_decrypt(ciphertexts, secret))
