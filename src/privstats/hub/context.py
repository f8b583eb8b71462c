"""What every route of one hub shares, and the dependencies that hand it to them.

:class:`HubState` holds the store, the settings, the mailboxes and the watchdog of one
application; ``create_app`` keeps it in ``app.state.hub``. Routes ask for it with
:data:`State`, and for the authenticated caller with :data:`Caller` (a person by bearer
token, a node by signed request; see ``hub.auth``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Header, Request

from privstats.hub import auth, jobs
from privstats.hub.auth import Principal
from privstats.hub.mailbox import Mailboxes, Waiters
from privstats.hub.settings import HubSettings
from privstats.hub.store import Store
from privstats.service.signing import HEADER_NONCE, HEADER_PARTY, HEADER_SIGNATURE, HEADER_TIMESTAMP

__all__ = [
    "Caller",
    "HubState",
    "RawBody",
    "State",
    "caller",
    "hub_state",
    "raw_body",
    "silence_counted_from",
]


@dataclass
class HubState:
    """One hub's store, settings, mailboxes and watchdog."""

    store: Store
    settings: HubSettings
    waiters: Waiters = field(default_factory=Waiters)
    started: float = field(default_factory=time.time)
    stop: threading.Event = field(default_factory=threading.Event)
    mailboxes: Mailboxes = field(init=False)

    def __post_init__(self) -> None:
        self.mailboxes = Mailboxes(self.store, self.settings, self.waiters)

    def watch_silent_nodes(self) -> None:
        """Until ``stop`` is set, fail jobs whose nodes fell silent (the watchdog thread)."""
        awake_since, last_round = self.started, time.time()
        while not self.stop.wait(self.settings.watchdog_seconds):
            now = time.time()
            awake_since = silence_counted_from(
                awake_since, last_round, now, self.settings.watchdog_seconds
            )
            last_round = now
            try:
                with self.store.write() as session:
                    failed = jobs.check_silent_nodes(session, now, awake_since)
                if failed:
                    self.waiters.notify()
            except Exception:  # noqa: S112 - the next round retries; the hub must stay up
                continue


def silence_counted_from(
    awake_since: float, last_round: float, now: float, watchdog_seconds: float
) -> float:
    """Since when the watchdog counts a node's silence: the hub's start, or its last stall.

    A watchdog round that comes far later than scheduled means the hub itself stalled (a
    loaded machine, a paused process); nodes' heartbeats may be waiting unread, so their
    silence is counted afresh from ``now`` rather than blamed on them.
    """
    if now - last_round > max(5 * watchdog_seconds, 5.0):
        return now
    return awake_since


def hub_state(request: Request) -> HubState:
    """The state of the application serving ``request``."""
    return cast(HubState, request.app.state.hub)


State = Annotated[HubState, Depends(hub_state)]


async def raw_body(request: Request) -> bytes:
    """The request's body as sent (a node's signature covers these bytes)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def caller(
    request: Request,
    state: State,
    body: RawBody,
    authorization: Annotated[str | None, Header()] = None,
    party: Annotated[str | None, Header(alias=HEADER_PARTY)] = None,
    timestamp: Annotated[str | None, Header(alias=HEADER_TIMESTAMP)] = None,
    nonce: Annotated[str | None, Header(alias=HEADER_NONCE)] = None,
    signature: Annotated[str | None, Header(alias=HEADER_SIGNATURE)] = None,
) -> Principal:
    """The authenticated caller: a node if the request names a party, else a person."""
    if party is not None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return auth.node(
            state.store,
            method=request.method,
            path=path,
            body=body,
            party=party,
            timestamp=timestamp,
            nonce=nonce,
            signature=signature,
        )
    return auth.person(state.store, authorization)


Caller = Annotated[Principal, Depends(caller)]
