"""LSH blocking: nearly every similar true pair becomes a candidate, few others do."""

from __future__ import annotations

import numpy as np
import pytest

from privstats.errors import ParameterError
from privstats.linkage.blocking import BlockingSpec, candidate_pairs, sample_positions
from privstats.linkage.bloom import EncodingSpec, FieldEncoding, dice, encode_records, new_key

FIELDS = ("first_name", "surname", "dob", "sex", "postcode")
LETTERS = "abcdefghijklmnoprstuvwz"


def _typo(rng: np.random.Generator, text: str) -> str:
    i = int(rng.integers(1, len(text) - 1))
    return text[:i] + LETTERS[int(rng.integers(len(LETTERS)))] + text[i + 1 :]


def people_with_errors(
    n: int, seed: int, error: float = 0.15
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[int]]:
    """``n`` people, the same people shuffled with typos, new postcodes and swapped days and
    months; ``truth[j]`` is the left row of right row ``j``."""
    rng = np.random.default_rng(seed)
    firsts = ["".join(rng.choice(list(LETTERS), 6)) for _ in range(max(n // 20, 5))]
    lasts = ["".join(rng.choice(list(LETTERS), 8)) for _ in range(max(n // 10, 5))]
    left = [
        (
            str(rng.choice(firsts)),
            str(rng.choice(lasts)),
            f"{rng.integers(1930, 2010)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
            str(rng.choice(["F", "M"])),
            str(rng.integers(1000, 9999)),
        )
        for _ in range(n)
    ]
    truth = rng.permutation(n).tolist()
    right = []
    for row in truth:
        first, last, dob, sex, postcode = left[row]
        if rng.random() < error:
            first = _typo(rng, first)
        if rng.random() < error:
            last = _typo(rng, last)
        if rng.random() < error / 3:
            y, m, d = dob.split("-")
            dob = f"{y}-{d}-{m}" if int(d) <= 12 else dob
        if rng.random() < error:
            postcode = str(rng.integers(1000, 9999))
        right.append((first, last, dob, sex, postcode))
    return left, right, truth


def test_blocking_finds_the_true_pairs_above_the_threshold_with_few_candidates() -> None:
    n = 4000
    left, right, truth = people_with_errors(n, seed=11)
    spec = EncodingSpec(tuple(FieldEncoding(f) for f in FIELDS))
    key = new_key()
    a, b = encode_records(left, key, spec), encode_records(right, key, spec)
    rows, cols = np.array(truth), np.arange(n)
    within = dice(a[rows], b[cols]) >= 0.8  # the true pairs a linker could accept
    assert within.mean() > 0.95
    found = candidate_pairs(a, b, sample_positions(spec.bits, BlockingSpec()))
    candidates = set((found.left * n + found.right).tolist())
    recall = np.mean(
        [r * n + c in candidates for r, c in zip(rows[within], cols[within], strict=True)]
    )
    assert recall >= 0.99
    assert len(found.left) < 10 * n  # near-linear: not the n² = 16 million pairs
    assert len(candidates) == len(found.left)  # each pair once


def test_positions_are_seeded_distinct_and_fresh_without_a_seed() -> None:
    spec = BlockingSpec(bands=4, bits=16)
    seed = bytes(32)
    first = sample_positions(512, spec, seed)
    assert first.shape == (4, 16)
    assert np.array_equal(first, sample_positions(512, spec, seed))
    assert all(len(set(band.tolist())) == 16 for band in first)
    assert not np.array_equal(sample_positions(512, spec), sample_positions(512, spec))
    with pytest.raises(ParameterError):
        BlockingSpec(bands=0)


def test_identical_encodings_always_collide() -> None:
    left, _, _ = people_with_errors(200, seed=3)
    encoded = encode_records(left, new_key(), EncodingSpec(tuple(FieldEncoding(f) for f in FIELDS)))
    found = candidate_pairs(encoded, encoded, sample_positions(1024, BlockingSpec(bands=4)))
    pairs = set(zip(found.left.tolist(), found.right.tolist(), strict=True))
    assert all((i, i) in pairs for i in range(200))
