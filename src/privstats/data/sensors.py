"""Sensor data for activity recognition: feature tables and windowed tri-axial streams.

A statistical office that runs a time-use or mobility survey with a phone or wearable
collects raw accelerometer (and often gyroscope) streams: one row per sample with the
subject, the activity being done and the ``x``, ``y``, ``z`` readings. Models are trained
on fixed-length windows of such streams, each window summarised by a feature vector:

- per axis: mean, standard deviation, minimum, maximum, the 0.25/0.5/0.75 quantiles, energy
  (mean of squares), dominant frequency (Hz, the strongest non-constant bin of the real FFT
  of the centred window) and spectral energy (sum of the squared one-sided FFT magnitudes
  of the centred window, divided by the squared window length; a pure tone of amplitude
  ``A`` gives ``A² / 4``);
- per signal (``acc``, ``gyro``): mean and standard deviation of the magnitude
  ``sqrt(x² + y² + z²)`` and the correlations between axes (``xy``, ``xz``, ``yz``; 0 when an
  axis is constant within the window).

:func:`window_features` turns one stream into such windows, :func:`read_sensor_stream` does
it for a stream file per contiguous (subject, activity) segment, and
:func:`read_feature_table` reads a table of features that is already computed. Each party
does this on its own data; nothing here crosses a party boundary.

Missing or non-numeric values are a :class:`~privstats.errors.DatasetError` naming the
file, the column and up to five 1-based data rows, so no row is silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from privstats.data.readers import column_names
from privstats.data.tables import read_table
from privstats.errors import DatasetError, ParameterError

__all__ = [
    "AXES",
    "FeatureTable",
    "feature_names",
    "read_feature_table",
    "read_sensor_stream",
    "window_features",
    "window_geometry",
]

AXES: tuple[str, ...] = ("x", "y", "z")
"""Axis suffixes of the stream columns: ``acc_x``, ``acc_y``, ``acc_z``, ``gyro_x`` …"""

_SIGNALS = ("acc", "gyro")
_AXIS_STATS = ("mean", "std", "min", "max", "q25", "q50", "q75", "energy", "domfreq", "spectral")
_SIGNAL_STATS = ("mag_mean", "mag_std", "corr_xy", "corr_xz", "corr_yz")
_MIN_WINDOW = 4  # samples; fewer cannot give a dominant frequency
_MAX_EXAMPLES = 5

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FeatureTable:
    """Feature vectors ``X`` (rows × features, float64) with their labels and subjects."""

    path: str
    X: FloatArray
    y: npt.NDArray[np.str_]
    subjects: npt.NDArray[np.str_] | None
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    """The distinct labels, sorted."""

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])


# --------------------------------------------------------------------------- feature tables


def read_feature_table(
    path: str | Path,
    *,
    label: str,
    subject: str | None = None,
    features: Sequence[str] | None = None,
) -> FeatureTable:
    """Read numeric ``features`` and a text ``label`` (and ``subject``) of a CSV/Parquet file.

    ``features`` defaults to every column except ``label`` and ``subject``, in file order.
    Every feature value and every label (and subject) must be present.
    """
    name = str(path)
    if not isinstance(label, str) or not label:
        raise ParameterError(f"label must be a column name, not {label!r}", parameter="label")
    if subject is not None and (not isinstance(subject, str) or not subject or subject == label):
        raise ParameterError(
            f"subject must be a column name other than the label, not {subject!r}",
            parameter="subject",
        )
    reserved = {label} if subject is None else {label, subject}
    if features is None:
        wanted = [column for column in column_names(path) if column not in reserved]
    elif isinstance(features, str):
        raise ParameterError(
            f"features must be a list of column names; write features=[{features!r}]",
            parameter="features",
        )
    else:
        wanted = list(features)
        clash = [column for column in wanted if column in reserved]
        if clash:
            raise ParameterError(
                f"the label or subject column {clash[0]!r} cannot also be a feature",
                parameter="features",
            )
    if not wanted:
        raise DatasetError(f"{name}: no feature columns besides {sorted(reserved)}", path=name)
    text_columns = [label] if subject is None else [label, subject]
    try:
        table = read_table(path, categories=text_columns, values=wanted)
    except DatasetError as exc:
        if features is not None or exc.column is None:
            raise
        raise DatasetError(
            f"{exc} — every column but the label is read as a feature; if "
            f"'{exc.column}' identifies respondents, name it as the subject column, or "
            "list the feature columns",
            path=exc.path,
            column=exc.column,
            rows=exc.rows,
        ) from exc
    for column in wanted:
        _raise_if_any(name, column, np.isnan(table.values[column]), "missing")
    for column in text_columns:
        _raise_if_any(name, column, table.categories[column] == "", "empty")
    x = (
        np.column_stack([table.values[column] for column in wanted])
        if table.rows
        else np.empty((0, len(wanted)), dtype=np.float64)
    )
    y = table.categories[label]
    return FeatureTable(
        path=name,
        X=x.astype(np.float64, copy=False),
        y=y,
        subjects=None if subject is None else table.categories[subject],
        feature_names=tuple(wanted),
        classes=tuple(sorted({str(v) for v in y})),
    )


def _raise_if_any(path: str, column: str, bad: npt.NDArray[np.bool_], what: str) -> None:
    """Raise a DatasetError naming ``column`` and up to five 1-based rows where ``bad``."""
    rows = np.flatnonzero(bad)
    if rows.size == 0:
        return
    examples = tuple(int(row) + 1 for row in rows[:_MAX_EXAMPLES])
    listed = ", ".join(str(row) for row in examples) + (", …" if rows.size > len(examples) else "")
    noun = "value" if rows.size == 1 else "values"
    raise DatasetError(
        f"{path}: column '{column}' has {rows.size} {what} {noun} "
        f"({'row' if rows.size == 1 else 'rows'} {listed}); every row needs a value",
        path=path,
        column=column,
        rows=examples,
    )


# --------------------------------------------------------------------------- windowing


def feature_names(signals: Sequence[str] = ("acc",)) -> list[str]:
    """The feature names :func:`window_features` gives for ``signals`` (``acc``, ``gyro``)."""
    names: list[str] = []
    for signal in signals:
        names += [f"{signal}_{axis}_{stat}" for axis in AXES for stat in _AXIS_STATS]
        names += [f"{signal}_{stat}" for stat in _SIGNAL_STATS]
    return names


def window_geometry(sampling_hz: float, window_seconds: float, overlap: float) -> tuple[int, int]:
    """The window length and the step between window starts, in samples."""
    if not np.isfinite(sampling_hz) or sampling_hz <= 0:
        raise ParameterError(
            f"sampling_hz must be a positive number, got {sampling_hz!r}", parameter="sampling_hz"
        )
    if not np.isfinite(window_seconds) or window_seconds <= 0:
        raise ParameterError(
            f"window_seconds must be positive, got {window_seconds!r}", parameter="window_seconds"
        )
    if not 0 <= overlap < 1:
        raise ParameterError(
            f"overlap must be at least 0 and below 1, got {overlap!r}", parameter="overlap"
        )
    length = round(window_seconds * sampling_hz)
    if length < _MIN_WINDOW:
        raise ParameterError(
            f"a window of {window_seconds} s at {sampling_hz} Hz has {length} samples; "
            f"it needs at least {_MIN_WINDOW}",
            parameter="window_seconds",
        )
    return length, max(1, round(length * (1 - overlap)))


def window_features(
    stream: Mapping[str, npt.ArrayLike],
    sampling_hz: float,
    *,
    window_seconds: float = 2.56,
    overlap: float = 0.5,
) -> tuple[FloatArray, list[str]]:
    """Cut a tri-axial stream into windows and summarise each one by its features.

    ``stream`` maps ``acc_x``, ``acc_y``, ``acc_z`` (required) and ``gyro_x``, ``gyro_y``,
    ``gyro_z`` (all or none) to equally long 1-D sample arrays; other keys are ignored.
    Windows hold ``round(window_seconds * sampling_hz)`` samples and start every
    ``round(length * (1 - overlap))`` samples; a trailing partial window is dropped, so a
    stream shorter than one window gives zero rows. Returns the (windows × features) matrix
    and the feature names (see :func:`feature_names`).
    """
    length, step = window_geometry(sampling_hz, window_seconds, overlap)
    signals = _stream_signals(stream)
    names = feature_names(list(signals))
    n_samples = next(iter(signals.values())).shape[1]
    if n_samples < length:
        return np.empty((0, len(names)), dtype=np.float64), names
    columns: list[FloatArray] = []
    for axes in signals.values():
        # axes: (3, samples) → windows: (3, n_windows, length), views without copying
        windows = np.lib.stride_tricks.sliding_window_view(axes, length, axis=1)[:, ::step]
        for axis_windows in windows:
            columns += _axis_features(axis_windows, sampling_hz)
        columns += _signal_features(windows)
    return np.column_stack(columns), names


def _stream_signals(stream: Mapping[str, npt.ArrayLike]) -> dict[str, FloatArray]:
    """Validate the stream's axes and stack them per signal as (3, samples) arrays."""
    if not isinstance(stream, Mapping):
        raise TypeError(f"stream must be a mapping of column name to samples, not {type(stream)}")
    signals: dict[str, FloatArray] = {}
    n_samples: int | None = None
    for signal in _SIGNALS:
        keys = [f"{signal}_{axis}" for axis in AXES]
        present = [key for key in keys if key in stream]
        if not present and signal != "acc":
            continue
        if len(present) < len(keys):
            missing = [key for key in keys if key not in stream]
            raise ParameterError(
                f"stream lacks {', '.join(missing)}; give all three axes of '{signal}'",
                parameter="stream",
            )
        arrays = []
        for key in keys:
            array = np.asarray(stream[key], dtype=np.float64)
            if array.ndim != 1:
                raise ParameterError(
                    f"stream['{key}'] must be 1-D, got shape {array.shape}", parameter="stream"
                )
            if n_samples is not None and array.size != n_samples:
                raise ParameterError(
                    f"stream['{key}'] has {array.size} samples, the others {n_samples}",
                    parameter="stream",
                )
            if not np.isfinite(array).all():
                row = int(np.flatnonzero(~np.isfinite(array))[0])
                raise ParameterError(
                    f"stream['{key}'] sample {row} is {array[row]}; samples must be finite",
                    parameter="stream",
                )
            n_samples = array.size
            arrays.append(array)
        signals[signal] = np.stack(arrays)
    return signals


