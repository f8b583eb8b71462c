"""Join-and-aggregate of vertically split data: per-group count, sum and mean, to one party.

Two roles. The *left* party (an NSO, holding person identifiers with group columns and
optionally value columns) receives the result; the *right* party (a bank, holding
identifiers and value columns such as income) contributes its values and learns only both
set sizes. For every group of the left party's categories, over the persons both hold,
the result gives the count and, per value column, the sum and the mean.

Before the protocol each party cleans its own file: identifiers are normalised alike
(:class:`~privstats.jobs.coverage.NormalizationSpec`); records with an empty identifier
(also one written as a missing-value marker such as ``NA`` or ``nan``, in any letter
case: :func:`~privstats.data.readers.missing_markers`), or with a missing value in a used
value column, are dropped with a warning; a file with no records, or none left, is an
error. On the left a repeated identifier keeps its first record, on the right the values
of a repeated identifier are summed (both with a warning). Values are fixed point:
``round(v·10^d)`` as exact integers with ``d = decimals`` (half to even, from the shortest
decimal text of the number); a column whose values are all whole numbers is kept at scale
1 and reported in integers. After the protocol, groups below ``min_cell`` matched persons
are withheld with secondary suppression (:func:`~privstats.disclosure.cells.withheld_cells`);
the sums of withheld groups are never decrypted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from privstats.data.readers import check_data_file, marker_texts, missing_markers, read_columns
from privstats.data.tables import read_table
from privstats.disclosure.cells import withheld_cells
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs.coverage import NormalizationSpec
from privstats.jobs.kind import CliField, JobKind, from_tuple
from privstats.jobs.local import PartyOutcome, ProgressSink, run_local
from privstats.jobs.render import Column, TableView
from privstats.jobs.spec import Spec
from privstats.progress import Progress
from privstats.protocols import join_aggregate as protocol
from privstats.protocols.join_aggregate import DEFAULT_CHUNK_SIZE, LeftResult
from privstats.transport.channel import Channel

__all__ = [
    "KIND",
    "LEFT",
    "RIGHT",
    "JoinAggregateRun",
    "JoinAggregateSpec",
    "JoinData",
    "columns_used",
    "left_role",
    "load_role_data",
    "right_role",
    "run_local_join_aggregate",
    "run_role",
]

LEFT, RIGHT = "left", "right"
_MAX_EXAMPLES = 5
_MAX_SCALED = 2**63


class JoinAggregateSpec(Spec):
    """Everything both parties must agree on before a join-and-aggregate runs."""

    _option: ClassVar[str] = "join-aggregate option"

    key: str = Field(min_length=1)
    """Identifier column of the left party's file (and of the right's, unless ``peer_key``)."""
    peer_key: str | None = None
    """Identifier column of the other party's file, if named differently (else ``key``)."""
    by: tuple[str, ...] = ()
    left_values: tuple[str, ...] = ()
    right_values: tuple[str, ...] = ()
    min_cell: int = Field(10, ge=1)
    decimals: int = Field(2, ge=0, le=protocol.MAX_DECIMALS)
    normalization: NormalizationSpec = NormalizationSpec()
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=1, le=262_144)

    @model_validator(mode="before")
    @classmethod
    def _accept_right_key(cls, data: Any) -> Any:
        """Take ``right_key``, the old name of ``peer_key``, on input; refuse both at once."""
        if isinstance(data, Mapping) and "right_key" in data:
            if "peer_key" in data:
                raise ValueError(
                    "peer_key and right_key (its old name) are both given; give only peer_key"
                )
            data = {("peer_key" if name == "right_key" else name): v for name, v in data.items()}
        return data

    @model_validator(mode="after")
    def _distinct_columns(self) -> JoinAggregateSpec:
        for name, columns in (
            ("by", self.by),
            ("left_values", self.left_values),
            ("right_values", self.right_values),
        ):
            if len(set(columns)) != len(columns) or any(not col for col in columns):
                raise ValueError(
                    f"{name} columns must be distinct and non-empty, got {list(columns)}"
                )
            if len(columns) > protocol.MAX_COLUMNS:
                raise ValueError(f"at most {protocol.MAX_COLUMNS} {name} columns")
        both = sorted(set(self.left_values) & set(self.right_values))
        if both:
            raise ValueError(
                f"value columns {both} are named on both sides; rename one, the result "
                "reports each value column under its name"
            )
        if self.key in self.by or self.key in self.left_values:
            raise ValueError(
                f"the identifier column {self.key!r} cannot be a group or value column"
            )
        if (self.peer_key or self.key) in self.right_values:
            raise ValueError(
                f"the identifier column {self.peer_key or self.key!r} cannot be a value column"
            )
        return self


