"""Tests of what a node checks in a job the hub hands it (``privstats.node.agent``).

``decide`` rebuilds the manifest and its hash before the policy sees it;
``check_approved_manifest`` refuses to run a job whose manifest is not the one the node
signed. (Kept here, beside the manifest and signing tests, because both only check the
service's signed forms; the agent's loop is tested end to end.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privstats import __version__
from privstats.crypto.keys import NodeKeys
from privstats.node.agent import check_approved_manifest, decide
from privstats.node.config import AllowRule, DatasetConfig, NodeConfig, PolicyConfig
from privstats.service.manifest import DatasetUse, Manifest, approval_bytes

KEYS = NodeKeys.generate()
AT = "2026-01-01T00:00:00.000000Z"


def make_manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "kind": "coverage",
        "parameters": {"key": "person_id", "source_key": "customer_id", "by": ["region"]},
        "parties": {"register": "nso", "source": "telco"},
        "datasets": {
            "register": DatasetUse(
                party="nso", dataset="population", columns=("person_id", "region")
            ),
            "source": DatasetUse(party="telco", dataset="customers", columns=("customer_id",)),
        },
        "recipients": ("analyst",),
        "disclosure": {"min_cell": 10},
        "code_version": __version__,
    }
    fields.update(changes)
    return Manifest(**fields)


def job_of(manifest: Manifest, *, job_id: str = "job1", approvals: Any = ()) -> dict[str, Any]:
    """A job as the hub's API shows it (every field of a ``JobView``)."""
    return {
        "id": job_id,
        "kind": manifest.kind,
        "state": "approved",
        "manifest": manifest.model_dump(mode="json"),
        "manifest_hash": manifest.digest(),
        "submitted_by": "analyst",
        "created_at": AT,
        "updated_at": AT,
        "state_times": {"proposed": AT, "awaiting_approval": AT, "approved": AT},
        "seconds": None,
        "pending_approvals": [],
        "node_timeout": 60.0,
        "failure": None,
        "parties": [
            {"party": party, "role": role, "step": None, "started_at": None, "completed_at": None}
            for role, party in manifest.parties.items()
        ],
        "approvals": list(approvals),
        "result_ready": False,
    }


def approval(
    manifest: Manifest,
    *,
    party: str = "nso",
    job_id: str = "job1",
    decision: str = "approve",
    reason: str = "approved by policy",
    keys: NodeKeys = KEYS,
) -> dict[str, Any]:
    signature = keys.sign(approval_bytes(job_id, manifest.digest(), decision, reason))  # type: ignore[arg-type]
    return {
        "party": party,
        "decision": decision,
        "reason": reason,
        "manifest_hash": manifest.digest(),
        "signature": signature.hex(),
        "at": AT,
    }


def config() -> NodeConfig:
    return NodeConfig(
        name="nso",
        hub="http://127.0.0.1:8700",
        path=Path("node.toml"),
        datasets={
            "population": DatasetConfig(
                path=Path("register.csv"),
                format="csv",
                key_columns=("person_id",),
                columns=("person_id", "region"),
            )
        },
        policy=PolicyConfig(
            approval="auto",
            recipients=("analyst",),
            allow=(AllowRule(kind="coverage", datasets=("population",)),),
        ),
    )


# --------------------------------------------------------------------------- after approval


def test_the_approved_manifest_is_returned_unaltered() -> None:
    manifest = make_manifest()
    job = job_of(manifest, approvals=[approval(manifest, party="telco"), approval(manifest)])
    assert check_approved_manifest(job, "nso", KEYS) == manifest


@pytest.mark.parametrize(
    "changes",
    [
        {"parameters": {"key": "person_id", "source_key": "customer_id", "by": ["age"]}},
        {"recipients": ("analyst", "press")},
        {"disclosure": {"min_cell": 1}},
        {"parties": {"register": "nso", "source": "bank"}},
    ],
    ids=["parameters", "recipients", "disclosure", "parties"],
)
def test_a_manifest_altered_after_approval_is_refused(changes: dict[str, Any]) -> None:
    approved = make_manifest()
    altered = make_manifest(**changes)
    # the hub (or anyone in between) even brings the hash in line with the new manifest
    job = job_of(altered, approvals=[approval(approved)])
    assert check_approved_manifest(job, "nso", KEYS) is None


