"""Errors reached from the command line name the option typed, not the Python parameter."""

from __future__ import annotations

import pytest
import typer

from privstats.cli._kind_cli import run_command
from privstats.cli._options import in_option_words, option_names, option_words
from privstats.cli.run_aggregate import aggregate
from privstats.cli.run_join import join_aggregate
from privstats.errors import ParameterError
from privstats.jobs.aggregate import AggregateSpec
from privstats.jobs.coverage import CoverageSpec, NormalizationSpec
from privstats.jobs.join_aggregate import JoinAggregateSpec
from privstats.jobs.kinds import KINDS

coverage = run_command(KINDS["coverage"])  # generated from the kind's declaration


def _reworded(command: object, build: object, **values: object) -> ParameterError:
    with pytest.raises(ParameterError) as info, option_words(command):  # type: ignore[arg-type]
        build(**values)  # type: ignore[operator]
    return info.value


def test_option_names_come_from_the_command_signature() -> None:
    names = option_names(aggregate)
    assert names["min_cell"] == "--min-cell"
    assert names["party"] == "--party"
    assert names["as_json"] == "--json"
    assert (
        option_names(coverage)["normalization__casefold"] == "--casefold"
    )  # not "--casefold/--no-casefold"
    assert option_names(coverage)["peer_key"] == "--source-key"


@pytest.mark.parametrize(
    ("command", "build", "values", "expected"),
    [
        (aggregate, AggregateSpec.build, {"min_cell": 0}, "--min-cell: Input should be greater"),
        (aggregate, AggregateSpec.build, {"frac_bits": 99}, "--frac-bits: Input should be less"),
        (aggregate, AggregateSpec.build, {"stats": ("mean:",)}, "--stat: statistic 'mean:' needs"),
        (join_aggregate, JoinAggregateSpec.build, {"key": "k", "decimals": 9}, "--decimals: "),
        (join_aggregate, JoinAggregateSpec.build, {"key": "k", "min_cell": 0}, "--min-cell: "),
        (coverage, CoverageSpec.build, {"key": "k", "min_domain": 0}, "--min-cell: "),
        (coverage, CoverageSpec.build, {"key": "k", "confidence": 2}, "--confidence: "),
    ],
)
def test_spec_errors_name_the_cli_option(
    command: object, build: object, values: dict[str, object], expected: str
) -> None:
    error = _reworded(command, build, **values)
    assert str(error).startswith(expected)
    assert "option '" not in str(error)
    assert error.parameter == expected.split(":")[0]
    assert isinstance(error.__cause__, ParameterError)  # the original stays as the cause


def test_a_nested_field_names_its_option() -> None:
    error = ParameterError(
        "coverage option 'normalization.remove': bad pattern", parameter="normalization"
    )
    reworded = in_option_words(error, option_names(coverage))
    assert reworded is not None
    assert str(reworded) == "--id-remove: bad pattern"
    with (
        pytest.raises(ParameterError, match=r"^--id-remove pattern '\(\?=x\)' is not a valid"),
        option_words(coverage, {"remove": "--id-remove"}),
    ):
        NormalizationSpec(remove="(?=x)").rule()


@pytest.mark.parametrize(
    ("message", "parameter", "expected"),
    [
        ("min_cell must be at least 1", "min_cell", "--min-cell must be at least 1"),
        ("must be at least 1", "min_cell", "--min-cell: must be at least 1"),
        ("--party: write NAME=FILE", "party", None),  # already in the CLI's words
        ("columns must name a column", "columns", None),  # not an option of the command
        ("no parameter named", None, None),
    ],
)
def test_rewording_rules(message: str, parameter: str | None, expected: str | None) -> None:
    reworded = in_option_words(
        ParameterError(message, parameter=parameter), option_names(aggregate)
    )
    assert (None if reworded is None else str(reworded)) == expected


def test_other_errors_pass_unchanged() -> None:
    with pytest.raises(ParameterError, match=r"^columns must") as info, option_words(aggregate):
        raise ParameterError("columns must name a column", parameter="columns")
    assert info.value.__cause__ is None
    with pytest.raises(typer.Exit), option_words(aggregate):
        raise typer.Exit(2)