@dataclass(frozen=True)
class JoinData:
    """One party's cleaned records: distinct identifiers, group codes and scaled values."""

    path: str
    key: str
    ids: list[str]
    groups: list[int]  # per id, index into group_labels (left); all 0 on the right
    group_labels: list[tuple[str, ...]]  # sorted distinct combinations of the by columns
    columns: tuple[str, ...]  # value columns, in spec order
    values: list[list[int]]  # per column, per id: round(v·10^decimals) as exact integers
    integer: tuple[bool, ...]  # per column: every value a whole number (kept at scale 1)
    decimals: tuple[int, ...]  # per column: the decimal scale used (0 for integer columns)
    rows: int
    notes: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        """Sentences on dropped and merged records; empty when the file is clean."""
        return list(self.notes)


def columns_used(spec: JoinAggregateSpec, role: str) -> tuple[str, ...]:
    """The columns of ``role``'s dataset that a join-aggregate job reads."""
    source = _Source.of(role, "", spec)
    return tuple(dict.fromkeys((source.key, *source.by, *source.columns)))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Source:
    """What one role reads from its file: the identifier, group and value columns."""

    role: str
    label: str  # the file, as named in messages
    key: str
    by: tuple[str, ...]
    columns: tuple[str, ...]

    @classmethod
    def of(cls, role: str, path: str | Path, spec: JoinAggregateSpec) -> _Source:
        if role == LEFT:
            return cls(role, str(path), spec.key, spec.by, spec.left_values)
        if role == RIGHT:
            return cls(role, str(path), spec.peer_key or spec.key, (), spec.right_values)
        raise ParameterError(f"unknown join-aggregate role {role!r}; use 'left' or 'right'")


def load_role_data(role: str, path: str | Path, spec: JoinAggregateSpec) -> JoinData:
    """Read one party's file, clean it as the module docstring says, and scale its values."""
    source = _Source.of(role, path, spec)
    label, key, by, columns = source.label, source.key, source.by, source.columns
    raw = read_columns(path, [key])[key].cast(pa.large_string()).combine_chunks()
    n_rows = len(raw)
    if n_rows == 0:
        raise DatasetError(
            f"{label}: the file has a header but no data rows; a join needs records "
            "(is it the right file?)",
            path=label,
            column=key,
        )
    ids = spec.normalization.rule().apply(raw)
    table = read_table(path, categories=by, values=columns) if by or columns else None
    numbers = table.values if table is not None else {}
    categories = table.categories if table is not None else {}
    missing = np.zeros(n_rows, dtype=bool)
    for name in columns:
        missing |= np.isnan(numbers[name])
    kept, notes = _kept_rows(source, raw, ids, missing)
    _check_group_values(source, categories, kept)

    codes = ids.take(pa.array(kept)).dictionary_encode()
    id_codes = codes.indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(id_codes, return_index=True)
    first.sort()  # positions (within kept) of each identifier's first record, in file order
    repeated = np.setdiff1d(np.arange(kept.size), first, assume_unique=True)
    distinct_ids: list[str] = ids.take(pa.array(kept[first])).to_pylist()
    scaled, integer, decimals = _scaled_columns(source, numbers, kept, spec.decimals)
    if role == LEFT:
        values = [[column[i] for i in first.tolist()] for column in scaled]
    else:
        values = _summed(scaled, id_codes, first)
    if repeated.size:
        notes.append(_repeated_note(source, kept[repeated]))
    groups, group_labels = _group_codes(
        [categories[name][kept[first]] for name in by], len(distinct_ids)
    )
    return JoinData(
        path=label,
        key=key,
        ids=distinct_ids,
        groups=groups,
        group_labels=group_labels,
        columns=tuple(columns),
        values=values,
        integer=tuple(integer),
        decimals=tuple(decimals),
        rows=n_rows,
        notes=tuple(notes),
    )


