"""Dominance and p % rules on a cell whose contributions are split across parties.

The (n, k) rule fails when the ``n`` largest contributions hold more than ``k`` % of the
cell's total; the p % rule when ``X − x1 − x2 < p/100 · x1``. With the records spread over
parties, the ``n`` largest of the union are the largest ``a_i`` of each party ``i`` for
some *allocation* ``a`` (``Σ a_i = n``), and the rule fails iff for some allocation a sum
of per-party integers is positive:

* (n, k), ``k = u/v``: ``d_i = 100·v·top(a_i, i) − u·T_i``, since the union's top-n sum
  is the largest over allocations of ``Σ_i top(a_i, i)``;
* p %, ``p = u/v``: fails iff ``(u + 100v)·x1 + 100v·x2 − 100v·X > 0``; the largest value
  of ``(u + 100v)·a + 100v·b`` over ordered pairs of distinct records ``(a, b)`` is at
  ``a = x1, b = x2``, so the allocations are the ordered pairs of parties ``(i, j)``
  (``i = j``: both records at party ``i``, its two largest).

``top(m, i)`` is the sum of party ``i``'s ``m`` largest contributions (fewer records: all
of them; contributions are ≥ 0, so a short allocation never exceeds the true maximum).
Contributions are the records' absolute values as fixed-point codes (exact integers),
one record being one contributor; weights play no part. This module is local: it makes
one party's integers; ``privstats.protocols.aggregate_sign`` adds them and opens only
whether any allocation's sum is positive.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from privstats.disclosure.tables import DominanceRule, PPercentRule, Rule, parse_rule
from privstats.stats.aggregate.plan import Plan
from privstats.stats.aggregate.records import Records

__all__ = [
    "CellContributions",
    "MagnitudeRule",
    "allocations",
    "local_contributions",
    "magnitude_columns",
    "magnitude_rules",
    "merge_contributions",
    "party_terms",
    "rule_fails",
]

MagnitudeRule = DominanceRule | PPercentRule
CellContributions = tuple[tuple[int, ...], int]
"""A party's largest contributions to a cell (largest first) and its cell total."""


def magnitude_rules(rules: Sequence[str | Rule]) -> list[MagnitudeRule]:
    """The dominance and p % rules among ``rules`` (frequency rules are read elsewhere)."""
    parsed = [parse_rule(rule) for rule in rules]
    return [rule for rule in parsed if isinstance(rule, DominanceRule | PPercentRule)]


def allocations(rule: MagnitudeRule, parties: int) -> list[tuple[int, ...]]:
    """The allocations of a rule's largest contributions to ``parties`` parties, in a
    fixed order: compositions of ``n`` for (n, k); ordered pairs ``(i, j)`` for p %."""
    if isinstance(rule, PPercentRule):
        return list(itertools.product(range(parties), repeat=2))
    return [
        combo
        for combo in itertools.product(range(rule.n + 1), repeat=parties)
        if sum(combo) == rule.n
    ]


def _ratio(value: float) -> Fraction:
    """The rule's parameter as an exact rational (the float's exact value)."""
    return Fraction(value)


def party_terms(
    rule: MagnitudeRule, parties: int, me: int, top: Sequence[int], total: int
) -> list[int]:
    """Party ``me``'s integer per allocation; the rule fails iff some allocation's sum
    over parties is positive. ``top`` is its largest contributions (largest first, at
    least as many as the rule reads where it has them), ``total`` its cell total."""
    top = sorted(top, reverse=True)
    if isinstance(rule, DominanceRule):
        k = _ratio(rule.k)
        return [
            100 * k.denominator * sum(top[: alloc[me]]) - k.numerator * total
            for alloc in allocations(rule, parties)
        ]
    p = _ratio(rule.p)
    first_weight = p.numerator + 100 * p.denominator
    other_weight = 100 * p.denominator
    first = top[0] if top else 0
    second = top[1] if len(top) > 1 else 0
    terms = []
    for i, j in allocations(rule, parties):
        term = -other_weight * total
        if i == me and j == me:
            term += first_weight * first + other_weight * second
        elif i == me:
            term += first_weight * first
        elif j == me:
            term += other_weight * first
        terms.append(term)
    return terms


def rule_fails(rule: MagnitudeRule, contributions: Sequence[int]) -> bool:
    """The rule on the pooled contributions in exact arithmetic (the plaintext reference)."""
    ordered = sorted((abs(c) for c in contributions), reverse=True)
    total = sum(ordered)
    if isinstance(rule, DominanceRule):
        return Fraction(sum(ordered[: rule.n])) > _ratio(rule.k) / 100 * total
    first = ordered[0] if ordered else 0
    second = ordered[1] if len(ordered) > 1 else 0
    return Fraction(total - first - second) < _ratio(rule.p) / 100 * first


def magnitude_columns(plan: Plan) -> tuple[str, ...]:
    """The columns whose sums (Σx) a release opens: the rules are checked on these."""
    return tuple(sorted({m[0] for block in plan.blocks for m in block.monomials if len(m) == 1}))


def local_contributions(
    records: Records, codes: npt.NDArray[np.intp], groups: int, column: str, top: int
) -> list[CellContributions]:
    """Per group, this party's ``top`` largest |x| codes of ``column`` and their total."""
    rows = np.flatnonzero(records.present((column,)))
    values = [abs(int(v)) for v in records.exact(column, rows)]
    per_group: list[list[int]] = [[] for _ in range(groups)]
    for code, value in zip(codes[rows].tolist(), values, strict=True):
        per_group[code].append(value)
    return [(tuple(heapq.nlargest(top, found)), sum(found)) for found in per_group]


def merge_contributions(parts: Sequence[CellContributions], top: int) -> CellContributions:
    """A margin's contributions from its cells': the largest of all, the summed total."""
    merged = heapq.nlargest(top, (v for largest, _ in parts for v in largest))
    return tuple(merged), sum(total for _, total in parts)
