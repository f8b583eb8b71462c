"""A Gaussian copula synthesizer that keeps point masses, bounds and missingness.

What it models. Every column gets a marginal distribution and a latent standard normal
variable; the latent variables are jointly normal with one correlation matrix, and a
synthetic record is a draw of the latent vector pushed through each marginal's inverse
distribution function (``x = F⁻¹(Φ(z))``). Marginals:

- numbers and dates: the empirical distribution of the observed values. The inverse
  interpolates between observed values, so a synthetic value always lies between the
  observed minimum and maximum (inside the schema's ``[low, high]``). A value that holds
  at least ``atom_share`` (1 %) of the non-missing records, and at least two of them, is a
  point mass (an atom): the whole interval of the distribution function it occupies maps
  back to exactly that value, so a variable that is 92 % zero stays about 92 % zero.
  Integers and dates are rounded.
- categories: in the schema's order, each category an interval of the distribution
  function of its observed share; the inverse picks the category whose interval holds
  ``Φ(z)``, so shares are kept and only observed categories appear.
- missing values: a column with missing values gets an extra binary latent variable, its
  missingness indicator, so that being missing can depend on the other columns. The
  indicator's correlation with its own column's value is not identifiable from the data
  (the missing values are not seen) and is set to zero, which keeps the observed values'
  distribution.

Estimation. Each variable is reduced to normal scores: a record scores the mean of the
standard normal over the interval of the distribution function its value occupies, so a
continuous variable scores ``≈ Φ⁻¹(rank / n)`` and every record of an atom (or category)
scores the same. Such scores understate the latent correlation when a variable has
atoms (a 92 %-zero variable keeps only about half of it). The latent correlation is
therefore solved from the scores' mean products: with Hermite coefficients ``a_k`` of
each score function, ``E[s_i s_j] = Σ_k ρ^k a_ik a_jk`` (Mehler's formula), exact for any
pair under the model (truncated at 60 terms). Pairs use the records where both values
are present. The matrix is made positive definite by clipping its eigenvalues (nearest
correlation matrix in that sense) before its Cholesky factor is used for sampling.

What it cannot do. A Gaussian copula captures monotone, pairwise dependence of one
strength over the whole range. It misses non-monotone relations (U-shapes, a variance
that grows with another variable), interactions (a relation between two variables that
differs across the categories of a third), tail dependence, and logical rules between
columns (an age below 16 with a spouse). Categorical variables take part in the order of
their categories in the schema, so the dependence of an unordered categorical variable is
kept only as far as that order makes it monotone. Check the synthetic data's utility on
the analyses it is for before it is released.

Disclosure. The synthesizer gives no formal privacy guarantee (:attr:`privacy` is
``None``): no noise is added and nothing bounds what a release reveals about one record.
Empirical marginals reproduce observed values: the exact minimum and maximum of every
numeric column appear whenever a latent draw falls in the outer half-record of the
distribution, atoms and integer values are released verbatim, and values between are
interpolations of neighbouring observed values. An outlier (the one very high income) is
thus published as it is, together with whatever the copula correlates with it, and rare
categories appear with their observed shares. Top-code or coarsen identifying and
extreme values before fitting, and run a disclosure-risk assessment on the sample. The
fitted synthesizer holds every distinct observed value of every column, so it is as
confidential as the data it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from privstats.crypto.random import SeededStream
from privstats.errors import ParameterError
from privstats.synth.base import Synthesizer
from privstats.synth.schema import ColumnSpec, Schema, from_numeric, to_numeric

__all__ = ["GaussianCopula"]

FloatArray = npt.NDArray[np.float64]

_TERMS: Final = 60
"""Hermite terms in the series relating score products to the latent correlation."""
_EIGEN_FLOOR: Final = 1e-6
"""Smallest eigenvalue kept in the correlation matrix (before rescaling to unit diagonal)."""
_FLAT: Final = 1e-12
"""A score variance below this is a constant variable: uncorrelated with every other."""
_SQRT_2PI: Final = float(np.sqrt(2.0 * np.pi))


def _density(z: FloatArray) -> FloatArray:
    """The standard normal density; 0 at ±∞."""
    out: FloatArray = np.exp(-0.5 * z * z) / _SQRT_2PI
    return out


def _quantile(u: FloatArray) -> FloatArray:
    """The standard normal quantile function Φ⁻¹ (±∞ at 0 and 1)."""
    return np.asarray(special.ndtri(u), dtype=np.float64)


def _cdf(z: FloatArray) -> FloatArray:
    """The standard normal distribution function Φ."""
    return np.asarray(special.ndtr(z), dtype=np.float64)


@dataclass(frozen=True)
class _Marginal:
    """One variable's distribution over distinct values, each an interval of the CDF.

    ``values[k]`` occupies ``[upper[k-1], upper[k])`` of the distribution function
    (``upper[-1] == 1``); categories with no records have empty intervals. An atom maps
    its whole interval back to its value; other values are interpolated between the
    knots ``(knot_u, knot_x)``.
    """

    values: FloatArray
    upper: FloatArray
    atom: npt.NDArray[np.bool_]
    knot_u: FloatArray
    knot_x: FloatArray
    last: int
    """The last value with records (where a draw at the very top of the CDF lands)."""
    coefficients: FloatArray
    """Normalised Hermite coefficients of the score function, terms 1 … _TERMS."""
    variance: float
    """Variance of the score under the model (Σ of the squared coefficients, all terms)."""

    @classmethod
    def of_counts(
        cls, values: FloatArray, counts: npt.NDArray[np.int64], atom_share: float, all_atoms: bool
    ) -> tuple[_Marginal, FloatArray]:
        """The marginal of ``values`` seen ``counts`` times, and each value's score."""
        total = int(counts.sum())
        upper = np.cumsum(counts, dtype=np.float64) / total
        upper[-1] = 1.0
        lower = np.concatenate([[0.0], upper[:-1]])
        width = counts / total
        if all_atoms:
            atom = np.ones(len(values), dtype=bool)
        else:
            atom = (width >= atom_share) & (counts >= 2)
        # Knots of the interpolated inverse: an atom's two interval ends, else the midpoint.
        first = np.where(atom, lower, (lower + upper) / 2)
        second = np.where(atom, upper, np.nan)
        knot_u = np.column_stack([first, second]).ravel()
        knot_x = np.repeat(values, 2)
        keep = ~np.isnan(knot_u)
        knot_u, knot_x = knot_u[keep], knot_x[keep]
        increasing = np.concatenate([[True], np.diff(knot_u) > 0])
        knot_u, knot_x = knot_u[increasing], knot_x[increasing]
        # Scores: the normal's mean over each value's interval (only values with records).
        seen = counts > 0
        z_low, z_high = _quantile(lower[seen]), _quantile(upper[seen])
        score_seen = (_density(z_low) - _density(z_high)) / width[seen]
        score = np.zeros(len(values))
        score[seen] = score_seen
        variance = float(np.sum(width[seen] * score_seen**2))
        coefficients = _hermite_coefficients(z_high[:-1], np.diff(score_seen))
        marginal = cls(
            values=values.astype(np.float64),
            upper=upper,
            atom=atom,
            knot_u=knot_u,
            knot_x=knot_x,
            last=int(np.flatnonzero(seen)[-1]),
            coefficients=coefficients,
            variance=variance,
        )
        return marginal, score

    @property
    def flat(self) -> bool:
        return self.variance < _FLAT

    def inverse(self, u: FloatArray) -> FloatArray:
        """The values at distribution-function levels ``u`` (atoms exact, others interpolated)."""
        index = np.minimum(np.searchsorted(self.upper, u, side="right"), self.last)
        out = self.values[index]
        free = ~self.atom[index]
        if free.any():
            out[free] = np.interp(u[free], self.knot_u, self.knot_x)
        return out


