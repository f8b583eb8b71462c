"""The hub's answers as typed records: what the hub sends and what nodes and clients read.

One model per response of the REST API (``/api/v1``). The hub declares them as each route's
``response_model``, so the OpenAPI document states every answer's shape; nodes and the
Python client parse what they receive with the same models instead of reading raw dicts.
Field names are the JSON names. Models ignore fields they do not know, so a newer hub may
add fields without breaking older readers.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from privstats.errors import ServiceError
from privstats.service.audit import AuditEntry

__all__ = [
    "ACTIVE_STATES",
    "ENVELOPE_BATCH_SCHEMA",
    "JOB_STATES",
    "TERMINAL_STATES",
    "ApprovalView",
    "AuditPage",
    "DatasetDeclared",
    "DatasetView",
    "EnrolmentView",
    "EnvelopeAccepted",
    "FailureView",
    "HealthView",
    "HeartbeatView",
    "JobPartyView",
    "JobState",
    "JobView",
    "PartyInvitation",
    "PartyView",
    "PersonRole",
    "ReleasedResult",
    "TokenCreated",
    "parse",
]

JobState = Literal[
    "proposed",
    "awaiting_approval",
    "approved",
    "running",
    "succeeded",
    "failed",
    "rejected",
    "cancelled",
]
"""A job's states: proposed → awaiting_approval → approved → running → one of the ends."""
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "rejected", "cancelled"})
ACTIVE_STATES: frozenset[str] = frozenset(JOB_STATES) - TERMINAL_STATES
PersonRole = Literal["admin", "analyst", "auditor"]
"""What a person's bearer token may do: everything, submit jobs, or read everything."""


class _View(BaseModel):
    """An answer of the hub: read-only, tolerant of fields added by newer hubs."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------- registry


class HealthView(_View):
    """``GET /health``: the hub is up, and its privstats version."""

    status: Literal["ok"]
    version: str


class PartyInvitation(_View):
    """``POST /parties``: an invited party's one-time enrolment token (shown only here)."""

    name: str
    enrolment_token: str
    expires_in: float = Field(description="Seconds until the enrolment token expires.")


class PartyView(_View):
    """One party of ``GET /parties``; its keys are None until its node enrols."""

    name: str
    description: str
    sign_key: str | None = Field(description="Ed25519 public key, hex.")
    box_key: str | None = Field(description="X25519 public key, hex.")
    enrolled_at: str | None


class EnrolmentView(_View):
    """``POST /enrol``: the party a node enrolled as, and when."""

    name: str
    enrolled_at: str


class TokenCreated(_View):
    """``POST /tokens``: a person's new bearer token (shown only here)."""

    name: str
    role: PersonRole
    token: str


class DatasetDeclared(_View):
    """``POST /datasets``: whether the hub recorded a change of the declared schema."""

    party: str
    name: str
    changed: bool


class DatasetView(_View):
    """One dataset of ``GET /datasets``: its schema and row count, never its contents."""

    party: str
    name: str
    format: str
    rows: int
    columns: list[tuple[str, str]] = Field(description="[column name, type name] pairs.")
    key_columns: list[str]
    registered_at: str


# --------------------------------------------------------------------------- jobs


class JobPartyView(_View):
    """One party's progress in a job."""

    party: str
    role: str
    step: str | None
    started_at: str | None
    completed_at: str | None


class ApprovalView(_View):
    """A node's signed decision on a job's manifest (its signature covers job, manifest
    hash, decision and reason)."""

    party: str
    decision: Literal["approve", "reject"]
    reason: str
    manifest_hash: str
    signature: str
    at: str


class FailureView(_View):
    """Why a job ended without a result: the party and step, where known, and the reason."""

    party: str | None
    step: str | None
    reason: str


class JobView(_View):
    """A job as the hub shows it.

    ``pending_approvals`` names the parties that have not decided while the job awaits
    approval (else it is empty); ``seconds`` is the wall time from the job's start to its
    end, None while it has not ended. ``manifest`` is the manifest's canonical JSON object,
    kept as sent so that a reader can rebuild it and check it against ``manifest_hash``.
    """

    id: str
    kind: str
    state: JobState
    manifest: dict[str, Any]
    manifest_hash: str
    submitted_by: str
    created_at: str
    updated_at: str
    state_times: dict[JobState, str]
    seconds: float | None
    pending_approvals: list[str]
    node_timeout: float
    failure: FailureView | None
    parties: list[JobPartyView]
    approvals: list[ApprovalView]
    result_ready: bool

    @property
    def ended(self) -> bool:
        """Whether the job has reached one of its final states."""
        return self.state in TERMINAL_STATES

    def member(self, party: str) -> JobPartyView | None:
        """``party``'s progress in this job, or None if it is not a party of it."""
        return next((p for p in self.parties if p.party == party), None)

    def approval_of(self, party: str) -> ApprovalView | None:
        """``party``'s decision on this job, or None if it has not decided."""
        return next((a for a in self.approvals if a.party == party), None)


class HeartbeatView(_View):
    """``POST /jobs/{id}/heartbeat``: the job's state, so a node learns when it ended."""

    state: JobState


class ReleasedResult(RootModel[dict[str, Any]]):
    """``GET /jobs/{id}/result``: the result as the job's kind released it (a JSON object).

    Header ``X-Privstats-Result-Salt`` carries the salt of the producing node's commitment.
    """


# --------------------------------------------------------------------------- relay


class EnvelopeAccepted(_View):
    """``POST /jobs/{id}/messages``: the sequence number of the envelope the hub keeps."""

    seq: int


ENVELOPE_BATCH_SCHEMA: dict[str, Any] = {
    "title": "EnvelopeBatch",
    "description": (
        "msgpack array of [sequence number, sealed envelope bytes] pairs, oldest first; "
        "empty if none arrived in time"
    ),
    "type": "array",
    "items": {
        "type": "array",
        "prefixItems": [
            {"type": "integer", "minimum": 1},
            {"type": "string", "format": "binary"},
        ],
        "minItems": 2,
        "maxItems": 2,
    },
}
"""The schema of ``GET /jobs/{id}/messages`` (``application/msgpack``, not JSON)."""


# --------------------------------------------------------------------------- audit


class AuditPage(RootModel[list[AuditEntry]]):
    """``GET /audit``: entries (:class:`~privstats.service.audit.AuditEntry`) oldest first.

    Header ``X-Privstats-Audit-View`` says whether the caller sees every entry (``full``)
    or only its own jobs' (``partial``)."""


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any, what: str) -> Model:
    """``data`` as ``model``; a ServiceError naming ``what`` if the hub sent something else."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'the answer'}: {error['msg']}"
            for error in exc.errors()[:3]
        )
        raise ServiceError(f"the hub sent a malformed {what}: {problems}") from None
