"""The node agent's loop against a hub that lists what it likes (a fake hub, no network)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from privstats.crypto.keys import NodeKeys
from privstats.errors import ParameterError
from privstats.node.agent import NodeAgent
from privstats.node.config import DatasetConfig, NodeConfig, check_job_id
from privstats.service.manifest import DatasetUse, Manifest


class ListingHub:
    """Lists the given jobs; records every call that would act on one."""

    def __init__(self, jobs: list[Any]) -> None:
        self.jobs = jobs
        self.http: Any = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def active_jobs(self) -> list[Any]:
        return self.jobs

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any) -> None:
            self.calls.append((name, args))

        return call


def _agent(tmp_path: Path, jobs: list[Any]) -> tuple[NodeAgent, ListingHub, list[str]]:
    NodeKeys.generate().save(tmp_path / "keys")
    config = NodeConfig(
        name="nso",
        hub="http://127.0.0.1:8700",
        keys=tmp_path / "keys",
        path=tmp_path / "node.toml",
        datasets={"population": DatasetConfig(path=tmp_path / "p.csv", key_columns=("id",))},
    )
    said: list[str] = []
    agent = NodeAgent(config, say=said.append)
    agent.hub.close()
    hub = ListingHub(jobs)
    agent.hub = hub  # type: ignore[assignment]
    return agent, hub, said


def _started_job(job_id: Any) -> dict[str, Any]:
    """A job this node started in an earlier run and never completed."""
    return {
        "id": job_id,
        "state": "running",
        "approvals": [],
        "parties": [
            {
                "party": "nso",
                "role": "register",
                "step": "load",
                "started_at": 1.0,
                "completed_at": None,
            }
        ],
    }


@pytest.mark.parametrize(
    "job_id", ["../../outside", "/etc", "0123456789ABCDEF", "0123456789abcde", 7, None]
)
def test_a_job_id_that_is_not_the_hubs_is_refused_before_any_file_use(
    tmp_path: Path, job_id: Any
) -> None:
    agent, hub, said = _agent(tmp_path, [_started_job(job_id), _started_job(job_id)])
    agent.poll_once()  # does not raise
    agent.poll_once()
    assert hub.calls == []  # neither failed, decided nor run
    assert len(said) == 1  # said once, not every poll
    assert "is not a job id" in said[0]
    assert not (tmp_path / "results").exists()
    assert not (tmp_path.parent / "outside").exists()


def test_a_listing_that_is_not_a_job_is_refused(tmp_path: Path) -> None:
    agent, hub, said = _agent(tmp_path, ["0123456789abcdef", ["x"]])
    agent.poll_once()
    assert hub.calls == []
    assert len(said) == 2


def test_a_valid_job_id_is_acted_on(tmp_path: Path) -> None:
    agent, hub, said = _agent(tmp_path, [_started_job("0123456789abcdef")])
    agent.poll_once()
    assert [name for name, _ in hub.calls] == ["fail"]
    assert "was restarted while running this job" in said[0]


def test_results_folder_accepts_only_job_ids(tmp_path: Path) -> None:
    config = NodeConfig(name="nso", hub="http://127.0.0.1:8700", path=tmp_path / "node.toml")
    assert config.results_folder("0123456789abcdef") == tmp_path / "results" / "0123456789abcdef"
    with pytest.raises(ParameterError, match=r"'\.\./x' is not a job id; the hub's job ids"):
        config.results_folder("../x")
    with pytest.raises(ParameterError, match="16 lowercase hex digits"):
        check_job_id("a" * 10_000)


def test_peers_declared_rows_are_the_hubs_listing_of_their_datasets(tmp_path: Path) -> None:
    agent, hub, _ = _agent(tmp_path, [])
    listing = [
        {"party": "telco", "name": "customers", "rows": 42},
        {"party": "telco", "name": "other", "rows": 1},
        {"party": "nso", "name": "population", "rows": 9},
        {"party": "bank", "name": "accounts", "rows": "many"},
    ]
    hub.http = SimpleNamespace(get=lambda path: listing if path == "/datasets" else None)
    manifest = Manifest(
        kind="coverage",
        parameters={"key": "person_id"},
        parties={"register": "nso", "source": "telco"},
        datasets={
            "register": DatasetUse(party="nso", dataset="population", columns=("person_id",)),
            "source": DatasetUse(party="telco", dataset="customers", columns=("person_id",)),
        },
        recipients=("analyst",),
        disclosure={"min_domain": 10},
        code_version="0.1.0",
    )
    assert agent._declared_rows(manifest, "register") == {"source": 42}
    assert agent._declared_rows(manifest, "source") == {"register": 9}
    listing[0]["rows"] = "many"  # a count that is not one: no bound rather than a crash
    assert agent._declared_rows(manifest, "register") == {}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("id\n7\n", "dataset 'population': 1 row, 1 column (unchanged)"),
        ("id,region\n7,N\n8,S\n", "dataset 'population': 2 rows, 2 columns (unchanged)"),
        ("id\n", "dataset 'population': 0 rows, 1 column (unchanged)"),
    ],
)
def test_declared_datasets_are_logged_with_plurals_right(
    tmp_path: Path, text: str, said: str
) -> None:
    agent, _, messages = _agent(tmp_path, [])
    (tmp_path / "p.csv").write_text(text, encoding="utf-8")
    agent.declare_datasets()
    assert messages == [said]
