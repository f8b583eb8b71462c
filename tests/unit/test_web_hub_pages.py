"""The hub's pages in-process (the app over a fresh store): sign-in, sessions and CSRF,
who may see which job, the submit form, the job and audit pages, and that no page or route
lets a person approve for a node."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "hub"))

from hub_harness import API, Hub, TestClient

from privstats.hub.app import create_app
from privstats.hub.server import ADMIN_TOKEN_FILE, bootstrap_admin
from privstats.hub.store import Store
from privstats.jobs.kinds import KINDS
from privstats.service.canonical import new_salt, result_commitment
from privstats.service.manifest import Manifest
from privstats.service.signing import statement_bytes

COVERAGE_RESULT: dict[str, Any] = {
    "computation": "coverage",
    "register_size": 1000,
    "source_size": 800,
    "matched": 700,
    "coverage": {
        "estimate": 0.7,
        "ci_low": 0.67,
        "ci_high": 0.73,
        "confidence": 0.95,
        "method": "wilson",
    },
    "population_estimate": {"estimate": 1142.0, "ci_low": 1100.0, "ci_high": 1190.0},
    "groups": [
        {
            "by": {"region": "north"},
            "register_size": 600,
            "matched": 450,
            "estimate": 0.75,
            "ci_low": 0.71,
            "ci_high": 0.78,
            "suppressed": False,
        },
        {
            "by": {"region": "<script>alert(1)</script>"},
            "register_size": 396,
            "matched": 249,
            "estimate": 0.63,
            "ci_low": 0.58,
            "ci_high": 0.67,
            "suppressed": False,
        },
        {
            "by": {"region": "islands"},
            "register_size": None,
            "matched": None,
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "suppressed": True,
            "status": "primary",
            "reason": "fewer than 10 persons",
        },
    ],
}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    store = Store.sqlite(tmp_path / "hub.db")
    bootstrap_admin(store, tmp_path)
    token = (tmp_path / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
    with TestClient(create_app(store)) as client:
        hub = Hub(client=client, store=store, db_path=tmp_path / "hub.db", admin_token=token)
        hub.federate()
        hub.add_token("rival")
        hub.add_token("auditor", role="auditor")
        yield hub
    store.close()


def browser(hub: Hub) -> TestClient:
    """A second client (own cookie jar) on the same app."""
    client = TestClient(hub.client.app, follow_redirects=False)
    return client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in with ``token``; the CSRF token of the signed-in session."""
    form = client.get("/signin")
    response = client.post("/signin", data={"token": token, "csrf_token": csrf_of(form.text)})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def completion(hub: Hub, party: str, job: dict[str, Any], result: dict[str, Any] | None) -> None:
    """``party`` signs its completion (the register releases ``result``)."""
    salt = new_salt()
    role = Manifest.model_validate(job["manifest"]).role_of(party)
    commitment = result_commitment(salt, result) if result is not None else None
    payload = {"job": job["id"], "party": party, "role": role, "result_commitment": commitment}
    body = {
        "result": result,
        "result_commitment": commitment,
        "salt": salt.hex() if result is not None else None,
        "signature": hub.keys[party].sign(statement_bytes("completion", payload)).hex(),
    }
    response = hub.as_node(party, "POST", f"/jobs/{job['id']}/complete", body)
    assert response.status_code == 200, response.text


def finished_job(hub: Hub, result: dict[str, Any] = COVERAGE_RESULT) -> dict[str, Any]:
    """An analyst's coverage job, approved, run and released with ``result``."""
    job = hub.approved_job(hub.tokens["analyst"])
    for party in ("nso", "telco"):
        hub.as_node(party, "POST", f"/jobs/{job['id']}/start", {})
    completion(hub, "telco", job, None)
    completion(hub, "nso", job, result)
    return hub.job(job["id"])


