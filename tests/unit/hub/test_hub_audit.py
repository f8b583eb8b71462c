"""Tests of the hub's audit log: a history made through the API verifies, with every node
signature, against the enrolled keys; a row changed in the database breaks it there."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hub_harness import Hub
from test_hub_jobs import complete, completion

from privstats.service.audit import AuditEntry, AuditVerification, entry_hash, verify_chain
from privstats.service.canonical import canonical_json, new_salt, result_commitment, sha256_hex


def history(hub: Hub) -> None:
    """Enrolments, datasets, one approved job, one rejected job, one cancelled job."""
    hub.approved_job(hub.tokens["analyst"])
    rejected = hub.submit(hub.tokens["analyst"]).json()
    hub.decide("telco", rejected, "reject", "not this month")
    cancelled = hub.submit(hub.tokens["analyst"]).json()
    hub.as_admin("POST", f"/jobs/{cancelled['id']}/cancel")


def audit(hub: Hub) -> list[AuditEntry]:
    return [AuditEntry.from_dict(entry) for entry in hub.as_admin("GET", "/audit").json()]


def enrolled(hub: Hub) -> dict[str, bytes]:
    return {
        party["name"]: bytes.fromhex(party["sign_key"])
        for party in hub.as_admin("GET", "/parties").json()
        if party["sign_key"]
    }


def check(hub: Hub) -> AuditVerification:
    return verify_chain(audit(hub), enrolled(hub))


def seq_of(hub: Hub, action: str) -> int:
    return next(entry.seq for entry in audit(hub) if entry.action == action)


def test_the_history_made_through_the_api_verifies(federation: Hub) -> None:
    history(federation)

    entries = audit(federation)
    result = verify_chain(entries, enrolled(federation))

    assert result.ok, result
    assert result.entries == len(entries)
    actions = [entry.action for entry in entries]
    assert actions[0] == "token.created"
    for action in (
        "party.added",
        "party.enrolled",
        "dataset.registered",
        "job.submitted",
        "job.awaiting_approval",
        "node.approved",
        "job.approved",
        "node.rejected",
        "job.rejected",
        "job.cancelled",
    ):
        assert action in actions, action
    signed = [e for e in entries if e.signature is not None]
    assert result.signatures == len(signed) == 2 + 2 + 2 + 1  # enrol, dataset, approve, reject


def test_the_audit_log_pages_by_sequence_number(federation: Hub) -> None:
    entries = audit(federation)
    page = federation.as_admin("GET", "/audit?after=2&limit=3").json()
    assert [entry["seq"] for entry in page] == [3, 4, 5]
    assert page == [entry.as_dict() for entry in entries[2:5]]


def test_the_audit_log_holds_no_secret(federation: Hub) -> None:
    text = json.dumps([entry.as_dict() for entry in audit(federation)])
    assert federation.admin_token not in text
    assert federation.tokens["analyst"] not in text


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("node.approved", {"forged": True}),
        ("party.enrolled", {"name": "nso", "sign_key": "00" * 32, "box_key": "00" * 32}),
        ("job.submitted", {}),
        ("job.rejected", {"reason": "none"}),
    ],
)
def test_a_row_changed_in_the_database_breaks_the_chain_there(
    federation: Hub, action: str, payload: dict[str, Any]
) -> None:
    history(federation)
    assert check(federation).ok
    seq = seq_of(federation, action)

    with sqlite3.connect(federation.db_path) as db:
        db.execute("UPDATE audit SET payload = ? WHERE seq = ?", (json.dumps(payload), seq))

    result = check(federation)
    assert result.broken_seq == seq, result
    assert result.entries == seq - 1


def test_a_deleted_row_breaks_the_chain_after_it(federation: Hub) -> None:
    history(federation)
    seq = seq_of(federation, "job.approved")
    with sqlite3.connect(federation.db_path) as db:
        db.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    result = check(federation)
    assert result.broken_seq == seq + 1
    assert result.reason is not None
    assert f"is where entry {seq} should be" in result.reason


def test_a_key_swapped_in_the_registry_breaks_the_chain_at_the_enrolment(federation: Hub) -> None:
    history(federation)
    enrolment = next(
        e.seq for e in audit(federation) if e.action == "party.enrolled" and e.signer == "telco"
    )
    with sqlite3.connect(federation.db_path) as db:
        db.execute("UPDATE parties SET sign_key = ? WHERE name = 'telco'", ("ab" * 32,))

    result = check(federation)

    assert result.broken_seq == enrolment
    assert result.reason == "party 'telco' is enrolled at the hub with another key"


# --------------------------------------------------------------------------- manifests


def rehash_from(db_path: Path, first: int) -> None:
    """Recompute every audit row's hash from ``first`` on, as someone rewriting the log would."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT seq, at, actor, action, job_id, payload, signer, signature FROM audit "
            "WHERE seq >= ? ORDER BY seq",
            (first,),
        ).fetchall()
        (prev,) = db.execute("SELECT hash FROM audit WHERE seq = ?", (first - 1,)).fetchone()
        for seq, at, actor, action, job_id, payload, signer, signature in rows:
            digest = entry_hash(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                job_id=job_id,
                payload=json.loads(payload),
                signer=signer,
                signature=signature,
                prev_hash=prev,
            )
            db.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq)
            )
            prev = digest


