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
often. How much respondents and offices differ is a :class:`Heterogeneity`: the demo uses
:data:`MODERATE`; :func:`make_activity_benchmark` writes a harder split by respondent with
:data:`STRONG` (four offices of unequal size, very skewed activity mixes, respondents with
their own gait, posture and sensor orientation, and a sensor placement per office), on
which federated averaging with a fixed 30 rounds falls clearly short of the centralised
model. This is simulation data, not protected data, so numpy's seeded generator is the
right tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from privstats.data.readers import write_csv
from privstats.data.sensors import feature_names, window_features, window_geometry
from privstats.errors import ParameterError

__all__ = [
    "ACTIVITIES",
    "MODERATE",
    "SAMPLING_HZ",
    "STRONG",
    "ActivityDemo",
    "Heterogeneity",
    "make_activity_benchmark",
    "make_activity_demo",
]

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


@dataclass(frozen=True)
class Heterogeneity:
    """How much respondents and offices differ (the knobs of a demo's difficulty).

    ``alpha`` is the Dirichlet concentration of each office's activity mix (smaller = more
    skewed); ``orientation``/``session`` the spread in degrees of a respondent's sensor
    orientation and of its re-jitter each session; ``gait_hz``/``amplitude`` the ranges of
    a respondent's step frequency and movement scale; ``posture`` the spread in degrees of a
    respondent's own trunk angle in each static activity; ``placement`` the spread in
    degrees of an office-wide sensor orientation (another device or way of wearing it).
    """

    alpha: float = 0.5
    orientation: float = 11.0
    session: float = 4.0
    gait_hz: tuple[float, float] = (1.55, 2.05)
    amplitude: tuple[float, float] = (0.75, 1.3)
    posture: float = 0.0
    placement: float = 0.0


MODERATE = Heterogeneity()
"""The demo's default: skewed activity mixes, moderate differences between respondents."""

