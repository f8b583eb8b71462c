"""PrivacyReport: a checked, frozen record whose dict is the JSON results have always had."""

from __future__ import annotations

import json

import pydantic
import pytest

from privstats.disclosure import Budget, PrivacyReport


def _report(**changes: object) -> PrivacyReport:
    fields: dict[str, object] = {
        "method": "mst",
        "mechanism": "discrete Gaussian (OpenDP)",
        "spent": Budget(epsilon=1.0, delta=1e-9),
        "figures": {"rho": 0.015},
        "accounting": "zCDP, ρ added",
        "covers": "the model and its samples",
        "details": {"bins": 16, "bounds": {"x": [0.0, 1.0]}},
        "outside_epsilon": ("the category lists",),
        "trailing": {"tree": [["a", "b"]], "measurements": [{"what": "1-way a", "rho": 0.01}]},
        "caveats": ("ε is an upper bound",),
    }
    return PrivacyReport.model_validate(fields | changes)


def test_to_dict_keeps_the_keys_and_order_results_had_and_adds_new_ones_last() -> None:
    out = _report().to_dict()

    # the layout of MST's privacy report before PrivacyReport existed, then the new keys
    assert list(out) == [
        "method", "mechanism", "epsilon", "delta", "rho", "accounting", "neighbouring",
        "bins", "bounds", "outside_epsilon", "tree", "measurements", "caveats",
        "unit", "covers",
    ]  # fmt: skip
    assert out["epsilon"] == 1.0 and out["delta"] == 1e-9 and out["rho"] == 0.015
    assert out["unit"] == "one record"
    assert out["neighbouring"] == "add or remove one record"
    assert json.loads(json.dumps(out)) == out  # plain JSON


def test_to_dict_is_a_fresh_copy_and_the_report_is_frozen() -> None:
    report = _report()
    out = report.to_dict()
    out["measurements"][0]["rho"] = 99.0
    out["bounds"]["x"].clear()
    out["outside_epsilon"].clear()

    again = report.to_dict()
    assert again["measurements"][0]["rho"] == 0.01
    assert again["bounds"]["x"] == [0.0, 1.0] and again["outside_epsilon"]
    with pytest.raises(pydantic.ValidationError):
        report.mechanism = "other"  # type: ignore[misc]


def test_method_is_left_out_when_not_given_and_nothing_spent_is_zero() -> None:
    out = _report(method=None, spent=None).to_dict()

    assert "method" not in out
    assert out["epsilon"] == 0.0 and out["delta"] == 0.0
    assert "ε = 0" in str(_report(spent=None))


@pytest.mark.parametrize(
    "changes",
    [
        {"details": {"epsilon": 2.0}},  # a named key again
        {"figures": {"rho": 1.0}, "trailing": {"rho": 2.0}},  # twice among the mappings
        {"spent": {"epsilon": 0.0}},  # not a budget
        {"surprise": 1},  # unknown field
    ],
)
def test_invalid_reports_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        _report(**changes)
