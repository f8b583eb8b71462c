"""A job's life at the hub: submission, approvals, start, completion, failure, clean-up.

States: proposed → awaiting_approval → approved → running → succeeded | failed |
rejected | cancelled. Every transition is stamped in ``state_times`` and written to the
audit log in the same transaction. Relay messages of a job are deleted when it ends.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from privstats.errors import ParameterError, ServiceError
from privstats.hub import audit_log
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
from privstats.jobs.kinds import get_kind
from privstats.service.manifest import DatasetUse, Manifest
from privstats.version import __version__

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "end_job",
    "job_view",
    "load_manifest",
    "move",
    "submit",
]

TERMINAL = frozenset({"succeeded", "failed", "rejected", "cancelled"})
ACTIVE = frozenset({"proposed", "awaiting_approval", "approved", "running"})


def load_manifest(job: Job) -> Manifest:
    return Manifest.model_validate_json(job.manifest)


def move(session: Session, job: Job, state: str, *, actor: str, **payload: Any) -> None:
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
    state: str,
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
        party_name, dataset_name = parties[role], datasets.get(role)
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
            continue
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
        uses[role] = DatasetUse(party=party_name, dataset=dataset_name, columns=columns)
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


def job_view(session: Session, job: Job) -> dict[str, Any]:
    """A job as the API shows it.

    ``pending_approvals`` names the parties that have not decided yet while the job awaits
    approval (else it is empty); ``seconds`` is the wall time from the job's start
    (``running``, or ``approved`` if it never ran) to its end, None while it has not ended.
    """
    approvals = session.scalars(select(Approval).where(Approval.job_id == job.id)).all()
    members = session.scalars(select(JobParty).where(JobParty.job_id == job.id)).all()
    decided = {a.party for a in approvals}
    state_times = json.loads(job.state_times)
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "manifest": json.loads(job.manifest),
        "manifest_hash": job.manifest_hash,
        "submitted_by": job.submitted_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "state_times": state_times,
        "seconds": _seconds(job.state, state_times),
        "pending_approvals": (
            sorted(m.party for m in members if m.party not in decided)
            if job.state == "awaiting_approval"
            else []
        ),
        "node_timeout": job.node_timeout,
        "failure": (
            {"party": job.failure_party, "step": job.failure_step, "reason": job.failure_reason}
            if job.failure_reason
            else None
        ),
        "parties": [
            {
                "party": m.party,
                "role": m.role,
                "step": m.step,
                "started_at": m.started_at,
                "completed_at": m.completed_at,
            }
            for m in members
        ],
        "approvals": [
            {
                "party": a.party,
                "decision": a.decision,
                "reason": a.reason,
                "manifest_hash": a.manifest_hash,
                "signature": a.signature,
                "at": a.at,
            }
            for a in approvals
        ],
        "result_ready": session.get(Result, job.id) is not None,
    }


def _seconds(state: str, times: dict[str, str]) -> float | None:
    """Seconds from the job's start to its end (None while it runs or if it never started)."""
    start, end = times.get("running") or times.get("approved"), times.get(state)
    if state not in TERMINAL or not start or not end:
        return None
    elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(elapsed.total_seconds(), 6)


def require_job(session: Session, job_id: str) -> Job:
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
