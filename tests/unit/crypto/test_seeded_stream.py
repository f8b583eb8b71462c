"""The seeded ChaCha20 stream: reproducible from its seed, and distributed as it says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare, kstest

from privstats.crypto.random import SeededStream
from privstats.errors import ParameterError


def test_equal_seeds_replay_the_stream_and_other_seeds_or_purposes_do_not() -> None:
    a, b = SeededStream(42), SeededStream(42)
    assert np.array_equal(a.uniform(100), b.uniform(100))
    assert np.array_equal(a.normal(7), b.normal(7))
    assert not np.array_equal(SeededStream(43).uniform(100), SeededStream(42).uniform(100))
    assert not np.array_equal(SeededStream(42, "x").uniform(9), SeededStream(42).uniform(9))
    first = SeededStream(1)
    assert not np.array_equal(first.uniform(50), first.uniform(50))  # calls continue


def test_the_draws_follow_their_distributions() -> None:
    stream = SeededStream(2026)
    assert kstest(stream.uniform(20_000), "uniform").pvalue > 1e-4
    assert kstest(stream.normal(20_001), "norm").pvalue > 1e-4
    counts = np.bincount(stream.integers(7, 70_000), minlength=7)
    assert chisquare(counts).pvalue > 1e-4
    weights = np.array([1.0, 0.0, 3.0, 6.0])
    drawn = np.bincount(stream.choice(weights, 50_000), minlength=4)
    assert drawn[1] == 0
    assert chisquare(drawn[[0, 2, 3]], 50_000 * weights[[0, 2, 3]] / 10).pvalue > 1e-4
    rows = stream.choice_rows(np.tile([0.2, 0.8], (40_000, 1)))
    assert abs(rows.mean() - 0.8) < 0.01
    assert sorted(stream.permutation(10).tolist()) == list(range(10))


@pytest.mark.parametrize("seed", [-1, 1.5, True, 2**256])
def test_a_seed_must_be_a_non_negative_integer(seed: object) -> None:
    with pytest.raises(ParameterError, match="seed"):
        SeededStream(seed)  # type: ignore[arg-type]
