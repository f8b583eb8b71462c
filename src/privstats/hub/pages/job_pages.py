"""The overview, the submit forms, a job's page with its live state, and result downloads.

Every rule is the API's: a job page needs ``access.visible``, a result the API's result
route (recipients only), a submission ``hub.jobs.submit`` with the API's messages.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import JSONResponse, RedirectResponse, Response

from privstats.errors import PrivstatsError, ServiceError
from privstats.hub import audit_log, jobs
from privstats.hub.access import need, person_sees, visible
from privstats.hub.auth import Principal
from privstats.hub.bodies import JobIn
from privstats.hub.context import State
from privstats.hub.pages.common import (
    Viewer,
    checked_form,
    hub_page,
    refusals,
    refused,
)
from privstats.hub.routes import jobs as job_routes
from privstats.hub.store import Dataset, Job, Party
from privstats.hub.views import dataset_view
from privstats.jobs.kinds import KINDS, get_kind
from privstats.service.manifest import Manifest
from privstats.service.models import ACTIVE_STATES, JobView
from privstats.web.forms import form_fields, job_request, slots
from privstats.web.plain import describe, state_word
from privstats.web.results import result_csv, result_view

__all__ = ["router"]

router = APIRouter()

RECENT_JOBS = 50


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


@router.get("/")
def overview(session: Viewer, state: State) -> Response:
    """Parties with node health, datasets, and the recent jobs the viewer may see."""
    who = _who(session.user)
    now = time.time()
    fresh = max(60.0, state.settings.node_timeout)
    with state.store.read() as db:
        parties = [
            {
                "name": p.name,
                "description": p.description,
                "enrolled": p.enrolled_at,
                "last_seen": _ago(now - p.last_seen) if p.last_seen else "never",
                "health": (
                    "never" if not p.last_seen else "up" if now - p.last_seen < fresh else "silent"
                ),
            }
            for p in db.scalars(select(Party).order_by(Party.name))
        ]
        datasets = [
            dataset_view(d)
            for d in db.scalars(select(Dataset).order_by(Dataset.party, Dataset.name))
        ]
        recent = []
        for job in db.scalars(select(Job).order_by(Job.created_at.desc())):
            recipients = json.loads(job.manifest)["recipients"]
            if person_sees(who, job.submitted_by, recipients):
                recent.append(job)
            if len(recent) >= RECENT_JOBS:
                break
        listed = [
            {
                "id": j.id,
                "kind": j.kind,
                "state": j.state,
                "submitted_by": j.submitted_by,
                "created_at": j.created_at,
            }
            for j in recent
        ]
    context = {
        "parties": parties,
        "datasets": datasets,
        "jobs": listed,
        "fresh_seconds": int(fresh),
    }
    return hub_page(session, "overview.html", context)


@router.get("/jobs/new")
def kinds_page(session: Viewer) -> Response:
    """The kinds of computation, each linking to its form."""
    kinds = [{"name": name, "title": KINDS[name].title} for name in KINDS]
    return hub_page(session, "kinds.html", {"kinds": kinds})


def _submit_page(
    session: Any, state: State, kind_name: str, form: dict[str, str], error: str | None, status: int
) -> Response:
    with refusals():
        kind = get_kind(kind_name)
    with state.store.read() as db:
        party_names = list(db.scalars(select(Party.name).order_by(Party.name)))
        dataset_names = sorted(set(db.scalars(select(Dataset.name))))
    context = {
        "kind": kind,
        "fields": form_fields(kind),
        "slots": slots(kind),
        "form": form,
        "error": error,
        "party_names": party_names,
        "dataset_names": dataset_names,
    }
    return hub_page(session, "submit.html", context, status=status)


@router.get("/jobs/new/{kind_name}")
def submit_form(kind_name: str, session: Viewer, state: State) -> Response:
    """The form of one kind, generated from its spec."""
    return _submit_page(session, state, kind_name, {}, None, 200)


@router.post("/jobs/new/{kind_name}")
async def submit(kind_name: str, request: Request, session: Viewer, state: State) -> Response:
    """Submit the form's job through the API's own code; its refusal is shown by the form."""
    posted = await checked_form(request, session)
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    who = _who(session.user)
    with refusals():
        need(who, "admin", "analyst")
        kind = get_kind(kind_name)
    try:
        wanted = job_request(kind, form)
        body = JobIn.model_validate(
            {
                "kind": kind.name,
                "parameters": wanted.parameters,
                "parties": wanted.parties,
                "datasets": wanted.datasets,
                "recipients": wanted.recipients,
                "node_timeout": wanted.node_timeout,
            }
        )
        with state.store.write() as db:
            job = jobs.submit(
                db,
                who,
                kind_name=body.kind,
                parameters=body.parameters,
                parties=body.parties,
                datasets=body.datasets,
                recipients=body.recipients,
                node_timeout=body.node_timeout or state.settings.node_timeout,
            )
            job_id = job.id
    except ValidationError as exc:
        messages = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return _submit_page(session, state, kind_name, form, messages, 422)
    except PrivstatsError as exc:
        refusal = refused(exc)
        return _submit_page(session, state, kind_name, form, refusal.message, refusal.status)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


def _who(user: Principal | None) -> Principal:
    assert user is not None  # the Viewer dependency guarantees a signed-in session
    return user


def _visible_job(state: State, job_id: str, who: Principal) -> tuple[JobView, list[Any]]:
    """The job as the API shows it and its audit entries; the API's refusals otherwise."""
    with refusals(), state.store.read() as db:
        job = jobs.require_job(db, job_id)
        visible(db, job, who)
        view = jobs.job_view(db, job)
        entries = audit_log.entries(db, job_id=job_id, limit=10_000)
    return view, entries


