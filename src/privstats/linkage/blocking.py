"""LSH blocking on Bloom-filter encodings: candidate pairs without all-pairs comparison.

Bit sampling is the locality-sensitive hash family of the Hamming distance (Indyk and
Motwani 1998), used for CLKs by Karapiperis and Verykios (2015) and Durham (2012): a
*band* is ``bits`` positions drawn without replacement; two encodings agree on a band
when they agree on all its positions, with probability ``p^bits`` where ``p`` is the share
of positions on which they agree. A pair is a candidate when it agrees on at least one of
``bands`` bands, with probability ``1 - (1 - p^bits)^bands``: near 1 for true matches
(``p`` ≈ 0.9), near 0 for others (``p`` ≈ 0.6). Bands are joined by sorting their
signatures, so time and memory grow with the file sizes and the number of candidates,
not their product. A bucket with more than ``max_bucket`` pairs in one band is skipped in
that band (such agreement carries no information; the other bands still cover it).

The positions come from a permutation keyed by a seed the linker draws from
:mod:`secrets`; they need no secrecy (the linker sees the encodings anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from privstats.errors import ParameterError
from privstats.linkage.bloom import dice

__all__ = ["BlockingSpec", "Candidates", "band_bits", "candidate_pairs", "sample_positions"]

_CHUNK = 1 << 18


@dataclass(frozen=True)
class BlockingSpec:
    """How many bands of how many sampled bits."""

    bands: int = 256
    bits: int | None = None
    """Sampled bits per band; None: from the file sizes (:func:`band_bits`)."""
    max_bucket: int = 2_000
    min_score: float = 0.5
    """Pairs whose Dice is below this are dropped as they are found (memory)."""

    def __post_init__(self) -> None:
        if not 1 <= self.bands <= 1000 or not 1 <= (self.bits or 1) <= 64:
            raise ParameterError(
                f"blocking needs 1–1000 bands of 1–64 bits, got {self.bands} × {self.bits}",
                parameter="blocking",
            )


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs (left row, right row), each once, sorted; with what blocking skipped."""

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    skipped_buckets: int


def band_bits(n_left: int, n_right: int) -> int:
    """Bits per band for files of these sizes: 18 for two files of 5,000 (FEBRL 4 keeps
    98 % of its true pairs), one more for every 1.3-fold growth of ``n_left·n_right /
    (n_left + n_right)``, so that the chance pairs per band grow like the files, not
    like their product (pairs of people with common names and the same sex agree on ≈ 0.76 of the
    bits)."""
    ratio = n_left * n_right / max(n_left + n_right, 1) / 2_500
    return int(np.clip(round(18 + np.log(max(ratio, 1e-9)) / np.log(1 / 0.76)), 12, 40))


def sample_positions(
    length: int, spec: BlockingSpec, seed: bytes | None = None, bits: int | None = None
) -> npt.NDArray[np.intp]:
    """``spec.bands`` rows of ``bits`` (default ``spec.bits``, else 24) distinct positions
    below ``length``, each row the head of a permutation keyed by ``seed`` (drawn from
    :mod:`secrets` if None)."""
    bits = bits or spec.bits or 24
    if bits > length:
        raise ParameterError(f"a band of {bits} bits exceeds the {length}-bit encodings")
    seed = secrets.token_bytes(32) if seed is None else seed
    rows = []
    for band in range(spec.bands):
        tags = [
            hmac.digest(seed, band.to_bytes(4, "big") + i.to_bytes(4, "big"), hashlib.sha256)[:8]
            for i in range(length)
        ]
        rows.append(sorted(range(length), key=tags.__getitem__)[:bits])
    return np.array(rows, dtype=np.intp)


def _signatures(
    packed: npt.NDArray[np.uint8], positions: npt.NDArray[np.intp]
) -> npt.NDArray[np.uint64]:
    """Each row's bits at ``positions``, as one integer."""
    bits = (packed[:, positions >> 3] >> (7 - (positions & 7)).astype(np.uint8)) & 1
    weights = np.left_shift(np.uint64(1), np.arange(len(positions), dtype=np.uint64))
    out: npt.NDArray[np.uint64] = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return out


def _band_pairs(
    left: npt.NDArray[np.uint64], right: npt.NDArray[np.uint64], max_bucket: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Pairs agreeing on one band, as ``left_row * len(right) + right_row``."""
    order = np.argsort(right, kind="stable")
    ordered = right[order]
    low = np.searchsorted(ordered, left, side="left")
    high = np.searchsorted(ordered, left, side="right")
    sizes = high - low
    values, first, counts = np.unique(left, return_index=True, return_counts=True)
    bucket_pairs = counts * sizes[first]
    too_big = values[bucket_pairs > max_bucket]
    if too_big.size:
        sizes = np.where(np.isin(left, too_big), 0, sizes)
    total = int(sizes.sum())
    rows = np.repeat(np.arange(len(left), dtype=np.int64), sizes)
    starts = np.repeat(low - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    partners = order[np.arange(total, dtype=np.int64) + starts]
    return rows * len(right) + partners, int(too_big.size)


def _dice_at_least(
    left: npt.NDArray[np.uint8],
    right: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    floor: float,
) -> npt.NDArray[np.bool_]:
    keep = np.empty(len(rows), dtype=np.bool_)
    for start in range(0, len(rows), _CHUNK):
        stop = start + _CHUNK
        keep[start:stop] = dice(left[rows[start:stop]], right[cols[start:stop]]) >= floor
    return keep


def candidate_pairs(
    left: npt.NDArray[np.uint8],
    right: npt.NDArray[np.uint8],
    positions: npt.NDArray[np.intp],
    max_bucket: int = BlockingSpec.max_bucket,
    min_score: float = 0.0,
) -> Candidates:
    """Every pair of rows of ``left`` and ``right`` (packed encodings) that agrees on at
    least one band of ``positions`` and whose Dice is at least ``min_score``."""
    if left.shape[1] != right.shape[1]:
        raise ParameterError("the two files' encodings differ in length")
    found: list[npt.NDArray[np.int64]] = []
    skipped, pending, kept = 0, 0, len(left) + len(right)
    for band in positions:
        pairs, big = _band_pairs(_signatures(left, band), _signatures(right, band), max_bucket)
        if min_score > 0 and len(pairs):
            width = max(len(right), 1)
            pairs = pairs[_dice_at_least(left, right, pairs // width, pairs % width, min_score)]
        found.append(pairs)
        skipped += big
        pending += len(pairs)
        if pending > 2 * kept:  # merge duplicates now and then: memory stays near the result
            found = [np.unique(np.concatenate(found))]
            kept = pending = len(found[0])
    pairs = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    width = max(len(right), 1)
    return Candidates(pairs // width, pairs % width, skipped)
