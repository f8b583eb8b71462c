"""How useful a synthetic table is: does it look like, and analyse like, the real one?

Every function takes the real (confidential) table, the synthetic table and their
:class:`~privstats.synth.schema.Schema`; both tables are conformed to the schema first (a
missing column or an unknown category is a :class:`~privstats.errors.DatasetError`).
:func:`utility_report` gathers the figures a release report shows:

- **pMSE / S_pMSE** (Snoke et al. 2018, *General and specific utility measures for
  synthetic data*): the real and synthetic records are stacked with an indicator
  (1 = synthetic) and a propensity model predicts it. ``pMSE = mean((p̂ − c)²)`` over the
  ``N`` stacked records with ``c = n_syn / N``: 0 when the model cannot tell the tables
  apart at all. ``S_pMSE`` divides it by its expectation when both tables come from the
  same distribution: **near 1 is good** (as distinguishable as two samples of one
  population), **below about 2 is commonly accepted**, large values say the model tells
  them apart. A value far *below* 1 (0 for a verbatim copy of the real table) means the
  synthetic records are closer to the real ones than a fresh sample would be — check the
  disclosure-risk report. Two propensity models:

  - logistic regression with main effects (:func:`pmse`): numeric and date columns
    standardised, a missing value becomes an indicator column (value filled with the
    mean), categorical columns one-hot with the first observed level dropped (missing is
    a level); scikit-learn's ``LogisticRegression`` (lbfgs, ``C = 10⁴``, practically
    unpenalised). The null expectation is analytic, ``(k − 1) c (1 − c) / N`` with ``k``
    the number of parameters including the intercept: under the null, ``N · pMSE /
    (c (1 − c))`` is asymptotically χ² with ``k − 1`` degrees of freedom. (Snoke et al.
    and synthpop write ``(k − 1)(1 − c)² c / N``, which is smaller by the factor
    ``1 − c`` — their S_pMSE of two samples of one population averages ``1 / (1 − c)``,
    2 for tables of equal size; ours averages 1, as the reading above assumes.)
  - a CART tree (:func:`pmse_cart`): scikit-learn's ``DecisionTreeClassifier`` on the
    same columns with ``min_samples_leaf = max(5, N // 200)``; the null expectation is
    the mean pMSE of the same tree refitted after randomly permuting the indicator
    (``permutations`` times, 10 by default). The leaf rule keeps the tree at most about
    200 leaves whatever ``N``, so the permutation null stays stable; but pMSE cannot
    exceed ``c (1 − c)``, so this S_pMSE is capped near ``c (1 − c) / null`` — about 4
    for 1,500 + 1,500 records, about 85 for 40,000 + 40,000: on small tables read 2 as a
    clear difference, not as acceptable.

- **TVD** (:func:`tvd_1way`, :func:`tvd_2way`): the total variation distance
  ``½ Σ |p_real − p_syn|`` between the real and synthetic distribution of each column and
  of each pair of columns; 0 identical, 1 disjoint. Numeric and date columns are cut into
  10 bins at the deciles of the real values (fewer where deciles coincide), plus a
  missing bin; categorical columns count each category plus missing.

- **CI overlap** (:func:`ci_overlap`, :func:`ci_overlap_detail`; Karr et al. 2006, *A
  framework for evaluating the utility of data altered to protect confidentiality*):
  a linear regression named by a formula ``"y ~ x1 + x2"`` is fitted by ordinary least
  squares on each table and each coefficient's 95% confidence intervals ``[l_o, u_o]``
  (real) and ``[l_s, u_s]`` (synthetic) compared by
  ``IO = ½ [(min(u_o, u_s) − max(l_o, l_s)) / (u_o − l_o)
  + (min(u_o, u_s) − max(l_o, l_s)) / (u_s − l_s)]``: 1 for identical intervals, 0 for
  intervals that just touch, negative for disjoint ones (the further apart, the lower).
  The summary is the mean over the coefficients **excluding the intercept**.

- **TSTR** (:func:`tstr`, train on synthetic, test on real): a model of a named target
  is trained on the synthetic table and scored on real records (the real table itself by
  default, better a real holdout the synthesizer never saw). A categorical target is
  classified by scikit-learn's ``HistGradientBoostingClassifier`` and scored by accuracy
  and AUC (one-vs-rest, macro-averaged over the classes present in the test records —
  for two classes the usual ROC AUC); a numeric or date target is predicted by
  ``HistGradientBoostingRegressor`` and scored by R² (reported under ``tstr_accuracy``;
  the AUC is then None). Compare with the same model trained on real data.

Random choices (permutations, the trees' and boosting's internal seeds) come from a
:class:`~privstats.crypto.random.SeededStream`, so equal seeds give equal figures.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from itertools import combinations
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from privstats.crypto.random import SeededStream
from privstats.errors import DatasetError, ParameterError
from privstats.synth.ci_overlap import ci_overlap, ci_overlap_detail, parse_formula
from privstats.synth.encoded import encoded_tables, estimator_seed
from privstats.synth.schema import ColumnSpec, Schema

__all__ = [
    "UTILITY_KEYS",
    "PropensityScore",
    "TSTRScore",
    "ci_overlap",
    "ci_overlap_detail",
    "pmse",
    "pmse_cart",
    "tstr",
    "tvd_1way",
    "tvd_2way",
    "utility_report",
]

UTILITY_KEYS: tuple[str, ...] = (
    "pmse",
    "s_pmse",
    "pmse_cart",
    "s_pmse_cart",
    "tvd_1way",
    "tvd_2way",
    "tvd_2way_max",
    "ci_overlap",
    "tstr_accuracy",
    "tstr_auc",
)
"""The keys of :func:`utility_report`, in order."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_LOGISTIC_C = 1e4
_LOGISTIC_MAX_ITER = 2000
_TVD_BINS = 10
_HGB_MAX_CATEGORIES = 250


