"""Exact statistics of pooled records from each party's integer sufficient statistics.

Several parties hold records of the same kind; the statistics of their union follow from
sums that add across parties: counts, Σx, Σx², Σx·y and, with a weight column, Σw, Σw·x,
Σw·x², Σw·x·y. This module computes those sums for one party's records (:func:`local_sums`)
and turns pooled totals into the released figures (:func:`group_figures`,
:func:`ols_figures`). It never talks to another party; ``privstats.jobs.aggregate`` adds
the sums securely and decides what is opened.

Statistics (:func:`parse_stat`): ``count``, ``sum:COL``, ``mean:COL``, ``var:COL`` (sample
variance, ddof = 1), ``sd:COL``, ``median:COL``, ``quantile:COL:Q`` (0 < Q < 1),
``cov:C1,C2[,…]`` and ``corr:C1,C2[,…]``, plus an OLS formula ``"y ~ x1 + x2"``
(:func:`parse_formula`; the intercept is always included). Like pandas, a univariate
statistic skips the missing values of its column, each column with its own count, while
cov, corr and OLS use the complete cases over their columns (``df[cols].dropna()``).

Weights: ``sum`` becomes Σw·x, ``mean`` Σw·x/Σw, ``var`` the frequency-weight variance
Σw(x − x̄)²/(Σw − 1) (statsmodels ``DescrStatsW(ddof=1)``), cov and corr alike, quantiles
use cumulative weight instead of counts, and OLS becomes weighted least squares as
statsmodels ``WLS`` (σ² = Σw·e²/(n − p) with n the number of records). ``count`` stays the
number of records; ``weighted_count`` (Σw) is added. Records without a weight are left out.

Exactness: every value is encoded as the integer ``round(x·2^f)`` (``f = frac_bits``,
default 32) and every sum is exact in Python integers; the figures are then computed with
exact rational arithmetic (:class:`fractions.Fraction`) and rounded once to float. The only
error is the encoding, at most δ = 2^−(f+1) per value, so (n values, standard deviation s):

- a sum is within n·δ of the true sum, a mean within δ;
- a variance within 2√2·s·δ + 2δ², a standard deviation within √2·δ;
- a covariance within √2·(s_x + s_y)·δ + 2δ², a correlation (to first order) within
  2√2·δ·(1/s_x + 1/s_y);
- with non-integer weights (encoded too) add their relative encoding error, δ/w for the
  smallest positive weight w, to the relative error.

With f = 32, δ ≈ 1.2·10⁻¹⁰: figures are typically within 10⁻⁹ relative. Sums of
whole-number columns are exact and come out as Python ints. Quantiles are exact on the
fixed-point grid: the result is an observed value rounded to a multiple of 2^−f.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.data.fixed_point import FixedPoint
from privstats.data.tables import Table
from privstats.errors import DatasetError, ParameterError

__all__ = [
    "GRID_HIGH",
    "GRID_LOW",
    "INTERCEPT",
    "Block",
    "Formula",
    "LocalSums",
    "Plan",
    "QuantileIndex",
    "Records",
    "Stat",
    "group_figures",
    "group_labels",
    "level_labels",
    "local_sums",
    "make_plan",
    "ols_figures",
    "parse_formula",
    "parse_stat",
    "prepare_records",
    "quantile_index",
    "quantile_reached",
    "record_warnings",
]

STAT_KINDS = ("count", "sum", "mean", "var", "sd", "median", "quantile", "cov", "corr")
INTERCEPT = "Intercept"
GRID_LOW = -(1 << 62) - 1
"""Below every fixed-point value a quantile search can meet (encoded |x| < 2^62)."""
GRID_HIGH = (1 << 62) - 1
"""At or above every such value; ``GRID_HIGH − GRID_LOW = 2^63``: 63 bisection steps."""
COLLINEAR = Fraction(1, 10**12)
"""A term whose residual sum of squares on the earlier terms is below this share of its
sum of squares is reported as collinear: the encoding can turn an exact linear dependence
into a meaningless near-fit."""
CHUNK_ROWS = 1 << 16
"""Records per chunk of the exact sums: bounds the memory of Python-int products."""
_FORMULA_OPERATORS = "*:()^|"
_MAX_EXAMPLES = 5

Monomial = tuple[str, ...]


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


# --------------------------------------------------------------------------- one party's data


@dataclass(frozen=True)
class Records:
    """One party's records, checked, with presence masks; encoded chunk by chunk on use."""

    path: str
    rows: int
    keep: npt.NDArray[np.bool_]
    """Records that take part: all, or those with a weight."""
    values: dict[str, npt.NDArray[np.float64]]
    weight: str | None
    fixed: FixedPoint
    grid: dict[str, npt.NDArray[np.int64]]
    """Per quantile column, ``round(x·2^f)`` as int64 below 2^62 (0 where missing)."""
    warnings: tuple[str, ...] = ()

    def present(self, columns: Sequence[str]) -> npt.NDArray[np.bool_]:
        mask = self.keep.copy()
        for column in columns:
            mask &= ~np.isnan(self.values[column])
        return mask

    def exact(self, column: str, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.object_]:
        """``round(x·2^f)`` of ``column`` at ``rows`` (present values only) as Python ints."""
        return self.fixed.encode_exact(self.values[column][rows])


