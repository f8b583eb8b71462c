"""The node's ledger: the privacy budget each dataset has spent, and its release history.

One SQLite file in the node's folder (``ledger.sqlite`` beside ``node.toml``) outlives
restarts. Two tables:

``spends``
    One row per (dataset, job): the (ε, δ) the job spends, its kind, when, and whether the
    node started its part. :meth:`Ledger.spend` checks the dataset's total cap and inserts
    the spend in one ``BEGIN IMMEDIATE`` transaction, so two approvals racing for the last
    of a budget (the node's loop and ``privstats node approve``, two nodes on one folder)
    cannot both pass. Totals are added as exact decimals (ε = 0.1 three times is 0.3, not
    0.30000000000000004), and a spend is never taken back once the job may have touched
    the data: a job that failed or was rejected later may still have leaked. Only a spend
    whose approval the hub refused (so the job cannot start here) is refunded
    (:meth:`Ledger.refund`).
``releases``
    One row per table a job released from a dataset (:class:`~privstats.disclosure.
    history.Release`, as JSON): the history the differencing guard checks new jobs
    against, and what ``privstats node releases`` shows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

from privstats.disclosure.budget import Budget
from privstats.disclosure.history import Release

__all__ = [
    "LEDGER_FILE",
    "Caps",
    "Ledger",
    "Outcome",
    "Spend",
    "exact",
    "node_ledger",
    "shown",
]

LEDGER_FILE = "ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spends (
    dataset TEXT NOT NULL,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    epsilon TEXT NOT NULL,
    delta TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('spent', 'refunded')),
    started INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (dataset, job_id)
);
CREATE TABLE IF NOT EXISTS releases (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    job_id TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


def exact(value: float | str) -> Fraction:
    """A budget figure as the decimal it was written as (``0.1`` → 1/10)."""
    return Fraction(value if isinstance(value, str) else repr(float(value)))


def shown(value: Fraction | float) -> str:
    """A budget figure for a message: ``2``, ``0.5``, ``1e-06``; exact fractions as decimals."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        return repr(float(value))
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Caps:
    """A dataset's total budget caps (None: no cap) and where the node's config sets them."""

    epsilon: float | None
    delta: float | None
    epsilon_from: str = "[policy]"
    delta_from: str = "[policy]"


@dataclass(frozen=True)
class Spend:
    """One job's spend on one dataset."""

    dataset: str
    job_id: str
    kind: str
    epsilon: Fraction
    delta: Fraction
    at: str
    state: str
    started: bool
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "job": self.job_id,
            "kind": self.kind,
            "epsilon": float(self.epsilon),
            "delta": float(self.delta),
            "at": self.at,
            "state": self.state,
            "started": self.started,
            "note": self.note,
        }


@dataclass(frozen=True)
class Outcome:
    """What :meth:`Ledger.spend` did: the spend and the totals after it, or why not."""

    spend: Spend | None
    refused: str
    epsilon_total: Fraction
    delta_total: Fraction
    caps: Caps

    @property
    def statement(self) -> str:
        """The spend in words, as the node's signed approval states it."""
        if self.spend is None:
            return self.refused
        cap = "" if self.caps.epsilon is None else f" of {shown(self.caps.epsilon)}"
        delta = f", δ = {shown(self.spend.delta)}" if self.spend.delta else ""
        delta_total = f", δ {shown(self.delta_total)}" if self.delta_total else ""
        return (
            f"budget: dataset '{self.spend.dataset}' spends ε = {shown(self.spend.epsilon)}"
            f"{delta}; spent in all ε {shown(self.epsilon_total)}{cap}{delta_total}"
        )


