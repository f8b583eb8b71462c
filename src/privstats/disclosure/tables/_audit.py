"""The attacker's view of a published table: the interval each suppressed cell can lie in.

The attacker knows every published value, the additivity equations ``A @ x = 0`` and that
no cell is negative (and, optionally, an upper bound per cell). The values the suppressed
cells can take form the polytope ``{x_S ≥ 0 : A_S x_S = −A_P v_P}``; a cell's lowest and
highest value over it are two linear programs, solved with HiGHS. This is exact: any value
in the interval is consistent with everything published, and none outside is.

The polytope splits into independent blocks: two suppressed cells are linked when one
equation holds both, and a cell's interval depends only on its connected component. Each
LP is therefore solved over the cell's component alone (the same optimum, far smaller
programs on a large table whose suppressions form many small patterns).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from privstats.disclosure.tables._table import Table
from privstats.errors import ComputationError

try:  # HiGHS as SciPy bundles it: a private module, hence the fallback to linprog
    from scipy.optimize._highspy import _core
except ImportError:  # pragma: no cover - depends on the SciPy build
    _core = None

__all__ = ["Interval", "attacker_intervals", "components", "highs", "solve_lp"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
IntArray = np.ndarray[Any, np.dtype[np.intp]]


@dataclass(frozen=True)
class Interval:
    """The lowest and highest value a suppressed cell can take (``high`` may be inf)."""

    low: float
    high: float

    @property
    def width(self) -> float:
        """``high − low``."""
        return self.high - self.low


def _highs_lp(
    cost: FloatArray,
    matrix: sparse.csr_matrix,
    row_bounds: tuple[FloatArray, FloatArray],
    col_bounds: tuple[FloatArray, FloatArray],
) -> Any:
    """The HiGHS model of ``min cost · x`` over the rows and columns' bounds (column-wise)."""
    by_column = sparse.csc_matrix(matrix)
    lp = _core.HighsLp()
    lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = matrix.shape[1], matrix.shape[0]
    lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
    lp.a_matrix_.start_ = by_column.indptr
    lp.a_matrix_.index_ = by_column.indices
    lp.a_matrix_.value_ = by_column.data
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = col_bounds
    lp.row_lower_, lp.row_upper_ = row_bounds
    return lp


def highs(
    cost: FloatArray,
    matrix: sparse.csr_matrix,
    row_bounds: tuple[FloatArray, FloatArray],
    col_bounds: tuple[FloatArray, FloatArray],
    integral: BoolArray | None = None,
    options: dict[str, float] | None = None,
) -> tuple[str, FloatArray | None, float]:
    """``min cost · x`` over ``{row_low ≤ matrix x ≤ row_high, col_low ≤ x ≤ col_high}``
    (``integral`` columns whole numbers) by HiGHS, called directly through the bindings
    SciPy ships (its wrappers cost more than a small program), else through
    :func:`scipy.optimize.milp`. Returns the status — ``"optimal"``, ``"infeasible"``,
    ``"unbounded"``, ``"stopped"`` (a limit; ``x`` may hold a solution) or HiGHS' message —
    the solution (or None) and the objective."""
    options = options or {}
    if _core is None:  # pragma: no cover - depends on the SciPy build
        result = milp(
            cost,
            integrality=None if integral is None else integral.astype(float),
            bounds=Bounds(*col_bounds),
            constraints=[LinearConstraint(matrix, *row_bounds)] if matrix.shape[0] else None,
            options=options,
        )
        status = {0: "optimal", 1: "stopped", 2: "infeasible", 3: "unbounded"}
        fun = np.nan if result.fun is None else float(result.fun)
        return status.get(result.status, str(result.message)), result.x, fun
    lp = _highs_lp(cost, matrix, row_bounds, col_bounds)
    if integral is not None:
        lp.integrality_ = [
            _core.HighsVarType.kInteger if whole else _core.HighsVarType.kContinuous
            for whole in integral
        ]
    solver = _core._Highs()
    solver.setOptionValue("output_flag", False)
    for key, value in options.items():
        solver.setOptionValue(key, value)
    if solver.passModel(lp) == _core.HighsStatus.kError:
        return "HiGHS refused the model", None, np.nan
    solver.run()
    status = solver.getModelStatus()
    info = solver.getInfo()
    feasible = info.primal_solution_status == _core.kSolutionStatusFeasible
    x = np.array(solver.getSolution().col_value) if feasible else None
    if status == _core.HighsModelStatus.kOptimal:
        return "optimal", x, float(info.objective_function_value)
    if status == _core.HighsModelStatus.kInfeasible:
        return "infeasible", None, np.nan
    if status in (_core.HighsModelStatus.kUnbounded, _core.HighsModelStatus.kUnboundedOrInfeasible):
        return "unbounded", None, np.nan
    if status in (_core.HighsModelStatus.kTimeLimit, _core.HighsModelStatus.kIterationLimit):
        return "stopped", x, np.nan
    return str(solver.modelStatusToString(status)), None, np.nan


