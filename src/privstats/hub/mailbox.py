"""A job's mailboxes at the hub: sealed envelopes between its parties, and long-polls.

The hub keeps envelopes it cannot open (each sealed to its recipient and signed by its
sender, see ``transport.relay``), ordered by the sender's sequence number per link. A
reader confirms what it has by asking for envelopes ``after`` a sequence number; the hub
then deletes those. Mailboxes are open while the job is approved or running; a job's
envelopes are deleted when it ends (``hub.jobs.end_job``). Quotas: one envelope's size,
the bytes pending per job, the bytes one fetch returns, and the waiting fetches per party.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from privstats.errors import ServiceError
from privstats.hub.access import member
from privstats.hub.auth import Principal
from privstats.hub.jobs import TERMINAL, require_job
from privstats.hub.settings import HubSettings
from privstats.hub.store import Job, JobParty, RelayMessage, Store, utc_now

__all__ = ["FETCH_ROWS", "Batch", "Mailboxes", "Waiters", "open_job"]

FETCH_ROWS = 64
"""The most envelopes one fetch returns (fewer if they pass the fetch byte limit)."""
Batch = list[list[int | bytes]]
"""``[[seq, envelope], …]``, oldest first, as sent in msgpack."""


class Waiters:
    """Wakes long-polling mailbox readers when an envelope arrives or a job ends.

    Readers wait on an :class:`asyncio.Event` in the server's event loop, so a waiting
    long-poll holds no worker thread; writers (in worker threads) wake them through
    ``call_soon_threadsafe``. Each wake-up replaces the event, so a reader takes the
    current event *before* it looks at the mailbox and misses nothing posted after.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._waiting: dict[str, int] = {}

    def current(self) -> asyncio.Event:
        """The event the next :meth:`notify` sets (call in the event loop)."""
        self._loop = asyncio.get_running_loop()
        if self._event is None:
            self._event = asyncio.Event()
        return self._event

    def _wake(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    def notify(self) -> None:
        """Wake every waiting reader (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(self._wake)

    def enter(self, party: str, cap: int) -> bool:
        """Count one more waiting long-poll of ``party``; False if it has ``cap`` already."""
        if self._waiting.get(party, 0) >= cap:
            return False
        self._waiting[party] = self._waiting.get(party, 0) + 1
        return True

    def leave(self, party: str) -> None:
        """Count one waiting long-poll of ``party`` less."""
        left = self._waiting.get(party, 1) - 1
        if left:
            self._waiting[party] = left
        else:
            self._waiting.pop(party, None)


def open_job(session: Session, job_id: str, who: Principal) -> Job:
    """The job, if ``who`` is a party of it and its mailboxes are open (410 once ended)."""
    job = require_job(session, job_id)
    member(session, job, who)
    if job.state in TERMINAL:
        reason = f": {job.failure_reason}" if job.failure_reason else ""
        raise ServiceError(f"job {job_id} has ended ({job.state}){reason}", status=410)
    if job.state != "running" and job.state != "approved":
        raise ServiceError(f"job {job_id} is {job.state}; its mailboxes are not open", status=409)
    return job


class Mailboxes:
    """Every job's mailboxes in ``store``, within the limits of ``settings``."""

    def __init__(self, store: Store, settings: HubSettings, waiters: Waiters) -> None:
        self.store = store
        self.settings = settings
        self.waiters = waiters

    def post(self, job_id: str, who: Principal, to: str, seq: int, envelope: bytes) -> None:
        """Keep ``envelope`` from ``who`` to ``to``; a repeated ``seq`` is kept once."""
        limit = self.settings.max_envelope_bytes
        if len(envelope) > limit:
            raise ServiceError(f"envelope of {len(envelope)} bytes exceeds {limit}", status=413)
        with self.store.write() as session:
            open_job(session, job_id, who)
            if session.get(JobParty, (job_id, to)) is None or to == who.name:
                raise ServiceError(f"{to!r} is not another party of job {job_id}", status=422)
            pending = session.scalar(
                select(func.coalesce(func.sum(func.length(RelayMessage.envelope)), 0)).where(
                    RelayMessage.job_id == job_id
                )
            )
            if int(pending or 0) + len(envelope) > self.settings.max_mailbox_bytes:
                raise ServiceError(f"job {job_id}'s mailboxes are full", status=507)
            duplicate = session.scalars(
                select(RelayMessage.id).where(
                    RelayMessage.job_id == job_id,
                    RelayMessage.sender == who.name,
                    RelayMessage.recipient == to,
                    RelayMessage.seq == seq,
                )
            ).first()
            if duplicate is None:
                session.add(
                    RelayMessage(
                        job_id=job_id,
                        sender=who.name,
                        recipient=to,
                        seq=seq,
                        envelope=envelope,
                        created_at=utc_now(),
                    )
                )
        self.waiters.notify()

    def acknowledge(self, job_id: str, sender: str, who: Principal, after: int) -> None:
        """Delete the envelopes the reader has confirmed (``seq <= after``)."""
        with self.store.write() as session:
            open_job(session, job_id, who)
            session.execute(
                delete(RelayMessage).where(
                    RelayMessage.job_id == job_id,
                    RelayMessage.sender == sender,
                    RelayMessage.recipient == who.name,
                    RelayMessage.seq <= after,
                )
            )

    def pending(self, job_id: str, sender: str, who: Principal, after: int) -> Batch:
        """The next envelopes from ``sender`` to ``who`` after ``after``, up to the fetch limit."""
        with self.store.read() as session:
            open_job(session, job_id, who)
            rows = session.scalars(
                select(RelayMessage)
                .where(
                    RelayMessage.job_id == job_id,
                    RelayMessage.sender == sender,
                    RelayMessage.recipient == who.name,
                    RelayMessage.seq > after,
                )
                .order_by(RelayMessage.seq)
                .limit(FETCH_ROWS)
            ).all()
        batch: Batch = []
        size = 0
        for row in rows:
            if batch and size + len(row.envelope) > self.settings.max_fetch_bytes:
                break
            batch.append([row.seq, row.envelope])
            size += len(row.envelope)
        return batch

    async def fetch(
        self, job_id: str, sender: str, who: Principal, after: int, wait: float
    ) -> Batch:
        """Envelopes from ``sender`` after ``after``; waits up to ``wait`` s for one, holding
        no thread. A party may have ``max_waits_per_party`` waiting fetches at once; a
        further one that would wait is refused at once with 429 (its node retries shortly).
        """
        deadline = time.monotonic() + wait
        await run_in_threadpool(self.acknowledge, job_id, sender, who, after)
        event = self.waiters.current()
        batch = await run_in_threadpool(self.pending, job_id, sender, who, after)
        if batch or wait <= 0:
            return batch
        cap = self.settings.max_waits_per_party
        if not self.waiters.enter(who.name, cap):
            raise ServiceError(
                f"party {who.name!r} already has {cap} fetches waiting at this hub; retry shortly",
                status=429,
            )
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout=min(remaining, 5.0))
                event = self.waiters.current()
                batch = await run_in_threadpool(self.pending, job_id, sender, who, after)
                if batch:
                    return batch
        finally:
            self.waiters.leave(who.name)
