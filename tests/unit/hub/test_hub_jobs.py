"""Tests of a job's life at the hub: submission checks, approvals, rejection, completion and
who may see the result."""

from __future__ import annotations

from typing import Any

import pytest
from hub_harness import COVERAGE_JOB, Hub

from privstats.crypto.keys import verify
from privstats.node.agent import check_approved_manifest
from privstats.service.canonical import new_salt, result_commitment
from privstats.service.manifest import Manifest, approval_bytes
from privstats.service.signing import statement_bytes

# --------------------------------------------------------------------------- submission


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"kind": "regression"}, "unknown computation kind 'regression'"),
        ({"parties": {"register": "nso", "source": "ghost"}}, "party 'ghost' (role source)"),
        ({"datasets": {"register": "deaths", "source": "customers"}}, "dataset 'deaths'"),
        ({"datasets": {"register": "population"}}, "no dataset named for role 'source'"),
        (
            {"parameters": {"key": "person_id", "source_key": "customer_id", "by": ["income"]}},
            "no column 'income'",
        ),
        (
            {"parameters": {"key": "person_id", "by": ["region"]}},  # telco has no person_id
            "no column 'person_id'",
        ),
        ({"parameters": {"key": "person_id", "colour": "red"}}, "'colour'"),
        ({"parties": {"register": "nso"}}, "roles register, source"),
        ({"parties": {"register": "nso", "source": "nso"}}, "different party"),
    ],
    ids=[
        "unknown kind",
        "unknown party",
        "undeclared dataset",
        "no dataset for a role",
        "missing column",
        "missing key column",
        "unknown parameter",
        "missing role",
        "one party two roles",
    ],
)
def test_a_job_that_cannot_run_is_refused_naming_the_problem(
    shared_federation: Hub, changes: dict[str, Any], named: str
) -> None:
    hub = shared_federation
    before = hub.as_admin("GET", "/jobs").json()

    response = hub.submit(hub.tokens["analyst"], **changes)

    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]
    assert hub.as_admin("GET", "/jobs").json() == before


def test_an_undeclared_dataset_is_refused_listing_the_partys_datasets(
    shared_federation: Hub,
) -> None:
    response = shared_federation.submit(
        shared_federation.tokens["analyst"], datasets={"register": "deaths", "source": "customers"}
    )
    assert "its datasets: population" in response.json()["detail"]


def test_a_missing_column_is_refused_listing_the_datasets_columns(shared_federation: Hub) -> None:
    parameters = {"key": "person_id", "source_key": "customer_id", "by": ["income"]}
    response = shared_federation.submit(shared_federation.tokens["analyst"], parameters=parameters)
    assert (
        "of 'nso' has no column 'income'; its columns: age, person_id, region"
        in (response.json()["detail"])
    )


def test_a_party_invited_but_not_enrolled_cannot_be_named(federation: Hub) -> None:
    federation.invite("bank")
    response = federation.submit(
        federation.tokens["analyst"], parties={"register": "nso", "source": "bank"}
    )
    assert response.status_code == 422
    assert "'bank' (role source) is not enrolled" in response.json()["detail"]


def test_a_submitted_job_awaits_approval_with_its_manifest(federation: Hub) -> None:
    response = federation.submit(federation.tokens["analyst"])
    assert response.status_code == 201, response.text
    job = response.json()

    manifest = Manifest.model_validate(job["manifest"])
    assert job["state"] == "awaiting_approval"
    assert list(job["state_times"]) == ["proposed", "awaiting_approval"]
    assert job["submitted_by"] == "analyst"
    assert manifest.digest() == job["manifest_hash"]
    assert manifest.recipients == ("analyst",)
    assert manifest.parameters["by"] == ["region"]
    assert manifest.datasets["register"].columns == ("person_id", "region")
    assert manifest.datasets["source"].columns == ("customer_id",)
    assert manifest.disclosure == {"min_cell": 10}
    assert job["approvals"] == []


# --------------------------------------------------------------------------- approvals


