"""Exact statistics of pooled records from each party's integer sufficient statistics.

Several parties hold records of the same kind; the statistics of their union follow from
sums that add across parties: counts, Σx, Σx², Σx·y and, with a weight column, Σw, Σw·x,
Σw·x², Σw·x·y. This package computes those sums for one party's records and turns pooled
totals into the released figures, one job per module:

- ``plan``: the statistics and formula parsed, and the sums they need laid out;
- ``records``: one party's records checked, masked and grouped;
- ``sums``: its exact per-group sums (:func:`local_sums`);
- ``quantiles``: local counts of values ≤ t for the secure bisection;
- ``figures``: a released group's figures (:func:`group_figures`);
- ``ols``: the OLS or WLS model (:func:`ols_figures`);
- ``dominance``: one party's integers for the (n,k) and p % rules on split contributions;
- ``floors``: which quantile levels and OLS models would single out a record.

It never talks to another party; ``privstats.protocols.aggregate`` adds the sums securely
and decides what is opened. The public names are re-exported here.

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

from privstats.stats.aggregate.dominance import (
    CellContributions,
    local_contributions,
    magnitude_columns,
    magnitude_rules,
)
from privstats.stats.aggregate.figures import group_figures
from privstats.stats.aggregate.floors import (
    MAX_LEVELS,
    local_levels,
    ols_refusal,
    quantile_refusals,
)
from privstats.stats.aggregate.ols import ols_figures
from privstats.stats.aggregate.plan import (
    INTERCEPT,
    Block,
    Formula,
    Plan,
    Stat,
    make_plan,
    parse_formula,
    parse_stat,
)
from privstats.stats.aggregate.quantiles import (
    GRID_HIGH,
    GRID_LOW,
    QuantileIndex,
    quantile_index,
    quantile_reached,
)
from privstats.stats.aggregate.records import (
    Records,
    group_labels,
    level_labels,
    prepare_records,
    record_warnings,
)
from privstats.stats.aggregate.sums import LocalSums, local_sums

__all__ = [
    "GRID_HIGH",
    "GRID_LOW",
    "INTERCEPT",
    "MAX_LEVELS",
    "Block",
    "CellContributions",
    "Formula",
    "LocalSums",
    "Plan",
    "QuantileIndex",
    "Records",
    "Stat",
    "group_figures",
    "group_labels",
    "level_labels",
    "local_contributions",
    "local_levels",
    "local_sums",
    "magnitude_columns",
    "magnitude_rules",
    "make_plan",
    "ols_figures",
    "ols_refusal",
    "parse_formula",
    "parse_stat",
    "prepare_records",
    "quantile_index",
    "quantile_reached",
    "quantile_refusals",
    "record_warnings",
]
