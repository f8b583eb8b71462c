"""Canonical JSON: one byte string per value, so that hashes and signatures are reproducible.

Keys sorted, no insignificant whitespace, UTF-8, no NaN or infinity. Two parties that
build the same value get the same bytes, whatever their Python version or dict order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "sha256_hex"]


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
