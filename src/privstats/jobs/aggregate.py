"""Secure aggregates over horizontally split data: statistics of the pooled records.

Two to ten parties hold records of the same kind (same columns). Every party ends with
the same release: per group of the ``by`` columns the record count and the requested
statistics of the pooled records, exactly as if the files had been concatenated, and
optionally one OLS model over all records. No party sees another's records or subtotals.

Protocol (every party, in lockstep; ``secure_sum`` is additive sharing, see
``privstats.protocols.sharing``)::

    hello     each party sends a digest of the spec and the party list; all must agree
    labels    with ``levels`` given: the groups are every combination of the levels, and
              nothing is exchanged; otherwise each party sends its sorted distinct label
              tuples to every other party and all use the sorted union
    phase 1   secure sum, opened to all, of every group's record count (and of the OLS
              model's complete records); the minimum-cell rule
              (``privstats.disclosure.cells.withheld_cells``: primary and secondary
              suppression) runs on these pooled counts
    phase 1b  secure sum, opened to all, of the released groups' counts of records with
              each statistic's column(s) present
    phase 2   secure sum, opened to all, of the exact fixed-point sums (Σx, Σx², Σxy, with
              a weight Σw, Σwx, …) of the released groups only, and only of the statistics
              with at least ``min_cell`` complete records, plus the OLS sums over all
              records if their count reaches ``min_cell``
    phase 3   quantiles and medians by secure bisection over the fixed-point grid
              (x·2^f in [−2^62, 2^62)): 63 rounds, each one secure sum of the counts (or
              Σw) of values ≤ the midpoint, for every released (group, quantile) at once

Threat model: all parties semi-honest; any coalition of up to n − 1 parties learns nothing
about the others' records beyond what is opened. A party that lies about its data or
deviates can bias the release; that is out of scope. What is opened, to every party:

- the label tuples that occur at each party (unless ``levels`` is given);
- the pooled record count of every group, withheld ones included (needed to apply the
  rule), and per released group the pooled count of records with each statistic's
  column(s) present (a statistic with fewer than ``min_cell`` of them is not released);
- the pooled sums of released groups (the release is computed from them); the sums of
  withheld groups and of statistics below the minimum are never opened to anyone;
- per quantile and released group, the pooled empirical CDF (count, or Σw, of values
  ≤ t) at the 63 points t on the bisection path — at most 63 counts per quantile per
  group, all around the quantile; the quantile itself is an observed value.

Overflow: sums live in Z/2^192 (``Ring(limbs=3)``). Before anything is sent, each party
checks that each of its local sums stays below 2^191/n, so the pooled total cannot wrap;
otherwise it stops with a ParameterError naming the column (lower ``frac_bits``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from privstats.data.readers import check_data_file
from privstats.data.tables import Table, read_table
from privstats.disclosure.cells import withheld_cells
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs.kind import CliField, JobKind, from_tuple
from privstats.jobs.local import PartyOutcome, ProgressSink, run_local
from privstats.jobs.render import Column, Rendering, TableView, figure, groups_view
from privstats.jobs.roles import ROLE_PREFIX, numbered_parties
from privstats.jobs.spec import Spec
from privstats.progress import Progress, no_progress
from privstats.protocols.sharing import Ring, secure_sum
from privstats.stats.aggregate import (
    GRID_HIGH,
    GRID_LOW,
    LocalSums,
    Plan,
    QuantileIndex,
    group_figures,
    group_labels,
    level_labels,
    local_sums,
    make_plan,
    ols_figures,
    parse_formula,
    parse_stat,
    prepare_records,
    quantile_index,
    quantile_reached,
    record_warnings,
)
from privstats.transport.channel import Channel
from privstats.transport.codec import Message, message

__all__ = [
    "KIND",
    "MAX_PARTIES",
    "AggregateRun",
    "AggregateSpec",
    "aggregate_role",
    "columns_used",
    "load_role_data",
    "role_names",
    "run_local_aggregate",
    "run_role",
]

MAX_PARTIES = 10
COUNT_RING = Ring(1)
SUM_RING = Ring(3)
ROUNDS = (GRID_HIGH - GRID_LOW).bit_length() - 1
"""Bisection rounds per quantile: the grid spans exactly 2^63 steps."""
LABELS_PER_MESSAGE = 10_000


class AggregateSpec(Spec):
    """Everything the parties must agree on before an aggregate runs."""

    _option: ClassVar[str] = "aggregate option"
    _default_field: ClassVar[str] = "levels"

    stats: tuple[str, ...] = Field(
        ("count",),
        description="A statistic, repeatable: count, sum:COL, mean:COL, var:COL, sd:COL, "
        "median:COL, quantile:COL:Q, cov:A,B, corr:A,B.",
    )
    by: tuple[str, ...] = Field((), description="Group columns, e.g. region,sex.")
    weight: str | None = Field(None, description="Weight column (e.g. survey weights).")
    ols: str | None = Field(
        None, description="A linear model over all records, e.g. 'income ~ age + hours'."
    )
    min_cell: int = Field(10, ge=1, description="Groups with fewer records are suppressed.")
    frac_bits: int = Field(
        32,
        ge=0,
        le=52,
        description="Fixed-point fractional bits; each value is rounded to a multiple of 2^-bits.",
    )
    levels: dict[str, list[str]] | None = Field(
        None,
        description="The agreed labels of a group column, COL=A|B|C (repeatable); groups "
        "then come from this list, not from the data.",
    )

    @field_validator("stats")
    @classmethod
    def _known_stats(cls, stats: tuple[str, ...]) -> tuple[str, ...]:
        for text in stats:
            parse_stat(text)
        return stats

    @field_validator("by")
    @classmethod
    def _distinct_columns(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(by)) != len(by) or any(not col for col in by):
            raise ValueError(f"group columns must be distinct and non-empty, got {list(by)}")
        return by

    @field_validator("weight")
    @classmethod
    def _weight_named(cls, weight: str | None) -> str | None:
        if weight is not None and not weight.strip():
            raise ValueError("the weight column name is empty")
        return weight

    @field_validator("ols")
    @classmethod
    def _formula(cls, ols: str | None) -> str | None:
        if ols is not None:
            parse_formula(ols)
        return ols

    @model_validator(mode="after")
    def _levels_match_by(self) -> AggregateSpec:
        if self.levels is None:
            return self
        if set(self.levels) != set(self.by):
            raise ValueError(
                f"levels must list the levels of exactly the group columns {list(self.by)}, "
                f"got levels for {sorted(self.levels)}"
            )
        for column, values in self.levels.items():
            if not values or any(not v for v in values) or len(set(values)) != len(values):
                raise ValueError(
                    f"the levels of {column!r} must be distinct non-empty values, got {values}"
                )
        return self

    def plan(self) -> Plan:
        return make_plan(self.stats, weight=self.weight, formula=self.ols, frac_bits=self.frac_bits)


@message("aggregate.hello", 1)
class Hello(Message):
    digest: bytes


@message("aggregate.labels", 1)
class Labels(Message):
    labels: list[list[str]]
    last: bool


def columns_used(spec: AggregateSpec) -> tuple[str, ...]:
    """Every column a party reads (the same at every party): group columns, then values."""
    return tuple(dict.fromkeys((*spec.by, *spec.plan().value_columns)))


def load_role_data(path: str | Path, spec: AggregateSpec) -> Table:
    """Read one party's group columns as text and value columns as numbers."""
    return read_table(path, categories=spec.by, values=spec.plan().value_columns)


