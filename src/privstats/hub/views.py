"""Rows of the hub's store as the API shows them (the models of ``service.models``).

Only what a caller may read leaves the store: no token or enrolment hash, no envelope, and
a result only through its own route.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from privstats.hub.store import Approval, Dataset, Job, JobParty, Party, Result
from privstats.service.models import (
    TERMINAL_STATES,
    ApprovalView,
    DatasetView,
    FailureView,
    JobPartyView,
    JobView,
    PartyView,
)

__all__ = ["dataset_view", "job_view", "party_view"]


def job_view(session: Session, job: Job) -> JobView:
    """A job as the API shows it (see :class:`~privstats.service.models.JobView`)."""
    approvals = session.scalars(select(Approval).where(Approval.job_id == job.id)).all()
    members = session.scalars(select(JobParty).where(JobParty.job_id == job.id)).all()
    decided = {a.party for a in approvals}
    state_times = json.loads(job.state_times)
    return JobView.model_validate(
        {
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
                FailureView(
                    party=job.failure_party, step=job.failure_step, reason=job.failure_reason
                )
                if job.failure_reason
                else None
            ),
            "parties": [
                JobPartyView(
                    party=m.party,
                    role=m.role,
                    step=m.step,
                    started_at=m.started_at,
                    completed_at=m.completed_at,
                )
                for m in members
            ],
            "approvals": [
                ApprovalView.model_validate(
                    {
                        "party": a.party,
                        "decision": a.decision,
                        "reason": a.reason,
                        "manifest_hash": a.manifest_hash,
                        "signature": a.signature,
                        "at": a.at,
                    }
                )
                for a in approvals
            ],
            "result_ready": session.get(Result, job.id) is not None,
        }
    )


def _seconds(state: str, times: dict[str, str]) -> float | None:
    """Seconds from the job's start to its end (None while it runs or if it never started)."""
    start, end = times.get("running") or times.get("approved"), times.get(state)
    if state not in TERMINAL_STATES or not start or not end:
        return None
    elapsed = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(elapsed.total_seconds(), 6)


def party_view(party: Party) -> PartyView:
    """A party with its public keys (None before its node enrols)."""
    return PartyView(
        name=party.name,
        description=party.description,
        sign_key=party.sign_key,
        box_key=party.box_key,
        enrolled_at=party.enrolled_at,
    )


def dataset_view(dataset: Dataset) -> DatasetView:
    """A declared dataset: schema and row count."""
    return DatasetView.model_validate(
        {
            "party": dataset.party,
            "name": dataset.name,
            "format": dataset.format,
            "rows": dataset.rows,
            "columns": json.loads(dataset.columns),
            "key_columns": json.loads(dataset.key_columns),
            "registered_at": dataset.registered_at,
        }
    )
