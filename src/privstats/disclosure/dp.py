"""Noise for differential privacy: OpenDP's exact samplers and the OS CSPRNG, nothing else.

Every mechanism of privstats draws its privacy noise here, so that one module answers
"where does the randomness come from?":

OpenDP (``opendp`` ≥ 0.16, the optional ``synth`` extra; Rust core with vetted proofs)
    samples **exactly** from the operating system's randomness and cannot be seeded.
    :func:`discrete_gaussian` and :func:`discrete_laplace` add integer noise to integer
    counts and return OpenDP's own privacy map at sensitivity 1: ρ = 1/(2σ²) zCDP
    (Canonne, Kamath & Steinke 2020) and ε = 1/scale pure DP. :func:`noisy_argmax` is the
    exponential mechanism as report-noisy-max with Gumbel noise, calibrated to a ρ.
    :func:`gaussian_threshold` releases noisy counts of keys that are not public (the
    categories seen in the data), dropping those below a threshold: ρ and a δ.
:mod:`secrets` (always available)
    :func:`gaussian_noise` is the floating-point Gaussian of DP-SGD (Box–Muller on 53-bit
    uniforms from :func:`secrets.token_bytes`) and :func:`poisson_sample` the Poisson
    subsampling of DP-SGD. Not exact: floating-point artefacts in the low bits of
    continuous noise are a known theoretical weakness (Mironov 2012); the privacy claim is
    that of the ideal Gaussian mechanism.

Never numpy's or :mod:`random`'s generators, which are predictable from their state: noise
that protects data must not be reproducible by whoever sees the code or a seed.
``opendp`` is imported on first use (:func:`require_opendp`), so that this module loads
without the extra and the error names it; :func:`require_opendp_core` imports only its
core (measurements, combinators, transformations, domains, metrics, measures: about half
a second, where ``opendp.prelude`` also loads its sklearn and polars extras, seconds more),
which is all the samplers here and the accounting need.
"""

from __future__ import annotations

import functools
import math
import operator
import secrets
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from privstats.errors import MissingExtraError, ParameterError

