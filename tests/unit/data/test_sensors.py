"""Tests of sensor feature tables and windowing: shapes, known answers and error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privstats.data.readers import write_csv
from privstats.data.sensors import (
    feature_names,
    read_feature_table,
    read_sensor_stream,
    window_features,
)
from privstats.errors import DatasetError, ParameterError

HZ = 50.0


def tri_axial(n: int, *, gyro: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    keys = ["acc_x", "acc_y", "acc_z"] + (["gyro_x", "gyro_y", "gyro_z"] if gyro else [])
    return {key: rng.normal(size=n) for key in keys}


def column(features: np.ndarray, names: list[str], name: str) -> np.ndarray:
    return features[:, names.index(name)]


# --------------------------------------------------------------------------- windowing


@pytest.mark.parametrize(
    ("samples", "overlap", "windows"),
    [(128, 0.5, 1), (127, 0.5, 0), (192, 0.5, 2), (1000, 0.5, 14), (1000, 0.0, 7)],
)
def test_window_count_follows_length_and_step(samples: int, overlap: float, windows: int) -> None:
    # 2.56 s at 50 Hz = 128 samples; 50 % overlap = a new window every 64 samples
    features, names = window_features(tri_axial(samples), HZ, overlap=overlap)

    assert features.shape == (windows, len(names))
    assert features.dtype == np.float64


def test_feature_names_cover_each_axis_and_signal() -> None:
    _, acc_only = window_features(tri_axial(300), HZ)
    _, both = window_features(tri_axial(300, gyro=True), HZ)

    assert len(acc_only) == 3 * 10 + 5
    assert both == feature_names(["acc", "gyro"]) and len(both) == 70
    assert {"acc_x_domfreq", "acc_mag_std", "acc_corr_yz", "gyro_z_spectral"} <= set(both)


def test_pure_sine_gives_its_frequency_amplitude_and_energy() -> None:
    frequency = 5 * HZ / 128  # on an FFT bin of a 128-sample window
    t = np.arange(640) / HZ
    stream = {
        "acc_x": 0.5 * np.sin(2 * np.pi * frequency * t),
        "acc_y": np.full(t.size, 0.3),
        "acc_z": np.sin(2 * np.pi * 1.3 * t),  # off-bin: nearest bin wins
    }

    features, names = window_features(stream, HZ)

    assert np.allclose(column(features, names, "acc_x_domfreq"), frequency)
    assert np.all(np.abs(column(features, names, "acc_z_domfreq") - 1.3) <= HZ / 128 / 2)
    assert np.allclose(column(features, names, "acc_x_spectral"), 0.5**2 / 4, rtol=1e-9)
    assert np.allclose(column(features, names, "acc_x_energy"), 0.5**2 / 2, rtol=1e-9)
    assert np.allclose(column(features, names, "acc_x_max"), 0.5, atol=1e-3)


def test_constant_axis_has_its_mean_and_no_spread() -> None:
    stream = tri_axial(256)
    stream["acc_y"] = np.full(256, -0.98)

    features, names = window_features(stream, HZ)

    for stat, expected in [("mean", -0.98), ("std", 0.0), ("q50", -0.98), ("domfreq", 0.0)]:
        assert np.allclose(column(features, names, f"acc_y_{stat}"), expected)
    assert np.all(column(features, names, "acc_corr_xy") == 0.0)
    assert np.all(column(features, names, "acc_y_spectral") == 0.0)


def test_correlations_and_magnitude_match_numpy() -> None:
    stream = tri_axial(128)
    stream["acc_z"] = 2 * stream["acc_x"] + 0.1 * stream["acc_y"]

    features, names = window_features(stream, HZ)

    expected = np.corrcoef(stream["acc_x"], stream["acc_z"])[0, 1]
    assert column(features, names, "acc_corr_xz")[0] == pytest.approx(expected)
    magnitude = np.sqrt(sum(stream[k] ** 2 for k in ("acc_x", "acc_y", "acc_z")))
    assert column(features, names, "acc_mag_mean")[0] == pytest.approx(magnitude.mean())
    assert column(features, names, "acc_x_q75")[0] == pytest.approx(
        np.quantile(stream["acc_x"], 0.75)
    )


@pytest.mark.parametrize(
    ("change", "kwargs", "fragment"),
    [
        ({"acc_z": None}, {}, "lacks acc_z"),
        ({"gyro_x": np.zeros(200)}, {}, "all three axes of 'gyro'"),
        ({"acc_y": np.zeros(10)}, {}, "has 10 samples"),
        ({"acc_x": np.full(200, np.nan)}, {}, "must be finite"),
        ({}, {"overlap": 1.0}, "overlap"),
        ({}, {"window_seconds": 0.01}, "at least 4"),
    ],
)
def test_window_features_rejects_bad_streams(
    change: dict[str, np.ndarray | None], kwargs: dict[str, float], fragment: str
) -> None:
    stream = tri_axial(200)
    for key, value in change.items():
        if value is None:
            del stream[key]
        else:
            stream[key] = value

    with pytest.raises(ParameterError, match=fragment):
        window_features(stream, HZ, **kwargs)


# --------------------------------------------------------------------------- feature tables


def test_read_feature_table_defaults_to_every_other_column(tmp_path: Path) -> None:
    path = tmp_path / "features.csv"
    write_csv(
        path,
        {
            "subject": ["s1", "s1", "s2"],
            "f1": ["1.5", "2", "-3e-2"],
            "activity": ["walking", "lying", "walking"],
            "f2": ["0", "1", "2"],
        },
    )

    table = read_feature_table(path, label="activity", subject="subject")

    assert table.feature_names == ("f1", "f2")
    assert table.X.dtype == np.float64 and table.X.shape == (3, 2)
    assert table.X[:, 0].tolist() == [1.5, 2.0, -0.03]
    assert table.y.tolist() == ["walking", "lying", "walking"]
    assert table.subjects is not None and table.subjects.tolist() == ["s1", "s1", "s2"]
    assert table.classes == ("lying", "walking")
    assert table.rows == 3


def test_read_feature_table_reads_parquet_and_chosen_features(tmp_path: Path) -> None:
    path = tmp_path / "features.parquet"
    pq.write_table(pa.table({"y": ["a", "b"], "f1": [1.0, 2.0], "f2": [3, 4]}), path)

    table = read_feature_table(path, label="y", features=["f2"])

    assert table.X.tolist() == [[3.0], [4.0]]
    assert table.subjects is None


def test_missing_feature_values_name_file_column_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "features.csv"
    values = ["1"] * 10
    for row in (2, 4, 5, 6, 8, 9):  # 0-based; 1-based rows 3, 5, 6, 7, 9, 10
        values[row] = "" if row % 2 else "NA"
    write_csv(path, {"activity": ["a"] * 10, "f1": ["0"] * 10, "f2": values})

    with pytest.raises(DatasetError) as caught:
        read_feature_table(path, label="activity")

    error = caught.value
    assert str(path) in str(error) and "'f2'" in str(error) and "6 missing" in str(error)
    assert (error.path, error.column, error.rows) == (str(path), "f2", (3, 5, 6, 7, 9))


def test_empty_labels_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "features.csv"
    write_csv(path, {"activity": ["a", " ", "b"], "f1": ["0", "1", "2"]})

    with pytest.raises(DatasetError, match=r"'activity' has 1 empty value \(row 2\)") as caught:
        read_feature_table(path, label="activity")

    assert caught.value.column == "activity" and caught.value.rows == (2,)


def test_non_numeric_feature_and_unknown_label_are_named(tmp_path: Path) -> None:
    path = tmp_path / "features.csv"
    write_csv(path, {"activity": ["a", "b"], "f1": ["0", "fast"]})

    with pytest.raises(DatasetError, match="'f1' must hold numbers; row 2"):
        read_feature_table(path, label="activity")
    with pytest.raises(DatasetError, match="no column 'label'"):
        read_feature_table(path, label="label", features=["f1"])
    with pytest.raises(ParameterError, match="cannot also be a feature"):
        read_feature_table(path, label="activity", features=["activity", "f1"])


# --------------------------------------------------------------------------- stream files


def stream_file(path: Path, segments: list[tuple[str, str, int]], *, gap: bool = False) -> Path:
    """Write samples for (subject, activity, samples) segments at 50 Hz, a 1 Hz sine on x."""
    rows: dict[str, list[str]] = {
        k: [] for k in ("time", "subject", "activity", "acc_x", "acc_y", "acc_z")
    }
    clock = 0.0
    for subject, activity, samples in segments:
        for i in range(samples):
            rows["time"].append(f"{clock:.2f}")
            rows["subject"].append(subject)
            rows["activity"].append(activity)
            rows["acc_x"].append(f"{np.sin(2 * np.pi * i / HZ):.6f}")
            rows["acc_y"].append("0")
            rows["acc_z"].append("1")
            clock += 1 / HZ
        if gap:
            clock += 10.0
    write_csv(path, rows)
    return path


def test_read_sensor_stream_windows_each_segment(tmp_path: Path) -> None:
    # 200 samples → 2 windows; 127 samples → none (shorter than a window); 320 → 4
    path = stream_file(
        tmp_path / "stream.csv",
        [("s1", "walking", 200), ("s1", "sitting", 127), ("s2", "walking", 320)],
    )

    table = read_sensor_stream(path)

    assert table.rows == 6 and table.X.shape[1] == 35
    assert table.y.tolist() == ["walking"] * 6
    assert table.subjects is not None and table.subjects.tolist() == ["s1"] * 2 + ["s2"] * 4
    assert table.classes == ("walking",)
    domfreq = table.X[:, table.feature_names.index("acc_x_domfreq")]
    assert np.all(np.abs(domfreq - 1.0) <= HZ / 128 / 2)


def test_read_sensor_stream_splits_at_time_gaps(tmp_path: Path) -> None:
    # the same subject and activity twice, 10 s apart: 130 + 130 samples, one window each
    path = stream_file(tmp_path / "s.csv", [("s1", "walking", 130)] * 2, gap=True)

    assert read_sensor_stream(path).rows == 2
    assert read_sensor_stream(path, sampling_hz=HZ, overlap=0.0).rows == 2


def test_read_sensor_stream_names_missing_samples(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_csv(
        path,
        {"subject": ["s"] * 3, "activity": ["a"] * 3, "acc_x": ["0", "", "1"]}
        | {"acc_y": ["0"] * 3, "acc_z": ["1"] * 3},
    )

    with pytest.raises(DatasetError, match=r"'acc_x' has 1 missing value \(row 2\)"):
        read_sensor_stream(path, sampling_hz=HZ)
    with pytest.raises(ParameterError, match="pass sampling_hz"):
        read_sensor_stream(path)
