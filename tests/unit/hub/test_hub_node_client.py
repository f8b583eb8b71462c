"""Contract of the node's hub client with the hub: every signed form ``NodeHub`` builds is
the one the hub checks, through a whole job (declare, decide, start, relay, complete)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hub_harness import Hub

from privstats.errors import AuthenticationError, ServiceError, TransportError
from privstats.node.agent import check_approved_manifest
from privstats.node.hub_client import NodeHub


@pytest.fixture
def nodes(federation: Hub) -> Iterator[dict[str, NodeHub]]:
    """A ``NodeHub`` per party, sending through the in-process hub."""
    clients = {}
    for party, keys in federation.keys.items():
        client = NodeHub("http://127.0.0.1", party, keys, retry_seconds=0)
        client.http._client.close()
        client.http._client = federation.client  # the in-process transport; not closed here
        clients[party] = client
    yield clients


# the mailbox's long poll sets a per-request timeout, which starlette's TestClient ignores
@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
def test_a_whole_job_through_the_node_client(federation: Hub, nodes: dict[str, NodeHub]) -> None:
    hub = federation
    nso, telco = nodes["nso"], nodes["telco"]
    assert nso.declare_dataset("deaths", "csv", 5, [["person_id", "string"]], ["person_id"])
    job_id = hub.submit(hub.tokens["analyst"]).json()["id"]

    [job] = nso.active_jobs()
    for node in (nso, telco):
        node.decide(job_id, job["manifest_hash"], "approve", "approved by policy")
    approved = nso.job(job_id)
    assert approved["state"] == "approved"
    assert check_approved_manifest(approved, "nso", nso.keys) is not None
    assert check_approved_manifest(approved, "telco", telco.keys) is not None

    nso.start(job_id)
    telco.start(job_id)
    assert nso.heartbeat(job_id, "psi") == "running"
    nso.mailbox(job_id).post("telco", 1, b"sealed bytes")
    assert telco.mailbox(job_id).fetch("nso", 0, 0.05) == [(1, b"sealed bytes")]
    assert set(telco.public_keys()) == {"nso", "telco"}
    telco.complete(job_id, "source", {"ignored": True}, release=False)
    nso.complete(job_id, "register", {"coverage": 0.5}, release=True)

    assert hub.job(job_id)["state"] == "succeeded"
    result = hub.as_person(hub.tokens["analyst"], "GET", f"/jobs/{job_id}/result")
    assert result.json() == {"coverage": 0.5}


def test_refusals_reach_the_node_as_errors_with_the_hubs_reason(
    federation: Hub, nodes: dict[str, NodeHub]
) -> None:
    job = federation.submit(federation.tokens["analyst"]).json()
    nodes["nso"].decide(job["id"], job["manifest_hash"], "reject", "no")

    with pytest.raises(ServiceError, match=r"\(409\).*rejected") as caught:
        nodes["telco"].start(job["id"])
    assert caught.value.status == 409
    with pytest.raises(TransportError, match="410") as gone:
        nodes["telco"].mailbox(job["id"]).post("nso", 1, b"x")
    assert gone.value.peer == "nso"


def test_a_node_with_the_wrong_key_is_refused_as_unauthenticated(
    federation: Hub, nodes: dict[str, NodeHub]
) -> None:
    impostor = NodeHub("http://127.0.0.1", "nso", federation.keys["telco"], retry_seconds=0)
    impostor.http._client.close()
    impostor.http._client = federation.client
    with pytest.raises(AuthenticationError, match="does not verify"):
        impostor.active_jobs()
