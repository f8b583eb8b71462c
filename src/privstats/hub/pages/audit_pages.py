"""The audit page: the hash chain the viewer may see, verified, filtered, exported.

The chain is verified with the same code as ``Federation.verify_audit``
(``service.audit.verify_chain``) against the keys the parties enrolled: admins and auditors
get the full view, others the registry's entries and those of their jobs (a partial view,
as the API serves it). Filters by job and party narrow what is listed and exported, not
what is verified.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from sqlalchemy import select
from starlette.responses import Response

from privstats.hub import audit_log
from privstats.hub.access import sees_everything, visible_job_ids
from privstats.hub.auth import Principal
from privstats.hub.context import State
from privstats.hub.pages.common import Viewer, hub_page
from privstats.hub.store import Party
from privstats.service.audit import AuditEntry, AuditVerification, verify_chain

__all__ = ["matches", "router"]

router = APIRouter()

_PAGE = 10_000

Filter = Annotated[str, Query(max_length=64)]


def _chain(state: State, who: Principal) -> tuple[list[AuditEntry], AuditVerification, list[str]]:
    """Every entry the viewer may see, their verification, and the parties' names."""
    full = sees_everything(who)
    entries: list[AuditEntry] = []
    with state.store.read() as db:
        job_ids = None if full else visible_job_ids(db, who)
        while True:
            after = entries[-1].seq if entries else 0
            batch = audit_log.entries(db, after=after, limit=_PAGE, job_ids=job_ids)
            entries.extend(batch)
            if len(batch) < _PAGE:
                break
        parties = list(db.scalars(select(Party).order_by(Party.name)))
    enrolled = {p.name: bytes.fromhex(p.sign_key) for p in parties if p.sign_key}
    return entries, verify_chain(entries, enrolled, partial=not full), [p.name for p in parties]


def matches(entry: AuditEntry, job: str, party: str) -> bool:
    """Whether ``entry`` is of ``job`` (if given) and made by or about ``party`` (if given)."""
    if job and entry.job_id != job:
        return False
    if not party:
        return True
    payload = entry.payload
    manifest = payload.get("manifest")
    named = manifest.get("parties", {}).values() if isinstance(manifest, dict) else ()
    return (
        entry.signer == party
        or entry.actor == f"node:{party}"
        or party in (payload.get("party"), payload.get("name"))
        or party in named
    )


@router.get("/audit")
def audit_page(session: Viewer, state: State, job: Filter = "", party: Filter = "") -> Response:
    """The chain's verdict ("verified" / "broken at entry N") and its entries, filtered."""
    assert session.user is not None
    entries, verification, names = _chain(state, session.user)
    shown = [e for e in entries if matches(e, job.strip(), party.strip())]
    params = {k: v for k, v in (("job", job.strip()), ("party", party.strip())) if v}
    context = {
        "verification": verification,
        "shown": shown,
        "total": len(entries),
        "job_filter": job,
        "party_filter": party,
        "party_names": names,
        "query": f"?{urlencode(params)}" if params else "",
    }
    return hub_page(session, "audit.html", context)


@router.get("/audit/export.jsonl")
def audit_export(session: Viewer, state: State, job: Filter = "", party: Filter = "") -> Response:
    """The (filtered) entries as JSON lines, one entry per line as the API serves it."""
    assert session.user is not None
    entries, _verification, _names = _chain(state, session.user)
    lines = [
        json.dumps(e.as_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        for e in entries
        if matches(e, job.strip(), party.strip())
    ]
    return Response(
        "".join(lines),
        media_type="application/jsonl; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="privstats-audit.jsonl"'},
    )
