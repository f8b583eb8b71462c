"""Privacy accounting: zCDP ↔ (ε, δ), and Rényi DP of subsampled Gaussian steps.

Mechanisms compose more tightly in a divergence of their own than in (ε, δ); this module
turns that composition into the (ε, δ) a :class:`~privstats.disclosure.budget.Budget` holds.

zCDP (MST and other count mechanisms; needs OpenDP, the ``synth`` extra)
    zCDP composes by adding ρ. :func:`zcdp_epsilon` is OpenDP's optimal conversion of
    ρ-zCDP to (ε, δ)-DP (``make_zCDP_to_approxDP``, Canonne, Kamath & Steinke 2020);
    :func:`zcdp_epsilon_bound` the simpler bound ε = ρ + 2√(ρ ln(1/δ)) (Bun & Steinke
    2016), never smaller. :func:`rho_for_epsilon` is the largest ρ whose conversion is at
    most a requested (ε, δ): at ε = 1, δ = 1e-9 it is 0.0150, where the simple bound would
    allow only 0.0118.
Rényi DP (DP-SGD; needs Google's ``dp-accounting``, the ``ml`` extra)
    :class:`SubsampledGaussianAccountant` composes Poisson-subsampled Gaussian steps in an
    RDP accountant (Mironov 2017; Mironov, Talwar & Zhang 2019) under add-or-remove-one
    neighbouring, with the RDP-to-(ε, δ) conversion of Canonne, Kamath & Steinke 2020,
    Prop. 12; :func:`subsampled_gaussian_epsilon` is one such run, and
    :func:`noise_multiplier_for_epsilon` the noise that makes a run spend at most an ε.
    Upper bounds on ε.

Both libraries are imported on first use, so that this module loads without them and the
error names the extra to install.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from privstats.disclosure.dp import require_opendp_core
from privstats.errors import MissingExtraError, ParameterError

__all__ = [
    "SubsampledGaussianAccountant",
    "noise_multiplier_for_epsilon",
    "require_accountant",
    "rho_for_epsilon",
    "subsampled_gaussian_epsilon",
    "zcdp_epsilon",
    "zcdp_epsilon_bound",
]

_BISECTION_STEPS = 100


# -- zCDP --------------------------------------------------------------------------------


def _check_delta(delta: float) -> float:
    number = float(delta)
    if not (math.isfinite(number) and 0 < number < 1):
        raise ParameterError(f"delta must be in (0, 1), got {delta}", parameter="delta")
    return number


def zcdp_epsilon(rho: float, delta: float) -> float:
    """The ε at ``delta`` of ``rho``-zCDP by OpenDP's conversion (0 for ρ ≤ 0).

    OpenDP converts measurements, not numbers, so this asks it for the (ε, δ) curve of a
    Gaussian mechanism whose privacy map at sensitivity 1 is (at least) ``rho``: the scale
    is rounded down, which may only raise ρ, so the ε returned is never too small.
    """
    delta = _check_delta(delta)
    if not rho > 0:
        return 0.0
    dp = require_opendp_core("zCDP accounting (OpenDP)")
    scale = math.nextafter(1.0 / math.sqrt(2.0 * rho), 0.0)
    gaussian = dp.m.make_gaussian(
        dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=scale
    )
    return float(dp.c.make_zCDP_to_approxDP(gaussian).map(1.0).epsilon(delta))


def zcdp_epsilon_bound(rho: float, delta: float) -> float:
    """Bun & Steinke's (2016) ε = ρ + 2√(ρ ln(1/δ)) of ``rho``-zCDP: simple, never tighter."""
    delta = _check_delta(delta)
    if not rho > 0:
        return 0.0
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


@functools.lru_cache(maxsize=64)
def rho_for_epsilon(epsilon: float, delta: float) -> float:
    """The largest zCDP ρ that :func:`zcdp_epsilon` turns into at most (ε, δ) (bisection).

    The result meets the target: ``zcdp_epsilon(rho_for_epsilon(ε, δ), δ) ≤ ε``. A pure
    function of its arguments (about a hundred OpenDP conversions): cached.
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ParameterError(
            f"epsilon must be positive and finite, got {epsilon}", parameter="epsilon"
        )
    delta = _check_delta(delta)
    # ε ≥ ρ unless δ is large (above about √(ρ/π)); there the search stops at ρ = ε,
    # which still meets the target, only with less ρ than the target would allow
    low, high = 0.0, float(epsilon)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if not low < middle < high:
            break  # adjacent floats: the remaining steps would change nothing
        if zcdp_epsilon(middle, delta) <= epsilon:
            low = middle
        else:
            high = middle
    return low


# -- Rényi DP (dp-accounting) ------------------------------------------------------------


class _DropNonConvergence(logging.Filter):
    """Drops dp-accounting's "failed to converge … Excluding this order" warnings.

    When the series for one fractional Rényi order does not converge, the accountant leaves
    that order out and takes ε from the others, which is still an upper bound: nothing for
    a user to act on. Every other record of the ``absl`` logger passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to converge" not in str(record.msg)