def solve_lp(
    objective: FloatArray, a_eq: sparse.csr_matrix, b_eq: FloatArray, highs_: FloatArray
) -> tuple[str, float]:
    """``min objective · x`` over ``{0 ≤ x ≤ highs_ : a_eq x = b_eq}``: the status of
    :func:`highs` and the optimum."""
    status, _, optimum = highs(objective, a_eq, (b_eq, b_eq), (np.zeros_like(highs_), highs_))
    return status, optimum


class _Block:
    """One component's LP kept in a HiGHS instance, re-solved per cell and direction from
    the previous basis (only the objective changes). Uses the HiGHS bindings that SciPy
    ships (``scipy.optimize._highspy``); without them, each LP is solved afresh."""

    def __init__(self, a_eq: sparse.csr_matrix, b_eq: FloatArray, highs: FloatArray) -> None:
        self.a_eq, self.b_eq, self.highs = a_eq, b_eq, highs
        self.solver: Any = None
        self.costed: int | None = None
        if _core is None or a_eq.shape[0] == 0:
            return
        zeros = np.zeros(a_eq.shape[1])
        lp = _highs_lp(zeros, a_eq, (b_eq, b_eq), (zeros, highs))
        solver = _core._Highs()
        solver.setOptionValue("output_flag", False)
        if solver.passModel(lp) == _core.HighsStatus.kOk:
            self.solver = solver

    def optimum(self, position: int, sign: float) -> tuple[str, float]:
        """``min sign · x[position]``: status and optimum, as :func:`solve_lp`."""
        if self.solver is None:
            objective = np.zeros(self.a_eq.shape[1])
            objective[position] = sign
            return solve_lp(objective, self.a_eq, self.b_eq, self.highs)
        if self.costed is not None and self.costed != position:
            self.solver.changeColCost(self.costed, 0.0)
        self.solver.changeColCost(position, sign)
        self.costed = position
        self.solver.run()
        status = self.solver.getModelStatus()
        if status == _core.HighsModelStatus.kOptimal:
            return "optimal", float(self.solver.getInfo().objective_function_value)
        if status in (
            _core.HighsModelStatus.kUnbounded,
            _core.HighsModelStatus.kUnboundedOrInfeasible,  # the truth is feasible
        ):
            return "unbounded", np.nan
        return self.solver.modelStatusToString(status), np.nan


def components(equations: sparse.csr_matrix, hidden: IntArray) -> list[IntArray]:
    """The ``hidden`` cells grouped into blocks no equation links to each other."""
    if hidden.size == 0:
        return []
    linked = sparse.csc_matrix(equations)[:, hidden]
    linked.data = np.ones_like(linked.data)
    count, labels = connected_components(linked.T @ linked, directed=False)
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return [hidden[block] for block in np.split(order, cuts)] if count else []


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
    equations = sparse.csr_matrix(table.equations)
    rhs = -(equations[:, ~suppressed] @ values[~suppressed])
    by_column = sparse.csc_matrix(equations)
    wanted = None if only is None else {int(i) for i in only}
    intervals: dict[int, Interval] = {}
    for block in components(equations, hidden):
        if wanted is not None and not wanted.intersection(block.tolist()):
            continue
        a_block = by_column[:, block]
        rows = np.unique(a_block.indices)
        a_eq = sparse.csr_matrix(a_block[rows])
        highs = np.full(block.size, np.inf) if upper_bounds is None else upper_bounds[block]
        # in units of the block's largest value: HiGHS' tolerances are absolute
        scale = max(1.0, float(np.abs(rhs[rows]).max(initial=0.0)), float(values[block].max()))
        solver = _Block(a_eq, rhs[rows] / scale, highs / scale)
        for position, cell in enumerate(block.tolist()):
            if wanted is not None and cell not in wanted:
                continue
            ends = []
            for sign in (1.0, -1.0):
                status, optimum = solver.optimum(position, sign)
                if status not in ("optimal", "unbounded"):  # once more, from scratch
                    objective = np.zeros(block.size)
                    objective[position] = sign
                    status, optimum = solve_lp(objective, a_eq, rhs[rows] / scale, highs / scale)
                optimum *= scale
                if status == "unbounded":  # only the maximum can be
                    ends.append(float("inf"))
                elif status != "optimal":
                    raise ComputationError(
                        f"audit LP for cell {table.cells[cell].key} failed: {status}",
                        step="audit",
                    )
                else:
                    ends.append(sign * optimum)
            intervals[cell] = Interval(max(ends[0], 0.0), ends[1])
    return intervals
