"""The ristretto255 prime-order group, from libsodium through ``rbcl``.

Points travel as 32-byte canonical encodings. Batch functions take and return *packed*
points (``n * 32`` bytes) so that large sets cost one bytes object, not ``n`` of them.
The arithmetic is libsodium's; this module only loops, checks lengths and hides keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterable

import rbcl

from privstats.errors import CryptoError, ParameterError

__all__ = ["POINT_BYTES", "Scalar", "hash_to_group", "multiply", "random_points"]

POINT_BYTES = 32


def _remove_rbcl_temp_library() -> None:
    """rbcl writes its bundled libsodium to a temporary file on import; once loaded, drop it."""
    module = sys.modules.get("rbcl._sodium")
    path = getattr(module, "lib_path", None)
    if isinstance(path, str) and os.name == "posix":
        with contextlib.suppress(OSError):
            os.unlink(path)


_remove_rbcl_temp_library()


class Scalar:
    """A secret exponent of the group: fresh from libsodium's CSPRNG, never shown in repr."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes) or len(value) != 32:
            raise TypeError("a Scalar is made from 32 bytes; use Scalar.random()")
        if value == bytes(32):
            raise CryptoError("the zero scalar is not a valid key")
        self._value = value

    @classmethod
    def random(cls) -> Scalar:
        """A uniformly random non-zero scalar modulo the group order."""
        return cls(rbcl.crypto_core_ristretto255_scalar_random())

    @classmethod
    def from_seed(cls, seed: bytes) -> Scalar:
        """Derive a scalar from 64 bytes of seed material (tests and known-answer vectors)."""
        if not isinstance(seed, bytes) or len(seed) != 64:
            raise TypeError("a scalar seed is 64 bytes")
        return cls(rbcl.crypto_core_ristretto255_scalar_reduce(seed))

    def inverse(self) -> Scalar:
        """The multiplicative inverse modulo the group order."""
        return Scalar(rbcl.crypto_core_ristretto255_scalar_invert(self._value))

    def __repr__(self) -> str:
        return "Scalar(<secret>)"


def _check_packed(points: bytes, what: str) -> int:
    if not isinstance(points, bytes):
        raise TypeError(f"{what} must be bytes, not {type(points).__name__}")
    count, rest = divmod(len(points), POINT_BYTES)
    if rest:
        raise CryptoError(
            f"{what} has {len(points)} bytes, not a multiple of {POINT_BYTES} "
            "(one encoded point is 32 bytes)"
        )
    return count


def hash_to_group(items: Iterable[bytes], *, context: bytes) -> bytes:
    """Map each item to a group element: SHA-512 over (context, item), then Elligator.

    ``context`` separates uses (protocol and version) so that hashes of one use are
    useless in another. Returns the packed points in input order.
    """
    if not context:
        raise ParameterError("hash_to_group needs a non-empty context", parameter="context")
    prefix = len(context).to_bytes(2, "big") + context
    from_hash = rbcl.crypto_core_ristretto255_from_hash
    sha512 = hashlib.sha512
    return b"".join([from_hash(sha512(prefix + item).digest()) for item in items])


def multiply(scalar: Scalar, points: bytes) -> bytes:
    """Multiply every packed point by ``scalar``; raise CryptoError on an invalid encoding."""
    count = _check_packed(points, "points")
    mul = rbcl.crypto_scalarmult_ristretto255
    key = scalar._value
    out = []
    for i in range(count):
        point = points[i * POINT_BYTES : (i + 1) * POINT_BYTES]
        try:
            out.append(mul(key, point))
        except RuntimeError as exc:
            raise CryptoError(
                f"point {i} is not a valid ristretto255 encoding, or is the identity element",
                index=i,
            ) from exc
    return b"".join(out)


def random_points(count: int) -> bytes:
    """``count`` uniformly random group elements, packed."""
    if count < 0:
        raise ParameterError(f"count must be >= 0, got {count}", parameter="count")
    return b"".join([rbcl.crypto_core_ristretto255_random() for _ in range(count)])
