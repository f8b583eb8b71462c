"""The job-kind registry: fixed roles, and kinds that take any number of like parties."""

from __future__ import annotations

import pytest

from privstats.errors import ParameterError
from privstats.jobs.kinds import KINDS, get_kind


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert set(KINDS) == {"coverage", "aggregate", "join_aggregate"}
    assert all(kind.name == name for name, kind in KINDS.items())


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


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ParameterError, match="aggregate, coverage, join_aggregate"):
        get_kind("regression")
