"""Tests of who may call the hub: admin and analyst tokens, enrolment, signed node requests."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from pathlib import Path

import pytest
from hub_harness import API, COVERAGE_JOB, DATASETS, Hub, MakeHub

from privstats.crypto.keys import NodeKeys
from privstats.hub.app import HubSettings
from privstats.service.signing import (
    HEADER_NONCE,
    HEADER_PARTY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    request_bytes,
)


def database_bytes(db_path: Path) -> bytes:
    """Every byte the store keeps on disk: the database and its WAL/SHM side files."""
    return b"".join(
        path.read_bytes()
        for path in sorted(db_path.parent.iterdir())
        if path.name.startswith(db_path.name)
    )


def database_values(db_path: Path) -> list[str]:
    """Every value of every table, as text."""
    with sqlite3.connect(db_path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [
            str(value)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')
            for value in row
        ]


# --------------------------------------------------------------------------- tokens


def test_tokens_are_stored_only_as_their_sha256(hub: Hub) -> None:
    enrolment = hub.invite("nso")
    analyst = hub.add_token("analyst")
    assert hub.as_admin("GET", "/parties").status_code == 200

    on_disk = database_bytes(hub.db_path)
    values = database_values(hub.db_path)

    for token in (hub.admin_token, enrolment, analyst):
        assert token.encode() not in on_disk
        assert not any(token in value for value in values)
    stored = set(values)
    for token in (hub.admin_token, analyst, enrolment):
        assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_the_admin_token_file_is_readable_by_its_owner_only(hub: Hub) -> None:
    path = hub.db_path.parent / "admin.token"
    assert path.stat().st_mode & 0o077 == 0


def test_a_request_without_or_with_a_wrong_token_is_refused(hub: Hub) -> None:
    assert hub.client.get(f"{API}/parties").status_code == 401
    response = hub.as_person("not-a-token", "GET", "/parties")
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


def test_an_analyst_cannot_add_parties_or_tokens(hub: Hub) -> None:
    analyst = hub.add_token("analyst")
    response = hub.as_person(analyst, "POST", "/parties", {"name": "nso"})
    assert response.status_code == 403
    assert "needs role admin" in response.json()["detail"]
    assert hub.as_person(analyst, "POST", "/tokens", {"name": "x"}).status_code == 403
    assert hub.as_admin("GET", "/parties").json() == []


def test_a_party_or_token_name_is_given_once(hub: Hub) -> None:
    hub.invite("nso")
    assert hub.as_admin("POST", "/parties", {"name": "nso"}).status_code == 409
    hub.add_token("analyst")
    assert hub.as_admin("POST", "/tokens", {"name": "analyst"}).status_code == 409


# --------------------------------------------------------------------------- enrolment


def test_an_enrolment_token_works_once(hub: Hub) -> None:
    token, keys = hub.invite("nso"), NodeKeys.generate()
    first = hub.enrol("nso", token, keys)
    assert first.status_code == 200, first.text

    again = hub.enrol("nso", token, keys)
    other = hub.enrol("nso", token, NodeKeys.generate())

    assert again.status_code == other.status_code == 401
    assert "used already" in again.json()["detail"]
    [party] = hub.as_admin("GET", "/parties").json()
    assert party["sign_key"] == keys.public.sign.hex()
    assert party["box_key"] == keys.public.box.hex()


def test_an_enrolment_must_be_signed_by_the_key_it_enrols(hub: Hub) -> None:
    token, keys = hub.invite("nso"), NodeKeys.generate()

    forged = hub.enrol("nso", token, keys, signer=NodeKeys.generate())

    assert forged.status_code == 401
    assert "not signed with the key it enrols" in forged.json()["detail"]
    assert hub.as_admin("GET", "/parties").json()[0]["sign_key"] is None
    # the refused attempt did not use the token up
    assert hub.enrol("nso", token, keys).status_code == 200


def test_an_enrolment_needs_the_partys_own_token(hub: Hub) -> None:
    token = hub.invite("nso")
    hub.invite("telco")
    assert hub.enrol("telco", token, NodeKeys.generate()).status_code == 401
    assert hub.enrol("bank", token, NodeKeys.generate()).status_code == 401


def test_an_expired_enrolment_token_is_refused(make_hub: MakeHub) -> None:
    hub = make_hub(HubSettings(enrolment_ttl=0.0))
    response = hub.enrol("nso", hub.invite("nso"), NodeKeys.generate())
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


# --------------------------------------------------------------------------- signed requests


def test_a_signed_node_request_is_accepted(shared_federation: Hub) -> None:
    response = shared_federation.as_node("nso", "GET", "/jobs?active=true")
    assert response.status_code == 200, response.text
    assert response.json() == []


def test_a_replayed_request_is_refused(shared_federation: Hub) -> None:
    headers = shared_federation.signed_headers("nso", "GET", "/parties", b"")
    first = shared_federation.client.get(f"{API}/parties", headers=headers)
    assert first.status_code == 200

    replay = shared_federation.client.get(f"{API}/parties", headers=headers)

    assert replay.status_code == 401
    assert "replayed" in replay.json()["detail"]


def test_a_used_nonce_is_refused_even_in_a_freshly_signed_request(shared_federation: Hub) -> None:
    keys = shared_federation.keys["nso"]
    nonce = secrets.token_hex(16)
    statuses = []
    for path in ("/parties", "/datasets"):
        timestamp = f"{time.time():.3f}"
        signature = keys.sign(request_bytes("GET", API + path, b"", timestamp, nonce, "nso"))
        headers = {
            HEADER_PARTY: "nso",
            HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature.hex(),
        }
        statuses.append(shared_federation.client.get(API + path, headers=headers).status_code)
    assert statuses == [200, 401]


def test_a_request_ten_minutes_off_the_hubs_clock_is_refused(shared_federation: Hub) -> None:
    keys = shared_federation.keys["nso"]
    for offset in (-600, 600):
        timestamp = f"{time.time() + offset:.3f}"
        nonce = secrets.token_hex(16)
        signature = keys.sign(request_bytes("GET", f"{API}/parties", b"", timestamp, nonce, "nso"))
        response = shared_federation.client.get(
            f"{API}/parties",
            headers={
                HEADER_PARTY: "nso",
                HEADER_TIMESTAMP: timestamp,
                HEADER_NONCE: nonce,
                HEADER_SIGNATURE: signature.hex(),
            },
        )
        assert response.status_code == 401, offset
        assert "off the hub's clock" in response.json()["detail"]


@pytest.mark.parametrize(
    "timestamp",
    [
        "inf",
        "-inf",
        "nan",
    ],
)
def test_a_timestamp_that_is_not_a_finite_number_is_refused(
    shared_federation: Hub, timestamp: str
) -> None:
    keys = shared_federation.keys["nso"]
    nonce = secrets.token_hex(16)
    signature = keys.sign(request_bytes("GET", f"{API}/parties", b"", timestamp, nonce, "nso"))
    response = shared_federation.client.get(
        f"{API}/parties",
        headers={
            HEADER_PARTY: "nso",
            HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature.hex(),
        },
    )
    assert response.status_code == 401


def test_a_body_altered_after_signing_is_refused(shared_federation: Hub) -> None:
    hub = shared_federation
    body = {**DATASETS["nso"], "signature": "00" * 64}
    signed = json.dumps(body).encode()
    altered = json.dumps({**body, "rows": 1}).encode()
    headers = hub.signed_headers("nso", "POST", "/datasets", signed)
    headers["Content-Type"] = "application/json"

    response = hub.client.post(f"{API}/datasets", content=altered, headers=headers)

    assert response.status_code == 401
    assert "does not verify" in response.json()["detail"]


def test_a_request_sent_to_another_path_or_query_is_refused(shared_federation: Hub) -> None:
    hub = shared_federation
    for signed_path, sent_path in (("/parties", "/datasets"), ("/jobs?active=true", "/jobs")):
        headers = hub.signed_headers("nso", "GET", signed_path, b"")
        assert hub.client.get(API + sent_path, headers=headers).status_code == 401


def test_a_request_signed_with_another_key_is_refused(shared_federation: Hub) -> None:
    response = shared_federation.as_node(
        "nso", "GET", "/parties", keys=shared_federation.keys["telco"]
    )
    assert response.status_code == 401
    assert "signature of 'nso' does not verify" in response.json()["detail"]


def test_a_request_of_an_unknown_party_is_refused(shared_federation: Hub) -> None:
    response = shared_federation.as_node("ghost", "GET", "/parties", keys=NodeKeys.generate())
    assert response.status_code == 401
    assert "'ghost' is not enrolled" in response.json()["detail"]


def test_an_invited_but_not_enrolled_party_cannot_sign(federation: Hub) -> None:
    federation.invite("bank")
    response = federation.as_node("bank", "GET", "/parties", keys=NodeKeys.generate())
    assert response.status_code == 401


def test_a_signed_request_with_missing_or_malformed_headers_is_refused(
    shared_federation: Hub,
) -> None:
    headers = shared_federation.signed_headers("nso", "GET", "/parties", b"")
    missing = {k: v for k, v in headers.items() if k != HEADER_NONCE}
    malformed = {**headers, HEADER_SIGNATURE: "zz"}
    for bad in (missing, malformed):
        assert shared_federation.client.get(f"{API}/parties", headers=bad).status_code == 401


def test_a_node_may_not_do_what_people_do(shared_federation: Hub) -> None:
    response = shared_federation.as_node("nso", "POST", "/parties", {"name": "bank"})
    assert response.status_code == 403
    assert shared_federation.as_node("nso", "POST", "/jobs", COVERAGE_JOB).status_code == 403


# --------------------------------------------------------------------------- datasets


def test_a_dataset_declaration_must_be_signed_by_the_node(shared_federation: Hub) -> None:
    hub = shared_federation
    dataset = {**DATASETS["nso"], "name": "deaths"}
    forged = hub.as_node("nso", "POST", "/datasets", {**dataset, "signature": "00" * 64})
    assert forged.status_code == 401
    assert "dataset statement is not signed by 'nso'" in forged.json()["detail"]


def test_a_dataset_declared_twice_unchanged_is_not_recorded_again(federation: Hub) -> None:
    hub = federation
    assert hub.declare("nso", DATASETS["nso"]).json()["changed"] is False
    changed = hub.declare("nso", {**DATASETS["nso"], "rows": 1001})
    assert changed.json()["changed"] is True
    [declared] = [d for d in hub.as_admin("GET", "/datasets").json() if d["party"] == "nso"]
    assert declared["rows"] == 1001
    assert declared["columns"] == DATASETS["nso"]["columns"]
