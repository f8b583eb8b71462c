"""Machine learning for federated training: flat-parameter models and poolable metrics.

:mod:`privstats.ml.models` holds classifiers whose parameters are one flat ``float64``
vector (so secure aggregation can sum updates), a standardizer built from summable
statistics, and local SGD; :mod:`privstats.ml.metrics` computes classification metrics
from confusion matrices, which offices can add up.
"""

from privstats.ml.metrics import (
    accuracy,
    confusion_matrix,
    f1_scores,
    macro_f1,
    precision,
    recall,
)
from privstats.ml.models import (
    MLP,
    LogisticRegression,
    Model,
    Standardizer,
    train_local,
)

__all__ = [
    "MLP",
    "LogisticRegression",
    "Model",
    "Standardizer",
    "accuracy",
    "confusion_matrix",
    "f1_scores",
    "macro_f1",
    "precision",
    "recall",
    "train_local",
]
