"""Known linkage error rates adjust every released coverage cell, and only released ones."""

from __future__ import annotations

from typing import Any

import pytest

from privstats.errors import ParameterError
from privstats.jobs.coverage_spec import CoverageSpec
from privstats.jobs.linkage_adjust import add_adjusted, given_errors
from privstats.stats.linkage_error import LinkageErrors, adjusted_coverage


def _released() -> dict[str, Any]:
    return {
        "register_size": 1000,
        "matched": 520,
        "coverage": {"estimate": 0.52, "confidence": 0.9},
        "groups": [
            {"by": {"region": "North"}, "register_size": 600, "matched": 330},
            {"by": {"region": "Islands"}, "register_size": None, "matched": None},
        ],
        "margins": [],
    }


def test_every_released_cell_is_adjusted_as_the_estimator_says() -> None:
    errors = given_errors((0.04, 0.12, 0.01, 0.02))
    assert errors == LinkageErrors(0.04, 0.12, 0.01, 0.02, source="given")
    result = _released()
    add_adjusted(result, errors)

    north = adjusted_coverage(330, 600, errors, 0.9).adjusted
    assert result["groups"][0]["adjusted"] == dict(
        zip(("estimate", "ci_low", "ci_high"), north, strict=True)
    )
    # 330 · 0.96 / 0.88 / 600: more covered than the 55 % matched
    assert result["groups"][0]["adjusted"]["estimate"] == pytest.approx(330 * 0.96 / 0.88 / 600)
    assert result["groups"][1]["adjusted"] is None  # withheld: nothing to adjust
    total = result["adjusted"]["coverage"]
    assert total == adjusted_coverage(520, 1000, errors, 0.9).as_dict()
    assert result["adjusted"]["errors"]["source"] == "given"


def test_a_withheld_total_has_no_adjusted_figure() -> None:
    result = _released() | {"matched": None, "register_size": None}
    add_adjusted(result, LinkageErrors(0.0, 0.1))
    assert result["adjusted"] is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((0.1,), "takes FMR,MMR"),
        ((0.1, 1.0), r"shares in \[0, 1\)"),
        ((0.1, 0.2, 0.3), "3 numbers"),
    ],
)
def test_bad_rates_are_refused_naming_the_option(values: tuple[float, ...], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        given_errors(values)
    with pytest.raises(ValueError, match="linkage-errors"):
        CoverageSpec.model_validate({"key": "id", "linkage_errors": values})


def test_no_rates_no_adjustment() -> None:
    assert given_errors(()) is None
    assert CoverageSpec.model_validate({"key": "id"}).linkage_errors == ()
