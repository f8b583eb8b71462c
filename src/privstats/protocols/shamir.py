"""Shamir secret sharing of 32-byte secrets over the ristretto255 scalar field.

A secret is a canonical scalar (an integer below the group order ℓ ≈ 2^252, 32 bytes
little-endian). ``share(secret, threshold, count)`` gives ``count`` points of a random
polynomial of degree ``threshold − 1`` whose constant term is the secret; any
``threshold`` of them rebuild it, fewer reveal nothing about it. The field arithmetic is
libsodium's (``crypto_core_ristretto255_scalar_*`` through rbcl); coefficients come from
libsodium's CSPRNG. Used by secure aggregation to let surviving parties recover the mask
seeds of parties that drop out.
"""

from __future__ import annotations

from collections.abc import Mapping

import rbcl

from privstats.errors import CryptoError, ParameterError

__all__ = ["SCALAR_BYTES", "random_secret", "reconstruct", "share"]

SCALAR_BYTES = 32


def random_secret() -> bytes:
    """A uniformly random scalar, usable as a secret to share."""
    return bytes(rbcl.crypto_core_ristretto255_scalar_random())


def _scalar(value: int) -> bytes:
    return value.to_bytes(SCALAR_BYTES, "little")


def _check(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) != SCALAR_BYTES:
        raise ParameterError("a shared secret is a 32-byte scalar", parameter="secret")
    if rbcl.crypto_core_ristretto255_scalar_reduce(secret + bytes(32)) != secret:
        raise CryptoError("the secret is not a canonical scalar (below the group order)")


def share(secret: bytes, threshold: int, count: int) -> dict[int, bytes]:
    """Shares ``{x: f(x)}`` for ``x = 1 … count``; any ``threshold`` rebuild ``secret``."""
    _check(secret)
    if not 1 <= threshold <= count <= 255:
        raise ParameterError(
            f"need 1 <= threshold <= count <= 255, got threshold {threshold}, count {count}",
            parameter="threshold",
        )
    coefficients = [secret] + [random_secret() for _ in range(threshold - 1)]
    add, mul = rbcl.crypto_core_ristretto255_scalar_add, rbcl.crypto_core_ristretto255_scalar_mul
    shares = {}
    for x in range(1, count + 1):
        point = _scalar(x)
        value = coefficients[-1]
        for coefficient in reversed(coefficients[:-1]):  # Horner's rule
            value = add(mul(value, point), coefficient)
        shares[x] = bytes(value)
    return shares


def reconstruct(shares: Mapping[int, bytes]) -> bytes:
    """The secret from ``threshold`` or more shares ``{x: f(x)}`` (Lagrange at zero)."""
    if not shares or any(not 1 <= x <= 255 for x in shares):
        raise ParameterError("shares are keyed by x in 1..255", parameter="shares")
    mul = rbcl.crypto_core_ristretto255_scalar_mul
    sub = rbcl.crypto_core_ristretto255_scalar_sub
    secret = bytes(SCALAR_BYTES)
    for x, value in shares.items():
        _check(value)
        numerator, denominator = _scalar(1), _scalar(1)
        for other in shares:
            if other != x:
                numerator = mul(numerator, _scalar(other))
                denominator = mul(denominator, sub(_scalar(other), _scalar(x)))
        weight = mul(numerator, rbcl.crypto_core_ristretto255_scalar_invert(denominator))
        secret = rbcl.crypto_core_ristretto255_scalar_add(secret, mul(weight, value))
    return bytes(secret)
