"""A job's life at the hub: submission, approvals, start, completion, failure, clean-up.

States: proposed → awaiting_approval → approved → running → succeeded | failed |
rejected | cancelled. Every transition is stamped in ``state_times`` and written to the
audit log in the same transaction. Relay messages of a job are deleted when it ends.
Each ``record_*`` function checks that the caller may make the change, makes it and audits
it; call it inside the store's write session (the routes of ``hub.routes.jobs`` do).
A node's statements (approval, completion) are checked against its enrolled key.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from privstats.errors import ParameterError, ServiceError
from privstats.hub import access, audit_log
from privstats.hub.auth import Principal
from privstats.hub.store import (
    Approval,
    Dataset,
    Job,
    JobParty,
    Party,
    RelayMessage,
    Result,
    utc_now,
)
from privstats.hub.views import job_view
from privstats.jobs.kinds import JobKind, get_kind
from privstats.service.canonical import result_commitment
from privstats.service.manifest import DatasetUse, Manifest, approval_payload
from privstats.service.models import ACTIVE_STATES, TERMINAL_STATES, JobState
from privstats.version import __version__

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "cancel",
    "check_silent_nodes",
    "end_job",
    "job_view",
    "listed_jobs",
    "load_manifest",
    "move",
    "record_approval",
    "record_completion",
    "record_failure",
    "record_heartbeat",
    "record_start",
    "require_job",
    "submit",
]

TERMINAL = TERMINAL_STATES
ACTIVE = ACTIVE_STATES


def load_manifest(job: Job) -> Manifest:
    """The manifest ``job`` was submitted with."""
    return Manifest.model_validate_json(job.manifest)


def move(session: Session, job: Job, state: JobState, *, actor: str, **payload: Any) -> None:
    """Put ``job`` in ``state``, stamp the time and audit the transition."""
    now = utc_now()
    times = json.loads(job.state_times)
    times[state] = now
    job.state = state
    job.state_times = json.dumps(times)
    job.updated_at = now
    audit_log.append(
        session,
        actor=actor,
        action=f"job.{state}",
        job_id=job.id,
        payload={"job": job.id, **payload},
    )


def end_job(
    session: Session,
    job: Job,
    state: JobState,
    *,
    actor: str,
    party: str | None = None,
    step: str | None = None,
    reason: str | None = None,
) -> None:
    """Finish ``job`` (failed, rejected, cancelled or succeeded) and empty its mailboxes."""
    if job.state in TERMINAL:
        return
    job.failure_party, job.failure_step, job.failure_reason = party, step, reason
    extra = {
        key: value for key, value in (("party", party), ("step", step), ("reason", reason)) if value
    }
    move(session, job, state, actor=actor, **extra)
    session.execute(delete(RelayMessage).where(RelayMessage.job_id == job.id))


def submit(
    session: Session,
    who: Principal,
    *,
    kind_name: str,
    parameters: dict[str, Any],
    parties: dict[str, str],
    datasets: dict[str, str],
    recipients: list[str] | None,
    node_timeout: float,
) -> Job:
    """Validate a job against the registry and the declared datasets, and propose it."""
    kind = get_kind(kind_name)
    spec = kind.parse(parameters)
    roles = kind.check_roles(parties)
    if len(set(parties.values())) != len(parties):
        raise ParameterError("each role must be played by a different party", parameter="parties")
    uses: dict[str, DatasetUse] = {}
    for role in roles:
        use = _dataset_use(session, kind, spec, role, parties[role], datasets.get(role))
        if use is not None:
            uses[role] = use
    manifest = Manifest(
        kind=kind.name,
        parameters=spec.model_dump(mode="json"),
        parties=dict(parties),
        datasets=uses,
        recipients=tuple(recipients or [who.name]),
        disclosure=kind.disclosure(spec),
        code_version=__version__,
    )
    now = utc_now()
    job = Job(
        id=secrets.token_hex(8),
        kind=kind.name,
        state="proposed",
        manifest=manifest.canonical().decode("utf-8"),
        manifest_hash=manifest.digest(),
        submitted_by=who.name,
        created_at=now,
        updated_at=now,
        state_times=json.dumps({"proposed": now}),
        node_timeout=node_timeout,
    )
    session.add(job)
    session.flush()
    for role, party_name in parties.items():
        session.add(JobParty(job_id=job.id, party=party_name, role=role))
    audit_log.append(
        session,
        actor=who.actor,
        action="job.submitted",
        job_id=job.id,
        payload={
            "job": job.id,
            "manifest": json.loads(job.manifest),
            "manifest_hash": job.manifest_hash,
        },
    )
    move(session, job, "awaiting_approval", actor="hub")
    return job


def _dataset_use(
    session: Session,
    kind: JobKind,
    spec: Any,
    role: str,
    party_name: str,
    dataset_name: str | None,
) -> DatasetUse | None:
    """What ``role``'s party reads: its enrolled party, declared dataset and the columns
    the kind needs from it (None for a role that reads no data)."""
    party = session.get(Party, party_name)
    if party is None or party.sign_key is None:
        raise ParameterError(
            f"party {party_name!r} (role {role}) is not enrolled at this hub",
            parameter="parties",
        )
    if role in kind.dataless_roles:
        if dataset_name is not None:
            raise ParameterError(
                f"role {role!r} of a {kind.name} job reads no data; name no dataset for it",
                parameter="datasets",
            )
        return None
    if dataset_name is None:
        raise ParameterError(f"no dataset named for role {role!r}", parameter="datasets")
    dataset = session.get(Dataset, (party_name, dataset_name))
    if dataset is None:
        known = session.scalars(select(Dataset.name).where(Dataset.party == party_name)).all()
        raise ParameterError(
            f"party {party_name!r} has not declared a dataset {dataset_name!r}; its datasets: "
            f"{', '.join(known) or 'none'}",
            parameter="datasets",
        )
    columns = kind.columns(spec, role)
    available = {name for name, _type in json.loads(dataset.columns)}
    missing = [column for column in columns if column not in available]
    if missing:
        raise ParameterError(
            f"dataset {dataset_name!r} of {party_name!r} has no column {missing[0]!r}; its "
            f"columns: {', '.join(sorted(available))}",
            parameter="parameters",
        )
    return DatasetUse(party=party_name, dataset=dataset_name, columns=columns)


def listed_jobs(who: Principal, *, active: bool, limit: int) -> Select[Job]:
    """The query of the jobs ``who`` lists, newest first: a node its own, an analyst those
    it submitted, admins and auditors every job."""
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if active:
        query = query.where(Job.state.in_(ACTIVE))
    if who.kind == "node":
        query = query.join(JobParty, JobParty.job_id == Job.id).where(JobParty.party == who.name)
    elif not access.sees_everything(who):
        query = query.where(Job.submitted_by == who.name)
    return query


def record_approval(
    session: Session,
    job_id: str,
    who: Principal,
    *,
    decision: Literal["approve", "reject"],
    reason: str,
    manifest_hash: str,
    signature: str,
) -> Job:
    """Record a node's signed decision; a rejection ends the job, the last approval moves
    it to ``approved``."""
    job = require_job(session, job_id)
    access.member(session, job, who)
    if job.state != "awaiting_approval":
        raise ServiceError(f"job {job_id} is {job.state}, not awaiting approval", status=409)
    if manifest_hash != job.manifest_hash:
        raise ServiceError(
            f"job {job_id}: the approval is for another manifest than the job's", status=409
        )
    payload = approval_payload(job_id, manifest_hash, decision, reason)
    access.check_signed(session, who, "approval", payload, signature)
    if session.get(Approval, (job_id, who.name)) is not None:
        raise ServiceError(f"{who.name!r} has already decided on job {job_id}", status=409)
    session.add(
        Approval(
            job_id=job_id,
            party=who.name,
            decision=decision,
            reason=reason,
            manifest_hash=manifest_hash,
            signature=signature,
            at=utc_now(),
        )
    )
    audit_log.append(
        session,
        actor=who.actor,
        action="node.approved" if decision == "approve" else "node.rejected",
        job_id=job_id,
        payload=payload,
        signer=who.name,
        signature=signature,
    )
    if decision == "reject":
        end_job(
            session,
            job,
            "rejected",
            actor="hub",
            party=who.name,
            step="approval",
            reason=f"rejected by {who.name!r}: {reason or 'no reason given'}",
        )
    else:
        decided = session.scalars(select(Approval).where(Approval.job_id == job_id)).all()
        members = session.scalars(select(JobParty).where(JobParty.job_id == job_id)).all()
        if {a.party for a in decided if a.decision == "approve"} >= {m.party for m in members}:
            move(session, job, "approved", actor="hub")
    return job


def record_start(session: Session, job_id: str, who: Principal) -> Job:
    """A node starts its role: the first start moves the job to ``running``."""
    job = require_job(session, job_id)
    row = access.member(session, job, who)
    if job.state not in ("approved", "running"):
        raise ServiceError(f"job {job_id} is {job.state}; it cannot start", status=409)
    row.started_at = row.started_at or utc_now()
    if job.state == "approved":
        move(session, job, "running", actor=who.actor)
    return job


def record_heartbeat(session: Session, job_id: str, who: Principal, step: str | None) -> str:
    """A node is alive (``auth.node`` marked it seen) and at ``step``; the job's state."""
    job = require_job(session, job_id)
    row = access.member(session, job, who)
    if step:
        row.step = step
    return job.state


