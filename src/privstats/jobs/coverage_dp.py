"""Differential privacy for coverage: noise added inside the protocol, one share per party.

With ``--dp-epsilon`` every released count carries discrete Gaussian noise (OpenDP's exact
sampler, :mod:`privstats.disclosure.dp`), and no party — not the register, not the source,
not the hub or the analyst — sees a noiseless count of the other's data:

* **Register sizes** ``n_g``: the register pads domain g with ``j_g`` random identifiers
  (``j_g`` = offset + a truncated discrete Gaussian, so 0 ≤ j_g ≤ 2·offset) before the
  PSI, so the source sees ``n_g + j_g``; the release is ``n_g + j_g − offset``.
* **Source size** ``|S|``: the source pads its set the same way; the register learns
  ``|S| + j_S``, released as ``|S| + j_S − offset``.
* **Matched** ``m_g``: the source adds ``k_g`` dummy matches to group g inside the PSI
  (truncated share as above; :mod:`privstats.protocols.psi`), so the register learns only
  ``m_g + k_g``; the register adds its own share ``η_g`` (untruncated) and releases
  ``m_g + k_g − offset + η_g``. The source, who knows ``k_g``, sees ``m_g + η_g``.

Calibration (unit: a person, who may be in both lists; ``record`` is the same here, as
each list holds an identifier once). One person changes at most three counts by one: her
domain's size, its matched count and the source size — L2 sensitivity √3. Every share has
scale σ with ``ρ = 3/(2σ²)``-zCDP (OpenDP's map for one share at sensitivity 1, times
three), ρ chosen so that ρ-zCDP gives (ε, δ/2)-DP; truncating a share to
``[−offset, offset]`` costs at most ``P(|Z| > offset) ≤ δ/6`` per count she changes, so
each view is (ε, δ)-DP. **Collusion bound:** each count's protection rests on one share
held by a party other than the one viewing it: the register's view is protected by the
source's shares, the source's view by the register's, the analyst's by both (matched
counts then carry variance 2σ²). A party colluding with the analyst learns nothing the
party did not already see; the register and the source together know every count.

Not protected: which domains exist (the list of ``--by`` categories comes from the
register's data); the budget is spent per job — the node's ledger adds it up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from privstats.disclosure.accounting import rho_for_epsilon, zcdp_epsilon
from privstats.disclosure.dp import discrete_gaussian
from privstats.disclosure.tables import TOTAL
from privstats.jobs.coverage_figures import CoverageFigures, release
from privstats.jobs.coverage_release import Label, all_released

__all__ = [
    "NoisePlan",
    "plan",
    "register_release",
    "source_matches",
    "truncated_shares",
]

SENSITIVITY_SQUARED = 3
"""One person changes her domain's size, its matched count and the source size by one."""
Z_95 = 1.959963984540054


class DpSpec(CoverageFigures, Protocol):
    """The spec fields DP reads."""

    @property
    def dp_epsilon(self) -> float | None: ...
    @property
    def dp_delta(self) -> float: ...
    @property
    def dp_unit(self) -> Literal["person", "record"]: ...


@dataclass(frozen=True)
class NoisePlan:
    """The noise both parties agree on from the spec: σ per share, and the truncation."""

    epsilon: float
    delta: float
    unit: str
    rho: float
    sigma: float
    offset: int

    @property
    def pad(self) -> int:
        """The most a truncated share adds (its values lie in 0..pad)."""
        return 2 * self.offset


