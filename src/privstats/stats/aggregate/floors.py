"""Floors on quantiles and OLS models: which would single out a record, and why.

Quantiles (:func:`quantile_refusals`): the q-quantile of ``N`` values (inverted CDF) is
the ``k``-th smallest, ``k = ⌈q·N⌉``; at most ``k − 1`` values lie below it and at most
``N − k`` above. A level is refused unless both reach the minimum cell size, so neither
the minimum, the maximum nor a value close to them is printed; and a cell releases no two
levels closer than ``min_cell/N`` (kept in ascending order), so that 25 levels of a
25-record cell cannot list every value. ``min_cell = 1`` asks for no rule: no floor.
Decided from the pooled count alone: nothing more is opened. With weights the floor is on
records, not on Σw (the search runs on Σw).

OLS (:func:`ols_refusal`), after DataSHIELD's ``nfilter.glm`` and ``nfilter.tab``: at
least ``min_cell`` complete records per parameter (no saturated model); every level of a
regressor with few distinct values held by at least ``min_cell`` records (a flag that is 1
for one record would give her value as Intercept + flag) — the level test is made
securely by the protocol, here only its outcome is read; and the model's complete-case
count differs from every released count by 0 or at least ``min_cell`` (a model on
``N − 1`` records beside a sum over ``N`` gives the missing record's value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction

from privstats.stats.aggregate.plan import Plan
from privstats.stats.aggregate.records import Records

__all__ = ["MAX_LEVELS", "local_levels", "ols_refusal", "quantile_refusals"]

MAX_LEVELS = 10
"""A regressor with at most this many distinct values at every party is categorical: each
of its levels must hold ``min_cell`` records."""


def quantile_refusals(count: int, levels: Sequence[Fraction], min_cell: int) -> dict[Fraction, str]:
    """The levels of a cell with ``count`` records that are not released, and why
    (none when ``min_cell`` is 1: no rule was asked for)."""
    refused: dict[Fraction, str] = {}
    if min_cell <= 1:
        return refused
    kept: list[Fraction] = []
    for q in sorted(set(levels)):
        rank = -((-q.numerator * count) // q.denominator)  # ⌈q·N⌉
        below, above = rank - 1, count - rank
        if below < min_cell or above < min_cell:
            side = "below" if below < min_cell else "above"
            refused[q] = (
                f"fewer than {min_cell} records {side} the quantile at {float(q):g} "
                f"(of {count}): it would show a value at the edge of the data"
            )
            continue
        if kept and (q - kept[-1]) * count < min_cell:
            refused[q] = (
                f"closer than {min_cell}/{count} to the level {float(kept[-1]):g} released "
                "for this cell: neighbouring levels would list single values"
            )
            continue
        kept.append(q)
    return refused


def ols_refusal(
    count: int,
    parameters: int,
    min_cell: int,
    released_counts: Iterable[int],
    small_levels: Sequence[str] = (),
) -> str | None:
    """Why the model on ``count`` complete records is not released, or None.

    ``released_counts`` are the counts the release (or its groups' statistics) discloses;
    ``small_levels`` the regressor levels the protocol found below ``min_cell`` records.
    With ``min_cell`` 1 (no rule asked for) only an empty model is refused.
    """
    if count < min_cell:
        return f"fewer than {min_cell} complete records ({count})"
    if min_cell <= 1:
        return None
    if count < min_cell * parameters:
        return (
            f"{count} complete records for {parameters} parameters: fewer than {min_cell} "
            "per parameter (a saturated model reproduces single records)"
        )
    if small_levels:
        return (
            f"regressor level(s) {', '.join(small_levels)} held by fewer than {min_cell} "
            "records: the coefficient would give their values"
        )
    for released in sorted(set(released_counts)):
        if 0 < abs(count - released) < min_cell:
            return (
                f"the model's {count} complete records differ from a released count of "
                f"{released} by fewer than {min_cell}: the difference would single out records"
            )
    return None


def local_levels(records: Records, plan: Plan) -> dict[str, dict[str, int] | None]:
    """Per OLS regressor, this party's count of complete records per distinct value (as
    the fixed-point code's text), or None when it has more than :data:`MAX_LEVELS`."""
    if plan.formula is None or plan.ols is None:
        return {}
    rows = records.present(plan.ols.columns).nonzero()[0]
    levels: dict[str, dict[str, int] | None] = {}
    for term in plan.formula.terms:
        found = Counter(str(int(v)) for v in records.exact(term, rows))
        levels[term] = dict(sorted(found.items())) if len(found) <= MAX_LEVELS else None
    return levels
