"""Issue 16 end to end in headless Chromium: the hub's pages and the data owners' node pages.

A real hub and two real nodes (the register's, ``nso``, and the telecom's, ``telco``)
run as processes on 127.0.0.1, each node serving its owner's pages. In the browser, an
analyst signs in at the hub, submits a coverage job through the form generated from the
kind's spec (a wrong answer first: the API's own message comes back beside the form),
each data owner signs in with the one-time link its node printed and approves the job on
its node page, the analyst's job page follows the job to ``completed`` by itself, shows
the result table (checked against the API's result) and the chart with interval bars,
offers CSV and JSON downloads, and the audit page verifies the chain. Another analyst
cannot open the job; a form without its CSRF token is refused; no page loads anything
from outside 127.0.0.1 (the ``new_page`` guard). Each page is photographed into
``docs/screens/`` for the README.

Written against the shared contract of issue 16's pages before they landed; the file is
named ``pending_…`` so that pytest does not collect it until then (rename it
``test_pages_flow.py``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from privstats.client import Federation
from privstats.data.demo import CoverageDemo, make_coverage_demo
from privstats.jobs.coverage import CoverageSpec
from privstats.local_federation import LocalFederation

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from .conftest import PageOpener

pytestmark = pytest.mark.slow

#: How long a job may take from the last approval to ``completed`` (milliseconds).
JOB_TIMEOUT_MS = 120_000
OWNERS = ("nso", "telco")


@dataclass
class Pages:
    """The running federation: its hub, the owners' sign-in links, two analysts' tokens."""

    federation: LocalFederation
    demo: CoverageDemo
    signin_links: dict[str, str]
    tokens: dict[str, str]

    @property
    def hub(self) -> str:
        return self.federation.url

    def node(self, name: str) -> str:
        """The base URL of ``name``'s pages (``http://127.0.0.1:PORT``)."""
        return self.signin_links[name].split("/signin/", 1)[0]

    def api(self, analyst: str) -> Federation:
        return Federation(self.hub, self.tokens[analyst])


@pytest.fixture(scope="module")
def pages(
    tmp_path_factory: pytest.TempPathFactory, add_node_with_pages: Callable[..., str]
) -> Iterator[Pages]:
    """A hub and the two owners' nodes (pages on, approval by hand), and analysts ana, ben."""
    folder = tmp_path_factory.mktemp("pages")
    demo = make_coverage_demo(folder / "data", persons=3000, seed=11)
    with LocalFederation(folder / "fed", node_timeout=10.0, poll_seconds=0.2) as federation:
        links = {
            "nso": add_node_with_pages(
                federation, "nso", {"population": (demo.register, ["person_id"])}, approval="ask"
            ),
            "telco": add_node_with_pages(
                federation, "telco", {"customers": (demo.source, ["customer_id"])}, approval="ask"
            ),
        }
        federation.wait_for_datasets(2)
        with federation.admin() as admin:
            tokens = {name: admin.add_token(name) for name in ("ana", "ben")}
        yield Pages(federation, demo, links, tokens)


# -- what a person does on the pages -------------------------------------------------------


def sign_in(page: Page, pages: Pages, analyst: str, expect: Any) -> None:
    """Sign in at the hub with the analyst's token, by keyboard: type it, press Enter."""
    page.goto(f"{pages.hub}/signin")
    page.get_by_label("Access token").focus()
    page.keyboard.type(pages.tokens[analyst])
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{pages.hub}/")


def label_of(field: str) -> str:
    """The label of a spec field's control: its description (the form is generated)."""
    description = CoverageSpec.model_fields[field].description
    assert description, f"CoverageSpec.{field} has no description"
    return description


def fill_coverage_form(page: Page, *, by: str) -> None:
    """The coverage form's answers: nso's register against telco's customers, by ``by``.

    ==> The party/dataset controls are labelled "Party for role ROLE" / "Dataset for role
    ROLE" in the hub helper's form (``privstats.web`` submit.html); the contract left them
    open.
    """
    page.get_by_label("Party for role register").fill("nso")
    page.get_by_label("Dataset for role register").fill("population")
    page.get_by_label("Party for role source").fill("telco")
    page.get_by_label("Dataset for role source").fill("customers")
    page.get_by_label(label_of("key")).fill("person_id")
    page.get_by_label(label_of("peer_key")).fill("customer_id")
    page.get_by_label(label_of("by")).fill(by)


