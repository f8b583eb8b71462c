"""Tests of the hub's audit log: a history made through the API verifies, with every node
signature, against the enrolled keys; a row changed in the database breaks it there."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hub_harness import Hub

from privstats.service.audit import AuditEntry, AuditVerification, verify_chain


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
