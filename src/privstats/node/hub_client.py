"""A node's signed link to the hub: registry calls, job life cycle, and its mailboxes.

Answers are read through the models of :mod:`privstats.service.models`; one the hub sends
in another shape is a :class:`ServiceError`, not a ``KeyError`` deep in the node.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from privstats.crypto.keys import NodeKeys, PublicKeys
from privstats.errors import ServiceError, TransportError
from privstats.service.canonical import new_salt, result_commitment
from privstats.service.http import HubHttp, node_signature
from privstats.service.manifest import approval_bytes
from privstats.service.models import (
    DatasetDeclared,
    EnrolmentView,
    HeartbeatView,
    JobView,
    PartyView,
    parse,
)
from privstats.service.signing import statement_bytes

__all__ = ["MAX_ENVELOPE_BYTES", "HubMailbox", "NodeHub", "enrol"]

MAX_ENVELOPE_BYTES = 64 * 1024 * 1024
"""The largest envelope a node accepts from the hub (the hub's own limit is far lower)."""
MAX_REASON_CHARS = 10_000


class NodeHub:
    """Everything a node asks of the hub, each request signed with the node's key."""

    def __init__(self, url: str, party: str, keys: NodeKeys, *, retry_seconds: float = 60.0):
        self.party = party
        self.keys = keys
        self.http = HubHttp(url, node_signature(party, keys), retry_seconds=retry_seconds)

    def declare_dataset(
        self, name: str, fmt: str, rows: int, columns: list[list[str]], key_columns: list[str]
    ) -> bool:
        """Declare (or re-declare) a dataset's schema; True if the hub recorded a change."""
        payload = {
            "party": self.party,
            "name": name,
            "format": fmt,
            "rows": rows,
            "columns": columns,
            "key_columns": key_columns,
        }
        signature = self.keys.sign(statement_bytes("dataset", payload)).hex()
        body = {k: v for k, v in payload.items() if k != "party"}
        answer = self.http.post("/datasets", {**body, "signature": signature})
        return parse(DatasetDeclared, answer, "dataset declaration").changed

    def active_jobs(self) -> list[Any]:
        """The hub's listing of this node's active jobs, as sent: the agent checks each job
        on its own (:meth:`NodeAgent.poll_once`), so one malformed job hides no other."""
        jobs = self.http.get("/jobs", active="true")
        if not isinstance(jobs, list):
            raise ServiceError(f"the hub sent a {type(jobs).__name__} where a job list belongs")
        return jobs

    def job(self, job_id: str) -> dict[str, Any]:
        """A job as the hub sends it (JSON object); :meth:`job_view` parses it."""
        job: dict[str, Any] = self.http.get(f"/jobs/{job_id}")
        return job

    def job_view(self, job_id: str) -> JobView:
        """A job as the hub shows it, parsed."""
        return parse(JobView, self.http.get(f"/jobs/{job_id}"), f"job {job_id}")

    def decide(self, job_id: str, manifest_digest: str, decision: str, reason: str) -> None:
        """Sign and send an approval (``approve``) or rejection (``reject``)."""
        if decision not in ("approve", "reject"):
            raise ValueError(decision)
        signature = self.keys.sign(
            approval_bytes(job_id, manifest_digest, decision, reason)  # type: ignore[arg-type]
        )
        self.http.post(
            f"/jobs/{job_id}/approval",
            {
                "decision": decision,
                "reason": reason,
                "manifest_hash": manifest_digest,
                "signature": signature.hex(),
            },
        )

    def start(self, job_id: str) -> None:
        self.http.post(f"/jobs/{job_id}/start")

    def heartbeat(self, job_id: str, step: str | None) -> str:
        answer = self.http.post(f"/jobs/{job_id}/heartbeat", {"step": step})
        return parse(HeartbeatView, answer, "heartbeat answer").state

    def complete(
        self, job_id: str, role: str, result: dict[str, Any] | None, release: bool
    ) -> None:
        """Sign the completion, committing to the result with a fresh salt.

        The signed statement and the audit log hold only ``sha256(salt ‖ result)``; a
        released result travels with its salt, which the hub hands to the job's
        recipients only, so they alone can check the result against the commitment.
        """
        salt = new_salt()
        commitment = result_commitment(salt, result) if result is not None else None
        payload = {
            "job": job_id,
            "party": self.party,
            "role": role,
            "result_commitment": commitment,
        }
        signature = self.keys.sign(statement_bytes("completion", payload)).hex()
        released = release and result is not None
        self.http.post(
            f"/jobs/{job_id}/complete",
            {
                "result": result if released else None,
                "result_commitment": commitment,
                "salt": salt.hex() if released else None,
                "signature": signature,
            },
        )

    def fail(self, job_id: str, step: str | None, reason: str) -> None:
        if len(reason) > MAX_REASON_CHARS:  # the hub keeps reasons of bounded length
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        self.http.post(f"/jobs/{job_id}/fail", {"step": step, "reason": reason})

    def public_keys(self) -> dict[str, PublicKeys]:
        """Enrolled parties' public keys, by name."""
        keys = {}
        for listed in self.http.get("/parties"):
            party = parse(PartyView, listed, "party listing")
            if party.sign_key and party.box_key:
                keys[party.name] = PublicKeys.from_hex(party.sign_key, party.box_key)
        return keys

    def mailbox(self, job_id: str) -> HubMailbox:
        return HubMailbox(self.http, job_id)

    def close(self) -> None:
        self.http.close()


class HubMailbox:
    """The hub's mailboxes of one job, as a :class:`privstats.transport.relay.Mailbox`."""

    def __init__(self, http: HubHttp, job_id: str) -> None:
        self._http = http
        self.job_id = job_id

    def post(self, recipient: str, seq: int, envelope: bytes) -> None:
        try:
            self._http.request(
                "POST",
                f"/jobs/{self.job_id}/messages",
                content=envelope,
                params={"to": recipient, "seq": seq},
            )
        except ServiceError as exc:
            raise TransportError(str(exc), peer=recipient) from exc

    def fetch(self, sender: str, after: int, wait: float) -> list[tuple[int, bytes]]:
        """Envelopes from ``sender`` after ``after``; [] if none came within ``wait`` s.

        A hub that answers 429 (too many of this party's fetches waiting) is asked again
        after a short pause, by the relay's next fetch.
        """
        try:
            response = self._http.request(
                "GET",
                f"/jobs/{self.job_id}/messages",
                params={"sender": sender, "after": after, "wait": f"{wait:.3f}"},
                timeout=wait + 30.0,
            )
        except ServiceError as exc:
            if exc.status == 429:
                time.sleep(min(wait, 1.0))
                return []
            raise TransportError(str(exc), peer=sender) from exc
        return parse_batch(response.content, sender)


def parse_batch(content: bytes, sender: str) -> list[tuple[int, bytes]]:
    """The hub's msgpack ``[[seq, envelope], …]``, checked: anything else is refused."""
    problem = f"the hub sent a malformed batch of envelopes from {sender!r}"
    try:
        batch = msgpack.unpackb(content, max_bin_len=MAX_ENVELOPE_BYTES)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise TransportError(f"{problem}: {exc}", peer=sender) from exc
    if not isinstance(batch, list):
        raise TransportError(f"{problem}: not a list", peer=sender)
    envelopes: list[tuple[int, bytes]] = []
    for item in batch:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or type(item[0]) is not int
            or not 1 <= item[0] < 2**64
            or not isinstance(item[1], bytes)
        ):
            raise TransportError(
                f"{problem}: expected [sequence number, envelope bytes], got {type(item).__name__}",
                peer=sender,
            )
        envelopes.append((item[0], item[1]))
    return envelopes


def enrol(url: str, name: str, enrolment_token: str, keys: NodeKeys) -> str:
    """Enrol ``keys`` as party ``name`` with a one-time token; returns the enrolment time.

    The node proves it holds the signing key by signing the statement it enrols.
    """
    public = keys.public.as_hex()
    payload = {"name": name, **public}
    signature = keys.sign(statement_bytes("enrol", payload)).hex()
    http = HubHttp(url, lambda _m, _p, _b: {}, retry_seconds=10.0)
    try:
        answer = http.post(
            "/enrol", {**payload, "enrolment_token": enrolment_token, "signature": signature}
        )
    finally:
        http.close()
    return parse(EnrolmentView, answer, "enrolment answer").enrolled_at
