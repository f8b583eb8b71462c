"""Tests of a job's manifest: one digest per content, and approval statements."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from privstats.service.manifest import DatasetUse, Manifest, approval_bytes, approval_payload
from privstats.service.signing import statement_bytes


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
        "code_version": "0.1.0",
    }
    fields.update(changes)
    return Manifest(**fields)


CHANGES: dict[str, dict[str, Any]] = {
    "kind": {"kind": "regression"},
    "parameters": {"parameters": {"key": "person_id", "source_key": "customer_id", "by": ["age"]}},
    "parties": {"parties": {"register": "nso", "source": "bank"}},
    "dataset name": {
        "datasets": {
            "register": DatasetUse(party="nso", dataset="deaths", columns=("person_id", "region")),
            "source": DatasetUse(party="telco", dataset="customers", columns=("customer_id",)),
        }
    },
    "dataset columns": {
        "datasets": {
            "register": DatasetUse(party="nso", dataset="population", columns=("person_id",)),
            "source": DatasetUse(party="telco", dataset="customers", columns=("customer_id",)),
        }
    },
    "recipients": {"recipients": ("analyst", "press")},
    "disclosure": {"disclosure": {"min_cell": 1}},
    "code_version": {"code_version": "0.2.0"},
}


def test_the_digest_is_stable_for_the_same_content() -> None:
    manifest = make_manifest()
    reordered = make_manifest(
        parameters={"by": ["region"], "source_key": "customer_id", "key": "person_id"},
        parties={"source": "telco", "register": "nso"},
    )
    assert manifest.digest() == make_manifest().digest() == reordered.digest()
    assert len(manifest.digest()) == 64


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_the_digest_changes_when_any_field_changes(field: str) -> None:
    assert make_manifest(**CHANGES[field]).digest() != make_manifest().digest()


def test_the_manifest_round_trips_through_its_canonical_json() -> None:
    manifest = make_manifest()
    again = Manifest.model_validate_json(manifest.canonical())
    assert again == manifest
    assert again.digest() == manifest.digest()


def test_a_manifest_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Manifest.model_validate({**make_manifest().model_dump(), "extra": 1})


def test_role_of_names_the_role_or_none() -> None:
    manifest = make_manifest()
    assert manifest.role_of("nso") == "register"
    assert manifest.role_of("telco") == "source"
    assert manifest.role_of("bank") is None


def test_approval_bytes_differ_by_decision_job_manifest_and_reason() -> None:
    digest = make_manifest().digest()
    approve = approval_bytes("job1", digest, "approve", "")
    assert approve != approval_bytes("job1", digest, "reject", "")
    assert approve != approval_bytes("job2", digest, "approve", "")
    assert approve != approval_bytes("job1", "0" * 64, "approve", "")
    assert approve != approval_bytes("job1", digest, "approve", "ok")


def test_approval_bytes_are_the_approval_statement_of_its_payload() -> None:
    payload = approval_payload("job1", "ab" * 32, "reject", "too small")
    assert payload == {
        "job": "job1",
        "manifest": "ab" * 32,
        "decision": "reject",
        "reason": "too small",
    }
    assert approval_bytes("job1", "ab" * 32, "reject", "too small") == statement_bytes(
        "approval", payload
    )
