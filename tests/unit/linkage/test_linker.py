"""The linker's scores, one-to-one assignment and threshold."""

from __future__ import annotations

import numpy as np
import pytest

from privstats.errors import ComputationError
from privstats.linkage.bloom import EncodingSpec, FieldEncoding, encode_records, new_key
from privstats.linkage.linker import (
    choose_threshold,
    counts_by_label,
    fit_mixture,
    link,
    one_to_one,
    score_histogram,
)


def test_greedy_assignment_takes_the_best_pair_first_and_each_record_once() -> None:
    rows = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    cols = np.array([0, 1, 0, 1, 2], dtype=np.int64)
    score = np.array([0.95, 0.90, 0.97, 0.85, 0.70])
    accepted = one_to_one(rows, cols, score, threshold=0.8)
    # (1, 0) first, then (0, 1); (0, 0) and (1, 1) reuse a record; (2, 2) is below 0.8
    assert sorted(zip(rows[accepted].tolist(), cols[accepted].tolist(), strict=True)) == [
        (0, 1),
        (1, 0),
    ]


def test_mixture_threshold_lies_between_the_components() -> None:
    rng = np.random.default_rng(5)
    scores = np.concatenate([rng.normal(0.55, 0.06, 20_000), rng.normal(0.92, 0.04, 2_000)])
    mixture = fit_mixture(np.clip(scores, 0, 1))
    assert 0.50 < mixture.low[1] < 0.60 and 0.88 < mixture.high[1] < 0.96
    assert 0.70 < mixture.threshold < 0.85
    assert mixture.high[0] == pytest.approx(2_000 / 22_000, abs=0.01)


def test_one_component_gives_no_threshold_and_says_what_to_do() -> None:
    rng = np.random.default_rng(2)
    with pytest.raises(ComputationError, match="--threshold"):
        fit_mixture(rng.normal(0.5, 0.05, 5_000))
    with pytest.raises(ComputationError, match="--threshold"):
        fit_mixture(np.array([0.9, 0.8]))


def test_link_matches_identical_records_and_counts_by_label() -> None:
    people = [
        (f"name{i:03d}", f"family{i * 7 % 101:03d}", f"19{i % 90:02d}-01-01") for i in range(300)
    ]
    spec = EncodingSpec(tuple(FieldEncoding(f) for f in ("first", "last", "dob")))
    key = new_key()
    left = encode_records(people, key, spec)
    right = encode_records([*people[::2], ("zz", "yy", "2020-12-31")], key, spec)
    found = link(left, right, threshold=0.95)
    assert found.threshold_source == "given"
    assert sorted(zip(found.rows.tolist(), found.cols.tolist(), strict=True)) == [
        (2 * j, j) for j in range(150)
    ]
    labels = np.arange(300, dtype=np.int64) % 3
    assert counts_by_label(found.rows, labels, 3) == [50, 50, 50]
    assert sum(score_histogram(found.scores)) == 150
    assert score_histogram(found.scores)[-1] == 150  # Dice 1 lies in the last bin


def test_threshold_from_the_best_scores_only_when_their_lower_part_is_non_matches() -> None:
    rng = np.random.default_rng(9)
    non = np.clip(rng.normal(0.55, 0.05, 50_000), 0, 1)
    matches = np.clip(rng.normal(0.95, 0.03, 2_000), 0, 1)
    near = np.clip(rng.normal(0.84, 0.04, 1_000), 0, 1)  # matches with errors
    candidates = np.concatenate([non, matches, near])
    every = fit_mixture(candidates).threshold
    # every record has a partner: its best scores are all matches, the candidates decide
    assert choose_threshold(candidates, np.concatenate([matches, near])) == every
    # a third of the records have none: their best non-matches form the lower component
    lonely = np.clip(rng.normal(0.68, 0.04, 1_500), 0, 1)
    best = np.concatenate([matches, near, lonely])
    assert choose_threshold(candidates, best) == fit_mixture(best).threshold
    assert 0.72 < fit_mixture(best).threshold < 0.9
