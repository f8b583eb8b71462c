"""Tests of the hub's relay: opaque envelopes between the parties of a running job, with
size limits, membership checks, long polls, and nothing kept once the job ends."""

from __future__ import annotations

import time
from typing import Any

import msgpack
import pytest
from hub_harness import Hub, MakeHub
from sqlalchemy import func, select

from privstats.hub.app import HubSettings
from privstats.hub.store import RelayMessage

LIMIT = 1024


@pytest.fixture(scope="module")
def relay_hub(make_module_hub: MakeHub) -> Hub:
    """A federation whose envelopes may hold ``LIMIT`` bytes, and 'bank', outside its jobs."""
    hub = make_module_hub(HubSettings(max_envelope_bytes=LIMIT)).federate()
    hub.add_node("bank")
    return hub


@pytest.fixture
def relay(relay_hub: Hub) -> tuple[Hub, dict[str, Any]]:
    """The relay's hub and an approved job of this test's own."""
    return relay_hub, relay_hub.approved_job(relay_hub.tokens["analyst"])


def post(hub: Hub, sender: str, job: dict[str, Any], to: str, seq: int, envelope: bytes) -> Any:
    return hub.as_node(
        sender, "POST", f"/jobs/{job['id']}/messages?to={to}&seq={seq}", content=envelope
    )


def fetch(
    hub: Hub, recipient: str, job: dict[str, Any], sender: str, after: int = 0, wait: float = 0.05
) -> Any:
    return hub.as_node(
        recipient,
        "GET",
        f"/jobs/{job['id']}/messages?sender={sender}&after={after}&wait={wait}",
    )


def envelopes(response: Any) -> list[tuple[int, bytes]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/msgpack"
    return [(seq, bytes(body)) for seq, body in msgpack.unpackb(response.content)]


def stored(hub: Hub, job: dict[str, Any]) -> int:
    """How many envelopes of ``job`` the hub keeps."""
    query = select(func.count()).where(RelayMessage.job_id == job["id"])
    with hub.store.read() as session:
        return int(session.scalar(query) or 0)


def test_envelopes_travel_between_the_parties_unchanged(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    opaque = [bytes(range(256)), b"\x00" * LIMIT, b""]

    for seq, envelope in enumerate(opaque, start=1):
        response = post(hub, "nso", job, "telco", seq, envelope)
        assert response.status_code == 201, response.text
        assert response.json() == {"seq": seq}
    reply = post(hub, "telco", job, "nso", 1, b"reply")

    assert reply.status_code == 201
    assert envelopes(fetch(hub, "telco", job, "nso")) == list(enumerate(opaque, start=1))
    assert envelopes(fetch(hub, "telco", job, "nso", after=2)) == [(3, b"")]
    assert envelopes(fetch(hub, "nso", job, "telco")) == [(1, b"reply")]
    assert envelopes(fetch(hub, "nso", job, "nso")) == []


def test_fetched_envelopes_are_deleted_once_acknowledged(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    post(hub, "nso", job, "telco", 1, b"one")
    post(hub, "nso", job, "telco", 2, b"two")

    envelopes(fetch(hub, "telco", job, "nso", after=1))  # acknowledges seq 1

    assert stored(hub, job) == 1
    assert envelopes(fetch(hub, "telco", job, "nso", after=2)) == []
    assert stored(hub, job) == 0


def test_an_envelope_sent_twice_is_kept_once(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    assert post(hub, "nso", job, "telco", 1, b"one").status_code == 201
    assert post(hub, "nso", job, "telco", 1, b"one").status_code == 201
    assert envelopes(fetch(hub, "telco", job, "nso")) == [(1, b"one")]


def test_a_long_poll_waits_then_returns_nothing(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    began = time.monotonic()
    assert envelopes(fetch(hub, "telco", job, "nso", wait=0.2)) == []
    assert time.monotonic() - began >= 0.15


def test_an_envelope_over_the_limit_is_refused(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    response = post(hub, "nso", job, "telco", 1, b"\x01" * (LIMIT + 1))
    assert response.status_code == 413
    assert f"exceeds {LIMIT}" in response.json()["detail"]
    assert stored(hub, job) == 0


def test_a_node_outside_the_job_cannot_post_or_fetch(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    post(hub, "nso", job, "telco", 1, b"for telco only")

    posted = post(hub, "bank", job, "telco", 1, b"spam")
    fetched = fetch(hub, "bank", job, "nso")

    assert posted.status_code == fetched.status_code == 403
    assert "'bank' is not a party of job" in posted.json()["detail"]
    assert stored(hub, job) == 1


@pytest.mark.parametrize("to", ["nso", "bank", "ghost"])
def test_envelopes_go_only_to_another_party_of_the_job(
    relay: tuple[Hub, dict[str, Any]], to: str
) -> None:
    hub, job = relay
    response = post(hub, "nso", job, to, 1, b"x")
    assert response.status_code == 422
    assert f"{to!r} is not another party" in response.json()["detail"]


def test_people_cannot_use_the_relay(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    response = hub.client.post(
        f"/api/v1/jobs/{job['id']}/messages?to=telco&seq=1",
        content=b"x",
        headers={"Authorization": f"Bearer {hub.admin_token}"},
    )
    assert response.status_code == 403


def test_mailboxes_open_only_after_approval(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, _approved = relay
    waiting = hub.submit(hub.tokens["analyst"]).json()
    response = post(hub, "nso", waiting, "telco", 1, b"early")
    assert response.status_code == 409
    assert "mailboxes are not open" in response.json()["detail"]


def test_envelopes_are_deleted_when_the_job_ends(relay: tuple[Hub, dict[str, Any]]) -> None:
    hub, job = relay
    post(hub, "nso", job, "telco", 1, b"one")
    post(hub, "telco", job, "nso", 1, b"two")
    assert stored(hub, job) == 2

    hub.as_node("telco", "POST", f"/jobs/{job['id']}/fail", {"reason": "stopped"})

    assert stored(hub, job) == 0
    gone = fetch(hub, "telco", job, "nso")
    assert gone.status_code == 410
    assert "stopped" in gone.json()["detail"]
