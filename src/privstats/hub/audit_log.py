"""Appending to and reading the hub's hash-chained audit log."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privstats.hub.store import AuditRow, utc_now
from privstats.service.audit import GENESIS, AuditEntry, entry_hash
from privstats.service.canonical import canonical_json

__all__ = ["append", "entries"]


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    payload: dict[str, Any],
    job_id: str | None = None,
    signer: str | None = None,
    signature: str | None = None,
) -> AuditRow:
    """Chain a new entry after the last one; call inside the store's write session."""
    last = session.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    at = utc_now()
    # stored in canonical form so the hash recomputes from exactly what is kept
    payload = json.loads(canonical_json(payload))
    row = AuditRow(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        job_id=job_id,
        payload=canonical_json(payload).decode("utf-8"),
        signer=signer,
        signature=signature,
        prev_hash=prev,
        hash=entry_hash(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            job_id=job_id,
            payload=payload,
            signer=signer,
            signature=signature,
            prev_hash=prev,
        ),
    )
    session.add(row)
    session.flush()
    return row


def to_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        job_id=row.job_id,
        payload=json.loads(row.payload),
        signer=row.signer,
        signature=row.signature,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entries(session: Session, *, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
    rows = session.scalars(
        select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(limit)
    )
    return [to_entry(row) for row in rows]