__all__ = [
    "discrete_gaussian",
    "discrete_laplace",
    "gaussian_noise",
    "gaussian_threshold",
    "noisy_argmax",
    "poisson_sample",
    "require_opendp",
    "require_opendp_core",
    "threshold_for",
    "uniforms",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_OPENDP_READY = False  # contrib features enabled (once per process)
_UNIFORM_BITS = 53  # a float64 holds every multiple of 2⁻⁵³ in (0, 1] exactly


# -- OpenDP ------------------------------------------------------------------------------


def require_opendp(
    purpose: str = "differential privacy noise (OpenDP)", extra: str = "synth"
) -> Any:
    """``opendp.prelude`` with its ``contrib`` features enabled (once).

    ``MissingExtraError`` naming ``purpose`` and the ``extra`` that installs OpenDP if it
    is not installed. Callers that want their own words in that error call this before the
    first sampler.
    """
    global _OPENDP_READY
    try:
        import opendp.prelude as dp
    except ImportError as exc:
        raise MissingExtraError(extra, purpose) from exc
    if not _OPENDP_READY:
        dp.enable_features("contrib")
        _OPENDP_READY = True
    return dp


def require_opendp_core(
    purpose: str = "differential privacy noise (OpenDP)", extra: str = "synth"
) -> Any:
    """OpenDP's core as a namespace like ``opendp.prelude`` (``m``, ``c``, ``t`` and the
    domains, metrics and measures), without its extras; ``contrib`` enabled (once).

    ``MissingExtraError`` naming ``purpose`` and ``extra`` if OpenDP is not installed.
    """
    global _OPENDP_READY
    try:
        import opendp.combinators as combinators
        import opendp.domains as domains
        import opendp.measurements as measurements
        import opendp.measures as measures
        import opendp.metrics as metrics
        import opendp.mod as mod
        import opendp.transformations as transformations
    except ImportError as exc:
        raise MissingExtraError(extra, purpose) from exc
    names = {
        name: getattr(module, name)
        for module in (mod, domains, metrics, measures)
        for name in module.__all__
    }
    core = SimpleNamespace(**names, m=measurements, c=combinators, t=transformations)
    if not _OPENDP_READY:
        core.enable_features("contrib")
        _OPENDP_READY = True
    return core


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ParameterError(f"{name} must be positive and finite, got {value!r}", parameter=name)
    return number


def discrete_gaussian(counts: npt.ArrayLike, sigma: float) -> tuple[IntArray, float]:
    """``counts`` plus discrete Gaussian noise of scale ``sigma`` (OpenDP), and its ρ.

    The noise is exact, from the OS's randomness. ρ is OpenDP's privacy map at L2
    sensitivity 1 (one record adds one to one count): ``1/(2σ²)``.
    """
    sigma = _positive(sigma, "sigma")
    dp = require_opendp_core()
    values = np.asarray(counts, dtype=np.int64).ravel()
    measurement = dp.m.make_gaussian(
        dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64"), sigma
    )
    noisy = np.asarray(measurement(values.tolist()), dtype=np.int64)
    return noisy, float(measurement.map(1))


def gaussian_threshold(
    counts: Mapping[str, int], sigma: float, threshold: int
) -> tuple[dict[str, int], float, float]:
    """Noisy ``counts`` of keys the data chose, those below ``threshold`` dropped (OpenDP).

    For a set of keys that is not public (the categories seen in the data): discrete
    Gaussian noise of scale ``sigma`` on each count, and only keys whose noisy count
    reaches ``threshold`` are released (OpenDP's ``make_gaussian_threshold``, Rogers 2023).
    Returns the released counts and OpenDP's privacy map when one record changes one
    count by one: ρ and the δ of a key held by that record alone surfacing.
    """
    sigma = _positive(sigma, "sigma")
    dp = require_opendp()
    measurement = dp.m.make_gaussian_threshold(
        dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64")),
        dp.l02inf_distance(dp.absolute_distance(T="i64")),
        scale=sigma,
        threshold=int(threshold),
    )
    released = measurement({str(k): int(v) for k, v in counts.items()})
    rho, delta = measurement.map((1, 1, 1))
    return {str(k): int(v) for k, v in released.items()}, float(rho), float(delta)


@functools.lru_cache(maxsize=64)
def threshold_for(sigma: float, delta: float) -> int:
    """The smallest threshold at which :func:`gaussian_threshold`'s δ is at most ``delta``.

    Found by bisection on OpenDP's own privacy map (the sub-Gaussian tail
    ``1 + σ√(2 ln(1/δ))`` bounds the search).
    """
    sigma = _positive(sigma, "sigma")
    if not 0 < delta < 1:
        raise ParameterError(f"delta must be in (0, 1), got {delta!r}", parameter="delta")
    dp = require_opendp()

    def delta_at(threshold: int) -> float:
        measurement = dp.m.make_gaussian_threshold(
            dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64")),
            dp.l02inf_distance(dp.absolute_distance(T="i64")),
            scale=sigma,
            threshold=threshold,
        )
        return float(measurement.map((1, 1, 1))[1])

    low, high = 1, math.ceil(1 + sigma * math.sqrt(2 * math.log(1 / delta))) + 1
    while delta_at(high) > delta:
        low, high = high, 2 * high
    while high - low > 1:  # delta_at(high) <= delta, and low is too small or untried
        middle = (low + high) // 2
        low, high = (low, middle) if delta_at(middle) <= delta else (middle, high)
    return high


def discrete_laplace(counts: npt.ArrayLike, scale: float) -> tuple[IntArray, float]:
    """``counts`` plus discrete Laplace noise of ``scale`` (OpenDP), and its ε.

    The noise is exact, from the OS's randomness; ``P(k) ∝ exp(−|k|/scale)``. ε is
    OpenDP's privacy map at L1 sensitivity 1 (one record adds one to one count):
    ``1/scale``, pure DP (δ = 0).
    """
    scale = _positive(scale, "scale")
    dp = require_opendp_core()
    values = np.asarray(counts, dtype=np.int64).ravel()
    measurement = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale
    )
    noisy = np.asarray(measurement(values.tolist()), dtype=np.int64)
    return noisy, float(measurement.map(1))


