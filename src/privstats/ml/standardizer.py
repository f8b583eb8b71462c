"""The standardizer of federated training, built from sums that secure aggregation can pool.

Centres and scales each feature from count, sum and sum of squares per feature, so that
the securely summed statistics of several offices give exactly the standardizer of their
pooled data. Variance is the population variance (``ddof = 0``). A feature counts as
constant, and gets scale 1, when its variance is zero or below ``10⁻¹²`` of its squared
mean (float64 sums cannot resolve less). Nothing here communicates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError
from privstats.ml._checks import FloatArray, _count, _matrix, _vector

__all__ = ["Standardizer"]

_CONSTANT_RELATIVE_VARIANCE = 1e-12


class Standardizer:
    """``(x − mean) / scale`` per feature, from count, sums and sums of squares.

    Build it with :meth:`fit` on local data, or with :meth:`from_sums` on statistics summed
    over parties; both give the same standardizer for the same sums.
    """

    def __init__(self, count: int, sums: npt.ArrayLike, sums_sq: npt.ArrayLike) -> None:
        self.count = _count(count, "count", minimum=1)
        self.sums = _vector(sums, "sums")
        self.sums_sq = _vector(sums_sq, "sums_sq", self.sums.size)
        if np.any(self.sums_sq < 0):
            raise ParameterError("sums_sq must not be negative", parameter="sums_sq")
        self.mean: FloatArray = self.sums / self.count
        variance = np.maximum(self.sums_sq / self.count - self.mean**2, 0.0)
        constant = variance <= _CONSTANT_RELATIVE_VARIANCE * self.mean**2
        self.scale: FloatArray = np.where(constant, 1.0, np.sqrt(variance))

    @classmethod
    def from_sums(cls, n: int, sums: npt.ArrayLike, sums_sq: npt.ArrayLike) -> Standardizer:
        """From ``n`` records' per-feature sums and sums of squares (e.g. securely pooled)."""
        return cls(n, sums, sums_sq)

    @classmethod
    def fit(cls, x: npt.ArrayLike) -> Standardizer:
        """From local data: the same sums a party would contribute to secure aggregation."""
        array = np.asarray(x)
        if array.ndim != 2:
            raise ParameterError(f"x must be two-dimensional, got {array.shape}", parameter="x")
        array = _matrix(array, array.shape[1])
        if not len(array):
            raise ParameterError("x has no rows to fit a standardizer on", parameter="x")
        return cls(len(array), array.sum(axis=0), (array * array).sum(axis=0))

    @property
    def n_features(self) -> int:
        return int(self.sums.size)

    def transform(self, x: npt.ArrayLike) -> FloatArray:
        array = _matrix(x, self.n_features)
        return (array - self.mean) / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "sums": self.sums.tolist(), "sums_sq": self.sums_sq.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardizer:
        return cls(data["count"], data["sums"], data["sums_sq"])

    def __repr__(self) -> str:
        return f"Standardizer(count={self.count}, n_features={self.n_features})"
