"""The attacker's view of a published table: the interval each suppressed cell can lie in.

The attacker knows every published value, the additivity equations ``A @ x = 0`` and that
no cell is negative (and, optionally, an upper bound per cell). The values the suppressed
cells can take form the polytope ``{x_S ≥ 0 : A_S x_S = −A_P v_P}``; a cell's lowest and
highest value over it are two linear programs, solved with HiGHS. This is exact: any value
in the interval is consistent with everything published, and none outside is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog

from privstats.disclosure.tables._table import Table
from privstats.errors import ComputationError

__all__ = ["Interval", "attacker_intervals"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class Interval:
    """The lowest and highest value a suppressed cell can take (``high`` may be inf)."""

    low: float
    high: float

    @property
    def width(self) -> float:
        """``high − low``."""
        return self.high - self.low


def attacker_intervals(
    table: Table,
    suppressed: BoolArray,
    upper_bounds: FloatArray | None = None,
    *,
    only: Collection[int] | None = None,
) -> dict[int, Interval]:
    """Each suppressed cell's interval (by cell index) given the published rest of ``table``;
    ``only`` restricts the answer to these suppressed cells."""
    hidden = np.flatnonzero(suppressed)
    if hidden.size == 0:
        return {}
    values = table.values
    equations = table.equations
    a_hidden = equations[:, hidden]
    rhs = -(equations[:, ~suppressed] @ values[~suppressed])
    touched = np.flatnonzero(a_hidden.getnnz(axis=1))
    a_eq = a_hidden[touched] if touched.size else None
    b_eq = rhs[touched] if touched.size else None
    highs = [None] * hidden.size if upper_bounds is None else list(upper_bounds[hidden])
    bounds = [(0.0, high) for high in highs]
    intervals: dict[int, Interval] = {}
    for position, cell in enumerate(hidden):
        if only is not None and int(cell) not in only:
            continue
        objective = np.zeros(hidden.size)
        ends = []
        for sign in (1.0, -1.0):
            objective[position] = sign
            result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if result.status == 3:  # unbounded: only the maximum can be
                ends.append(float("inf"))
            elif result.status != 0:
                raise ComputationError(
                    f"audit LP for cell {table.cells[cell].key} failed: {result.message}",
                    step="audit",
                )
            else:
                ends.append(sign * float(result.fun))
        intervals[int(cell)] = Interval(max(ends[0], 0.0), ends[1])
    return intervals
