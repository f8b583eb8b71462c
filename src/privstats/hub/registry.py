"""The hub's registry: parties invited and enrolled, people's tokens, declared datasets.

An admin invites a party (a one-time enrolment token, stored as its hash) and creates
people's bearer tokens. A node enrols with that token and proves it holds the signing key
it enrols; it then declares its datasets' schemas and row counts, signed. Each change is
audited in the same transaction; call these functions inside the store's write session.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from sqlalchemy.orm import Session

from privstats.crypto.keys import verify
from privstats.errors import AuthenticationError, ServiceError
from privstats.hub import audit_log, auth
from privstats.hub.access import check_signed
from privstats.hub.auth import Principal
from privstats.hub.store import Dataset, Party, Token, utc_now
from privstats.service.signing import statement_bytes

__all__ = ["create_token", "declare_dataset", "enrol_party", "invite_party"]


def invite_party(session: Session, who: Principal, name: str, description: str, ttl: float) -> str:
    """Add party ``name``; its one-time enrolment token (valid ``ttl`` seconds)."""
    token = auth.new_token()
    if session.get(Party, name) is not None:
        raise ServiceError(f"party {name!r} already exists", status=409)
    session.add(
        Party(
            name=name,
            description=description,
            enrolment_hash=auth.hash_token(token),
            enrolment_expires=time.time() + ttl,
            created_at=utc_now(),
        )
    )
    audit_log.append(session, actor=who.actor, action="party.added", payload={"name": name})
    return token


def check_enrolment_proof(payload: dict[str, str], signature: str) -> None:
    """Refuse (401) an enrolment not signed with the signing key it enrols."""
    try:
        proof = verify(
            bytes.fromhex(payload["sign_key"]),
            statement_bytes("enrol", payload),
            bytes.fromhex(signature),
        )
    except ValueError:
        proof = False
    if not proof:
        raise AuthenticationError("the enrolment is not signed with the key it enrols", status=401)


def enrol_party(
    session: Session, name: str, token: str, sign_key: str, box_key: str, signature: str
) -> str:
    """Enrol a node's public keys as party ``name`` with its one-time token; the time.

    The proof of possession is checked first (:func:`check_enrolment_proof`), outside the
    write session.
    """
    party = session.get(Party, name)
    expected = party.enrolment_hash if party else None
    if (
        party is None
        or expected is None
        or not hmac.compare_digest(expected, auth.hash_token(token))
    ):
        raise AuthenticationError(
            f"the enrolment token for {name!r} is not valid (or was used already); "
            "ask the hub's admin for a new one with 'privstats party add'",
            status=401,
        )
    if (party.enrolment_expires or 0) < time.time():
        raise AuthenticationError("the enrolment token has expired", status=401)
    party.sign_key, party.box_key = sign_key, box_key
    party.enrolment_hash, party.enrolment_expires = None, None
    party.enrolled_at = utc_now()
    audit_log.append(
        session,
        actor=f"node:{name}",
        action="party.enrolled",
        payload={"name": name, "sign_key": sign_key, "box_key": box_key},
        signer=name,
        signature=signature,
    )
    return party.enrolled_at


def create_token(session: Session, who: Principal, name: str, role: str) -> str:
    """A new bearer token for person ``name`` with ``role`` (stored as its hash only)."""
    token = auth.new_token()
    if session.get(Token, name) is not None:
        raise ServiceError(f"a token named {name!r} already exists", status=409)
    session.add(
        Token(name=name, role=role, token_hash=auth.hash_token(token), created_at=utc_now())
    )
    audit_log.append(
        session,
        actor=who.actor,
        action="token.created",
        payload={"name": name, "role": role},
    )
    return token


def declare_dataset(
    session: Session, who: Principal, statement: dict[str, Any], signature: str
) -> bool:
    """Record the node's signed dataset statement; False if it changes nothing.

    ``statement`` is what the node signed: party, name, format, rows, columns, key columns.
    """
    check_signed(session, who, "dataset", statement, signature)
    row = session.get(Dataset, (who.name, statement["name"]))
    values = {
        "format": statement["format"],
        "rows": statement["rows"],
        "columns": json.dumps(statement["columns"]),
        "key_columns": json.dumps(statement["key_columns"]),
    }
    if row is not None and all(getattr(row, k) == v for k, v in values.items()):
        return False
    if row is None:
        session.add(
            Dataset(party=who.name, name=statement["name"], registered_at=utc_now(), **values)
        )
    else:
        for key, value in values.items():
            setattr(row, key, value)
        row.registered_at = utc_now()
    audit_log.append(
        session,
        actor=who.actor,
        action="dataset.registered",
        payload=statement,
        signer=who.name,
        signature=signature,
    )
    return True
