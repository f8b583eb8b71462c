"""Coverage with match keys (``--match-key RULE``): both files' records, their keys, the PSI.

When register and source share no identifier, each side builds one key per rule from
normalised fields (:mod:`privstats.linkage.match_keys`, e.g. ``soundex(surname)+dob+sex``)
and a register person counts as covered when ANY of their keys is one of the source's
under the same rule (:mod:`privstats.protocols.psi_multikey`). The rest of a coverage job
— terms, size padding, the release rules, the source's checks — is unchanged
(:mod:`.coverage`); this module reads the records, runs the protocol and turns its
per-rule counts into extra released figures.

Register: its ``key`` column still names a person (a repeated person counts once, first
row wins, as without match keys) and ``by`` gives the domains; the rules' columns are
read from the same file. Source: every row is a record; its columns are the rules'
columns, or those ``source_fields`` names (``--source-field surname=last_name``).

Per-rule figures (``matched_by_rule``, rule text → count) appear in every released cell
(domain, margin, total) and in no withheld one. Because they are extra counts of the same
table, a rule's figures are withheld everywhere when the cells they publish would pin a
withheld cell's per-rule count to within one person (the source's own check, run on
each rule's table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from privstats.data.identifiers import IdentifierRule
from privstats.data.readers import load_identifiers, read_columns
from privstats.disclosure.tables import TOTAL
from privstats.errors import DatasetError, ParameterError
from privstats.jobs.coverage_figures import cell_counts
from privstats.jobs.coverage_release import Decisions, Label, published_intervals
from privstats.linkage.match_keys import MatchRule, fields_of, parse_rules
from privstats.progress import Progress
from privstats.protocols import psi_multikey
from privstats.transport.channel import Channel

__all__ = [
    "KeyedRecords",
    "RuleFigures",
    "load_register",
    "load_source",
    "parse_source_fields",
    "register_counts",
    "rule_figures",
    "source_columns",
    "source_counts",
]


@dataclass(frozen=True)
class KeyedRecords:
    """One file's records as match keys (one per rule), with the register's domains."""

    path: str
    key: str  # the register's person column; "" for the source
    records: list[tuple[str, ...]]
    domain_codes: npt.NDArray[np.intp] | None = None
    domain_labels: list[tuple[str, ...]] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    without_keys: int = 0  # records with no key under any rule

    @property
    def ids(self) -> list[tuple[str, ...]]:
        """The records (what :mod:`.coverage` counts as the file's persons)."""
        return self.records

    def warnings(self) -> list[str]:
        """Duplicates (register) and records no rule can match, in sentences."""
        out = list(self.notes)
        if self.without_keys:
            out.append(
                f"{self.path}: {self.without_keys} record{'s' if self.without_keys > 1 else ''} "
                "have no match key under any rule (a field each rule needs is empty) and "
                "cannot match"
            )
        return out


def parse_source_fields(items: list[str]) -> dict[str, str]:
    """``NAME=COL`` texts (a rule's column → the source's column) as a mapping."""
    out = {}
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ParameterError(
                f"--source-field {item!r}: write RULE_COLUMN=SOURCE_COLUMN, e.g. surname=last_name",
                parameter="source_fields",
            )
        out[name.strip()] = column.strip()
    return out


def source_columns(rules: Sequence[MatchRule], mapping: Mapping[str, str]) -> tuple[str, ...]:
    """The source's columns the rules read (renamed by ``mapping``)."""
    return tuple(dict.fromkeys(mapping.get(name, name) for name in fields_of(rules)))


def _keys(
    columns: Mapping[str, list[str | None]], rows: Sequence[int], rules: Sequence[MatchRule]
) -> tuple[list[tuple[str, ...]], int]:
    """Each chosen row's keys, and how many rows have no key at all."""
    names = list(columns)
    records = []
    without = 0
    for row in rows:
        record = {name: columns[name][row] for name in names}
        keys = tuple(rule.key(record) for rule in rules)
        without += not any(keys)
        records.append(keys)
    return records, without


def load_register(
    path: str | Path,
    key: str,
    by: Sequence[str],
    rule_texts: Sequence[str],
    normalization: IdentifierRule,
) -> KeyedRecords:
    """The register's persons (``key`` de-duplicated as without match keys), domains and keys."""
    rules = parse_rules(rule_texts)
    persons = load_identifiers(path, key, by=by, rule=normalization)
    fields = [name for name in fields_of(rules) if name != key]
    table = read_columns(path, (key, *fields))
    normalised = normalization.apply(table[key].cast(pa.large_string()).combine_chunks())
    first: dict[str, int] = {}
    for row, ident in enumerate(normalised.to_pylist()):
        if ident is not None:
            first.setdefault(ident, row)
    rows = [first[ident] for ident in persons.ids]
    columns = {name: table[name].to_pylist() for name in fields}
    if key in fields_of(rules):
        columns[key] = table[key].to_pylist()
    records, without = _keys(columns, rows, rules)
    return KeyedRecords(
        str(path),
        key,
        records,
        persons.domain_codes,
        persons.domain_labels,
        tuple(persons.warnings()),
        without,
    )


def load_source(
    path: str | Path, rule_texts: Sequence[str], mapping: Mapping[str, str]
) -> KeyedRecords:
    """The source's records (every row) and their keys under the rules."""
    rules = parse_rules(rule_texts)
    wanted = source_columns(rules, mapping)
    table = read_columns(path, wanted)
    if table.num_rows == 0:
        raise DatasetError(
            f"{path}: the file has a header but no data rows; coverage needs at least one "
            "record (is it the right file?)",
            path=str(path),
        )
    by_rule_name = {name: table[mapping.get(name, name)].to_pylist() for name in fields_of(rules)}
    records, without = _keys(by_rule_name, range(table.num_rows), rules)
    return KeyedRecords(str(path), "", records, without_keys=without)


def register_counts(
    channel: Channel,
    peer: str,
    data: KeyedRecords,
    n_rules: int,
    padding: Sequence[int],
    *,
    chunk_size: int,
    progress: Progress | None,
    max_peer_size: int | None,
    min_peer_size: int,
) -> psi_multikey.MultiKeyCounts:
    """The register's multi-key PSI, one group per domain, ``padding[g]`` keyless records
    added to domain g (they never match)."""
    n_groups = max(len(data.domain_labels), 1)
    codes = (
        np.zeros(len(data.records), dtype=np.intp)
        if data.domain_codes is None
        else data.domain_codes
    )
    records: list[Sequence[str | None]] = list(data.records)
    groups: list[int] = codes.tolist()
    for group, count in enumerate(padding):
        records += [(None,) * n_rules] * count
        groups += [group] * count
    return psi_multikey.receiver(
        channel,
        peer,
        records,
        groups,
        n_rules=n_rules,
        n_groups=n_groups,
        chunk_size=chunk_size,
        progress=progress,
        max_peer_size=max_peer_size,
        min_peer_size=min_peer_size,
        reveal_counts=False,
    )


def source_counts(
    channel: Channel,
    peer: str,
    data: KeyedRecords,
    n_rules: int,
    *,
    chunk_size: int,
    progress: Progress | None,
    max_peer_size: int | None,
    min_peer_size: int,
    peer_padding: int,
) -> None:
    """The source's multi-key PSI (it learns the domain sizes, no count)."""
    psi_multikey.sender(
        channel,
        peer,
        data.records,
        n_rules=n_rules,
        chunk_size=chunk_size,
        progress=progress,
        max_peer_size=max_peer_size,
        min_peer_size=min_peer_size,
        peer_padding=peer_padding,
        reveal_counts=False,
    )


@dataclass(frozen=True)
class RuleFigures:
    """Per-rule figures of a release: per released cell, and which rules are withheld."""

    cells: dict[Label, dict[str, Any]]
    overall: dict[str, int] | None
    withheld: dict[str, str]


def rule_figures(
    decisions: Decisions,
    labels: Sequence[Label],
    by: Sequence[str],
    rules: Sequence[str],
    by_rule: Sequence[Sequence[int]],
) -> RuleFigures:
    """``matched_by_rule`` for every released cell; a rule whose published cells would pin
    a withheld cell to within one person is withheld in every cell, with the reason."""
    keys = list(decisions.cells)
    tables: dict[str, dict[Label, int]] = {}
    withheld: dict[str, str] = {}
    for j, rule in enumerate(rules):
        leaves = {label: int(by_rule[g][j]) for g, label in enumerate(labels)}
        counts = cell_counts(leaves, keys)
        if by and any(decisions.cells[k].withheld for k in keys):
            published = {k: None if decisions.cells[k].withheld else counts[k] for k in keys}
            narrow = [
                k for k, (low, high) in published_intervals(published, by).items() if high - low < 1
            ]
            if narrow:
                withheld[rule] = (
                    "its published counts would pin a withheld cell's count "
                    f"({', '.join(map(str, narrow[0]))})"
                )
                continue
        tables[rule] = counts
    cells = {
        k: {"matched_by_rule": {rule: table[k] for rule, table in tables.items()}}
        for k in keys
        if not decisions.cells[k].withheld
    }
    total: Label = (TOTAL,) * len(by)
    overall = cells.get(total, {}).get("matched_by_rule")
    return RuleFigures(cells, overall, withheld)
