"""The coverage release as JSON, and the source's check of a release it is shown.

:func:`release` turns the counts and the decisions of :mod:`.coverage_release` into the
result both parties output: the overall figures, ``groups`` (one per domain) and
``margins`` (the cells with ``"Total"``), each released cell with its counts, share and
interval, each withheld cell with ``status``, ``reason`` and no figures. Estimates are
post-processing of the released counts (with DP, of the noisy counts, clipped to what a
count can be).

:func:`check_release` is the source's own enforcement: whatever the register computed,
the source refuses a release in which a released cell breaks the source's floors, or a
withheld cell is pinned down by the published ones (solved for, as an analyst would).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from privstats.disclosure.tables import TOTAL
from privstats.errors import ProtocolError
from privstats.jobs.coverage_release import CoverageTerms, Decisions, Label, published_intervals
from privstats.stats.coverage import Method, dual_system_estimate, proportion_interval

__all__ = ["CoverageFigures", "cell_counts", "check_release", "release"]


class CoverageFigures(Protocol):
    """The spec fields the figures read."""

    @property
    def by(self) -> tuple[str, ...]: ...
    @property
    def confidence(self) -> float: ...
    @property
    def method(self) -> Method: ...


def cell_counts(leaves: Mapping[Label, int], cells: Sequence[Label]) -> dict[Label, int]:
    """Each cell's count (margins: the sum of their domains) from the domains' counts."""
    out = {}
    for key in cells:
        out[key] = sum(
            n
            for label, n in leaves.items()
            if all(k in (TOTAL, lab) for k, lab in zip(key, label, strict=True))
        )
    return out


def _share(matched: int, size: int, spec: CoverageFigures) -> dict[str, Any]:
    """Estimate and interval of ``matched / size``, the counts clipped to what they can be
    (noisy counts may not be); None figures when the size is not positive."""
    if size <= 0:
        return {"estimate": None, "ci_low": None, "ci_high": None}
    share = proportion_interval(
        min(max(matched, 0), size), size, confidence=spec.confidence, method=spec.method
    )
    return {"estimate": share.estimate, "ci_low": share.ci_low, "ci_high": share.ci_high}


def _entry(
    key: Label,
    spec: CoverageFigures,
    decisions: Decisions,
    sizes: Mapping[Label, int],
    matched: Mapping[Label, int],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    decision = decisions.cells[key]
    entry: dict[str, Any] = {"by": dict(zip(spec.by, key, strict=True))}
    if decision.withheld:
        entry |= {
            "register_size": None,
            "matched": None,
            "estimate": None,
            "ci_low": None,
            "ci_high": None,
            "suppressed": True,
            "status": decision.status,
            "reason": "; ".join(decision.reasons),
        }
    else:
        entry |= {"register_size": sizes[key], "matched": matched[key]}
        entry |= _share(matched[key], sizes[key], spec)
        entry |= {"suppressed": False, "status": decision.status, **extra}
    entry["rules"] = list(decision.rules)
    return entry


def release(
    spec: CoverageFigures,
    terms: CoverageTerms | None,
    decisions: Decisions,
    sizes: Mapping[Label, int],
    matched: Mapping[Label, int],
    source_size: int,
    *,
    cell_extra: Mapping[Label, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The release: ``sizes`` and ``matched`` hold a count for every domain (with DP, the
    noisy ones); margins are summed from them. ``terms`` None: no table rules (DP);
    ``cell_extra``: more fields of each released cell (its noise)."""
    keys = list(decisions.cells)
    all_sizes, all_matched = cell_counts(sizes, keys), cell_counts(matched, keys)
    overall_key: Label = (TOTAL,) * len(spec.by)
    extra = cell_extra or {}
    entries = [_entry(k, spec, decisions, all_sizes, all_matched, extra.get(k, {})) for k in keys]
    # without domain columns the one cell is the whole register: no per-domain rows
    groups = [e for k, e in zip(keys, entries, strict=True) if k in sizes and spec.by]
    margins = [e for k, e in zip(keys, entries, strict=True) if k not in sizes and k != overall_key]
    groups.sort(key=lambda entry: tuple(entry["by"].values()))
    overall = decisions.cells[overall_key]
    source_withheld = terms is not None and bool(terms.fails(source_size))
    n = None if overall.withheld else all_sizes[overall_key]
    m = None if overall.withheld else all_matched[overall_key]
    coverage: dict[str, Any] = {"estimate": None, "ci_low": None, "ci_high": None}
    if n is not None and m is not None:
        coverage = _share(m, n, spec)
    coverage |= {"confidence": spec.confidence, "method": spec.method}
    result: dict[str, Any] = {
        "computation": "coverage",
        "register_size": n,
        "source_size": None if source_withheld else source_size,
        "matched": m,
        "coverage": coverage,
        "suppressed": overall.withheld,
        "groups": groups,
        "margins": margins,
        "population_estimate": _population(spec, n, None if source_withheld else source_size, m),
        "rules": [] if terms is None else terms.table_rules(),
        "audit": dict(decisions.audit),
    }
    if overall.withheld:
        result["reason"] = "; ".join(overall.reasons)
    return result


def _population(
    spec: CoverageFigures, first: int | None, second: int | None, matched: int | None
) -> dict[str, Any]:
    """The dual-system estimate, or None figures with a note why."""
    empty: dict[str, Any] = {"estimate": None, "ci_low": None, "ci_high": None}
    if first is None or second is None or matched is None:
        return empty | {"method": "chapman", "note": "withheld: a count it needs is withheld"}
    matched = min(max(matched, 0), first, second)
    if matched == 0:
        return empty | {"method": "chapman", "note": "undefined: no person is in both lists"}
    population = dual_system_estimate(first, second, matched, confidence=spec.confidence)
    return {
        key: value
        for key, value in population.as_dict().items()
        if key in ("estimate", "ci_low", "ci_high", "method")
    }


def published_cells(result: Mapping[str, Any], measure: str) -> dict[Label, int | None]:
    """Every cell of a release (domains, margins, total) → its published ``measure``."""
    by = list(result["groups"][0]["by"]) if result.get("groups") else []
    cells: dict[Label, int | None] = {}
    for entry in (*result.get("groups", []), *result.get("margins", [])):
        cells[tuple(entry["by"][d] for d in by)] = entry.get(measure)
    cells[(TOTAL,) * len(by)] = result.get(measure)
    return cells


def check_release(
    result: Mapping[str, Any],
    by: Sequence[str],
    terms: CoverageTerms,
    source_size: int,
    peer: str,
    *,
    exact: bool = True,
) -> None:
    """The source's check of a release: a ProtocolError naming the first cell that breaks
    its ``terms`` (a released count of 1..floor−1), a count above what is possible, or a
    withheld primary cell that the published cells pin to less than ±1 person. ``exact``:
    the counts are not noisy (no DP), so the own size must match."""

    def refuse(why: str) -> ProtocolError:
        return ProtocolError(
            f"the register's release breaks this source's terms: {why}; nothing is released",
            peer=peer,
            step="release",
        )

    if result.get("computation") != "coverage":
        raise refuse("it is not a coverage release")
    if exact and result.get("source_size") not in (None, source_size):
        raise refuse(f"source size {result.get('source_size')} is not this source's")
    for measure in ("register_size", "matched"):
        cells = published_cells(result, measure)
        for key, count in cells.items():
            if count is None:
                continue
            failed = terms.fails(count) if exact else []
            if failed:
                raise refuse(f"cell {list(key)} has {measure} {count}: {failed[0].reason}")
        if not by or not exact:
            continue
        for key, (low, high) in published_intervals(cells, by).items():
            if high - low < 1.0 - 1e-9:
                raise refuse(
                    f"withheld cell {list(key)} has {measure} pinned to {low:g}–{high:g} by "
                    "the published cells"
                )