_NON_CONVERGENCE = _DropNonConvergence()


def require_accountant(purpose: str = "privacy accounting (dp-accounting)") -> Any:
    """The ``dp_accounting`` package (the optional ``ml`` extra); ``MissingExtraError``
    naming ``purpose`` and the extra if it is not installed."""
    try:
        import dp_accounting
        import dp_accounting.rdp
    except ImportError as exc:
        raise MissingExtraError("ml", purpose) from exc
    absl = logging.getLogger("absl")
    if _NON_CONVERGENCE not in absl.filters:
        absl.addFilter(_NON_CONVERGENCE)
    return dp_accounting


class SubsampledGaussianAccountant:
    """Rényi-DP accountant of Poisson-subsampled Gaussian steps (add or remove one unit).

    :meth:`compose` adds ``steps`` steps, each a Gaussian mechanism with noise
    ``noise_multiplier`` times the sensitivity applied to a Poisson sample of rate
    ``sample_rate`` (1: no subsampling); :meth:`epsilon` is the ε of all of them at a δ.
    The parameters are taken as given (callers check them at their edge); steps with
    ``noise_multiplier = 0`` have no finite ε and are refused.
    """

    def __init__(self) -> None:
        self._library = require_accountant()
        self._accountant = self._library.rdp.RdpAccountant()
        self.steps = 0

    def compose(self, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Add ``steps`` Poisson-subsampled Gaussian steps."""
        if not noise_multiplier > 0:
            raise ParameterError(
                f"noise_multiplier must be > 0 to account, got {noise_multiplier}",
                parameter="noise_multiplier",
            )
        if steps <= 0:
            return
        event = self._library.GaussianDpEvent(noise_multiplier)
        if sample_rate < 1:
            event = self._library.PoissonSampledDpEvent(sample_rate, event)
        self._accountant.compose(event, steps)
        self.steps += steps

    def epsilon(self, delta: float) -> float:
        """ε of every composed step at ``delta`` (0 before any step)."""
        if self.steps == 0:
            return 0.0
        return float(self._accountant.get_epsilon(delta))


def subsampled_gaussian_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    """ε after ``steps`` Poisson-subsampled Gaussian steps at ``delta``, by RDP accounting.

    ``steps = 0`` gives 0; ``noise_multiplier = 0`` (no noise) gives infinity. The
    parameters are taken as checked (:func:`privstats.ml.dp.epsilon` checks them).
    """
    if steps == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    accountant = SubsampledGaussianAccountant()
    accountant.compose(noise_multiplier, sample_rate, steps)
    return accountant.epsilon(delta)


def noise_multiplier_for_epsilon(
    epsilon: float,
    sample_rate: float,
    steps: int,
    delta: float,
    *,
    low: float = 0.3,
    high: float = 100.0,
    ratio: float = 1.01,
) -> float:
    """The smallest noise multiplier (to a factor ``ratio``) whose ``steps`` steps spend ≤ ε.

    Geometric bisection in ``[low, high]`` with :func:`subsampled_gaussian_epsilon`: the
    result meets the target, and the multiplier ``ratio`` times smaller may not. The search
    DP-SGD in federated training uses to calibrate its noise to a budget (same defaults).
    ``ParameterError`` if even ``high`` spends more than ``epsilon``.
    """
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ParameterError(
            f"epsilon must be positive and finite, got {epsilon}", parameter="epsilon"
        )
    if not (0 < low < high and ratio > 1):
        raise ParameterError(f"need 0 < low < high and ratio > 1, got {low}, {high}, {ratio}")
    if subsampled_gaussian_epsilon(high, sample_rate, steps, delta) > epsilon:
        raise ParameterError(
            f"ε = {epsilon} cannot be reached in {steps} steps at sample rate {sample_rate:.4g} "
            f"with a noise multiplier up to {high}",
            parameter="epsilon",
        )
    while high / low > ratio:
        middle = (low * high) ** 0.5
        if subsampled_gaussian_epsilon(middle, sample_rate, steps, delta) <= epsilon:
            high = middle
        else:
            low = middle
    return high