def test_a_job_is_approved_when_every_party_has_approved(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()

    after_one = hub.decide("nso", job, reason="fine")
    after_both = hub.decide("telco", job)

    assert after_one.status_code == after_both.status_code == 200
    assert after_one.json()["state"] == "awaiting_approval"
    shown = after_both.json()
    assert shown["state"] == "approved"
    times = shown["state_times"]
    assert list(times) == ["proposed", "awaiting_approval", "approved"]
    assert times["proposed"] <= times["awaiting_approval"] <= times["approved"]
    assert {a["party"]: a["decision"] for a in shown["approvals"]} == {
        "nso": "approve",
        "telco": "approve",
    }
    for approval in shown["approvals"]:
        statement = approval_bytes(job["id"], job["manifest_hash"], "approve", approval["reason"])
        key = hub.keys[approval["party"]].public.sign
        assert verify(key, statement, bytes.fromhex(approval["signature"]))
        assert approval["manifest_hash"] == job["manifest_hash"]
    # what the hub shows is what each node approved
    for party, keys in hub.keys.items():
        assert check_approved_manifest(shown, party, keys) == Manifest.model_validate(
            job["manifest"]
        )


def test_an_approval_of_another_manifest_is_refused(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()

    response = hub.decide("nso", job, manifest_hash="0" * 64)

    assert response.status_code == 409
    assert "another manifest" in response.json()["detail"]
    assert hub.job(job["id"])["approvals"] == []


def test_an_approval_not_signed_by_the_node_is_refused(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()
    body = {
        "decision": "approve",
        "reason": "",
        "manifest_hash": job["manifest_hash"],
        "signature": hub.keys["telco"]
        .sign(approval_bytes(job["id"], job["manifest_hash"], "approve", ""))
        .hex(),
    }
    response = hub.as_node("nso", "POST", f"/jobs/{job['id']}/approval", body)
    assert response.status_code == 401
    assert "approval statement is not signed by 'nso'" in response.json()["detail"]


def test_a_party_decides_once(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()
    assert hub.decide("nso", job).status_code == 200
    again = hub.decide("nso", job, "reject", "changed my mind")
    assert again.status_code == 409
    assert hub.job(job["id"])["state"] == "awaiting_approval"


def test_a_node_outside_the_job_cannot_decide_or_see_it(federation: Hub) -> None:
    hub = federation
    hub.add_node("bank")
    job = hub.submit(hub.tokens["analyst"]).json()
    assert hub.decide("bank", job).status_code == 403
    assert hub.as_node("bank", "GET", f"/jobs/{job['id']}").status_code == 403
    assert hub.as_node("bank", "GET", "/jobs").json() == []
    assert [j["id"] for j in hub.as_node("nso", "GET", "/jobs?active=true").json()] == [job["id"]]


def test_an_unknown_job_is_not_found(shared_federation: Hub) -> None:
    assert shared_federation.as_admin("GET", "/jobs/nope").status_code == 404


# --------------------------------------------------------------------------- rejection


def test_a_rejection_ends_the_job_naming_the_party(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()

    response = hub.decide("nso", job, "reject", "domains too small")

    assert response.status_code == 200
    shown = hub.job(job["id"])
    assert shown["state"] == "rejected"
    assert "rejected" in shown["state_times"]
    assert shown["failure"]["party"] == "nso"
    assert shown["failure"]["step"] == "approval"
    assert "'nso'" in shown["failure"]["reason"]
    assert "domains too small" in shown["failure"]["reason"]


def test_after_a_rejection_the_other_party_can_no_longer_take_part(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()
    hub.decide("nso", job, "reject", "no")
    path = f"/jobs/{job['id']}"

    approve = hub.decide("telco", job)
    start = hub.as_node("telco", "POST", f"{path}/start", {})
    post = hub.as_node("telco", "POST", f"{path}/messages?to=nso&seq=1", content=b"x")
    fetch = hub.as_node("telco", "GET", f"{path}/messages?sender=nso&after=0&wait=0")

    assert approve.status_code == 409
    assert start.status_code == 409
    assert "rejected" in start.json()["detail"]
    assert post.status_code == fetch.status_code == 410
    assert "rejected by 'nso'" in post.json()["detail"]
    assert hub.job(job["id"])["state"] == "rejected"


def test_a_job_cancelled_by_its_analyst_ends_once(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.submit(hub.tokens["analyst"]).json()
    other = hub.add_token("canceller")
    path = f"/jobs/{job['id']}/cancel"

    assert hub.as_person(other, "POST", path).status_code == 403
    assert hub.as_person(hub.tokens["analyst"], "POST", path).json()["state"] == "cancelled"
    assert hub.as_admin("POST", path).status_code == 409


# --------------------------------------------------------------------------- running, result


def completion(
    hub: Hub, party: str, job: dict[str, Any], result: dict[str, Any] | None, salt: bytes
) -> dict[str, Any]:
    """The body of ``party``'s signed completion, committing to ``result`` with ``salt``."""
    role = Manifest.model_validate(job["manifest"]).role_of(party)
    commitment = result_commitment(salt, result) if result is not None else None
    payload = {"job": job["id"], "party": party, "role": role, "result_commitment": commitment}
    signature = hub.keys[party].sign(statement_bytes("completion", payload)).hex()
    return {
        "result": result,
        "result_commitment": commitment,
        "salt": salt.hex() if result is not None else None,
        "signature": signature,
    }


def complete(
    hub: Hub, party: str, job: dict[str, Any], result: dict[str, Any] | None
) -> dict[str, Any]:
    """``party`` signs its completion; the register releases ``result``."""
    body = completion(hub, party, job, result, new_salt())
    response = hub.as_node(party, "POST", f"/jobs/{job['id']}/complete", body)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


RESULT = {"coverage": 0.75, "domains": [{"region": "north", "coverage": 0.75}]}


def test_a_job_runs_and_releases_its_result_to_its_recipients_only(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.approved_job(hub.tokens["analyst"])
    other = hub.add_token("outsider")
    path = f"/jobs/{job['id']}"

    early = hub.as_person(hub.tokens["analyst"], "GET", f"{path}/result")
    started = hub.as_node("nso", "POST", f"{path}/start", {}).json()
    hub.as_node("telco", "POST", f"{path}/start", {})
    complete(hub, "telco", job, None)
    done = complete(hub, "nso", job, RESULT)

    assert early.status_code == 409
    assert started["state"] == "running"
    assert done["state"] == "succeeded"
    assert list(done["state_times"])[-2:] == ["running", "succeeded"]
    assert hub.as_person(hub.tokens["analyst"], "GET", f"{path}/result").json() == RESULT
    for refused in (
        hub.as_person(other, "GET", f"{path}/result"),
        hub.as_admin("GET", f"{path}/result"),
        hub.as_node("nso", "GET", f"{path}/result"),
    ):
        assert refused.status_code == 403
        assert "goes only to analyst" in refused.json()["detail"]


def test_a_party_completes_once(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.approved_job(hub.tokens["analyst"])
    hub.as_node("nso", "POST", f"/jobs/{job['id']}/start", {})
    complete(hub, "nso", job, RESULT)

    again = hub.as_node(
        "nso",
        "POST",
        f"/jobs/{job['id']}/complete",
        completion(hub, "nso", job, RESULT, new_salt()),
    )

    assert again.status_code == 409


def test_only_the_result_role_releases_a_result(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.approved_job(hub.tokens["analyst"])
    hub.as_node("telco", "POST", f"/jobs/{job['id']}/start", {})
    response = hub.as_node(
        "telco",
        "POST",
        f"/jobs/{job['id']}/complete",
        completion(hub, "telco", job, {"coverage": 1.0}, new_salt()),
    )
    assert response.status_code == 403
    assert "does not release results" in response.json()["detail"]


def test_a_node_failure_ends_the_job_with_its_reason(shared_federation: Hub) -> None:
    hub = shared_federation
    job = hub.approved_job(hub.tokens["analyst"])
    response = hub.as_node(
        "telco", "POST", f"/jobs/{job['id']}/fail", {"step": "load", "reason": "file missing"}
    )
    assert response.json()["state"] == "failed"
    assert response.json()["failure"] == {
        "party": "telco",
        "step": "load",
        "reason": "file missing",
    }


def test_the_job_list_of_an_analyst_holds_only_their_jobs(federation: Hub) -> None:
    hub = federation
    mine = hub.submit(hub.tokens["analyst"]).json()["id"]
    other = hub.add_token("other")
    theirs = hub.submit(other, **COVERAGE_JOB).json()["id"]
    assert [j["id"] for j in hub.as_person(other, "GET", "/jobs").json()] == [theirs]
    assert hub.as_person(other, "GET", f"/jobs/{mine}").status_code == 403
    assert {j["id"] for j in hub.as_admin("GET", "/jobs").json()} == {mine, theirs}
