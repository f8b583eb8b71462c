"""Appending to and reading the hub's hash-chained audit log."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from privstats.hub.store import AuditRow, utc_now
from privstats.service.audit import GENESIS, AuditEntry, entry_hash
from privstats.service.canonical import canonical_json

__all__ = ["REGISTRY_ACTIONS", "append", "entries"]


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


REGISTRY_ACTIONS = ("party.added", "party.enrolled", "dataset.registered")
"""Entries outside any job that every caller may see (the registry is public to them)."""


def entries(
    session: Session,
    *,
    after: int = 0,
    limit: int = 1000,
    job_id: str | None = None,
    job_ids: Collection[str] | None = None,
) -> list[AuditEntry]:
    """Entries after ``after``, oldest first: of ``job_id`` only if given; if ``job_ids`` is
    given, only the registry's entries and those of these jobs (a caller's partial view)."""
    query = select(AuditRow).where(AuditRow.seq > after)
    if job_id is not None:
        query = query.where(AuditRow.job_id == job_id)
    if job_ids is not None:
        query = query.where(
            or_(
                AuditRow.job_id.in_(sorted(job_ids)),
                and_(AuditRow.job_id.is_(None), AuditRow.action.in_(REGISTRY_ACTIONS)),
            )
        )
    rows = session.scalars(query.order_by(AuditRow.seq).limit(limit))
    return [to_entry(row) for row in rows]