STRONG = Heterogeneity(
    alpha=0.25,
    orientation=24.0,
    session=7.0,
    gait_hz=(1.35, 2.25),
    amplitude=(0.6, 1.5),
    posture=7.0,
    placement=12.0,
)
"""Strongly non-IID: very skewed mixes, respondents who move, sit and wear the sensor each
their own way, and offices whose devices sit differently (``make_activity_benchmark``)."""


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
    subjects_per_office: int | Sequence[int] = 8,
    windows_per_subject: int = 90,
    test_subjects_per_office: int = 2,
    heterogeneity: Heterogeneity = MODERATE,
    seed: int = 2026,
) -> ActivityDemo:
    """Write ``office_a.csv`` … (training windows) and ``test.csv`` (held-out subjects).

    Each training subject contributes ``windows_per_subject`` windows split over the
    activities by their office's mix; each test subject does every activity for
    ``windows_per_subject // 6`` windows (at least one). ``subjects_per_office`` is one
    number for every office or one per office (unequal offices).
    """
    _check_count("offices", offices, 1, 26)
    sizes = (
        [subjects_per_office] * offices
        if isinstance(subjects_per_office, int)
        else list(subjects_per_office)
    )
    if len(sizes) != offices:
        raise ParameterError(
            f"subjects_per_office has {len(sizes)} sizes for {offices} offices",
            parameter="subjects_per_office",
        )
    for size in sizes:
        _check_count("subjects_per_office", size, 1, 1000)
    _check_count("windows_per_subject", windows_per_subject, 1, 10_000)
    _check_count("test_subjects_per_office", test_subjects_per_office, 0, 1000)
    if not isinstance(heterogeneity, Heterogeneity):
        raise TypeError(
            f"heterogeneity must be a Heterogeneity, not {type(heterogeneity).__name__}"
        )
    profile = heterogeneity
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = feature_names(["acc", "gyro"])
    activities = list(ACTIVITIES)

    files: dict[str, Path] = {}
    mixes: dict[str, dict[str, float]] = {}
    test_rows: list[tuple[str, str, npt.NDArray[np.float64]]] = []
    per_test_activity = max(1, windows_per_subject // len(activities))
    for index, size in enumerate(sizes):
        office = f"office_{chr(ord('a') + index)}"
        mix = rng.dirichlet(np.full(len(activities), profile.alpha))
        mixes[office] = dict(zip(activities, mix.round(4).tolist(), strict=True))
        placement = _random_rotation(rng, profile.placement) if profile.placement else np.eye(3)
        rows: list[tuple[str, str, npt.NDArray[np.float64]]] = []
        for number in range(size + test_subjects_per_office):
            subject = f"{office[-1].upper()}{number + 1:03d}"
            person = _Subject.draw(rng, profile)
            if number < size:
                counts = rng.multinomial(windows_per_subject, mix)
            else:
                counts = np.full(len(activities), per_test_activity)
            for activity, count in zip(activities, counts.tolist(), strict=True):
                if count:
                    features = person.windows(rng, ACTIVITIES[activity], count, profile, placement)
                    target = rows if number < size else test_rows
                    target.append((subject, activity, features))
        files[office] = folder / f"{office}.csv"
        _write(files[office], rows, names)
    test = folder / "test.csv"
    _write(test, test_rows, names)
    return ActivityDemo(files, test, "activity", "subject", tuple(names), mixes)


def make_activity_benchmark(folder: str | Path, *, seed: int = 2026) -> ActivityDemo:
    """A harder, strongly non-IID split by respondent: four offices of unequal size.

    Offices of 4, 7, 12 and 20 training respondents with very skewed activity mixes
    (Dirichlet α = 0.25), respondents with their own gait, posture and sensor orientation,
    and an office-wide sensor placement per office (:data:`STRONG`); the test file holds
    three other respondents of every office doing every activity. Federated averaging with
    few rounds falls clearly short of the centralised model here.
    """
    return make_activity_demo(
        folder,
        offices=4,
        subjects_per_office=(4, 7, 12, 20),
        windows_per_subject=60,
        test_subjects_per_office=3,
        heterogeneity=STRONG,
        seed=seed,
    )


def _check_count(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ParameterError(
            f"{name} must be between {low} and {high}, got {value}", parameter=name
        )


def _rotation(axis_angle: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The rotation by ``|axis_angle|`` radians about its direction (Rodrigues' formula)."""
    angle = float(np.linalg.norm(axis_angle))
    if angle == 0.0:
        return np.eye(3)
    k = axis_angle / angle
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=np.float64)
    rotation: npt.NDArray[np.float64] = (
        np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
    )
    return rotation


def _random_rotation(rng: np.random.Generator, degrees: float) -> npt.NDArray[np.float64]:
    """A rotation about a random axis by an angle drawn from N(0, degrees²)."""
    axis = rng.normal(size=3)
    return _rotation(axis / np.linalg.norm(axis) * np.radians(rng.normal(0.0, degrees)))


@dataclass(frozen=True)
class _Subject:
    """One wearer: gait frequency (Hz), movement amplitude scale, sensor orientation and
    own trunk angle (degrees of pitch added in each static activity)."""

    gait_hz: float
    amplitude: float
    axis: npt.NDArray[np.float64]
    angle: float
    posture: dict[str, float]

    @classmethod
    def draw(cls, rng: np.random.Generator, profile: Heterogeneity) -> _Subject:
        axis = rng.normal(size=3)
        gait_hz = float(rng.uniform(*profile.gait_hz))
        amplitude = float(rng.uniform(*profile.amplitude))
        angle = float(np.radians(rng.normal(0.0, profile.orientation)))
        static = [name for name, model in ACTIVITIES.items() if not model.cadence]
        posture = (
            dict(zip(static, rng.normal(0.0, profile.posture, len(static)).tolist(), strict=True))
            if profile.posture
            else {}
        )
        return cls(gait_hz, amplitude, axis / np.linalg.norm(axis), angle, posture)

    def windows(
        self,
        rng: np.random.Generator,
        model: _Model,
        count: int,
        profile: Heterogeneity = MODERATE,
        placement: npt.NDArray[np.float64] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Simulate one session of ``model`` long enough for ``count`` feature windows."""
        length, step = window_geometry(SAMPLING_HZ, _WINDOW_SECONDS, _OVERLAP)
        n = length + (count - 1) * step
        t = np.arange(n) / SAMPLING_HZ
        lean = self.posture.get(_name_of(model), 0.0)
        pitch, roll = np.radians(model.pitch + lean), np.radians(model.roll)
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
        rotation = self._rotation(rng, profile)
        if placement is not None:
            rotation = placement @ rotation
        acc, gyro = rotation @ acc, rotation @ gyro
        stream = {f"acc_{axis}": acc[i] for i, axis in enumerate("xyz")}
        stream |= {f"gyro_{axis}": gyro[i] for i, axis in enumerate("xyz")}
        features, _ = window_features(
            stream, SAMPLING_HZ, window_seconds=_WINDOW_SECONDS, overlap=_OVERLAP
        )
        return features

    def _rotation(
        self, rng: np.random.Generator, profile: Heterogeneity
    ) -> npt.NDArray[np.float64]:
        """The subject's orientation, jittered for this session."""
        jitter = rng.normal(size=3)
        return _rotation(
            self.axis * self.angle
            + jitter / np.linalg.norm(jitter) * np.radians(rng.normal(0.0, profile.session))
        )


def _name_of(model: _Model) -> str:
    return next(name for name, candidate in ACTIVITIES.items() if candidate is model)


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
