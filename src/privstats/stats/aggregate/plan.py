"""What an aggregate computes: the statistics and OLS formula parsed, and the sums laid out.

:func:`parse_stat` reads ``count``, ``sum:COL``, ``mean:COL``, ``var:COL``, ``sd:COL``,
``median:COL``, ``quantile:COL:Q``, ``cov:C1,C2[,…]`` and ``corr:C1,C2[,…]``;
:func:`parse_formula` reads ``"y ~ x1 + x2"`` (main effects only, intercept always in).
:func:`make_plan` turns them into a :class:`Plan`: the blocks of sums each statistic
needs (Σx, Σx², Σxy over complete cases, times the weight when weighted), the OLS
block, the quantiles to search and the fixed-point scale. Parsing only; no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from privstats.data.fixed_point import FixedPoint
from privstats.errors import ParameterError

__all__ = [
    "INTERCEPT",
    "STAT_KINDS",
    "Block",
    "Formula",
    "Monomial",
    "Plan",
    "Stat",
    "make_plan",
    "parse_formula",
    "parse_stat",
]

STAT_KINDS = ("count", "sum", "mean", "var", "sd", "median", "quantile", "cov", "corr")
INTERCEPT = "Intercept"
_FORMULA_OPERATORS = "*:()^|"

Monomial = tuple[str, ...]
"""A product of columns (sorted or in block order); ``()`` is the constant 1."""


@dataclass(frozen=True)
class Stat:
    """One requested statistic; ``name`` is its key in the result."""

    name: str
    kind: str
    columns: tuple[str, ...] = ()
    q: Fraction | None = None


def parse_stat(text: str) -> Stat:
    """``count``, ``sum:COL``, …, ``quantile:COL:Q``, ``cov:C1,C2`` as a :class:`Stat`."""
    if not isinstance(text, str):
        raise TypeError(f"a statistic is a string such as 'mean:income', not {text!r}")
    kind, sep, rest = (part.strip() for part in text.strip().partition(":"))
    kind = kind.lower()
    usage = (
        "count, sum:COL, mean:COL, var:COL, sd:COL, median:COL, quantile:COL:Q, cov:A,B, corr:A,B"
    )
    if kind not in STAT_KINDS:
        raise ParameterError(f"unknown statistic {text!r}; use one of {usage}", parameter="stats")
    if kind == "count":
        if sep:
            raise ParameterError(f"'count' takes no column, got {text!r}", parameter="stats")
        return Stat("count", "count")
    if not rest:
        raise ParameterError(
            f"statistic {text!r} needs a column, e.g. '{kind}:income'", parameter="stats"
        )
    if kind in ("cov", "corr"):
        columns = tuple(c.strip() for c in rest.split(","))
        if len(columns) < 2 or not all(columns) or len(set(columns)) != len(columns):
            raise ParameterError(
                f"statistic {text!r} needs two or more distinct columns, e.g. '{kind}:age,income'",
                parameter="stats",
            )
        return Stat(f"{kind}:{','.join(columns)}", kind, columns)
    if kind == "quantile":
        column, sep, q_text = (part.strip() for part in rest.rpartition(":"))
        if not sep or not column:
            raise ParameterError(
                f"statistic {text!r} needs a column and a probability, e.g. 'quantile:income:0.9'",
                parameter="stats",
            )
        return Stat(f"quantile:{column}:{q_text}", kind, (column,), _probability(text, q_text))
    if kind == "median":
        return Stat(f"median:{rest}", kind, (rest,), Fraction(1, 2))
    return Stat(f"{kind}:{rest}", kind, (rest,))


def _probability(text: str, q_text: str) -> Fraction:
    try:
        q = Fraction(q_text)
    except (ValueError, ZeroDivisionError):
        q = None
    if q is None or not 0 < q < 1:
        raise ParameterError(
            f"statistic {text!r}: the probability must be a number strictly between 0 and 1, "
            f"not {q_text!r}",
            parameter="stats",
        )
    return q


@dataclass(frozen=True)
class Formula:
    """An OLS model ``response ~ term + term``; the intercept is always included."""

    response: str
    terms: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.response} ~ {' + '.join(self.terms) or '1'}"

    @property
    def names(self) -> tuple[str, ...]:
        """The coefficients' names: the intercept, then the terms."""
        return (INTERCEPT, *self.terms)


