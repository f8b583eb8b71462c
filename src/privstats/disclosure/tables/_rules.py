"""Primary sensitivity rules for table cells, each with the protection levels it implies.

The definitions are the textbook ones (Hundepool et al., *Statistical Disclosure Control*,
Wiley 2012, §4.2–4.3; the τ-Argus 4.2 manual, §4.2 "Sensitive cells"):

* ``freq:m`` — minimum frequency: a cell with 1 … m−1 contributors is sensitive. Empty
  cells are ``"empty"``, not sensitive, unless ``protect_empty``.
* ``nk:n,k`` — (n, k) dominance: sensitive when the n largest contributions exceed k % of
  the cell total, ``x1 + … + xn > k/100 · X``.
* ``p:p`` — p % rule: sensitive when the total minus the two largest contributions is less
  than p % of the largest, ``X − x1 − x2 < p/100 · x1``: the second largest contributor,
  subtracting its own contribution, would estimate the largest to within p %.

Protection levels (how far the published table must leave the cell free to move, upwards
and downwards) are those τ-Argus derives from each rule (manual §4.2.4; Hundepool §4.2.3):

* (n, k): ``100/k · (x1 + … + xn) − X`` — the amount the total would have to grow for the
  rule to hold; used for both directions.
* p %: ``p/100 · x1 − (X − x1 − x2)`` — how much closer than p % the second largest can
  get; used for both directions.
* frequency: ``max(margin · X, minimum_width)`` with ``margin`` = 10 % and a minimum of
  1 unit (one contributor in a frequency table), our choice: a rare cell must not be pinned
  to closer than ± 10 % of its value, and never to a single value.

Two rules protect zeros, whose disclosure is of a group rather than of one contributor:

* ``zero`` (``zero:W``) — every empty cell is sensitive: "nobody in Islands is in M" is
  not to be published (sdcTable's ``allowZeros``/GaussSuppression's ``protectZeros``,
  τ-Argus's "zero unsafe"). Level: the cell must be able to reach ``W`` (default 1: one
  contributor in a frequency table, one unit of the magnitude otherwise); it cannot go
  below 0, so the lower level is 0.
* ``full`` (``full:W``) — the full-cell rule (group disclosure): when a cell holds every
  contributor of its parent along a dimension (all of Islands is in M), one empty sibling
  (Islands × C) is sensitive, with the same levels as ``zero``: an attacker must not be
  able to rule out that one contributor of the group is elsewhere. Which cells qualify
  depends on the whole table; :mod:`._group` finds them when the table is built and the
  rule reads the result from :attr:`Cell.reveals`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from privstats.disclosure.tables._table import Cell
from privstats.errors import ParameterError

__all__ = [
    "DominanceRule",
    "FrequencyRule",
    "FullCellRule",
    "PPercentRule",
    "Rule",
    "Verdict",
    "ZeroRule",
    "parse_rule",
]


@dataclass(frozen=True)
class Verdict:
    """A rule a cell fails: which, why, and the protection it then needs."""

    rule: str
    reason: str
    upper: float
    """How far above its value the cell must be able to move."""
    lower: float
    """How far below its value the cell must be able to move (capped at the value)."""


class Rule(Protocol):
    """A primary rule: the verdict for a cell it finds sensitive, else None."""

    @property
    def name(self) -> str:
        """The rule's short name, as in ``"p:10"``."""
        ...

    @property
    def contributions_needed(self) -> int:
        """How many of a cell's largest contributions the rule reads."""
        ...

    def check(self, cell: Cell) -> Verdict | None:
        """The verdict when ``cell`` is sensitive under this rule, else None."""
        ...


@dataclass(frozen=True)
class FrequencyRule:
    """Minimum frequency: fewer than ``minimum`` contributors (Hundepool §4.2.1)."""

    minimum: int = 3
    protect_empty: bool = False
    margin: float = 0.10
    minimum_width: float = 1.0

    def __post_init__(self) -> None:
        if self.minimum < 1:
            raise ParameterError(
                f"freq: minimum must be ≥ 1, got {self.minimum}", parameter="rules"
            )
        if not 0 <= self.margin < 1 or self.minimum_width < 0:
            raise ParameterError("freq: margin must be in [0, 1), width ≥ 0", parameter="rules")

    @property
    def name(self) -> str:
        return f"freq:{self.minimum}"

    @property
    def contributions_needed(self) -> int:
        return 0

    def check(self, cell: Cell) -> Verdict | None:
        if cell.count >= self.minimum or (cell.count == 0 and not self.protect_empty):
            return None
        level = max(self.margin * cell.value, self.minimum_width)
        reason = f"{cell.count} contributor(s), fewer than {self.minimum}"
        return Verdict(self.name, reason, level, min(level, cell.value))