def _released(state: State, job_id: str, who: Principal) -> dict[str, Any]:
    """The result through the API's result route (recipients only)."""
    return dict(job_routes.result(job_id, who, state, Response()).root)


def _timeline(entries: list[Any]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        payload = entry.payload
        detail = "; ".join(
            f"{key} {payload[key]}"
            for key in ("decision", "reason", "party", "step")
            if payload.get(key)
        )
        out.append(
            {
                "at": entry.at,
                "event": entry.action.replace(".", " ").replace("_", " "),
                "actor": entry.actor,
                "signer": entry.signer,
                "detail": detail,
            }
        )
    return out


@router.get("/jobs/{job_id}")
def job_page(job_id: str, session: Viewer, state: State) -> Response:
    """Manifest in plain words, live state, timeline, failure and result of one job."""
    who = _who(session.user)
    view, entries = _visible_job(state, job_id, who)
    with refusals():
        kind = get_kind(view.kind)
    result = None
    note = f"No result yet: the job is {state_word(view.state)}."
    if view.state == "succeeded":
        try:
            result = result_view(kind, _released(state, job_id, who))
        except ServiceError as exc:
            note = str(exc)
    context = {
        "job": view,
        "active": view.state in ACTIVE_STATES,
        "plain": describe(kind, Manifest.model_validate(view.manifest)),
        "timeline": _timeline(entries),
        "result": result,
        "result_note": note,
    }
    return hub_page(session, "job.html", context)


@router.get("/jobs/{job_id}/state")
def job_state(job_id: str, session: Viewer, state: State, seen: str | None = None) -> Response:
    """The live state fragment; when the state changed since ``seen``, htmx reloads the page."""
    who = _who(session.user)
    view, _entries = _visible_job(state, job_id, who)
    headers = {"HX-Refresh": "true"} if seen and seen != view.state else None
    context = {"job": view, "active": view.state in ACTIVE_STATES}
    return hub_page(session, "job_state.html", context, headers=headers)


def _download_name(job_id: str, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="privstats-{job_id}-result.{suffix}"'}


@router.get("/jobs/{job_id}/result.json")
def result_json(job_id: str, session: Viewer, state: State) -> Response:
    """The released result as JSON (recipients only, as the API)."""
    who = _who(session.user)
    _visible_job(state, job_id, who)
    with refusals():
        released = _released(state, job_id, who)
    return JSONResponse(released, headers=_download_name(job_id, "json"))


@router.get("/jobs/{job_id}/result.csv")
def result_csv_download(job_id: str, session: Viewer, state: State) -> Response:
    """The released result as CSV (one row per group, or per figure)."""
    who = _who(session.user)
    _visible_job(state, job_id, who)
    with refusals():
        released = _released(state, job_id, who)
    return Response(
        result_csv(released),
        media_type="text/csv; charset=utf-8",
        headers=_download_name(job_id, "csv"),
    )
