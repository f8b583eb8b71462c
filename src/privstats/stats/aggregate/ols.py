"""OLS (or WLS) from pooled sums: exact normal equations, standard errors, R².

:func:`ols_figures` solves XᵀX·β = Xᵀy in exact rationals from the pooled sums of the
plan's OLS block, and refuses a (numerically) collinear term by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from privstats.errors import ParameterError
from privstats.stats.aggregate.figures import moments
from privstats.stats.aggregate.plan import Formula, Plan

__all__ = ["COLLINEAR", "ols_figures"]

COLLINEAR = Fraction(1, 10**12)
"""A term whose residual sum of squares on the earlier terms is below this share of its
sum of squares is reported as collinear: the encoding can turn an exact linear dependence
into a meaningless near-fit."""


def ols_figures(plan: Plan, count: int, sums: Sequence[int]) -> dict[str, Any]:
    """Coefficients, classical standard errors, R² and n of the plan's OLS (or WLS) model.

    Solves XᵀX·β = Xᵀy exactly; σ² = RSS/(n − p), se = √diag(σ²·(XᵀX)⁻¹) and
    R² = 1 − RSS/TSS (TSS about the mean of y). A term that is (numerically) a linear
    combination of the intercept and earlier terms is a ParameterError naming it.
    """
    if plan.formula is None or plan.ols is None:
        raise ParameterError("the plan has no OLS formula", parameter="ols")
    formula = plan.formula
    m = moments(plan, plan.ols, count, sums)
    z: list[str | None] = [None, *formula.terms]

    def entry(a: str | None, b: str | None) -> Fraction:
        return m[tuple(sorted(c for c in (a, b) if c is not None))]

    xtx = [[entry(a, b) for b in z] for a in z]
    xty = [entry(a, formula.response) for a in z]
    beta, inverse_diagonal = _solve(xtx, xty, formula)
    n_eff = m[()]
    yy = entry(formula.response, formula.response)
    rss = yy - sum((b * v for b, v in zip(beta, xty, strict=True)), Fraction(0))
    tss = yy - entry(None, formula.response) ** 2 / n_eff
    df = count - len(z)
    sigma2 = rss / df if df > 0 else None
    return {
        "formula": formula.text,
        "coef": {name: float(b) for name, b in zip(formula.names, beta, strict=True)},
        "se": {
            name: None if sigma2 is None else math.sqrt(float(sigma2 * d))
            for name, d in zip(formula.names, inverse_diagonal, strict=True)
        },
        "r2": float(1 - rss / tss) if tss > 0 else None,
        "n": count,
    }


def _solve(
    a: list[list[Fraction]], b: list[Fraction], formula: Formula
) -> tuple[list[Fraction], list[Fraction]]:
    """β with A·β = b and the diagonal of A⁻¹, by exact Gauss–Jordan on a symmetric PSD A.

    Pivots stay on the diagonal: for a positive semi-definite matrix a zero (here: tiny)
    pivot means that column is a combination of the earlier ones.
    """
    p = len(a)
    rows = [[*a[i], b[i], *(Fraction(int(i == j)) for j in range(p))] for i in range(p)]
    collinear = []
    for k in range(p):
        pivot = rows[k][k]
        if pivot <= COLLINEAR * a[k][k] or pivot == 0:
            collinear.append(formula.names[k])
            continue
        rows[k] = [v / pivot for v in rows[k]]
        for i in range(p):
            if i != k and rows[i][k] != 0:
                factor = rows[i][k]
                rows[i] = [v - factor * w for v, w in zip(rows[i], rows[k], strict=True)]
    if collinear:
        which = ", ".join(repr(name) for name in collinear)
        one = len(collinear) == 1
        raise ParameterError(
            f"OLS formula {formula.text!r}: {which} {'is' if one else 'are'} a linear "
            "combination of the intercept and the terms before (XᵀX is singular); drop "
            f"{'it' if one else 'them'} from the formula",
            parameter="ols",
        )
    return [rows[i][p] for i in range(p)], [rows[i][p + 1 + i] for i in range(p)]