class Controls(HTMLParser):
    """Every form control of a page, and the ids that labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.controls.append(attributes)
        if tag == "label" and attributes.get("for"):
            self.labelled.add(str(attributes["for"]))


def unlabelled(html: str) -> list[dict[str, str | None]]:
    parser = Controls()
    parser.feed(html)
    return [c for c in parser.controls if c.get("id") not in parser.labelled]


# --------------------------------------------------------------------------- sign-in


def test_sign_in_starts_a_session_with_a_strict_httponly_cookie(hub: Hub) -> None:
    client = browser(hub)

    before = client.get("/")
    polled = client.get("/jobs/x/state", headers={"HX-Request": "true"})
    form = client.get("/signin")
    signed = client.post(
        "/signin", data={"token": hub.tokens["analyst"], "csrf_token": csrf_of(form.text)}
    )
    overview = client.get("/")

    assert before.status_code == 303 and before.headers["location"] == "/signin"
    assert polled.status_code == 204 and polled.headers["HX-Redirect"] == "/signin"
    assert 'for="token">Access token</label>' in form.text
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("privstats_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert overview.status_code == 200
    assert "analyst (analyst)" in overview.text
    # a fresh id on sign-in: the anonymous session's id is not carried over
    assert form.cookies["privstats_session"] != signed.cookies["privstats_session"]


def test_the_cookie_is_secure_over_https(hub: Hub) -> None:
    client = TestClient(hub.client.app, base_url="https://hub.example", follow_redirects=False)
    form = client.get("/signin")
    signed = client.post(
        "/signin", data={"token": hub.tokens["analyst"], "csrf_token": csrf_of(form.text)}
    )

    assert "Secure" in form.headers["set-cookie"]
    assert "Secure" in signed.headers["set-cookie"]


def test_a_wrong_token_is_refused_with_the_apis_message(hub: Hub) -> None:
    client = browser(hub)
    form = client.get("/signin")
    response = client.post("/signin", data={"token": "nope", "csrf_token": csrf_of(form.text)})

    assert response.status_code == 401
    assert "the bearer token is not valid" in response.text
    assert client.get("/").status_code == 303


def test_every_form_needs_its_csrf_token(hub: Hub) -> None:
    client = browser(hub)
    client.get("/signin")
    no_token = client.post("/signin", data={"token": hub.tokens["analyst"]})
    csrf = sign_in(client, hub.tokens["analyst"])
    job = {"party.register": "nso", "dataset.register": "population", "p.key": "person_id"}
    forged_submit = client.post("/jobs/new/coverage", data={**job, "csrf_token": "x" * 43})
    bare_signout = client.post("/signout", data={})
    still_in = client.get("/")
    signout = client.post("/signout", data={"csrf_token": csrf})

    assert no_token.status_code == 403
    assert forged_submit.status_code == 403
    assert bare_signout.status_code == 403
    assert still_in.status_code == 200
    assert signout.status_code == 303
    assert client.get("/").status_code == 303  # signed out


def test_pages_carry_a_strict_content_security_policy(hub: Hub) -> None:
    client = browser(hub)
    sign_in(client, hub.tokens["analyst"])
    for path in ("/signin", "/", "/jobs/new", "/jobs/new/coverage", "/audit"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "<script>" not in response.text and " on" + "click=" not in response.text
        assert "http://" not in response.text and "https://" not in response.text, path
    assert client.get("/static/htmx.min.js").status_code == 200


def test_every_control_has_a_label(hub: Hub) -> None:
    client = browser(hub)
    sign_in(client, hub.tokens["analyst"])
    job = finished_job(hub)
    paths = ["/signin", "/", "/audit", f"/jobs/{job['id']}"]
    paths += [f"/jobs/new/{kind}" for kind in KINDS]
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
        assert unlabelled(page.text) == [], path


# --------------------------------------------------------------------------- who sees what


def test_an_analyst_cannot_open_another_analysts_job(hub: Hub) -> None:
    job = finished_job(hub)
    owner, rival, auditor = browser(hub), browser(hub), browser(hub)
    sign_in(owner, hub.tokens["analyst"])
    sign_in(rival, hub.tokens["rival"])
    sign_in(auditor, hub.tokens["auditor"])
    paths = [f"/jobs/{job['id']}{tail}" for tail in ("", "/state", "/result.csv", "/result.json")]

    for path in paths:
        assert owner.get(path).status_code == 200, path
        refused = rival.get(path)
        assert refused.status_code in (403, 404), path
        assert "north" not in refused.text
    assert job["id"] not in rival.get("/").text
    rival_audit = rival.get(f"/audit?job={job['id']}").text
    assert "job submitted" not in rival_audit and f">{job['id']}<" not in rival_audit
    assert rival.get(f"/audit/export.jsonl?job={job['id']}").text == ""
    # an auditor sees the job but, not being a recipient, not its result (as the API)
    assert auditor.get(f"/jobs/{job['id']}").status_code == 200
    assert auditor.get(f"/jobs/{job['id']}/result.json").status_code == 403


def _walk(routes: Any, prefix: str = "") -> Iterator[tuple[str, str, set[str]]]:
    """(path, name, methods) of every route of the app, through included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes, prefix + route.include_context.prefix)
        elif hasattr(route, "path"):
            yield (
                prefix + route.path,
                getattr(route, "name", ""),
                set(getattr(route, "methods", ()) or ()),
            )