def _hermite_coefficients(boundaries: FloatArray, jumps: FloatArray) -> FloatArray:
    """``a_k = E[s(Z)·He_k(Z)] / √k!`` for k = 1 … _TERMS, of a step function ``s``.

    ``s`` jumps by ``jumps`` at the latent ``boundaries``; integrating by parts,
    ``a_k = Σ jump·φ(b)·h_{k−1}(b) / √k`` with the normalised Hermite polynomials
    ``h_m = He_m / √m!`` (computed by their stable three-term recurrence).
    """
    out = np.zeros(_TERMS)
    if not len(boundaries):
        return out
    weight = jumps * _density(boundaries)
    previous, current = np.zeros_like(boundaries), np.ones_like(boundaries)
    for k in range(1, _TERMS + 1):
        out[k - 1] = float(np.sum(weight * current)) / np.sqrt(k)
        # h_k = (x·h_{k−1} − √(k−1)·h_{k−2}) / √k
        previous, current = current, (boundaries * current - np.sqrt(k - 1) * previous) / np.sqrt(k)
    return out


def _solve_correlations(products: FloatArray, targets: FloatArray) -> FloatArray:
    """ρ with ``Σ_k ρ^k · products[:, k−1] = targets``, row by row, by bisection on [−1, 1].

    The series is increasing in ρ for increasing score functions (Price's theorem); a
    target beyond its range gives ±1, left to the positive-definite repair.
    """
    powers = np.arange(1, products.shape[1] + 1)
    low, high = -np.ones(len(targets)), np.ones(len(targets))
    for _ in range(48):
        middle = (low + high) / 2
        value = np.sum(products * middle[:, None] ** powers, axis=1)
        below = value < targets
        low = np.where(below, middle, low)
        high = np.where(below, high, middle)
    out: FloatArray = (low + high) / 2
    return out


