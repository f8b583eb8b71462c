"""Cryptographic randomness beyond ``secrets``: permutations, and a seeded stream.

The permutation sorts ``n`` random 64-bit keys drawn from the operating system's CSPRNG
(``secrets``); ties have probability below n²/2⁶⁵ and are broken stably.

:class:`SeededStream` is a reproducible stream of random numbers from a secret seed:
libsodium's ChaCha20 keystream (``randombytes_buf_deterministic``) under a key derived from
the seed and a call counter. Whoever knows the seed can replay it, so it serves where a
data owner must reproduce a release (synthetic data) and keeps the seed with the data; it
is unpredictable to anyone else, unlike numpy's generators.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np
import numpy.typing as npt
import rbcl

from privstats.crypto.group import POINT_BYTES
from privstats.errors import CryptoError, ParameterError

__all__ = ["SeededStream", "new_seed", "secure_permutation", "shuffle_points"]


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


def new_seed() -> int:
    """A fresh 63-bit seed from the OS CSPRNG."""
    return secrets.randbits(63)


class SeededStream:
    """Uniform, normal and categorical draws, reproducible from ``seed`` (see module doc)."""

    def __init__(self, seed: int, purpose: str = "privstats") -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
        self._seed = seed.to_bytes(32, "little", signed=False) if seed < 2**256 else None
        if self._seed is None:
            raise ParameterError("seed must be below 2**256", parameter="seed")
        self._person = hashlib.blake2b(purpose.encode(), digest_size=16).digest()
        self._calls = 0

    def bytes(self, count: int) -> bytes:
        """``count`` keystream bytes; every call continues with a fresh key."""
        assert self._seed is not None
        key = hashlib.blake2b(
            self._calls.to_bytes(8, "little"),
            digest_size=32,
            key=self._seed,
            person=self._person,
        ).digest()
        self._calls += 1
        return bytes(rbcl.randombytes_buf_deterministic(count, key)) if count else b""

    def uniform(self, size: int) -> npt.NDArray[np.float64]:
        """``size`` values uniform on [0, 1), with 53 random bits each."""
        raw = np.frombuffer(self.bytes(8 * size), dtype="<u8") >> np.uint64(11)
        out: npt.NDArray[np.float64] = raw.astype(np.float64) * 2.0**-53
        return out

    def normal(self, size: int) -> npt.NDArray[np.float64]:
        """``size`` standard normal values (Box–Muller on (0, 1] uniforms)."""
        pairs = (size + 1) // 2
        u = 1.0 - self.uniform(2 * pairs)  # (0, 1]: the logarithm stays finite
        radius = np.sqrt(-2.0 * np.log(u[:pairs]))
        angle = 2.0 * np.pi * u[pairs:]
        out: npt.NDArray[np.float64] = np.concatenate(
            [radius * np.cos(angle), radius * np.sin(angle)]
        )[:size]
        return out

    def integers(self, high: int, size: int) -> npt.NDArray[np.int64]:
        """``size`` integers uniform on ``range(high)`` (bias below 2⁻⁴⁰ for high < 2²⁴)."""
        if high < 1:
            raise ParameterError(f"high must be at least 1, got {high}", parameter="high")
        out: npt.NDArray[np.int64] = np.minimum(
            (self.uniform(size) * high).astype(np.int64), high - 1
        )
        return out

    def choice(self, weights: npt.ArrayLike, size: int) -> npt.NDArray[np.int64]:
        """``size`` indices drawn with probabilities proportional to ``weights``."""
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or not len(w) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
            raise ParameterError("weights must be non-negative, finite and not all zero")
        cumulative = np.cumsum(w)
        cumulative /= cumulative[-1]
        out: npt.NDArray[np.int64] = np.minimum(
            np.searchsorted(cumulative, self.uniform(size), side="right"), len(w) - 1
        ).astype(np.int64)
        return out

    def choice_rows(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """One index per row of a (rows, k) matrix of probabilities (rows sum to 1)."""
        p = np.asarray(probabilities, dtype=np.float64)
        cumulative = np.cumsum(p, axis=1)
        cumulative /= cumulative[:, -1:]
        u = self.uniform(len(p))[:, None]
        out: npt.NDArray[np.int64] = np.minimum(
            (cumulative <= u).sum(axis=1), p.shape[1] - 1
        ).astype(np.int64)
        return out

    def permutation(self, n: int) -> npt.NDArray[np.intp]:
        """A permutation of ``range(n)`` (sorting random 64-bit keys)."""
        keys = np.frombuffer(self.bytes(8 * n), dtype=np.uint64)
        return np.argsort(keys, kind="stable")
