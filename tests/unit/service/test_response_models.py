"""The hub's answers as typed records: parsing, helpers, and refusals of a wrong shape."""

from __future__ import annotations

from typing import Any

import pytest

from privstats.errors import ServiceError
from privstats.service.models import (
    ACTIVE_STATES,
    JOB_STATES,
    TERMINAL_STATES,
    AuditPage,
    JobView,
    PartyView,
    parse,
)


def job_answer(**changes: Any) -> dict[str, Any]:
    """A job as the hub sends it."""
    return {
        "id": "0123456789abcdef",
        "kind": "coverage",
        "state": "running",
        "manifest": {"kind": "coverage", "recipients": ["analyst"]},
        "manifest_hash": "ab" * 32,
        "submitted_by": "analyst",
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:00:01.000000Z",
        "state_times": {"proposed": "2026-01-01T00:00:00.000000Z"},
        "seconds": None,
        "pending_approvals": [],
        "node_timeout": 60.0,
        "failure": None,
        "parties": [
            {
                "party": "nso",
                "role": "register",
                "step": "load",
                "started_at": "2026-01-01T00:00:01.000000Z",
                "completed_at": None,
            }
        ],
        "approvals": [
            {
                "party": "nso",
                "decision": "approve",
                "reason": "",
                "manifest_hash": "ab" * 32,
                "signature": "cd" * 64,
                "at": "2026-01-01T00:00:00.500000Z",
            }
        ],
        "result_ready": False,
        **changes,
    }


def test_a_job_answer_parses_and_dumps_back_to_the_same_json() -> None:
    answer = job_answer()

    view = JobView.model_validate(answer)

    assert view.model_dump(mode="json") == answer
    assert list(view.model_dump(mode="json")) == list(answer)


def test_a_job_view_finds_a_party_and_its_decision() -> None:
    view = JobView.model_validate(job_answer())

    member = view.member("nso")
    approval = view.approval_of("nso")
    assert member is not None and member.role == "register"
    assert approval is not None and approval.decision == "approve"
    assert view.member("telco") is None and view.approval_of("telco") is None
    assert not view.ended
    assert JobView.model_validate(job_answer(state="cancelled")).ended


def test_states_are_either_active_or_terminal() -> None:
    assert set(JOB_STATES) == ACTIVE_STATES | TERMINAL_STATES
    assert not ACTIVE_STATES & TERMINAL_STATES
    assert JOB_STATES[0] == "proposed"


def test_fields_a_newer_hub_adds_are_ignored() -> None:
    view = JobView.model_validate(job_answer(priority="high"))

    assert "priority" not in view.model_dump()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"state": "paused"}, "state"),
        ({"parties": [{"party": "nso"}]}, "parties.0.role"),
        ({"approvals": [{**job_answer()["approvals"][0], "decision": "maybe"}]}, "decision"),
    ],
)
def test_a_malformed_answer_is_a_service_error_naming_the_field(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ServiceError, match=rf"malformed job 7: .*{named}"):
        parse(JobView, job_answer(**changes), "job 7")


def test_an_answer_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ServiceError, match="malformed party listing: the answer"):
        parse(PartyView, ["nso"], "party listing")


def test_an_audit_page_is_a_list_of_entries() -> None:
    entry = {
        "seq": 1,
        "at": "2026-01-01T00:00:00.000000Z",
        "actor": "hub",
        "action": "token.created",
        "job_id": None,
        "payload": {"name": "admin", "role": "admin"},
        "signer": None,
        "signature": None,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }

    page = AuditPage.model_validate([entry])

    assert page.model_dump(mode="json") == [entry]
    assert page.root[0].payload == {"name": "admin", "role": "admin"}
