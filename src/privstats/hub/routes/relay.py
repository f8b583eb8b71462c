"""Relay routes: a job's parties post sealed envelopes to each other and long-poll for them.

Envelopes are opaque to the hub (``application/octet-stream`` in, ``application/msgpack``
out); the mailbox rules and quotas are ``hub.mailbox``.
"""

from __future__ import annotations

from typing import Annotated

import msgpack
from fastapi import APIRouter, Query, Response

from privstats.hub.access import need
from privstats.hub.context import Caller, RawBody, State
from privstats.service.models import ENVELOPE_BATCH_SCHEMA, EnvelopeAccepted

__all__ = ["MSGPACK", "router"]

MSGPACK = "application/msgpack"

router = APIRouter(tags=["relay"])


@router.post(
    "/jobs/{job_id}/messages",
    status_code=201,
    response_model=EnvelopeAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def post_message(
    job_id: str,
    to: str,
    seq: Annotated[int, Query(ge=1)],
    who: Caller,
    state: State,
    body: RawBody,
) -> EnvelopeAccepted:
    """Leave a sealed envelope for party ``to`` (a repeated ``seq`` is kept once)."""
    need(who, "node")
    state.mailboxes.post(job_id, who, to, seq, body)
    return EnvelopeAccepted(seq=seq)


@router.get(
    "/jobs/{job_id}/messages",
    response_class=Response,
    responses={
        200: {
            "description": "Envelopes from the sender, oldest first (msgpack).",
            "content": {MSGPACK: {"schema": ENVELOPE_BATCH_SCHEMA}},
        }
    },
)
async def fetch_messages(
    job_id: str,
    sender: str,
    who: Caller,
    state: State,
    after: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=30)] = 10.0,
) -> Response:
    """Envelopes from ``sender`` after ``after`` (confirming those up to it); waits up to
    ``wait`` s for one, holding no thread. A party may have ``max_waits_per_party`` waiting
    fetches at once; a further one that would wait is answered at once with 429."""
    need(who, "node")
    batch = await state.mailboxes.fetch(job_id, sender, who, after, wait)
    return Response(msgpack.packb(batch), media_type=MSGPACK)
