"""DP-SGD inside one office: per-example clipping, Gaussian noise and RDP accounting.

Who this is for
---------------
Each statistical office trains on its own respondents' records. Secure aggregation hides
one office's update among the others, but the final model can still reveal a respondent.
:func:`train_local_dp` replaces :func:`~privstats.ml.models.train_local` so that what an
office shares is differentially private with respect to its own respondents, whatever the
other offices or the hub do with it. :func:`epsilon` and :class:`PrivacyLedger` say how much
privacy a training run has spent.

What it computes
----------------
:func:`train_local_dp`
    DP-SGD (Abadi et al. 2016). Each step

    1. samples every privacy unit independently with probability ``q = sample_rate``
       (Poisson sampling; the sampled set may be empty, and the step is still taken);
    2. computes each sampled unit's gradient (:meth:`Model.per_example_gradients`) and
       clips it to L2 norm at most ``clip_norm`` (``g·min(1, C/‖g‖)``);
    3. sums them and adds ``N(0, (noise_multiplier·clip_norm)²)`` to every coordinate;
    4. divides by the *expected* batch size ``q·n`` (a fixed number, so the noisy sum's
       sensitivity stays ``clip_norm``) and takes the step ``w ← w − lr·ĝ``.

    The unit of privacy is the **record** (one row of ``x``; for accelerometer data, one
    window) unless ``subjects`` is given. Then it is the **respondent**: subjects, not
    records, are sampled, and the *sum* of a subject's per-example gradients is clipped to
    ``clip_norm`` (user-level DP-SGD, as in McMahan et al. 2018, "Learning differentially
    private recurrent language models"), and ``n`` is the number of subjects. Record-level
    DP with several records per respondent protects a respondent only with a group-privacy
    loss that grows with their record count; pass ``subjects`` to protect respondents.
:func:`epsilon`
    The ε of ``steps`` Poisson-subsampled Gaussian steps at a given δ, from the Rényi-DP
    accountant of Google's ``dp-accounting`` (Mironov 2017; Mironov, Talwar & Zhang 2019;
    with the RDP-to-(ε, δ) conversion of Canonne, Kamath & Steinke 2020, Prop. 12), under
    add-or-remove-one-unit neighbouring. The result is an upper bound on the true ε.
:class:`DPConfig`, :class:`PrivacyLedger`
    The four privacy parameters in one checked record, and an accountant that adds up the
    steps of successive federated rounds and reports the ε spent after each.
:func:`dp_sgd_report`
    The :class:`~privstats.disclosure.report.PrivacyReport` of a DP-SGD release.

Noise
-----
:func:`gaussian_noise` (from :mod:`privstats.disclosure.dp`, where every privacy noise of
privstats is drawn) draws from the operating system's CSPRNG (:mod:`secrets`), never
from numpy's generators, which are predictable from their state: noise that protects data
must not be reproducible by whoever sees the code or a seed. It uses the Box–Muller
transform on 53-bit uniforms in (0, 1]. This is the usual floating-point Gaussian of DP-SGD
libraries: it is not an exact discrete sampler, and floating-point artefacts in the low
bits of continuous noise are a known theoretical weakness (Mironov 2012); the privacy claim
is that of the ideal Gaussian mechanism. Poisson sampling uses the same source; a record is
taken with probability ``⌊q·2⁵³⌋/2⁵³ ≤ q``, which can only improve the accounted privacy.

What each party learns
----------------------
Nothing leaves the office in this module. The parameters it returns (or their difference
from the received model) are (ε, δ)-DP with respect to one privacy unit of this office's
data, with ε given by :func:`epsilon` for the steps taken; anything computed from them
afterwards, including the federated average, keeps that guarantee. Which units were
sampled, the clipped gradients and the noise stay local and are not returned. The guarantee
covers the parameters only: a :class:`~privstats.ml.models.Standardizer` attached to the
model is not noised here, so build it from pooled or public statistics, or account for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from privstats.disclosure.accounting import (
    SubsampledGaussianAccountant,
    require_accountant,
    subsampled_gaussian_epsilon,
)
from privstats.disclosure.budget import Budget
from privstats.disclosure.dp import gaussian_noise
from privstats.disclosure.dp import poisson_sample as _poisson_sample
from privstats.disclosure.dp import uniforms as _uniforms  # noqa: F401 - old name, kept
from privstats.disclosure.report import PrivacyReport
from privstats.errors import ParameterError
from privstats.ml.models import FloatArray, Model, _count, _rate

__all__ = [
    "DP_SGD_MECHANISM",
    "DPConfig",
    "PrivacyLedger",
    "clip_rows",
    "dp_sgd_report",
    "epsilon",
    "gaussian_noise",
    "require_accountant",
    "train_local_dp",
]

# gaussian_noise, require_accountant, _poisson_sample and _uniforms live in
# privstats.disclosure (dp.py, accounting.py) since issue 14; they stay importable here.

_M = TypeVar("_M", bound=Model)


def clip_rows(grads: npt.ArrayLike, clip_norm: float) -> FloatArray:
    """Each row scaled by ``min(1, clip_norm/‖row‖₂)``: rows longer than ``clip_norm`` are
    shortened to it (up to float rounding, a relative 1e-15), shorter rows are unchanged."""
    array = np.asarray(grads, dtype=np.float64)
    if array.ndim != 2:
        raise ParameterError(
            f"grads must have shape (rows, n_params), got {array.shape}", parameter="grads"
        )
    clip = _rate(clip_norm, "clip_norm", positive=True)
    norms = np.linalg.norm(array, axis=1)
    scale = clip / np.maximum(norms, clip)  # 1 where the norm is within the bound, or zero
    out: FloatArray = array * scale[:, None]
    return out


def _probability(value: float, name: str) -> float:
    number = float(value)
    if not (math.isfinite(number) and 0 < number <= 1):
        raise ParameterError(f"{name} must be in (0, 1], got {value}", parameter=name)
    return number


def _delta(value: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and 0 < number < 1):
        raise ParameterError(
            f"delta must be in (0, 1), typically below 1/n (e.g. 1e-5), got {value}",
            parameter="delta",
        )
    return number


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε after ``steps`` DP-SGD steps at ``delta``, by Rényi-DP accounting.

    Each step is a Poisson-subsampled (rate ``sample_rate``) Gaussian mechanism with noise
    ``noise_multiplier`` times the sensitivity. ``steps = 0`` gives 0; ``noise_multiplier =
    0`` (no noise) gives infinity.
    """
    sigma = _rate(noise_multiplier, "noise_multiplier")
    q = _probability(sample_rate, "sample_rate")
    steps = _count(steps, "steps", minimum=0)
    delta = _delta(delta)
    if steps == 0:
        return 0.0
    return subsampled_gaussian_epsilon(sigma, q, steps, delta)