def _kept_rows(
    source: _Source, raw: pa.Array, ids: pa.Array, missing: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.intp], list[str]]:
    """The rows with an identifier and every value; sentences on the rows dropped."""
    label, key = source.label, source.key
    markers = missing_markers(raw)
    empty_id = pc.fill_null(pc.equal(pc.binary_length(ids), 0), True).to_numpy(zero_copy_only=False)
    empty_id |= markers
    missing = missing & ~empty_id
    notes: list[str] = []
    if empty_id.any():
        spelled = f" or one written as {marker_texts(raw, markers)}" if markers.any() else ""
        notes.append(
            f"{label}: {_records(int(empty_id.sum()))} with an empty '{key}'{spelled} dropped "
            f"({_rows_text(np.flatnonzero(empty_id))})"
        )
    if missing.any():
        names = ", ".join(f"'{c}'" for c in source.columns)
        notes.append(
            f"{label}: {_records(int(missing.sum()))} with a missing value in {names} dropped "
            f"({_rows_text(np.flatnonzero(missing))})"
        )
    kept = np.flatnonzero(~(empty_id | missing))
    if kept.size == 0:
        raise DatasetError(
            f"{label}: no records left to join (after dropping empty identifiers and "
            "missing values)",
            path=label,
            column=key,
        )
    return kept, notes


def _check_group_values(
    source: _Source, categories: Mapping[str, npt.NDArray[np.str_]], kept: npt.NDArray[np.intp]
) -> None:
    """Refuse a kept record with an empty group value, naming the column and rows."""
    for name in source.by:
        blank = np.flatnonzero(categories[name][kept] == "")
        if blank.size:
            raise DatasetError(
                f"{source.label}: column '{name}' has {blank.size} empty values "
                f"({_rows_text(kept[blank])}); every record needs a group value",
                path=source.label,
                column=name,
                rows=tuple(int(r) + 1 for r in kept[blank][:_MAX_EXAMPLES]),
            )


def _scaled_columns(
    source: _Source,
    numbers: Mapping[str, npt.NDArray[np.float64]],
    kept: npt.NDArray[np.intp],
    decimals: int,
) -> tuple[list[list[int]], list[bool], list[int]]:
    """Per value column: the kept values scaled, whether all are whole, the scale used."""
    scaled: list[list[int]] = []
    integer: list[bool] = []
    scales: list[int] = []
    for name in source.columns:
        floats = numbers[name][kept]
        whole = bool(np.all(floats == np.floor(floats)))
        scale = 0 if whole else decimals
        scaled.append(_scaled(floats, scale, source.label, name, kept))
        integer.append(whole)
        scales.append(scale)
    return scaled, integer, scales


def _repeated_note(source: _Source, rows: npt.NDArray[np.intp]) -> str:
    """The sentence on repeated identifiers: the first kept (left), values summed (right)."""
    what = f"{source.label}: {_records(int(rows.size))} with a repeated '{source.key}'"
    if source.role == LEFT:
        return f"{what} dropped; the first record of each identifier is used ({_rows_text(rows)})"
    return (
        f"{what} merged into the identifier's first record; their values are summed "
        f"({_rows_text(rows)})"
    )


def _scaled(
    floats: npt.NDArray[np.float64], scale: int, label: str, name: str, kept: npt.NDArray[np.intp]
) -> list[int]:
    """``round(v·10^scale)`` as exact integers, half to even on the shortest decimal text."""
    if scale == 0:
        out = [int(v) for v in floats.tolist()]
    else:
        out = [
            int(Decimal(repr(v)).scaleb(scale).to_integral_value(rounding=ROUND_HALF_EVEN))
            for v in floats.tolist()
        ]
    for k, v in enumerate(out):
        if not -_MAX_SCALED < v < _MAX_SCALED:
            row = int(kept[k]) + 1
            raise DatasetError(
                f"{label}: column '{name}' row {row} is too large: at {scale} decimals it "
                "exceeds 2^63; lower the number of decimals",
                path=label,
                column=name,
                rows=(row,),
            )
    return out


def _summed(
    scaled: list[list[int]], id_codes: npt.NDArray[np.intp], first: npt.NDArray[np.intp]
) -> list[list[int]]:
    """Per column, the sum of each identifier's values, identifiers in first-record order."""
    if first.size == id_codes.size:
        return scaled
    position = {int(id_codes[k]): p for p, k in enumerate(first.tolist())}
    out = []
    for column in scaled:
        sums = [0] * len(position)
        for code, value in zip(id_codes.tolist(), column, strict=True):
            sums[position[code]] += value
        out.append(sums)
    return out


def _group_codes(
    columns: Sequence[npt.NDArray[np.str_]], n: int
) -> tuple[list[int], list[tuple[str, ...]]]:
    """Integer codes of the combined group values and the sorted distinct combinations."""
    if not columns:
        return [0] * n, [()]
    if n == 0:
        return [], []
    uniques, inverses = [], []
    for column in columns:
        unique, inverse = np.unique(column, return_inverse=True)
        uniques.append(unique.tolist())
        inverses.append(inverse.reshape(-1))
    combos, codes = np.unique(np.stack(inverses, axis=1), axis=0, return_inverse=True)
    labels = [tuple(uniques[c][k] for c, k in enumerate(row)) for row in combos.tolist()]
    return codes.reshape(-1).tolist(), labels


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _rows_text(rows: npt.NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:_MAX_EXAMPLES])
    more = ", …" if rows.size > _MAX_EXAMPLES else ""
    return f"{'row' if rows.size == 1 else 'rows'} {shown}{more}"


