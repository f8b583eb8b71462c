"""Tests of the hub's watchdog: an approved or running job whose node falls silent fails,
naming that node; nodes that keep in touch keep their job alive."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hub_harness import Hub, MakeHub

from privstats.hub.app import HubSettings
from privstats.hub.context import silence_counted_from

TIMEOUT = 0.5


@pytest.fixture
def watched(make_hub: MakeHub) -> Hub:
    return make_hub(HubSettings(node_timeout=TIMEOUT, watchdog_seconds=0.1)).federate()


def keep_alive(hub: Hub, job: dict[str, Any], parties: tuple[str, ...], seconds: float) -> str:
    """Heartbeat for ``parties`` every 0.1 s until the job ends or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    state: str = job["state"]
    while time.monotonic() < deadline:
        for party in parties:
            response = hub.as_node(party, "POST", f"/jobs/{job['id']}/heartbeat", {"step": "psi"})
            assert response.status_code == 200, response.text
            state = response.json()["state"]
        if state == "failed":
            break
        time.sleep(0.1)
    return state


def test_a_silent_node_fails_its_approved_job(watched: Hub) -> None:
    job = watched.approved_job(watched.tokens["analyst"])

    state = keep_alive(watched, job, ("telco",), seconds=5.0)

    assert state == "failed"
    shown = watched.job(job["id"])
    assert shown["state"] == "failed"
    assert shown["failure"]["party"] == "nso"
    assert "node 'nso' stopped responding" in shown["failure"]["reason"]
    assert f"limit {TIMEOUT:g} s" in shown["failure"]["reason"]
    assert "telco" not in shown["failure"]["reason"]


def test_a_silent_node_fails_its_running_job_naming_its_step(watched: Hub) -> None:
    job = watched.approved_job(watched.tokens["analyst"])
    watched.as_node("nso", "POST", f"/jobs/{job['id']}/start", {})
    watched.as_node("nso", "POST", f"/jobs/{job['id']}/heartbeat", {"step": "psi"})

    keep_alive(watched, job, ("telco",), seconds=5.0)

    failure = watched.job(job["id"])["failure"]
    assert failure["party"] == "nso"
    assert failure["step"] == "psi"
    assert "during step 'psi'" in failure["reason"]


def test_no_job_fails_while_its_nodes_keep_in_touch_or_it_awaits_approval(
    watched: Hub,
) -> None:
    approved = watched.approved_job(watched.tokens["analyst"])
    waiting = watched.submit(watched.tokens["analyst"]).json()

    state = keep_alive(watched, approved, ("nso", "telco"), seconds=2 * TIMEOUT)

    assert state == "approved"
    assert watched.job(approved["id"])["failure"] is None
    assert watched.job(waiting["id"])["state"] == "awaiting_approval"


def test_rounds_on_schedule_keep_counting_from_the_hubs_start() -> None:
    assert silence_counted_from(100.0, 170.0, 171.0, watchdog_seconds=1.0) == 100.0
    assert silence_counted_from(100.0, 170.0, 174.9, watchdog_seconds=1.0) == 100.0


def test_a_stalled_hub_counts_silence_afresh_from_its_wake_up() -> None:
    # 77 s between two rounds scheduled 1 s apart: the hub, not the node, was silent
    assert silence_counted_from(100.0, 170.0, 247.0, watchdog_seconds=1.0) == 247.0
    # the threshold scales with a slow watchdog
    assert silence_counted_from(100.0, 170.0, 215.0, watchdog_seconds=10.0) == 100.0
    assert silence_counted_from(100.0, 170.0, 221.0, watchdog_seconds=10.0) == 221.0
