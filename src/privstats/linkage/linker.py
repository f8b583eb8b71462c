"""The linker's work on encodings: Dice scores, a one-to-one assignment, a threshold.

Scores are Dice coefficients of the candidate pairs that blocking found. The assignment
is **greedy on descending score**: the best remaining pair above the threshold is
accepted and both its records leave the pool, which is a ½-approximation of the optimal
(maximum-weight) assignment and, on linkage data where true matches dominate their rows
and columns, almost always the same. The threshold is the user's, or the point where a
two-component Gaussian mixture fitted by EM gives equal odds to either component (the
matches' component is the one with the higher mean), fitted to the candidate pairs'
scores or to each record's best score (:func:`choose_threshold` says which).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.errors import ComputationError
from privstats.linkage.blocking import BlockingSpec, band_bits, candidate_pairs, sample_positions
from privstats.linkage.bloom import dice

__all__ = [
    "HISTOGRAM_BINS",
    "Linkage",
    "Mixture",
    "choose_threshold",
    "counts_by_label",
    "fit_mixture",
    "link",
    "one_to_one",
    "score_histogram",
    "scores",
]

HISTOGRAM_BINS = 100
_CHUNK = 1 << 18
_SD_FLOOR = 0.04
"""Least sd of a component: without it the exact matches (Dice 1) make a spike of their
own and the threshold lands just below 1."""


def scores(
    left: npt.NDArray[np.uint8],
    right: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Dice of each pair (``left[rows[i]]``, ``right[cols[i]]``), in chunks."""
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), _CHUNK):
        stop = start + _CHUNK
        out[start:stop] = dice(left[rows[start:stop]], right[cols[start:stop]])
    return out


def one_to_one(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    threshold: float,
) -> npt.NDArray[np.intp]:
    """Indices of the accepted pairs: greedy on descending score (ties by row, then column),
    each record in at most one pair, every accepted score ≥ ``threshold``."""
    keep = np.flatnonzero(score >= threshold)
    order = keep[np.lexsort((cols[keep], rows[keep], -score[keep]))]
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    accepted = []
    for index, r, c in zip(order.tolist(), rows[order].tolist(), cols[order].tolist(), strict=True):
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        accepted.append(index)
    return np.array(sorted(accepted), dtype=np.intp)


@dataclass(frozen=True)
class Mixture:
    """Two Gaussian components fitted to the scores: weight, mean and sd of the
    non-matches (``low``) and of the matches (``high``), and the equal-odds threshold."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]
    threshold: float


def _density(x: npt.NDArray[np.float64], mean: float, sd: float) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    return out


def fit_mixture(values: npt.NDArray[np.float64], iterations: int = 200) -> Mixture:
    """EM for a two-component Gaussian mixture on ``values``, started from their lower and
    upper quartiles; a ComputationError when the scores show no second component."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 10:
        raise ComputationError(
            f"only {len(x)} candidate pairs: too few to choose a threshold from the scores; "
            "give one (--threshold)"
        )
    w, m1, m2 = 0.5, float(np.quantile(x, 0.25)), float(np.quantile(x, 0.95))
    s1 = s2 = max(float(x.std()), _SD_FLOOR)
    for _ in range(iterations):
        d1 = (1 - w) * _density(x, m1, s1)
        d2 = w * _density(x, m2, s2)
        post = d2 / np.maximum(d1 + d2, 1e-300)
        w_new = float(post.mean())
        if not 1e-6 < w_new < 1 - 1e-6:
            break
        m1_new = float(np.average(x, weights=1 - post))
        m2_new = float(np.average(x, weights=post))
        s1 = max(float(np.sqrt(np.average((x - m1_new) ** 2, weights=1 - post))), _SD_FLOOR)
        s2 = max(float(np.sqrt(np.average((x - m2_new) ** 2, weights=post))), _SD_FLOOR)
        done = abs(m1_new - m1) + abs(m2_new - m2) + abs(w_new - w) < 1e-9
        w, m1, m2 = w_new, m1_new, m2_new
        if done:
            break
    if not 0 < w < 1 or m2 - m1 < 2 * min(s1, s2):
        raise ComputationError(
            "the candidate scores show no separate component of matches, so no threshold "
            "can be chosen from them; give one (--threshold)"
        )
    grid = np.linspace(m1, m2, 2001)
    odds = w * _density(grid, m2, s2) - (1 - w) * _density(grid, m1, s1)
    threshold = float(grid[int(np.argmax(odds >= 0))])
    return Mixture((1 - w, m1, s1), (w, m2, s2), threshold)


def _sample(values: npt.NDArray[np.float64], most: int = 1_000_000) -> npt.NDArray[np.float64]:
    return values if len(values) <= most else np.sort(values)[:: len(values) // most]


def choose_threshold(
    candidate_scores: npt.NDArray[np.float64], best_scores: npt.NDArray[np.float64]
) -> float:
    """The threshold from two mixtures: of every candidate pair's score and of each
    record's best score. The best scores' mixture separates matches from the best
    non-match of records without a partner (files with namesakes: the candidates' lower
    component then reaches far into the matches); but when nearly every record has a
    partner its lower component is made of matches with errors (FEBRL 4). It is used
    when its lower mean lies nearer the candidates' non-matches than the matches."""
    every = fit_mixture(_sample(candidate_scores))
    try:
        best = fit_mixture(_sample(best_scores))
    except ComputationError:
        return every.threshold
    if best.low[1] < (every.low[1] + best.high[1]) / 2:
        return best.threshold
    return every.threshold


@dataclass(frozen=True)
class Linkage:
    """What the linker found: the accepted pairs, the threshold and how it was chosen,
    every candidate's score, and each left record's best candidate score (records with a
    candidate only)."""

    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    candidate_scores: npt.NDArray[np.float64]
    threshold: float
    threshold_source: str
    skipped_buckets: int
    best_scores: npt.NDArray[np.float64]


def link(
    left: npt.NDArray[np.uint8],
    right: npt.NDArray[np.uint8],
    *,
    threshold: float | None = None,
    blocking: BlockingSpec = BlockingSpec(),
    seed: bytes | None = None,
) -> Linkage:
    """Block, score, choose the threshold (``threshold`` None: from the mixture), assign."""
    bits = blocking.bits or band_bits(len(left), len(right))
    positions = sample_positions(left.shape[1] * 8, blocking, seed, bits)
    found = candidate_pairs(left, right, positions, blocking.max_bucket, blocking.min_score)
    score = scores(left, right, found.left, found.right)
    best = np.full(len(left), -1.0)
    np.maximum.at(best, found.left, score)
    best = best[best >= 0]
    source = "given"
    if threshold is None:
        threshold, source = choose_threshold(score, best), "mixture"
    accepted = one_to_one(found.left, found.right, score, threshold)
    return Linkage(
        found.left[accepted],
        found.right[accepted],
        score[accepted],
        score,
        threshold,
        source,
        found.skipped_buckets,
        best,
    )


def counts_by_label(
    rows: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], n_labels: int
) -> list[int]:
    """Matched records per label of the left file (``labels[row]`` for every left row)."""
    return np.bincount(labels[rows], minlength=n_labels).astype(int).tolist()  # type: ignore[no-any-return]


def score_histogram(values: npt.NDArray[np.float64], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts of ``values`` in ``bins`` equal bins of [0, 1]."""
    counts, _ = np.histogram(np.clip(values, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return counts.astype(int).tolist()  # type: ignore[no-any-return]
