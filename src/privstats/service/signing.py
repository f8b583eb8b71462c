"""Signed node requests: what a node signs and what the hub checks.

Nodes also sign *statements* — enrolment, dataset registration, approval, completion —
which the hub keeps in its audit log, so anyone can later check them against the node's
enrolled key (:func:`statement_bytes`).

A node signs ``method``, ``path`` (with query), the SHA-256 of the body, a timestamp and a
fresh nonce with its Ed25519 key. The hub accepts a request only if the timestamp is within
:data:`REPLAY_WINDOW_SECONDS` of its clock and the nonce was not seen inside that window, so
a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from privstats.service.canonical import canonical_json

__all__ = [
    "HEADER_NONCE",
    "HEADER_PARTY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "REPLAY_WINDOW_SECONDS",
    "request_bytes",
    "statement_bytes",
]

REPLAY_WINDOW_SECONDS = 300
HEADER_PARTY = "X-Privstats-Party"
HEADER_TIMESTAMP = "X-Privstats-Timestamp"
HEADER_NONCE = "X-Privstats-Nonce"
HEADER_SIGNATURE = "X-Privstats-Signature"
_CONTEXT = b"privstats.request.v1\n"


def request_bytes(
    method: str, path: str, body: bytes, timestamp: str, nonce: str, party: str
) -> bytes:
    """The bytes a node signs for one HTTP request."""
    fields = (
        method.upper(),
        path,
        hashlib.sha256(body).hexdigest(),
        timestamp,
        nonce,
        party,
    )
    return _CONTEXT + "\n".join(fields).encode("utf-8")


def statement_bytes(kind: str, payload: dict[str, Any]) -> bytes:
    """The bytes a node signs to state ``payload`` (kind: enrol, dataset, approval, …)."""
    return b"privstats." + kind.encode("ascii") + b".v1\n" + canonical_json(payload)