def _axis_features(windows: FloatArray, sampling_hz: float) -> list[FloatArray]:
    """The per-axis features of (n_windows, length) windows, in ``_AXIS_STATS`` order."""
    length = windows.shape[1]
    mean = windows.mean(axis=1)
    q25, q50, q75 = np.quantile(windows, [0.25, 0.5, 0.75], axis=1)
    power = np.abs(np.fft.rfft(windows - mean[:, None], axis=1)) ** 2
    power[:, 0] = 0.0  # the centred window has no constant part; drop rounding residue
    frequencies = np.fft.rfftfreq(length, d=1.0 / sampling_hz)
    spread = windows.std(axis=1)
    flat = _is_flat(windows, spread)
    spectral = np.where(flat, 0.0, power.sum(axis=1) / length**2)
    dominant = np.where(flat, 0.0, frequencies[np.argmax(power, axis=1)])
    return [
        mean,
        spread,
        windows.min(axis=1),
        windows.max(axis=1),
        q25,
        q50,
        q75,
        (windows**2).mean(axis=1),
        dominant,
        spectral,
    ]


def _signal_features(windows: FloatArray) -> list[FloatArray]:
    """Magnitude mean/std and the xy, xz, yz correlations of (3, n_windows, length) windows."""
    magnitude = np.sqrt((windows**2).sum(axis=0))
    centred = windows - windows.mean(axis=2, keepdims=True)
    spread = np.sqrt((centred**2).mean(axis=2))
    flat = _is_flat(windows, spread)
    out = [magnitude.mean(axis=1), magnitude.std(axis=1)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        covariance = (centred[a] * centred[b]).mean(axis=1)
        constant = flat[a] | flat[b]
        scale = np.where(constant, 1.0, spread[a] * spread[b])
        out.append(np.where(constant, 0.0, np.clip(covariance / scale, -1.0, 1.0)))
    return out


def _is_flat(windows: FloatArray, spread: FloatArray) -> npt.NDArray[np.bool_]:
    """True for windows that are constant up to rounding (spread ≤ 1e-10 of the largest value)."""
    flat: npt.NDArray[np.bool_] = spread <= 1e-10 * np.abs(windows).max(axis=-1)
    return flat


# --------------------------------------------------------------------------- stream files


def read_sensor_stream(
    path: str | Path,
    *,
    sampling_hz: float | None = None,
    window_seconds: float = 2.56,
    overlap: float = 0.5,
    time: str = "time",
    subject: str = "subject",
    activity: str = "activity",
) -> FeatureTable:
    """Read a raw stream file and window it per contiguous (subject, activity) segment.

    The file has one row per sample: ``subject``, ``activity``, ``acc_x``, ``acc_y``,
    ``acc_z`` and optionally ``gyro_x``, ``gyro_y``, ``gyro_z`` and a ``time`` column in
    seconds. A segment ends where the subject or the activity changes from one row to the
    next, or, when the file has a time column, where time goes back or jumps by more than
    1.5 sample intervals. Windows never span two segments; each window is labelled with
    its segment's activity. ``sampling_hz`` defaults to the median time step's inverse.
    """
    name = str(path)
    header = column_names(path)
    axes = [f"acc_{axis}" for axis in AXES]
    gyro = [f"gyro_{axis}" for axis in AXES]
    if any(column in header for column in gyro):
        axes += gyro  # a partial gyroscope is reported by read_table as a missing column
    has_time = time in header
    if sampling_hz is None and not has_time:
        raise ParameterError(
            f"{name}: no '{time}' column to infer the sampling rate from; pass sampling_hz",
            parameter="sampling_hz",
        )
    values = [time, *axes] if has_time else axes
    table = read_table(path, categories=[subject, activity], values=values)
    for column in values:
        _raise_if_any(name, column, np.isnan(table.values[column]), "missing")
    for column in (subject, activity):
        _raise_if_any(name, column, table.categories[column] == "", "empty")
    subjects, activities = table.categories[subject], table.categories[activity]

    breaks = (subjects[1:] != subjects[:-1]) | (activities[1:] != activities[:-1])
    hz = sampling_hz
    if has_time:
        steps = np.diff(table.values[time])
        if hz is None:
            positive = steps[~breaks & (steps > 0)]
            if positive.size == 0:
                raise DatasetError(
                    f"{name}: column '{time}' never increases within a segment; "
                    "cannot infer the sampling rate, pass sampling_hz",
                    path=name,
                    column=time,
                )
            hz = float(1.0 / np.median(positive))
        breaks |= (steps <= 0) | (steps > 1.5 / hz)
    if hz is None:  # unreachable: checked above, kept for the type checker
        raise ParameterError("sampling_hz is required", parameter="sampling_hz")
    window_geometry(hz, window_seconds, overlap)  # validate before any work
    starts = np.concatenate([[0], np.flatnonzero(breaks) + 1])
    ends = np.concatenate([starts[1:], [table.rows]])

    blocks: list[FloatArray] = []
    labels: list[str] = []
    owners: list[str] = []
    names = feature_names(["acc", "gyro"] if len(axes) == 6 else ["acc"])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        segment = {column: table.values[column][start:end] for column in axes}
        block, names = window_features(segment, hz, window_seconds=window_seconds, overlap=overlap)
        blocks.append(block)
        labels += [str(activities[start])] * block.shape[0]
        owners += [str(subjects[start])] * block.shape[0]
    x = np.concatenate(blocks) if blocks else np.empty((0, len(names)), dtype=np.float64)
    y = np.asarray(labels, dtype=str)
    return FeatureTable(
        path=name,
        X=x,
        y=y,
        subjects=np.asarray(owners, dtype=str),
        feature_names=tuple(names),
        classes=tuple(sorted(set(labels))),
    )
