"""The hub's JSON answers keep their field names and order (nodes, clients and scripts read
them), now that each is made from a model of ``privstats.service.models``."""

from __future__ import annotations

from hub_harness import Hub

JOB_FIELDS = [
    "id",
    "kind",
    "state",
    "manifest",
    "manifest_hash",
    "submitted_by",
    "created_at",
    "updated_at",
    "state_times",
    "seconds",
    "pending_approvals",
    "node_timeout",
    "failure",
    "parties",
    "approvals",
    "result_ready",
]


def test_a_job_answer_has_the_fields_it_always_had(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.approved_job(hub.tokens["analyst"])

    assert list(job) == JOB_FIELDS
    assert list(job["parties"][0]) == ["party", "role", "step", "started_at", "completed_at"]
    assert list(job["approvals"][0]) == [
        "party",
        "decision",
        "reason",
        "manifest_hash",
        "signature",
        "at",
    ]
    assert job["failure"] is None and job["seconds"] is None

    cancelled = hub.as_person(hub.tokens["analyst"], "POST", f"/jobs/{job['id']}/cancel").json()
    assert list(cancelled) == JOB_FIELDS
    assert cancelled["failure"] == {
        "party": None,
        "step": None,
        "reason": "cancelled by 'analyst'",
    }


def test_registry_answers_have_the_fields_they_always_had(shared_federation: Hub) -> None:
    hub = shared_federation

    health = hub.client.get("/api/v1/health").json()
    parties = hub.as_admin("GET", "/parties").json()
    datasets = hub.as_admin("GET", "/datasets").json()
    audit = hub.as_admin("GET", "/audit?limit=1").json()

    assert list(health) == ["status", "version"] and health["status"] == "ok"
    assert list(parties[0]) == [
        "name",
        "description",
        "sign_key",
        "box_key",
        "enrolled_at",
    ]
    assert list(datasets[0]) == [
        "party",
        "name",
        "format",
        "rows",
        "columns",
        "key_columns",
        "registered_at",
    ]
    assert datasets[0]["columns"][0] == ["person_id", "string"]
    assert list(audit[0]) == [
        "seq",
        "at",
        "actor",
        "action",
        "job_id",
        "payload",
        "signer",
        "signature",
        "prev_hash",
        "hash",
    ]