def assert_every_form_carries_a_csrf_token(page: Page) -> None:
    """Each form on the page has its one hidden ``csrf_token`` (the contract)."""
    counts: list[int] = page.evaluate(
        "Array.from(document.forms, f => "
        "f.querySelectorAll('input[type=hidden][name=csrf_token]').length)"
    )
    assert counts and all(count == 1 for count in counts), counts


def assert_accessible(page: Page) -> None:
    """A label on every control, and readable at 200 % zoom (no sideways scrolling).

    200 % zoom of the 1280x800 window is a 640x400 one: the page must reflow into it,
    wide tables scrolling inside their own box rather than the whole page.
    """
    unlabelled: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                'input:not([type=hidden]), select, textarea, button'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                    && !el.getAttribute('aria-labelledby')
                    && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 160))"""
    )
    assert not unlabelled, f"{page.url}: controls without a label: {unlabelled}"
    size = page.viewport_size
    page.set_viewport_size({"width": 640, "height": 400})
    try:
        sideways: int = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    finally:
        if size is not None:
            page.set_viewport_size(size)
    assert sideways <= 1, f"{page.url}: at 200 % zoom the page scrolls {sideways} px sideways"


def assert_focus_is_visible(page: Page) -> None:
    """The focused control shows it (an outline or a ring), for people using the keyboard."""
    style: dict[str, str] = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return {outline: s.outlineStyle, width: s.outlineWidth, ring: s.boxShadow}; }"""
    )
    outlined = style["outline"] != "none" and style["width"] not in ("0px", "")
    assert outlined or style["ring"] != "none", style


def table_rows(page: Page, test_id: str) -> list[list[str]]:
    """The cells' texts of every row of the table with this test id."""
    rows: list[list[str]] = page.get_by_test_id(test_id).evaluate(
        "t => Array.from(t.rows, r => Array.from(r.cells, c => c.innerText.trim()))"
    )
    return rows


def number(text: str) -> str:
    """A count as printed, without thousands separators (1,234 / 1 234 → 1234)."""
    return re.sub(r"[,\s\u00a0\u202f\u2009]", "", text)


def api_message(pages: Pages, analyst: str, parameters: dict[str, Any]) -> str:
    """What the API answers to a coverage job with these parameters (the hub's own words)."""
    body = {
        "kind": "coverage",
        "parameters": parameters,
        "parties": {"register": "nso", "source": "telco"},
        "datasets": {"register": "population", "source": "customers"},
    }
    headers = {"Authorization": f"Bearer {pages.tokens[analyst]}"}
    answer = httpx.post(f"{pages.hub}/api/v1/jobs", json=body, headers=headers, trust_env=False)
    assert answer.status_code in (400, 422), answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str), detail
    return detail


# -- the tests ---------------------------------------------------------------------------


