"""Tests of the analyst's side of a hub job: the result checked against its commitment,
the parties still to approve, and the job's seconds, through ``Federation`` and the CLI."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator

import pytest
from hub_harness import Hub
from test_hub_audit import audit, finished_job, rehash_from
from typer.testing import CliRunner

import privstats.cli.jobs as cli_jobs
from privstats.cli import app
from privstats.client import Federation
from privstats.errors import ServiceError
from privstats.service.canonical import canonical_json, sha256_hex

MakeFederation = Callable[[str], Federation]


@pytest.fixture
def federation_of(federation: Hub) -> Iterator[MakeFederation]:
    """``Federation`` objects for a token, talking to the in-process hub."""

    def make(token: str) -> Federation:
        fed = Federation("http://127.0.0.1", token, retry_seconds=0)
        fed.http._client.close()
        fed.http._client = federation.client  # the in-process transport; not closed here
        fed.http.close = lambda: None  # type: ignore[method-assign]
        return fed

    yield make


def test_a_received_result_is_checked_against_its_signed_commitment(
    federation: Hub, federation_of: MakeFederation
) -> None:
    hub = federation
    result = {"coverage": 0.5, "domains": [{"region": "north", "coverage": 0.5}]}
    job = finished_job(hub, hub.tokens["analyst"], result)
    analyst = federation_of(hub.tokens["analyst"])

    assert analyst.job(job["id"]).result == result

    with sqlite3.connect(hub.db_path) as db:  # the hub (or its database) alters the result
        db.execute(
            "UPDATE results SET result = ? WHERE job_id = ?",
            (json.dumps({**result, "coverage": 0.6}), job["id"]),
        )
    with pytest.raises(ServiceError, match="does not match the commitment"):
        _ = analyst.job(job["id"]).result


def test_the_job_names_the_parties_that_have_not_approved_yet(
    federation: Hub, federation_of: MakeFederation
) -> None:
    hub = federation
    submitted = hub.submit(hub.tokens["analyst"]).json()
    hub.decide("nso", submitted)
    analyst = federation_of(hub.tokens["analyst"])

    job = analyst.job(submitted["id"])
    with pytest.raises(
        ServiceError, match=r"still awaiting_approval \(not yet approved by telco\)"
    ):
        job.wait(timeout=0.0, poll=0.01)

    assert submitted["pending_approvals"] == ["nso", "telco"]
    assert job.info["pending_approvals"] == ["telco"]
    hub.decide("telco", submitted)
    assert analyst.job(submitted["id"]).info["pending_approvals"] == []


def test_job_show_and_job_wait_say_who_has_not_approved_and_results_carry_seconds(
    federation: Hub, federation_of: MakeFederation, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = federation
    token = hub.tokens["analyst"]
    pending = hub.submit(token).json()
    done = finished_job(hub, token, {"coverage": 0.5})
    monkeypatch.setattr(cli_jobs, "connect", lambda *_args: federation_of(token))
    runner = CliRunner()

    shown = runner.invoke(app, ["job", "show", pending["id"]])
    waited = runner.invoke(app, ["job", "wait", pending["id"], "--timeout", "0"])
    result = runner.invoke(app, ["job", "wait", done["id"], "--json"])

    assert shown.exit_code == 0, shown.output
    assert "not yet approved by: nso, telco" in shown.output
    assert waited.exit_code == 2
    assert "not yet approved by nso, telco" in waited.output
    assert result.exit_code == 0, result.output
    released = json.loads(result.stdout)
    info = hub.job(done["id"])
    assert released["seconds"] == info["seconds"]
    assert isinstance(info["seconds"], float) and info["seconds"] >= 0
    assert hub.job(pending["id"])["seconds"] is None


@pytest.mark.parametrize("faithful", [True, False])
def test_a_result_released_before_salted_commitments_is_checked_by_its_plain_hash(
    federation: Hub, federation_of: MakeFederation, faithful: bool
) -> None:
    hub = federation
    result = {"coverage": 0.5}
    job = finished_job(hub, hub.tokens["analyst"], result)
    released = next(
        e for e in audit(hub) if e.action == "result.released" and e.job_id == job["id"]
    )
    recorded = result if faithful else {"coverage": 0.6}
    legacy = {  # what a hub before migration 0002 wrote
        "job": job["id"],
        "recipients": released.payload["recipients"],
        "result_sha256": sha256_hex(canonical_json(recorded)),
    }
    with sqlite3.connect(hub.db_path) as db:
        db.execute("UPDATE results SET salt = NULL WHERE job_id = ?", (job["id"],))
        db.execute(
            "UPDATE audit SET payload = ? WHERE seq = ?",
            (canonical_json(legacy).decode("utf-8"), released.seq),
        )
    rehash_from(hub.db_path, released.seq)
    analyst = federation_of(hub.tokens["analyst"])

    if faithful:
        assert analyst.job(job["id"]).result == result
    else:
        with pytest.raises(ServiceError, match="does not match the commitment"):
            _ = analyst.job(job["id"]).result
