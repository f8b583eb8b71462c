"""``privstats run join-aggregate``: per-group count, sum and mean over two parties' records."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from privstats.cli._console import (
    column_list,
    fail_on_error,
    out,
    party_progress,
    rich_table,
    warn,
)
from privstats.cli._options import option_words
from privstats.data.readers import column_names
from privstats.disclosure.dp_release import parse_bounds
from privstats.errors import ParameterError
from privstats.jobs.coverage import NormalizationSpec
from privstats.jobs.join_aggregate import (
    LEFT,
    RIGHT,
    JoinAggregateSpec,
    join_view,
    run_local_join_aggregate,
)
from privstats.jobs.local import ProgressSink

__all__ = ["dp_terms", "join_aggregate", "join_table", "register"]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def register(app: typer.Typer) -> None:
    """Add the ``join-aggregate`` command to ``app`` (the ``privstats run`` group)."""
    app.command("join-aggregate")(join_aggregate)


def join_aggregate(
    left: str = typer.Option(
        ...,
        help="The party that receives the result and its file, NAME=FILE "
        "(e.g. nso=register.csv); NAME is optional.",
    ),
    right: str = typer.Option(
        ...,
        help="The party that contributes values and its file, NAME=FILE (e.g. bank=incomes.csv).",
    ),
    key: str = typer.Option(..., help="Identifier column of the left file (and of the right)."),
    right_key: str | None = typer.Option(
        None, help="Identifier column of the right file, if named differently."
    ),
    by: str | None = typer.Option(
        None, help="Group columns of the left file, comma-separated, e.g. region,age_group."
    ),
    value: list[str] | None = typer.Option(
        None,
        help="A value column to sum and average; looked up in both files' headers. Repeat "
        "for more columns.",
    ),
    left_value: list[str] | None = typer.Option(
        None, help="A value column of the left file (when the name is in both files)."
    ),
    right_value: list[str] | None = typer.Option(
        None, help="A value column of the right file (when the name is in both files)."
    ),
    min_cell: int = typer.Option(10, help="Groups with fewer matched persons are suppressed."),
    rule: list[str] | None = typer.Option(
        None,
        help="A table rule on every released cell and margin: freq:N (matched count), "
        "nk:n,k (dominance) or p:P (p %) on the right party's values. Repeatable.",
    ),
    dp_epsilon: float | None = typer.Option(
        None, help="Differential privacy: the budget ε of the whole release (noisy figures)."
    ),
    dp_delta: float = typer.Option(1e-9, help="Differential privacy: δ of the (ε, δ) guarantee."),
    dp_bounds: list[str] | None = typer.Option(
        None,
        help="Differential privacy: the public range of a value column, COL=LOW:HIGH "
        "(repeatable); values are clamped to it.",
    ),
    dp_unit: str = typer.Option(
        "record", help="Differential privacy: the privacy unit (one identifier: record)."
    ),
    decimals: int = typer.Option(
        2, help="Decimal places kept of non-integer values (0..6); sums are exact at this scale."
    ),
    casefold: bool = typer.Option(True, help="Match identifiers regardless of letter case."),
    id_remove: str | None = typer.Option(
        None, help="Regex of characters to delete from identifiers, e.g. '[ .-]'."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout."),
) -> None:
    """Per-group count, sum and mean over the persons both parties hold (private join).

    The left party's groups and the right party's values meet only encrypted: neither side
    learns who is in both files, the right party learns no figure, and the left party
    learns only per-group totals. Groups (and margins) below --min-cell matched persons,
    or failing a --rule, are withheld with secondary suppression over the table with its
    margins; their sums are never decrypted. With --dp-epsilon every figure is noisy.
    """
    with (
        fail_on_error(),
        option_words(
            join_aggregate,
            {
                "remove": "--id-remove",
                "rules": "--rule",
                "dp.epsilon": "--dp-epsilon",
                "dp.delta": "--dp-delta",
                "dp.bounds": "--dp-bounds",
                "dp.unit": "--dp-unit",
                "dp": "--dp-epsilon",
            },
        ),
    ):
        left_name, left_file = _party(left, LEFT)
        right_name, right_file = _party(right, RIGHT)
        if left_name == right_name:
            raise ParameterError(
                f"--left and --right name the same party {left_name!r}", parameter="right"
            )
        left_values, right_values = _value_columns(
            left_file, right_file, value or [], left_value or [], right_value or []
        )
        spec = JoinAggregateSpec.build(
            key=key,
            peer_key=right_key,
            by=column_list(by),
            left_values=left_values,
            right_values=right_values,
            min_cell=min_cell,
            rules=tuple(rule or ()),
            decimals=decimals,
            normalization=NormalizationSpec(casefold=casefold, remove=id_remove),
            dp=dp_terms(dp_epsilon, dp_delta, dp_bounds or [], dp_unit),
        )
        spec.normalization.rule()  # a bad --id-remove is refused here, not by both parties
        names = {LEFT: left_name, RIGHT: right_name}
        with _named_progress(names) as progress:
            run = run_local_join_aggregate(left_file, right_file, spec, progress=progress)
        for warning in run.warnings:
            warn(warning)
        if as_json:
            typer.echo(json.dumps(run.result))
        else:
            out.print(join_table(run.result, names, decimals))


def dp_terms(
    epsilon: float | None, delta: float, bounds: list[str], unit: str
) -> dict[str, Any] | None:
    """The DP terms of the options (checked by the spec), or None without ``--dp-epsilon``."""
    if epsilon is None:
        if bounds:
            raise ParameterError("--dp-bounds needs --dp-epsilon", parameter="dp_epsilon")
        return None
    return {"epsilon": epsilon, "delta": delta, "bounds": parse_bounds(bounds), "unit": unit}


def _party(text: str, role: str) -> tuple[str, Path]:
    """``NAME=FILE`` or ``FILE``; a file whose own name holds '=' is taken whole."""
    name, sep, file = text.partition("=")
    if sep and _NAME.fullmatch(name) and file and not Path(text).exists():
        return name, Path(file)
    if sep and not name:
        raise ParameterError(f"--{role} {text!r}: the party name before '=' is empty")
    return role, Path(text)


def _value_columns(
    left_file: Path,
    right_file: Path,
    values: Sequence[str],
    left_values: Sequence[str],
    right_values: Sequence[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sort ``--value`` columns to the file whose header has them; explicit ones as given."""
    out_left, out_right = list(left_values), list(right_values)
    if values:
        in_left, in_right = set(column_names(left_file)), set(column_names(right_file))
        for name in values:
            if name in in_left and name in in_right:
                raise ParameterError(
                    f"--value {name!r} is a column of both files; say which with "
                    f"--left-value {name} or --right-value {name}",
                    parameter="value",
                )
            if name in in_right:
                out_right.append(name)
            elif name in in_left:
                out_left.append(name)
            else:
                raise ParameterError(
                    f"--value {name!r} is a column of neither {left_file} nor {right_file}; "
                    "check the spelling, or name the side with --left-value/--right-value",
                    parameter="value",
                )
    return tuple(out_left), tuple(out_right)


@contextmanager
def _named_progress(names: dict[str, str]) -> Iterator[ProgressSink]:
    """The progress display, showing each role under its party's name."""
    with party_progress() as progress:

        def sink(party: str, step: str, done: int, total: int) -> None:
            progress(names.get(party, party), step, done, total)

        yield sink


def join_table(
    result: dict[str, Any], names: dict[str, str], decimals: int, *, max_suppressed: int = 10
) -> Table:
    """The join-aggregate result as a table (:func:`privstats.jobs.join_aggregate.join_view`)."""
    return rich_table(join_view(result, names, decimals, max_suppressed=max_suppressed))