# --------------------------------------------------------------------------- roles


def left_role(
    channel: Channel,
    peer: str,
    data: JoinData,
    spec: JoinAggregateSpec,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The left party's side: run the protocol and return the released result."""
    if not data.ids:
        raise DatasetError(
            f"{data.path}: no records left to join (after dropping empty identifiers and "
            "missing values)",
            path=data.path,
            column=data.key,
        )

    def release(counts: Sequence[int]) -> list[int]:
        withheld = withheld_cells(dict(enumerate(counts)), spec.min_cell)
        return [g for g in range(len(counts)) if g not in withheld]

    outcome = protocol.left(
        channel,
        peer,
        data.ids,
        data.groups,
        len(data.group_labels),
        data.values,
        release=release,
        right_columns=len(spec.right_values),
        chunk_size=spec.chunk_size,
        progress=progress,
    )
    if any(d not in (0, spec.decimals) for d in outcome.right_decimals):
        raise ProtocolError(
            f"the right party scaled its values to {list(outcome.right_decimals)} decimals, "
            f"not {spec.decimals}",
            peer=peer,
            step="hello",
        )
    return _result(spec, data, outcome)


def _result(spec: JoinAggregateSpec, data: JoinData, outcome: LeftResult) -> dict[str, Any]:
    columns = [*data.columns, *spec.right_values]
    integer = [*data.integer, *outcome.right_integer]
    decimals = [*data.decimals, *outcome.right_decimals]
    groups: list[dict[str, Any]] = []
    for g, label in enumerate(data.group_labels):
        entry: dict[str, Any] = {"by": dict(zip(spec.by, label, strict=True))}
        sums = outcome.sums.get(g)
        count = outcome.counts[g]
        entry["count"] = None if sums is None else count
        for c, name in enumerate(columns):
            if sums is None:
                entry[f"sum:{name}"] = entry[f"mean:{name}"] = None
                continue
            scale = 10 ** decimals[c]
            total = sums[c]
            entry[f"sum:{name}"] = total // scale if integer[c] else total / scale
            entry[f"mean:{name}"] = total / (scale * count) if count else None
        entry["suppressed"] = sums is None
        groups.append(entry)
    matched = outcome.matched
    return {
        "computation": "join_aggregate",
        "left_size": outcome.left_size,
        "right_size": outcome.right_size,
        "matched": matched if matched >= spec.min_cell else None,
        "min_cell": spec.min_cell,
        "groups": groups,
    }


def right_role(
    channel: Channel,
    peer: str,
    data: JoinData,
    spec: JoinAggregateSpec,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The right party's side: contribute the values; return both sizes, no figures."""
    outcome = protocol.right(
        channel,
        peer,
        data.ids,
        data.values,
        integer=data.integer,
        decimals=data.decimals,
        left_columns=len(spec.left_values),
        min_cell=spec.min_cell,
        chunk_size=spec.chunk_size,
        progress=progress,
    )
    return {
        "computation": "join_aggregate",
        "role": RIGHT,
        "left_size": outcome.left_size,
        "right_size": outcome.right_size,
    }


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: JoinAggregateSpec,
    progress: Progress | None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """A service node's runner: load ``path``, play ``role``; (result, data warnings)."""
    data = load_role_data(role, path, spec)
    if role == LEFT:
        return left_role(channel, parties[RIGHT], data, spec, progress), data.warnings()
    return right_role(channel, parties[LEFT], data, spec, progress), data.warnings()


# --------------------------------------------------------------------------- local runs


def _left_process(
    channel: Channel, progress: Progress, *, path: str, spec: JoinAggregateSpec
) -> tuple[dict[str, Any] | None, list[str]]:
    return run_role(LEFT, channel, {LEFT: LEFT, RIGHT: RIGHT}, path, spec, progress)


def _right_process(
    channel: Channel, progress: Progress, *, path: str, spec: JoinAggregateSpec
) -> tuple[dict[str, Any] | None, list[str]]:
    return run_role(RIGHT, channel, {LEFT: LEFT, RIGHT: RIGHT}, path, spec, progress)


@dataclass(frozen=True)
class JoinAggregateRun:
    """The released result of a local join-aggregate run, with what it cost each party."""

    result: dict[str, Any]
    warnings: list[str]
    outcomes: dict[str, PartyOutcome]


def run_local_join_aggregate(
    left: str | Path,
    right: str | Path,
    spec: JoinAggregateSpec,
    *,
    progress: ProgressSink | None = None,
) -> JoinAggregateRun:
    """Run both roles, each in its own process on loopback; ``result`` includes ``seconds``."""
    for label, path in ((LEFT, left), (RIGHT, right)):
        check_data_file(path, f"{label} file")
    started = time.perf_counter()
    outcomes = run_local(
        {
            LEFT: (_left_process, {"path": str(left), "spec": spec}),
            RIGHT: (_right_process, {"path": str(right), "spec": spec}),
        },
        progress=progress,
    )
    seconds = time.perf_counter() - started
    result, left_warnings = outcomes[LEFT].output
    _, right_warnings = outcomes[RIGHT].output
    return JoinAggregateRun(
        {**result, "seconds": round(seconds, 3)},
        [*left_warnings, *right_warnings],
        outcomes,
    )


# --------------------------------------------------------------------------- the kind


def _number(value: Any, places: int) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{places}f}"


def join_view(
    result: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    decimals: int = 2,
    *,
    max_suppressed: int = 10,
) -> TableView:
    """The result as one row per group, sum and mean per value column.

    Only the first ``max_suppressed`` suppressed groups get a row; the others are counted
    in one closing row (the JSON lists every group).
    """
    names = names or {LEFT: LEFT, RIGHT: RIGHT}
    groups = result["groups"]
    by = list(groups[0]["by"]) if groups else []
    values = [k[len("sum:") :] for k in groups[0] if k.startswith("sum:")] if groups else []
    columns = [Column(name) for name in by] + [Column("count", numeric=True)]
    for name in values:
        columns += [Column(f"sum {name}", numeric=True), Column(f"mean {name}", numeric=True)]
    rows: list[tuple[str, ...]] = []
    suppressed = sum(1 for entry in groups if entry["suppressed"])
    seen = 0
    for entry in groups:
        labels = [str(v) for v in entry["by"].values()]
        if entry["suppressed"]:
            seen += 1
            if seen <= max_suppressed:
                rows.append((*labels, "suppressed", *[""] * (2 * len(values))))
            continue
        cells = [_number(entry["count"], 0)]
        for name in values:
            cells.append(_number(entry[f"sum:{name}"], decimals))
            cells.append(_number(entry[f"mean:{name}"], max(2, decimals)))
        rows.append((*labels, *cells))
    hidden = suppressed - min(suppressed, max_suppressed)
    if hidden:  # one row marks the gap; the caption says how many are not shown
        rows.append(("…", *[""] * (len(by) + 2 * len(values))))
    matched = result["matched"]
    caption = (
        f"{names[LEFT]} {result['left_size']:,} · {names[RIGHT]} {result['right_size']:,} · "
        f"matched {'suppressed' if matched is None else f'{matched:,}'} · "
        f"groups: {len(groups) - suppressed:,} released, {suppressed:,} suppressed · "
        + (
            f"{hidden:,} suppressed groups not shown (--json lists every group) · "
            if hidden
            else ""
        )
        + f"{result.get('seconds', 0.0):.1f} s"
    )
    title = f"Per-group totals over the persons in both files (min cell {result['min_cell']})"
    return TableView(title, tuple(columns), tuple(rows), caption)


KIND = JobKind(
    name="join_aggregate",
    title="Per-group count, sum and mean over the persons both parties hold (private join).",
    description=(
        "The left party's groups and the right party's values meet only encrypted: neither "
        "side learns who is in both files, the right party learns no figure, and the left "
        "party learns only the released per-group figures. Groups below --min-cell matched "
        "persons are suppressed."
    ),
    roles=(LEFT, RIGHT),
    role_help={
        LEFT: "The party with the identifiers and group columns (it receives the result)",
        RIGHT: "The party with the identifiers and value columns",
    },
    result_role=LEFT,
    spec_type=JoinAggregateSpec,
    columns=columns_used,
    disclosure=lambda spec: {"min_cell": spec.min_cell},
    run_role=from_tuple(run_role),
    render=lambda result: [join_view(result)],
    cli={
        "left_values": CliField(option="--left-value"),
        "right_values": CliField(option="--right-value"),
        "normalization.strip": CliField(hidden=True),
        "normalization.unicode_form": CliField(hidden=True),
        "normalization.remove": CliField(option="--id-remove"),
        "chunk_size": CliField(hidden=True),
    },
)