def _rows_text(rows: npt.NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:_MAX_EXAMPLES])
    more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def prepare_records(table: Table, plan: Plan) -> Records:
    """Check the value columns of ``table``; leave out records without a weight."""
    missing = [c for c in plan.value_columns if c not in table.values]
    if missing:
        raise ParameterError(
            f"{table.path}: value column(s) {', '.join(map(repr, missing))} were not read",
            parameter="table",
        )
    keep = np.ones(table.rows, dtype=bool)
    if plan.weight is not None:
        w = table.values[plan.weight]
        negative = np.flatnonzero(w < 0)
        if negative.size:
            raise DatasetError(
                f"{table.path}: weight column '{plan.weight}' has {negative.size} negative "
                f"value(s) ({_rows_text(negative)}); weights must be zero or positive",
                path=table.path,
                column=plan.weight,
                rows=tuple(int(r) + 1 for r in negative[:_MAX_EXAMPLES]),
            )
        keep = ~np.isnan(w)
    grid = {}
    for column in dict.fromkeys(c for c, _ in plan.quantiles):
        values = table.values[column]
        try:
            grid[column] = plan.fixed.encode(np.where(np.isnan(values), 0.0, values))
        except ParameterError as exc:
            raise ParameterError(
                f"{table.path}: column '{column}' is too large for a quantile: {exc}",
                parameter="frac_bits",
            ) from exc
    warnings = tuple(record_warnings(table, plan))
    return Records(
        table.path, table.rows, keep, table.values, plan.weight, plan.fixed, grid, warnings
    )


def record_warnings(table: Table, plan: Plan) -> list[str]:
    """Sentences on a file without records and on records left out (those without a
    weight); empty when the file is clean."""
    if table.rows == 0:
        return [
            f"{table.path}: the file has a header but no records; this party adds nothing "
            "to the pooled figures (is it the right file?)"
        ]
    if plan.weight is None:
        return []
    rows = np.flatnonzero(np.isnan(table.values[plan.weight]))
    if not rows.size:
        return []
    return [
        f"{table.path}: {rows.size} record(s) without a value of weight column "
        f"'{plan.weight}' are left out ({_rows_text(rows)})"
    ]


