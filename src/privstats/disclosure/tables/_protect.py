"""Primary and secondary cell suppression of a table with all its margins, and its audit.

Primary suppression withholds every cell a rule finds sensitive. Because the margins are
published, that alone is not enough: a primary cell is often the difference of published
cells (``Islands`` minus the other activities of ``Islands``). Secondary suppression picks
more cells, at least total cost, so that every primary cell keeps its protection levels.

Method (an iterative form of Fischetti & Salazar-González, *Management Science* 2001,
"Solving the cell suppression problem on tabular data with linear constraints"). For each
primary cell ``p`` still under-protected, one small MILP finds the cheapest set of cells to
add such that two *balanced patterns* exist — vectors ``z`` with ``A z = 0`` that are zero
on every published cell and keep every cell ≥ 0 — one moving ``p`` up by its upper
protection level and one moving it down by its lower level. The true table plus such a
pattern is a table the attacker cannot tell from the true one, so the attacker's LP for
``p`` reaches at least that far: the found set is a certificate for ``p``. Suppressing more
cells only widens every interval, so each primary stays protected once done and one pass
suffices; an exact audit (two LPs per suppressed cell) is then run on the result and the
pass repeated for any cell still short (numerical tolerance), up to ``rounds`` times.

Guarantee: the verdict of :meth:`ProtectedTable.audit` is exact for the attacker model
stated there (published values, the additivity equations, non-negativity). Optimality is
per primary cell (within a 1 % MILP gap) and in processing order (largest first), not
jointly over all cells. The attacker model is the external one: it does not model a
contributor who also knows its own contributions to the secondary cells (the "singleton"
or coalition attacks), nor attacker upper bounds on cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from privstats.disclosure.tables._audit import BoolArray, FloatArray, Interval, attacker_intervals
from privstats.disclosure.tables._rules import Rule, Verdict, parse_rule
from privstats.disclosure.tables._table import Table
from privstats.errors import ComputationError, ParameterError

__all__ = ["ProtectedTable", "primary_suppression", "protect", "secondary_suppression"]

Status = Literal["safe", "primary", "secondary", "empty"]
Cost = Literal["value", "cells"]


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
                entry["protected"] = _meets(interval, cell.value, upper, lower)
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


def _meets(interval: Interval, value: float, upper: float, lower: float) -> bool:
    """Whether ``interval`` reaches ``upper`` above and ``lower`` below ``value``."""
    tolerance = 1e-6 * max(1.0, abs(value))
    return interval.high >= value + upper - tolerance and interval.low <= value - lower + tolerance


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
    table: Table, rules: Sequence[str | Rule], *, cost: Cost = "value", rounds: int = 3
) -> ProtectedTable:
    """Primary then secondary suppression: the table ready to audit and publish."""
    return secondary_suppression(primary_suppression(table, rules), cost=cost, rounds=rounds)


def secondary_suppression(
    protected: ProtectedTable, *, cost: Cost = "value", rounds: int = 3
) -> ProtectedTable:
    """Add the secondary suppressions that protect every primary cell (see module doc).

    ``cost`` ``"value"`` minimises the total value withheld (ties broken towards fewer
    cells), ``"cells"`` the number of cells. Empty cells are never used: they are known.
    Should ``rounds`` passes not suffice (numerical tolerance only), the cells stay as they
    are and :meth:`ProtectedTable.audit` reports them unprotected: check it before release.
    """
    if cost not in ("value", "cells"):
        raise ParameterError(f"cost must be 'value' or 'cells', got {cost!r}", parameter="cost")
    if rounds < 1:
        raise ParameterError(f"rounds must be ≥ 1, got {rounds}", parameter="rounds")
    table = protected.table
    values = table.values
    suppressed = protected.suppressed.copy()
    primaries = [i for i, s in enumerate(protected.status) if s == "primary"]
    primaries.sort(key=lambda i: (-values[i], i))
    weights = _weights(values, cost)
    usable = np.array([cell.count > 0 for cell in table.cells], dtype=bool)
    for _ in range(rounds):
        short = False
        for index in primaries:
            levels = protected.levels(index)
            now = attacker_intervals(table, suppressed, only={index})[index]
            if not _meets(now, values[index], *levels):  # earlier patterns may suffice
                suppressed |= _pattern(table, suppressed, usable, weights, index, levels)
                short = True
        if not short:  # this round was an exact audit of every primary cell
            break
    status = tuple(
        "secondary" if hidden and s != "primary" else s
        for hidden, s in zip(suppressed, protected.status, strict=True)
    )
    return ProtectedTable(table, status, protected.verdicts)


def _weights(values: FloatArray, cost: Cost) -> FloatArray:
    """The cost of withholding each cell."""
    if cost == "cells":
        return np.ones_like(values)
    positive = values[values > 0]
    tie = 1e-3 * (float(positive.mean()) if positive.size else 1.0)
    return values + tie


def _pattern(
    table: Table,
    suppressed: BoolArray,
    usable: BoolArray,
    weights: FloatArray,
    target: int,
    levels: tuple[float, float],
) -> BoolArray:
    """The cheapest cells to add so that ``target`` can move up and down by ``levels``.

    Variables: ``y`` (withhold cell?), and per direction ``z⁺, z⁻ ≥ 0`` with
    ``A (z⁺ − z⁻) = 0``, ``z⁺ ≤ M y``, ``z⁻ ≤ v y`` (no cell below 0), the target's own
    change fixed to the level. A too small big-M ``M`` only loses solutions, never
    validity, so it starts small and is raised when the MILP finds none.
    """
    values = table.values
    scale = max(levels[0], levels[1], 1e-9)
    for big in (scale, 8 * scale, float(values.max()) * 4 + scale):
        chosen = _solve_pattern(table, suppressed, usable, weights, target, levels, big)
        if chosen is not None:
            return chosen
    raise ComputationError(
        f"no set of cells protects {table.cells[target].key}: too few non-empty cells",
        step="secondary_suppression",
    )


def _solve_pattern(
    table: Table,
    suppressed: BoolArray,
    usable: BoolArray,
    weights: FloatArray,
    target: int,
    levels: tuple[float, float],
    big: float,
) -> BoolArray | None:
    """One MILP of :func:`_pattern` with big-M ``big``; None when it has no solution."""
    values = table.values
    n = values.size
    a = table.equations
    identity = sparse.identity(n, format="csr")
    zero_rows = sparse.csr_matrix((a.shape[0], n))
    balance = sparse.bmat(
        [[zero_rows, a, -a, None, None], [zero_rows, None, None, a, -a]], format="csr"
    )
    linking = sparse.bmat(
        [
            [-big * identity, identity, None, None, None],
            [-sparse.diags(values), None, identity, None, None],
            [-big * identity, None, None, identity, None],
            [-sparse.diags(values), None, None, None, identity],
        ],
        format="csr",
    )
    y_low = suppressed.astype(float)
    y_high = (suppressed | usable).astype(float)
    z_high = np.full(n, big)
    lower = np.concatenate([y_low, np.zeros(4 * n)])
    upper = np.concatenate([y_high, z_high, values, z_high, values])
    up, down = levels
    for block, amount in ((1, up), (2, 0.0), (3, 0.0), (4, down)):
        lower[block * n + target] = upper[block * n + target] = amount
    cost = np.concatenate([np.where(suppressed, 0.0, weights), np.zeros(4 * n)])
    integrality = np.concatenate([np.ones(n), np.zeros(4 * n)])
    result = milp(
        cost,
        integrality=integrality,
        bounds=Bounds(lower, upper),
        constraints=[
            LinearConstraint(balance, 0.0, 0.0),
            LinearConstraint(linking, -np.inf, 0.0),
        ],
        options={"time_limit": 60.0, "mip_rel_gap": 1e-2},
    )
    if result.x is None:
        return None
    chosen: BoolArray = result.x[:n] > 0.5
    return chosen & ~suppressed
