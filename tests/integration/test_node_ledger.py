"""The owner's ledger through a real hub and nodes (LocalFederation, separate processes).

* Release history: two ``secure_count`` jobs before and after one record is added to a
  node's file. Without the history the two totals give that record away (the difference
  is 1); the node's guard withholds the second total, and ``privstats node releases``
  shows both releases.
* Budget: an MST synthesis spends ε of the dataset at approval; the next job that would
  exceed the node's ``max_epsilon_total`` is rejected with the reason shown to the
  analyst, also after the node is killed and started again; the spend is in the node's
  signed approval in the hub's audit log, and ``privstats node budget`` lists it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from privstats.client import Federation, Job
from privstats.errors import JobFailedError
from privstats.local_federation import LocalFederation


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path / "fed", node_timeout=20.0, poll_seconds=0.2) as federation:
        yield federation


def _write(path: Path, rows: int, prefix: str) -> Path:
    regions = ("North", "South", "East")
    path.write_text(
        "id,region,age\n"
        + "".join(f"{prefix}{i},{regions[i % 3]},{20 + i % 50}\n" for i in range(rows)),
        encoding="utf-8",
    )
    return path


def _analyst(federation: LocalFederation) -> Federation:
    with federation.admin() as admin:
        token = admin.add_token("analyst")
    return Federation(federation.url, token)


def _node_cli(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "privstats", "node", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, object] = json.loads(done.stdout)
    return parsed


def _count(analyst: Federation) -> dict[str, object]:
    job = analyst.submit(
        "secure_count",
        {"min_cell": 10},
        {"party1": "nso", "party2": "telco"},
        {"party1": "records", "party2": "records"},
    )
    return job.wait(timeout=120).result


def test_updated_data_cannot_be_differenced_across_jobs(
    federation: LocalFederation, tmp_path: Path
) -> None:
    mine = _write(tmp_path / "nso.csv", 30, "n")
    config = federation.add_node("nso", {"records": (mine, ["id"])}, allow=("secure_count",))
    theirs = _write(tmp_path / "telco.csv", 20, "t")
    federation.add_node("telco", {"records": (theirs, ["id"])}, allow=("secure_count",))
    federation.wait_for_datasets(2)
    with _analyst(federation) as analyst:
        _counts_before_and_after_one_more_record(analyst, mine)
    releases = _node_cli("releases", "--config", str(config))["releases"]
    assert isinstance(releases, list)
    assert [(r["kind"], r["released"], r["withheld"]) for r in releases] == [
        ("secure_count", 1, 0),
        ("secure_count", 0, 1),
        ("secure_count", 0, 1),
    ]
    assert [cell["count"] for r in releases for cell in r["cells"]] == [50, 51, 51]
    assert "would differ from the total of job" in federation.log("nso")


def _counts_before_and_after_one_more_record(analyst: Federation, mine: Path) -> None:
    first = _count(analyst)
    assert (first["count"], first["suppressed"]) == (50, False)

    with mine.open("a", encoding="utf-8") as handle:  # one person joins the register
        handle.write("n-new,North,44\n")
    second = _count(analyst)
    assert second["suppressed"] is True and second["count"] is None
    assert second["reason"] == "withheld by the release rules of one or more parties"
    third = _count(analyst)  # the same data again: the total is withheld again, not leaked
    assert third["suppressed"] is True


def _synthesis(analyst: Federation, epsilon: float) -> Job:
    return analyst.submit_synthesize(
        owner="nso", dataset="census", columns=["region", "age"], method="mst", epsilon=epsilon
    )


def _decided(job: Job, timeout: float = 120.0) -> Job:
    """Wait until the node has approved (the job moves on) or rejected the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh()
        if job.state != "awaiting_approval":
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} was not decided in time")


def test_the_budget_is_refused_when_exceeded_also_after_a_restart(
    federation: LocalFederation, tmp_path: Path
) -> None:
    census = _write(tmp_path / "census.csv", 120, "p")
    config = federation.add_node(
        "nso", {"census": (census, ["id"])}, allow=("synthesize",), max_epsilon_total=1.0
    )
    federation.wait_for_datasets(1)
    with _analyst(federation) as analyst:
        first, rest = _syntheses_until_the_budget_is_spent(federation, analyst)

    [entry] = _node_cli("budget", "--config", str(config))["datasets"]  # type: ignore[misc]
    assert entry["spent"] == {"epsilon": 1.0, "delta": pytest.approx(2e-9)}
    assert entry["remaining"]["epsilon"] == 0
    assert {spend["job"] for spend in entry["spends"]} == {first.id, rest.id}

    with federation.admin() as admin:
        approvals = [e for e in admin.audit(first.id) if e.action == "node.approved"]
        assert admin.verify_audit().ok
    [approval] = approvals
    assert approval.signer == "nso"
    assert "budget: dataset 'census' spends ε = 0.6" in approval.payload["reason"]


def _syntheses_until_the_budget_is_spent(
    federation: LocalFederation, analyst: Federation
) -> tuple[Job, Job]:
    first = _decided(_synthesis(analyst, 0.6))
    assert first.state in ("approved", "running", "succeeded")

    over = _synthesis(analyst, 0.6)
    with pytest.raises(JobFailedError) as refused:
        over.wait(timeout=120)
    assert "dataset 'census' has spent ε = 0.6 of this node's total cap" in str(refused.value)

    federation.kill_node("nso")  # a crash: the ledger file outlives the process
    federation.start_node("nso")
    again = _synthesis(analyst, 0.6)
    with pytest.raises(JobFailedError, match="max_epsilon_total = 1"):
        again.wait(timeout=120)
    rest = _decided(_synthesis(analyst, 0.4))
    assert rest.state != "rejected"
    return first, rest