class Ledger:
    """The node's ledger file; every method opens its own connection (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            connection.executescript(_SCHEMA)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that takes the file's write lock at once."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    # -- budget -----------------------------------------------------------------------

    def spend(self, dataset: str, job_id: str, kind: str, budget: Budget, caps: Caps) -> Outcome:
        """Spend ``budget`` of ``dataset`` for ``job_id`` if it fits under ``caps``.

        Check and insert are one transaction. A job that already spent on the dataset is
        not charged twice (the earlier spend is returned).
        """
        epsilon, delta = exact(budget.epsilon), exact(budget.delta)
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM spends WHERE dataset = ? AND state = 'spent'", (dataset,)
            ).fetchall()
            spent_e = sum((exact(r["epsilon"]) for r in rows), Fraction(0))
            spent_d = sum((exact(r["delta"]) for r in rows), Fraction(0))
            for row in rows:
                if row["job_id"] == job_id:
                    return Outcome(_spend(row), "", spent_e, spent_d, caps)
            refused = _refusal(dataset, epsilon, delta, spent_e, spent_d, caps)
            if refused:
                return Outcome(None, refused, spent_e, spent_d, caps)
            at = datetime.now(UTC).isoformat(timespec="seconds")
            db.execute(
                "INSERT OR REPLACE INTO spends (dataset, job_id, kind, epsilon, delta, at, state,"
                " started, note) VALUES (?, ?, ?, ?, ?, ?, 'spent', 0, '')",
                (dataset, job_id, kind, repr(budget.epsilon), repr(budget.delta), at),
            )
        spend = Spend(dataset, job_id, kind, epsilon, delta, at, "spent", False)
        return Outcome(spend, "", spent_e + epsilon, spent_d + delta, caps)

    def mark_started(self, job_id: str) -> None:
        """The node starts its part of ``job_id``: its spends can no longer be refunded."""
        with self._transaction() as db:
            db.execute("UPDATE spends SET started = 1 WHERE job_id = ?", (job_id,))

    def refund(self, job_id: str, reason: str) -> list[Spend]:
        """Give back ``job_id``'s spends, if the node never started it; those refunded."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM spends WHERE job_id = ? AND state = 'spent' AND started = 0",
                (job_id,),
            ).fetchall()
            db.execute(
                "UPDATE spends SET state = 'refunded', note = ? "
                "WHERE job_id = ? AND state = 'spent' AND started = 0",
                (reason, job_id),
            )
        return [_spend(row) for row in rows]

    def spends(self, dataset: str | None = None) -> list[Spend]:
        """Every spend (of ``dataset``), oldest first."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT * FROM spends WHERE ? IS NULL OR dataset = ? ORDER BY at, job_id",
                (dataset, dataset),
            ).fetchall()
        finally:
            connection.close()
        return [_spend(row) for row in rows]

    def spent(self, dataset: str) -> tuple[Fraction, Fraction]:
        """The (ε, δ) ``dataset`` has spent so far (refunds excluded)."""
        rows = [s for s in self.spends(dataset) if s.state == "spent"]
        epsilon = sum((s.epsilon for s in rows), Fraction(0))
        return epsilon, sum((s.delta for s in rows), Fraction(0))

    # -- release history ----------------------------------------------------------------

    def record_release(self, dataset: str, release: Release) -> None:
        """Keep ``release`` in ``dataset``'s history."""
        stamped = release if release.at else _stamped(release)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO releases (dataset, job_id, record) VALUES (?, ?, ?)",
                (dataset, release.job_id, json.dumps(stamped.to_json(), sort_keys=True)),
            )

    def releases(self, dataset: str | None = None) -> list[tuple[str, Release]]:
        """(dataset, release) in the order they were recorded."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT dataset, record FROM releases WHERE ? IS NULL OR dataset = ? "
                "ORDER BY number",
                (dataset, dataset),
            ).fetchall()
        finally:
            connection.close()
        return [(row["dataset"], Release.from_json(json.loads(row["record"]))) for row in rows]

    def history(self, dataset: str) -> list[Release]:
        """``dataset``'s releases, oldest first (what its guard checks against)."""
        return [release for _, release in self.releases(dataset)]


def node_ledger(config_path: str | Path) -> Ledger:
    """The ledger of the node whose config file is ``config_path`` (in the same folder)."""
    return Ledger(Path(config_path).parent / LEDGER_FILE)


def _stamped(release: Release) -> Release:
    return replace(release, at=datetime.now(UTC).isoformat(timespec="seconds"))


def _spend(row: sqlite3.Row) -> Spend:
    return Spend(
        dataset=row["dataset"],
        job_id=row["job_id"],
        kind=row["kind"],
        epsilon=exact(row["epsilon"]),
        delta=exact(row["delta"]),
        at=row["at"],
        state=row["state"],
        started=bool(row["started"]),
        note=row["note"],
    )


def _refusal(
    dataset: str,
    epsilon: Fraction,
    delta: Fraction,
    spent_e: Fraction,
    spent_d: Fraction,
    caps: Caps,
) -> str:
    """Why the spend does not fit under the caps, or '' if it does."""
    reasons = []
    for symbol, key, asked, spent, cap, where in (
        ("ε", "max_epsilon_total", epsilon, spent_e, caps.epsilon, caps.epsilon_from),
        ("δ", "max_delta_total", delta, spent_d, caps.delta, caps.delta_from),
    ):
        if cap is None or spent + asked <= exact(cap):
            continue
        left = max(exact(cap) - spent, Fraction(0))
        reasons.append(
            f"dataset '{dataset}' has spent {symbol} = {shown(spent)} of this node's total cap "
            f"{key} = {shown(cap)} (set in {where}); the job would spend "
            f"{symbol} = {shown(asked)}, more than the {shown(left)} that remains"
        )
    return "; ".join(reasons)
