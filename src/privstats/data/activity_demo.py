"""Demo data for federated activity recognition, generated from a fixed seed.

Several statistical offices each ran a time-use pilot in which subjects wore a waist
sensor (accelerometer in g, gyroscope in rad/s, 50 Hz) while doing six activities:
walking, walking upstairs, walking downstairs, sitting, standing and lying. The raw
streams are simulated from activity-specific signal models and summarised into feature
windows with :func:`privstats.data.sensors.window_features`, so each office holds one
feature table (``subject``, ``activity``, features) and a model must be trained across
offices without pooling their records.

What makes the task realistic and not trivial:

- **subjects differ**: each has their own gait frequency and amplitude and wears the sensor
  with its own orientation (a random rotation of the tri-axial signal, re-jittered a little
  every session), which blurs the gravity direction that tells sitting from standing —
  the confusable pair;
- **walking variants overlap**: upstairs is slower with a forward lean, downstairs faster
  with stronger vertical jolts, but subjects' own cadences overlap across the variants;
- **offices are non-IID**: each office's activity mix is drawn from a Dirichlet
  distribution, so one office sees mostly static activities and another mostly walking, and
  a model trained on one office alone does poorly on the others' subjects.

The held-out test file holds other subjects of every office doing every activity equally
often. This is simulation data, not protected data, so numpy's seeded generator is the
right tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from privstats.data.readers import write_csv
from privstats.data.sensors import feature_names, window_features, window_geometry
from privstats.errors import ParameterError

__all__ = ["ACTIVITIES", "SAMPLING_HZ", "ActivityDemo", "make_activity_demo"]

SAMPLING_HZ = 50.0
_WINDOW_SECONDS = 2.56
_OVERLAP = 0.5


@dataclass(frozen=True)
class _Model:
    """The signal model of one activity, in the sensor frame of an upright wearer.

    Frame: ``x`` forward, ``y`` left, ``z`` up; the accelerometer reads ``+1 g`` on ``z`` when
    upright and still. ``pitch``/``roll`` tilt the gravity direction (degrees); walking
    variants add periodic components at the step frequency (``cadence`` × the subject's gait
    frequency) with amplitudes in g, and a rotation rate amplitude in rad/s.
    """

    pitch: float
    roll: float = 0.0
    cadence: float = 0.0  # 0 = static activity
    vertical: float = 0.0
    forward: float = 0.0
    lateral: float = 0.0
    harmonic: float = 0.0  # second-harmonic share of the vertical component (heel strike)
    turn: float = 0.0
    noise: float = 0.015
    sway: float = 0.0  # slow postural sway, g


ACTIVITIES: dict[str, _Model] = {
    "walking": _Model(
        pitch=2,
        cadence=1.0,
        vertical=0.30,
        forward=0.14,
        lateral=0.08,
        harmonic=0.25,
        turn=0.6,
        noise=0.05,
    ),
    "walking_upstairs": _Model(
        pitch=9,
        cadence=0.86,
        vertical=0.24,
        forward=0.20,
        lateral=0.10,
        harmonic=0.15,
        turn=0.5,
        noise=0.05,
    ),
    "walking_downstairs": _Model(
        pitch=-4,
        cadence=1.12,
        vertical=0.42,
        forward=0.12,
        lateral=0.10,
        harmonic=0.45,
        turn=0.8,
        noise=0.07,
    ),
    "sitting": _Model(pitch=20, sway=0.006, noise=0.012),
    "standing": _Model(pitch=3, sway=0.012, noise=0.015),
    "lying": _Model(pitch=82, roll=15, sway=0.004, noise=0.010),
}
"""The six activities and their signal models."""

_DIRICHLET_ALPHA = 0.5  # smaller = more skewed office mixes
_ORIENTATION_DEGREES = 11.0  # spread of a subject's sensor orientation
_SESSION_DEGREES = 4.0  # extra jitter each time the sensor is put on


@dataclass(frozen=True)
class ActivityDemo:
    """The generated feature files: one per office, and a pooled held-out test file."""

    offices: dict[str, Path]
    test: Path
    label: str
    subject: str
    feature_names: tuple[str, ...]
    mixes: dict[str, dict[str, float]]
    """office → activity → planted share of its training windows."""


def make_activity_demo(
    folder: str | Path,
    *,
    offices: int = 3,
    subjects_per_office: int = 8,
    windows_per_subject: int = 90,
    test_subjects_per_office: int = 2,
    seed: int = 2026,
) -> ActivityDemo:
    """Write ``office_a.csv`` … (training windows) and ``test.csv`` (held-out subjects).

    Each training subject contributes ``windows_per_subject`` windows split over the
    activities by their office's mix; each test subject does every activity for
    ``windows_per_subject // 6`` windows (at least one).
    """
    _check_count("offices", offices, 1, 26)
    _check_count("subjects_per_office", subjects_per_office, 1, 1000)
    _check_count("windows_per_subject", windows_per_subject, 1, 10_000)
    _check_count("test_subjects_per_office", test_subjects_per_office, 0, 1000)
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = feature_names(["acc", "gyro"])
    activities = list(ACTIVITIES)

    files: dict[str, Path] = {}
    mixes: dict[str, dict[str, float]] = {}
    test_rows: list[tuple[str, str, npt.NDArray[np.float64]]] = []
    per_test_activity = max(1, windows_per_subject // len(activities))
    for index in range(offices):
        office = f"office_{chr(ord('a') + index)}"
        mix = rng.dirichlet(np.full(len(activities), _DIRICHLET_ALPHA))
        mixes[office] = dict(zip(activities, mix.round(4).tolist(), strict=True))
        rows: list[tuple[str, str, npt.NDArray[np.float64]]] = []
        for number in range(subjects_per_office + test_subjects_per_office):
            subject = f"{office[-1].upper()}{number + 1:03d}"
            person = _Subject.draw(rng)
            if number < subjects_per_office:
                counts = rng.multinomial(windows_per_subject, mix)
            else:
                counts = np.full(len(activities), per_test_activity)
            for activity, count in zip(activities, counts.tolist(), strict=True):
                if count:
                    features = person.windows(rng, ACTIVITIES[activity], count)
                    target = rows if number < subjects_per_office else test_rows
                    target.append((subject, activity, features))
        files[office] = folder / f"{office}.csv"
        _write(files[office], rows, names)
    test = folder / "test.csv"
    _write(test, test_rows, names)
    return ActivityDemo(files, test, "activity", "subject", tuple(names), mixes)


def _check_count(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ParameterError(
            f"{name} must be between {low} and {high}, got {value}", parameter=name
        )


@dataclass(frozen=True)
class _Subject:
    """One wearer: gait frequency (Hz), movement amplitude scale and sensor orientation."""

    gait_hz: float
    amplitude: float
    axis: npt.NDArray[np.float64]
    angle: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Subject:
        axis = rng.normal(size=3)
        return cls(
            gait_hz=float(rng.uniform(1.55, 2.05)),
            amplitude=float(rng.uniform(0.75, 1.3)),
            axis=axis / np.linalg.norm(axis),
            angle=float(np.radians(rng.normal(0.0, _ORIENTATION_DEGREES))),
        )

    def windows(
        self, rng: np.random.Generator, model: _Model, count: int
    ) -> npt.NDArray[np.float64]:
        """Simulate one session of ``model`` long enough for ``count`` feature windows."""
        length, step = window_geometry(SAMPLING_HZ, _WINDOW_SECONDS, _OVERLAP)
        n = length + (count - 1) * step
        t = np.arange(n) / SAMPLING_HZ
        pitch, roll = np.radians(model.pitch), np.radians(model.roll)
        gravity = np.array(
            [np.sin(pitch), np.cos(pitch) * np.sin(roll), np.cos(pitch) * np.cos(roll)]
        )
        acc = np.repeat(gravity[:, None], n, axis=1)
        gyro = np.zeros((3, n))
        if model.cadence:
            f = self.gait_hz * model.cadence * rng.uniform(0.96, 1.04)
            a = self.amplitude * rng.uniform(0.9, 1.1)
            phase = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
            acc[0] += a * model.forward * np.sin(phase + np.pi / 2)
            acc[1] += a * model.lateral * np.sin(phase / 2)
            acc[2] += a * model.vertical * (np.sin(phase) + model.harmonic * np.sin(2 * phase))
            gyro[0] += a * model.turn * 0.4 * np.sin(phase / 2 + 0.3)
            gyro[1] += a * model.turn * np.sin(phase + 1.0)
            gyro[2] += a * model.turn * 0.5 * np.sin(phase / 2)
        if model.sway:
            sway_hz = rng.uniform(0.15, 0.4, size=3)
            offsets = rng.uniform(0, 2 * np.pi, size=3)
            acc += model.sway * np.sin(2 * np.pi * sway_hz[:, None] * t + offsets[:, None])
        acc += rng.normal(0.0, model.noise, size=acc.shape)
        gyro += rng.normal(0.0, model.noise * 2, size=gyro.shape)
        rotation = self._rotation(rng)
        acc, gyro = rotation @ acc, rotation @ gyro
        stream = {f"acc_{axis}": acc[i] for i, axis in enumerate("xyz")}
        stream |= {f"gyro_{axis}": gyro[i] for i, axis in enumerate("xyz")}
        features, _ = window_features(
            stream, SAMPLING_HZ, window_seconds=_WINDOW_SECONDS, overlap=_OVERLAP
        )
        return features

    def _rotation(self, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        """The subject's orientation, jittered for this session (Rodrigues' formula)."""
        jitter = rng.normal(size=3)
        axis_angle = self.axis * self.angle + jitter / np.linalg.norm(jitter) * np.radians(
            rng.normal(0.0, _SESSION_DEGREES)
        )
        angle = float(np.linalg.norm(axis_angle))
        if angle == 0.0:
            return np.eye(3)
        k = axis_angle / angle
        cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=np.float64)
        rotation: npt.NDArray[np.float64] = (
            np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
        )
        return rotation


def _write(
    path: Path, rows: list[tuple[str, str, npt.NDArray[np.float64]]], names: list[str]
) -> None:
    """Write (subject, activity, feature block) rows as a CSV, numbers to 6 significant digits."""
    subjects = [subject for subject, _, block in rows for _ in range(block.shape[0])]
    labels = [activity for _, activity, block in rows for _ in range(block.shape[0])]
    matrix = (
        np.concatenate([block for _, _, block in rows])
        if rows
        else np.empty((0, len(names)), dtype=np.float64)
    )
    text = np.char.mod("%.6g", matrix)
    columns: dict[str, list[str]] = {"subject": subjects, "activity": labels}
    columns |= {name: text[:, j].tolist() for j, name in enumerate(names)}
    write_csv(path, columns)
