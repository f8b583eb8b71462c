"""Classification metrics from a confusion matrix, so that offices can pool them.

Each office computes :func:`confusion_matrix` on its own test data; secure aggregation
adds the matrices up (they are counts), and every figure here is a function of the summed
matrix alone. The pooled figures therefore equal those of one evaluation on all the
offices' test data together, and no office reveals more than its matrix of counts (or,
under secure aggregation, nothing beyond the total).

Conventions
-----------
``cm[i, j]`` counts examples of true class ``i`` predicted as class ``j`` (rows: truth,
columns: prediction), as in scikit-learn. For class ``c``, with ``tp = cm[c, c]``, ``fp``
the rest of column ``c`` and ``fn`` the rest of row ``c``::

    precision = tp / (tp + fp)      recall = tp / (tp + fn)      F1 = 2·tp / (2·tp + fp + fn)

A ratio whose denominator is zero is undefined and reported as **0** (scikit-learn's
``zero_division=0``): precision of a class never predicted, recall of a class absent from
the truth, F1 of a class neither present nor predicted, accuracy of an empty matrix.
Macro-F1 is the unweighted mean of the F1 of *all* ``n_classes`` classes, including such
classes, so it does not depend on which classes happen to occur in one office's data.
"""

from __future__ import annotations

import operator

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError

__all__ = [
    "accuracy",
    "confusion_matrix",
    "f1_scores",
    "macro_f1",
    "precision",
    "recall",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _indices(values: npt.ArrayLike, n_classes: int, name: str) -> IntArray:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, not {array.dtype}")
    if array.ndim != 1:
        raise ParameterError(f"{name} must be one-dimensional, got {array.shape}", parameter=name)
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ParameterError(
            f"{name} values must be in 0..{n_classes - 1}, got {int(array.min())}.."
            f"{int(array.max())}",
            parameter=name,
        )
    return array.astype(np.int64)


def confusion_matrix(
    y_true_index: npt.ArrayLike, y_pred_index: npt.ArrayLike, n_classes: int
) -> IntArray:
    """Counts ``cm[i, j]`` of examples of true class ``i`` predicted as ``j``."""
    if isinstance(n_classes, bool):
        raise TypeError("n_classes must be an integer, not a bool")
    k = operator.index(n_classes)
    if k < 1:
        raise ParameterError(f"n_classes must be at least 1, got {k}", parameter="n_classes")
    true = _indices(y_true_index, k, "y_true_index")
    pred = _indices(y_pred_index, k, "y_pred_index")
    if true.shape != pred.shape:
        raise ParameterError(
            f"y_true_index has {true.size} values, y_pred_index {pred.size}",
            parameter="y_pred_index",
        )
    counts = np.bincount(true * k + pred, minlength=k * k)
    return counts.reshape(k, k).astype(np.int64)


def _checked(cm: npt.ArrayLike) -> IntArray:
    array = np.asarray(cm)
    if array.dtype.kind not in "iu":
        raise TypeError(f"a confusion matrix holds integer counts, not {array.dtype}")
    if array.ndim != 2 or array.shape[0] != array.shape[1] or not array.size:
        raise ParameterError(
            f"a confusion matrix is square and non-empty, got shape {array.shape}",
            parameter="cm",
        )
    if array.min() < 0:
        raise ParameterError("a confusion matrix has no negative counts", parameter="cm")
    return array.astype(np.int64)


def _ratio(numerator: IntArray, denominator: IntArray) -> FloatArray:
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def accuracy(cm: npt.ArrayLike) -> float:
    """Share of examples on the diagonal (0 for an empty matrix)."""
    counts = _checked(cm)
    total = int(counts.sum())
    return int(np.trace(counts)) / total if total else 0.0


def precision(cm: npt.ArrayLike) -> FloatArray:
    """Per-class ``tp / (tp + fp)``; 0 for a class never predicted."""
    counts = _checked(cm)
    return _ratio(np.diag(counts), counts.sum(axis=0))


def recall(cm: npt.ArrayLike) -> FloatArray:
    """Per-class ``tp / (tp + fn)``; 0 for a class absent from the truth."""
    counts = _checked(cm)
    return _ratio(np.diag(counts), counts.sum(axis=1))


def f1_scores(cm: npt.ArrayLike) -> FloatArray:
    """Per-class ``2·tp / (2·tp + fp + fn)``; 0 for a class neither present nor predicted."""
    counts = _checked(cm)
    tp = np.diag(counts)
    return _ratio(2 * tp, counts.sum(axis=0) + counts.sum(axis=1))


def macro_f1(cm: npt.ArrayLike) -> float:
    """Unweighted mean of the F1 of every class of the matrix."""
    return float(f1_scores(cm).mean())
