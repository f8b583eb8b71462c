"""Argument checks shared by the classifiers: counts, rates, finite vectors and matrices."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Label = str | int
"""A class label: a string or an integer (both survive JSON unchanged)."""


def _count(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool")
    try:
        number = operator.index(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from exc
    if number < minimum:
        raise ParameterError(f"{name} must be at least {minimum}, got {number}", parameter=name)
    return number


def _rate(value: float, name: str, *, positive: bool = False) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ParameterError(f"{name} must be finite and {bound}, got {value}", parameter=name)
    return number


def _vector(values: npt.ArrayLike, name: str, length: int | None = None) -> FloatArray:
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, not {array.dtype}")
    array = array.astype(np.float64)
    if array.ndim != 1 or (length is not None and array.size != length):
        want = f"({length},)" if length is not None else "one dimension"
        raise ParameterError(f"{name} must have shape {want}, got {array.shape}", parameter=name)
    if not np.all(np.isfinite(array)):
        raise ParameterError(f"{name} has non-finite values", parameter=name)
    return array


def _matrix(x: npt.ArrayLike, n_features: int, name: str = "x") -> FloatArray:
    array = np.asarray(x)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, not {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim != 2 or array.shape[1] != n_features:
        raise ParameterError(
            f"{name} must have shape (rows, {n_features}), got {array.shape}", parameter=name
        )
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise ParameterError(
            f"{name} has NaN or infinite values in {rows.size} rows "
            f"(first: {rows[:5].tolist()}); impute or drop them first",
            parameter=name,
        )
    return array