def group_labels(
    table: Table, by: Sequence[str]
) -> tuple[npt.NDArray[np.intp], list[tuple[str, ...]]]:
    """Per record, the index of its ``by`` values among the sorted distinct label tuples."""
    if not by:
        return np.zeros(table.rows, dtype=np.intp), [()] if table.rows else []
    codes = []
    uniques = []
    for column in by:
        values = table.categories[column]
        empty = np.flatnonzero(values == "")
        if empty.size:
            raise DatasetError(
                f"{table.path}: column '{column}' has {empty.size} empty value(s) "
                f"({_rows_text(empty)}); every record needs a value in a 'by' column",
                path=table.path,
                column=column,
                rows=tuple(int(r) + 1 for r in empty[:_MAX_EXAMPLES]),
            )
        unique, inverse = np.unique(values, return_inverse=True)
        uniques.append(unique.tolist())
        codes.append(inverse.reshape(-1))
    if table.rows == 0:
        return np.zeros(0, dtype=np.intp), []
    if len(codes) == 1:
        return codes[0].astype(np.intp), [(u,) for u in uniques[0]]
    radices = [len(u) for u in uniques]
    if math.prod(radices) < 1 << 62:  # one integer per combination: a fast 1-d unique
        combined = np.zeros(table.rows, dtype=np.int64)
        for code, radix in zip(codes, radices, strict=True):
            combined = combined * radix + code
        distinct, inverse = np.unique(combined, return_inverse=True)
        rows = np.stack(np.unravel_index(distinct, radices), axis=1)
    else:
        rows, inverse = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    labels = [tuple(u[i] for u, i in zip(uniques, row, strict=True)) for row in rows.tolist()]
    return inverse.reshape(-1).astype(np.intp), labels


@dataclass(frozen=True)
class LocalSums:
    """One party's per-group counts and exact sums for a tuple of blocks."""

    counts: npt.NDArray[np.int64]
    """Shape (groups, blocks): complete-case records per group and block."""
    sums: tuple[tuple[npt.NDArray[np.object_], ...], ...]
    """``sums[block][monomial]``: per group, the exact integer sum (scale 2^(f·degree))."""


