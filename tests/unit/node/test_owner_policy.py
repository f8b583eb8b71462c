"""The owner's release rules in the node's policy (``rules``, ``min_peer_rows``,
``min_matched``, per dataset overridable), the guard bound to the dataset's history, and
``privstats node budget`` / ``privstats node releases``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from privstats.cli import node as node_cli
from privstats.disclosure import Budget
from privstats.disclosure.history import HistoryGuard, Release
from privstats.disclosure.owner import CandidateRelease
from privstats.errors import ParameterError
from privstats.node.config import (
    AllowRule,
    DatasetConfig,
    NodeConfig,
    PolicyConfig,
    load_config,
    parse_config,
    write_config,
)
from privstats.node.ledger import Caps, node_ledger
from privstats.node.policy import owner_rules, total_caps
from privstats.service.manifest import DatasetUse, Manifest

TOML = """
[node]
name = "nso"
hub = "http://127.0.0.1:8700"

[datasets.population]
path = "register.csv"
key_columns = ["person_id"]
rules = ["nk:1,80"]
min_matched = 5
max_epsilon_total = 0.5

[datasets.deaths]
path = "deaths.csv"
key_columns = ["person_id"]

[policy]
rules = ["p:10", "freq:5"]
min_peer_rows = 100
min_matched = 3
max_epsilon_total = 3.0
max_delta_total = 1e-6
"""


def manifest(dataset: str) -> Manifest:
    return Manifest(
        kind="coverage",
        parameters={"key": "person_id"},
        parties={"register": "nso", "source": "telco"},
        datasets={
            "register": DatasetUse(party="nso", dataset=dataset, columns=("person_id",)),
            "source": DatasetUse(party="telco", dataset="customers", columns=("msisdn",)),
        },
        recipients=("analyst",),
        disclosure={},
        code_version="0.1.0",
    )


def test_policy_keys_apply_unless_the_dataset_sets_its_own(tmp_path: Path) -> None:
    config = parse_config(TOML, tmp_path / "node.toml")
    own = owner_rules(manifest("population"), config, "register")
    assert (own.min_cell, own.rules, own.min_peer_rows, own.min_matched) == (
        10,
        ("nk:1,80",),
        100,
        5,
    )
    policy = owner_rules(manifest("deaths"), config, "register")
    assert (policy.rules, policy.min_peer_rows, policy.min_matched) == (("p:10", "freq:5"), 100, 3)
    assert policy.guard is None  # no history given: no guard
    assert owner_rules(manifest("deaths"), config, "source").rules == ()  # not this node's
    assert total_caps(config, "population") == Caps(0.5, 1e-6, "[datasets.population]", "[policy]")
    assert total_caps(config, "deaths") == Caps(3.0, 1e-6)


def test_an_unknown_rule_is_refused_with_the_key(tmp_path: Path) -> None:
    text = TOML.replace('rules = ["nk:1,80"]', 'rules = ["dominance"]')
    with pytest.raises(ParameterError, match=r"\[datasets\.population\] rules unknown rule"):
        parse_config(text, tmp_path / "node.toml")
    with pytest.raises(ParameterError, match="min_peer_rows"):
        parse_config(TOML.replace("min_peer_rows = 100", "min_peer_rows = -1"), tmp_path / "n.toml")


def test_the_written_config_reads_back_the_same(tmp_path: Path) -> None:
    datasets = {
        "population": DatasetConfig(
            path=Path("register.csv"),
            key_columns=("person_id",),
            rules=("nk:1,80",),
            max_epsilon_total=0.5,
            min_matched=0,
        )
    }
    policy = PolicyConfig(
        approval="auto",
        rules=("p:10",),
        min_peer_rows=50,
        min_matched=3,
        max_epsilon_total=2.0,
        max_delta_total=1e-7,
        allow=(AllowRule(kind="coverage", datasets=("population",)),),
    )
    path = tmp_path / "node.toml"
    write_config(path, name="nso", hub="http://127.0.0.1:8700", datasets=datasets, policy=policy)
    loaded = load_config(path)
    assert loaded.policy == policy
    assert (
        loaded.datasets["population"].model_copy(update={"path": Path("register.csv")})
        == (datasets["population"])
    )
    assert "max_epsilon_total = 2.0" in path.read_text(encoding="utf-8")


def test_the_guard_reads_the_datasets_history_from_the_ledger(tmp_path: Path) -> None:
    config = parse_config(TOML, tmp_path / "node.toml")
    ledger = node_ledger(config.path)
    earlier = Release("a" * 16, "coverage", ("region",), {("Islands",): 26, ("North",): 90})
    ledger.record_release("population", earlier)
    ledger.record_release("deaths", Release("b" * 16, "coverage", (), {(): 116}))
    rules = owner_rules(
        manifest("population"), config, "register", job_id="c" * 16, history=ledger.history
    )
    guard = rules.guard
    assert isinstance(guard, HistoryGuard)
    table = CandidateRelease(
        "coverage",
        ("region", "sex"),
        {("Islands", "F"): 1, ("Islands", "M"): 25, ("North", "F"): 45, ("North", "M"): 45},
        frozenset({("Islands", "F")}),
    )
    assert set(guard.check(table)) == {("Islands", "M")}  # job a…'s Islands, not b…'s total
    guard.published(table, {("Islands", "F"), ("Islands", "M")})
    assert [r.job_id for r in guard.pending] == ["c" * 16]


def test_node_budget_and_releases_commands(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(TOML, encoding="utf-8")
    config = load_config(path)
    ledger = node_ledger(path)
    caps = total_caps(config, "population")
    ledger.spend("population", "a" * 16, "synthesize", Budget(epsilon=0.25), caps)
    ledger.record_release(
        "population",
        Release("b" * 16, "coverage", ("region",), {("A",): 3, ("B",): 12}, frozenset({("A",)})),
    )
    runner = CliRunner()
    result = runner.invoke(node_cli.app, ["budget", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [population] = [d for d in report["datasets"] if d["dataset"] == "population"]
    assert population["cap"] == {"epsilon": 0.5, "delta": 1e-6}
    assert population["spent"] == {"epsilon": 0.25, "delta": 0.0}
    assert population["remaining"] == {"epsilon": 0.25, "delta": 1e-6}
    assert [s["job"] for s in population["spends"]] == ["a" * 16]

    text = runner.invoke(node_cli.app, ["budget", "--config", str(path)])
    assert "dataset 'population': spent ε = 0.25 of ε = 0.5 (remaining ε = 0.25)" in text.output

    result = runner.invoke(node_cli.app, ["releases", "--config", str(path), "--json"])
    [release] = json.loads(result.output)["releases"]
    assert (release["job"], release["released"], release["withheld"]) == ("b" * 16, 1, 1)
    text = runner.invoke(node_cli.app, ["releases", "--config", str(path), "--dataset", "deaths"])
    assert "no releases recorded for dataset 'deaths'" in text.output


def test_no_dataset_no_rules_but_the_minimum(tmp_path: Path) -> None:
    config = NodeConfig(name="nso", hub="http://127.0.0.1:8700", path=tmp_path / "node.toml")
    rules = owner_rules(manifest("population"), config, "register")
    assert (rules.min_cell, rules.rules, rules.guard) == (10, (), None)