def role_names(parties: int) -> tuple[str, ...]:
    """The service's role names of an aggregate with ``parties`` parties: party1, party2, …"""
    return tuple(f"{ROLE_PREFIX}{i}" for i in range(1, parties + 1))


# --------------------------------------------------------------------------- the protocol


def _check_parties(channel: Channel, parties: Sequence[str]) -> list[str]:
    order = list(parties)
    if not 2 <= len(order) <= MAX_PARTIES or len(set(order)) != len(order):
        raise ParameterError(
            f"an aggregate needs 2 to {MAX_PARTIES} distinct parties, got {order}",
            parameter="parties",
        )
    if channel.party not in order:
        raise ParameterError(
            f"this party {channel.party!r} is not among the parties {order}", parameter="parties"
        )
    return order


def _agree(channel: Channel, parties: Sequence[str], spec: AggregateSpec) -> None:
    """Check that every party runs the same spec with the same ordered party list."""
    canonical = json.dumps(
        {"spec": spec.model_dump(mode="json"), "parties": list(parties)}, sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    others = [p for p in parties if p != channel.party]
    for peer in others:
        channel.send(peer, Hello(digest))
    for peer in others:
        if not hmac.compare_digest(channel.recv(peer, Hello).digest, digest):
            raise ProtocolError(
                f"{peer!r} runs the aggregate with other options or another party list",
                peer=peer,
                step="hello",
            )


def _exchange_labels(
    channel: Channel, parties: Sequence[str], own: Sequence[tuple[str, ...]], width: int
) -> list[tuple[str, ...]]:
    """Send own label tuples to every peer; return the sorted union of all parties'."""
    others = [p for p in parties if p != channel.party]
    chunks = [own[i : i + LABELS_PER_MESSAGE] for i in range(0, len(own), LABELS_PER_MESSAGE)]
    for peer in others:
        for i, chunk in enumerate(chunks or [[]]):
            channel.send(peer, Labels([list(t) for t in chunk], i == max(len(chunks) - 1, 0)))
    union = set(own)
    for peer in others:
        while True:
            msg = channel.recv(peer, Labels)
            if any(len(label) != width for label in msg.labels):
                raise ProtocolError(
                    f"{peer!r} sent group labels that do not have {width} values",
                    peer=peer,
                    step="labels",
                )
            union.update(tuple(label) for label in msg.labels)
            if msg.last:
                break
    return sorted(union)


def _check_levels(data: Table, spec: AggregateSpec) -> None:
    assert spec.levels is not None
    for column in spec.by:
        allowed = set(spec.levels[column])
        values = data.categories[column]
        outside = np.flatnonzero(~np.isin(values, list(allowed)) & (values != ""))
        if outside.size:
            rows = tuple(int(r) + 1 for r in outside[:5])
            raise DatasetError(
                f"{data.path}: column '{column}' has value {str(values[outside[0]])!r} "
                f"(row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}) that is not "
                f"among the levels given ({', '.join(map(repr, spec.levels[column]))})",
                path=data.path,
                column=column,
                rows=rows,
            )


def _check_bounds(
    plan: Plan, path: str, parties: int, sums: LocalSums, blocks: Sequence[Any]
) -> None:
    """Refuse, before anything is sent, a local sum that could make the total wrap."""
    limit = SUM_RING.bound(parties)
    for b, block in enumerate(blocks):
        for m, monomial in enumerate(block.monomials):
            largest = max((abs(int(v)) for v in sums.sums[b][m]), default=0)
            if largest > limit:
                columns = sorted({*monomial, *([plan.weight] if plan.weight else [])})
                raise ParameterError(
                    f"{path}: column(s) {', '.join(map(repr, columns))} too large for exact "
                    f"secure sums: {plan.describe(monomial)} exceeds 2^{SUM_RING.bits - 1}/"
                    f"{parties}, the most {parties} parties can add exactly, at frac_bits="
                    f"{plan.fixed.frac_bits}; use a smaller frac_bits or rescale the column",
                    parameter="frac_bits",
                )


def _open_counts(
    channel: Channel, parties: Sequence[str], counts: npt.NDArray[np.int64]
) -> list[int]:
    """The pooled totals of everyone's ``counts``, opened to all parties."""
    ring = COUNT_RING
    opened = secure_sum(channel, parties, ring.from_int64(counts, parties=len(parties)), ring)
    assert opened is not None
    return [int(v) for v in ring.to_int64(opened)]


def aggregate_role(
    channel: Channel,
    parties: Sequence[str],
    data: Table,
    spec: AggregateSpec,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One party's side: returns the release, identical at every party.

    ``parties`` lists every party (channel names), this one included, in the same order
    everywhere.
    """
    order = _check_parties(channel, parties)
    n = len(order)
    report = progress or no_progress
    plan = spec.plan()

    # everything local and checkable happens before the first message
    report("local statistics", 0, 1)
    records = prepare_records(data, plan)
    if spec.levels is not None:
        _check_levels(data, spec)
    local_codes, local_labels = group_labels(data, spec.by)
    _agree(channel, order, spec)
    if spec.levels is not None:
        labels = level_labels(spec.levels, spec.by)
    elif spec.by:
        used = np.unique(local_codes[records.keep])  # records left out have no say
        own = [local_labels[i] for i in used.tolist()]
        labels = _exchange_labels(channel, order, own, len(spec.by))
    else:
        labels = [()]
    position = {label: g for g, label in enumerate(labels)}
    # a label only of records left out maps anywhere: those records are masked out
    mapping = np.array([position.get(label, 0) for label in local_labels], dtype=np.intp)
    codes: npt.NDArray[np.intp] = mapping[local_codes] if local_codes.size else local_codes
    groups, n_blocks = len(labels), len(plan.blocks)
    local = local_sums(records, codes, groups, plan.blocks)
    _check_bounds(plan, data.path, n, local, plan.blocks)
    ols_local = None
    if plan.ols is not None:
        ols_local = local_sums(records, np.zeros(data.rows, dtype=np.intp), 1, [plan.ols])
        _check_bounds(plan, data.path, n, ols_local, [plan.ols])
    indexes = {column: quantile_index(records, codes, groups, column) for column in records.grid}
    report("local statistics", 1, 1)

    # phase 1: pooled record counts of every group (and the model's), opened to all
    report("secure sums", 0, 3)
    records_count = local.counts[:, 0]
    if ols_local is not None:
        records_count = np.concatenate([records_count, ols_local.counts[0]])
    opened = _open_counts(channel, order, records_count)
    counts = [[int(c)] + [0] * (n_blocks - 1) for c in opened[:groups]]
    ols_count = int(opened[-1]) if ols_local is not None else 0
    sizes = {labels[g]: counts[g][0] for g in range(groups) if counts[g][0] > 0}
    withheld = withheld_cells(sizes, spec.min_cell)
    released = [g for g in range(groups) if labels[g] not in withheld and counts[g][0] > 0]
    report("secure sums", 1, 3)

    # phase 1b: of released groups only, the records with each statistic's columns present
    if n_blocks > 1 and released:
        opened = _open_counts(channel, order, local.counts[released, 1:].reshape(-1))
        for i, g in enumerate(released):
            counts[g][1:] = opened[i * (n_blocks - 1) : (i + 1) * (n_blocks - 1)]
    report("secure sums", 2, 3)

    # phase 2: sums of released groups and statistics only
    entries = [(g, b) for g in released for b in range(n_blocks) if counts[g][b] >= spec.min_cell]
    vector = [
        int(local.sums[b][m][g]) for g, b in entries for m in range(len(plan.blocks[b].monomials))
    ]
    ols_open = ols_local is not None and ols_count >= spec.min_cell
    if ols_local is not None and ols_open:
        vector.extend(int(column[0]) for column in ols_local.sums[0])
    total = secure_sum(channel, order, SUM_RING.from_ints(vector, parties=n), SUM_RING)
    assert total is not None
    pooled = SUM_RING.to_ints(total)
    sums: dict[tuple[int, int], list[int]] = {}
    at = 0
    for g, b in entries:
        width = len(plan.blocks[b].monomials)
        sums[(g, b)] = pooled[at : at + width]
        at += width
    ols_sums = pooled[at:]
    report("secure sums", 3, 3)

    # phase 3: quantiles by secure bisection
    found = _search_quantiles(channel, order, plan, released, counts, sums, indexes, spec, report)

    result_groups = []
    keys = ["count", *(["weighted_count"] if plan.weighted else [])]
    keys += [stat.name for stat in plan.stats if stat.kind != "count"]
    for g, label in enumerate(labels):
        by = dict(zip(spec.by, label, strict=True))
        if labels[g] in withheld:
            result_groups.append({"by": by, **dict.fromkeys(keys), "suppressed": True})
            continue
        figures = group_figures(
            plan,
            counts[g],
            [sums.get((g, b)) for b in range(n_blocks)],
            {(column, q): value for (gg, column, q), value in found.items() if gg == g},
        )
        result_groups.append({"by": by, **figures, "suppressed": False})
    result: dict[str, Any] = {
        "computation": "aggregate",
        "parties": n,
        "min_cell": spec.min_cell,
        "groups": result_groups,
    }
    if plan.formula is not None:
        if ols_open:
            result["ols"] = {**ols_figures(plan, ols_count, ols_sums), "suppressed": False}
        else:
            result["ols"] = {
                "formula": plan.formula.text,
                **dict.fromkeys(("coef", "se", "r2", "n")),
                "suppressed": True,
            }
    return result


def _search_quantiles(
    channel: Channel,
    parties: Sequence[str],
    plan: Plan,
    released: Sequence[int],
    counts: Sequence[Sequence[int]],
    sums: Mapping[tuple[int, int], Sequence[int]],
    indexes: Mapping[str, QuantileIndex],
    spec: AggregateSpec,
    report: Progress,
) -> dict[tuple[int, str, Fraction], int]:
    """Every released (group, quantile) found by 63 rounds of secure bisection in lockstep.

    Invariant per search: fewer than ``q·N`` values (or ``q·Σw``) are ≤ ``low`` and at
    least that many are ≤ ``high``; the answer, the smallest such grid point, is ``high``
    once ``high − low = 1`` — an observed value, as ``np.quantile(method="inverted_cdf")``.
    """
    searches: list[tuple[int, str, Fraction, int]] = []
    for g in released:
        for column, q in plan.quantiles:
            b = plan.block_index(f"column:{column}")
            if counts[g][b] < spec.min_cell:
                continue
            total = int(sums[(g, b)][0]) if plan.weighted else counts[g][b]
            if total > 0:
                searches.append((g, column, q, total))
    if not searches:
        return {}
    ring = SUM_RING if plan.weighted else COUNT_RING
    low = [GRID_LOW] * len(searches)
    high = [GRID_HIGH] * len(searches)
    for step in range(ROUNDS):
        middle = [(lo + hi) // 2 for lo, hi in zip(low, high, strict=True)]
        local = [
            indexes[column].below(g, t)
            for (g, column, _, _), t in zip(searches, middle, strict=True)
        ]
        opened = secure_sum(channel, parties, ring.from_ints(local, parties=len(parties)), ring)
        assert opened is not None
        for i, below in enumerate(ring.to_ints(opened)):
            _, _, q, total = searches[i]
            if quantile_reached(below, total, q):
                high[i] = middle[i]
            else:
                low[i] = middle[i]
        report("quantile search", step + 1, ROUNDS)
    return {(g, column, q): high[i] for i, (g, column, q, _) in enumerate(searches)}


# --------------------------------------------------------------------------- runners


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: AggregateSpec,
    progress: Progress | None,
) -> tuple[dict[str, Any], list[str]]:
    """Run ``role`` (party1 … partyN) with ``parties`` mapping each role to its party name."""
    ordered = numbered_parties(parties, "aggregate")
    if role not in parties:
        raise ParameterError(
            f"unknown aggregate role {role!r}; roles are {sorted(parties)}", parameter="role"
        )
    data = load_role_data(path, spec)
    result = aggregate_role(channel, ordered, data, spec, progress)
    return result, record_warnings(data, spec.plan())


def _party_process(
    channel: Channel, progress: Progress, *, parties: list[str], path: str, spec: AggregateSpec
) -> tuple[dict[str, Any], list[str]]:
    data = load_role_data(path, spec)
    return aggregate_role(channel, parties, data, spec, progress), record_warnings(
        data, spec.plan()
    )


def _refuse_shared_files(parties: Mapping[str, str | Path]) -> None:
    """Refuse two parties given the same file, or files with the same contents: their
    records would be pooled twice. Contents are compared by SHA-256, only between files
    of equal size."""
    by_size: dict[int, list[str]] = {}
    for name, path in parties.items():
        by_size.setdefault(Path(path).stat().st_size, []).append(name)
    for names in by_size.values():
        seen: dict[bytes, str] = {}
        for name in names if len(names) > 1 else ():
            with open(parties[name], "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").digest()
            if digest in seen:
                first = seen[digest]
                same = Path(parties[first]).resolve() == Path(parties[name]).resolve()
                what = "the same file" if same else "files with identical contents"
                raise DatasetError(
                    f"parties {first!r} and {name!r} are given {what} ({parties[first]}, "
                    f"{parties[name]}); its records would be counted twice. Give each party "
                    "the file of its own records",
                    path=str(parties[name]),
                )
            seen[digest] = name


@dataclass(frozen=True)
class AggregateRun:
    """The release of a local aggregate run, the data warnings, and each party's cost."""

    result: dict[str, Any]
    warnings: list[str]
    outcomes: dict[str, PartyOutcome]


def run_local_aggregate(
    parties: Mapping[str, str | Path],
    spec: AggregateSpec,
    progress: ProgressSink | None = None,
) -> AggregateRun:
    """Run every party in its own process on loopback; ``result`` includes ``seconds``."""
    names = list(parties)
    if not 2 <= len(names) <= MAX_PARTIES:
        raise ParameterError(
            f"an aggregate needs 2 to {MAX_PARTIES} parties, got {len(names)}", parameter="parties"
        )
    for name, path in parties.items():
        if not name:
            raise ParameterError("a party name is empty", parameter="parties")
        check_data_file(path, f"file of party {name!r}")
    _refuse_shared_files(parties)
    started = time.perf_counter()
    outcomes = run_local(
        {
            name: (_party_process, {"parties": names, "path": str(path), "spec": spec})
            for name, path in parties.items()
        },
        progress=progress,
    )
    seconds = time.perf_counter() - started
    results = [outcomes[name].output[0] for name in names]
    if any(result != results[0] for result in results[1:]):
        raise ProtocolError("the parties ended with different releases", step="release")
    warnings = [w for name in names for w in outcomes[name].output[1]]
    return AggregateRun({**results[0], "seconds": round(seconds, 3)}, warnings, outcomes)


# --------------------------------------------------------------------------- the kind


def _pairwise(group: Mapping[str, Any]) -> dict[str, Any]:
    """A group's cov/corr matrices spread into one figure per pair of columns, for display."""
    spread: dict[str, Any] = {}
    for key, value in group.items():
        kind, _, columns = key.partition(":")
        if kind not in ("cov", "corr") or not columns:
            spread[key] = value
            continue
        names = columns.split(",")
        first = 0 if kind == "cov" else 1  # a correlation's diagonal is always 1
        for i, a in enumerate(names):
            for j in range(i + first, len(names)):
                spread[f"{kind}({a},{names[j]})"] = None if value is None else value[i][j]
    return spread


def parse_levels(items: list[str]) -> dict[str, list[str]]:
    """``COL=A|B|C`` texts as each group column's agreed labels."""
    levels: dict[str, list[str]] = {}
    for item in items:
        name, sep, labels = (part.strip() for part in item.partition("="))
        if not sep or not name or not labels:
            raise ParameterError(
                f"--level {item!r}: write COLUMN=A|B|C, e.g. region=North|South",
                parameter="levels",
            )
        levels[name] = [label.strip() for label in labels.split("|")]
    return levels


def render_result(result: Mapping[str, Any]) -> Rendering:
    """The release as tables: one row per group, then the OLS model if any."""
    shown = {**result, "groups": [_pairwise(group) for group in result["groups"]]}
    tables: Rendering = [
        groups_view(shown, title=f"Pooled statistics of {result['parties']} parties")
    ]
    model = result.get("ols")
    if model is not None:
        if model["suppressed"]:
            rows: tuple[tuple[str, ...], ...] = (("suppressed", "", ""),)
            caption = f"fewer than {result['min_cell']} complete records"
        else:
            rows = tuple(
                (term, figure(coef), figure(model["se"][term]))
                for term, coef in model["coef"].items()
            )
            caption = f"n = {model['n']:,} · R² = {figure(model['r2'])}"
        columns = (Column("term"), Column("coef", numeric=True), Column("se", numeric=True))
        tables.append(TableView(f"OLS {model['formula']}", columns, rows, caption))
    return tables


KIND = JobKind(
    name="aggregate",
    title="Statistics of the parties' pooled records, by secure sums.",
    description=(
        "Each party holds records with the same columns. All parties learn the released "
        "figures — counts, sums, means, variances, quantiles, covariances, an OLS model — of "
        "their records taken together, and nothing of another's records or subtotals. Groups "
        "below --min-cell records are suppressed, with complementary suppression."
    ),
    roles=(),
    role_help={"party": "A party and its records (all parties with the same columns)"},
    result_role="party1",
    spec_type=AggregateSpec,
    columns=lambda spec, _role: columns_used(spec),
    disclosure=lambda spec: {"min_cell": spec.min_cell},
    run_role=from_tuple(run_role),
    parties=(2, MAX_PARTIES),
    render=render_result,
    cli={
        "stats": CliField(option="--stat", split=False),
        "levels": CliField(option="--level", parse=parse_levels),
    },
)
