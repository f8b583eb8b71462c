"""Canonical JSON: one byte string per value, so that hashes and signatures are reproducible.

Keys sorted, no insignificant whitespace, UTF-8, no NaN or infinity. Two parties that
build the same value get the same bytes, whatever their Python version or dict order.

A *result commitment* is ``sha256(salt ‖ canonical JSON of the result)`` with a fresh
32-byte salt: it binds the result as a plain hash does, but without the salt nobody can
test a guessed result against it (results are small and often guessable).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

__all__ = ["SALT_BYTES", "canonical_json", "new_salt", "result_commitment", "sha256_hex"]

SALT_BYTES = 32


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def new_salt() -> bytes:
    """A fresh salt for a result commitment (``SALT_BYTES`` from ``secrets``)."""
    return secrets.token_bytes(SALT_BYTES)


def result_commitment(salt: bytes, result: Any) -> str:
    """Hex ``sha256(salt ‖ canonical_json(result))``; ``salt`` must be ``SALT_BYTES`` long."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise ValueError(f"a result commitment needs a {SALT_BYTES}-byte salt")
    return sha256_hex(salt + canonical_json(result))
