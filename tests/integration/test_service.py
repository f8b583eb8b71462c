"""The service end to end: a real hub and real node processes on 127.0.0.1.

Each test starts ``privstats hub`` and ``privstats node run`` processes through
``LocalFederation``, submits jobs as an analyst and checks results against the plaintext
computation, the hub's store against what it may hold, and failures against their reasons.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from privstats.client import Federation, Job
from privstats.data.demo import CoverageDemo, make_coverage_demo
from privstats.data.readers import load_identifiers
from privstats.errors import JobFailedError
from privstats.local_federation import LocalFederation
from privstats.service.manifest import Manifest

PRIVSTATS = [sys.executable, "-m", "privstats"]
MakeAnalyst = Callable[[LocalFederation], Federation]


def _coverage(analyst: Federation, node_timeout: float | None = None) -> Job:
    return analyst.submit_coverage(
        register="nso",
        register_dataset="population",
        source="telco",
        source_dataset="customers",
        key="person_id",
        peer_key="customer_id",
        by=["region"],
        node_timeout=node_timeout,
    )


def _start(
    folder: Path, demo: CoverageDemo, *, approval: str = "auto", node_timeout: float = 5.0
) -> LocalFederation:
    federation = LocalFederation(folder / "fed", node_timeout=node_timeout, poll_seconds=0.2)
    federation.__enter__()
    try:
        federation.add_node(
            "nso", {"population": (demo.register, ["person_id"])}, approval=approval
        )
        federation.add_node(
            "telco", {"customers": (demo.source, ["customer_id"])}, approval=approval
        )
        federation.wait_for_datasets(2)
    except BaseException:
        federation.stop()
        raise
    return federation


@pytest.fixture
def small(tmp_path: Path) -> CoverageDemo:
    return make_coverage_demo(tmp_path / "data", persons=3000, seed=11)


@pytest.fixture
def analyst_of() -> Iterator[MakeAnalyst]:
    opened: list[Federation] = []

    def make(federation: LocalFederation) -> Federation:
        with federation.admin() as admin:
            token = admin.add_token(f"analyst{len(opened)}")
        fed = Federation(federation.url, token)
        opened.append(fed)
        return fed

    yield make
    for fed in opened:
        fed.close()


def _plaintext_coverage(demo: CoverageDemo) -> tuple[int, dict[str, tuple[int, int]]]:
    register = load_identifiers(demo.register, "person_id", by=("region",))
    source = set(load_identifiers(demo.source, "customer_id").ids)
    assert register.domain_codes is not None
    by_region: dict[str, list[int]] = {}
    for ident, code in zip(register.ids, register.domain_codes.tolist(), strict=True):
        counts = by_region.setdefault(register.domain_labels[code][0], [0, 0])
        counts[0] += 1
        counts[1] += ident in source
    matched = sum(ident in source for ident in register.ids)
    return matched, {region: (n, m) for region, (n, m) in by_region.items()}


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRIVSTATS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _sqlite_dump(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump()).encode("utf-8")


def test_coverage_job_equals_the_plaintext_computation_and_the_store_holds_no_data(
    tmp_path: Path,
    small: CoverageDemo,
    analyst_of: callable,  # type: ignore[valid-type]
) -> None:
    federation = _start(tmp_path, small)
    seen_envelopes: list[bytes] = []
    stop = threading.Event()

    def watch_mailboxes() -> None:  # what the hub holds while the job runs
        db_path = federation.hub_dir / "hub.db"
        while not stop.is_set():
            with sqlite3.connect(db_path) as db:
                seen_envelopes.extend(row[0] for row in db.execute("SELECT envelope FROM messages"))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_mailboxes)
    try:
        analyst = analyst_of(federation)
        watcher.start()
        job = _coverage(analyst).wait(120)
        result = job.result
        report = analyst.verify_audit()
    finally:
        stop.set()
        watcher.join()
        federation.stop()
    matched, by_region = _plaintext_coverage(small)
    assert result["matched"] == matched == small.true_matched
    assert result["register_size"] == 3000
    released = {d["by"]["region"]: (d["register_size"], d["matched"]) for d in result["groups"]}
    assert released == by_region
    assert report.ok and report.signatures >= 8
    # the hub's store: no identifier of either input, no relayed plaintext, no envelope left
    dump = _sqlite_dump(federation.hub_dir / "hub.db")
    identifiers = set(load_identifiers(small.register, "person_id").ids)
    identifiers |= set(load_identifiers(small.source, "customer_id").ids)
    leaked = [i for i in identifiers if i.encode() in dump]
    assert not leaked, leaked[:5]
    with sqlite3.connect(federation.hub_dir / "hub.db") as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    assert seen_envelopes, "the watcher never saw an envelope in the hub's mailboxes"
    for envelope in seen_envelopes:
        # plaintext frames carry their message kind; sealed envelopes must not
        assert b"psi." not in envelope and b"coverage.release" not in envelope
        assert not any(i.encode() in envelope for i in list(identifiers)[:500])


def test_rejection_stops_the_job_for_every_party_and_approval_by_hand_runs_it(
    tmp_path: Path,
    small: CoverageDemo,
    analyst_of: callable,  # type: ignore[valid-type]
) -> None:
    federation = _start(tmp_path, small, approval="ask")
    nso = str(federation.folder / "node-nso" / "node.toml")
    telco = str(federation.folder / "node-telco" / "node.toml")
    try:
        analyst = analyst_of(federation)
        rejected = _coverage(analyst)
        assert _cli("node", "approve", rejected.id, "--config", telco).returncode == 0
        proc = _cli("node", "reject", rejected.id, "--reason", "not this quarter", "--config", nso)
        assert proc.returncode == 0, proc.stderr
        with pytest.raises(JobFailedError) as failure:
            rejected.wait(30)
        assert failure.value.state == "rejected" and failure.value.party == "nso"
        assert "not this quarter" in str(failure.value)
        assert all(p["started_at"] is None for p in rejected.refresh().info["parties"])

        approved = _coverage(analyst)
        for config in (nso, telco):
            proc = _cli("node", "approve", approved.id, "--config", config)
            assert proc.returncode == 0, proc.stderr
        assert approved.wait(120).result["matched"] == small.true_matched
    finally:
        federation.stop()


def test_a_manifest_altered_after_approval_is_refused(
    tmp_path: Path,
    small: CoverageDemo,
    analyst_of: callable,  # type: ignore[valid-type]
) -> None:
    federation = _start(tmp_path, small, approval="ask")
    try:
        analyst = analyst_of(federation)
        job = _coverage(analyst)
        telco = str(federation.folder / "node-telco" / "node.toml")
        assert _cli("node", "approve", job.id, "--config", telco).returncode == 0
        # a hub gone bad rewrites the manifest (and its hash) after telco signed it
        with sqlite3.connect(federation.hub_dir / "hub.db") as db:
            (text,) = db.execute("SELECT manifest FROM jobs WHERE id = ?", (job.id,)).fetchone()
            manifest = json.loads(text)
            manifest["parameters"]["confidence"] = 0.5
            altered = Manifest.model_validate(manifest)
            db.execute(
                "UPDATE jobs SET manifest = ?, manifest_hash = ? WHERE id = ?",
                (altered.canonical().decode(), altered.digest(), job.id),
            )
        nso = str(federation.folder / "node-nso" / "node.toml")
        assert _cli("node", "approve", job.id, "--config", nso).returncode == 0
        with pytest.raises(JobFailedError) as failure:
            job.wait(60)
        assert failure.value.party == "telco"
        assert "not the one this node approved" in str(failure.value)
    finally:
        federation.stop()


@pytest.mark.slow
def test_a_node_killed_mid_job_fails_the_job_naming_it(
    tmp_path: Path,
    analyst_of: callable,  # type: ignore[valid-type]
) -> None:
    demo = make_coverage_demo(tmp_path / "data", persons=60_000, seed=5)
    federation = _start(tmp_path, demo, node_timeout=3.0)
    try:
        analyst = analyst_of(federation)
        job = _coverage(analyst)
        deadline = time.monotonic() + 60
        while job.refresh().state not in ("running", "succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert job.state == "running", "the job ended before the node could be killed"
        federation.kill_node("telco")
        with pytest.raises(JobFailedError) as failure:
            job.wait(60)
        assert failure.value.state == "failed" and failure.value.party == "telco"
        assert "telco" in str(failure.value) and "stopped responding" in str(failure.value)
        # the surviving node is not left waiting: it notices the end and keeps serving
        deadline = time.monotonic() + 30
        while f"job {job.id}: failed" not in federation.log("nso"):
            assert time.monotonic() < deadline, federation.log("nso")
            time.sleep(0.2)
        assert federation.nodes["nso"].poll() is None
    finally:
        federation.stop()


def test_a_hub_restarted_mid_job_loses_no_job_approval_or_audit_entry(
    tmp_path: Path,
    small: CoverageDemo,
    analyst_of: callable,  # type: ignore[valid-type]
) -> None:
    federation = _start(tmp_path, small, approval="ask")
    try:
        analyst = analyst_of(federation)
        job = _coverage(analyst)
        telco = str(federation.folder / "node-telco" / "node.toml")
        assert _cli("node", "approve", job.id, "--config", telco).returncode == 0
        before = job.refresh().info
        audit_before = [entry.as_dict() for entry in analyst.audit()]
        federation.kill_hub()
        federation.start_hub()
        after = job.refresh().info
        assert after["state"] == "awaiting_approval"
        assert after["approvals"] == before["approvals"]
        assert [entry.as_dict() for entry in analyst.audit()][: len(audit_before)] == audit_before
        assert analyst.verify_audit().ok
        nso = str(federation.folder / "node-nso" / "node.toml")
        assert _cli("node", "approve", job.id, "--config", nso).returncode == 0
        assert job.wait(120).result["matched"] == small.true_matched
    finally:
        federation.stop()
