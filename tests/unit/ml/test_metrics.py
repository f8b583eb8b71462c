"""Metrics from confusion matrices: hand-computed cases, and pooling across offices.

The pooled figures (from the sum of several offices' matrices) are compared with an
independent computation, in exact fractions, on all the offices' labels together.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from privstats.errors import ParameterError
from privstats.ml import accuracy, confusion_matrix, f1_scores, macro_f1, precision, recall

CM = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])


def _macro_f1_by_hand(true: list[int], pred: list[int], n_classes: int) -> Fraction:
    scores = []
    for c in range(n_classes):
        tp = sum(t == c and p == c for t, p in zip(true, pred, strict=True))
        fp = sum(t != c and p == c for t, p in zip(true, pred, strict=True))
        fn = sum(t == c and p != c for t, p in zip(true, pred, strict=True))
        scores.append(Fraction(2 * tp, 2 * tp + fp + fn) if tp + fp + fn else Fraction(0))
    return sum(scores, Fraction(0)) / n_classes


def test_confusion_matrix_counts_truth_by_prediction() -> None:
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)

    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert cm.dtype == np.int64


def test_metrics_of_a_known_matrix() -> None:
    # columns sum to 7, 4, 5 (predicted); rows to 6, 6, 4 (true); 12 of 16 on the diagonal
    assert accuracy(CM) == 0.75
    np.testing.assert_allclose(precision(CM), [5 / 7, 3 / 4, 4 / 5])
    np.testing.assert_allclose(recall(CM), [5 / 6, 3 / 6, 4 / 4])
    np.testing.assert_allclose(f1_scores(CM), [10 / 13, 6 / 10, 8 / 9])
    assert macro_f1(CM) == pytest.approx((10 / 13 + 6 / 10 + 8 / 9) / 3)


def test_undefined_ratios_are_zero() -> None:
    # class 1 is true twice but never predicted; class 2 is neither true nor predicted
    cm = np.array([[3, 0, 0], [2, 0, 0], [0, 0, 0]])

    np.testing.assert_array_equal(precision(cm), [3 / 5, 0.0, 0.0])
    np.testing.assert_array_equal(recall(cm), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(f1_scores(cm), [6 / 8, 0.0, 0.0])
    assert macro_f1(cm) == pytest.approx(0.75 / 3)
    assert accuracy(np.zeros((2, 2), dtype=int)) == 0.0


def test_pooled_matrices_give_the_metrics_of_all_data() -> None:
    rng = np.random.default_rng(4)
    offices = [(rng.integers(0, 4, size=n), rng.integers(0, 4, size=n)) for n in (30, 0, 55, 12)]
    all_true = np.concatenate([t for t, _ in offices])
    all_pred = np.concatenate([p for _, p in offices])

    pooled = sum(confusion_matrix(t, p, 4) for t, p in offices)

    np.testing.assert_array_equal(pooled, confusion_matrix(all_true, all_pred, 4))
    assert accuracy(pooled) == np.mean(all_true == all_pred)
    expected = _macro_f1_by_hand(all_true.tolist(), all_pred.tolist(), 4)
    assert macro_f1(pooled) == pytest.approx(float(expected), rel=1e-12)


@given(
    st.integers(1, 5).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=40),
        )
    )
)
def test_macro_f1_equals_an_independent_computation(
    case: tuple[int, list[tuple[int, int]]],
) -> None:
    k, pairs = case
    true = [t for t, _ in pairs]
    pred = [p for _, p in pairs]

    cm = confusion_matrix(np.array(true, dtype=np.int64), np.array(pred, dtype=np.int64), k)

    assert cm.sum() == len(pairs)
    assert macro_f1(cm) == pytest.approx(float(_macro_f1_by_hand(true, pred, k)), rel=1e-12)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ParameterError, match="y_true_index"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ParameterError, match="y_pred_index"):
        confusion_matrix([0, 1], [0], 3)
    with pytest.raises(TypeError, match="integer"):
        confusion_matrix([0.0], [0], 3)
    with pytest.raises(ParameterError, match="square"):
        accuracy(np.zeros((2, 3), dtype=int))
    with pytest.raises(ParameterError, match="negative"):
        macro_f1(np.array([[1, -1], [0, 1]]))
    with pytest.raises(TypeError, match="integer counts"):
        precision(np.ones((2, 2)))
