"""Job routes: submit, list, view, approve, start, heartbeat, complete, fail, cancel, result.

People submit, follow and cancel jobs and fetch results; nodes decide, start, beat, complete
and fail their parts, each with a signed request. The life cycle itself is ``hub.jobs``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from privstats.errors import ServiceError
from privstats.hub import jobs
from privstats.hub.access import need, visible
from privstats.hub.bodies import ApprovalIn, CompleteIn, FailIn, HeartbeatIn, JobIn
from privstats.hub.context import Caller, State
from privstats.hub.store import Result
from privstats.hub.views import job_view
from privstats.service.audit import HEADER_RESULT_SALT
from privstats.service.models import HeartbeatView, JobView, ReleasedResult

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


@router.post("/jobs", status_code=201, response_model=JobView)
def submit_job(body: JobIn, who: Caller, state: State) -> JobView:
    """Submit a job (admin or analyst); the hub checks it and asks each party's node."""
    need(who, "admin", "analyst")
    with state.store.write() as session:
        job = jobs.submit(
            session,
            who,
            kind_name=body.kind,
            parameters=body.parameters,
            parties=body.parties,
            datasets=body.datasets,
            recipients=body.recipients,
            node_timeout=body.node_timeout or state.settings.node_timeout,
        )
        return job_view(session, job)


@router.get("/jobs", response_model=list[JobView])
def list_jobs(
    who: Caller,
    state: State,
    active: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobView]:
    """Jobs newest first: a node's own, an analyst's submitted, all for admins and auditors."""
    with state.store.read() as session:
        query = jobs.listed_jobs(who, active=active, limit=limit)
        return [job_view(session, job) for job in session.scalars(query)]


@router.get("/jobs/{job_id}", response_model=JobView)
def show_job(job_id: str, who: Caller, state: State) -> JobView:
    with state.store.read() as session:
        job = jobs.require_job(session, job_id)
        visible(session, job, who)
        return job_view(session, job)


@router.post("/jobs/{job_id}/approval", response_model=JobView)
def approve(job_id: str, body: ApprovalIn, who: Caller, state: State) -> JobView:
    """A node's signed decision on the job's manifest."""
    need(who, "node")
    with state.store.write() as session:
        job = jobs.record_approval(
            session,
            job_id,
            who,
            decision=body.decision,
            reason=body.reason,
            manifest_hash=body.manifest_hash,
            signature=body.signature,
        )
        view = job_view(session, job)
    state.waiters.notify()
    return view


@router.post("/jobs/{job_id}/start", response_model=JobView)
def start(job_id: str, who: Caller, state: State) -> JobView:
    need(who, "node")
    with state.store.write() as session:
        return job_view(session, jobs.record_start(session, job_id, who))


@router.post("/jobs/{job_id}/heartbeat", response_model=HeartbeatView)
def heartbeat(job_id: str, body: HeartbeatIn, who: Caller, state: State) -> HeartbeatView:
    need(who, "node")
    with state.store.write() as session:
        job_state = jobs.record_heartbeat(session, job_id, who, body.step)
    return HeartbeatView.model_validate({"state": job_state})


@router.post("/jobs/{job_id}/complete", response_model=JobView)
def complete(job_id: str, body: CompleteIn, who: Caller, state: State) -> JobView:
    """A node's signed completion, with the result if its role releases one."""
    need(who, "node")
    with state.store.write() as session:
        job = jobs.record_completion(
            session,
            job_id,
            who,
            result=body.result,
            commitment=body.result_commitment,
            salt=body.salt,
            signature=body.signature,
        )
        view = job_view(session, job)
    state.waiters.notify()
    return view


@router.post("/jobs/{job_id}/fail", response_model=JobView)
def fail(job_id: str, body: FailIn, who: Caller, state: State) -> JobView:
    need(who, "node")
    with state.store.write() as session:
        job = jobs.record_failure(session, job_id, who, step=body.step, reason=body.reason)
        view = job_view(session, job)
    state.waiters.notify()
    return view


@router.post("/jobs/{job_id}/cancel", response_model=JobView)
def cancel(job_id: str, who: Caller, state: State) -> JobView:
    need(who, "admin", "analyst")
    with state.store.write() as session:
        view = job_view(session, jobs.cancel(session, job_id, who))
    state.waiters.notify()
    return view


@router.get("/jobs/{job_id}/result", response_model=ReleasedResult)
def result(job_id: str, who: Caller, state: State, response: Response) -> ReleasedResult:
    """The released result; header ``X-Privstats-Result-Salt`` carries the salt of the
    producing node's commitment in the audit log, for the recipients to check."""
    with state.store.read() as session:
        job = jobs.require_job(session, job_id)
        manifest = jobs.load_manifest(job)
        if who.kind != "person" or who.name not in manifest.recipients:
            raise ServiceError(
                f"the result of job {job_id} goes only to {', '.join(manifest.recipients)}",
                status=403,
            )
        row = session.get(Result, job_id)
        if row is None or job.state != "succeeded":
            raise ServiceError(f"job {job_id} is {job.state}; no result yet", status=409)
        released: dict[str, Any] = json.loads(row.result)
        if row.salt:
            response.headers[HEADER_RESULT_SALT] = row.salt
        return ReleasedResult(released)
