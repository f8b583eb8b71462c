"""Tests of the node's approval policy: every rule approving, and rejecting with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privstats.jobs.kinds import get_kind
from privstats.node.agent import decide
from privstats.node.config import AllowRule, DatasetConfig, NodeConfig, PolicyConfig
from privstats.node.policy import Decision, evaluate
from privstats.service.manifest import DatasetUse, Manifest

COLUMNS = ("person_id", "region")


def make_manifest(**changes: Any) -> Manifest:
    """A coverage job between 'nso' (register) and 'telco' (source), changed by ``changes``.

    Unless ``changes`` gives a disclosure, it is the one the parameters imply, as the hub
    builds it.
    """
    fields: dict[str, Any] = {
        "kind": "coverage",
        "parameters": {"key": "person_id", "by": ["region"]},
        "parties": {"register": "nso", "source": "telco"},
        "datasets": {
            "register": DatasetUse(party="nso", dataset="population", columns=COLUMNS),
            "source": DatasetUse(party="telco", dataset="customers", columns=("msisdn",)),
        },
        "recipients": ("analyst",),
        "code_version": "0.1.0",
    }
    fields.update(changes)
    if "disclosure" not in fields:
        kind = get_kind(fields["kind"])
        fields["disclosure"] = kind.disclosure(kind.parse(fields["parameters"]))
    return Manifest(**fields)


def _aggregate_manifest(min_cell: int = 10, **changes: Any) -> Manifest:
    """An aggregate of 'region' counts between 'nso' (party1) and 'telco' (party2)."""
    fields: dict[str, Any] = {
        "kind": "aggregate",
        "parameters": {"by": ["region"], "min_cell": min_cell},
        "parties": {"party1": "nso", "party2": "telco"},
        "datasets": {
            "party1": DatasetUse(party="nso", dataset="population", columns=("region",)),
            "party2": DatasetUse(party="telco", dataset="customers", columns=("region",)),
        },
    }
    return make_manifest(**{**fields, **changes})


def make_config(
    *,
    approval: str = "auto",
    min_cell: int = 10,
    recipients: tuple[str, ...] | None = ("analyst",),
    allow: tuple[AllowRule, ...] = (AllowRule(kind="coverage", datasets=("population",)),),
    columns: tuple[str, ...] | None = ("person_id", "region", "age"),
    path: Path = Path("register.csv"),
) -> NodeConfig:
    return NodeConfig(
        name="nso",
        hub="http://127.0.0.1:8700",
        path=Path("node.toml"),
        datasets={
            "population": DatasetConfig(path=path, key_columns=("person_id",), columns=columns),
            "deaths": DatasetConfig(path=Path("deaths.csv"), key_columns=("person_id",)),
        },
        policy=PolicyConfig(
            approval=approval,  # type: ignore[arg-type]
            min_cell=min_cell,
            recipients=recipients,
            allow=allow,
        ),
    )


def rejected(decision: Decision, *fragments: str) -> None:
    """Assert a rejection whose reasons mention every fragment."""
    assert decision.action == "reject", decision
    text = " | ".join(decision.reasons)
    for fragment in fragments:
        assert fragment in text, (fragment, text)


# --------------------------------------------------------------------------- approving


def test_a_job_within_policy_is_approved_in_auto_mode() -> None:
    decision = evaluate(make_manifest(), make_config())
    assert decision == Decision("approve", ("the job meets this node's policy",))


def test_a_job_within_policy_is_left_to_the_data_owner_in_ask_mode() -> None:
    decision = evaluate(make_manifest(), make_config(approval="ask"))
    assert decision.action == "ask"
    assert "approval = ask" in decision.reason


def test_rule_columns_limit_what_may_be_read() -> None:
    rule = AllowRule(kind="coverage", datasets=("population",), columns=COLUMNS)
    assert evaluate(make_manifest(), make_config(allow=(rule,))).action == "approve"


def test_without_rule_or_declared_columns_the_files_columns_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text("person_id,region,age\n1,N,3\n", encoding="utf-8")
    config = make_config(columns=None, path=path)
    assert evaluate(make_manifest(), config).action == "approve"


def test_any_matching_rule_may_allow_the_job() -> None:
    rules = (
        AllowRule(kind="coverage", datasets=("deaths",)),
        AllowRule(kind="coverage", datasets=("population",), columns=("person_id",)),
        AllowRule(kind="coverage", datasets=("deaths", "population"), columns=COLUMNS),
    )
    assert evaluate(make_manifest(), make_config(allow=rules)).action == "approve"


def test_min_domain_above_the_minimum_and_min_cell_are_accepted() -> None:
    config = make_config(min_cell=10)
    manifest = make_manifest(parameters={"key": "person_id", "by": ["region"], "min_cell": 25})
    assert manifest.disclosure == {"min_cell": 25}
    assert evaluate(manifest, config).action == "approve"
    aggregate = make_config(allow=(AllowRule(kind="aggregate", datasets=("population",)),))
    assert evaluate(_aggregate_manifest(min_cell=10), aggregate).action == "approve"


def test_no_recipient_list_allows_anyone() -> None:
    manifest = make_manifest(recipients=("analyst", "someone"))
    assert evaluate(manifest, make_config(recipients=None)).action == "approve"


def test_columns_equal_to_what_the_parameters_need_are_accepted_in_any_order() -> None:
    datasets = dict(make_manifest().datasets)
    datasets["register"] = DatasetUse(
        party="nso", dataset="population", columns=("region", "person_id")
    )
    assert evaluate(make_manifest(datasets=datasets), make_config()).action == "approve"


# --------------------------------------------------------------------------- rejecting


def test_a_node_that_is_not_a_party_is_rejected() -> None:
    manifest = make_manifest(parties={"register": "other", "source": "telco"})
    decision = evaluate(manifest, make_config())
    rejected(decision, "this node ('nso') is not a party of the job", "'other', 'telco'")


def test_wrong_kind_is_rejected() -> None:
    decision = evaluate(_aggregate_manifest(), make_config())
    rejected(decision, "this node does not allow 'aggregate' jobs (it allows 'coverage')")


def test_an_unknown_kind_is_rejected() -> None:
    manifest = make_manifest(kind="regression", disclosure={"min_cell": 10})
    rejected(evaluate(manifest, make_config()), "unknown computation kind 'regression'")


def test_parameters_the_kind_cannot_run_are_rejected() -> None:
    manifest = make_manifest(parameters={"key": "person_id", "min_cell": 0}, disclosure={})
    rejected(evaluate(manifest, make_config()), "cannot be run", "min_cell")


def test_no_allow_rules_reject_everything() -> None:
    rejected(evaluate(make_manifest(), make_config(allow=())), "its policy allows no jobs")


def test_dataset_not_allowed_for_the_kind_is_rejected() -> None:
    datasets = dict(make_manifest().datasets)
    datasets["register"] = DatasetUse(party="nso", dataset="deaths", columns=("person_id",))
    decision = evaluate(make_manifest(datasets=datasets), make_config())
    rejected(decision, "'coverage' jobs may not use dataset 'deaths' (they may use 'population')")


def test_undeclared_dataset_is_rejected() -> None:
    datasets = dict(make_manifest().datasets)
    datasets["register"] = DatasetUse(party="nso", dataset="secret", columns=("person_id",))
    decision = evaluate(make_manifest(datasets=datasets), make_config())
    rejected(decision, "dataset 'secret', which this node does not offer", "'deaths', 'population'")


def test_dataset_of_another_party_is_rejected() -> None:
    datasets = dict(make_manifest().datasets)
    datasets["register"] = DatasetUse(party="telco", dataset="population", columns=COLUMNS)
    decision = evaluate(make_manifest(datasets=datasets), make_config())
    rejected(decision, "belongs to party 'telco', not to this node ('nso')")


def test_role_without_dataset_is_rejected() -> None:
    datasets = {"source": make_manifest().datasets["source"]}
    rejected(evaluate(make_manifest(datasets=datasets), make_config()), "role 'register'")


def test_a_column_not_allowed_by_the_rule_is_rejected() -> None:
    rule = AllowRule(kind="coverage", datasets=("population",), columns=("person_id",))
    decision = evaluate(make_manifest(), make_config(allow=(rule,)))
    rejected(
        decision,
        "column 'region' of dataset 'population' is not allowed for 'coverage' jobs "
        "(allowed: 'person_id')",
    )


def test_a_column_not_declared_for_the_dataset_is_rejected() -> None:
    decision = evaluate(make_manifest(), make_config(columns=("person_id", "age")))
    rejected(decision, "column 'region' of dataset 'population' is not allowed")


def test_a_column_not_in_the_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text("person_id,age\n1,3\n", encoding="utf-8")
    decision = evaluate(make_manifest(), make_config(columns=None, path=path))
    rejected(decision, "column 'region'", "(allowed: 'person_id', 'age')")


def test_an_unreadable_file_is_rejected_with_the_reason(tmp_path: Path) -> None:
    decision = evaluate(make_manifest(), make_config(columns=None, path=tmp_path / "gone.csv"))
    rejected(decision, "dataset 'population' cannot be read", "gone.csv: file not found")


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        (
            make_manifest(parameters={"key": "person_id", "min_cell": 5}),
            "= 5) is smaller than this node's min_cell of 10",
        ),
        (_aggregate_manifest(min_cell=3), "(min_cell = 3) is smaller than"),
    ],
)
def test_too_small_a_minimum_size_is_rejected(manifest: Manifest, fragment: str) -> None:
    config = make_config(
        min_cell=10,
        allow=(
            AllowRule(kind="coverage", datasets=("population",)),
            AllowRule(kind="aggregate", datasets=("population",)),
        ),
    )
    rejected(evaluate(manifest, config), fragment)


def test_the_hubs_disclosure_is_not_trusted_over_the_parameters() -> None:
    """issue 13: min_cell = 1 run, min_cell = 10 stated, was approved by policy."""
    manifest = make_manifest(
        parameters={"key": "person_id", "by": ["region"], "min_cell": 1},
        disclosure={"min_cell": 10},
    )
    _, decision = decide(_job(manifest), make_config(min_cell=10))
    rejected(
        decision,
        "the manifest's disclosure states min_cell = 10, but its parameters run the job "
        "with min_cell = 1",
        "= 1) is smaller than this node's min_cell of 10",
    )


@pytest.mark.parametrize(
    ("disclosure", "fragment"),
    [
        ({}, "the manifest's disclosure leaves out min_cell, which its parameters set to 10"),
        (
            {"min_cell": 10, "epsilon": 1.0},
            "the manifest's disclosure states epsilon = 1.0, which its parameters do not set",
        ),
        ({"min_cell": "10"}, 'states min_cell = "10", but its parameters run the job with'),
        ({"min_cell": True}, "states min_cell = true, but its parameters run the job with"),
        ({"min_cell": 25}, "states min_cell = 25, but its parameters run the job with"),
    ],
)
def test_a_stated_disclosure_other_than_the_parameters_imply_is_rejected(
    disclosure: dict[str, Any], fragment: str
) -> None:
    decision = evaluate(make_manifest(disclosure=disclosure), make_config(min_cell=10))
    rejected(decision, fragment)


def test_a_stated_budget_other_than_the_parameters_is_rejected() -> None:
    manifest = _fl_manifest(parameters={"label": "activity", "features": ["f1"], "epsilon": 8})
    stated = {**manifest.disclosure, "epsilon": 1.0}
    config = make_config(allow=(AllowRule(kind="fl_train"),))
    decision = evaluate(_fl_manifest(disclosure=stated, parameters=manifest.parameters), config)
    rejected(decision, "states epsilon = 1.0, but its parameters run the job with epsilon = 8")


def test_a_recipient_not_on_the_list_is_rejected() -> None:
    manifest = make_manifest(recipients=("analyst", "journalist"))
    decision = evaluate(manifest, make_config(recipients=("analyst",)))
    rejected(
        decision,
        "result recipient 'journalist' is not among this node's allowed recipients ('analyst')",
    )


def test_columns_differing_from_what_the_parameters_need_are_rejected() -> None:
    datasets = dict(make_manifest().datasets)
    datasets["register"] = DatasetUse(party="nso", dataset="population", columns=("person_id",))
    decision = evaluate(make_manifest(datasets=datasets), make_config())
    rejected(
        decision,
        "the columns the manifest names for dataset 'population' ('person_id') differ from "
        "those its parameters need ('person_id', 'region')",
    )


def test_ask_mode_still_rejects_a_job_outside_policy() -> None:
    decision = evaluate(_aggregate_manifest(), make_config(approval="ask"))
    assert decision.action == "reject"


def test_every_failed_check_is_reported() -> None:
    manifest = make_manifest(
        parameters={"key": "person_id", "by": ["region"], "min_cell": 2},
        recipients=("journalist",),
        disclosure={"min_cell": 10},
    )
    rule = AllowRule(kind="coverage", datasets=("population",), columns=("person_id",))
    decision = evaluate(manifest, make_config(allow=(rule,)))
    assert decision.action == "reject"
    assert len(decision.reasons) == 4  # disclosure stated, column, min_cell, recipient
    assert decision.reason == "; ".join(decision.reasons)


def _fl_manifest(datasets: dict[str, DatasetUse] | None = None, **changes: Any) -> Manifest:
    office = DatasetUse(party="office_b", dataset="activity", columns=("activity", "f1"))
    fields: dict[str, Any] = {
        "kind": "fl_train",
        "parameters": {"label": "activity", "features": ["f1"]},
        "parties": {"coordinator": "nso", "party1": "office_b", "party2": "office_c"},
        "datasets": datasets or {"party1": office, "party2": office},
    }
    return make_manifest(**{**fields, **changes})


def test_a_coordinator_role_is_approved_by_a_rule_without_datasets() -> None:
    config = make_config(allow=(AllowRule(kind="fl_train"),))
    decision = evaluate(_fl_manifest(), config)
    assert decision.action == "approve", decision.reasons


@pytest.mark.parametrize(
    "rules",
    [(), (AllowRule(kind="fl_train", datasets=("population",)),), (AllowRule(kind="coverage"),)],
)
def test_a_coordinator_role_needs_a_rule_for_the_kind_without_datasets(
    rules: tuple[AllowRule, ...],
) -> None:
    decision = evaluate(_fl_manifest(), make_config(allow=rules))
    assert decision.action == "reject"
    assert "'fl_train' jobs without data (role 'coordinator')" in decision.reason


def test_a_coordinator_role_refuses_a_manifest_that_names_its_data() -> None:
    mine = DatasetUse(party="nso", dataset="population", columns=("person_id",))
    manifest = _fl_manifest({"coordinator": mine})
    config = make_config(allow=(AllowRule(kind="fl_train"),))
    decision = evaluate(manifest, config)
    assert decision.action == "reject"
    assert "names a dataset for role 'coordinator', which reads no data" in decision.reason


def test_fl_train_min_cell_is_a_minimum_size_the_policy_checks() -> None:
    config = make_config(min_cell=20, allow=(AllowRule(kind="fl_train"),))
    decision = evaluate(_fl_manifest(), config)
    assert decision.action == "reject"
    assert "min_cell = 10" in decision.reason


def _synthesize_manifest(columns: tuple[str, ...]) -> Manifest:
    return make_manifest(
        kind="synthesize",
        parameters={"columns": list(columns)},
        parties={"owner": "nso"},
        datasets={"owner": DatasetUse(party="nso", dataset="population", columns=columns)},
    )


def test_a_job_releasing_records_may_not_read_key_columns() -> None:
    config = make_config(allow=(AllowRule(kind="synthesize", datasets=("population",)),))
    allowed = evaluate(_synthesize_manifest(("region", "age")), config)
    assert allowed.action == "approve", allowed
    manifest = _synthesize_manifest(("person_id", "region"))
    rejected(
        evaluate(manifest, config),
        "'person_id', a column among the key columns (identifiers) of dataset "
        "'population'; leave it out",
    )
    # the same columns in a job that releases only aggregates are fine
    aggregate = make_config(allow=(AllowRule(kind="aggregate", datasets=("population",)),))
    by_key = _aggregate_manifest(
        parameters={"by": ["person_id", "region"]},
        datasets={
            "party1": DatasetUse(
                party="nso", dataset="population", columns=manifest.datasets["owner"].columns
            ),
            "party2": DatasetUse(
                party="telco", dataset="customers", columns=("person_id", "region")
            ),
        },
    )
    assert evaluate(by_key, aggregate).action == "approve"


def _job(manifest: Manifest) -> dict[str, Any]:
    return {
        "id": "0123456789abcdef",
        "manifest": manifest.model_dump(mode="json"),
        "manifest_hash": manifest.digest(),
    }


def test_a_job_for_another_version_is_rejected_for_that_reason_only() -> None:
    _, decision = decide(_job(make_manifest(code_version="0.0.1")), make_config())
    assert decision.action == "reject"
    assert len(decision.reasons) == 1
    assert "the job was made for privstats 0.0.1" in decision.reason


@pytest.mark.parametrize(
    ("kind_name", "parameters"),
    [
        ("coverage", {"key": "person_id", "by": ["region"], "min_cell": 12}),
        ("aggregate", {"by": ["region"], "stats": ["count", "mean:income"], "min_cell": 7}),
        ("join_aggregate", {"key": "id", "by": ["region"], "right_values": ["income"]}),
        ("fl_train", {"label": "y", "features": ["f1"], "epsilon": 3, "min_cell": 20}),
        ("he_inference", {"features": ["f1", "f2"], "label": "y", "min_cell": 11}),
        ("synthesize", {"columns": ["age", "region"], "method": "mst", "epsilon": 2}),
        ("synthesize", {"columns": ["age", "region"], "method": "cart", "min_leaf": 3}),
    ],
)
def test_a_manifest_as_the_hub_builds_it_states_what_its_parameters_imply(
    kind_name: str, parameters: dict[str, Any]
) -> None:
    """Control for the check above: the hub's own manifests (parameters and disclosure from
    the same spec, through canonical JSON) are never refused for their disclosure."""
    kind = get_kind(kind_name)
    spec = kind.parse(parameters)
    roles = kind.check_roles(
        [*kind.roles, "party1", "party2"] if kind.parties is not None else kind.roles
    )
    built = Manifest(
        kind=kind_name,
        parameters=spec.model_dump(mode="json"),
        parties={role: "nso" if i == 0 else f"p{i}" for i, role in enumerate(roles)},
        datasets={},
        recipients=("analyst",),
        disclosure=kind.disclosure(spec),
        code_version="0.1.0",
    )
    sent = Manifest.model_validate_json(built.canonical())
    decision = evaluate(sent, make_config(min_cell=1))
    assert "disclosure" not in decision.reason, decision.reason
    assert not [r for r in decision.reasons if "parameters" in r], decision.reasons
