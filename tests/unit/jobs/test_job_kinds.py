"""The job-kind registry: fixed roles, and kinds that take any number of like parties."""

from __future__ import annotations

import pytest

from privstats.errors import ParameterError
from privstats.jobs.kinds import KINDS, get_kind


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert set(KINDS) == {
        "coverage", "aggregate", "join_aggregate", "fl_train", "he_inference", "synthesize",
        "secure_count", "linkage_coverage",
    }  # fmt: skip
    assert all(kind.name == name for name, kind in KINDS.items())
    assert [name for name, kind in KINDS.items() if kind.releases_records] == ["synthesize"]


def test_fixed_roles_must_all_be_named() -> None:
    join = get_kind("join_aggregate")
    assert join.check_roles({"right", "left"}) == ("left", "right")
    with pytest.raises(ParameterError, match="left, right"):
        join.check_roles({"left"})


@pytest.mark.parametrize("count", [2, 3, 10])
def test_aggregate_takes_two_to_ten_numbered_parties(count: int) -> None:
    roles = [f"party{i}" for i in range(count, 0, -1)]
    assert get_kind("aggregate").check_roles(roles) == tuple(reversed(roles))


@pytest.mark.parametrize(
    "roles",
    [["party1"], ["party1", "party3"], ["p1", "p2"], [f"party{i}" for i in range(1, 12)]],
)
def test_aggregate_refuses_other_role_sets(roles: list[str]) -> None:
    with pytest.raises(ParameterError, match="2 to 10 parties"):
        get_kind("aggregate").check_roles(roles)


@pytest.mark.parametrize("count", [2, 5, 10])
def test_fl_train_takes_a_coordinator_and_two_to_ten_offices(count: int) -> None:
    kind = get_kind("fl_train")
    roles = ["coordinator", *(f"party{i}" for i in range(count, 0, -1))]
    assert kind.check_roles(roles) == ("coordinator", *(f"party{i}" for i in range(1, count + 1)))
    assert kind.dataless_roles == ("coordinator",)


@pytest.mark.parametrize(
    "roles",
    [["party1", "party2"], ["coordinator", "party1"], ["coordinator", "party1", "party3"]],
)
def test_fl_train_refuses_a_missing_coordinator_or_too_few_offices(roles: list[str]) -> None:
    with pytest.raises(ParameterError, match="role coordinator and 2 to 10 parties"):
        get_kind("fl_train").check_roles(roles)


def test_fl_train_jobs_must_name_their_features() -> None:
    kind = get_kind("fl_train")
    spec = kind.parse({"label": "activity", "subject": "subject", "features": ["a", "b"]})
    assert kind.columns(spec, "party1") == ("activity", "subject", "a", "b")
    assert kind.columns(spec, "coordinator") == ()
    with pytest.raises(ParameterError, match="must name its feature columns"):
        kind.columns(kind.parse({"label": "activity"}), "party1")


def test_he_inference_reads_the_model_features_and_the_label() -> None:
    kind = get_kind("he_inference")
    spec = kind.parse({"features": ["a", "b"], "label": "y"})
    assert kind.columns(spec, "querier") == ("a", "b", "y")
    assert kind.columns(spec, "model_holder") == ("a", "b")
    assert kind.disclosure(spec) == {"min_cell": 10}


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(
        ParameterError, match="aggregate, coverage, fl_train, he_inference, join_aggr"
    ):
        get_kind("regression")


def test_every_option_of_every_kind_has_its_help_from_the_spec() -> None:
    from privstats.cli._kind_cli import spec_options

    for kind in KINDS.values():
        for option in spec_options(kind):
            assert option.hint.help or option.info.description, (kind.name, option.path)
            shown = option.parameter().default.help
            assert "Undefined" not in shown, (kind.name, option.path, shown)
