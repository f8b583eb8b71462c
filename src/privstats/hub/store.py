"""The hub's SQL store: tables, engine and sessions.

SQLite file by default, PostgreSQL by URL. The schema is created and upgraded by Alembic
migrations (``privstats/hub/migrations``), never by ``create_all``, so a hub upgraded in
place keeps its data. Times are ISO-8601 UTC strings, except heartbeat clocks (epoch
seconds) that the watchdog compares.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from privstats.errors import ServiceError

__all__ = [
    "Approval",
    "AuditRow",
    "Base",
    "Dataset",
    "Job",
    "JobParty",
    "Nonce",
    "Party",
    "RelayMessage",
    "Result",
    "Store",
    "Token",
    "utc_now",
]


def utc_now() -> str:
    """Now, as an ISO-8601 UTC string with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Base(DeclarativeBase):
    pass


class Party(Base):
    """A data owner: invited by an admin, enrolled by its node with its public keys."""

    __tablename__ = "parties"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sign_key: Mapped[str | None] = mapped_column(String(64))
    box_key: Mapped[str | None] = mapped_column(String(64))
    enrolment_hash: Mapped[str | None] = mapped_column(String(64))
    enrolment_expires: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[str] = mapped_column(String(32))
    enrolled_at: Mapped[str | None] = mapped_column(String(32))
    last_seen: Mapped[float | None] = mapped_column(Float)


class Token(Base):
    """A person's bearer token (admin or analyst), stored as its SHA-256 only."""

    __tablename__ = "tokens"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(32))


class Dataset(Base):
    """A dataset a node declared: its schema and row count, never its contents."""

    __tablename__ = "datasets"
    party: Mapped[str] = mapped_column(ForeignKey("parties.name"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[str] = mapped_column(Text)  # JSON [[name, type], …]
    key_columns: Mapped[str] = mapped_column(Text)  # JSON [name, …]
    registered_at: Mapped[str] = mapped_column(String(32))


class Job(Base):
    """A submitted computation, its manifest and its state."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(24), index=True)
    manifest: Mapped[str] = mapped_column(Text)  # canonical JSON
    manifest_hash: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[str] = mapped_column(String(32))
    state_times: Mapped[str] = mapped_column(Text)  # JSON {state: time}
    node_timeout: Mapped[float] = mapped_column(Float)
    failure_party: Mapped[str | None] = mapped_column(String(64))
    failure_step: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(Text)


class JobParty(Base):
    """One party's progress in one job."""

    __tablename__ = "job_parties"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    party: Mapped[str] = mapped_column(ForeignKey("parties.name"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[str | None] = mapped_column(String(32))
    completed_at: Mapped[str | None] = mapped_column(String(32))
    result_hash: Mapped[str | None] = mapped_column(String(64))


class Approval(Base):
    """A node's signed decision on a job's manifest."""

    __tablename__ = "approvals"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    party: Mapped[str] = mapped_column(ForeignKey("parties.name"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    manifest_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    at: Mapped[str] = mapped_column(String(32))


class RelayMessage(Base):
    """One sealed envelope waiting in a job's mailbox; the hub cannot open it."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("job_id", "sender", "recipient", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    sender: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(32))


class Result(Base):
    """A job's released result, served only to the recipients its manifest names, with the
    salt of the producing node's commitment (so the recipients can check it; see
    :func:`privstats.service.canonical.result_commitment`)."""

    __tablename__ = "results"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    result: Mapped[str] = mapped_column(Text)  # JSON
    salt: Mapped[str | None] = mapped_column(String(64))  # hex; None in hubs before 0002
    produced_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32))


class AuditRow(Base):
    """One hash-chained audit entry (see ``privstats.service.audit``)."""

    __tablename__ = "audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    signer: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Nonce(Base):
    """A signed request's nonce, kept for the replay window."""

    __tablename__ = "nonces"
    party: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen: Mapped[float] = mapped_column(Float, index=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creating it on a new database)."""
    config = Config()
    config.set_main_option("script_location", str(files("privstats.hub") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The engine, a session factory and the one lock that orders writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.engine = create_engine(
                    url, connect_args={"check_same_thread": False, "timeout": 30}
                )
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
            migrate(self.engine)
        except Exception as exc:
            raise ServiceError(f"cannot open the hub database {_safe(url)}: {exc}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_lock = threading.RLock()

    @classmethod
    def sqlite(cls, path: str | Path) -> Store:
        return cls(f"sqlite:///{Path(path).resolve()}")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose changes commit together, or not at all, under the write lock."""
        with self.write_lock, self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def _safe(url: str) -> str:
    """The URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