def test_a_coverage_job_from_the_form_through_the_owners_node_pages_to_a_verified_audit(
    pages: Pages, new_page: PageOpener, expect: Any, screenshot: Callable[..., Path]
) -> None:
    hub = pages.hub
    analyst = new_page()

    def photograph(page: Page, name: str) -> None:
        """Check the page's accessibility, then take its picture for docs/screens."""
        assert_accessible(page)
        screenshot(page, name, full_page=True)

    # sign-in: every page sends a stranger there; the cookie is the contract's
    analyst.goto(f"{hub}/")
    expect(analyst).to_have_url(re.compile(re.escape(f"{hub}/signin")))
    expect(analyst.get_by_label("Access token")).to_be_visible()
    photograph(analyst, "hub-signin")
    sign_in(analyst, pages, "ana", expect)
    (cookie,) = [c for c in analyst.context.cookies() if c["name"] == "privstats_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # served over plain http on loopback

    # overview: both parties and their datasets
    for name in (*OWNERS, "population", "customers"):
        expect(analyst.get_by_text(name, exact=True).first).to_be_visible()
    photograph(analyst, "hub-overview")

    # submit: the kinds, then coverage's form generated from its spec
    analyst.goto(f"{hub}/jobs/new")
    photograph(analyst, "hub-submit-kinds")
    analyst.locator('a[href="/jobs/new/coverage"]').first.click()
    expect(analyst).to_have_url(f"{hub}/jobs/new/coverage")
    for field in ("key", "peer_key", "by", "confidence", "method", "min_cell"):
        expect(analyst.get_by_label(label_of(field))).to_be_visible()
    assert_every_form_carries_a_csrf_token(analyst)

    # a wrong answer: the API's message beside the form, the answers kept
    expected = api_message(
        pages, "ana", {"key": "person_id", "peer_key": "customer_id", "by": ["region", "region"]}
    )
    fill_coverage_form(analyst, by="region, region")
    with analyst.expect_response(lambda r: r.request.method == "POST") as refused:
        analyst.get_by_role("button", name="Submit job").click()
    assert refused.value.status in (400, 422)
    expect(analyst.get_by_text(expected)).to_be_visible()
    expect(analyst.get_by_label("Party for role register")).to_have_value("nso")
    photograph(analyst, "hub-submit-error")

    fill_coverage_form(analyst, by="region")
    photograph(analyst, "hub-submit-coverage")
    analyst.get_by_role("button", name="Submit job").click()
    expect(analyst).to_have_url(re.compile(re.escape(f"{hub}/jobs/") + r"[0-9a-f]{16}$"))
    job_id = analyst.url.rsplit("/", 1)[1]
    state = analyst.get_by_test_id("job-state")
    expect(state).not_to_have_text("completed")  # waits for the owners
    expect(analyst.get_by_text("person_id").first).to_be_visible()  # the manifest in words
    photograph(analyst, "hub-job-waiting")

    # each owner: the one-time link, the pending job, the approval with a reason
    for name in OWNERS:
        node = pages.node(name)
        owner = new_page()
        owner.goto(pages.signin_links[name])
        expect(owner).to_have_url(f"{node}/")
        (session,) = [c for c in owner.context.cookies() if c["name"] == "privstats_node_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        late = new_page()  # the link works once
        late.goto(pages.signin_links[name])
        assert not [c for c in late.context.cookies() if c["name"] == "privstats_node_session"]
        expect(late.locator(f'a[href="/approvals/{job_id}"]')).to_have_count(0)
        late.goto(f"{node}/")  # without a session: the sign-in explanation, no access
        expect(late).not_to_have_url(f"{node}/")
        forged = late.request.post(
            f"{node}/approvals/{job_id}",
            form={"action": "approve", "reason": "not the owner"},
            max_redirects=0,
        )
        assert forged.status in (302, 303, 307, 401, 403), forged.status

        pending = owner.locator(f'a[href="/approvals/{job_id}"]')
        expect(pending.first).to_be_visible()
        if name == "nso":
            photograph(owner, "node-pending")
        pending.first.click()
        expect(owner).to_have_url(f"{node}/approvals/{job_id}")
        expect(
            owner.get_by_text("person_id" if name == "nso" else "customer_id").first
        ).to_be_visible()
        assert_every_form_carries_a_csrf_token(owner)
        owner.get_by_label("Reason").fill(f"{name}: the quarterly coverage estimate, as agreed")
        if name == "nso":
            photograph(owner, "node-approval")
        owner.keyboard.press("Tab")  # from the reason to the first button: Approve
        assert owner.evaluate("document.activeElement.textContent.trim()") == "Approve"
        assert_focus_is_visible(owner)
        with owner.expect_response(lambda r: r.request.method == "POST") as decided:
            owner.keyboard.press("Enter")
        assert decided.value.status < 400, decided.value.status
        owner.goto(f"{node}/")
        expect(owner.locator(f'a[href="/approvals/{job_id}"]')).to_have_count(0)
        if name == "nso":
            owner.goto(f"{node}/datasets")
            expect(owner.get_by_text("population").first).to_be_visible()
            photograph(owner, "node-datasets")

    # the job page follows the job by itself (htmx), no reload by the test
    expect(state).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    analyst.reload()  # the result part of the page, whether or not the poll reloaded it
    with pages.api("ana") as api:
        result = api.job(job_id).result
    rows = table_rows(analyst, "result-table")
    released = [g for g in result["groups"] if not g.get("suppressed")]
    assert released, result
    for group in released:
        (label,) = group["by"].values()
        (row,) = [r for r in rows if label in r]
        assert str(group["matched"]) in [number(cell) for cell in row], (label, row)
        assert str(group["register_size"]) in [number(cell) for cell in row], (label, row)
    chart = analyst.get_by_test_id("result-chart")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    bars = chart.locator("line, rect, path").count()
    assert bars >= len(released), f"{bars} shapes for {len(released)} interval bars"
    timeline = analyst.get_by_test_id("timeline")  # ==> the hub helper's id for the timeline
    for name in OWNERS:
        expect(timeline.get_by_text(name).first).to_be_visible()
    photograph(analyst, "hub-job-completed")

    # downloads, with the session's cookie
    as_json = analyst.request.get(f"{hub}/jobs/{job_id}/result.json")
    assert as_json.status == 200
    downloaded = as_json.json()
    assert result in (downloaded, downloaded.get("result")), downloaded
    as_csv = analyst.request.get(f"{hub}/jobs/{job_id}/result.csv")
    assert as_csv.status == 200
    table = list(csv.reader(io.StringIO(as_csv.text())))
    assert len(table) > len(released)
    for group in released:
        (label,) = group["by"].values()
        assert any(label in line for line in table), (label, table[:3])

    # the audit: verified, filtered by job and by party, exported as JSON lines
    analyst.goto(f"{hub}/audit")
    expect(analyst.get_by_test_id("audit-verdict")).to_have_text(re.compile(r"^\s*verified"))
    photograph(analyst, "hub-audit")
    analyst.goto(f"{hub}/audit?job={job_id}")
    expect(analyst.get_by_test_id("audit-verdict")).to_have_text(re.compile(r"^\s*verified"))
    expect(analyst.get_by_text(job_id).first).to_be_visible()
    analyst.goto(f"{hub}/audit?party=nso")
    expect(analyst.get_by_test_id("audit-verdict")).to_have_text(re.compile(r"^\s*verified"))
    exported = analyst.request.get(f"{hub}/audit/export.jsonl")
    assert exported.status == 200
    entries = [json.loads(line) for line in exported.text().splitlines() if line.strip()]
    assert entries and any(job_id in json.dumps(entry) for entry in entries)


def test_another_analyst_cannot_open_the_job_or_its_result(
    pages: Pages, new_page: PageOpener, expect: Any
) -> None:
    with pages.api("ana") as api:
        job = api.submit_coverage(
            register="nso",
            register_dataset="population",
            source="telco",
            source_dataset="customers",
            key="person_id",
            peer_key="customer_id",
        )
    own = new_page()
    sign_in(own, pages, "ana", expect)
    response = own.goto(f"{pages.hub}/jobs/{job.id}")
    assert response is not None and response.status == 200
    expect(own.get_by_test_id("job-state")).to_be_visible()

    other = new_page()
    sign_in(other, pages, "ben", expect)
    expect(other.locator(f'a[href="/jobs/{job.id}"]')).to_have_count(0)  # not on ben's overview
    response = other.goto(f"{pages.hub}/jobs/{job.id}")
    assert response is not None and response.status in (403, 404)
    expect(other.get_by_test_id("job-state")).to_have_count(0)
    for download in ("result.json", "result.csv"):
        answer = other.request.get(f"{pages.hub}/jobs/{job.id}/{download}")
        assert answer.status in (403, 404), (download, answer.status)
    with pages.api("ana") as api:  # leave nothing waiting for the owners
        api.job(job.id).cancel()


def test_a_form_without_its_csrf_token_is_refused_and_sign_out_ends_the_session(
    pages: Pages, new_page: PageOpener, expect: Any
) -> None:
    page = new_page()
    sign_in(page, pages, "ben", expect)
    page.goto(f"{pages.hub}/jobs/new/coverage")
    fill_coverage_form(page, by="region")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Submit job").click()
    assert refused.value.status == 403
    with pages.api("ben") as api:
        assert api.jobs() == [], "a refused form submitted a job"

    page.goto(f"{pages.hub}/")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(re.escape(f"{pages.hub}/signin")))
    for path in ("/", "/jobs/new", "/jobs/new/coverage", "/audit"):
        page.goto(f"{pages.hub}{path}")
        expect(page).to_have_url(re.compile(re.escape(f"{pages.hub}/signin")))