def record_completion(
    session: Session,
    job_id: str,
    who: Principal,
    *,
    result: dict[str, Any] | None,
    commitment: str | None,
    salt: str | None,
    signature: str,
) -> Job:
    """Record a node's signed completion (and the result its role releases, with the salt
    of its commitment); once every party completed, the job succeeds or fails."""
    job = require_job(session, job_id)
    row = access.member(session, job, who)
    if job.state != "running":
        raise ServiceError(f"job {job_id} is {job.state}; it cannot complete", status=409)
    if row.completed_at is not None:
        raise ServiceError(f"{who.name!r} has already completed job {job_id}", status=409)
    manifest = load_manifest(job)
    if result is not None:
        _check_release(manifest, row.role, result, commitment, salt)
    payload = {"job": job_id, "party": who.name, "role": row.role, "result_commitment": commitment}
    access.check_signed(session, who, "completion", payload, signature)
    row.completed_at, row.result_hash = utc_now(), commitment
    audit_log.append(
        session,
        actor=who.actor,
        action="node.completed",
        job_id=job_id,
        payload=payload,
        signer=who.name,
        signature=signature,
    )
    if result is not None:
        session.add(
            Result(
                job_id=job_id,
                result=json.dumps(result),
                salt=salt,
                produced_by=who.name,
                created_at=utc_now(),
            )
        )
    members = session.scalars(select(JobParty).where(JobParty.job_id == job_id)).all()
    if all(m.completed_at for m in members):
        _release(session, job, manifest)
    return job