def parse_formula(text: str) -> Formula:
    """Parse ``"y ~ x1 + x2"`` (main effects of columns only; ``1`` may stand for none)."""
    if not isinstance(text, str):
        raise TypeError(f"an OLS formula is a string such as 'y ~ x1 + x2', not {text!r}")

    def bad(why: str) -> ParameterError:
        return ParameterError(
            f"OLS formula {text!r}: {why}; write it as 'y ~ x1 + x2'", parameter="ols"
        )

    if text.count("~") != 1:
        raise bad("it needs exactly one '~' between the response and the terms")
    left, right = text.split("~")
    response = left.strip()
    terms = [term.strip() for term in right.split("+")]
    if not response or "+" in response:
        raise bad("the left of '~' must be one column")
    if any(not term for term in terms):
        raise bad("a term is empty")
    terms = [term for term in terms if term != "1"]
    if any(term == "0" for term in terms):
        raise bad("the intercept is always included, it cannot be removed")
    operators = sorted(
        {ch for term in (response, *terms) for ch in term if ch in _FORMULA_OPERATORS}
    )
    if operators:
        raise bad(
            f"{' '.join(repr(op) for op in operators)} is not supported (only main effects); "
            "compute interactions or transformations as columns first"
        )
    if len(set(terms)) != len(terms):
        raise bad("a term is repeated")
    if response in terms:
        raise bad(f"the response {response!r} is also a term")
    return Formula(response, tuple(terms))


@dataclass(frozen=True)
class Block:
    """Sums over the records whose ``columns`` are all present (complete cases).

    Each monomial is a product of columns summed over those records, times the weight
    when the plan is weighted; the empty monomial is Σw. Unweighted, the record count
    takes its place and is not a monomial: counts are opened separately.
    """

    name: str
    columns: tuple[str, ...]
    monomials: tuple[Monomial, ...]


@dataclass(frozen=True)
class Plan:
    """What to compute: statistics, weight, OLS formula, fixed-point scale, and the sums."""

    stats: tuple[Stat, ...]
    weight: str | None
    formula: Formula | None
    fixed: FixedPoint
    blocks: tuple[Block, ...]
    """Per-group blocks; ``blocks[0]`` covers all records (the group count)."""
    ols: Block | None
    quantiles: tuple[tuple[str, Fraction], ...]
    """Distinct (column, probability) pairs of the quantile and median statistics."""

    @property
    def weighted(self) -> bool:
        return self.weight is not None

    @property
    def value_columns(self) -> tuple[str, ...]:
        """Every numeric column read: statistics' columns, the weight, the formula's."""
        names = [c for stat in self.stats for c in stat.columns]
        if self.weight is not None:
            names.append(self.weight)
        if self.formula is not None:
            names.extend((self.formula.response, *self.formula.terms))
        return tuple(dict.fromkeys(names))

    def block_index(self, name: str) -> int:
        return next(i for i, block in enumerate(self.blocks) if block.name == name)

    def degree(self, monomial: Monomial) -> int:
        """How many encoded factors (columns and weight) a monomial's sum has."""
        return len(monomial) + (1 if self.weighted else 0)

    def describe(self, monomial: Monomial) -> str:
        factors = ([self.weight] if self.weight is not None else []) + list(monomial)
        return "Σ " + "·".join(f"'{f}'" for f in factors)


def _pairs(columns: Sequence[str | None]) -> list[Monomial]:
    """The products of every pair a ≤ b of ``columns`` (None is the constant 1)."""
    return [
        tuple(c for c in (a, b) if c is not None)
        for i, a in enumerate(columns)
        for b in columns[i:]
    ]


def make_plan(
    stats: Sequence[str],
    *,
    weight: str | None = None,
    formula: str | None = None,
    frac_bits: int = 32,
) -> Plan:
    """Parse the statistics and formula and lay out the sums they need."""
    parsed = tuple({stat.name: stat for stat in map(parse_stat, stats)}.values())
    base: tuple[Monomial, ...] = ((),) if weight is not None else ()
    blocks = {"records": Block("records", (), base)}
    degree: dict[str, int] = {}  # per column, the highest power its statistics need
    for stat in parsed:
        if stat.kind in ("cov", "corr"):
            name = "set:" + ",".join(stat.columns)
            pairs = [m for m in _pairs([None, *stat.columns]) if m]
            blocks.setdefault(name, Block(name, stat.columns, base + tuple(pairs)))
        elif stat.kind != "count":
            (column,) = stat.columns
            need = {"sum": 1, "mean": 1, "var": 2, "sd": 2}.get(stat.kind, 0)
            degree[column] = max(degree.get(column, 0), need)
            blocks.setdefault(f"column:{column}", Block(f"column:{column}", (column,), ()))
    for column, power in degree.items():
        powers = tuple((column,) * k for k in range(1, power + 1))  # Σx, Σx² as needed
        blocks[f"column:{column}"] = Block(f"column:{column}", (column,), base + powers)
    model = parse_formula(formula) if formula is not None else None
    ols = None
    if model is not None:
        pairs = _pairs([None, *model.terms, model.response])
        monomials = tuple(m for m in pairs if m or weight is not None)
        ols = Block("ols", (model.response, *model.terms), monomials)
    quantiles = tuple(
        dict.fromkeys(
            (stat.columns[0], stat.q)
            for stat in parsed
            if stat.kind in ("median", "quantile") and stat.q is not None
        )
    )
    return Plan(
        parsed, weight, model, FixedPoint(frac_bits), tuple(blocks.values()), ols, quantiles
    )