@dataclass(frozen=True)
class DPConfig:
    """The privacy parameters of DP-SGD, checked on construction.

    ``noise_multiplier`` σ (noise std / ``clip_norm``, ≥ 0), ``clip_norm`` C (> 0, the L2
    bound on one unit's gradient), ``sample_rate`` q (Poisson sampling probability, in
    (0, 1]) and ``delta`` δ (in (0, 1), well below 1/number of units).
    """

    noise_multiplier: float
    clip_norm: float
    sample_rate: float
    delta: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "noise_multiplier", _rate(self.noise_multiplier, "noise_multiplier")
        )
        object.__setattr__(self, "clip_norm", _rate(self.clip_norm, "clip_norm", positive=True))
        object.__setattr__(self, "sample_rate", _probability(self.sample_rate, "sample_rate"))
        object.__setattr__(self, "delta", _delta(self.delta))

    def epsilon(self, steps: int) -> float:
        """ε after ``steps`` steps with these parameters (see :func:`epsilon`)."""
        return epsilon(self.noise_multiplier, self.sample_rate, steps, self.delta)


class PrivacyLedger:
    """Privacy spent by one office over successive rounds of DP-SGD with one config.

    Call :meth:`record` with the steps each round took (as :func:`train_local_dp` returns
    them); it composes them in one RDP accountant and returns the ε spent so far.
    :attr:`history` holds ``(total steps, ε)`` after each round. The ε is with respect to
    one unit (record or subject) of this office's data.
    """

    def __init__(self, config: DPConfig) -> None:
        if not isinstance(config, DPConfig):
            raise TypeError(f"config must be a DPConfig, not {type(config).__name__}")
        self.config = config
        self.steps = 0
        self.history: list[tuple[int, float]] = []
        self._accountant = SubsampledGaussianAccountant()

    def record(self, steps: int) -> float:
        """Add a round of ``steps`` steps; return the total ε so far."""
        steps = _count(steps, "steps", minimum=0)
        if steps and self.config.noise_multiplier > 0:
            self._accountant.compose(self.config.noise_multiplier, self.config.sample_rate, steps)
        self.steps += steps
        spent = self.epsilon
        self.history.append((self.steps, spent))
        return spent

    @property
    def epsilon(self) -> float:
        """ε spent by all recorded steps, at ``config.delta``."""
        if self.steps == 0:
            return 0.0
        if self.config.noise_multiplier == 0:
            return math.inf
        return self._accountant.epsilon(self.config.delta)

    def __repr__(self) -> str:
        return f"PrivacyLedger({self.config!r}, steps={self.steps}, epsilon={self.epsilon:.4g})"


DP_SGD_MECHANISM = (
    "DP-SGD: per-unit gradient clipping, Poisson sampling and Gaussian noise from the OS "
    "CSPRNG (secrets)"
)
"""The mechanism's name in a :class:`~privstats.disclosure.report.PrivacyReport`."""


