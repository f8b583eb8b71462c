"""MST's public discretisation: how each column's values map to the cells of its marginals.

The rule depends only on what is public (the schema's categories and missingness, the
user's bounds), never on the confidential values, so the cells cost no privacy budget. A
categorical column has one cell per category; a numeric column one cell for each of its
public bounds, exactly, and ``bins`` equal-width bins strictly between them (an integer or
date column with at most ``bins + 2`` whole numbers in its bounds gets one cell per value);
every column one more cell for missing values (whether a column has any is not assumed
public: MST keeps the cell only when its noisy count is large enough). Values outside the
bounds are clamped onto them. See step 1 of :mod:`privstats.synth.mst` for why the bounds are
cells of their own.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from privstats.crypto.random import SeededStream
from privstats.errors import DatasetError, ParameterError
from privstats.synth.schema import ColumnSpec, from_numeric, to_numeric

__all__ = ["Bound", "Coding", "as_number", "bound_text", "column_coding"]

Bound = float | str | _dt.date
"""A public bound: a number, or for a date column also a date (or ISO text)."""

IntArray = npt.NDArray[np.int64]

_EPOCH = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class Coding:
    """How one column maps to cells: ``values`` value cells, then maybe a missing cell.

    Numeric value cells: continuous columns with ``high > low`` have the cell of ``low``,
    ``values − 2`` equal-width bins of ``(low, high)`` and the cell of ``high``; integer
    and date columns have a cell per whole number ``starts[k]`` up to the next start
    (``starts`` begins with ``low`` alone and ends with ``high`` alone when bins are used).
    """

    spec: ColumnSpec
    values: int
    missing: bool
    low: float = 0.0
    high: float = 0.0
    starts: tuple[float, ...] = ()  # integer/date: first whole number of each bin
    kept: tuple[int, ...] | None = None  # categorical: the schema's categories kept (None: all)

    @property
    def cells(self) -> int:
        return self.values + int(self.missing)

    def encode(self, column: pd.Series) -> IntArray:
        spec = self.spec
        numbers = to_numeric(column, spec, "the table to fit")
        absent = numbers < 0 if spec.kind == "categorical" else np.isnan(numbers)
        if absent.any() and not self.missing:
            raise DatasetError(
                f"column {spec.name!r} has missing values but its schema says it has none",
                column=spec.name,
            )
        if spec.kind == "categorical":
            codes = numbers.astype(np.int64)
            if self.kept is not None:  # a category not kept is counted as missing
                cells = np.full(max(len(spec.categories), 1), self.values, dtype=np.int64)
                cells[list(self.kept)] = np.arange(self.values)
                codes = cells[np.maximum(codes, 0)]
        elif spec.kind == "continuous":
            clean = np.clip(np.where(absent, self.low, numbers), self.low, self.high)
            codes = np.zeros(len(clean), dtype=np.int64)
            if self.values > 1:
                inner = self.values - 2
                raw = np.floor((clean - self.low) / ((self.high - self.low) / inner))
                codes = 1 + np.clip(raw, 0, inner - 1).astype(np.int64)
                codes[clean <= self.low] = 0
                codes[clean >= self.high] = self.values - 1
        else:
            clean = np.where(absent, self.low, numbers)
            codes = np.searchsorted(np.asarray(self.starts), clean, side="right") - 1
            codes = np.clip(codes, 0, self.values - 1).astype(np.int64)
        out: IntArray = np.where(absent, self.values, codes).astype(np.int64)
        return out

    def keeping(self, kept: tuple[int, ...]) -> Coding:
        """This categorical coding with only the schema's categories ``kept`` (by index).

        For category lists that are not public: the categories whose counts passed a noisy
        threshold. Records of the others are counted in the missing cell.
        """
        return replace(self, values=len(kept), kept=tuple(kept))

    def without_missing(self, codes: IntArray) -> tuple[Coding, IntArray]:
        """This coding without its missing cell, and ``codes`` with missing as cell 0.

        For a missing cell whose noisy count says missing values are too rare to release:
        the few records with one are counted in the first value cell from then on (a
        choice made from noisy counts, so post-processing), and samples have none.
        """
        if not self.missing or self.values < 1:
            return self, codes
        folded: IntArray = np.where(codes == self.values, 0, codes).astype(np.int64)
        return replace(self, missing=False), folded

    def decode(self, codes: IntArray, stream: SeededStream) -> pd.Series:
        spec = self.spec
        absent = codes >= self.values
        if spec.kind == "categorical":
            if self.kept is not None:
                kept = np.asarray((*self.kept, -1), dtype=np.int64)
                codes = kept[np.where(absent, self.values, codes)]
            return from_numeric(np.where(absent, -1, codes), spec)
        bins = np.minimum(codes, self.values - 1)
        u = stream.uniform(len(codes))
        if spec.kind == "continuous":
            inner = max(self.values - 2, 1)
            width = (self.high - self.low) / inner
            numbers = np.clip(self.low + (bins - 1 + u) * width, self.low, self.high)
            numbers[bins == 0] = self.low
            numbers[bins == self.values - 1] = self.high
        else:
            starts = np.asarray(self.starts)
            ends = np.append(starts[1:], self.high + 1.0)  # one past each bin's last number
            first, count = starts[bins], ends[bins] - starts[bins]
            numbers = np.minimum(first + np.floor(u * count), ends[bins] - 1.0)
        return from_numeric(np.where(absent, np.nan, numbers), spec)


def as_number(value: Bound, spec: ColumnSpec) -> float:
    if isinstance(value, bool):
        raise ParameterError(f"bounds of {spec.name!r} must be numbers", parameter="bounds")
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif spec.kind == "date":
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ParameterError(
                f"bound {value!r} of date column {spec.name!r} is not a date", parameter="bounds"
            ) from exc
        number = float((stamp.normalize() - _EPOCH).days)
    else:
        raise ParameterError(
            f"bounds of {spec.name!r} must be numbers, got {value!r}", parameter="bounds"
        )
    if not math.isfinite(number):
        raise ParameterError(f"bounds of {spec.name!r} must be finite", parameter="bounds")
    return number


def bound_text(value: float, spec: ColumnSpec) -> float | str:
    """A bound as the report shows it: a number, or for a date column an ISO date."""
    if spec.kind == "date":
        return str((_EPOCH + pd.Timedelta(days=value)).date())
    return value


def column_coding(
    spec: ColumnSpec, bounds: tuple[float, float] | None, bins: int, *, missing: bool | None = None
) -> Coding:
    """The cells of ``spec``; a missing cell if ``missing`` (default: if the schema has any).

    MST gives every column a missing cell (``missing=True``), whatever the data hold, and
    keeps it only if its noisy count is large enough (:meth:`Coding.without_missing`).
    """
    missing = spec.missing > 0 if missing is None else missing
    if spec.kind == "categorical":
        return Coding(spec, len(spec.categories), missing)
    low, high = bounds if bounds is not None else (0.0, 0.0)
    if spec.kind == "continuous":
        return Coding(spec, bins + 2 if high > low else 1, missing, low, high)
    first, last = math.ceil(low), math.floor(high)
    if last < first:
        raise ParameterError(
            f"the bounds ({low}, {high}) of {spec.name!r} contain no whole number",
            parameter="bounds",
        )
    span = last - first + 1
    if span <= bins + 2:
        starts = tuple(float(first + k) for k in range(span))
    else:  # the low bound alone, bins equal-width bins between, the high bound alone
        inner = span - 2
        between = (math.ceil(first + 1 + b * inner / bins) for b in range(bins))
        starts = (float(first), *map(float, between), float(last))
    return Coding(spec, len(starts), missing, float(first), float(last), starts)
