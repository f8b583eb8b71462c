"""The hub's REST API under ``/api/v1`` (FastAPI), with its OpenAPI document.

People call it with bearer tokens; nodes with signed requests (see ``hub.auth``). Routes
only translate HTTP to the store and the job life cycle in ``hub.jobs``; a watchdog thread
fails jobs whose nodes fall silent.
"""

import asyncio
import contextlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgpack
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from privstats.crypto.keys import verify
from privstats.errors import AuthenticationError, ParameterError, PrivstatsError, ServiceError
from privstats.hub import audit_log, auth, jobs
from privstats.hub.auth import Principal
from privstats.hub.limits import BodyLimit
from privstats.hub.store import (
    Approval,
    Dataset,
    Job,
    JobParty,
    Party,
    RelayMessage,
    Result,
    Store,
    Token,
    utc_now,
)
from privstats.jobs.kinds import get_kind
from privstats.service.audit import HEADER_AUDIT_VIEW, HEADER_RESULT_SALT
from privstats.service.canonical import result_commitment
from privstats.service.manifest import approval_payload
from privstats.service.signing import (
    HEADER_NONCE,
    HEADER_PARTY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    statement_bytes,
)
from privstats.version import __version__

__all__ = ["HubSettings", "create_app"]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""Printable text: no control characters (no newlines that could forge log or table lines)."""
MAX_ROWS = 2**53
"""The largest row count a dataset may declare (exact as a JSON number everywhere)."""
MiB = 1024 * 1024


@dataclass(frozen=True)
class HubSettings:
    """Limits and clocks of one hub.

    ``max_body_bytes`` bounds every request body (default: the largest envelope plus
    4 MiB); ``max_result_bytes`` bounds the bodies of ``POST …/complete``, which carry
    released results (a synthetic file can be large). Both are enforced before
    authentication. ``max_waits_per_party`` caps one node's concurrent long-polls; a
    further one is answered at once with 429.
    """

    node_timeout: float = 60.0
    enrolment_ttl: float = 7 * 24 * 3600.0
    max_envelope_bytes: int = 2 * MiB
    max_fetch_bytes: int = 8 * MiB
    max_mailbox_bytes: int = 512 * MiB
    max_body_bytes: int | None = None
    max_result_bytes: int = 64 * MiB
    max_waits_per_party: int = 8
    watchdog_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_envelope_bytes", "max_result_bytes", "max_waits_per_party"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be at least 1", parameter=name)
        if self.body_limit < self.max_envelope_bytes:
            raise ParameterError(
                f"max_body_bytes ({self.body_limit}) must be at least max_envelope_bytes "
                f"({self.max_envelope_bytes}), or no envelope could be posted",
                parameter="max_body_bytes",
            )

    @property
    def body_limit(self) -> int:
        """The body limit of every route but completion."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return self.max_envelope_bytes + 4 * MiB


Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Reason = Annotated[str, Field(max_length=10_000)]
ColumnName = Annotated[str, Field(min_length=1, max_length=128, pattern=TEXT_PATTERN)]
TypeName = Annotated[str, Field(min_length=1, max_length=128, pattern=TEXT_PATTERN)]


class PartyIn(BaseModel):
    name: Name
    description: str = Field("", max_length=500, pattern=TEXT_PATTERN)


class TokenIn(BaseModel):
    name: Name
    role: Literal["admin", "analyst", "auditor"] = "analyst"


class EnrolIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    enrolment_token: str
    sign_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    box_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: str


class DatasetIn(BaseModel):
    name: Name
    format: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,15}$")
    rows: int = Field(ge=0, le=MAX_ROWS)
    columns: list[tuple[ColumnName, TypeName]] = Field(max_length=10_000)
    key_columns: list[ColumnName] = Field(max_length=100)
    signature: str = Field(max_length=256)


class JobIn(BaseModel):
    kind: Name
    parameters: dict[str, Any]
    parties: dict[Name, Name] = Field(max_length=1000)
    datasets: dict[Name, Name] = Field(max_length=1000)
    recipients: list[Name] | None = Field(None, min_length=1, max_length=100)
    node_timeout: float | None = Field(None, gt=0, le=86_400)


class ApprovalIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: Reason = ""
    manifest_hash: str
    signature: str


class HeartbeatIn(BaseModel):
    step: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN)


class CompleteIn(BaseModel):
    result: dict[str, Any] | None = None
    result_commitment: str | None = Field(pattern=r"^[0-9a-f]{64}$")
    salt: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    signature: str = Field(max_length=256)


class FailIn(BaseModel):
    step: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN)
    reason: Reason


class _Waiters:
    """Wakes long-polling mailbox readers when an envelope arrives or a job ends.

    Readers wait on an :class:`asyncio.Event` in the server's event loop, so a waiting
    long-poll holds no worker thread; writers (in worker threads) wake them through
    ``call_soon_threadsafe``. Each wake-up replaces the event, so a reader takes the
    current event *before* it looks at the mailbox and misses nothing posted after.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._waiting: dict[str, int] = {}

    def current(self) -> asyncio.Event:
        """The event the next :meth:`notify` sets (call in the event loop)."""
        self._loop = asyncio.get_running_loop()
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def _wake(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    def notify(self) -> None:
        """Wake every waiting reader (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(self._wake)

    def enter(self, party: str, cap: int) -> bool:
        """Count one more waiting long-poll of ``party``; False if it has ``cap`` already."""
        if self._waiting.get(party, 0) >= cap:
            return False
        self._waiting[party] = self._waiting.get(party, 0) + 1
        return True

    def leave(self, party: str) -> None:
        left = self._waiting.get(party, 1) - 1
        if left:
            self._waiting[party] = left
        else:
            self._waiting.pop(party, None)


def create_app(store: Store, settings: HubSettings | None = None) -> FastAPI:
    """The hub application over ``store``."""
    settings = settings or HubSettings()
    waiters = _Waiters()
    started = time.time()
    stop = threading.Event()

    def watchdog() -> None:
        while not stop.wait(settings.watchdog_seconds):
            try:
                with store.write() as session:
                    failed = jobs.check_silent_nodes(session, time.time(), started)
                if failed:
                    waiters.notify()
            except Exception:  # noqa: S112 - the next round retries; the hub must stay up
                continue

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=watchdog, name="privstats-watchdog", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            waiters.notify()
            thread.join(timeout=5)

    app = FastAPI(
        title="privstats hub",
        version=__version__,
        description="Registry, jobs, approvals, sealed relay and audit log of a federation.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )

    app.add_middleware(
        BodyLimit,
        max_bytes=settings.body_limit,
        route_limits=((r"/api/v1/jobs/[^/]+/complete", settings.max_result_bytes),),
    )

    @app.exception_handler(PrivstatsError)
    async def _privstats_error(_request: Request, exc: PrivstatsError) -> JSONResponse:
        if isinstance(exc, ServiceError) and exc.status:
            status = exc.status
        elif isinstance(exc, ParameterError):
            status = 422
        else:
            status = 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    async def raw_body(request: Request) -> bytes:
        return await request.body()

    def caller(
        request: Request,
        body: Annotated[bytes, Depends(raw_body)],
        authorization: Annotated[str | None, Header()] = None,
        party: Annotated[str | None, Header(alias=HEADER_PARTY)] = None,
        timestamp: Annotated[str | None, Header(alias=HEADER_TIMESTAMP)] = None,
        nonce: Annotated[str | None, Header(alias=HEADER_NONCE)] = None,
        signature: Annotated[str | None, Header(alias=HEADER_SIGNATURE)] = None,
    ) -> Principal:
        if party is not None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return auth.node(
                store,
                method=request.method,
                path=path,
                body=body,
                party=party,
                timestamp=timestamp,
                nonce=nonce,
                signature=signature,
            )
        return auth.person(store, authorization)

    def need(who: Principal, *roles: str) -> None:
        if who.role not in roles:
            raise ServiceError(
                f"{who.kind} {who.name!r} (role {who.role}) may not do this; it needs role "
                f"{' or '.join(roles)}",
                status=403,
            )

    def signed_by(who: Principal, kind: str, payload: dict[str, Any], signature: str) -> None:
        with store.read() as session:
            party = session.get(Party, who.name)
            key = party.sign_key if party else None
        try:
            good = key is not None and verify(
                bytes.fromhex(key), statement_bytes(kind, payload), bytes.fromhex(signature)
            )
        except ValueError:
            good = False
        if not good:
            raise AuthenticationError(
                f"the {kind} statement is not signed by {who.name!r}", status=401
            )

    def member(session: Session, job: Job, who: Principal) -> JobParty:
        row = session.get(JobParty, (job.id, who.name))
        if row is None:
            raise ServiceError(f"{who.name!r} is not a party of job {job.id}", status=403)
        return row

    def person_sees(who: Principal, submitted_by: str, recipients: Collection[str]) -> bool:
        """A person sees a job they submitted or receive; admins and auditors see all."""
        return (
            who.role in ("admin", "auditor") or who.name == submitted_by or who.name in recipients
        )

    def visible(session: Session, job: Job, who: Principal) -> None:
        if who.kind == "node":
            member(session, job, who)
        elif not person_sees(who, job.submitted_by, jobs.load_manifest(job).recipients):
            raise ServiceError(f"job {job.id} is not visible to {who.name!r}", status=403)

    @app.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/api/v1/parties", status_code=201)
    def add_party(body: PartyIn, who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
        need(who, "admin")
        token = auth.new_token()
        with store.write() as session:
            if session.get(Party, body.name) is not None:
                raise ServiceError(f"party {body.name!r} already exists", status=409)
            session.add(
                Party(
                    name=body.name,
                    description=body.description,
                    enrolment_hash=auth.hash_token(token),
                    enrolment_expires=time.time() + settings.enrolment_ttl,
                    created_at=utc_now(),
                )
            )
            audit_log.append(
                session, actor=who.actor, action="party.added", payload={"name": body.name}
            )
        return {"name": body.name, "enrolment_token": token, "expires_in": settings.enrolment_ttl}

    @app.get("/api/v1/parties")
    def list_parties(who: Annotated[Principal, Depends(caller)]) -> list[dict[str, Any]]:
        with store.read() as session:
            return [
                {
                    "name": p.name,
                    "description": p.description,
                    "sign_key": p.sign_key,
                    "box_key": p.box_key,
                    "enrolled_at": p.enrolled_at,
                }
                for p in session.scalars(select(Party).order_by(Party.name))
            ]

    @app.post("/api/v1/enrol")
    def enrol(body: EnrolIn) -> dict[str, Any]:
        payload = {"name": body.name, "sign_key": body.sign_key, "box_key": body.box_key}
        try:
            proof = verify(
                bytes.fromhex(body.sign_key),
                statement_bytes("enrol", payload),
                bytes.fromhex(body.signature),
            )
        except ValueError:
            proof = False
        if not proof:
            raise AuthenticationError(
                "the enrolment is not signed with the key it enrols", status=401
            )
        with store.write() as session:
            party = session.get(Party, body.name)
            expected = party.enrolment_hash if party else None
            if (
                party is None
                or expected is None
                or not hmac.compare_digest(expected, auth.hash_token(body.enrolment_token))
            ):
                raise AuthenticationError(
                    f"the enrolment token for {body.name!r} is not valid (or was used already); "
                    "ask the hub's admin for a new one with 'privstats party add'",
                    status=401,
                )
            if (party.enrolment_expires or 0) < time.time():
                raise AuthenticationError("the enrolment token has expired", status=401)
            party.sign_key, party.box_key = body.sign_key, body.box_key
            party.enrolment_hash, party.enrolment_expires = None, None
            party.enrolled_at = utc_now()
            audit_log.append(
                session,
                actor=f"node:{body.name}",
                action="party.enrolled",
                payload=payload,
                signer=body.name,
                signature=body.signature,
            )
            return {"name": body.name, "enrolled_at": party.enrolled_at}

    @app.post("/api/v1/tokens", status_code=201)
    def add_token(body: TokenIn, who: Annotated[Principal, Depends(caller)]) -> dict[str, str]:
        need(who, "admin")
        token = auth.new_token()
        with store.write() as session:
            if session.get(Token, body.name) is not None:
                raise ServiceError(f"a token named {body.name!r} already exists", status=409)
            session.add(
                Token(
                    name=body.name,
                    role=body.role,
                    token_hash=auth.hash_token(token),
                    created_at=utc_now(),
                )
            )
            audit_log.append(
                session,
                actor=who.actor,
                action="token.created",
                payload={"name": body.name, "role": body.role},
            )
        return {"name": body.name, "role": body.role, "token": token}

    @app.post("/api/v1/datasets")
    def declare_dataset(
        body: DatasetIn, who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, Any]:
        need(who, "node")
        payload = {
            "party": who.name,
            "name": body.name,
            "format": body.format,
            "rows": body.rows,
            "columns": [list(column) for column in body.columns],
            "key_columns": body.key_columns,
        }
        signed_by(who, "dataset", payload, body.signature)
        with store.write() as session:
            row = session.get(Dataset, (who.name, body.name))
            values = {
                "format": body.format,
                "rows": body.rows,
                "columns": json.dumps(payload["columns"]),
                "key_columns": json.dumps(body.key_columns),
            }
            if row is not None and all(getattr(row, k) == v for k, v in values.items()):
                return {"party": who.name, "name": body.name, "changed": False}
            if row is None:
                session.add(
                    Dataset(party=who.name, name=body.name, registered_at=utc_now(), **values)
                )
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.registered_at = utc_now()
            audit_log.append(
                session,
                actor=who.actor,
                action="dataset.registered",
                payload=payload,
                signer=who.name,
                signature=body.signature,
            )
        return {"party": who.name, "name": body.name, "changed": True}

    @app.get("/api/v1/datasets")
    def list_datasets(who: Annotated[Principal, Depends(caller)]) -> list[dict[str, Any]]:
        with store.read() as session:
            return [
                {
                    "party": d.party,
                    "name": d.name,
                    "format": d.format,
                    "rows": d.rows,
                    "columns": json.loads(d.columns),
                    "key_columns": json.loads(d.key_columns),
                    "registered_at": d.registered_at,
                }
                for d in session.scalars(select(Dataset).order_by(Dataset.party, Dataset.name))
            ]

    @app.post("/api/v1/jobs", status_code=201)
    def submit_job(body: JobIn, who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
        need(who, "admin", "analyst")
        with store.write() as session:
            job = jobs.submit(
                session,
                who,
                kind_name=body.kind,
                parameters=body.parameters,
                parties=body.parties,
                datasets=body.datasets,
                recipients=body.recipients,
                node_timeout=body.node_timeout or settings.node_timeout,
            )
            return jobs.job_view(session, job)

    @app.get("/api/v1/jobs")
    def list_jobs(
        who: Annotated[Principal, Depends(caller)],
        active: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        with store.read() as session:
            query = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if active:
                query = query.where(Job.state.in_(jobs.ACTIVE))
            if who.kind == "node":
                query = query.join(JobParty, JobParty.job_id == Job.id).where(
                    JobParty.party == who.name
                )
            elif who.role not in ("admin", "auditor"):
                query = query.where(Job.submitted_by == who.name)
            return [jobs.job_view(session, job) for job in session.scalars(query)]

    @app.get("/api/v1/jobs/{job_id}")
    def show_job(job_id: str, who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
        with store.read() as session:
            job = jobs.require_job(session, job_id)
            visible(session, job, who)
            return jobs.job_view(session, job)

    @app.post("/api/v1/jobs/{job_id}/approval")
    def approve(
        job_id: str, body: ApprovalIn, who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, Any]:
        need(who, "node")
        with store.write() as session:
            job = jobs.require_job(session, job_id)
            member(session, job, who)
            if job.state != "awaiting_approval":
                raise ServiceError(
                    f"job {job_id} is {job.state}, not awaiting approval", status=409
                )
            if body.manifest_hash != job.manifest_hash:
                raise ServiceError(
                    f"job {job_id}: the approval is for another manifest than the job's", status=409
                )
            payload = approval_payload(job_id, body.manifest_hash, body.decision, body.reason)
            signed_by(who, "approval", payload, body.signature)
            if session.get(Approval, (job_id, who.name)) is not None:
                raise ServiceError(f"{who.name!r} has already decided on job {job_id}", status=409)
            session.add(
                Approval(
                    job_id=job_id,
                    party=who.name,
                    decision=body.decision,
                    reason=body.reason,
                    manifest_hash=body.manifest_hash,
                    signature=body.signature,
                    at=utc_now(),
                )
            )
            action = "node.approved" if body.decision == "approve" else "node.rejected"
            audit_log.append(
                session,
                actor=who.actor,
                action=action,
                job_id=job_id,
                payload=payload,
                signer=who.name,
                signature=body.signature,
            )
            if body.decision == "reject":
                jobs.end_job(
                    session,
                    job,
                    "rejected",
                    actor="hub",
                    party=who.name,
                    step="approval",
                    reason=f"rejected by {who.name!r}: {body.reason or 'no reason given'}",
                )
            else:
                decided = session.scalars(select(Approval).where(Approval.job_id == job_id)).all()
                members = session.scalars(select(JobParty).where(JobParty.job_id == job_id)).all()
                if {a.party for a in decided if a.decision == "approve"} >= {
                    m.party for m in members
                }:
                    jobs.move(session, job, "approved", actor="hub")
            view = jobs.job_view(session, job)
        waiters.notify()
        return view

    @app.post("/api/v1/jobs/{job_id}/start")
    def start(job_id: str, who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
        need(who, "node")
        with store.write() as session:
            job = jobs.require_job(session, job_id)
            row = member(session, job, who)
            if job.state not in ("approved", "running"):
                raise ServiceError(f"job {job_id} is {job.state}; it cannot start", status=409)
            row.started_at = row.started_at or utc_now()
            if job.state == "approved":
                jobs.move(session, job, "running", actor=who.actor)
            return jobs.job_view(session, job)

    @app.post("/api/v1/jobs/{job_id}/heartbeat")
    def heartbeat(
        job_id: str, body: HeartbeatIn, who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, str]:
        need(who, "node")
        with store.write() as session:
            job = jobs.require_job(session, job_id)
            row = member(session, job, who)
            if body.step:
                row.step = body.step
            return {"state": job.state}

    @app.post("/api/v1/jobs/{job_id}/complete")
    def complete(
        job_id: str, body: CompleteIn, who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, Any]:
        need(who, "node")
        with store.write() as session:
            job = jobs.require_job(session, job_id)
            row = member(session, job, who)
            if job.state != "running":
                raise ServiceError(f"job {job_id} is {job.state}; it cannot complete", status=409)
            if row.completed_at is not None:
                raise ServiceError(f"{who.name!r} has already completed job {job_id}", status=409)
            manifest = jobs.load_manifest(job)
            if body.result is not None:
                if row.role != get_kind(manifest.kind).result_role:
                    raise ServiceError(
                        f"role {row.role!r} does not release results of {manifest.kind} jobs",
                        status=403,
                    )
                if body.salt is None or body.result_commitment != result_commitment(
                    bytes.fromhex(body.salt), body.result
                ):
                    raise ServiceError(
                        "the result does not match its commitment (sha256 of salt and result)",
                        status=422,
                    )
            payload = {
                "job": job_id,
                "party": who.name,
                "role": row.role,
                "result_commitment": body.result_commitment,
            }
            signed_by(who, "completion", payload, body.signature)
            row.completed_at, row.result_hash = utc_now(), body.result_commitment
            audit_log.append(
                session,
                actor=who.actor,
                action="node.completed",
                job_id=job_id,
                payload=payload,
                signer=who.name,
                signature=body.signature,
            )
            if body.result is not None:
                session.add(
                    Result(
                        job_id=job_id,
                        result=json.dumps(body.result),
                        salt=body.salt,
                        produced_by=who.name,
                        created_at=utc_now(),
                    )
                )
            members = session.scalars(select(JobParty).where(JobParty.job_id == job_id)).all()
            if all(m.completed_at for m in members):
                stored = session.get(Result, job_id)
                if stored is None:
                    jobs.end_job(
                        session,
                        job,
                        "failed",
                        actor="hub",
                        step="release",
                        reason="every party completed but none released a result",
                    )
                else:
                    producer = session.get(JobParty, (job_id, stored.produced_by))
                    jobs.end_job(session, job, "succeeded", actor="hub")
                    audit_log.append(
                        session,
                        actor="hub",
                        action="result.released",
                        job_id=job_id,
                        payload={
                            "job": job_id,
                            "recipients": list(manifest.recipients),
                            "produced_by": stored.produced_by,
                            "result_commitment": producer.result_hash if producer else None,
                        },
                    )
            view = jobs.job_view(session, job)
        waiters.notify()
        return view

    @app.post("/api/v1/jobs/{job_id}/fail")
    def fail(
        job_id: str, body: FailIn, who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, Any]:
        need(who, "node")
        with store.write() as session:
            job = jobs.require_job(session, job_id)
            member(session, job, who)
            jobs.end_job(
                session,
                job,
                "failed",
                actor=who.actor,
                party=who.name,
                step=body.step,
                reason=body.reason,
            )
            view = jobs.job_view(session, job)
        waiters.notify()
        return view

    @app.post("/api/v1/jobs/{job_id}/cancel")
    def cancel(job_id: str, who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
        need(who, "admin", "analyst")
        with store.write() as session:
            job = jobs.require_job(session, job_id)
            if who.role != "admin" and who.name != job.submitted_by:
                raise ServiceError(
                    f"only {job.submitted_by!r} or an admin may cancel job {job_id}", status=403
                )
            if job.state in jobs.TERMINAL:
                raise ServiceError(f"job {job_id} has already ended ({job.state})", status=409)
            jobs.end_job(
                session, job, "cancelled", actor=who.actor, reason=f"cancelled by {who.name!r}"
            )
            view = jobs.job_view(session, job)
        waiters.notify()
        return view

    @app.get("/api/v1/jobs/{job_id}/result")
    def result(
        job_id: str, who: Annotated[Principal, Depends(caller)], response: Response
    ) -> dict[str, Any]:
        """The released result; header ``X-Privstats-Result-Salt`` carries the salt of the
        producing node's commitment in the audit log, for the recipients to check."""
        with store.read() as session:
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
            return released

    def _active_member(session: Session, job_id: str, who: Principal) -> Job:
        job = jobs.require_job(session, job_id)
        member(session, job, who)
        if job.state in jobs.TERMINAL:
            reason = f": {job.failure_reason}" if job.failure_reason else ""
            raise ServiceError(f"job {job_id} has ended ({job.state}){reason}", status=410)
        if job.state != "running" and job.state != "approved":
            raise ServiceError(
                f"job {job_id} is {job.state}; its mailboxes are not open", status=409
            )
        return job

    @app.post("/api/v1/jobs/{job_id}/messages", status_code=201)
    def post_message(
        job_id: str,
        to: str,
        seq: Annotated[int, Query(ge=1)],
        who: Annotated[Principal, Depends(caller)],
        body: Annotated[bytes, Depends(raw_body)],
    ) -> dict[str, int]:
        need(who, "node")
        if len(body) > settings.max_envelope_bytes:
            raise ServiceError(
                f"envelope of {len(body)} bytes exceeds {settings.max_envelope_bytes}", status=413
            )
        with store.write() as session:
            _active_member(session, job_id, who)
            if session.get(JobParty, (job_id, to)) is None or to == who.name:
                raise ServiceError(f"{to!r} is not another party of job {job_id}", status=422)
            pending = session.scalar(
                select(func.coalesce(func.sum(func.length(RelayMessage.envelope)), 0)).where(
                    RelayMessage.job_id == job_id
                )
            )
            if int(pending or 0) + len(body) > settings.max_mailbox_bytes:
                raise ServiceError(f"job {job_id}'s mailboxes are full", status=507)
            duplicate = session.scalars(
                select(RelayMessage.id).where(
                    RelayMessage.job_id == job_id,
                    RelayMessage.sender == who.name,
                    RelayMessage.recipient == to,
                    RelayMessage.seq == seq,
                )
            ).first()
            if duplicate is None:
                session.add(
                    RelayMessage(
                        job_id=job_id,
                        sender=who.name,
                        recipient=to,
                        seq=seq,
                        envelope=body,
                        created_at=utc_now(),
                    )
                )
        waiters.notify()
        return {"seq": seq}

    def _acknowledge(job_id: str, sender: str, who: Principal, after: int) -> None:
        """Delete the envelopes the reader has confirmed (``seq <= after``)."""
        with store.write() as session:
            _active_member(session, job_id, who)
            session.execute(
                delete(RelayMessage).where(
                    RelayMessage.job_id == job_id,
                    RelayMessage.sender == sender,
                    RelayMessage.recipient == who.name,
                    RelayMessage.seq <= after,
                )
            )

    def _pending(job_id: str, sender: str, who: Principal, after: int) -> list[list[Any]]:
        """The next envelopes from ``sender`` to ``who`` after ``after``, up to the fetch limit."""
        with store.read() as session:
            _active_member(session, job_id, who)
            rows = session.scalars(
                select(RelayMessage)
                .where(
                    RelayMessage.job_id == job_id,
                    RelayMessage.sender == sender,
                    RelayMessage.recipient == who.name,
                    RelayMessage.seq > after,
                )
                .order_by(RelayMessage.seq)
                .limit(64)
            ).all()
        batch: list[list[Any]] = []
        size = 0
        for row in rows:
            if batch and size + len(row.envelope) > settings.max_fetch_bytes:
                break
            batch.append([row.seq, row.envelope])
            size += len(row.envelope)
        return batch

    @app.get("/api/v1/jobs/{job_id}/messages")
    async def fetch_messages(
        job_id: str,
        sender: str,
        who: Annotated[Principal, Depends(caller)],
        after: Annotated[int, Query(ge=0)] = 0,
        wait: Annotated[float, Query(ge=0, le=30)] = 10.0,
    ) -> Response:
        """Envelopes from ``sender``; waits up to ``wait`` s for one, holding no thread.

        A party may have ``max_waits_per_party`` waiting fetches at once; a further one
        that would wait is answered at once with 429 (its node retries shortly).
        """
        need(who, "node")
        deadline = time.monotonic() + wait
        await run_in_threadpool(_acknowledge, job_id, sender, who, after)
        event = waiters.current()
        batch = await run_in_threadpool(_pending, job_id, sender, who, after)
        if batch or wait <= 0:
            return Response(msgpack.packb(batch), media_type="application/msgpack")
        if not waiters.enter(who.name, settings.max_waits_per_party):
            raise ServiceError(
                f"party {who.name!r} already has {settings.max_waits_per_party} fetches "
                "waiting at this hub; retry shortly",
                status=429,
            )
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Response(msgpack.packb([]), media_type="application/msgpack")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=min(remaining, 5.0))
                event = waiters.current()
                batch = await run_in_threadpool(_pending, job_id, sender, who, after)
                if batch:
                    return Response(msgpack.packb(batch), media_type="application/msgpack")
        finally:
            waiters.leave(who.name)

    @app.get("/api/v1/audit")
    def audit(
        who: Annotated[Principal, Depends(caller)],
        response: Response,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        job: Annotated[str | None, Query(max_length=32)] = None,
    ) -> list[dict[str, Any]]:
        """Audit entries after ``after``, oldest first (of one ``job`` if given).

        Admins and auditors see every entry (header ``X-Privstats-Audit-View: full``).
        Analysts see the registry's party and dataset entries and the entries of the jobs
        they submitted or receive; nodes, the registry's entries and those of their jobs
        (``partial``): another analyst's manifest or result commitment is never shown.
        """
        full = who.role in ("admin", "auditor")
        response.headers[HEADER_AUDIT_VIEW] = "full" if full else "partial"
        with store.read() as session:
            job_ids = None if full else _visible_job_ids(session, who)
            rows = audit_log.entries(session, after=after, limit=limit, job_id=job, job_ids=job_ids)
            return [entry.as_dict() for entry in rows]

    def _visible_job_ids(session: Session, who: Principal) -> set[str]:
        if who.kind == "node":
            return set(session.scalars(select(JobParty.job_id).where(JobParty.party == who.name)))
        visible_ids = set()
        for job_id, submitted_by, manifest in session.execute(
            select(Job.id, Job.submitted_by, Job.manifest)
        ):
            if person_sees(who, submitted_by, json.loads(manifest)["recipients"]):
                visible_ids.add(job_id)
        return visible_ids

    return app