def test_no_page_or_route_approves_for_a_node(hub: Hub) -> None:
    routes = list(_walk(hub.client.app.routes))
    deciding = [
        (path, name)
        for path, name, _methods in routes
        if re.search(r"approv|decide|decision|reject", f"{path} {name}", re.IGNORECASE)
    ]
    job = hub.submit(hub.tokens["analyst"]).json()
    client = browser(hub)
    sign_in(client, hub.admin_token)
    body = {
        "decision": "approve",
        "reason": "",
        "manifest_hash": job["manifest_hash"],
        "signature": "00",
    }
    by_cookie = client.post(f"{API}/jobs/{job['id']}/approval", json=body)
    by_token = hub.as_admin("POST", f"/jobs/{job['id']}/approval", body)

    assert len(routes) > 30  # the whole app was walked, pages and API
    assert deciding == [(f"{API}/jobs/{{job_id}}/approval", "approve")]
    assert by_cookie.status_code == 401
    assert by_token.status_code == 403
    assert hub.job(job["id"])["state"] == "awaiting_approval"


# --------------------------------------------------------------------------- submit


def test_the_submit_form_is_generated_from_the_kinds_spec(hub: Hub) -> None:
    client = browser(hub)
    sign_in(client, hub.tokens["analyst"])
    kinds = client.get("/jobs/new").text
    form = client.get("/jobs/new/coverage").text

    for kind in ("coverage", "aggregate", "join_aggregate", "fl_train", "synthesize"):
        assert f'href="/jobs/new/{kind}"' in kinds
    assert ">Identifier column of the register (and of the source). (required)</label>" in form
    assert ">Confidence level of the intervals.</label>" in form
    assert '<option value="clopper-pearson">' in form
    assert 'name="p.normalization.remove"' in form
    assert 'name="p.chunk_size"' not in form  # hidden on the command line, hidden here
    assert 'for="party-register">Party for role register</label>' in form
    assert ">Submit job</button>" in form


def test_a_submitted_form_becomes_the_same_job_as_through_the_api(hub: Hub) -> None:
    client = browser(hub)
    csrf = sign_in(client, hub.tokens["analyst"])
    response = client.post(
        "/jobs/new/coverage",
        data={
            "csrf_token": csrf,
            "party.register": "nso",
            "dataset.register": "population",
            "party.source": "telco",
            "dataset.source": "customers",
            "p.key": "person_id",
            "p.peer_key": "customer_id",
            "p.by": "region",
            "p.min_cell": "5",
        },
    )
    assert response.status_code == 303
    job_id = response.headers["location"].removeprefix("/jobs/")
    api_job = hub.submit(
        hub.tokens["analyst"],
        parameters={"key": "person_id", "peer_key": "customer_id", "by": ["region"], "min_cell": 5},
    ).json()
    job = hub.job(job_id)

    assert job["state"] == "awaiting_approval"
    assert job["submitted_by"] == "analyst"
    assert job["manifest"] == api_job["manifest"]


@pytest.mark.parametrize(
    ("changes", "expected_status"),
    [
        ({"p.confidence": "2"}, 422),
        ({"p.key": ""}, 422),
        ({"dataset.register": "nowhere"}, 422),
        ({"party.source": ""}, 422),
    ],
)
def test_form_errors_are_the_apis_messages(
    hub: Hub, changes: dict[str, str], expected_status: int
) -> None:
    client = browser(hub)
    csrf = sign_in(client, hub.tokens["analyst"])
    form = {
        "party.register": "nso",
        "dataset.register": "population",
        "party.source": "telco",
        "dataset.source": "customers",
        "p.key": "person_id",
        "p.peer_key": "customer_id",
        **changes,
    }
    # a blank control is a field left out, as an API caller who leaves it out
    api_parameters: dict[str, Any] = {"peer_key": "customer_id"}
    if form["p.key"]:
        api_parameters["key"] = form["p.key"]
    if "p.confidence" in changes:
        api_parameters["confidence"] = float(changes["p.confidence"])
    parties = {r: form[f"party.{r}"] for r in ("register", "source") if form[f"party.{r}"]}
    datasets = {r: form[f"dataset.{r}"] for r in ("register", "source")}
    api = hub.submit(
        hub.tokens["analyst"], parameters=api_parameters, parties=parties, datasets=datasets
    )
    page = client.post("/jobs/new/coverage", data={**form, "csrf_token": csrf})

    assert api.status_code == page.status_code == expected_status
    message = api.json()["detail"]
    assert isinstance(message, str)
    assert _escaped(message) in page.text
    assert 'data-testid="form-error"' in page.text
    assert 'value="customer_id"' in page.text  # the form keeps what was typed


