"""The data owner's pages at the node, in process: only loopback, only after the one-time
sign-in, a CSRF token on every POST, and decisions made as ``privstats node approve`` /
``reject`` / ``release`` / ``withhold`` make them (policy first, budget spent in the
ledger, signed by the node's key through its hub link)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from privstats.crypto.keys import NodeKeys
from privstats.disclosure import Budget
from privstats.errors import ServiceError
from privstats.jobs.kinds import get_kind
from privstats.node import release_review
from privstats.node.config import AllowRule, DatasetConfig, NodeConfig, PolicyConfig
from privstats.node.pages import COOKIE, NodeDesk, Sessions, create_app
from privstats.node.policy import total_caps
from privstats.service.manifest import DatasetUse, Manifest
from privstats.version import __version__

with warnings.catch_warnings():
    # starlette >= 1.10 prefers the 'httpx2' package for its test client and warns when
    # it falls back to httpx; the fallback works the same for these tests
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

COLUMNS = ("age", "region")
JOB = "0123456789abcdef"
BASE = "http://127.0.0.1"


def node_config(tmp_path: Path, *, kinds: tuple[str, ...] = ("synthesize",)) -> NodeConfig:
    NodeKeys.generate().save(tmp_path / "keys")
    (tmp_path / "p.csv").write_text("age,region\n30,North\n41,South\n", encoding="utf-8")
    return NodeConfig(
        name="nso",
        hub="http://127.0.0.1:8700",
        keys=tmp_path / "keys",
        path=tmp_path / "node.toml",
        datasets={"population": DatasetConfig(path=tmp_path / "p.csv", columns=COLUMNS)},
        policy=PolicyConfig(
            approval="ask",
            max_epsilon_total=2.0,
            allow=tuple(AllowRule(kind=kind, datasets=("population",)) for kind in kinds),
        ),
    )


def mst_manifest(epsilon: float = 0.5) -> Manifest:
    parameters = {"columns": list(COLUMNS), "method": "mst", "epsilon": epsilon}
    kind = get_kind("synthesize")
    return Manifest(
        kind="synthesize",
        parameters=parameters,
        parties={"owner": "nso"},
        datasets={"owner": DatasetUse(party="nso", dataset="population", columns=COLUMNS)},
        recipients=("analyst",),
        disclosure=kind.disclosure(kind.parse(parameters)),
        code_version=__version__,
    )


def job_of(manifest: Manifest, state: str = "awaiting_approval") -> dict[str, Any]:
    return {
        "id": JOB,
        "kind": manifest.kind,
        "state": state,
        "manifest": manifest.model_dump(mode="json"),
        "manifest_hash": manifest.digest(),
        "submitted_by": "analyst",
        "created_at": "2026-12-03T18:00:00Z",
        "pending_approvals": ["nso"] if state == "awaiting_approval" else [],
        "approvals": [],
        "parties": [],
    }


class FakeHub:
    """The node's hub link as the pages use it: lists jobs, shows one, records decisions."""

    def __init__(self, *jobs: dict[str, Any]) -> None:
        self.jobs = {job["id"]: job for job in jobs}
        self.decisions: list[tuple[str, str, str, str]] = []
        self.http = self
        self.closed = False

    def get(self, path: str, **params: Any) -> Any:
        assert path == "/jobs"
        listed = list(self.jobs.values())
        if params.get("active") == "true":
            listed = [j for j in listed if j["state"] in ("awaiting_approval", "running")]
        return listed

    def job(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise ServiceError(f"job {job_id} not found", status=404)
        return self.jobs[job_id]

    def decide(self, job_id: str, manifest_digest: str, decision: str, reason: str) -> None:
        self.decisions.append((job_id, manifest_digest, decision, reason))
        self.jobs[job_id] = {
            **self.jobs[job_id],
            "state": "approved" if decision == "approve" else "rejected",
            "pending_approvals": [],
            "approvals": [{"party": "nso", "decision": decision, "reason": reason, "at": "now"}],
        }

    def close(self) -> None:
        self.closed = True


class Pages:
    """A node's pages app over a fake hub, with its sessions and desk at hand."""

    def __init__(self, config: NodeConfig, hub: FakeHub) -> None:
        self.hub = hub
        self.desk = NodeDesk(config, hub=hub)  # type: ignore[arg-type]
        self.sessions = Sessions()
        self.app = create_app(self.desk, self.sessions)

    def client(self, host: str = "127.0.0.1") -> TestClient:
        return TestClient(self.app, base_url=BASE, client=(host, 50123), follow_redirects=False)

    def signed_in(self) -> TestClient:
        client = self.client()
        answer = client.get(f"/signin/{self.sessions.code}")
        assert answer.status_code == 303, answer.text
        return client


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture
def pages(tmp_path: Path) -> Pages:
    return Pages(node_config(tmp_path), FakeHub(job_of(mst_manifest())))


@pytest.mark.parametrize("path", ["/", "/signin", "/datasets", f"/approvals/{JOB}", "/node.css"])
def test_any_client_but_loopback_is_refused(pages: Pages, path: str) -> None:
    answer = pages.client("10.0.0.5").get(path)
    assert answer.status_code == 403
    assert "only on this machine" in answer.text


def test_the_sign_in_link_from_another_address_is_refused_and_not_spent(pages: Pages) -> None:
    assert pages.client("192.168.1.9").get(f"/signin/{pages.sessions.code}").status_code == 403
    assert pages.client("::1").get(f"/signin/{pages.sessions.code}").status_code == 303


def test_a_request_naming_another_host_is_refused(pages: Pages) -> None:
    client = pages.client()
    answer = client.get("/signin", headers={"host": "attacker.example:8470"})
    assert answer.status_code == 403
    assert client.get("/signin", headers={"host": "localhost:8470"}).status_code == 200


def test_without_a_session_every_page_leads_to_the_sign_in_explanation(pages: Pages) -> None:
    client = pages.client()
    for path in ("/", "/datasets", f"/approvals/{JOB}", f"/releases/{JOB}"):
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin"
    answer = client.post(f"/approvals/{JOB}", data={"action": "approve", "csrf_token": "x"})
    assert answer.status_code == 303
    explanation = client.get("/signin")
    assert explanation.status_code == 200
    assert "one-time link the node printed" in explanation.text
    assert pages.hub.decisions == []


def test_the_one_time_code_works_once_and_sets_a_strict_http_only_cookie(pages: Pages) -> None:
    client = pages.client()
    answer = client.get(f"/signin/{pages.sessions.code}")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert client.get("/").status_code == 200
    again = pages.client().get(f"/signin/{pages.sessions.code}")
    assert again.status_code == 403
    assert "used already" in again.text
    assert pages.client().get("/signin/not-the-code").status_code == 403


def test_pending_approvals_link_to_their_page(pages: Pages) -> None:
    page = pages.signed_in().get("/")
    assert page.status_code == 200
    assert f'href="/approvals/{JOB}"' in page.text
    assert 'data-testid="pending-approvals"' in page.text


def test_the_approval_page_words_the_manifest_beside_the_policy(pages: Pages) -> None:
    page = pages.signed_in().get(f"/approvals/{JOB}")
    assert page.status_code == 200
    text = page.text
    assert "Role &#39;owner&#39;: your node brings dataset &#39;population&#39;" in text
    assert "The result goes to &#39;analyst&#39;." in text
    assert "It spends a privacy budget of ε = 0.5" in text
    assert "The policy allows this job and leaves the decision to you." in text
    assert (
        "Dataset &#39;population&#39; has spent ε = 0 so far; this job would spend ε = 0.5, "
        "leaving 1.5 of the total cap of ε = 2 (set in [policy])." in text
    )
    assert '<label for="reason">Reason</label>' in text
    assert '<textarea id="reason" name="reason"' in text
    assert ">Approve</button>" in text and ">Reject</button>" in text
    assert "<script" not in text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_post_without_the_csrf_token_is_refused(pages: Pages) -> None:
    client = pages.signed_in()
    for data in ({"action": "approve"}, {"action": "approve", "csrf_token": "forged"}):
        answer = client.post(f"/approvals/{JOB}", data=data)
        assert answer.status_code == 403
    assert client.post("/signout", data={}).status_code == 403
    assert pages.hub.decisions == []
    assert pages.desk.ledger.spent("population")[0] == 0


def test_approving_spends_the_budget_and_sends_the_nodes_approval(pages: Pages) -> None:
    client = pages.signed_in()
    token = csrf(client.get(f"/approvals/{JOB}").text)
    answer = client.post(
        f"/approvals/{JOB}", data={"action": "approve", "reason": "ok", "csrf_token": token}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/approvals/{JOB}"
    [(job_id, digest, decision, reason)] = pages.hub.decisions
    assert (job_id, digest, decision) == (JOB, mst_manifest().digest(), "approve")
    assert reason.startswith("ok; budget: dataset 'population' spends ε = 0.5")
    assert float(pages.desk.ledger.spent("population")[0]) == 0.5
    after = client.get(f"/approvals/{JOB}").text
    assert 'data-testid="node-decision"' in after and "Approved at now: ok; budget" in after
    assert ">Approve</button>" not in after


def test_rejecting_needs_a_reason_and_sends_a_rejection(pages: Pages) -> None:
    client = pages.signed_in()
    token = csrf(client.get(f"/approvals/{JOB}").text)
    empty = client.post(f"/approvals/{JOB}", data={"action": "reject", "csrf_token": token})
    assert empty.status_code == 400
    assert "say why the job is rejected" in empty.text
    assert pages.hub.decisions == []
    answer = client.post(
        f"/approvals/{JOB}",
        data={"action": "reject", "reason": "not this quarter", "csrf_token": token},
    )
    assert answer.status_code == 303
    assert [d[2:] for d in pages.hub.decisions] == [("reject", "not this quarter")]
    assert pages.desk.ledger.spent("population")[0] == 0


def test_a_job_the_policy_rejects_cannot_be_approved_from_the_page(tmp_path: Path) -> None:
    pages = Pages(node_config(tmp_path, kinds=("aggregate",)), FakeHub(job_of(mst_manifest())))
    client = pages.signed_in()
    page = client.get(f"/approvals/{JOB}").text
    assert "The policy would reject this job." in page
    assert "this node does not allow &#39;synthesize&#39; jobs" in page
    assert ">Approve</button>" not in page
    answer = client.post(f"/approvals/{JOB}", data={"action": "approve", "csrf_token": csrf(page)})
    assert answer.status_code == 400
    assert "breaks this node&#39;s policy, so it cannot be approved" in answer.text
    assert pages.hub.decisions == []


def test_over_the_total_budget_the_page_says_so_and_sends_nothing(tmp_path: Path) -> None:
    pages = Pages(node_config(tmp_path), FakeHub(job_of(mst_manifest(epsilon=1.5))))
    config = pages.desk.config
    spent = pages.desk.ledger.spend(
        "population", "f" * 16, "synthesize", Budget(epsilon=1.0), total_caps(config, "population")
    )
    assert spent.spend is not None
    client = pages.signed_in()
    page = client.get(f"/approvals/{JOB}").text
    assert (
        "has spent ε = 1 so far; this job would spend ε = 1.5, more than the 1 that remains "
        "of the total cap of ε = 2 (set in [policy]): an approval will be refused." in page
    )
    answer = client.post(f"/approvals/{JOB}", data={"action": "approve", "csrf_token": csrf(page)})
    assert answer.status_code == 400
    assert "more than the 1 that remains" in answer.text
    assert pages.hub.decisions == []


def test_release_review_shows_the_report_and_records_the_decision(tmp_path: Path) -> None:
    pages = Pages(node_config(tmp_path), FakeHub(job_of(mst_manifest(), state="running")))
    folder = pages.desk.config.results_folder(JOB)
    release_review.hold(folder, {"files": {"synthetic.csv": "age\n1\n"}})
    (folder / "report.html").write_text("<h1>utility</h1>", encoding="utf-8")
    client = pages.signed_in()
    assert f'href="/releases/{JOB}"' in client.get("/").text
    page = client.get(f"/releases/{JOB}")
    assert page.status_code == 200
    assert f'<iframe src="/releases/{JOB}/report.html"' in page.text
    assert ">Release</button>" in page.text and ">Withhold</button>" in page.text
    report = client.get(f"/releases/{JOB}/report.html")
    assert report.text == "<h1>utility</h1>"
    assert report.headers["content-security-policy"].startswith("sandbox")
    assert client.get(f"/releases/{JOB}/synthetic.csv").status_code == 404
    token = csrf(page.text)
    assert client.post(f"/releases/{JOB}", data={"action": "release"}).status_code == 403
    withheld = client.post(f"/releases/{JOB}", data={"action": "withhold", "csrf_token": token})
    assert withheld.status_code == 400 and "say why the release is withheld" in withheld.text
    assert release_review.decision_of(folder) is None
    answer = client.post(f"/releases/{JOB}", data={"action": "release", "csrf_token": token})
    assert answer.status_code == 303
    decision = release_review.decision_of(folder)
    assert decision is not None and decision.action == "release"
    shown = client.get(f"/releases/{JOB}").text
    assert "Released: released by the data owner" in shown
    assert ">Release</button>" not in shown


def test_release_review_of_a_job_nothing_is_held_for_is_not_found(pages: Pages) -> None:
    assert pages.signed_in().get(f"/releases/{JOB}").status_code == 404


def test_datasets_page_shows_schema_jobs_budget_and_releases(pages: Pages) -> None:
    client = pages.signed_in()
    token = csrf(client.get(f"/approvals/{JOB}").text)
    client.post(f"/approvals/{JOB}", data={"action": "approve", "csrf_token": token})
    page = client.get("/datasets")
    assert page.status_code == 200
    text = page.text
    assert "age (int64), region (string)" in text
    assert f'href="/approvals/{JOB}"' in text  # the job read dataset population
    budget = text.split('data-testid="budget"')[1].split("</table>")[0]
    assert '<th scope="row">population</th>' in budget
    assert '<td class="number">0.5</td>' in budget and '<td class="number">2</td>' in budget
    assert "No release recorded yet." in text


def test_signing_out_ends_the_session(pages: Pages) -> None:
    client = pages.signed_in()
    token = csrf(client.get("/").text)
    assert client.post("/signout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_datasets_rows_are_counted_again_when_its_file_changes(pages: Pages) -> None:
    assert pages.desk.schema("population").rows == 2
    path = pages.desk.config.datasets["population"].path
    path.write_text("age,region\n30,North\n41,South\n52,East\n", encoding="utf-8")
    assert pages.desk.schema("population").rows == 3
    assert '<td class="number">3</td>' in pages.signed_in().get("/datasets").text
