"""Cryptographically random permutations, for shuffling sets before they leave a party.

The permutation sorts ``n`` random 64-bit keys drawn from the operating system's CSPRNG
(``secrets``); ties have probability below n²/2⁶⁵ and are broken stably.
"""

from __future__ import annotations

import secrets

import numpy as np
import numpy.typing as npt

from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError

__all__ = ["secure_permutation", "shuffle_points"]


def secure_permutation(n: int) -> npt.NDArray[np.intp]:
    """A uniformly random permutation of ``range(n)`` as an index array."""
    if n < 0:
        raise ParameterError(f"permutation size must be >= 0, got {n}", parameter="n")
    keys = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64)
    return np.argsort(keys, kind="stable")


def shuffle_points(points: bytes) -> bytes:
    """The packed points in a uniformly random order."""
    count, rest = divmod(len(points), POINT_BYTES)
    if rest:
        raise CryptoError(f"packed points have {len(points)} bytes, not a multiple of 32")
    rows = np.frombuffer(points, dtype=np.uint8).reshape(count, POINT_BYTES)
    return rows[secure_permutation(count)].tobytes()
