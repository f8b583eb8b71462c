"""Who is calling: people by bearer token, nodes by signed request.

Tokens are random 256-bit strings shown once and stored as SHA-256; lookups compare
digests in constant time. A node request is accepted only with a valid Ed25519 signature
by the party's enrolled key over method, path, body hash, timestamp and nonce, a timestamp
inside the replay window and a nonce not seen before within it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from privstats.crypto.keys import verify
from privstats.errors import AuthenticationError
from privstats.hub.store import Nonce, Party, Store, Token
from privstats.service.signing import REPLAY_WINDOW_SECONDS, request_bytes

__all__ = ["Principal", "hash_token", "new_token", "node", "person"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person (admin or analyst) or a node."""

    kind: Literal["person", "node"]
    name: str
    role: str  # "admin", "analyst" or "node"

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


def new_token() -> str:
    """A fresh bearer or enrolment token (256 bits from ``secrets``)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def person(store: Store, authorization: str | None) -> Principal:
    """The person behind an ``Authorization: Bearer …`` header."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthenticationError("a bearer token is required", status=401)
    digest = hash_token(authorization[7:].strip())
    with store.read() as session:
        tokens = list(session.scalars(select(Token)))
    match = None
    for token in tokens:  # constant-time comparison, no early exit on a match
        if hmac.compare_digest(token.token_hash, digest):
            match = token
    if match is None:
        raise AuthenticationError("the bearer token is not valid", status=401)
    return Principal("person", match.name, match.role)


def node(
    store: Store,
    *,
    method: str,
    path: str,
    body: bytes,
    party: str | None,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    now: float | None = None,
) -> Principal:
    """The node that signed this request; records its nonce and marks it seen."""
    if not (party and timestamp and nonce and signature):
        raise AuthenticationError(
            "a signed node request needs party, timestamp, nonce and signature headers", status=401
        )
    now = time.time() if now is None else now
    try:
        sent = float(timestamp)
        raw_signature = bytes.fromhex(signature)
    except ValueError:
        raise AuthenticationError("malformed timestamp or signature header", status=401) from None
    if not math.isfinite(sent) or abs(now - sent) > REPLAY_WINDOW_SECONDS:
        raise AuthenticationError(
            f"request timestamp is {now - sent:+.0f} s off the hub's clock (window "
            f"{REPLAY_WINDOW_SECONDS} s); check the node's clock",
            status=401,
        )
    if len(nonce) > 64:
        raise AuthenticationError("nonce too long", status=401)
    with store.read() as session:
        record = session.get(Party, party)
        key = record.sign_key if record is not None else None
    if key is None:
        raise AuthenticationError(f"party {party!r} is not enrolled at this hub", status=401)
    message = request_bytes(method, path, body, timestamp, nonce, party)
    if not verify(bytes.fromhex(key), message, raw_signature):
        raise AuthenticationError(f"the request signature of {party!r} does not verify", status=401)
    try:
        with store.write() as session:
            session.execute(delete(Nonce).where(Nonce.seen < now - 2 * REPLAY_WINDOW_SECONDS))
            session.add(Nonce(party=party, nonce=nonce, seen=now))
            seen = session.get(Party, party)
            if seen is not None:
                seen.last_seen = now
    except IntegrityError:
        raise AuthenticationError(
            f"replayed request: nonce already used by {party!r}", status=401
        ) from None
    return Principal("node", party, "node")
