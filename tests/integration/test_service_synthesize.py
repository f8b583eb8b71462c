"""Synthetic microdata through a real hub and node: made at the owner's node, held there
until the data owner releases it (also across a node restart), then the analyst receives
exactly the reviewed files; a withheld release fails the job and nothing leaves the node."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privstats.client import Federation, Job
from privstats.errors import JobFailedError, ServiceError
from privstats.jobs.synthesize import save_release
from privstats.local_federation import LocalFederation
from privstats.node.release_review import AWAITING_REVIEW


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    with LocalFederation(tmp_path / "fed", node_timeout=20.0, poll_seconds=0.2) as federation:
        yield federation


@pytest.fixture
def census(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)  # test data only
    n = 600
    path = tmp_path / "census.csv"
    pd.DataFrame(
        {
            "person_id": [f"P{i:05d}" for i in range(n)],
            "region": rng.choice(["North", "South", "East"], size=n),
            "sex": rng.choice(["F", "M"], size=n),
            "age": rng.integers(16, 90, size=n),
            "income": np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(9, 1, n)).round(2),
        }
    ).to_csv(path, index=False)
    return path


def _owner(federation: LocalFederation, census: Path) -> Path:
    config = federation.add_node("nso", {"census": (census, ["person_id"])}, allow=("synthesize",))
    federation.wait_for_datasets(1)
    return config


def _analyst(federation: LocalFederation) -> tuple[Federation, dict[str, str]]:
    """The analyst's Python door, and the environment of its command-line door."""
    with federation.admin() as admin:
        token = admin.add_token("analyst")
    return Federation(federation.url, token), {
        "PRIVSTATS_HUB": federation.url,
        "PRIVSTATS_TOKEN": token,
    }


def _held(job: Job, timeout: float = 120.0) -> Job:
    """Wait until the owner's node holds the job's result for review."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh()
        assert job.state in ("awaiting_approval", "approved", "running"), job.info["failure"]
        if job.info["parties"][0]["step"] == AWAITING_REVIEW:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} was not held for review in time: {job.info}")


def _privstats(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privstats", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def _node(*args: str) -> subprocess.CompletedProcess[str]:
    return _privstats("node", *args)


def test_the_analyst_receives_exactly_what_the_owner_reviewed_and_released(
    federation: LocalFederation, census: Path, tmp_path: Path
) -> None:
    config = _owner(federation, census)
    analyst, env = _analyst(federation)
    with analyst:
        job = analyst.submit_synthesize(
            owner="nso", dataset="census", method="cart", quasi_identifiers=["region", "sex"]
        )
        # the key column is left out by default
        columns = job.info["manifest"]["datasets"]["owner"]["columns"]
        assert columns == ["region", "sex", "age", "income"]
        _held(job)
        assert job.info["result_ready"] is False
        with pytest.raises(ServiceError, match="no result yet"):
            _ = job.result
        reviewed = federation.folder / "node-nso" / "results" / job.id
        assert {"synthetic.csv", "report.html", "report.json"} <= {
            p.name for p in reviewed.iterdir()
        }

        # the node restarts while the owner reads the report: the held result survives
        federation.kill_node("nso")
        federation.start_node("nso")

        released = _node("release", job.id, "--config", str(config))
        assert released.returncode == 0, released.stderr
        job.wait(timeout=60)
        save_release(job.result, tmp_path / "analyst")
        for name in ("synthetic.csv", "report.html"):
            assert (tmp_path / "analyst" / name).read_text() == (reviewed / name).read_text()
        # the analyst's command line writes the same files
        waited = _privstats(
            "job", "wait", job.id, "--out", str(tmp_path / "cli"), "--json", env=env
        )
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["files"] == [
            str(tmp_path / "cli" / name) for name in ("synthetic.csv", "report.html", "report.json")
        ]
        for name in ("synthetic.csv", "report.html", "report.json"):
            assert (tmp_path / "cli" / name).read_text() == (
                tmp_path / "analyst" / name
            ).read_text()
        synthetic = pd.read_csv(tmp_path / "analyst" / "synthetic.csv")
        assert list(synthetic.columns) == ["region", "sex", "age", "income"]
        assert len(synthetic) == job.result["fitted_records"] == 480
        actions = [e.action for e in analyst.audit() if e.job_id == job.id]
        assert "result.released" in actions
        assert analyst.verify_audit().ok
        again = _node("release", job.id, "--config", str(config))
        assert again.returncode != 0
        assert "succeeded at the hub; there is nothing to decide" in again.stderr


def test_a_withheld_release_fails_the_job_and_nothing_leaves_the_node(
    federation: LocalFederation, census: Path
) -> None:
    config = _owner(federation, census)
    analyst, env = _analyst(federation)
    with analyst:
        submitted = _privstats(
            "submit", "synthesize", "--owner", "nso:census", "--method", "copula", "--no-wait",
            env=env,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        job = _held(analyst.job(submitted.stdout.strip()))
        withheld = _node(
            "withhold", job.id, "--reason", "replicated uniques too high", "--config", str(config)
        )
        assert withheld.returncode == 0, withheld.stderr
        with pytest.raises(JobFailedError, match="withheld the release: replicated uniques"):
            job.wait(timeout=60)
        assert job.info["result_ready"] is False


def test_a_job_asking_for_key_columns_is_rejected_by_the_owner_node(
    federation: LocalFederation, census: Path
) -> None:
    _owner(federation, census)
    analyst, _env = _analyst(federation)
    with analyst:
        job = analyst.submit_synthesize(
            owner="nso", dataset="census", columns=["person_id", "region", "age"]
        )
        with pytest.raises(JobFailedError, match=r"key columns \(identifiers\)"):
            job.wait(timeout=60)
        assert job.state == "rejected"


def test_an_owner_node_with_an_epsilon_cap_refuses_a_costlier_mst_synthesis(
    federation: LocalFederation, census: Path
) -> None:
    federation.add_node(
        "nso", {"census": (census, ["person_id"])}, allow=("synthesize",), max_epsilon=1.0
    )
    federation.wait_for_datasets(1)
    analyst, _env = _analyst(federation)
    columns = ["region", "sex", "age"]
    bounds = {"age": (0, 120)}
    with analyst:
        job = analyst.submit_synthesize(
            owner="nso", dataset="census", columns=columns, method="mst", epsilon=2.0,
            bounds=bounds,
        )  # fmt: skip
        with pytest.raises(JobFailedError, match=r"ε = 2 .*max_epsilon = 1"):
            job.wait(timeout=60)
        assert job.state == "rejected"
