"""A node's approval spends the job's privacy budget in its ledger first, states the spend in
the signed approval (the hub's audit entry), and refuses a job over the dataset's total cap —
also after a restart of the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privstats.crypto.keys import NodeKeys, verify
from privstats.errors import ServiceError
from privstats.jobs.kinds import get_kind
from privstats.node.agent import NodeAgent
from privstats.node.approval import approve_and_spend
from privstats.node.config import AllowRule, DatasetConfig, NodeConfig, PolicyConfig
from privstats.node.hub_client import NodeHub
from privstats.node.ledger import node_ledger
from privstats.service.manifest import DatasetUse, Manifest, approval_bytes
from privstats.version import __version__

COLUMNS = ("age", "region")


def config(tmp_path: Path, **policy: Any) -> NodeConfig:
    NodeKeys.generate().save(tmp_path / "keys") if not (tmp_path / "keys").exists() else None
    return NodeConfig(
        name="nso",
        hub="http://127.0.0.1:8700",
        keys=tmp_path / "keys",
        path=tmp_path / "node.toml",
        datasets={"population": DatasetConfig(path=tmp_path / "p.csv", columns=COLUMNS)},
        policy=PolicyConfig(
            approval="auto",
            allow=(AllowRule(kind="synthesize", datasets=("population",)),),
            **policy,
        ),
    )


def mst(epsilon: float) -> Manifest:
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


class RecordingHub:
    """Records decisions; raises ``error`` on the next one when set."""

    def __init__(self) -> None:
        self.decisions: list[tuple[str, str, str]] = []
        self.error: ServiceError | None = None

    def decide(self, job_id: str, manifest_digest: str, decision: str, reason: str) -> None:
        if self.error is not None:
            raise self.error
        self.decisions.append((job_id, decision, reason))


def test_the_approval_states_the_spend(tmp_path: Path) -> None:
    settings = config(tmp_path, max_epsilon_total=2.0)
    hub = RecordingHub()
    ledger = node_ledger(settings.path)
    decision = approve_and_spend(hub, settings, ledger, "a" * 16, mst(0.5), "approved by policy")
    assert decision.action == "approve"
    assert hub.decisions == [
        (
            "a" * 16,
            "approve",
            "approved by policy; budget: dataset 'population' spends ε = 0.5, δ = 1e-09; "
            "spent in all ε 0.5 of 2, δ 1e-09",
        )
    ]


def test_over_the_total_cap_nothing_is_sent_and_the_reason_names_it(tmp_path: Path) -> None:
    settings = config(tmp_path, max_epsilon_total=1.0)
    hub = RecordingHub()
    ledger = node_ledger(settings.path)
    approve_and_spend(hub, settings, ledger, "a" * 16, mst(0.75), "ok")
    decision = approve_and_spend(hub, settings, ledger, "b" * 16, mst(0.5), "ok")
    assert decision.action == "reject"
    assert decision.reason == (
        "dataset 'population' has spent ε = 0.75 of this node's total cap max_epsilon_total = 1 "
        "(set in [policy]); the job would spend ε = 0.5, more than the 0.25 that remains"
    )
    assert len(hub.decisions) == 1


def test_a_dataset_cap_replaces_the_policys(tmp_path: Path) -> None:
    settings = config(tmp_path, max_epsilon_total=10.0)
    dataset = settings.datasets["population"].model_copy(update={"max_epsilon_total": 0.5})
    settings = settings.model_copy(update={"datasets": {"population": dataset}})
    decision = approve_and_spend(
        RecordingHub(), settings, node_ledger(settings.path), "a" * 16, mst(1.0), "ok"
    )
    assert decision.action == "reject"
    assert "max_epsilon_total = 0.5 (set in [datasets.population])" in decision.reason


def test_an_approval_the_hub_refuses_is_refunded(tmp_path: Path) -> None:
    settings = config(tmp_path, max_epsilon_total=1.0)
    hub = RecordingHub()
    ledger = node_ledger(settings.path)
    hub.error = ServiceError("job is rejected, not awaiting approval", status=409)
    with pytest.raises(ServiceError):
        approve_and_spend(hub, settings, ledger, "a" * 16, mst(1.0), "ok")
    assert ledger.spent("population")[0] == 0
    hub.error = ServiceError("the hub could not be reached")  # it may have arrived: kept
    with pytest.raises(ServiceError):
        approve_and_spend(hub, settings, ledger, "b" * 16, mst(1.0), "ok")
    assert ledger.spent("population")[0] == 1


def test_the_signed_approval_covers_the_spend(tmp_path: Path) -> None:
    """What the hub's audit log keeps (the approval payload) carries the spend, signed."""
    settings = config(tmp_path, max_epsilon_total=2.0)
    keys = NodeKeys.load(settings.keys)
    hub = NodeHub(settings.hub, "nso", keys)
    hub.http.close()
    posted: list[dict[str, Any]] = []

    class Http:
        def post(self, path: str, body: dict[str, Any]) -> None:
            posted.append(body)

    hub.http = Http()  # type: ignore[assignment]
    manifest = mst(0.5)
    approve_and_spend(hub, settings, node_ledger(settings.path), "a" * 16, manifest, "ok")
    [body] = posted
    assert "spends ε = 0.5" in body["reason"]
    signed = approval_bytes("a" * 16, manifest.digest(), "approve", body["reason"])
    assert verify(keys.public.sign, signed, bytes.fromhex(body["signature"]))


