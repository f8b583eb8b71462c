"""Who may see and do what at the hub, once ``hub.auth`` has said who is calling.

People act by role: admins do everything, analysts submit and follow their own jobs,
auditors read everything. A person sees a job they submitted or receive the result of
(:func:`person_sees`); a node sees the jobs it is a party of. Statements a node makes
(dataset, approval, completion) must carry its signature by its enrolled key.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from privstats.crypto.keys import verify
from privstats.errors import AuthenticationError, ServiceError
from privstats.hub.auth import Principal
from privstats.hub.store import Job, JobParty, Party
from privstats.service.manifest import Manifest
from privstats.service.signing import statement_bytes

__all__ = [
    "check_signed",
    "member",
    "need",
    "person_sees",
    "sees_everything",
    "visible",
    "visible_job_ids",
]


def need(who: Principal, *roles: str) -> None:
    """Refuse (403) a caller whose role is none of ``roles``."""
    if who.role not in roles:
        raise ServiceError(
            f"{who.kind} {who.name!r} (role {who.role}) may not do this; it needs role "
            f"{' or '.join(roles)}",
            status=403,
        )


def sees_everything(who: Principal) -> bool:
    """Admins and auditors see every job and the whole audit log."""
    return who.role in ("admin", "auditor")


def person_sees(who: Principal, submitted_by: str, recipients: Collection[str]) -> bool:
    """A person sees a job they submitted or receive; admins and auditors see all."""
    return sees_everything(who) or who.name == submitted_by or who.name in recipients


def member(session: Session, job: Job, who: Principal) -> JobParty:
    """The calling node's row in ``job``; 403 if it is not a party of it."""
    row = session.get(JobParty, (job.id, who.name))
    if row is None:
        raise ServiceError(f"{who.name!r} is not a party of job {job.id}", status=403)
    return row


def visible(session: Session, job: Job, who: Principal) -> None:
    """Refuse (403) a caller who may not see ``job``."""
    if who.kind == "node":
        member(session, job, who)
    else:
        recipients = Manifest.model_validate_json(job.manifest).recipients
        if not person_sees(who, job.submitted_by, recipients):
            raise ServiceError(f"job {job.id} is not visible to {who.name!r}", status=403)


def visible_job_ids(session: Session, who: Principal) -> set[str]:
    """The jobs a caller without the full view sees: a node's own, a person's by
    :func:`person_sees`."""
    if who.kind == "node":
        return set(session.scalars(select(JobParty.job_id).where(JobParty.party == who.name)))
    visible_ids = set()
    for job_id, submitted_by, manifest in session.execute(
        select(Job.id, Job.submitted_by, Job.manifest)
    ):
        if person_sees(who, submitted_by, json.loads(manifest)["recipients"]):
            visible_ids.add(job_id)
    return visible_ids


def check_signed(
    session: Session, who: Principal, kind: str, payload: dict[str, Any], signature: str
) -> None:
    """Refuse (401) a ``kind`` statement not signed by the calling node's enrolled key."""
    party = session.get(Party, who.name)
    key = party.sign_key if party else None
    try:
        good = key is not None and verify(
            bytes.fromhex(key), statement_bytes(kind, payload), bytes.fromhex(signature)
        )
    except ValueError:
        good = False
    if not good:
        raise AuthenticationError(f"the {kind} statement is not signed by {who.name!r}", status=401)