def _nearest_correlation(matrix: FloatArray) -> FloatArray:
    """A positive-definite correlation matrix near ``matrix`` (eigenvalues clipped)."""
    symmetric = (matrix + matrix.T) / 2
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    if eigenvalues.min() >= _EIGEN_FLOOR:
        out: FloatArray = symmetric
    else:
        clipped = (vectors * np.maximum(eigenvalues, _EIGEN_FLOOR)) @ vectors.T
        scale = 1.0 / np.sqrt(np.diag(clipped))
        out = clipped * scale[:, None] * scale[None, :]
    np.fill_diagonal(out, 1.0)
    return out


@dataclass(frozen=True)
class _Column:
    """How one schema column is drawn: its value's latent index and its indicator's."""

    spec: ColumnSpec
    value: _Marginal | None
    """None: the column had no present values and is drawn all missing."""
    latent: int
    indicator: _Marginal | None = None
    indicator_latent: int = -1


class GaussianCopula(Synthesizer):
    """Gaussian copula over empirical marginals with atoms and missingness indicators.

    ``atom_share``: the least share of the non-missing records (0 < share ≤ 1) a single
    value must hold to be kept as a point mass; see the module documentation for the
    model, its limits and its disclosure properties.
    """

    method = "copula"

    def __init__(self, *, atom_share: float = 0.01) -> None:
        super().__init__()
        if isinstance(atom_share, bool) or not 0.0 < float(atom_share) <= 1.0:
            raise ParameterError(
                f"atom_share must be a share in (0, 1], got {atom_share!r}",
                parameter="atom_share",
            )
        self.atom_share = float(atom_share)
        self._columns: list[_Column] = []
        self._labels: list[str] = []
        self._correlation: FloatArray | None = None
        self._cholesky: FloatArray | None = None

    @property
    def correlation(self) -> pd.DataFrame:
        """The fitted latent correlation matrix (values, then ``name (missing)`` indicators)."""
        if self._correlation is None:
            raise ParameterError("the copula synthesizer is not fitted; call fit first")
        return pd.DataFrame(self._correlation, index=self._labels, columns=self._labels)

    def _fit(self, table: pd.DataFrame, schema: Schema) -> None:
        rows = len(table)
        columns: list[_Column] = []
        labels: list[str] = []
        scores: list[FloatArray] = []
        marginals: list[_Marginal | None] = []
        gaps: list[npt.NDArray[np.bool_]] = []
        for spec in schema:
            marginal, score, missing = self._marginal(to_numeric(table[spec.name], spec), spec)
            columns.append(_Column(spec, marginal, latent=len(labels)))
            labels.append(spec.name)
            scores.append(score)
            marginals.append(marginal)
            gaps.append(missing)
        for position, (spec, missing) in enumerate(zip(schema, gaps, strict=True)):
            absent = int(missing.sum())
            if not 0 < absent < rows:
                continue
            indicator, by_value = _Marginal.of_counts(
                np.array([0.0, 1.0]),
                np.array([rows - absent, absent], dtype=np.int64),
                self.atom_share,
                all_atoms=True,
            )
            columns[position] = _Column(
                spec,
                columns[position].value,
                latent=position,
                indicator=indicator,
                indicator_latent=len(labels),
            )
            labels.append(f"{spec.name} (missing)")
            scores.append(by_value[missing.astype(np.int64)])
            marginals.append(indicator)
        correlation = self._estimate(scores, marginals, columns)
        self._columns = columns
        self._labels = labels
        self._correlation = correlation
        self._cholesky = np.linalg.cholesky(correlation).astype(np.float64)

    def _marginal(
        self, numbers: npt.NDArray[Any], spec: ColumnSpec
    ) -> tuple[_Marginal | None, FloatArray, npt.NDArray[np.bool_]]:
        """A column's marginal (None if all missing), its records' scores, where it is missing."""
        categorical = spec.kind == "categorical"
        missing = np.asarray(numbers < 0 if categorical else np.isnan(numbers), dtype=bool)
        score = np.full(len(numbers), np.nan)
        if missing.all():
            return None, score, missing
        present = numbers[~missing]
        if categorical:
            codes = present.astype(np.int64)
            counts = np.bincount(codes, minlength=len(spec.categories)).astype(np.int64)
            values = np.arange(len(counts), dtype=np.float64)
        else:
            values, codes, counts = np.unique(present, return_inverse=True, return_counts=True)
        marginal, by_value = _Marginal.of_counts(
            values, counts.astype(np.int64), self.atom_share, all_atoms=categorical
        )
        score[~missing] = by_value[codes]
        return marginal, score, missing

    @staticmethod
    def _estimate(
        scores: list[FloatArray], marginals: list[_Marginal | None], columns: list[_Column]
    ) -> FloatArray:
        """The latent correlation matrix from the records' normal scores."""
        size = len(scores)
        correlation = np.eye(size)
        usable = [
            index
            for index, marginal in enumerate(marginals)
            if marginal is not None and not marginal.flat
        ]
        if len(usable) < 2:
            return correlation
        matrix = np.column_stack([scores[index] for index in usable])
        present = ~np.isnan(matrix)
        filled = np.where(present, matrix, 0.0)
        weight = present.astype(np.float64)
        # einsum, not BLAS: a threaded BLAS stalls on tall, thin products on a busy machine.
        together = np.einsum("ni,nj->ij", weight, weight)
        mean_products = np.einsum("ni,nj->ij", filled, filled) / np.maximum(together, 1.0)
        first, second = np.triu_indices(len(usable), k=1)
        coefficients = np.vstack(
            [marginals[index].coefficients for index in usable]  # type: ignore[union-attr]
        )
        rho = _solve_correlations(
            coefficients[first] * coefficients[second], mean_products[first, second]
        )
        rho[together[first, second] < 2] = 0.0
        latent = np.asarray(usable)
        correlation[latent[first], latent[second]] = rho
        correlation[latent[second], latent[first]] = rho
        # A value and its own missingness: not identifiable, taken as independent.
        for column in columns:
            if column.indicator is not None:
                correlation[column.latent, column.indicator_latent] = 0.0
                correlation[column.indicator_latent, column.latent] = 0.0
        return _nearest_correlation(np.clip(correlation, -1.0, 1.0))

    def _sample(self, n: int, stream: SeededStream) -> pd.DataFrame:
        assert self._cholesky is not None
        size = self._cholesky.shape[0]
        normal = stream.normal(n * size).reshape(n, size)
        latent = np.einsum("nk,jk->nj", normal, self._cholesky)
        levels = _cdf(latent)
        out: dict[str, pd.Series] = {}
        for column in self._columns:
            out[column.spec.name] = from_numeric(self._draw(column, levels), column.spec)
        return pd.DataFrame(out)

    @staticmethod
    def _draw(column: _Column, levels: FloatArray) -> npt.NDArray[Any]:
        """One column's values (codes for categories) at the latent levels; missing marked."""
        spec, rows = column.spec, len(levels)
        categorical = spec.kind == "categorical"
        if column.value is None:
            return np.full(rows, -1) if categorical else np.full(rows, np.nan)
        values = column.value.inverse(levels[:, column.latent])
        if categorical:
            drawn: npt.NDArray[Any] = values.astype(np.int64)
        else:
            low = -np.inf if spec.low is None else spec.low
            high = np.inf if spec.high is None else spec.high
            if spec.kind in ("integer", "date"):
                values, low, high = np.round(values), np.ceil(low), np.floor(high)
            drawn = np.clip(values, low, high)
        if column.indicator is not None:
            missing = column.indicator.inverse(levels[:, column.indicator_latent]) == 1.0
            drawn[missing] = -1 if categorical else np.nan
        return drawn