@pytest.mark.parametrize("rehash_manifest", [False, True])
def test_a_rewritten_recipients_list_with_the_chain_recomputed_is_reported(
    federation: Hub, rehash_manifest: bool
) -> None:
    hub = federation
    job = hub.approved_job(hub.tokens["analyst"])
    submitted = next(e for e in audit(hub) if e.action == "job.submitted" and e.job_id == job["id"])
    payload = dict(submitted.payload)
    payload["manifest"] = {**payload["manifest"], "recipients": ["mallory"]}
    if rehash_manifest:
        payload["manifest_hash"] = sha256_hex(canonical_json(payload["manifest"]))
    with sqlite3.connect(hub.db_path) as db:
        db.execute(
            "UPDATE audit SET payload = ? WHERE seq = ?",
            (canonical_json(payload).decode("utf-8"), submitted.seq),
        )
    rehash_from(hub.db_path, submitted.seq)

    result = check(hub)

    assert not result.ok
    assert result.reason is not None
    if rehash_manifest:  # caught where the first node signed the original manifest's hash
        first_approval = next(
            e.seq for e in audit(hub) if e.action == "node.approved" and e.job_id == job["id"]
        )
        assert result.broken_seq == first_approval
        assert "the job's manifest was rewritten" in result.reason
    else:
        assert result.broken_seq == submitted.seq
        assert "does not hash to its manifest_hash" in result.reason


# --------------------------------------------------------------------------- who sees what


def finished_job(hub: Hub, token: str, result: dict[str, Any]) -> dict[str, Any]:
    """A coverage job of ``token``'s that ran and released ``result``."""
    job = hub.approved_job(token)
    for party in ("nso", "telco"):
        hub.as_node(party, "POST", f"/jobs/{job['id']}/start", {})
    complete(hub, "telco", job, None)
    complete(hub, "nso", job, result)
    return job


