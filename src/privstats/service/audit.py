"""The audit log's hash chain and its verification, independent of any store.

Each entry's hash covers its own fields and the previous entry's hash, so changing,
removing or inserting one entry breaks every hash after it. Entries a node makes
(enrolment, dataset registration, approval or rejection, completion) also carry the node's
Ed25519 signature of a statement rebuilt from the entry's payload; verification checks it
against the key the party enrolled with — the enrolment entry itself, and, when given, the
hub's current list of enrolled keys.

Verification also checks each job's recorded manifest: a ``job.submitted`` entry's manifest
must hash to its ``manifest_hash``, and every approval or rejection a node signed must name
that same hash — so a manifest rewritten in the log (say, its ``recipients``), even with
every entry's hash recomputed, no longer matches what the nodes signed.

The hub shows admins and auditors the whole log (a *full* view). Analysts and nodes see
only the registry's entries and those of their own jobs (a *partial* view): there each
entry's own hash, every link between consecutive entries and every signature are checked,
but an entry removed from the view cannot be told from one hidden by the hub. Only a full
view proves the chain complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from privstats.crypto.keys import verify
from privstats.service.canonical import canonical_json, sha256_hex
from privstats.service.signing import statement_bytes

__all__ = [
    "GENESIS",
    "HEADER_AUDIT_VIEW",
    "HEADER_RESULT_SALT",
    "SIGNED_ACTIONS",
    "AuditEntry",
    "AuditVerification",
    "entry_hash",
    "verify_chain",
]

GENESIS = "0" * 64
HEADER_AUDIT_VIEW = "X-Privstats-Audit-View"
"""Response header of ``GET /audit``: ``full`` or ``partial`` (the caller's own jobs)."""
HEADER_RESULT_SALT = "X-Privstats-Result-Salt"
"""Response header of ``GET /jobs/{id}/result``: the salt of the result's commitment."""
SIGNED_ACTIONS: dict[str, str] = {
    "party.enrolled": "enrol",
    "dataset.registered": "dataset",
    "node.approved": "approval",
    "node.rejected": "approval",
    "node.completed": "completion",
}
"""Audit actions that a node signs, with the statement kind their signature covers."""


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log, as stored and as served by the hub."""

    seq: int
    at: str
    actor: str
    action: str
    job_id: str | None
    payload: dict[str, Any]
    signer: str | None
    signature: str | None
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "job_id": self.job_id,
            "payload": self.payload,
            "signer": self.signer,
            "signature": self.signature,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


def entry_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    action: str,
    job_id: str | None,
    payload: dict[str, Any],
    signer: str | None,
    signature: str | None,
    prev_hash: str,
) -> str:
    """The hash of one entry, chained to ``prev_hash``."""
    return sha256_hex(
        canonical_json(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "job_id": job_id,
                "payload": payload,
                "signer": signer,
                "signature": signature,
                "prev_hash": prev_hash,
            }
        )
    )


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking a chain: how many entries, and the first broken one."""

    entries: int
    signatures: int
    broken_seq: int | None = None
    reason: str | None = None
    partial: bool = False

    @property
    def ok(self) -> bool:
        return self.broken_seq is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "verified": self.ok,
            "entries": self.entries,
            "signatures": self.signatures,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
            "view": "partial" if self.partial else "full",
        }


