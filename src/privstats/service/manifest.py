"""A job's manifest: everything a data owner approves, in one canonical, hashable form.

A node signs the manifest's hash when it approves; before it runs its role it recomputes
the hash from the manifest it is handed and checks its own signature against it, so a job
altered after approval (by the hub or anyone else) is refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from privstats.service.canonical import canonical_json, sha256_hex
from privstats.service.signing import statement_bytes

__all__ = ["DatasetUse", "Manifest", "approval_bytes", "approval_payload"]


class DatasetUse(BaseModel):
    """One role's input: which party, which of its datasets, which columns are read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    party: str
    dataset: str
    columns: tuple[str, ...]


class Manifest(BaseModel):
    """Kind, parameters, parties, datasets and columns, recipients, disclosure, code version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    parameters: dict[str, Any]
    parties: dict[str, str] = Field(description="role → party name")
    datasets: dict[str, DatasetUse] = Field(description="role → dataset used")
    recipients: tuple[str, ...]
    disclosure: dict[str, Any]
    code_version: str

    def canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def digest(self) -> str:
        """Hex SHA-256 of the canonical form: what approvals sign."""
        return sha256_hex(self.canonical())

    def role_of(self, party: str) -> str | None:
        """The role ``party`` plays in this job, or None."""
        for role, name in self.parties.items():
            if name == party:
                return role
        return None


def approval_bytes(
    job_id: str, manifest_digest: str, decision: Literal["approve", "reject"], reason: str
) -> bytes:
    """The bytes a node signs to approve or reject ``job_id`` with this manifest."""
    return statement_bytes("approval", approval_payload(job_id, manifest_digest, decision, reason))


def approval_payload(
    job_id: str, manifest_digest: str, decision: Literal["approve", "reject"], reason: str
) -> dict[str, Any]:
    """What an approval states; kept verbatim in the audit log."""
    return {"job": job_id, "manifest": manifest_digest, "decision": decision, "reason": reason}
