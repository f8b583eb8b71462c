"""The hub's pages against a real hub and real nodes on 127.0.0.1 (``LocalFederation``).

An analyst signs in with their token, submits a coverage job through the generated form,
follows its state through the polled fragment until the nodes (approving by policy) have
run it, and reads the result table and chart, the CSV and JSON downloads and the verified
audit log: every figure shown equals the plaintext computation on the same files.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from privstats.data.demo import CoverageDemo, make_coverage_demo
from privstats.data.readers import load_identifiers
from privstats.local_federation import LocalFederation


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[LocalFederation, CoverageDemo]]:
    demo = make_coverage_demo(tmp_path / "data", persons=2000, seed=5)
    with LocalFederation(tmp_path / "fed", node_timeout=10, poll_seconds=0.2) as fed:
        fed.add_node("nso", {"population": (demo.register, ["person_id"])})
        fed.add_node("telco", {"customers": (demo.source, ["customer_id"])})
        fed.wait_for_datasets(2)
        yield fed, demo


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def _plaintext(demo: CoverageDemo) -> dict[str, tuple[int, int]]:
    """Region → (register persons, matched persons), computed in the clear."""
    register = load_identifiers(demo.register, "person_id", by=("region",))
    source = set(load_identifiers(demo.source, "customer_id").ids)
    assert register.domain_codes is not None
    counts: dict[str, list[int]] = {}
    for ident, code in zip(register.ids, register.domain_codes.tolist(), strict=True):
        cell = counts.setdefault(register.domain_labels[code][0], [0, 0])
        cell[0] += 1
        cell[1] += ident in source
    return {region: (n, m) for region, (n, m) in counts.items()}


def test_an_analyst_submits_follows_and_reads_a_coverage_job_in_the_pages(
    federation: tuple[LocalFederation, CoverageDemo],
) -> None:
    fed, demo = federation
    with fed.admin() as admin:
        token = admin.add_token("analyst")
        rival_token = admin.add_token("rival")
    with (
        httpx.Client(base_url=fed.url, trust_env=False, timeout=30) as browser,
        httpx.Client(base_url=fed.url, trust_env=False, timeout=30) as rival,
    ):
        for client, secret in ((browser, token), (rival, rival_token)):
            form = client.get("/signin")
            signed = client.post("/signin", data={"token": secret, "csrf_token": _csrf(form.text)})
            assert signed.status_code == 303
        overview = browser.get("/")
        submitted = browser.post(
            "/jobs/new/coverage",
            data={
                "csrf_token": _csrf(overview.text),
                "party.register": "nso",
                "dataset.register": "population",
                "party.source": "telco",
                "dataset.source": "customers",
                "p.key": "person_id",
                "p.peer_key": "customer_id",
                "p.by": "region",
            },
        )
        assert submitted.status_code == 303, submitted.text
        job_path = submitted.headers["location"]
        deadline = time.monotonic() + 120
        seen = []
        while True:
            fragment = browser.get(f"{job_path}/state")
            state = re.search(r'data-state="([a-z_]+)"', fragment.text)
            assert state, fragment.text
            if not seen or seen[-1] != state.group(1):
                seen.append(state.group(1))
            if state.group(1) not in ("proposed", "awaiting_approval", "approved", "running"):
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
        page = browser.get(job_path).text
        table_rows = re.findall(
            r"<tr>\s*<td>([^<]+)</td>\s*<td class=\"num\">([\d,]+)</td>\s*"
            r"<td class=\"num\">([\d,]+)</td>",
            page,
        )
        downloaded = list(csv.DictReader(io.StringIO(browser.get(f"{job_path}/result.csv").text)))
        as_json = browser.get(f"{job_path}/result.json").json()
        audit = browser.get("/audit").text
        rival_sees = [rival.get(f"{job_path}{tail}").status_code for tail in ("", "/result.json")]
        overview_after = browser.get("/").text

    assert seen[-1] == "succeeded", (seen, page)
    assert ">completed</strong>" in page
    assert '<table data-testid="result-table">' in page
    assert '<svg data-testid="result-chart"' in page
    truth = _plaintext(demo)
    shown = {
        region: (int(n.replace(",", "")), int(m.replace(",", ""))) for region, n, m in table_rows
    }
    released = {g["by"]["region"]: g for g in as_json["groups"] if not g["suppressed"]}
    assert shown and set(shown) == set(released)
    for region, counts in shown.items():
        assert counts == truth[region]
    assert {row["region"] for row in downloaded} == {g["by"]["region"] for g in as_json["groups"]}
    assert "node approved" in page and "nso" in page and "telco" in page
    assert re.search(r'data-testid="audit-verdict"[^>]*>verified: \d+ entries', audit)
    assert all(status in (403, 404) for status in rival_sees)
    assert 'data-testid="parties-table"' in overview_after and ">up</td>" in overview_after