def verify_chain(
    entries: Iterable[AuditEntry],
    enrolled: Mapping[str, bytes] | None = None,
    *,
    partial: bool = False,
) -> AuditVerification:
    """Recompute the chain and check every node signature; stop at the first broken entry.

    ``enrolled`` maps party names to the signing keys the hub lists now; a party whose
    enrolment entry names another key is reported as broken at that entry. With
    ``partial`` (a view the hub filtered for its caller), entries may skip sequence
    numbers; links are checked between consecutive entries only.
    """
    prev = GENESIS
    last_seq = 0
    keys: dict[str, bytes] = {}
    manifests: dict[str, str] = {}
    count = signatures = 0
    for entry in entries:
        if partial and entry.seq > last_seq + 1:  # entries hidden from this view lie between
            problem = _hash_problem(entry)
        else:
            problem = _entry_problem(entry, last_seq + 1, prev)
        kind = SIGNED_ACTIONS.get(entry.action)
        if problem is None and kind is not None:
            problem = _check_signature(entry, kind, keys, enrolled)
        if problem is None:
            problem = _manifest_problem(entry, manifests, partial)
        if problem is not None:
            return AuditVerification(count, signatures, entry.seq, problem, partial)
        count += 1
        signatures += kind is not None
        prev = entry.hash
        last_seq = entry.seq
    return AuditVerification(count, signatures, partial=partial)


def _entry_problem(entry: AuditEntry, expected_seq: int, prev: str) -> str | None:
    if entry.seq != expected_seq:
        return f"entry {entry.seq} is where entry {expected_seq} should be"
    if entry.prev_hash != prev:
        return "its previous-hash does not match the entry before it"
    return _hash_problem(entry)


def _hash_problem(entry: AuditEntry) -> str | None:
    recomputed = entry_hash(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        job_id=entry.job_id,
        payload=entry.payload,
        signer=entry.signer,
        signature=entry.signature,
        prev_hash=entry.prev_hash,
    )
    if recomputed != entry.hash:
        return "its contents do not match its hash (the entry was altered)"
    return None


def _manifest_problem(entry: AuditEntry, manifests: dict[str, str], partial: bool) -> str | None:
    """A submitted manifest must hash to its recorded hash, and approvals must sign that hash."""
    if entry.action == "job.submitted":
        manifest, digest = entry.payload.get("manifest"), entry.payload.get("manifest_hash")
        if not isinstance(manifest, dict) or not isinstance(digest, str):
            return f"job {entry.job_id}'s submission records no manifest and manifest hash"
        if sha256_hex(canonical_json(manifest)) != digest:
            return (
                f"job {entry.job_id}'s recorded manifest does not hash to its manifest_hash "
                "(the manifest was rewritten after submission)"
            )
        if entry.job_id is None or entry.payload.get("job") != entry.job_id:
            return "the submission names another job than its entry"
        manifests[entry.job_id] = digest
    elif entry.action in ("node.approved", "node.rejected"):
        job = entry.payload.get("job")
        if job != entry.job_id:
            return "the decision names another job than its entry"
        recorded = manifests.get(str(job))
        if recorded is None:
            return None if partial else f"a decision on job {job}, which was never submitted"
        if entry.payload.get("manifest") != recorded:
            return (
                f"{entry.signer!r} signed job {job}'s manifest hash "
                f"{str(entry.payload.get('manifest'))[:12]}…, but the log records the manifest "
                f"{recorded[:12]}… (the job's manifest was rewritten)"
            )
    return None


def _check_signature(
    entry: AuditEntry, kind: str, keys: dict[str, bytes], enrolled: Mapping[str, bytes] | None
) -> str | None:
    if not entry.signer or not entry.signature:
        return f"a {entry.action!r} entry must carry its node's signature"
    try:
        signature = bytes.fromhex(entry.signature)
    except ValueError:
        return "its signature is not hexadecimal"
    if entry.action == "party.enrolled":
        try:
            new_key = bytes.fromhex(str(entry.payload.get("sign_key", "")))
        except ValueError:
            return "its enrolled signing key is not hexadecimal"
        if entry.payload.get("name") != entry.signer:
            return "the enrolment names another party than its signer"
        if enrolled is not None and enrolled.get(entry.signer) != new_key:
            return f"party {entry.signer!r} is enrolled at the hub with another key"
        keys[entry.signer] = new_key
    key = keys.get(entry.signer)
    if key is None:
        return f"party {entry.signer!r} signed before it was enrolled"
    if not verify(key, statement_bytes(kind, entry.payload), signature):
        return f"the signature of {entry.signer!r} does not verify"
    return None