class PropensityScore(NamedTuple):
    """A propensity-score utility: pMSE, its null expectation and their ratio S_pMSE."""

    pmse: float
    """``mean((p̂ − c)²)``: 0 means the model cannot tell real from synthetic at all."""
    null: float
    """The expected pMSE if both tables came from one distribution."""
    s_pmse: float
    """``pmse / null``: near 1 good, below about 2 acceptable (NaN if ``null`` is 0)."""


class TSTRScore(NamedTuple):
    """Train-on-synthetic, test-on-real: score and AUC of the model on the real records."""

    task: Literal["classification", "regression"]
    score: float
    """Accuracy (classification) or R² (regression) on the test records."""
    auc: float | None
    """AUC, one-vs-rest macro over the test classes (None for regression or one class)."""


# -- propensity scores -------------------------------------------------------------------


def _propensity_design(
    real: dict[str, npt.NDArray[Any]],
    synthetic: dict[str, npt.NDArray[Any]],
    schema: Schema,
    total: int,
) -> FloatArray:
    """Main-effects design of the ``total`` stacked records (no intercept column)."""
    blocks: list[FloatArray] = []
    for column in schema:
        values = np.concatenate([real[column.name], synthetic[column.name]])
        if column.kind == "categorical":
            levels = np.unique(values)
            for level in levels[1:]:
                blocks.append((values == level).astype(np.float64))
            continue
        missing = np.isnan(values)
        if missing.any() and not missing.all():
            blocks.append(missing.astype(np.float64))
        present = values[~missing]
        if present.size < 2:
            continue
        mean = float(present.mean())
        scale = float(present.std())
        if not scale > 0:
            continue
        blocks.append(np.where(missing, 0.0, (values - mean) / scale))
    if not blocks:
        return np.zeros((total, 0))
    return np.column_stack(blocks)


def _indicator(n_real: int, n_synthetic: int) -> IntArray:
    return np.concatenate([np.zeros(n_real, np.int64), np.ones(n_synthetic, np.int64)])


