"""Primary and secondary cell suppression of a table with all its margins, and its audit.

Primary suppression withholds every cell a rule finds sensitive. Because the margins are
published, that alone is not enough: a primary cell is often the difference of published
cells (``Islands`` minus the other activities of ``Islands``). Secondary suppression picks
more cells, at least total cost, so that every primary cell keeps its protection levels.

Method (an iterative form of Fischetti & Salazar-González, *Management Science* 2001,
"Solving the cell suppression problem on tabular data with linear constraints"). For each
primary cell ``p`` still under-protected, one small MILP finds the cheapest set of cells to
add such that *balanced patterns* exist — vectors ``z`` with ``A z = 0`` that are zero on
every published cell and keep every cell ≥ 0 — moving ``p`` up by its upper protection
level and down by its lower level. The true table plus such a pattern is a table the
attacker cannot tell from the true one, so the attacker's LP for ``p`` reaches at least
that far: the found set is a certificate for ``p``. To scale to tables of tens of
thousands of cells the MILP is solved on ``p``'s neighbourhood (the cells whose labels
share an equation with ``p``'s), widened only when that holds no pattern, and skipped when
the cells already withheld protect ``p`` there (:mod:`._patterns`). Suppressing more cells
only widens every interval, so each primary stays protected once done and one pass
suffices; primaries are solved in batches of cells far apart, over worker processes
(:mod:`._search`). Each primary keeps the patterns found for it as its proof; they are
checked against the final suppression, any that fall short numerically by the exact LPs,
and the pass repeated with a little margin for a cell still short, up to ``rounds`` times.
``method="hypercube"`` is the τ-Argus heuristic instead (:mod:`._hypercube`).

Guarantee: the verdicts of :meth:`ProtectedTable.audit` and :meth:`ProtectedTable.certify`
are exact for the attacker model stated there (published values, the additivity equations,
non-negativity). Optimality is per primary cell and approximate (HiGHS' root node only,
within a 5 % gap where it gets there; a MILP out of time or nodes falls back to its LP
relaxation's support, valid but costlier; a MILP over a large neighbourhood is solved over
the cells its relaxation moves), within the cell's neighbourhood, and in processing order
(largest first, in batches of cells far apart), not jointly over all cells. The
attacker model is the external one: it does not model a contributor who also knows its own
contributions to the secondary cells (the "singleton" or coalition attacks), nor attacker
upper bounds on cells, nor the cells of earlier releases unless ``keep`` names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import sparse

from privstats.disclosure.tables._audit import BoolArray, FloatArray, attacker_intervals
from privstats.disclosure.tables._hypercube import hypercube_suppression
from privstats.disclosure.tables._patterns import Layout, meets, short_of
from privstats.disclosure.tables._rules import Rule, Verdict, parse_rule
from privstats.disclosure.tables._search import PatternSearch, default_workers, search_all
from privstats.disclosure.tables._table import Table
from privstats.errors import ComputationError, ParameterError

__all__ = ["ProtectedTable", "primary_suppression", "protect", "secondary_suppression"]

Status = Literal["safe", "primary", "secondary", "empty"]
Cost = Literal["value", "cells"]
Method = Literal["milp", "hypercube"]


@dataclass(frozen=True)
class ProtectedTable:
    """A table with a status per cell and, for primary cells, the rules they fail."""

    table: Table
    status: tuple[Status, ...]
    verdicts: tuple[tuple[Verdict, ...], ...]

    @property
    def suppressed(self) -> BoolArray:
        """Which cells are withheld (primary or secondary), in cell order."""
        return np.array([s in ("primary", "secondary") for s in self.status], dtype=bool)

    def levels(self, index: int) -> tuple[float, float]:
        """The (upper, lower) protection a cell needs: the largest over the rules it fails."""
        verdicts = self.verdicts[index]
        return max((v.upper for v in verdicts), default=0.0), max(
            (v.lower for v in verdicts), default=0.0
        )

    def records(self, *, reveal: bool = False) -> list[dict[str, Any]]:
        """Every cell as ``{"by", "count", "value", "status", "rules"}``; withheld cells show
        None as count and value unless ``reveal`` (the office's own view)."""
        out = []
        for cell, status, verdicts in zip(
            self.table.cells, self.status, self.verdicts, strict=True
        ):
            hidden = status in ("primary", "secondary") and not reveal
            out.append(
                {
                    "by": self.table.by(cell),
                    "count": None if hidden else cell.count,
                    "value": None if hidden else cell.value,
                    "status": status,
                    "rules": [v.rule for v in verdicts],
                }
            )
        return out

    def certify(self) -> dict[str, Any]:
        """Whether every primary cell keeps its protection levels, proved cell by cell: in
        the cell's neighbourhood against an attacker who knows every cell outside it (two
        small LPs; passing there is a proof), else by the exact LPs of :meth:`audit`. The
        same verdict as ``audit()["protected"]`` without every withheld cell's interval,
        which makes it the check to run on a large table."""
        levels = {i: self.levels(i) for i, s in enumerate(self.status) if s == "primary"}
        short = short_of(self.table, self.suppressed, levels)
        return {
            "cells_checked": len(levels),
            "protected": not short,
            "unprotected": [self.table.by(self.table.cells[i]) for i in short],
        }

    def audit(self) -> dict[str, Any]:
        """Each withheld cell's interval given everything published, and whether every
        primary cell's interval covers its protection levels (exact: HiGHS LPs)."""
        intervals = attacker_intervals(self.table, self.suppressed)
        report: dict[str, Any] = {}
        narrowest: dict[str, Any] | None = None
        narrowest_width = float("inf")
        all_protected = True
        for index, interval in intervals.items():
            cell = self.table.cells[index]
            entry: dict[str, Any] = {
                "by": self.table.by(cell),
                "status": self.status[index],
                "low": interval.low,
                "high": None if interval.high == float("inf") else interval.high,
                "width": None if interval.high == float("inf") else interval.width,
            }
            if self.status[index] == "primary":
                upper, lower = self.levels(index)
                entry["needed"] = {"upper": upper, "lower": lower}
                entry["protected"] = meets(interval, cell.value, upper, lower)
                all_protected = all_protected and entry["protected"]
            report[" | ".join(cell.key)] = entry
            if narrowest is None or interval.width < narrowest_width:
                narrowest, narrowest_width = entry, interval.width
        return {
            "cells_checked": len(intervals),
            "narrowest_interval": narrowest,
            "protected": all_protected,
            "intervals": report,
        }


def primary_suppression(table: Table, rules: Sequence[str | Rule]) -> ProtectedTable:
    """Withhold every cell a rule finds sensitive; empty cells are ``"empty"``."""
    parsed = [parse_rule(rule) for rule in rules]
    if not parsed:
        raise ParameterError("give at least one rule, e.g. 'freq:3'", parameter="rules")
    needed = max(rule.contributions_needed for rule in parsed)
    if needed > table.top:
        raise ParameterError(
            f"the rules read the {needed} largest contributions; tabulate with top={needed}",
            parameter="rules",
        )
    status: list[Status] = []
    verdicts: list[tuple[Verdict, ...]] = []
    for cell in table.cells:
        found = tuple(v for v in (rule.check(cell) for rule in parsed) if v is not None)
        verdicts.append(found)
        status.append("primary" if found else "empty" if cell.count == 0 else "safe")
    return ProtectedTable(table, tuple(status), tuple(verdicts))


def protect(
    table: Table,
    rules: Sequence[str | Rule],
    *,
    cost: Cost = "value",
    rounds: int = 3,
    method: Method = "milp",
    keep: BoolArray | None = None,
) -> ProtectedTable:
    """Primary then secondary suppression: the table ready to audit and publish."""
    return secondary_suppression(
        primary_suppression(table, rules), cost=cost, rounds=rounds, method=method, keep=keep
    )


def secondary_suppression(
    protected: ProtectedTable,
    *,
    cost: Cost = "value",
    rounds: int = 3,
    method: Method = "milp",
    keep: BoolArray | None = None,
    time_limit: float = 1.0,
    workers: int | None = None,
) -> ProtectedTable:
    """Add the secondary suppressions that protect every primary cell (see module doc).

    ``cost`` ``"value"`` minimises the total value withheld (ties broken towards fewer
    cells), ``"cells"`` the number of cells. Empty cells are never used: they are known.
    ``method`` ``"milp"`` solves one pattern MILP per under-protected primary cell (at most
    ``time_limit`` seconds each), in batches over ``workers`` processes (all cores by
    default; the result does not depend on it); ``"hypercube"`` is the τ-Argus HYPERCUBE heuristic
    (:mod:`._hypercube`), faster and cruder, and not always protective on hierarchies.
    ``keep`` marks (in cell order) cells already published, say in an earlier release, that
    must not be withheld; a primary cell that cannot be protected without them is a
    ParameterError naming it. Should ``rounds`` passes not suffice (numerical tolerance
    only), the cells stay as they are and :meth:`ProtectedTable.audit` reports them
    unprotected: check it before release.
    """
    if cost not in ("value", "cells"):
        raise ParameterError(f"cost must be 'value' or 'cells', got {cost!r}", parameter="cost")
    if method not in ("milp", "hypercube"):
        raise ParameterError(
            f"method must be 'milp' or 'hypercube', got {method!r}", parameter="method"
        )
    if rounds < 1:
        raise ParameterError(f"rounds must be ≥ 1, got {rounds}", parameter="rounds")
    if workers is not None and workers < 1:
        raise ParameterError(f"workers must be ≥ 1, got {workers}", parameter="workers")
    if not time_limit > 0:
        raise ParameterError(f"time_limit must be > 0, got {time_limit}", parameter="time_limit")
    table = protected.table
    keep = _check_keep(protected, keep)
    values = table.values
    suppressed = protected.suppressed.copy()
    primaries = [i for i, s in enumerate(protected.status) if s == "primary"]
    primaries.sort(key=lambda i: (-values[i], i))
    weights = _weights(values, cost)
    allowed = np.array([cell.count > 0 for cell in table.cells], dtype=bool) & ~keep
    levels = {i: protected.levels(i) for i in primaries}
    if method == "hypercube":
        suppressed |= hypercube_suppression(table, suppressed, allowed, weights, levels)
    else:
        _milp_suppression(
            table,
            suppressed,
            allowed,
            weights,
            levels,
            keep,
            rounds,
            time_limit,
            default_workers() if workers is None else workers,
        )
    status = tuple(
        "secondary" if hidden and s != "primary" else s
        for hidden, s in zip(suppressed, protected.status, strict=True)
    )
    return ProtectedTable(table, status, protected.verdicts)


def _check_keep(protected: ProtectedTable, keep: BoolArray | None) -> BoolArray:
    """``keep`` as a boolean array in cell order, refusing a sensitive cell in it."""
    n = len(protected.table.cells)
    if keep is None:
        return np.zeros(n, dtype=bool)
    mask = np.asarray(keep)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        raise ParameterError(
            f"keep must be a boolean array of one entry per cell ({n}), got shape "
            f"{mask.shape} of {mask.dtype}",
            parameter="keep",
        )
    clash = [i for i in np.flatnonzero(mask) if protected.status[i] == "primary"]
    if clash:
        cells = ", ".join(" | ".join(protected.table.cells[i].key) for i in clash[:5])
        raise ParameterError(
            f"keep marks {len(clash)} sensitive cell(s) as already published: {cells}; "
            "a published cell cannot be withheld now",
            parameter="keep",
        )
    return mask.copy()


MILP_OPTIONS = {"mip_rel_gap": 0.05, "mip_max_nodes": 1}
"""HiGHS options of the pattern MILPs: the root node only (its cuts and heuristics find a
near-best pattern; a search of further nodes cost 20 % more time for no fewer cells)."""


def _milp_suppression(
    table: Table,
    suppressed: BoolArray,
    allowed: BoolArray,
    weights: FloatArray,
    levels: dict[int, tuple[float, float]],
    keep: BoolArray,
    rounds: int,
    time_limit: float,
    workers: int,
) -> None:
    """Widen ``suppressed`` in place until every primary in ``levels`` has its patterns;
    then check each primary's patterns against the final suppression (exactly by LP where
    the patterns fall short numerically) and redo, with a little more margin, any short."""
    layout = Layout.of(table)
    by_column = sparse.csc_matrix(table.equations)
    values = table.values
    search = PatternSearch(
        layout, by_column, allowed, weights, {**MILP_OPTIONS, "time_limit": time_limit}
    )
    todo = list(levels)
    margin = 0.0
    for _ in range(rounds):
        wanted = {
            i: (up + margin * up, min(down + margin * down, float(values[i])))
            for i, (up, down) in ((i, levels[i]) for i in todo)
        }
        found = search_all(search, suppressed, wanted, todo, check=margin == 0.0, workers=workers)
        for index, result in found.items():
            if result is None:
                _no_pattern(table, index, keep)
        doubtful = {
            i: levels[i]
            for i in todo
            if (result := found[i]) is None
            or not result[1].holds(by_column, values, suppressed, levels[i])
        }
        todo = short_of(table, suppressed, doubtful, layout) if doubtful else []
        if not todo:
            return
        margin = 1e-4 if margin == 0.0 else 10 * margin


def _no_pattern(table: Table, index: int, keep: BoolArray) -> None:
    """Raise the error for a primary cell that no set of cells protects."""
    where = " | ".join(table.cells[index].key)
    if keep.any():
        raise ParameterError(
            f"cell {where} cannot be protected without withholding cells that keep marks "
            "as already published",
            parameter="keep",
        )
    raise ComputationError(
        f"no set of cells protects {where}: too few non-empty cells", step="secondary_suppression"
    )


def _weights(values: FloatArray, cost: Cost) -> FloatArray:
    """The cost of withholding each cell."""
    if cost == "cells":
        return np.ones_like(values)
    positive = values[values > 0]
    tie = 1e-3 * (float(positive.mean()) if positive.size else 1.0)
    return values + tie
