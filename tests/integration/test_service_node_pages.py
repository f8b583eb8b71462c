"""The data owner's pages of a real ``privstats node run`` process, against a real hub.

The owner's node is started with ``--web-port 0`` and prints its one-time sign-in link;
an analyst submits jobs through :class:`privstats.client.Federation`; the owner sees them
pending on the node's page, approves or rejects them there (with the page's CSRF token),
and the hub shows the node's signed decision while the job completes or stops. A
synthesize job's held result is released from its review page, and the datasets page
shows the budget the node spent and the tables it released.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from privstats.client import Federation, Job
from privstats.crypto.keys import NodeKeys, verify
from privstats.data.demo import CoverageDemo, make_coverage_demo
from privstats.errors import JobFailedError
from privstats.local_federation import LocalFederation
from privstats.node.release_review import AWAITING_REVIEW
from privstats.service.manifest import approval_bytes

LINK = re.compile(r"node pages: (http://127\.0\.0\.1:(\d+))/signin/(\S+)")


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path / "fed", node_timeout=20.0, poll_seconds=0.2) as federation:
        yield federation


def _with_pages(
    federation: LocalFederation,
    name: str,
    datasets: dict[str, tuple[Path, Sequence[str]]],
    **policy: object,
) -> tuple[Path, str, str]:
    """Add node ``name``, run it with ``--web-port 0``; its config, pages URL and link."""
    config = federation.add_node(name, datasets, start=False, **policy)  # type: ignore[arg-type]
    federation.nodes[name] = federation._spawn(
        ["node", "run", "--config", str(config), "--web-port", "0"],
        federation.folder / f"node-{name}.log",
    )
    deadline = time.monotonic() + 60
    while (found := LINK.search(federation.log(name))) is None:
        assert federation.nodes[name].poll() is None, federation.log(name)
        assert time.monotonic() < deadline, federation.log(name)
        time.sleep(0.1)
    return config, found.group(1), found.group(0).removeprefix("node pages: ")


def _browser(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=30)


def _sign_in(pages: httpx.Client, link: str) -> None:
    answer = pages.get(link)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert "privstats_node_session" in pages.cookies


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _until_listed(pages: httpx.Client, path: str, href: str, timeout: float = 60) -> str:
    """The page at ``path`` once it links to ``href``."""
    deadline = time.monotonic() + timeout
    while True:
        page = pages.get(path)
        assert page.status_code == 200, page.text
        if f'href="{href}"' in page.text:
            return page.text
        assert time.monotonic() < deadline, page.text
        time.sleep(0.2)


def _analyst(federation: LocalFederation) -> Federation:
    with federation.admin() as admin:
        token = admin.add_token("analyst")
    return Federation(federation.url, token)


def _coverage(analyst: Federation) -> Job:
    return analyst.submit_coverage(
        register="nso",
        register_dataset="population",
        source="telco",
        source_dataset="customers",
        key="person_id",
        peer_key="customer_id",
        by=["region"],
    )


@pytest.fixture
def small(tmp_path: Path) -> CoverageDemo:
    return make_coverage_demo(tmp_path / "data", persons=3000, seed=11)


def test_the_owner_approves_and_rejects_on_the_nodes_page_and_the_hub_has_its_signature(
    federation: LocalFederation, small: CoverageDemo
) -> None:
    config, base, link = _with_pages(
        federation, "nso", {"population": (small.register, ["person_id"])}, approval="ask"
    )
    federation.add_node("telco", {"customers": (small.source, ["customer_id"])})
    federation.wait_for_datasets(2)
    with _browser(base) as pages, _analyst(federation) as analyst:
        assert pages.get("/").headers["location"] == "/signin"  # no session, no access
        assert pages.get("/", headers={"host": "attacker.example"}).status_code == 403
        _sign_in(pages, link)
        with _browser(base) as late:
            assert late.get(link).status_code == 403  # the link works once

        job = _coverage(analyst)
        _until_listed(pages, "/", f"/approvals/{job.id}")
        page = pages.get(f"/approvals/{job.id}").text
        assert "The policy allows this job and leaves the decision to you." in page
        assert "Role &#39;register&#39;: your node brings dataset &#39;population&#39;" in page
        assert "Role &#39;source&#39;: party &#39;telco&#39; brings dataset" in page
        forged = pages.post(f"/approvals/{job.id}", data={"action": "approve"})
        assert forged.status_code == 403
        assert job.refresh().state == "awaiting_approval"
        approved = pages.post(
            f"/approvals/{job.id}",
            data={"action": "approve", "reason": "checked by our methodologist",
                  "csrf_token": _csrf(page)},
        )  # fmt: skip
        assert approved.status_code == 303, approved.text
        assert job.wait(120).result["matched"] == small.true_matched

        # the hub holds the node's own signature over exactly that decision
        [mine] = [a for a in job.info["approvals"] if a["party"] == "nso"]
        assert mine["decision"] == "approve"
        assert mine["reason"] == "checked by our methodologist"
        public = NodeKeys.load(config.parent / "keys").public.sign
        signed = approval_bytes(job.id, job.info["manifest_hash"], "approve", mine["reason"])
        assert verify(public, signed, bytes.fromhex(mine["signature"]))
        entries = [e for e in analyst.audit(job.id) if e.action == "node.approved"]
        assert {(e.signer, e.payload["reason"]) for e in entries} >= {
            ("nso", "checked by our methodologist")
        }
        assert analyst.verify_audit().ok
        after = pages.get(f"/approvals/{job.id}").text
        assert "Approved at" in after and ">Approve</button>" not in after

        rejected = _coverage(analyst)
        page = _until_listed(pages, "/", f"/approvals/{rejected.id}")
        answer = pages.post(
            f"/approvals/{rejected.id}",
            data={"action": "reject", "reason": "not this quarter", "csrf_token": _csrf(page)},
        )
        assert answer.status_code == 303, answer.text
        with pytest.raises(JobFailedError) as failure:
            rejected.wait(30)
        assert failure.value.state == "rejected" and failure.value.party == "nso"
        assert "not this quarter" in str(failure.value)

        datasets = pages.get("/datasets").text
        recent = datasets.split('data-testid="recent-jobs"')[1].split("</table>")[0]
        assert f">{job.id}</a>" in recent and f">{rejected.id}</a>" in recent
        history = datasets.split('data-testid="release-history"')[1].split("</table>")[0]
        assert f"<td>{job.id}</td>" in history and "<td>region</td>" in history


@pytest.fixture
def census(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)  # test data only
    n = 400
    path = tmp_path / "census.csv"
    pd.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(n)],
            "region": rng.choice(["North", "South", "East"], size=n),
            "sex": rng.choice(["F", "M"], size=n),
            "age": rng.integers(16, 90, size=n),
        }
    ).to_csv(path, index=False)
    return path


def test_a_held_synthesis_is_released_from_its_review_page_and_its_budget_shown(
    federation: LocalFederation, census: Path
) -> None:
    _config, base, link = _with_pages(
        federation,
        "nso",
        {"census": (census, ["person_id"])},
        allow=("synthesize",),
        max_epsilon_total=3.0,
    )
    federation.wait_for_datasets(1)
    with _browser(base) as pages, _analyst(federation) as analyst:
        _sign_in(pages, link)
        job = analyst.submit_synthesize(
            owner="nso", dataset="census", columns=["region", "sex", "age"], method="mst",
            epsilon=1.0, bounds={"age": (0, 120)},
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while job.refresh().info["parties"][0]["step"] != AWAITING_REVIEW:
            assert job.state in ("awaiting_approval", "approved", "running"), job.info
            assert time.monotonic() < deadline, federation.log("nso")
            time.sleep(0.2)
        _until_listed(pages, "/", f"/releases/{job.id}")
        review = pages.get(f"/releases/{job.id}")
        assert review.status_code == 200
        assert f'<iframe src="/releases/{job.id}/report.html"' in review.text
        report = pages.get(f"/releases/{job.id}/report.html")
        assert report.status_code == 200 and report.headers["content-security-policy"].startswith(
            "sandbox"
        )
        assert pages.post(f"/releases/{job.id}", data={"action": "release"}).status_code == 403
        released = pages.post(
            f"/releases/{job.id}", data={"action": "release", "csrf_token": _csrf(review.text)}
        )
        assert released.status_code == 303, released.text
        job.wait(timeout=60)
        assert job.result["files"]["report.html"] == report.text
        assert "Released: released by the data owner" in pages.get(f"/releases/{job.id}").text

        budget = pages.get("/datasets").text.split('data-testid="budget"')[1].split("</table>")[0]
        assert '<th scope="row">census</th>' in budget
        assert '<td class="number">1</td>' in budget  # spent ε = 1
        assert '<td class="number">3</td>' in budget  # total cap
        assert '<td class="number">2</td>' in budget  # remaining
        assert f"job {job.id} (synthesize): ε = 1, spent" in budget
