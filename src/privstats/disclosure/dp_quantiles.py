"""Quantiles under DP: read from a noisy histogram over public bin edges.

A column's public bounds ``[low, high]`` are cut into ``bins`` equal bins; each party
counts its (clamped) values per group and bin (:func:`bin_index`), the counts are noised
like any contingency table (a ``histogram_query`` of ``dp_release``: one unit moves at
most ``c`` counts) and summed securely. Every quantile of that column, in every group,
is then post-processing of the noisy counts (:func:`histogram_quantile`): no extra
budget per quantile, and it works inside secure sums (no data-dependent comparison).

Accuracy (:func:`quantile_accuracy`): the answer is found by the noisy cumulative
counts, so it is off by at most one bin width plus the values whose ranks the noise
hides — the cumulative count at any edge carries the noise of at most ``bins`` counts,
bounded at 95 % by ``rank_error_95`` records (sub-Gaussian bound of the summed shares).
With ``n`` records in the group, the quantile q is between the true quantiles at
``q ± rank_error_95/n``, widened by a bin.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from privstats.disclosure.dp_noise import total_error_95
from privstats.disclosure.dp_release import NoisePlan

__all__ = ["bin_edges", "bin_index", "histogram_quantile", "quantile_accuracy"]


def bin_edges(bounds: tuple[float, float], bins: int) -> npt.NDArray[np.float64]:
    """The ``bins + 1`` public edges of equal bins over ``bounds``."""
    return np.linspace(bounds[0], bounds[1], bins + 1)


def bin_index(
    values: npt.ArrayLike, bounds: tuple[float, float], bins: int
) -> npt.NDArray[np.intp]:
    """Each value's bin (values are clamped to ``bounds`` first; NaN must be removed)."""
    clamped = np.clip(np.asarray(values, dtype=np.float64), bounds[0], bounds[1])
    width = (bounds[1] - bounds[0]) / bins
    index = np.floor((clamped - bounds[0]) / width).astype(np.intp)
    return np.clip(index, 0, bins - 1)


def histogram_quantile(
    noisy_counts: npt.ArrayLike, bounds: tuple[float, float], q: Fraction | float
) -> float | None:
    """The ``q`` quantile read from one group's noisy bin counts (post-processing).

    Negative noisy counts are taken as 0; the quantile is the point of the first bin where
    the cumulative count reaches ``q`` of the total, interpolated linearly inside that bin.
    None when the noisy total is below 1 (no records to speak of).
    """
    counts = np.maximum(np.asarray(noisy_counts, dtype=np.float64), 0.0)
    total = float(counts.sum())
    if total < 1:
        return None
    target = float(q) * total
    cumulative = np.cumsum(counts)
    j = int(np.searchsorted(cumulative, target, side="left"))
    j = min(j, len(counts) - 1)
    before = float(cumulative[j - 1]) if j else 0.0
    inside = (target - before) / counts[j] if counts[j] > 0 else 0.0
    width = (bounds[1] - bounds[0]) / len(counts)
    return float(bounds[0] + (j + min(max(inside, 0.0), 1.0)) * width)


def quantile_accuracy(plan: NoisePlan, bins: int, bounds: tuple[float, float]) -> dict[str, float]:
    """``bin_width`` and ``rank_error_95`` (records) of quantiles read from ``plan``'s
    histogram: the cumulative count at an edge sums at most ``bins`` noisy counts, each
    the sum of ``plan.parties`` shares of scale ``plan.party_sigma``."""
    rank = total_error_95(plan.party_sigma * math.sqrt(bins), plan.parties)
    return {"bin_width": (bounds[1] - bounds[0]) / bins, "rank_error_95": rank}
