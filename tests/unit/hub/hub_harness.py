"""A hub in-process for tests: the FastAPI app over a fresh SQLite store, an admin token,
and helpers that enrol nodes and send their signed requests exactly as a node would."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from privstats.crypto.keys import NodeKeys
from privstats.hub.store import Store
from privstats.service.http import node_signature
from privstats.service.manifest import approval_bytes
from privstats.service.signing import statement_bytes

with warnings.catch_warnings():
    # starlette >= 1.10 prefers the 'httpx2' package for its test client and warns when
    # it falls back to httpx; the fallback works the same for these tests
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["API", "COVERAGE_JOB", "DATASETS", "Hub", "MakeHub", "TestClient"]

API = "/api/v1"

DATASETS: dict[str, dict[str, Any]] = {
    "nso": {
        "name": "population",
        "format": "csv",
        "rows": 1000,
        "columns": [["person_id", "string"], ["region", "string"], ["age", "int64"]],
        "key_columns": ["person_id"],
    },
    "telco": {
        "name": "customers",
        "format": "csv",
        "rows": 800,
        "columns": [["customer_id", "string"]],
        "key_columns": ["customer_id"],
    },
}

COVERAGE_JOB: dict[str, Any] = {
    "kind": "coverage",
    "parameters": {"key": "person_id", "source_key": "customer_id", "by": ["region"]},
    "parties": {"register": "nso", "source": "telco"},
    "datasets": {"register": "population", "source": "customers"},
}


@dataclass
class Hub:
    """One running hub app (lifespan entered), its store and the callers' credentials."""

    client: TestClient
    store: Store
    db_path: Path
    admin_token: str
    keys: dict[str, NodeKeys] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ raw requests

    def as_person(self, token: str, method: str, path: str, body: Any = None) -> httpx.Response:
        response: httpx.Response = self.client.request(
            method,
            API + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        return response

    def as_admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.as_person(self.admin_token, method, path, body)

    def signed_headers(
        self, party: str, method: str, path: str, content: bytes, keys: NodeKeys | None = None
    ) -> dict[str, str]:
        """The headers ``party`` adds to sign one request (``path`` without ``/api/v1``)."""
        return node_signature(party, keys or self.keys[party])(method, API + path, content)

    def as_node(
        self,
        party: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        content: bytes | None = None,
        keys: NodeKeys | None = None,
    ) -> httpx.Response:
        """A request signed by ``party``: a JSON ``body`` or raw ``content`` bytes."""
        headers: dict[str, str] = {}
        if body is not None:
            content = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        content = content if content is not None else b""
        headers.update(self.signed_headers(party, method, path, content, keys))
        response: httpx.Response = self.client.request(
            method, API + path, content=content, headers=headers
        )
        return response

    # ------------------------------------------------------------------ registry

    def invite(self, name: str) -> str:
        response = self.as_admin("POST", "/parties", {"name": name})
        assert response.status_code == 201, response.text
        token: str = response.json()["enrolment_token"]
        return token

    def enrol(
        self, name: str, token: str, keys: NodeKeys, *, signer: NodeKeys | None = None
    ) -> httpx.Response:
        """Enrol ``keys`` as ``name``; the proof of possession is signed by ``signer``."""
        payload = {"name": name, **keys.public.as_hex()}
        signature = (signer or keys).sign(statement_bytes("enrol", payload)).hex()
        response: httpx.Response = self.client.post(
            f"{API}/enrol", json={**payload, "enrolment_token": token, "signature": signature}
        )
        return response

    def add_node(self, name: str) -> NodeKeys:
        keys = NodeKeys.generate()
        response = self.enrol(name, self.invite(name), keys)
        assert response.status_code == 200, response.text
        self.keys[name] = keys
        return keys

    def declare(self, party: str, dataset: dict[str, Any]) -> httpx.Response:
        statement = {"party": party, **dataset}
        signature = self.keys[party].sign(statement_bytes("dataset", statement)).hex()
        return self.as_node(party, "POST", "/datasets", {**dataset, "signature": signature})

    def add_token(self, name: str, role: str = "analyst") -> str:
        response = self.as_admin("POST", "/tokens", {"name": name, "role": role})
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        self.tokens[name] = token
        return token

    def federate(self) -> Hub:
        """Enrol 'nso' and 'telco', declare their datasets, and give 'analyst' a token."""
        for party in ("nso", "telco"):
            self.add_node(party)
            response = self.declare(party, DATASETS[party])
            assert response.status_code == 200, response.text
        self.add_token("analyst")
        return self

    # ------------------------------------------------------------------ jobs

    def submit(self, token: str, **changes: Any) -> httpx.Response:
        return self.as_person(token, "POST", "/jobs", {**COVERAGE_JOB, **changes})

    def decide(
        self,
        party: str,
        job: dict[str, Any],
        decision: str = "approve",
        reason: str = "",
        *,
        manifest_hash: str | None = None,
    ) -> httpx.Response:
        """``party`` signs and sends its decision on ``job`` (as the hub showed it)."""
        digest = manifest_hash or job["manifest_hash"]
        signature = self.keys[party].sign(approval_bytes(job["id"], digest, decision, reason))  # type: ignore[arg-type]
        return self.as_node(
            party,
            "POST",
            f"/jobs/{job['id']}/approval",
            {
                "decision": decision,
                "reason": reason,
                "manifest_hash": digest,
                "signature": signature.hex(),
            },
        )

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.as_admin("GET", f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def approved_job(self, token: str, **changes: Any) -> dict[str, Any]:
        """A coverage job submitted with ``token`` and approved by both parties."""
        response = self.submit(token, **changes)
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        for party in job["manifest"]["parties"].values():
            answer = self.decide(party, job)
            assert answer.status_code == 200, answer.text
        job = self.job(job["id"])
        assert job["state"] == "approved", job
        return job


MakeHub = Callable[..., Hub]
"""``make_hub(settings=None)``: a fresh hub, stopped when the test ends."""