def test_an_analyst_sees_no_manifest_or_result_commitment_of_another_analysts_job(
    federation: Hub,
) -> None:
    hub = federation
    alice, bob = hub.add_token("alice"), hub.add_token("bob")
    auditor = hub.add_token("carol", role="auditor")
    alices = finished_job(hub, alice, {"coverage": 0.25})
    bobs = finished_job(hub, bob, {"coverage": 0.75})
    hub.add_node("bank")

    view = hub.as_person(alice, "GET", "/audit")
    shown = view.json()
    text = json.dumps(shown)
    full = hub.as_admin("GET", "/audit")
    everything = full.json()
    bob_commitments = [
        e["payload"]["result_commitment"]
        for e in everything
        if e["job_id"] == bobs["id"] and e["payload"].get("result_commitment")
    ]
    bank_view = hub.as_node("bank", "GET", "/audit").json()

    assert view.headers["X-Privstats-Audit-View"] == "partial"
    assert bobs["id"] not in text
    assert bobs["manifest_hash"] not in text
    assert bob_commitments and not any(c in text for c in bob_commitments)
    assert {e["job_id"] for e in shown} == {None, alices["id"]}
    assert "token.created" not in {e["action"] for e in shown}
    assert {e["action"] for e in shown if e["job_id"] is None} <= {
        "party.added",
        "party.enrolled",
        "dataset.registered",
    }
    # auditors and admins see everything; a party only the jobs it takes part in
    assert full.headers["X-Privstats-Audit-View"] == "full"
    assert hub.as_person(auditor, "GET", "/audit").json() == everything
    assert {e["job_id"] for e in bank_view} == {None}
    # each view verifies: the full one completely, a partial one entry by entry
    assert verify_chain([AuditEntry.from_dict(e) for e in everything], enrolled(hub)).ok
    partial = verify_chain([AuditEntry.from_dict(e) for e in shown], enrolled(hub), partial=True)
    assert partial.ok and partial.partial, partial


def test_the_audit_log_commits_to_results_with_a_salt_only_recipients_receive(
    federation: Hub,
) -> None:
    hub = federation
    result = {"coverage": 0.5, "domains": [{"region": "north", "coverage": 0.5}]}
    job = finished_job(hub, hub.tokens["analyst"], result)
    entries = [e for e in audit(hub) if e.job_id == job["id"]]
    released = next(e for e in entries if e.action == "result.released")
    completed = next(e for e in entries if e.action == "node.completed" and e.signer == "nso")
    answer = hub.as_person(hub.tokens["analyst"], "GET", f"/jobs/{job['id']}/result")
    salt = bytes.fromhex(answer.headers["X-Privstats-Result-Salt"])

    # a guess of the result cannot be tested against the log without the salt
    assert sha256_hex(canonical_json(result)) not in json.dumps([e.as_dict() for e in entries])
    assert "result_sha256" not in json.dumps([e.as_dict() for e in entries])
    # the recipient can: the salted hash is what the producing node signed
    commitment = result_commitment(salt, answer.json())
    assert released.payload["result_commitment"] == commitment
    assert completed.payload["result_commitment"] == commitment
    assert check(hub).ok


def test_a_completion_whose_result_does_not_match_its_commitment_is_refused(
    shared_federation: Hub,
) -> None:
    hub = shared_federation
    job = hub.approved_job(hub.tokens["analyst"])
    hub.as_node("nso", "POST", f"/jobs/{job['id']}/start", {})
    body = completion(hub, "nso", job, {"coverage": 0.5}, new_salt())

    other_salt = hub.as_node(
        "nso", "POST", f"/jobs/{job['id']}/complete", {**body, "salt": new_salt().hex()}
    )
    no_salt = hub.as_node("nso", "POST", f"/jobs/{job['id']}/complete", {**body, "salt": None})

    for response in (other_salt, no_salt):
        assert response.status_code == 422, response.text
        assert "does not match its commitment" in response.json()["detail"]


def test_an_auditor_reads_every_job_and_the_whole_log_but_submits_nothing(
    federation: Hub,
) -> None:
    hub = federation
    auditor = hub.add_token("carol", role="auditor")
    job = hub.submit(hub.tokens["analyst"]).json()

    listed = hub.as_person(auditor, "GET", "/jobs").json()
    shown = hub.as_person(auditor, "GET", f"/jobs/{job['id']}")
    submitted = hub.submit(auditor)
    cancelled = hub.as_person(auditor, "POST", f"/jobs/{job['id']}/cancel")
    invited = hub.as_person(auditor, "POST", "/parties", {"name": "bank"})

    assert [j["id"] for j in listed] == [job["id"]]
    assert shown.status_code == 200
    assert [r.status_code for r in (submitted, cancelled, invited)] == [403, 403, 403]
    assert hub.as_person(auditor, "GET", "/audit").headers["X-Privstats-Audit-View"] == "full"