def local_sums(
    records: Records,
    codes: npt.NDArray[np.intp],
    groups: int,
    blocks: Sequence[Block],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> LocalSums:
    """Per group, the count and every monomial's exact sum of each block.

    Exact products of fixed-point integers are Python ints, the costly part; they are made
    ``chunk_rows`` records at a time (memory stays bounded), and blocks over the same
    records in a chunk share the products they have in common.
    """
    order = np.argsort(codes, kind="stable")
    masks = [records.present(block.columns) for block in blocks]
    counts = np.zeros((groups, len(blocks)), dtype=np.int64)
    sums = [[np.full(groups, 0, dtype=object) for _ in block.monomials] for block in blocks]
    for start in range(0, max(len(order), 1), chunk_rows):
        chunk = order[start : start + chunk_rows]
        products: dict[tuple[bytes, Monomial], npt.NDArray[np.object_]] = {}
        for b, (block, mask) in enumerate(zip(blocks, masks, strict=True)):
            rows = chunk[mask[chunk]]
            sizes = np.bincount(codes[rows], minlength=groups)
            counts[:, b] += sizes
            key = rows.tobytes() if len(rows) < 64 else hashlib.blake2b(rows.tobytes()).digest()
            for m, monomial in enumerate(block.monomials):
                factors = tuple(sorted((*monomial, *([records.weight] if records.weight else []))))
                total = _product(records, rows, key, factors, products)
                sums[b][m] = sums[b][m] + _segment_sums(total, sizes)
    return LocalSums(counts, tuple(tuple(block) for block in sums))


def _product(
    records: Records,
    rows: npt.NDArray[np.intp],
    key: bytes,
    factors: Monomial,
    cache: dict[tuple[bytes, Monomial], npt.NDArray[np.object_]],
) -> npt.NDArray[np.object_]:
    """The exact product of the ``factors`` columns over ``rows``, memoised in ``cache``."""
    if (key, factors) not in cache:
        if len(factors) == 1:
            cache[(key, factors)] = records.exact(factors[0], rows)
        else:
            head = _product(records, rows, key, factors[:-1], cache)
            cache[(key, factors)] = head * _product(records, rows, key, factors[-1:], cache)
    return cache[(key, factors)]


def _segment_sums(
    values: npt.NDArray[np.object_], sizes: npt.NDArray[np.intp]
) -> npt.NDArray[np.object_]:
    """Sums of consecutive segments of ``values`` with the given sizes (empty ones are 0)."""
    out = np.full(len(sizes), 0, dtype=object)
    nonempty = np.flatnonzero(sizes)
    if nonempty.size:
        starts = (np.cumsum(sizes) - sizes)[nonempty]
        out[nonempty] = np.add.reduceat(values, starts)
    return out


@dataclass(frozen=True)
class QuantileIndex:
    """A column's fixed-point values sorted within each group, to count values ≤ t."""

    values: npt.NDArray[np.int64]
    bounds: npt.NDArray[np.intp]
    cumulative: npt.NDArray[np.object_] | None
    """With weights: running Σw in sorted order (exact ints), else None."""

    def below(self, group: int, threshold: int) -> int:
        """The count (or Σw) of the group's values at or below ``threshold``."""
        lo, hi = int(self.bounds[group]), int(self.bounds[group + 1])
        k = int(np.searchsorted(self.values[lo:hi], threshold, side="right"))
        if self.cumulative is None:
            return k
        if k == 0:
            return 0
        before = int(self.cumulative[lo - 1]) if lo else 0
        return int(self.cumulative[lo + k - 1]) - before


def quantile_index(
    records: Records, codes: npt.NDArray[np.intp], groups: int, column: str
) -> QuantileIndex:
    """Sort ``column``'s present fixed-point values by group, to count values ≤ t."""
    rows = np.flatnonzero(records.present((column,)))
    encoded = records.grid[column][rows]
    order = np.lexsort((encoded, codes[rows]))
    sizes = np.bincount(codes[rows], minlength=groups)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
    cumulative = None
    if records.weight is not None:
        weights = records.exact(records.weight, rows[order])
        cumulative = np.cumsum(weights) if rows.size else np.zeros(0, dtype=object)
    return QuantileIndex(encoded[order], bounds, cumulative)


def quantile_reached(below: int, total: int, q: Fraction) -> bool:
    """Whether a running count (or Σw) ``below`` reaches the share ``q`` of ``total``."""
    return below * q.denominator >= q.numerator * total


# --------------------------------------------------------------------------- released figures


def _number(value: Fraction) -> int | float:
    """Whole numbers as exact ints, others rounded once to float."""
    return int(value) if value.denominator == 1 else float(value)


def _moments(plan: Plan, block: Block, count: int, sums: Sequence[int]) -> dict[Monomial, Fraction]:
    """The block's pooled sums in real units, keyed by sorted monomial; () is n or Σw."""
    scale = plan.fixed.frac_bits
    moments: dict[Monomial, Fraction] = {(): Fraction(count)}
    for monomial, total in zip(block.monomials, sums, strict=True):
        moments[tuple(sorted(monomial))] = Fraction(
            int(total), 1 << (scale * plan.degree(monomial))
        )
    return moments


def _covariance(m: Mapping[Monomial, Fraction], a: str, b: str) -> Fraction | None:
    n = m[()]
    if n - 1 <= 0:
        return None
    return (m[tuple(sorted((a, b)))] - m[(a,)] * m[(b,)] / n) / (n - 1)


def _correlation(m: Mapping[Monomial, Fraction], a: str, b: str) -> float | None:
    cab, caa, cbb = _covariance(m, a, b), _covariance(m, a, a), _covariance(m, b, b)
    if cab is None or caa is None or cbb is None or caa <= 0 or cbb <= 0:
        return None
    return math.copysign(math.sqrt(float(cab * cab / (caa * cbb))), cab)


def group_figures(
    plan: Plan,
    counts: Sequence[int],
    sums: Sequence[Sequence[int] | None],
    quantiles: Mapping[tuple[str, Fraction], int | None],
) -> dict[str, Any]:
    """A released group's figures from its pooled counts and sums.

    ``counts[b]`` and ``sums[b]`` belong to ``plan.blocks[b]``; ``sums[b]`` is None when the
    block was not opened (fewer complete records than the minimum), and its statistics are
    None. ``quantiles`` maps (column, q) to the fixed-point quantile found, or None.
    """
    moments = {
        block.name: None if total is None else _moments(plan, block, counts[b], total)
        for b, (block, total) in enumerate(zip(plan.blocks, sums, strict=True))
    }
    figures: dict[str, Any] = {"count": int(counts[0])}
    if plan.weighted:
        records = moments["records"]
        figures["weighted_count"] = (
            0 if counts[0] == 0 else None if records is None else _number(records[()])
        )
    for stat in plan.stats:
        if stat.kind == "count":
            continue
        if stat.kind in ("median", "quantile"):
            found = quantiles.get((stat.columns[0], stat.q)) if stat.q is not None else None
            figures[stat.name] = (
                None if found is None else _shortest_decimal(found, plan.fixed.frac_bits)
            )
            continue
        if stat.kind in ("cov", "corr"):
            m = moments["set:" + ",".join(stat.columns)]
            figures[stat.name] = None if m is None else _matrix(stat, m)
            continue
        m = moments[f"column:{stat.columns[0]}"]
        figures[stat.name] = None if m is None else _univariate(stat.kind, stat.columns[0], m)
    return figures


def _shortest_decimal(code: int, frac_bits: int) -> float:
    """The shortest decimal whose fixed-point code is ``code``: an observed value such as
    3000.62 is shown as written, not as its grid point 3000.6200000001118."""
    exact = Fraction(code, 1 << frac_bits)
    for digits in range(16):
        candidate = round(float(exact), digits)
        if round(candidate * (1 << frac_bits)) == code:
            return candidate
    return float(exact)


def _univariate(kind: str, column: str, m: Mapping[Monomial, Fraction]) -> int | float | None:
    n = m[()]
    if kind == "sum":
        return _number(m[(column,)])
    if kind == "mean":
        return float(m[(column,)] / n) if n > 0 else None
    variance = _covariance(m, column, column)
    if variance is None:
        return None
    return float(variance) if kind == "var" else math.sqrt(float(variance))


def _matrix(stat: Stat, m: Mapping[Monomial, Fraction]) -> list[list[float | None]]:
    rows: list[list[float | None]] = []
    for a in stat.columns:
        row: list[float | None] = []
        for b in stat.columns:
            if stat.kind == "corr":
                row.append(_correlation(m, a, b))
            else:
                value = _covariance(m, a, b)
                row.append(None if value is None else float(value))
        rows.append(row)
    return rows


def ols_figures(plan: Plan, count: int, sums: Sequence[int]) -> dict[str, Any]:
    """Coefficients, classical standard errors, R² and n of the plan's OLS (or WLS) model.

    Solves XᵀX·β = Xᵀy exactly; σ² = RSS/(n − p), se = √diag(σ²·(XᵀX)⁻¹) and
    R² = 1 − RSS/TSS (TSS about the mean of y). A term that is (numerically) a linear
    combination of the intercept and earlier terms is a ParameterError naming it.
    """
    if plan.formula is None or plan.ols is None:
        raise ParameterError("the plan has no OLS formula", parameter="ols")
    formula = plan.formula
    m = _moments(plan, plan.ols, count, sums)
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


def level_labels(levels: Mapping[str, Sequence[str]], by: Sequence[str]) -> list[tuple[str, ...]]:
    """Every combination of the given levels of the ``by`` columns, sorted."""
    return sorted(product(*(sorted(set(levels[c])) for c in by)))