# ------------------------------------------------------------------- the agent's loop


class ListingHub(RecordingHub):
    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.jobs = jobs

    def active_jobs(self) -> list[dict[str, Any]]:
        return self.jobs

    def close(self) -> None:
        pass


def proposed(job_id: str, manifest: Manifest) -> dict[str, Any]:
    return {
        "id": job_id,
        "kind": manifest.kind,
        "state": "awaiting_approval",
        "submitted_by": "analyst",
        "manifest": manifest.model_dump(mode="json"),
        "manifest_hash": manifest.digest(),
        "approvals": [],
        "parties": [
            {
                "party": "nso",
                "role": "owner",
                "step": None,
                "started_at": None,
                "completed_at": None,
            }
        ],
        "created_at": "2026-12-03T15:00:00+00:00",
        "updated_at": "2026-12-03T15:00:00+00:00",
        "state_times": {"awaiting_approval": "2026-12-03T15:00:00+00:00"},
        "seconds": None,
        "pending_approvals": ["nso"],
        "node_timeout": 60.0,
        "failure": None,
        "result_ready": False,
    }


def agent_with(settings: NodeConfig, jobs: list[dict[str, Any]]) -> tuple[NodeAgent, ListingHub]:
    agent = NodeAgent(settings, say=lambda _text: None)
    agent.hub.close()
    hub = ListingHub(jobs)
    agent.hub = hub  # type: ignore[assignment]
    return agent, hub


def test_the_node_refuses_a_job_over_budget_also_after_a_restart(tmp_path: Path) -> None:
    settings = config(tmp_path, max_epsilon_total=1.0)
    first = proposed("a" * 16, mst(0.6))
    agent, hub = agent_with(settings, [first])
    agent.poll_once()
    assert [d[1] for d in hub.decisions] == ["approve"]

    restarted, hub = agent_with(settings, [proposed("b" * 16, mst(0.6))])  # same folder
    restarted.poll_once()
    [(job_id, action, reason)] = hub.decisions
    assert (job_id, action) == ("b" * 16, "reject")
    assert "has spent ε = 0.6 of this node's total cap max_epsilon_total = 1" in reason

    again, hub = agent_with(settings, [proposed("c" * 16, mst(0.4))])
    again.poll_once()
    assert [d[1] for d in hub.decisions] == ["approve"]  # exactly the rest fits