def test_an_approval_of_another_job_is_refused() -> None:
    manifest = make_manifest()
    job = job_of(manifest, job_id="job2", approvals=[approval(manifest, job_id="job1")])
    assert check_approved_manifest(job, "nso", KEYS) is None


def test_an_approval_signed_by_another_key_is_refused() -> None:
    manifest = make_manifest()
    job = job_of(manifest, approvals=[approval(manifest, keys=NodeKeys.generate())])
    assert check_approved_manifest(job, "nso", KEYS) is None


def test_an_approval_whose_reason_was_altered_is_refused() -> None:
    manifest = make_manifest()
    job = job_of(manifest, approvals=[{**approval(manifest), "reason": "changed"}])
    assert check_approved_manifest(job, "nso", KEYS) is None


@pytest.mark.parametrize(
    "approvals",
    [
        [],
        [approval(make_manifest(), party="telco")],
        [approval(make_manifest(), decision="reject")],
        [{**approval(make_manifest()), "signature": "not hex"}],
    ],
    ids=["none", "another party's only", "a rejection", "signature not hex"],
)
def test_without_an_approval_of_this_node_nothing_runs(approvals: list[dict[str, Any]]) -> None:
    assert (
        check_approved_manifest(job_of(make_manifest(), approvals=approvals), "nso", KEYS) is None
    )


def test_a_malformed_manifest_after_approval_is_refused() -> None:
    manifest = make_manifest()
    job = {**job_of(manifest, approvals=[approval(manifest)]), "manifest": {"kind": "coverage"}}
    assert check_approved_manifest(job, "nso", KEYS) is None


def test_a_job_not_shaped_as_the_hubs_view_is_refused() -> None:
    manifest = make_manifest()
    job = job_of(manifest, approvals=[approval(manifest)])
    del job["parties"]
    assert check_approved_manifest(job, "nso", KEYS) is None


# --------------------------------------------------------------------------- before approval


def test_a_job_within_policy_is_approved_with_its_rebuilt_manifest() -> None:
    manifest = make_manifest()
    rebuilt, decision = decide(job_of(manifest), config())
    assert decision.action == "approve", decision
    assert rebuilt == manifest


def test_a_manifest_that_does_not_match_the_hubs_hash_is_rejected() -> None:
    job = {**job_of(make_manifest()), "manifest_hash": make_manifest(recipients=("x",)).digest()}
    rebuilt, decision = decide(job, config())
    assert rebuilt == make_manifest()
    assert decision.action == "reject"
    assert "hash does not match" in decision.reason


def test_a_malformed_manifest_is_rejected() -> None:
    job = {**job_of(make_manifest()), "manifest": {"kind": "coverage"}}
    rebuilt, decision = decide(job, config())
    assert rebuilt is None
    assert decision.action == "reject"
    assert "malformed" in decision.reason


def test_a_job_of_an_unknown_kind_is_rejected_naming_it() -> None:
    rebuilt, decision = decide(job_of(make_manifest(kind="regression")), config())
    assert rebuilt == make_manifest(kind="regression")
    assert decision.action == "reject"
    assert "'regression'" in decision.reason


def test_a_job_made_for_another_privstats_version_is_rejected() -> None:
    major, minor, *_ = __version__.split(".")
    other = f"{major}.{int(minor) + 1}.0"
    _rebuilt, decision = decide(job_of(make_manifest(code_version=other)), config())
    assert decision.action == "reject"
    assert f"made for privstats {other}" in decision.reason


def test_columns_not_matching_the_parameters_are_rejected() -> None:
    manifest = make_manifest(
        datasets={
            "register": DatasetUse(party="nso", dataset="population", columns=("person_id",)),
            "source": DatasetUse(party="telco", dataset="customers", columns=("customer_id",)),
        }
    )
    _rebuilt, decision = decide(job_of(manifest), config())
    assert decision.action == "reject"
    assert "differ from those its parameters need" in decision.reason
