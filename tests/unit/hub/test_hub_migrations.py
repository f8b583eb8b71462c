"""Tests of the hub's schema migrations: a database made by an older hub is upgraded in
place at start, keeping its data."""

from __future__ import annotations

import sqlite3
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from privstats.hub.store import Result, Store


def test_a_database_of_schema_0001_gains_the_result_salt_and_keeps_its_results(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.db"
    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(files("privstats.hub") / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=OFF")
        db.execute(
            "INSERT INTO results (job_id, result, produced_by, created_at) VALUES (?, ?, ?, ?)",
            ("job1", '{"coverage": 0.5}', "nso", "2026-01-01T00:00:00.000000Z"),
        )

    store = Store.sqlite(path)
    try:
        with store.read() as session:
            row = session.get(Result, "job1")
            assert row is not None
            assert (row.result, row.salt) == ('{"coverage": 0.5}', None)
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
    finally:
        store.close()
