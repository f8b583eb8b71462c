"""Tests of the node's privacy-budget cap: max_epsilon / max_delta in [policy] or a dataset.

A job's spend is read from its parameters, parsed by the kind's spec (``JobKind.budget``);
a job spending more than the cap on one of the node's datasets is refused with a reason
naming the dataset, the ε asked and the cap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privstats.jobs.kinds import get_kind
from privstats.node.config import AllowRule, DatasetConfig, NodeConfig, PolicyConfig, parse_config
from privstats.node.policy import Decision, evaluate
from privstats.service.manifest import DatasetUse, Manifest

#: Declared, so that the policy need not read a file to learn them.
COLUMNS = ("person_id", "region", "age", "activity", "f1")
ALLOW = (
    AllowRule(kind="synthesize", datasets=("population",)),
    AllowRule(kind="fl_train", datasets=("population",)),
    AllowRule(kind="fl_train"),
    AllowRule(kind="coverage", datasets=("population",)),
)


def make_config(
    *,
    max_epsilon: float | None = None,
    max_delta: float | None = None,
    dataset_epsilon: float | None = None,
) -> NodeConfig:
    """Node 'nso' offering 'population' for synthesis, training and coverage."""
    return NodeConfig(
        name="nso",
        hub="http://127.0.0.1:8700",
        path=Path("node.toml"),
        datasets={
            "population": DatasetConfig(
                path=Path("register.csv"),
                key_columns=("person_id",),
                columns=COLUMNS,
                max_epsilon=dataset_epsilon,
            )
        },
        policy=PolicyConfig(
            approval="auto", max_epsilon=max_epsilon, max_delta=max_delta, allow=ALLOW
        ),
    )


def make_manifest(
    kind_name: str,
    parameters: dict[str, Any],
    parties: dict[str, str],
    datasets: dict[str, DatasetUse],
    **changes: Any,
) -> Manifest:
    """A manifest as the hub builds it: the disclosure is what the parameters imply."""
    kind = get_kind(kind_name)
    fields: dict[str, Any] = {
        "kind": kind_name,
        "parameters": parameters,
        "parties": parties,
        "datasets": datasets,
        "recipients": ("analyst",),
        "disclosure": kind.disclosure(kind.parse(parameters)),
        "code_version": "0.1.0",
    }
    return Manifest(**{**fields, **changes})


def mst(epsilon: float, **extra: Any) -> Manifest:
    """An MST synthesis of 'population' at 'nso' spending ``epsilon``."""
    columns = ("age", "region")
    return make_manifest(
        "synthesize",
        {"columns": list(columns), "method": "mst", "epsilon": epsilon, **extra},
        {"owner": "nso"},
        {"owner": DatasetUse(party="nso", dataset="population", columns=columns)},
    )


def fl_train(dp_epsilon: float | None, *, coordinator: bool = False) -> Manifest:
    """DP federated training; 'nso' an office with 'population' (or the coordinator)."""
    parameters: dict[str, Any] = {"label": "activity", "features": ["f1"]}
    if dp_epsilon is not None:
        parameters["dp_epsilon"] = dp_epsilon
    office = DatasetUse(party="office_c", dataset="activity", columns=("activity", "f1"))
    mine = DatasetUse(party="nso", dataset="population", columns=("activity", "f1"))
    if coordinator:
        parties = {"coordinator": "nso", "party1": "office_b", "party2": "office_c"}
        datasets = {"party1": office, "party2": office}
    else:
        parties = {"coordinator": "coord", "party1": "nso", "party2": "office_c"}
        datasets = {"party1": mine, "party2": office}
    return make_manifest("fl_train", parameters, parties, datasets)


def coverage() -> Manifest:
    columns = ("person_id", "region")
    return make_manifest(
        "coverage",
        {"key": "person_id", "by": ["region"]},
        {"register": "nso", "source": "telco"},
        {
            "register": DatasetUse(party="nso", dataset="population", columns=columns),
            "source": DatasetUse(party="telco", dataset="customers", columns=("msisdn",)),
        },
    )


def refused_for_budget(decision: Decision, *fragments: str) -> None:
    """Assert a rejection with exactly one reason, the budget cap, mentioning ``fragments``."""
    assert decision.action == "reject", decision
    assert len(decision.reasons) == 1, decision.reasons
    for fragment in fragments:
        assert fragment in decision.reason, (fragment, decision.reason)


# --------------------------------------------------------------------------- the global cap


@pytest.mark.parametrize("manifest", [mst(2), fl_train(2)], ids=["mst", "fl_train"])
def test_a_job_spending_more_than_max_epsilon_is_refused(manifest: Manifest) -> None:
    decision = evaluate(manifest, make_config(max_epsilon=1))
    refused_for_budget(
        decision,
        "the job would spend ε = 2 of dataset 'population', more than this node's cap of "
        "max_epsilon = 1 (set in [policy])",
    )


@pytest.mark.parametrize("manifest", [mst(0.5), fl_train(0.5)], ids=["mst", "fl_train"])
def test_a_job_within_max_epsilon_is_allowed(manifest: Manifest) -> None:
    assert evaluate(manifest, make_config(max_epsilon=1)).action == "approve"


def test_the_cap_itself_is_allowed() -> None:
    assert evaluate(mst(1), make_config(max_epsilon=1)).action == "approve"


@pytest.mark.parametrize(
    "manifest",
    [
        coverage(),
        fl_train(None),
        make_manifest(
            "synthesize",
            {"columns": ["age", "region"], "method": "cart", "epsilon": 5},
            {"owner": "nso"},
            {"owner": DatasetUse(party="nso", dataset="population", columns=("age", "region"))},
        ),
    ],
    ids=["coverage", "fl_train without DP", "cart synthesis"],
)
def test_a_kind_that_spends_no_budget_is_unaffected(manifest: Manifest) -> None:
    assert get_kind(manifest.kind).budget(get_kind(manifest.kind).parse(manifest.parameters)) is (
        None
    )
    assert evaluate(manifest, make_config(max_epsilon=0.001)).action == "approve"


def test_without_a_cap_any_budget_is_allowed() -> None:
    assert evaluate(mst(50), make_config()).action == "approve"


def test_a_coordinator_reads_no_data_so_spends_none_of_this_nodes_budget() -> None:
    decision = evaluate(fl_train(2, coordinator=True), make_config(max_epsilon=1))
    assert decision.action == "approve", decision.reasons


def test_max_delta_caps_delta() -> None:
    decision = evaluate(mst(0.5, delta=1e-6), make_config(max_epsilon=1, max_delta=1e-9))
    refused_for_budget(decision, "δ = 1e-06 of dataset 'population'", "max_delta = 1e-09")
    assert evaluate(mst(0.5, delta=1e-9), make_config(max_delta=1e-9)).action == "approve"


def test_the_spend_is_read_from_the_parameters_not_the_hubs_disclosure() -> None:
    honest = mst(2)
    claims_less = honest.model_copy(update={"disclosure": mst(0.5).disclosure})
    decision = evaluate(claims_less, make_config(max_epsilon=1))
    assert decision.action == "reject"
    assert "ε = 2 of dataset 'population'" in decision.reason


# --------------------------------------------------------------------------- per dataset


def test_a_datasets_own_cap_replaces_the_policys() -> None:
    looser = make_config(max_epsilon=1, dataset_epsilon=3)
    assert evaluate(mst(2), looser).action == "approve"
    stricter = make_config(max_epsilon=None, dataset_epsilon=0.25)
    refused_for_budget(
        evaluate(mst(0.5), stricter),
        "ε = 0.5 of dataset 'population', more than this node's cap of max_epsilon = 0.25 "
        "(set in [datasets.population])",
    )


# --------------------------------------------------------------------------- from the file


def test_max_epsilon_in_a_config_file_refuses_a_larger_spend(tmp_path: Path) -> None:
    text = """\
[node]
name = "nso"
hub = "http://127.0.0.1:8700"

[datasets.population]
path = "register.csv"
key_columns = ["person_id"]
columns = ["person_id", "region", "age", "activity", "f1"]

[policy]
approval = "auto"
max_epsilon = 1

[[policy.allow]]
kind = "synthesize"
datasets = ["population"]

[[policy.allow]]
kind = "fl_train"
datasets = ["population"]
"""
    config = parse_config(text, tmp_path / "node.toml")
    assert config.policy.max_epsilon == 1.0
    refused_for_budget(evaluate(mst(2), config), "ε = 2", "max_epsilon = 1")
    refused_for_budget(evaluate(fl_train(2), config), "ε = 2", "max_epsilon = 1")
    assert evaluate(mst(0.5), config).action == "approve"
    assert evaluate(fl_train(0.5), config).action == "approve"


def test_a_spend_just_above_the_cap_is_refused_and_shown_exactly() -> None:
    refused_for_budget(
        evaluate(mst(1.0000001), make_config(max_epsilon=1)),
        "ε = 1.0000001 of dataset 'population'",
    )
