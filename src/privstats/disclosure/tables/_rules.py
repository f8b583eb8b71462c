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

The zero / full-cell rule (all contributors of a cell share one category of another
variable) is not implemented: it needs that other variable, which a table does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from privstats.disclosure.tables._table import Cell
from privstats.errors import ParameterError

__all__ = ["DominanceRule", "FrequencyRule", "PPercentRule", "Rule", "Verdict", "parse_rule"]


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


_SPEC = re.compile(r"^(freq|nk|p):(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?$")


def parse_rule(spec: str | Rule) -> Rule:
    """A rule from its short name: ``"freq:3"``, ``"nk:1,80"``, ``"p:10"``."""
    if not isinstance(spec, str):
        return spec
    match = _SPEC.match(spec.strip())
    if not match:
        raise ParameterError(
            f"unknown rule {spec!r}; use 'freq:3', 'nk:1,80' or 'p:10'", parameter="rules"
        )
    kind, first, second = match.groups()
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
