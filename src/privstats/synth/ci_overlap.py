"""Confidence-interval overlap: does a regression on the synthetic table agree with the real one?

Karr et al. (2006), *A framework for evaluating the utility of data altered to protect
confidentiality*: a linear regression named by a formula ``"y ~ x1 + x2"`` is fitted by
ordinary least squares on each table, and each coefficient's 95% confidence intervals
``[l_o, u_o]`` (real) and ``[l_s, u_s]`` (synthetic) are compared by
``IO = ½ [(min(u_o, u_s) − max(l_o, l_s)) / (u_o − l_o)
+ (min(u_o, u_s) − max(l_o, l_s)) / (u_s − l_s)]``: 1 for identical intervals, 0 for
intervals that just touch, negative for disjoint ones. :func:`ci_overlap` is the mean over
the coefficients excluding the intercept; :func:`ci_overlap_detail` shows both fits. One
of the figures of :func:`privstats.synth.utility.utility_report`, importable from there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from privstats.errors import DatasetError, ParameterError
from privstats.synth.encoded import encoded_tables
from privstats.synth.schema import Schema

__all__ = ["ci_overlap", "ci_overlap_detail", "parse_formula"]

FloatArray = npt.NDArray[np.float64]

_NAME = r"\s*([^~+]+?)\s*"


def parse_formula(formula: str, schema: Schema) -> tuple[str, list[str]]:
    match = re.fullmatch(rf"{_NAME}~(.+)", formula) if isinstance(formula, str) else None
    if match is None:
        raise ParameterError(
            f'a regression is written "y ~ x1 + x2", got {formula!r}', parameter="regression"
        )
    response = match.group(1).strip()
    predictors = [name.strip() for name in match.group(2).split("+")]
    if not all(predictors):
        raise ParameterError(
            f'a regression is written "y ~ x1 + x2", got {formula!r}', parameter="regression"
        )
    for name in (response, *predictors):
        if name not in schema:
            raise ParameterError(
                f"the regression {formula!r} names {name!r}, which is not a column; columns "
                f"are {', '.join(schema.names)}",
                parameter="regression",
            )
    if schema[response].kind == "categorical":
        raise ParameterError(
            f"the regression's response {response!r} is categorical; name a numeric column",
            parameter="regression",
        )
    if response in predictors or len(set(predictors)) != len(predictors):
        raise ParameterError(f"the regression {formula!r} repeats a column", parameter="regression")
    return response, predictors


@dataclass(frozen=True)
class _Fit:
    estimate: FloatArray
    low: FloatArray
    high: FloatArray


def _ols(design: FloatArray, response: FloatArray, level: float) -> _Fit:
    n, p = design.shape
    estimate: FloatArray = np.linalg.lstsq(design, response, rcond=None)[0].astype(np.float64)
    residual = response - design @ estimate
    sigma2 = float(residual @ residual) / (n - p)
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    t = float(stats.t.ppf(0.5 + level / 2, n - p))
    return _Fit(estimate, estimate - t * se, estimate + t * se)


def ci_overlap_detail(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    formula: str,
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per coefficient of ``formula`` ("y ~ x1 + x2"), both fits and the interval overlap.

    Ordinary least squares with an intercept on the complete cases of each table
    (records missing the response or a predictor are dropped); categorical predictors
    become dummies for their categories observed in either table, the first (in schema
    order) being the reference; dates count days. Classical standard errors and
    t-quantiles give the ``level`` confidence intervals; ``overlap`` is Karr et al.'s
    interval overlap (module doc): 1 identical, below 0 disjoint (NaN for an interval of
    zero width, i.e. an exact fit). Rows: ``(Intercept)`` then the predictors' terms;
    columns ``term``, ``real_estimate``, ``real_low``, ``real_high``,
    ``synthetic_estimate``, ``synthetic_low``, ``synthetic_high``, ``overlap``.
    """
    if not 0 < level < 1:
        raise ParameterError(f"level must be between 0 and 1, got {level!r}", parameter="level")
    response, predictors = parse_formula(formula, schema)
    encoded = encoded_tables(schema, (real, "real table"), (synthetic, "synthetic table"))
    used = [response, *predictors]
    complete = [
        np.logical_and.reduce(
            [
                (table[name] >= 0) if schema[name].kind == "categorical" else ~np.isnan(table[name])
                for name in used
            ]
        )
        for table in encoded
    ]
    terms = ["(Intercept)"]
    dummies: dict[str, str] = {}  # dummy term -> its column
    columns: list[list[FloatArray]] = [[np.ones(int(keep.sum()))] for keep in complete]
    for name in predictors:
        spec = schema[name]
        if spec.kind != "categorical":
            terms.append(name)
            for block, table, keep in zip(columns, encoded, complete, strict=True):
                block.append(table[name][keep].astype(np.float64))
            continue
        observed = np.unique(
            np.concatenate(
                [table[name][keep] for table, keep in zip(encoded, complete, strict=True)]
            )
        )
        for level_code in observed[1:]:
            term = f"{name}[{spec.categories[int(level_code)]}]"
            terms.append(term)
            dummies[term] = name
            for block, table, keep in zip(columns, encoded, complete, strict=True):
                block.append((table[name][keep] == level_code).astype(np.float64))
    fits = []
    for design_columns, table, keep, what in zip(
        columns, encoded, complete, ("real", "synthetic"), strict=True
    ):
        design = np.column_stack(design_columns)
        n, p = design.shape
        if n <= p:
            raise DatasetError(
                f"the {what} table has {n} complete records for the {p} coefficients of "
                f"{formula!r}; the regression needs more"
            )
        empty = [
            term
            for term, values in zip(terms, design.T, strict=True)
            if term in dummies and not values.any()
        ]
        if empty:
            raise DatasetError(
                f"the {what} table has no complete records with {', '.join(empty)}, so "
                f"{formula!r} cannot be estimated on it",
                column=dummies[empty[0]],
            )
        if np.linalg.matrix_rank(design) < p:
            raise DatasetError(
                f"the predictors of {formula!r} are collinear in the {what} table "
                "(a predictor is constant or determined by the others)"
            )
        fits.append(_ols(design, table[response][keep].astype(np.float64), level))
    ours, theirs = fits
    inner = np.minimum(ours.high, theirs.high) - np.maximum(ours.low, theirs.low)
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = 0.5 * (inner / (ours.high - ours.low) + inner / (theirs.high - theirs.low))
    overlap = np.where(np.isfinite(overlap), overlap, np.nan)
    return pd.DataFrame(
        {
            "term": terms,
            "real_estimate": ours.estimate,
            "real_low": ours.low,
            "real_high": ours.high,
            "synthetic_estimate": theirs.estimate,
            "synthetic_low": theirs.low,
            "synthetic_high": theirs.high,
            "overlap": overlap,
        }
    )


def ci_overlap(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    formula: str,
    *,
    level: float = 0.95,
) -> float:
    """Mean confidence-interval overlap of ``formula``'s coefficients, intercept excluded.

    1 is best (identical intervals), 0 intervals that touch, negative disjoint; see
    :func:`ci_overlap_detail` for the fits and :mod:`privstats.synth.utility` for the
    formula. NaN if no coefficient has an interval of positive width.
    """
    detail = ci_overlap_detail(real, synthetic, schema, formula, level=level)
    values = detail["overlap"].to_numpy(dtype=np.float64)[1:]
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan
