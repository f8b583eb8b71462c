"""Distributed discrete Gaussian noise: how much each party adds inside a secure sum.

With several parties the noise is added **before** the secure sum opens anything: each
party adds its own discrete Gaussian share to its local vector, so the opened total is
already noisy and no party, nor the hub, ever sees a noiseless value. How large each
share must be depends on how many parties may collude (pool their views and their own
noise) — the *collusion bound* ``t``:

``t = parties − 1`` (the default, the strongest): every party adds the **full** σ
    Any one honest party's noise alone is exactly ``DG(σ)`` and makes the release
    ρ-zCDP with ρ = Δ²/(2σ²) (OpenDP's own privacy map); the other parties' noise is
    independent of the data, so adding it is post-processing. This is the rigorous
    default: it needs no bound on sums of discrete Gaussians. The opened total carries
    ``parties`` shares: variance ``parties·σ²`` (``Var DG(σ) ≤ σ²``).
``t < parties − 1``: the ``h = parties − t`` honest parties' shares must do the work
    together. A sum of independent discrete Gaussians is *not* a discrete Gaussian, so
    OpenDP's map does not apply; we use the published bound of Kairouz, Liu & Steinke
    (2021, "The Distributed Discrete Gaussian Mechanism for Federated Learning with
    Secure Aggregation", ICML, Proposition 14 / Theorem 2 in its concentrated-DP form):
    the sum of ``h`` i.i.d. ``DG(σ_h)`` added to a d-dimensional integer vector of L2
    sensitivity Δ is ρ-zCDP with ``ρ = ½(Δ/(√h·σ_h) + τ√d)²``,
    ``τ = 10·Σ_{k=1}^{h−1} exp(−2π²σ_h²·k/(k+1))``, valid for ``σ_h ≥ ½``.
    :func:`noise_share` finds the smallest σ_h (bisection) whose bound meets the ρ of
    ``DG(σ)``; σ_h is close to σ/√h once σ_h is a few units (τ is then negligible).
    ``t ≥ parties`` (every party colludes) cannot be protected and is refused.

:func:`party_noise` draws one party's share from OpenDP's exact sampler
(``privstats.disclosure.dp.discrete_gaussian``), never from numpy or :mod:`random`.
:func:`total_error_95` is a 95 % bound on the opened total's noise.
"""

from __future__ import annotations

import math

import numpy as np

from privstats.disclosure.dp import IntArray, discrete_gaussian
from privstats.errors import ParameterError

__all__ = [
    "ALPHA",
    "default_collusion",
    "distributed_rho",
    "noise_share",
    "party_noise",
    "total_error_95",
]

ALPHA = 0.05
"""The error bounds are at 95 %: |noise| exceeds them with probability at most 5 %."""
_MIN_SIGMA = 0.5  # Kairouz, Liu & Steinke's bound holds for σ ≥ ½
_BISECTION_STEPS = 200


def default_collusion(parties: int) -> int:
    """The strongest collusion bound: all parties but one (each adds the full σ)."""
    return max(parties - 1, 0)


def _check(parties: int, collusion: int | None) -> int:
    if parties < 1:
        raise ParameterError(f"parties must be at least 1, got {parties}", parameter="parties")
    bound = default_collusion(parties) if collusion is None else collusion
    if not 0 <= bound <= parties - 1:
        raise ParameterError(
            f"the collusion bound must be between 0 and parties − 1 = {parties - 1} (at least "
            f"one party must be honest for its noise to protect anyone), got {collusion}",
            parameter="collusion",
        )
    return bound


def distributed_rho(sigma: float, honest: int, sensitivity: float, cells: int) -> float:
    """ρ (zCDP) of the sum of ``honest`` i.i.d. ``DG(sigma)`` shares (KLS 2021 bound).

    ``sensitivity`` is the L2 sensitivity of the integer vector of ``cells`` values. With
    one honest party this is the discrete Gaussian's own Δ²/(2σ²). Infinity below σ = ½,
    where the published bound does not hold.
    """
    if honest < 1 or cells < 1:
        raise ParameterError("need at least one honest party and one cell", parameter="honest")
    if honest == 1:
        return sensitivity**2 / (2 * sigma**2)
    if sigma < _MIN_SIGMA:
        return math.inf
    tau = 10 * sum(math.exp(-2 * math.pi**2 * sigma**2 * k / (k + 1)) for k in range(1, honest))
    return 0.5 * (sensitivity / (math.sqrt(honest) * sigma) + tau * math.sqrt(cells)) ** 2


def noise_share(
    sigma: float,
    parties: int,
    collusion: int | None = None,
    *,
    sensitivity: float = 1.0,
    cells: int = 1,
) -> float:
    """The σ each of ``parties`` parties adds so that the honest ones alone meet ``DG(σ)``'s ρ.

    ``collusion`` (default ``parties − 1``) is how many parties may pool their views: then
    each adds the full ``sigma``. With fewer colluders the ``parties − collusion`` honest
    shares are calibrated by Kairouz, Liu & Steinke's bound (see the module docstring),
    for the vector of ``cells`` values with L2 ``sensitivity``; the result is never below
    ``sigma/√h``.
    """
    if not (math.isfinite(sigma) and sigma > 0):
        raise ParameterError(f"sigma must be positive, got {sigma}", parameter="sigma")
    bound = _check(parties, collusion)
    honest = parties - bound
    if honest == 1:
        return float(sigma)
    target = sensitivity**2 / (2 * sigma**2)
    low = max(sigma / math.sqrt(honest), _MIN_SIGMA) / 2  # below: never meets the target
    high = max(sigma, 2 * _MIN_SIGMA)
    while distributed_rho(high, honest, sensitivity, cells) > target:
        high *= 2
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if not low < middle < high:
            break
        if distributed_rho(middle, honest, sensitivity, cells) <= target:
            high = middle
        else:
            low = middle
    return high


def party_noise(cells: int, sigma: float) -> IntArray:
    """One party's noise share: ``cells`` independent ``DG(sigma)`` integers (OpenDP, exact)."""
    noise, _ = discrete_gaussian(np.zeros(cells, dtype=np.int64), sigma)
    return noise


def total_error_95(sigma: float, parties: int, exact_single: float | None = None) -> float:
    """A bound that the total noise of ``parties`` ``DG(sigma)`` shares exceeds w.p. ≤ 5 %.

    One share: ``exact_single`` (OpenDP's ``discrete_gaussian_scale_to_accuracy``) when
    given. Several: a discrete Gaussian is σ²-sub-Gaussian (Canonne, Kamath & Steinke
    2020), so their sum is ``parties·σ²``-sub-Gaussian and ``P(|S| > t) ≤ 2·exp(−t²/(2·
    parties·σ²))``: ``t = σ·√(2·parties·ln(2/α))``.
    """
    if parties == 1 and exact_single is not None:
        return exact_single
    return sigma * math.sqrt(2 * parties * math.log(2 / ALPHA))
