"""Tests of the activity-recognition demo: reproducible, non-IID and learnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from privstats.data.activity_demo import (
    ACTIVITIES,
    ActivityDemo,
    make_activity_benchmark,
    make_activity_demo,
)
from privstats.data.sensors import FeatureTable, read_feature_table
from privstats.errors import ParameterError


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ActivityDemo:
    return make_activity_demo(tmp_path_factory.mktemp("activity"))


def read(demo: ActivityDemo, path: Path) -> FeatureTable:
    return read_feature_table(path, label=demo.label, subject=demo.subject)


def softmax_regression(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.str_], classes: tuple[str, ...]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Multinomial logistic regression on standardised features by full-batch gradient descent."""
    centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-12
    z = (x - centre) / scale
    onehot = (y[:, None] == np.array(classes)[None, :]).astype(float)
    weights = np.zeros((z.shape[1] + 1, len(classes)))
    z1 = np.column_stack([z, np.ones(len(z))])
    for _ in range(400):
        logits = z1 @ weights
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        weights -= 0.5 * (z1.T @ (p - onehot) / len(z1) + 1e-3 * weights)
    return centre, scale, weights


def predict(
    model: tuple[npt.NDArray[np.float64], ...], x: npt.NDArray[np.float64], classes: tuple[str, ...]
) -> npt.NDArray[np.str_]:
    centre, scale, weights = model
    z1 = np.column_stack([(x - centre) / scale, np.ones(len(x))])
    return np.array(classes)[np.argmax(z1 @ weights, axis=1)]


def test_demo_files_have_the_promised_shape(demo: ActivityDemo) -> None:
    tables = {office: read(demo, path) for office, path in demo.offices.items()}
    test = read(demo, demo.test)

    assert list(tables) == ["office_a", "office_b", "office_c"]
    assert all(table.rows == 8 * 90 for table in tables.values())
    assert test.classes == tuple(sorted(ACTIVITIES))
    assert test.rows == 3 * 2 * 6 * 15  # offices × test subjects × activities × windows
    assert test.feature_names == demo.feature_names and len(demo.feature_names) == 70
    subjects = [
        set(table.subjects.tolist())
        for table in [*tables.values(), test]
        if table.subjects is not None
    ]
    assert sum(len(s) for s in subjects) == len(set().union(*subjects)) == 30  # disjoint


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = make_activity_demo(tmp_path / "a", offices=2, subjects_per_office=2, seed=7)
    again = make_activity_demo(tmp_path / "b", offices=2, subjects_per_office=2, seed=7)
    other = make_activity_demo(tmp_path / "c", offices=2, subjects_per_office=2, seed=8)

    for office in first.offices:
        assert first.offices[office].read_bytes() == again.offices[office].read_bytes()
        assert first.offices[office].read_bytes() != other.offices[office].read_bytes()
    assert first.test.read_bytes() == again.test.read_bytes()


def test_offices_have_different_activity_mixes(demo: ActivityDemo) -> None:
    shares = []
    for path in demo.offices.values():
        labels = read(demo, path).y
        shares.append(np.array([(labels == a).mean() for a in sorted(ACTIVITIES)]))

    # total variation distance between every pair of offices' label distributions
    distances = [0.5 * np.abs(a - b).sum() for i, a in enumerate(shares) for b in shares[i + 1 :]]
    assert min(distances) > 0.2
    planted = [np.array([m[a] for a in sorted(ACTIVITIES)]) for m in demo.mixes.values()]
    for observed, mix in zip(shares, planted, strict=True):
        assert np.abs(observed - mix).max() < 0.08


def test_pooled_model_learns_and_beats_single_offices(demo: ActivityDemo) -> None:
    tables = [read(demo, path) for path in demo.offices.values()]
    test = read(demo, demo.test)
    x = np.concatenate([table.X for table in tables])
    y = np.concatenate([table.y for table in tables])

    pooled = np.mean(
        predict(softmax_regression(x, y, test.classes), test.X, test.classes) == test.y
    )
    single = [
        np.mean(predict(softmax_regression(t.X, t.y, test.classes), test.X, test.classes) == test.y)
        for t in tables
    ]

    assert 0.85 <= pooled <= 0.97  # learnable, chance is 1/6, but not trivial
    assert pooled > max(single)
    confused = predict(softmax_regression(x, y, test.classes), test.X, test.classes)
    static = test.y == "sitting"
    assert np.mean(confused[static] == "standing") > 0.03  # the confusable pair


def test_demo_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="offices must be between 1 and 26"):
        make_activity_demo(tmp_path, offices=0)
    with pytest.raises(TypeError, match="windows_per_subject must be an int"):
        make_activity_demo(tmp_path, windows_per_subject=2.5)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> ActivityDemo:
    return make_activity_benchmark(tmp_path_factory.mktemp("benchmark"))


def _respondent_spread(demo: ActivityDemo, activity: str, feature: str) -> float:
    """Between-respondent standard deviation of one feature's mean in one activity."""
    tables = [read(demo, path) for path in [*demo.offices.values(), demo.test]]
    j = demo.feature_names.index(feature)
    means = [
        table.X[(table.subjects == s) & (table.y == activity), j].mean()
        for table in tables
        if table.subjects is not None
        for s in np.unique(table.subjects[table.y == activity])
    ]
    return float(np.std(means))


def _mean_distance(demo: ActivityDemo) -> float:
    shares = []
    for path in demo.offices.values():
        labels = read(demo, path).y
        shares.append(np.array([(labels == a).mean() for a in sorted(ACTIVITIES)]))
    pairs = [0.5 * np.abs(a - b).sum() for i, a in enumerate(shares) for b in shares[i + 1 :]]
    return float(np.mean(pairs))


def test_the_benchmark_is_split_by_respondent_into_unequal_offices(
    benchmark: ActivityDemo,
) -> None:
    tables = {office: read(benchmark, path) for office, path in benchmark.offices.items()}
    respondents = [len(np.unique(t.subjects)) for t in tables.values() if t.subjects is not None]
    assert respondents == [4, 7, 12, 20]
    assert [t.rows for t in tables.values()] == [60 * n for n in respondents]
    test = read(benchmark, benchmark.test)
    assert test.rows == 4 * 3 * 6 * 10  # offices × test respondents × activities × windows
    everyone = [
        set(t.subjects.tolist()) for t in [*tables.values(), test] if t.subjects is not None
    ]
    assert sum(len(s) for s in everyone) == len(set().union(*everyone))  # disjoint


def test_the_benchmark_is_more_non_iid_than_the_demo(
    demo: ActivityDemo, benchmark: ActivityDemo
) -> None:
    # offices' activity mixes differ more
    assert _mean_distance(benchmark) > _mean_distance(demo) + 0.1
    # respondents differ more: posture and sensor orientation move the gravity direction
    for activity in ("sitting", "standing", "lying"):
        strong = _respondent_spread(benchmark, activity, "acc_x_mean")
        moderate = _respondent_spread(demo, activity, "acc_x_mean")
        assert strong > 1.5 * moderate, activity


def test_one_size_per_office_must_match_the_offices(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="3 sizes for 2 offices"):
        make_activity_demo(tmp_path, offices=2, subjects_per_office=(2, 3, 4))
    with pytest.raises(TypeError, match="Heterogeneity"):
        make_activity_demo(tmp_path, heterogeneity="strong")  # type: ignore[arg-type]