@dataclass(frozen=True)
class DominanceRule:
    """(n, k) dominance: the ``n`` largest hold more than ``k`` % (Hundepool §4.2.2)."""

    n: int = 1
    k: float = 80.0

    def __post_init__(self) -> None:
        if self.n < 1 or not 0 < self.k <= 100:
            raise ParameterError(
                f"nk: need n ≥ 1, 0 < k ≤ 100, got {self.n},{self.k:g}", parameter="rules"
            )

    @property
    def name(self) -> str:
        return f"nk:{self.n},{self.k:g}"

    @property
    def contributions_needed(self) -> int:
        return self.n

    def check(self, cell: Cell) -> Verdict | None:
        dominant = sum(cell.top[: self.n])
        if cell.count == 0 or dominant <= self.k / 100 * cell.value:
            return None
        level = 100 / self.k * dominant - cell.value
        reason = f"the {self.n} largest hold {100 * dominant / cell.value:.1f} % > {self.k:g} %"
        return Verdict(self.name, reason, level, min(level, cell.value))


@dataclass(frozen=True)
class PPercentRule:
    """p % rule: ``X − x1 − x2 < p/100 · x1`` (Hundepool §4.2.2, τ-Argus §4.2.2)."""

    p: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.p <= 100:
            raise ParameterError(f"p: need 0 < p ≤ 100, got {self.p:g}", parameter="rules")

    @property
    def name(self) -> str:
        return f"p:{self.p:g}"

    @property
    def contributions_needed(self) -> int:
        return 2

    def check(self, cell: Cell) -> Verdict | None:
        if cell.count == 0:
            return None
        largest = cell.top[0]
        second = cell.top[1] if len(cell.top) > 1 else 0.0
        remainder = cell.value - largest - second
        if remainder >= self.p / 100 * largest:
            return None
        level = self.p / 100 * largest - remainder
        reason = f"the rest ({remainder:g}) is under {self.p:g} % of the largest ({largest:g})"
        return Verdict(self.name, reason, level, min(level, cell.value))


def _width(kind: str, width: float) -> None:
    """A zero or full-cell level must be a positive amount."""
    if not width > 0 or width == float("inf"):
        raise ParameterError(f"{kind}: the width must be > 0, got {width:g}", parameter="rules")


@dataclass(frozen=True)
class ZeroRule:
    """Every empty cell is sensitive; it must be able to reach ``width`` (see module doc)."""

    width: float = 1.0

    def __post_init__(self) -> None:
        _width("zero", self.width)

    @property
    def name(self) -> str:
        return "zero" if self.width == 1 else f"zero:{self.width:g}"

    @property
    def contributions_needed(self) -> int:
        return 0

    def check(self, cell: Cell) -> Verdict | None:
        if cell.count:
            return None
        return Verdict(
            self.name, "no contributor: a published 0 says nobody is here", self.width, 0.0
        )


@dataclass(frozen=True)
class FullCellRule:
    """Group disclosure: the empty cell that would show a full cell (see module doc)."""

    width: float = 1.0

    def __post_init__(self) -> None:
        _width("full", self.width)

    @property
    def name(self) -> str:
        return "full" if self.width == 1 else f"full:{self.width:g}"

    @property
    def contributions_needed(self) -> int:
        return 0

    def check(self, cell: Cell) -> Verdict | None:
        if cell.count or not cell.reveals:
            return None
        more = f" (and {len(cell.reveals) - 1} more)" if len(cell.reveals) > 1 else ""
        reason = f"a published 0 here would show that {cell.reveals[0]}{more}"
        return Verdict(self.name, reason, self.width, 0.0)


_NUMBER = r"(\d+(?:\.\d+)?)"
_SPEC = re.compile(rf"^(freq|nk|p|zero|full)(?::{_NUMBER}(?:,{_NUMBER})?)?$")


def parse_rule(spec: str | Rule) -> Rule:
    """A rule from its short name: ``"freq:3"``, ``"nk:1,80"``, ``"p:10"``, ``"zero"``,
    ``"full"`` (the last two optionally with a width, ``"zero:5"``)."""
    if not isinstance(spec, str):
        return spec
    match = _SPEC.match(spec.strip())
    if not match:
        raise ParameterError(
            f"unknown rule {spec!r}; use 'freq:3', 'nk:1,80', 'p:10', 'zero' or 'full'",
            parameter="rules",
        )
    kind, first, second = match.groups()
    if kind in ("zero", "full"):
        if second is not None:
            raise ParameterError(f"{spec!r}: {kind} takes at most one number", parameter="rules")
        width = 1.0 if first is None else float(first)
        return ZeroRule(width) if kind == "zero" else FullCellRule(width)
    if first is None:
        raise ParameterError(f"{spec!r}: give its number, e.g. {kind}:3", parameter="rules")
    if kind == "nk":
        if second is None or "." in first:
            raise ParameterError(f"{spec!r}: write nk:n,k (e.g. nk:1,80)", parameter="rules")
        return DominanceRule(int(first), float(second))
    if second is not None:
        raise ParameterError(f"{spec!r}: {kind} takes one number", parameter="rules")
    if kind == "freq":
        if "." in first:
            raise ParameterError(f"{spec!r}: the minimum is a whole number", parameter="rules")
        return FrequencyRule(int(first))
    return PPercentRule(float(first))
