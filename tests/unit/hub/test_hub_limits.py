"""Tests of the hub's limits on what a caller may send: body sizes before authentication,
length and pattern limits on names and texts, and a mailbox quota that reads no envelope."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgpack
import pytest
from hub_harness import API, DATASETS, Hub, MakeHub
from sqlalchemy import event

from privstats.crypto.keys import NodeKeys
from privstats.errors import ParameterError, TransportError
from privstats.hub.app import HubSettings
from privstats.node.hub_client import NodeHub, parse_batch

LIMIT = 64 * 1024
RESULT_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def limited(make_module_hub: MakeHub) -> Hub:
    """A federation whose bodies may hold ``LIMIT`` bytes (completions ``RESULT_LIMIT``)."""
    settings = HubSettings(
        max_envelope_bytes=LIMIT // 2,
        max_body_bytes=LIMIT,
        max_result_bytes=RESULT_LIMIT,
        max_mailbox_bytes=3 * 1000,
    )
    return make_module_hub(settings).federate()


def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """``total`` bytes in pieces, sent chunked (no Content-Length)."""
    while total > 0:
        yield b"\0" * min(size, total)
        total -= size


# --------------------------------------------------------------------------- body sizes


def test_an_unauthenticated_body_over_the_limit_is_refused_with_413(limited: Hub) -> None:
    response = limited.client.post(f"{API}/jobs/x/messages?to=a&seq=1", content=b"\0" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert f"at most {LIMIT} bytes" in response.json()["detail"]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(limited: Hub) -> None:
    refused = limited.client.post(f"{API}/jobs/x/messages?to=a&seq=1", content=chunks(LIMIT + 8192))
    within = limited.client.post(f"{API}/jobs/x/messages?to=a&seq=1", content=chunks(LIMIT))

    assert refused.status_code == 413
    assert "request body too large" in refused.json()["detail"]
    assert within.status_code == 401  # read in full, then refused for want of credentials


def test_a_json_body_over_the_limit_is_refused_before_its_token_is_checked(limited: Hub) -> None:
    body = {"name": "x", "description": "d" * LIMIT}
    response = limited.client.post(f"{API}/parties", json=body)
    assert response.status_code == 413


def test_completions_carry_results_up_to_their_own_larger_limit(limited: Hub) -> None:
    between = limited.client.post(f"{API}/jobs/x/complete", content=b"\0" * (2 * LIMIT))
    over = limited.client.post(f"{API}/jobs/x/complete", content=b"\0" * (RESULT_LIMIT + 1))

    assert between.status_code == 401
    assert over.status_code == 413


def test_a_body_limit_below_the_envelope_limit_is_refused() -> None:
    with pytest.raises(ParameterError, match="max_body_bytes"):
        HubSettings(max_envelope_bytes=2048, max_body_bytes=1024)
    assert HubSettings().body_limit == HubSettings().max_envelope_bytes + 4 * 1024 * 1024


# --------------------------------------------------------------------------- names and texts


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rows": 2**70}, "rows"),
        ({"rows": -1}, "rows"),
        ({"format": "csv\nforged line"}, "format"),
        ({"format": "x" * 17}, "format"),
        ({"columns": [["person\nid", "string"]]}, "columns"),
        ({"columns": [["c" * 129, "string"]]}, "columns"),
        ({"columns": [["", "string"]]}, "columns"),
        ({"key_columns": ["k" * 129]}, "key_columns"),
    ],
)
def test_a_dataset_declaration_out_of_bounds_is_a_422_naming_the_field(
    limited: Hub, change: dict[str, Any], field: str
) -> None:
    response = limited.as_node("nso", "POST", "/datasets", {**DATASETS["nso"], **change})

    assert response.status_code == 422, response.text
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}


def test_party_descriptions_and_recipients_have_limits(limited: Hub) -> None:
    analyst = limited.tokens["analyst"]
    long_description = limited.as_admin("POST", "/parties", {"name": "p", "description": "d" * 501})
    newline = limited.as_admin("POST", "/parties", {"name": "p", "description": "a\nb"})
    bad_recipient = limited.submit(analyst, recipients=["Robert'); DROP TABLE jobs;--"])
    too_many = limited.submit(analyst, recipients=[f"r{i}" for i in range(101)])
    none = limited.submit(analyst, recipients=[])

    for response in (long_description, newline, bad_recipient, too_many, none):
        assert response.status_code == 422, response.text


# --------------------------------------------------------------------------- mailbox quota


def test_the_mailbox_quota_is_summed_in_sql_without_loading_envelopes(limited: Hub) -> None:
    hub = limited
    job = hub.approved_job(hub.tokens["analyst"])
    path = f"/jobs/{job['id']}/messages?to=telco&seq="
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(hub.store.engine, "before_cursor_execute", record)
    try:
        answers = [
            hub.as_node("nso", "POST", f"{path}{seq}", content=b"\1" * 1000) for seq in (1, 2, 3)
        ]
        full = hub.as_node("nso", "POST", f"{path}4", content=b"\1")
    finally:
        event.remove(hub.store.engine, "before_cursor_execute", record)

    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert full.status_code == 507
    assert "mailboxes are full" in full.json()["detail"]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert any("sum(length(messages.envelope))" in s for s in reads), reads
    assert not any("messages.envelope" in s.replace("length(messages.envelope)", "") for s in reads)


# --------------------------------------------------------------------------- node side


def test_the_node_accepts_only_sequence_numbers_and_envelope_bytes() -> None:
    good = msgpack.packb([[1, b"sealed"], [2, b""]])
    assert parse_batch(good, "nso") == [(1, b"sealed"), (2, b"")]
    for bad in (
        [[1, 10**6]],  # an integer for an envelope: bytes(n) would allocate n bytes
        [[1, "text"]],
        [[0, b"x"]],
        [[True, b"x"]],
        [[1, b"x", 3]],
        {"1": b"x"},
    ):
        with pytest.raises(TransportError, match="malformed batch"):
            parse_batch(msgpack.packb(bad), "nso")
    with pytest.raises(TransportError, match="malformed batch"):
        parse_batch(b"\xc1", "nso")


def test_a_node_told_429_pauses_and_fetches_again_instead_of_failing() -> None:
    calls: list[str] = []

    def hub(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(429, json={"detail": "party 'nso' already has 8 fetches"})
        return httpx.Response(200, content=msgpack.packb([[1, b"sealed"]]))

    node = NodeHub("http://127.0.0.1", "nso", NodeKeys.generate(), retry_seconds=0)
    node.http._client = httpx.Client(base_url="http://hub.test", transport=httpx.MockTransport(hub))
    mailbox = node.mailbox("job1")
    try:
        began = time.monotonic()
        first = mailbox.fetch("telco", 0, 0.2)
        paused = time.monotonic() - began
        second = mailbox.fetch("telco", 0, 0.2)
    finally:
        node.close()

    assert first == []
    assert 0.2 <= paused < 1.0
    assert second == [(1, b"sealed")]