def plan(spec: DpSpec) -> NoisePlan | None:
    """The noise of a DP coverage job (None without ``dp_epsilon``); the same on both
    sides, as it depends on the spec alone."""
    if spec.dp_epsilon is None:
        return None
    rho = rho_for_epsilon(spec.dp_epsilon, spec.dp_delta / 2)
    sigma = math.sqrt(SENSITIVITY_SQUARED / (2 * rho))
    tail = spec.dp_delta / (2 * SENSITIVITY_SQUARED)  # δ/6 per changed count
    # the discrete Gaussian is σ-subgaussian (Canonne, Kamath & Steinke 2020, Cor. 9):
    # P(|Z| > x) ≤ 2·exp(−x²/2σ²)
    offset = math.ceil(sigma * math.sqrt(2 * math.log(2 / tail)))
    return NoisePlan(spec.dp_epsilon, spec.dp_delta, spec.dp_unit, rho, sigma, offset)


def truncated_shares(noise: NoisePlan, count: int) -> list[int]:
    """``count`` shares ``offset + Z``, Z discrete Gaussian(σ) conditioned on
    ``|Z| ≤ offset`` (rejection: OpenDP draws again the few outside)."""
    out = np.zeros(count, dtype=np.int64)
    todo = np.arange(count)
    while todo.size:
        draws, _ = discrete_gaussian(np.zeros(todo.size, dtype=np.int64), noise.sigma)
        inside = np.abs(draws) <= noise.offset
        out[todo[inside]] = draws[inside] + noise.offset
        todo = todo[~inside]
    return [int(v) for v in out]


def source_matches(noise: NoisePlan) -> Callable[[int], list[int]]:
    """The source's dummy matches: one truncated share per group of the receiver."""
    return lambda groups: truncated_shares(noise, groups)


def _noise_fields(noise: NoisePlan, leaves: int) -> dict[str, Any]:
    """Noise sd and 95 % error bound of a cell summing ``leaves`` domains."""
    sd_size = noise.sigma * math.sqrt(leaves)
    sd_matched = noise.sigma * math.sqrt(2 * leaves)
    return {
        "noise_sd": {"register_size": sd_size, "matched": sd_matched},
        "error_95": {"register_size": Z_95 * sd_size, "matched": Z_95 * sd_matched},
    }


def privacy(noise: NoisePlan) -> dict[str, Any]:
    """The release's ``privacy`` block."""
    return {
        "epsilon": noise.epsilon,
        "delta": noise.delta,
        "mechanism": "discrete Gaussian, one share per party inside the PSI",
        "unit": noise.unit,
        "rho": noise.rho,
        "epsilon_of_rho": zcdp_epsilon(noise.rho, noise.delta / 2),
        "sigma_per_share": noise.sigma,
        "truncation": noise.offset,
        "collusion": "each party's view is protected by the other party's shares",
    }


def register_release(
    spec: DpSpec,
    noise: NoisePlan,
    sizes: Mapping[Label, int],
    padding: Sequence[int],
    matched: Mapping[Label, int],
    source_size: int,
) -> dict[str, Any]:
    """The DP release: ``padding`` is the register's size shares, ``matched`` the PSI's
    ``m_g + k_g``, ``source_size`` the source's padded size."""
    labels = list(sizes)
    noisy_sizes = {
        label: sizes[label] + pad - noise.offset for label, pad in zip(labels, padding, strict=True)
    }
    own, _ = discrete_gaussian(np.zeros(len(labels), dtype=np.int64), noise.sigma)
    noisy_matched = {
        label: matched[label] - noise.offset + int(eta)
        for label, eta in zip(labels, own, strict=True)
    }
    decisions = all_released(labels, spec.by)
    extra = {key: _noise_fields(noise, _leaves(key, labels)) for key in decisions.cells}
    result = release(
        spec,
        None,
        decisions,
        noisy_sizes,
        noisy_matched,
        source_size - noise.offset,
        cell_extra=extra,
    )
    overall: Label = (TOTAL,) * len(spec.by)
    result |= extra[overall]
    result["source_size_noise_sd"] = noise.sigma
    result["privacy"] = privacy(noise)
    return result


def _leaves(key: Label, labels: Sequence[Label]) -> int:
    return sum(
        all(k in (TOTAL, lab) for k, lab in zip(key, label, strict=True)) for label in labels
    )