def noisy_argmax(scores: npt.ArrayLike, rho: float) -> tuple[int, float]:
    """Index of a score chosen by the exponential mechanism (Gumbel noisy max, OpenDP).

    Sensitivity 1, non-monotonic; the scale is chosen so that the mechanism is ``rho``-zCDP
    (``ε = √(8ρ)``, bounded-range exponential mechanism, Cesar & Rogers 2021). Returns the
    index and OpenDP's ρ for it.
    """
    rho = _positive(rho, "rho")
    values = [float(s) for s in np.asarray(scores, dtype=np.float64).ravel()]
    if not values or not all(math.isfinite(v) for v in values):
        raise ParameterError(
            "scores must be a non-empty list of finite numbers", parameter="scores"
        )
    dp = require_opendp_core()
    measurement = dp.m.make_noisy_max(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)),
        dp.linf_distance(T=float),
        dp.zero_concentrated_divergence(),
        scale=1.0 / math.sqrt(2.0 * rho),
    )
    return int(measurement(values)), float(measurement.map(1.0))


# -- the OS CSPRNG -----------------------------------------------------------------------


def _size(value: int, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool")
    try:
        number = operator.index(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from exc
    if number < 0:
        raise ParameterError(f"{name} must be at least 0, got {number}", parameter=name)
    return number


def uniforms(size: int) -> FloatArray:
    """``size`` independent uniforms on (0, 1], multiples of 2⁻⁵³, from :mod:`secrets`."""
    size = _size(size, "size")
    raw = np.frombuffer(secrets.token_bytes(8 * size), dtype=np.uint64)
    k = raw >> np.uint64(64 - _UNIFORM_BITS)  # the top 53 bits: 0 ≤ k < 2⁵³
    out: FloatArray = (k.astype(np.float64) + 1.0) * 2.0**-_UNIFORM_BITS
    return out


def gaussian_noise(shape: int | tuple[int, ...], sigma: float) -> FloatArray:
    """Independent ``N(0, sigma²)`` values of the given shape, from the OS CSPRNG.

    Box–Muller: with ``u₁, u₂`` uniform on (0, 1] (53 random bits each, from
    :func:`secrets.token_bytes`), ``√(−2 ln u₁)·cos(2π u₂)`` and ``√(−2 ln u₁)·sin(2π u₂)``
    are two independent standard normals; both are used. ``u₁ > 0``, so the logarithm is
    always finite. ``sigma = 0`` gives zeros. Not seedable, by design.
    """
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    dims = tuple(_size(d, "shape") for d in dims)
    number = float(sigma)
    if not math.isfinite(number) or number < 0:
        raise ParameterError(f"sigma must be finite and >= 0, got {sigma}", parameter="sigma")
    size = math.prod(dims)
    if number == 0 or size == 0:
        return np.zeros(dims)
    pairs = (size + 1) // 2
    u = uniforms(2 * pairs)
    radius = np.sqrt(-2.0 * np.log(u[:pairs]))
    angle = 2.0 * math.pi * u[pairs:]
    normals = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:size]
    out: FloatArray = number * normals.reshape(dims)
    return out


def poisson_sample(n: int, q: float) -> npt.NDArray[np.bool_]:
    """Each of ``n`` units independently with probability ``⌊q·2⁵³⌋/2⁵³ ≤ q`` (``q = 1``: all).

    The probability is rounded down, which can only improve the accounted privacy.
    """
    rate = float(q)
    if not (math.isfinite(rate) and 0 <= rate <= 1):
        raise ParameterError(f"q must be in [0, 1], got {q}", parameter="q")
    mask: npt.NDArray[np.bool_] = uniforms(n) <= rate
    return mask