def dp_sgd_report(
    epsilon: float,
    delta: float,
    *,
    unit: str = "one record",
    outside_epsilon: Sequence[str] = (),
    config: DPConfig | None = None,
    steps: int | None = None,
) -> PrivacyReport:
    """The privacy report of DP-SGD that spent ``epsilon`` at ``delta``.

    ``unit`` is the unit of privacy ("one record", or "one respondent" with subjects);
    ``outside_epsilon`` what the release shows besides the parameters (the caller knows:
    counts, a standardizer, evaluation figures). With ``config`` and ``steps`` (one
    office's run) the report lists the accountant's figures. ``to_dict()`` carries
    ``epsilon``, ``delta`` and ``outside_epsilon`` under the keys federated training's
    result has always used. ``epsilon = 0`` (no step taken) reports nothing spent.
    """
    spent = _rate(epsilon, "epsilon")
    figures: dict[str, float | int] = {}
    accounting = "RDP (dp-accounting), Poisson-subsampled Gaussian steps composed"
    if config is not None and steps is not None:
        figures = {
            "noise_multiplier": config.noise_multiplier,
            "clip_norm": config.clip_norm,
            "sample_rate": config.sample_rate,
            "steps": _count(steps, "steps", minimum=0),
        }
        accounting = (
            f"RDP (dp-accounting), {steps} steps at sample rate q = {config.sample_rate:.4g}, "
            f"noise multiplier {config.noise_multiplier:.4g}"
        )
    accounting += "; ε from the RDP-to-(ε, δ) conversion of Canonne, Kamath & Steinke 2020"
    return PrivacyReport(
        mechanism=DP_SGD_MECHANISM,
        spent=Budget(epsilon=spent, delta=delta) if spent > 0 else None,
        accounting=accounting,
        unit=unit,
        neighbouring=f"add or remove {unit}",
        covers=f"the model parameters an office shares, and everything computed from them "
        f"(the federated average included), with respect to {unit} of its data",
        outside_epsilon=tuple(outside_epsilon),
        caveats=(
            "ε is an upper bound from RDP accounting",
            "the noise is floating-point Gaussian; the claim is that of the ideal mechanism",
        ),
        figures=figures,
    )


def train_local_dp(
    model: _M,
    x: npt.ArrayLike,
    y_index: npt.ArrayLike,
    *,
    lr: float,
    clip_norm: float,
    noise_multiplier: float,
    sample_rate: float,
    steps: int | None = None,
    epochs: float | None = None,
    subjects: npt.ArrayLike | None = None,
) -> tuple[_M, int]:
    """DP-SGD on one party's data; updates ``model`` in place, returns it and the steps.

    Give exactly one of ``steps`` and ``epochs``; ``epochs`` e means ``⌈e/q⌉`` steps (one
    expected pass over the units per ``1/q`` steps). ``subjects``, one identifier per row,
    makes the respondent the unit of privacy (see the module docstring); without it the
    unit is the row. Pass the returned step count, with the same ``noise_multiplier`` and
    ``sample_rate``, to :func:`epsilon` or :meth:`PrivacyLedger.record`. Raises
    ParameterError if the parameters stop being finite.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a privstats Model, not {type(model).__name__}")
    lr = _rate(lr, "lr", positive=True)
    config = DPConfig(noise_multiplier, clip_norm, sample_rate)
    q = config.sample_rate
    if steps is not None and epochs is None:
        n_steps = _count(steps, "steps", minimum=0)
    elif epochs is not None and steps is None:
        n_steps = math.ceil(_rate(epochs, "epochs") / q)
    else:
        raise ParameterError("give exactly one of steps and epochs", parameter="steps")
    _, y = model._batch(x, y_index)  # validates every row once
    raw = np.asarray(x, dtype=np.float64)
    if subjects is None:
        codes = np.arange(len(y))
        n_units = len(y)
    else:
        ids = np.asarray(subjects)
        if ids.shape != (len(y),):
            raise ParameterError(
                f"subjects must have one identifier per row, shape ({len(y)},), got {ids.shape}",
                parameter="subjects",
            )
        _, codes = np.unique(ids, return_inverse=True)
        codes = codes.reshape(-1)
        n_units = int(codes.max()) + 1
    expected_batch = q * n_units
    sigma = config.noise_multiplier * config.clip_norm
    params = model.get_params()
    for step in range(n_steps):
        chosen = _poisson_sample(n_units, q)
        rows = np.flatnonzero(chosen[codes])
        total = np.zeros(model.n_params)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
            if rows.size:
                grads = model.per_example_gradients(raw[rows], y[rows])
                if subjects is not None:
                    _, local = np.unique(codes[rows], return_inverse=True)
                    grouped = np.zeros((int(local.max()) + 1, model.n_params))
                    np.add.at(grouped, local.reshape(-1), grads)
                    grads = grouped
                total = clip_rows(grads, config.clip_norm).sum(axis=0)
            noisy = (total + gaussian_noise(model.n_params, sigma)) / expected_batch
            params = params - lr * noisy
        if not np.all(np.isfinite(params)):
            raise ParameterError(
                f"training diverged in step {step + 1}: parameters are no longer finite; "
                f"use a smaller lr than {lr}",
                parameter="lr",
            )
        model.set_params(params)
    return model, n_steps