def _check_release(
    manifest: Manifest,
    role: str,
    result: dict[str, Any],
    commitment: str | None,
    salt: str | None,
) -> None:
    """Refuse a result from a role that does not release, or one that misses its commitment."""
    if role != get_kind(manifest.kind).result_role:
        raise ServiceError(
            f"role {role!r} does not release results of {manifest.kind} jobs", status=403
        )
    if salt is None or commitment != result_commitment(bytes.fromhex(salt), result):
        raise ServiceError(
            "the result does not match its commitment (sha256 of salt and result)", status=422
        )


def _release(session: Session, job: Job, manifest: Manifest) -> None:
    """End a job every party completed: succeeded with its result, else failed."""
    stored = session.get(Result, job.id)
    if stored is None:
        end_job(
            session,
            job,
            "failed",
            actor="hub",
            step="release",
            reason="every party completed but none released a result",
        )
        return
    producer = session.get(JobParty, (job.id, stored.produced_by))
    end_job(session, job, "succeeded", actor="hub")
    audit_log.append(
        session,
        actor="hub",
        action="result.released",
        job_id=job.id,
        payload={
            "job": job.id,
            "recipients": list(manifest.recipients),
            "produced_by": stored.produced_by,
            "result_commitment": producer.result_hash if producer else None,
        },
    )


def record_failure(
    session: Session, job_id: str, who: Principal, *, step: str | None, reason: str
) -> Job:
    """A node reports that its role failed: the job fails with its reason."""
    job = require_job(session, job_id)
    access.member(session, job, who)
    end_job(session, job, "failed", actor=who.actor, party=who.name, step=step, reason=reason)
    return job


def cancel(session: Session, job_id: str, who: Principal) -> Job:
    """Cancel a job that has not ended (its submitter or an admin)."""
    job = require_job(session, job_id)
    if who.role != "admin" and who.name != job.submitted_by:
        raise ServiceError(
            f"only {job.submitted_by!r} or an admin may cancel job {job_id}", status=403
        )
    if job.state in TERMINAL:
        raise ServiceError(f"job {job_id} has already ended ({job.state})", status=409)
    end_job(session, job, "cancelled", actor=who.actor, reason=f"cancelled by {who.name!r}")
    return job


def require_job(session: Session, job_id: str) -> Job:
    """The job ``job_id``; 404 if the hub has none."""
    job = session.get(Job, job_id)
    if job is None:
        raise ServiceError(f"no job {job_id!r} at this hub", status=404)
    return job


def check_silent_nodes(session: Session, now: float, started: float) -> list[str]:
    """Fail running or approved jobs whose party has not been heard from in time."""
    failed = []
    for job in session.scalars(select(Job).where(Job.state.in_(("approved", "running")))).all():
        for member in session.scalars(select(JobParty).where(JobParty.job_id == job.id)).all():
            if member.completed_at is not None:
                continue
            party = session.get(Party, member.party)
            # a hub that was down is not the nodes' fault: count from its own start too
            last = max(party.last_seen or 0.0, started) if party else started
            if now - last > job.node_timeout:
                step = f" during step {member.step!r}" if member.step else ""
                end_job(
                    session,
                    job,
                    "failed",
                    actor="hub",
                    party=member.party,
                    step=member.step,
                    reason=(
                        f"node {member.party!r} stopped responding{step}: no contact for "
                        f"{now - last:.0f} s (limit {job.node_timeout:g} s); check that its "
                        f"'privstats node run' is up and can reach the hub"
                    ),
                )
                failed.append(job.id)
                break
    return failed