def _check_sizes(real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    if len(real) < 2 or len(synthetic) < 2:
        raise DatasetError(
            "propensity scores need at least two real and two synthetic records; "
            f"got {len(real)} and {len(synthetic)}"
        )


def pmse(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> PropensityScore:
    """pMSE and S_pMSE with a main-effects logistic propensity model (module doc).

    ``S_pMSE = pMSE / ((k − 1) c (1 − c) / N)``, ``k`` the number of logistic parameters
    including the intercept, ``c`` the synthetic share and ``N`` the stacked record count.
    Near 1 is good, below about 2 commonly acceptable; far below 1 suggests copying.
    """
    _check_sizes(real, synthetic)
    encoded_real, encoded_syn = encoded_tables(
        schema, (real, "real table"), (synthetic, "synthetic table")
    )
    labels = _indicator(len(real), len(synthetic))
    design = _propensity_design(encoded_real, encoded_syn, schema, len(labels))
    total = len(labels)
    c = len(synthetic) / total
    k = design.shape[1] + 1
    if design.shape[1]:
        model = LogisticRegression(C=_LOGISTIC_C, max_iter=_LOGISTIC_MAX_ITER, tol=1e-6)
        with warnings.catch_warnings():
            # a propensity model that separates the tables hits the iteration limit on
            # its way to large coefficients; its probabilities are already extreme then
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(design, labels)
        probabilities = model.predict_proba(design)[:, 1]
    else:
        probabilities = np.full(total, c)
    score = float(np.mean((probabilities - c) ** 2))
    null = (k - 1) * c * (1 - c) / total
    return PropensityScore(score, null, score / null if null > 0 else math.nan)


def _cart_pmse(
    design: npt.NDArray[np.float32], labels: IntArray, c: float, min_leaf: int, seed: int
) -> float:
    tree = DecisionTreeClassifier(min_samples_leaf=min_leaf, random_state=seed)
    tree.fit(design, labels)
    probabilities = tree.predict_proba(design)[:, list(tree.classes_).index(1)]
    return float(np.mean((probabilities - c) ** 2))


def pmse_cart(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    *,
    permutations: int = 10,
    seed: int = 0,
) -> PropensityScore:
    """pMSE and S_pMSE with a CART propensity model and a permutation null (module doc).

    The tree (``min_samples_leaf = max(5, N // 200)``) is fitted once on the true
    indicator and ``permutations`` times on randomly permuted indicators; the null is the
    mean pMSE of the permuted fits and ``S_pMSE = pMSE / null``: near 1 good, below about
    2 commonly acceptable. ``permutations`` trades run time for a steadier null.
    """
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 1:
        raise ParameterError(
            f"permutations must be a positive whole number, got {permutations!r}",
            parameter="permutations",
        )
    _check_sizes(real, synthetic)
    encoded_real, encoded_syn = encoded_tables(
        schema, (real, "real table"), (synthetic, "synthetic table")
    )
    labels = _indicator(len(real), len(synthetic))
    design = _propensity_design(encoded_real, encoded_syn, schema, len(labels)).astype(np.float32)
    total = len(labels)
    c = len(synthetic) / total
    if not design.shape[1]:
        return PropensityScore(0.0, 0.0, math.nan)
    min_leaf = max(5, total // 200)
    stream = SeededStream(seed, "synth.utility.pmse_cart")
    score = _cart_pmse(design, labels, c, min_leaf, estimator_seed(stream))
    nulls = [
        _cart_pmse(design, labels[stream.permutation(total)], c, min_leaf, estimator_seed(stream))
        for _ in range(permutations)
    ]
    null = float(np.mean(nulls))
    return PropensityScore(score, null, score / null if null > 0 else math.nan)


# -- total variation distance ------------------------------------------------------------


def _bins(
    real: npt.NDArray[Any], synthetic: npt.NDArray[Any], column: ColumnSpec
) -> tuple[IntArray, IntArray, int]:
    """Bin indices of both columns (0 = missing) and the number of bins."""
    if column.kind == "categorical":
        return (
            real.astype(np.int64) + 1,
            synthetic.astype(np.int64) + 1,
            len(column.categories) + 1,
        )
    present = real[~np.isnan(real)]
    edges = (
        np.unique(np.quantile(present, np.arange(1, _TVD_BINS) / _TVD_BINS))
        if present.size
        else np.empty(0)
    )

    def cut(values: FloatArray) -> IntArray:
        out = np.searchsorted(edges, values, side="right").astype(np.int64) + 1
        out[np.isnan(values)] = 0
        return out

    return cut(real), cut(synthetic), len(edges) + 2


def _tvd(real_codes: IntArray, synthetic_codes: IntArray, size: int) -> float:
    p = np.bincount(real_codes, minlength=size) / len(real_codes)
    q = np.bincount(synthetic_codes, minlength=size) / len(synthetic_codes)
    return float(0.5 * np.abs(p - q).sum())


def _binned(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema
) -> dict[str, tuple[IntArray, IntArray, int]]:
    encoded_real, encoded_syn = encoded_tables(
        schema, (real, "real table"), (synthetic, "synthetic table")
    )
    return {
        column.name: _bins(encoded_real[column.name], encoded_syn[column.name], column)
        for column in schema
    }


def tvd_1way(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> dict[str, float]:
    """Per column, the total variation distance ``½ Σ |p_real − p_syn|`` (0 best, 1 worst).

    Numeric and date columns are binned at the deciles of the real values plus a missing
    bin; categorical columns by category plus missing.
    """
    return {name: _tvd(*binned) for name, binned in _binned(real, synthetic, schema).items()}


def tvd_2way(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema
) -> dict[tuple[str, str], float]:
    """Per pair of columns, the total variation distance of their joint distributions.

    Bins as in :func:`tvd_1way`; pairs in schema order.
    """
    binned = _binned(real, synthetic, schema)
    out = {}
    for a, b in combinations(schema.names, 2):
        real_a, syn_a, size_a = binned[a]
        real_b, syn_b, size_b = binned[b]
        out[(a, b)] = _tvd(real_a * size_b + real_b, syn_a * size_b + syn_b, size_a * size_b)
    return out


# -- confidence-interval overlap: privstats.synth.ci_overlap ------------------------------


# -- train on synthetic, test on real ----------------------------------------------------


def _auc(labels: npt.NDArray[np.bool_], scores: FloatArray) -> float:
    """ROC AUC by the Mann–Whitney statistic (ties count half)."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    ranks = stats.rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _features(
    encoded: dict[str, npt.NDArray[Any]], schema: Schema, names: Sequence[str]
) -> FloatArray:
    columns = []
    for name in names:
        values = encoded[name].astype(np.float64)
        if schema[name].kind == "categorical":
            values[values < 0] = np.nan
        columns.append(values)
    n = len(next(iter(encoded.values())))
    return np.column_stack(columns) if columns else np.zeros((n, 0))


def tstr(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    target: str,
    *,
    test: pd.DataFrame | None = None,
    seed: int = 0,
) -> TSTRScore:
    """Train a model of ``target`` on the synthetic table, score it on real records.

    ``test`` holds the real records to score on (default: ``real``; a holdout the
    synthesizer never saw is better). All other columns are the features, missing values
    handled natively by scikit-learn's histogram gradient boosting (categorical columns as
    categorical features). Records whose target is missing are left out.

    - categorical target: ``HistGradientBoostingClassifier``; ``score`` is the accuracy
      and ``auc`` the ROC AUC, one-vs-rest and macro-averaged over the classes present
      in the test records (for two classes the usual AUC; a class the synthetic table
      lacks is scored 0 for every record; None if the test records hold one class). If
      the synthetic target has a single class, every record is predicted as it.
    - numeric or date target: ``HistGradientBoostingRegressor``; ``score`` is R² on the
      test records (``1 − SS_res / SS_tot``, can be negative), ``auc`` None.
    """
    spec = schema[target]
    test_name = "real table" if test is None else "test table"
    encoded_syn, encoded_test = encoded_tables(
        schema, (synthetic, "synthetic table"), (real if test is None else test, test_name)
    )
    features = [name for name in schema.names if name != target]
    categorical = spec.kind == "categorical"

    def split(encoded: dict[str, npt.NDArray[Any]], what: str) -> tuple[FloatArray, Any]:
        y = encoded[target]
        keep = y >= 0 if categorical else ~np.isnan(y)
        if not keep.any():
            raise DatasetError(
                f"the {what} has no records with the target {target!r} present", column=target
            )
        return _features(encoded, schema, features)[keep], y[keep]

    x_train, y_train = split(encoded_syn, "synthetic table")
    x_test, y_test = split(encoded_test, test_name)
    stream = SeededStream(seed, "synth.utility.tstr")
    mask = [
        schema[name].kind == "categorical" and len(schema[name].categories) <= _HGB_MAX_CATEGORIES
        for name in features
    ]
    options: dict[str, Any] = {
        "categorical_features": np.asarray(mask, dtype=bool) if any(mask) else None,
        "random_state": estimator_seed(stream),
    }
    if not categorical:
        model = HistGradientBoostingRegressor(**options)
        model.fit(x_train, y_train)
        residual = y_test - model.predict(x_test)
        spread = float(((y_test - y_test.mean()) ** 2).sum())
        r2 = 1.0 - float((residual**2).sum()) / spread if spread > 0 else math.nan
        return TSTRScore("regression", r2, None)
    classes = np.unique(y_train)
    if len(classes) == 1:
        probabilities = np.ones((len(y_test), 1))
    else:
        classifier = HistGradientBoostingClassifier(**options)
        classifier.fit(x_train, y_train)
        classes = classifier.classes_.astype(np.int64)
        probabilities = classifier.predict_proba(x_test)
    predicted = classes[np.argmax(probabilities, axis=1)]
    accuracy = float(np.mean(predicted == y_test))
    present = np.unique(y_test)
    auc: float | None = None
    if len(present) >= 2:
        position = {int(code): index for index, code in enumerate(classes)}
        aucs = []
        for code in present:
            index = position.get(int(code))
            scores = probabilities[:, index] if index is not None else np.zeros(len(y_test))
            aucs.append(_auc(y_test == code, scores))
        auc = float(np.mean(aucs))
    return TSTRScore("classification", accuracy, auc)


# -- the report --------------------------------------------------------------------------


def utility_report(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: Schema,
    *,
    target: str | None = None,
    regression: str | None = None,
    test: pd.DataFrame | None = None,
    cart_permutations: int = 10,
    seed: int = 0,
) -> dict[str, float | None]:
    """All utility figures of a synthetic table, under the keys :data:`UTILITY_KEYS`.

    ``pmse``/``s_pmse`` (logistic, :func:`pmse`), ``pmse_cart``/``s_pmse_cart`` (CART
    with ``cart_permutations`` permutations, :func:`pmse_cart`), ``tvd_1way`` (mean over
    columns), ``tvd_2way`` and ``tvd_2way_max`` (mean and largest over pairs; None with a
    single column), ``ci_overlap`` (mean over coefficients except the intercept, if a
    ``regression`` such as ``"y ~ x1 + x2"`` is named, else None), ``tstr_accuracy`` and
    ``tstr_auc`` (if a ``target`` is named, else None; for a numeric target
    ``tstr_accuracy`` holds R² and ``tstr_auc`` is None), scored on ``test`` (default:
    ``real``). NaN marks a figure that is undefined for these data (e.g. S_pMSE when
    the null expectation is 0). Readings are in the module documentation.
    """
    if target is not None:
        schema[target]  # an unknown target fails before the long computations
    if regression is not None:
        parse_formula(regression, schema)
    logistic = pmse(real, synthetic, schema)
    cart = pmse_cart(real, synthetic, schema, permutations=cart_permutations, seed=seed)
    one_way = list(tvd_1way(real, synthetic, schema).values())
    two_way = list(tvd_2way(real, synthetic, schema).values())
    report: dict[str, float | None] = {
        "pmse": logistic.pmse,
        "s_pmse": logistic.s_pmse,
        "pmse_cart": cart.pmse,
        "s_pmse_cart": cart.s_pmse,
        "tvd_1way": float(np.mean(one_way)),
        "tvd_2way": float(np.mean(two_way)) if two_way else None,
        "tvd_2way_max": float(np.max(two_way)) if two_way else None,
        "ci_overlap": None,
        "tstr_accuracy": None,
        "tstr_auc": None,
    }
    if regression is not None:
        report["ci_overlap"] = ci_overlap(real, synthetic, schema, regression)
    if target is not None:
        scored = tstr(real, synthetic, schema, target, test=test, seed=seed)
        report["tstr_accuracy"] = scored.score
        report["tstr_auc"] = scored.auc
    return report
