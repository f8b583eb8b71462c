"""Audit routes: the hash-chained audit log, as much of it as the caller may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from privstats.hub import audit_log
from privstats.hub.access import sees_everything, visible_job_ids
from privstats.hub.context import Caller, State
from privstats.service.audit import HEADER_AUDIT_VIEW
from privstats.service.models import AuditPage

__all__ = ["router"]

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage)
def audit(
    who: Caller,
    state: State,
    response: Response,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    job: Annotated[str | None, Query(max_length=32)] = None,
) -> AuditPage:
    """Audit entries after ``after``, oldest first (of one ``job`` if given).

    Admins and auditors see every entry (header ``X-Privstats-Audit-View: full``).
    Analysts see the registry's party and dataset entries and the entries of the jobs
    they submitted or receive; nodes, the registry's entries and those of their jobs
    (``partial``): another analyst's manifest or result commitment is never shown.
    """
    full = sees_everything(who)
    response.headers[HEADER_AUDIT_VIEW] = "full" if full else "partial"
    with state.store.read() as session:
        job_ids = None if full else visible_job_ids(session, who)
        rows = audit_log.entries(session, after=after, limit=limit, job_id=job, job_ids=job_ids)
    return AuditPage(rows)
