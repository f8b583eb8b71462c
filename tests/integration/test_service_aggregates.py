"""Secure aggregates and private join-and-compute through a real hub and real node processes.

Every figure the hub releases is compared with pandas on the same files; node policies
decide which columns and which minimum cell size they accept.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privstats.client import Federation
from privstats.data.join_demos import make_income_demo
from privstats.errors import JobFailedError
from privstats.local_federation import LocalFederation

REGIONS = ["North", "South", "East", "West"]


def _write_party(path: Path, seed: int, rows: int, rare: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "firm_id": [f"{seed}-{i}" for i in range(rows)],
            "region": rng.choice(REGIONS, size=rows),
            "turnover": rng.integers(0, 5_000, size=rows),
            "wage": np.round(rng.normal(3000, 400, size=rows), 2),
        }
    )
    if rare:  # a region with too few firms to be released
        frame.loc[:2, "region"] = "Islands"
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path / "fed", node_timeout=20.0, poll_seconds=0.2) as federation:
        yield federation


def _analyst(federation: LocalFederation) -> Federation:
    with federation.admin() as admin:
        return Federation(federation.url, admin.add_token("analyst"))


def test_an_aggregate_job_over_three_nodes_equals_pandas_and_never_releases_small_cells(
    federation: LocalFederation, tmp_path: Path
) -> None:
    frames = []
    for i, name in enumerate(["office_a", "office_b", "office_c"]):
        path = tmp_path / f"{name}.csv"
        frames.append(_write_party(path, seed=10 + i, rows=300 + 50 * i, rare=i == 0))
        federation.add_node(name, {"firms": (path, ["firm_id"])}, allow=("aggregate",))
    federation.wait_for_datasets(3)
    pooled = pd.concat(frames, ignore_index=True)

    with _analyst(federation) as analyst:
        job = analyst.submit_aggregate(
            datasets={"office_a": "firms", "office_b": "firms", "office_c": "firms"},
            stats=["count", "sum:turnover", "mean:wage", "var:wage"],
            by=["region"],
        )
        result = job.wait(timeout=120).result

    assert result["computation"] == "aggregate"
    assert result["parties"] == 3
    expected = pooled.groupby("region").agg(
        count=("turnover", "size"),
        turnover=("turnover", "sum"),
        mean=("wage", "mean"),
        var=("wage", "var"),
    )
    by_region = {g["by"]["region"]: g for g in result["groups"]}
    assert set(by_region) == set(expected.index)
    islands = by_region.pop("Islands")
    assert islands["suppressed"] is True
    hidden = ("by", "suppressed", "status", "reason")  # a withheld group says why
    assert all(value is None for key, value in islands.items() if key not in hidden)
    released = [g for g in by_region.values() if not g["suppressed"]]
    assert released
    for group in released:
        row = expected.loc[group["by"]["region"]]
        assert group["count"] == row["count"]
        assert group["sum:turnover"] == row["turnover"]
        assert group["mean:wage"] == pytest.approx(row["mean"], rel=1e-9)
        assert group["var:wage"] == pytest.approx(row["var"], rel=1e-7)


def test_a_node_rejects_a_job_whose_minimum_cell_is_below_its_policy(
    federation: LocalFederation, tmp_path: Path
) -> None:
    for i, name in enumerate(["office_a", "office_b"]):
        path = tmp_path / f"{name}.csv"
        _write_party(path, seed=20 + i, rows=100, rare=False)
        federation.add_node(name, {"firms": (path, ["firm_id"])}, allow=("aggregate",), min_cell=25)
    federation.wait_for_datasets(2)
    with _analyst(federation) as analyst:
        job = analyst.submit_aggregate(
            datasets={"office_a": "firms", "office_b": "firms"}, stats=["count"], min_cell=10
        )
        with pytest.raises(JobFailedError) as failure:
            job.wait(timeout=60)
    assert failure.value.state == "rejected"
    assert "25" in str(failure.value)


def test_a_join_aggregate_job_equals_the_plaintext_join_and_the_store_holds_no_income(
    federation: LocalFederation, tmp_path: Path
) -> None:
    demo = make_income_demo(tmp_path / "data", persons=1500, seed=5)
    federation.add_node("nso", {"register": (demo.left, ["person_id"])}, allow=("join_aggregate",))
    federation.add_node(
        "bank", {"customers": (demo.right, ["customer_id"])}, allow=("join_aggregate",)
    )
    federation.wait_for_datasets(2)
    with _analyst(federation) as analyst:
        job = analyst.submit_join_aggregate(
            left="nso",
            left_dataset="register",
            right="bank",
            right_dataset="customers",
            key="person_id",
            peer_key="customer_id",
            by=["region"],
            right_values=["income", "savings"],
            decimals=0,
        )
        result = job.wait(timeout=120).result

    assert result["computation"] == "join_aggregate"
    assert result["matched"] == sum(cell["count"] for cell in demo.truth.values())
    for group in result["groups"]:
        truth = demo.truth[group["by"]["region"]]
        if group["suppressed"]:
            assert group["count"] is None and group["sum:income"] is None
            continue
        assert group["count"] == truth["count"]
        assert group["sum:income"] == truth["sum:income"]
        assert group["sum:savings"] == truth["sum:savings"]
        assert group["mean:income"] == pytest.approx(truth["sum:income"] / truth["count"])

    bank = pd.read_csv(demo.right, dtype=str)
    dump = "\n".join(sqlite3.connect(federation.hub_dir / "hub.db").iterdump())
    assert not any(person in dump for person in bank["customer_id"].head(200))
    assert not any(
        f"'{income}'" in dump or f" {income}," in dump for income in bank["income"].head(50)
    )


@pytest.mark.slow
def test_demo_trade_runs_end_to_end_and_agrees_with_the_plaintext(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "privstats", "demo", "trade", "--links", "1500", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["plaintext_agrees"] is True
    released = [g for g in result["groups"] if not g["suppressed"]]
    assert released and all(g["sum:import_value"] > g["sum:export_value"] for g in released)