def _escaped(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


# --------------------------------------------------------------------------- job page


def test_the_job_page_shows_manifest_timeline_and_result(hub: Hub) -> None:
    job = finished_job(hub)
    client = browser(hub)
    sign_in(client, hub.tokens["analyst"])
    page = client.get(f"/jobs/{job['id']}").text
    csv = client.get(f"/jobs/{job['id']}/result.csv")
    as_json = client.get(f"/jobs/{job['id']}/result.json")

    assert re.search(
        r'data-testid="job-state" data-state="succeeded"[^>]*>completed</strong>', page
    )
    assert "hx-trigger" not in page  # a finished job is not polled
    assert "columns read: person_id, region" in page
    assert "goes to analyst" in page
    assert "cells with fewer than 10 persons (or records) are suppressed" in page
    assert re.search(r"node approved</td><td>node:nso</td><td>nso</td>", page)
    assert '<table data-testid="result-table">' in page
    assert '<svg data-testid="result-chart"' in page
    assert page.count('class="interval"') == 3  # all, north and the escaped region
    assert 'data-suppressed="true"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("region,register_size,matched,estimate")
    assert "islands,,,,,,True" in csv.text
    assert as_json.json() == COVERAGE_RESULT


def test_a_running_jobs_state_is_polled_and_a_change_reloads_the_page(hub: Hub) -> None:
    job = hub.approved_job(hub.tokens["analyst"])
    client = browser(hub)
    sign_in(client, hub.tokens["analyst"])
    page = client.get(f"/jobs/{job['id']}").text
    same = client.get(f"/jobs/{job['id']}/state?seen=approved")
    hub.as_node("nso", "POST", f"/jobs/{job['id']}/start", {})
    changed = client.get(f"/jobs/{job['id']}/state?seen=approved")

    assert f'hx-get="/jobs/{job["id"]}/state?seen=approved"' in page
    assert "No result yet: the job is approved." in page
    assert "HX-Refresh" not in same.headers and ">approved</strong>" in same.text
    assert changed.headers["HX-Refresh"] == "true"
    assert ">running</strong>" in changed.text


def test_a_failed_job_shows_its_reason(hub: Hub) -> None:
    job = hub.approved_job(hub.tokens["analyst"])
    hub.as_node("nso", "POST", f"/jobs/{job['id']}/fail", {"step": "psi", "reason": "disk full"})
    client = browser(hub)
    sign_in(client, hub.tokens["analyst"])
    page = client.get(f"/jobs/{job['id']}").text

    assert 'data-testid="failure"' in page
    assert "nso (step psi): disk full" in page
    assert ">failed</strong>" in page


# --------------------------------------------------------------------------- audit


def test_the_audit_page_verifies_filters_and_exports(hub: Hub) -> None:
    job = finished_job(hub)
    other = hub.submit(hub.tokens["rival"]).json()
    client = browser(hub)
    sign_in(client, hub.tokens["auditor"])
    page = client.get("/audit").text
    by_job = client.get(f"/audit?job={job['id']}").text
    by_party = client.get("/audit/export.jsonl?party=telco").text.splitlines()
    export = client.get(f"/audit/export.jsonl?job={job['id']}")

    assert re.search(r'data-testid="audit-verdict"[^>]*>verified: \d+ entries', page)
    assert other["id"] in page and other["id"] not in by_job
    assert export.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert {line["job_id"] for line in lines} == {job["id"]}
    assert {"job.submitted", "node.approved", "job.succeeded"} <= {
        entry["action"] for entry in lines
    }
    assert by_party and all("telco" in line for line in by_party)


def test_a_tampered_entry_shows_where_the_chain_breaks(hub: Hub) -> None:
    job = finished_job(hub)
    with sqlite3.connect(hub.db_path) as db:
        seq = db.execute(
            "SELECT seq FROM audit WHERE action = 'job.succeeded' AND job_id = ?", (job["id"],)
        ).fetchone()[0]
        db.execute("UPDATE audit SET actor = 'hub:someone' WHERE seq = ?", (seq,))
    client = browser(hub)
    sign_in(client, hub.tokens["auditor"])
    page = client.get("/audit").text

    assert re.search(rf'data-testid="audit-verdict"[^>]*>broken at entry {seq}: ', page)
